// A Hummingbird service that enrolls every new user in an onboarding drip, inside the same
// transaction that creates the user, and runs Sequencer as one of its services.
//
//   swift run SignupService                    # a throwaway PostgreSQL when DATABASE_URL is unset
//   curl -X POST localhost:8080/users -d '{"email": "ada@example.com", "name": "Ada"}'
//   curl -X POST localhost:8080/users/<id>/events -d '{"plan": "pro"}'
//   curl localhost:8080/enrollments/<enrollment>
//   open http://localhost:8080/sequencer           # the operators' dashboard
//
// Environment: DATABASE_URL (postgres://…), SMTP_URL (smtp://…; without it emails are printed),
// PORT (default 8080), DASHBOARD_PASSWORD (HTTP basic authentication for the dashboard, user
// "ops"; without it the dashboard answers only on localhost).
import Foundation
public import Hummingbird
public import Logging
public import PostgresNIO
public import Sequencer
import SequencerDashboard
import SequencerPostgres
import SequencerTransports
import ServiceLifecycle

/// The drip every new user walks: a welcome, tips a day later, a nudge three days after that,
/// and a thank-you as soon as they upgrade (a goal, checked whenever their context changes).
public let onboarding = SequenceDefinition(name: "signup-onboarding", version: 1) {
    Step(id: "welcome", runner: "Email", config: [
        "from": "hello@acme.example", "to": ["{{email}}"], "subject": "Welcome, {{name}}", "text": "Glad you're here.",
    ])
    Step.waitForDuration("wait-1d", 1, "days")
    Step(id: "tips", runner: "Email", config: [
        "from": "hello@acme.example", "to": ["{{email}}"], "subject": "Three tips", "text": "1. … 2. … 3. …",
    ])
    Step.waitForDuration("wait-3d", 3, "days")
    Step(id: "nudge", runner: "Email", config: [
        "from": "hello@acme.example", "to": ["{{email}}"], "subject": "Need a hand?", "text": "Reply to this email.",
    ])
    Step.goal("upgraded", .compare(.eq, .get("plan"), .raw("pro")), altNext: Step.end)
    Step(id: "thanks", runner: "Email", config: [
        "from": "hello@acme.example", "to": ["{{email}}"], "subject": "Thank you, {{name}}", "text": "Welcome to Pro.",
    ])
}

/// Prints each email instead of sending it, when no SMTP server is configured.
struct PrintedEmail: TaskRunner {
    let name = "Email"
    let logger: Logger
    var configKeys: [String]? { ["from", "to", "subject", "text"] }
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        for input in batch {
            logger.info("email", metadata: ["to": "\(input.config["to"] ?? [])", "subject": "\(input.config["subject"] ?? "")"])
        }
        return batch.map { $0.result(.next, message: "printed") }
    }
}

/// What the application needs from its environment.
public struct SignupAppConfiguration: Sendable {
    public var postgres: PostgresClient.Configuration
    /// The schema Sequencer's tables live in (and the app's `users` table).
    public var schema: String
    public var smtpURL: String?
    public var host: String
    public var port: Int
    /// The service's poll interval; wake-ups make new work run at once anyway.
    public var interval: Duration = .seconds(1)
    /// The dashboard's password (HTTP basic authentication, user "ops"); without one the
    /// dashboard serves only requests to localhost, without authentication.
    public var dashboardPassword: String?

    public init(postgres: PostgresClient.Configuration, schema: String = "signup", smtpURL: String? = nil,
                host: String = "127.0.0.1", port: Int = 8080) {
        self.postgres = postgres
        self.schema = schema
        self.smtpURL = smtpURL
        self.host = host
        self.port = port
    }
}

struct NewUser: Decodable { var email: String; var name: String }
struct CreatedUser: ResponseEncodable { var id: UUID; var enrollment: UUID }
struct EnrollmentView: ResponseEncodable {
    var id: UUID
    var subject: String
    var sequence: String
    var status: String
    var step: String?
    var nextRunAt: Date?
    var context: JSONValue
    var history: [Entry]
    struct Entry: Codable { var kind: String; var from: String?; var to: String?; var message: String?; var at: Date }
}

/// Builds the application: its services are the PostgreSQL client and the Sequencer service;
/// before the server starts it migrates the schema, creates the `users` table and registers the drip.
public func buildApplication(_ configuration: SignupAppConfiguration, logger: Logger) throws -> some ApplicationProtocol {
    let client = PostgresClient(configuration: configuration.postgres, backgroundLogger: logger)
    let store = try PostgresStore(client: client, configuration: .init(schema: configuration.schema), logger: logger)
    let email: any TaskRunner =
        if let url = configuration.smtpURL {
            EmailRunner(transport: SMTPTransport(configuration: try .init(url: url), logger: logger), ledger: store)
        } else {
            PrintedEmail(logger: logger)
        }
    let sequencer = Sequencer(store: store, runners: .builtIn + [email], logger: logger)
    var serviceConfiguration = SequencerService.Configuration()
    serviceConfiguration.interval = configuration.interval
    let service = SequencerService(sequencer, configuration: serviceConfiguration, logger: logger)
    let users = "\"\(configuration.schema)\".users"

    let router = Router()
    // Create a user and enroll them, in one transaction: both or neither.
    router.post("users") { request, context -> CreatedUser in
        let user = try await request.decode(as: NewUser.self, context: context)
        let id = UUID()
        let enrollment = try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "INSERT INTO \(unescaped: users) (id, email, name) VALUES (\(id), \(user.email), \(user.name))", logger: logger)
            return try await sequencer.enroll("\(id)", in: onboarding.name,
                                              context: ["email": .string(user.email), "name": .string(user.name), "plan": "free"],
                                              idempotencyKey: "signup-\(id)", within: store.transaction(on: connection))
        }
        return CreatedUser(id: id, enrollment: enrollment)
    }
    // Something happened to a user: merge it into their enrollment's context (a goal may be met at once).
    router.post("users/:id/events") { request, context -> EnrollmentView in
        let id = try context.parameters.require("id", as: UUID.self)
        let patch = try await request.decode(as: [String: JSONValue].self, context: context)
        guard let enrollment = try await store.enrollment(sequence: onboarding.name, idempotencyKey: "signup-\(id)") else {
            throw HTTPError(.notFound, message: "no enrollment for user \(id)")
        }
        _ = try await sequencer.updateContext(enrollment.id, merging: patch)
        return try await view(enrollment.id, sequencer)
    }
    router.get("enrollments/:id") { _, context -> EnrollmentView in
        try await view(try context.parameters.require("id", as: UUID.self), sequencer)
    }
    // The operators' dashboard under /sequencer.
    let dashboard = try SequencerDashboard<BasicRequestContext>(
        sequencer: sequencer, access: dashboardAccess(password: configuration.dashboardPassword), logger: logger)
    dashboard.addRoutes(to: router)

    var app = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
        services: [client, service],
        logger: logger)
    app.beforeServerStarts {
        try await store.migrate()
        try await client.query("""
            CREATE TABLE IF NOT EXISTS \(unescaped: users) (id uuid PRIMARY KEY, email text NOT NULL, name text NOT NULL)
            """, logger: logger)
        try await sequencer.register(onboarding)
    }
    return app
}

/// HTTP basic authentication as user "ops" when a password is set; local use without one.
func dashboardAccess(password: String?) -> DashboardAccess<BasicRequestContext> {
    guard let password else { return .noAuthenticationForLocalUse }
    let expected = "Basic " + Data("ops:\(password)".utf8).base64EncodedString()
    return .authorized { request, _ in
        guard request.headers[.authorization] == expected else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: #"Basic realm="sequencer", charset="UTF-8""#])
        }
        return "ops"
    }
}

func view(_ id: UUID, _ sequencer: Sequencer) async throws -> EnrollmentView {
    let e: Enrollment
    do {
        e = try await sequencer.enrollment(id)
    } catch let error as SequencerError where error.code == .unknownEnrollment {
        throw HTTPError(.notFound, message: error.message)
    }
    let history = try await sequencer.history(of: id).map {
        EnrollmentView.Entry(kind: $0.kind.rawValue, from: $0.fromStep, to: $0.toStep, message: $0.message, at: $0.at)
    }
    return EnrollmentView(id: e.id, subject: e.subject, sequence: e.sequenceName, status: e.status.rawValue, step: e.stepID,
                          nextRunAt: e.nextRunAt, context: e.context, history: history)
}
