import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import Sequencer
import SequencerPostgresTesting
import SignupServiceApp
import Testing

/// The service example's routes, against the real PostgreSQL, with its SequencerService running.
@Suite("SignupService example")
struct SignupServiceTests {
    struct Created: Decodable { var id: UUID; var enrollment: UUID }
    struct View: Decodable {
        var status: String
        var step: String?
        var context: JSONValue
        var history: [Entry]
        struct Entry: Decodable { var kind: String; var from: String?; var to: String? }
    }

    static let quiet = Logger(label: "signup-tests") { _ in SwiftLogNoOpLogHandler() }

    func withApp(_ test: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let server = try await TestPostgres.shared.server()
        var configuration = SignupAppConfiguration(postgres: server.configuration, schema: TestPostgres.uniqueSchema("signup"))
        configuration.interval = .milliseconds(100)
        let app = try buildApplication(configuration, logger: Self.quiet)
        try await app.test(.router, test)
        try await server.client.query("DROP SCHEMA \(unescaped: "\"\(configuration.schema)\"") CASCADE", logger: Self.quiet)
    }

    func view(_ client: any TestClientProtocol, _ id: UUID) async throws -> View {
        try await client.execute(uri: "/enrollments/\(id)", method: .get) { response in
            #expect(response.status == .ok)
            return try JSONDecoder().decode(View.self, from: Data(response.body.readableBytesView))
        }
    }

    /// Polls until `condition` holds (the service works in the background), for up to 10 s.
    func eventually(_ client: any TestClientProtocol, _ id: UUID, _ condition: (View) -> Bool) async throws -> View {
        var current = try await view(client, id)
        for _ in 0..<200 where !condition(current) {
            try await Task.sleep(for: .milliseconds(50))
            current = try await view(client, id)
        }
        return current
    }

    @Test func aNewUserIsEnrolledWelcomedAndAnUpgradeMeetsTheGoal() async throws {
        try await withApp { client in
            let created = try await client.execute(
                uri: "/users", method: .post, body: ByteBuffer(string: #"{"email": "ada@example.com", "name": "Ada"}"#)
            ) { response in
                #expect(response.status == .ok)
                return try JSONDecoder().decode(Created.self, from: Data(response.body.readableBytesView))
            }
            // The service picks the enrollment up at once (a wake-up, not the poll) and sends the welcome.
            let waiting = try await eventually(client, created.enrollment) { $0.step == "wait-1d" }
            #expect(waiting.status == "active" && waiting.history.map(\.kind) == ["enrolled", "advanced", "waiting"])

            // An upgrade meets the goal: the enrollment jumps over the drip, thanks the user and completes.
            _ = try await client.execute(uri: "/users/\(created.id)/events", method: .post,
                                         body: ByteBuffer(string: #"{"plan": "pro"}"#)) { response in
                #expect(response.status == .ok)
            }
            let done = try await eventually(client, created.enrollment) { $0.status == "completed" }
            #expect(done.status == "completed")
            #expect(done.history.contains { $0.kind == "goalReached" && $0.to == "thanks" })
            #expect(done.context["plan"] == "pro")
        }
    }

    @Test func aFailedSignupLeavesNoEnrollmentAndUnknownIdsAre404() async throws {
        try await withApp { client in
            _ = try await client.execute(uri: "/users", method: .post, body: ByteBuffer(string: #"{"email": "x"}"#)) { response in
                #expect(response.status == .badRequest)
            }
            _ = try await client.execute(uri: "/enrollments/\(UUID())", method: .get) { response in
                #expect(response.status == .notFound)
            }
            _ = try await client.execute(uri: "/users/\(UUID())/events", method: .post, body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .notFound)
            }
        }
    }
}

