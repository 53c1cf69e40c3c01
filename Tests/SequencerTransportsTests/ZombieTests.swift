import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTransports
import Testing

/// A ticker process stopped (SIGSTOP) in the middle of a send, past its lease, while another
/// takes over and finishes; then continued (SIGCONT).
@Suite("A zombie ticker")
struct ZombieTests {
    static let drip = SequenceDefinition(name: "drip", version: 1, steps: [
        Step(id: "welcome", runner: "Email", config: [
            "from": "Acme <hi@acme.example>", "to": ["{{email}}"], "subject": "Welcome", "text": "Hi.",
        ]),
        .waitForDuration("wait", 1, "days"),
    ])

    /// The zombie (`SequencerStressTicker --once`, lease 1 s) hands its message to a server that
    /// answers the data after 4 s, and is stopped there. The rescuer (in this process) takes the
    /// expired lease, finds the reservation stale (its in-flight timeout, 10 s), sends the visit again, which is the
    /// documented duplicate window (the stop landed after the provider had the message and
    /// before the ledger recorded it), and commits; the enrollment is then moved back to
    /// `welcome` and the rescuer sends that later visit too. Continued, the zombie gets its
    /// answer and records it: its commit is fenced out, no step is applied twice, and its ledger
    /// write touches only its own visit's row.
    @Test func aStoppedTickersCommitIsFencedOutAndItsLedgerWriteTouchesOnlyItsVisit() async throws {
        let server = try await TestServer.smtp(.init(dataDelay: 4))
        defer { server.stop() }
        let url = try await TestPostgres.shared.url()
        let client = try await TestPostgres.shared.client()
        let schema = TestPostgres.uniqueSchema("zombie")
        let store = try PostgresStore(client: client, configuration: .init(schema: schema), logger: TestPostgres.quietLogger)
        try await store.migrate()
        var configuration = Sequencer.Configuration()
        configuration.owner = "rescuer"
        configuration.leaseDuration = .seconds(30)
        configuration.firesSchedules = false
        let transport = SMTPTransport(configuration: try server.smtpConfiguration())
        defer { transport.closeIdleConnections() }
        let rescuer = Sequencer(store: store, runners: .builtIn + [
            EmailRunner(transport: transport, ledger: store, inFlightTimeout: .seconds(10)),
        ], configuration: configuration, logger: TestPostgres.quietLogger)
        try await rescuer.register(Self.drip)
        let id = try await rescuer.enroll("ada", in: "drip", context: ["email": "ada@example.com"])

        let zombie = try ZombieProcess(
            BuiltExecutable.url(named: "SequencerStressTicker", override: "SEQUENCER_STRESS_TICKER"), url: url,
            arguments: ["--schema", schema, "--owner", "zombie", "--once", "--lease", "1", "--in-flight-timeout", "4",
                        "--smtp", "smtp://127.0.0.1:\(server.port)"])
        defer { zombie.kill() }
        // Stopped once the server has the message (its answer is 4 s away).
        try await waitFor("the zombie's message at the server") { try server.mail().count == 1 }
        zombie.stop()
        let owner = try await client.query(
            "SELECT lease_owner FROM \(unescaped: "\"\(schema)\"").enrollments WHERE id = \(id)",
            logger: TestPostgres.quietLogger).collect()[0].decode(String?.self)
        #expect(owner == "zombie")

        // Past the zombie's lease (1 s) and its reservation's staleness by the rescuer's in-flight
        // timeout (10 s: nothing is handed over past nine tenths of it, and the suite's load has
        // held the shared pool's answer to a reservation back for 4.1 s).
        try await Task.sleep(for: .seconds(10.5))
        let rescued = try await rescuer.tick(now: Date())
        #expect(rescued.claimed == 1)
        let rescuedHistory = try await rescuer.history(of: id).map { $0.message ?? "\($0.kind)" }
        #expect(try await rescuer.enrollment(id).stepID == "wait", "\(rescuedHistory)")
        // A later visit of the same step, sent by the rescuer while the zombie is still stopped.
        try await rescuer.move(id, to: "welcome", by: "test")
        #expect(try await rescuer.tick(now: Date()).claimed == 1)
        let later = try await rescuer.enrollment(id)
        #expect(later.stepID == "wait")
        let rowsBefore = try await deliveries(client, schema)

        zombie.resume()
        let report = try await zombie.finish()

        #expect(report.claimed == 1 && report.fencedOut == 1, "\(report)")
        let history = try await rescuer.history(of: id)
        let sends = history.filter { $0.kind == .advanced && $0.fromStep == "welcome" }
        #expect(sends.count == 2, "one per visit, both the rescuer's: \(history.map(\.kind))")
        #expect(Set(sends.map(\.visit)).count == 2)
        #expect(try await rescuer.enrollment(id) == later, "the zombie changed nothing")
        let rowsAfter = try await deliveries(client, schema)
        #expect(rowsAfter.count == 2 && rowsAfter.allSatisfy { $0.status == "sent" })
        // The zombie recorded its send on its own visit's row; the later visit's row is untouched.
        #expect(rowsAfter.last == rowsBefore.last)
        // Visit 1 went twice: the documented window (a stop between acceptance and record); the later visit once.
        #expect(try server.mail().count == 3)
        _ = try await client.query("DROP SCHEMA \(unescaped: "\"\(schema)\"") CASCADE", logger: TestPostgres.quietLogger).collect()
    }

    struct Delivery: Equatable {
        var visit: Int
        var status: String
        var updatedAt: Date
    }

    func deliveries(_ client: PostgresClient, _ schema: String) async throws -> [Delivery] {
        try await client.query(
            "SELECT visit::int8, status, updated_at FROM \(unescaped: "\"\(schema)\"").deliveries ORDER BY visit",
            logger: TestPostgres.quietLogger
        ).collect().map {
            let (visit, status, updatedAt) = try $0.decode((Int, String, Date).self)
            return Delivery(visit: visit, status: status, updatedAt: updatedAt)
        }
    }

    func waitFor(_ what: String, _ condition: () throws -> Bool) async throws {
        for _ in 0..<1_500 {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestServerError("timed out waiting for \(what)")
    }
}

/// A `SequencerStressTicker` child process that can be stopped and continued.
final class ZombieProcess {
    struct Report: Decodable, CustomStringConvertible {
        var claimed: Int
        var fencedOut: Int
        var description: String { "claimed \(claimed), fenced out \(fencedOut)" }
    }

    private let process: Process
    private let output: URL
    private let errors: URL

    init(_ executable: URL, url: String, arguments: [String]) throws {
        output = FileManager.default.temporaryDirectory.appendingPathComponent("zombie-\(UUID().uuidString).out")
        errors = FileManager.default.temporaryDirectory.appendingPathComponent("zombie-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process = BuiltExecutable.process(executable, arguments: arguments, databaseURL: url,
                                          standardOutput: try FileHandle(forWritingTo: output),
                                          standardError: try FileHandle(forWritingTo: errors))
        try process.run()
    }

    func stop() { Foundation.kill(process.processIdentifier, SIGSTOP) }
    func resume() { Foundation.kill(process.processIdentifier, SIGCONT) }

    func kill() {
        process.killAndWait()
        try? FileManager.default.removeItem(at: output)
        try? FileManager.default.removeItem(at: errors)
    }

    /// Waits (up to 60 s) for the process to exit and reads its report.
    func finish() async throws -> Report {
        for _ in 0..<6_000 where process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        let stdout = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        guard !process.isRunning, process.terminationStatus == 0, let line = stdout.split(separator: "\n").last else {
            throw TestServerError("the zombie did not finish cleanly: \(stderr)")
        }
        return try JSONDecoder().decode(Report.self, from: Data(line.utf8))
    }
}
