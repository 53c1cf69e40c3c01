import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres
import SequencerTransports

/// `sequencer-bench send`: the Email step through the engine, the PostgreSQL ledger and
/// `SMTPTransport`, against an aiosmtpd sink on loopback.
struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send N emails through the engine (Email step, PostgreSQL ledger, SMTPTransport) to an aiosmtpd sink.",
        discussion: """
            The benchmark starts scripts/smtp-sink.py (python3 with aiosmtpd) on a free loopback \
            port. --before runs the transport as it was before connections were kept and \
            pipelined (one connection per batch, one command per round trip). Compare with \
            send-ceiling, the transport alone against the same server.
            """)

    @Option(help: "Emails to send.") var n = 20_000
    @Option(help: "Enrollments per claim.") var batchSize = 500
    @Option(help: "SMTP connections at once (SMTPTransport maxConcurrentConnections).") var connections = 4
    @Flag(help: "One connection per batch, no pipelining: the transport before connection reuse.") var before = false
    @Flag(help: "Record sends in the in-memory ledger instead of PostgreSQL (to see what the ledger costs).")
    var memoryLedger = false

    func run() async throws {
        let database = try await BenchDatabase.connect()
        let sink = try await SMTPSink.start()
        Output.emit(try await SendScenario(n: n, batchSize: batchSize, connections: connections, before: before,
                                           memoryLedger: memoryLedger).run(database, sink: sink))
    }
}

/// `sequencer-bench send-ceiling`: what the sink takes from the transport alone.
struct SendCeiling: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send-ceiling",
        abstract: "Send N emails with SMTPTransport alone (no engine, no ledger) to the aiosmtpd sink: the server's ceiling.")

    @Option(help: "Emails to send.") var n = 20_000
    @Option(help: "Messages per send call.") var batchSize = 500
    @Option(help: "SMTP connections at once.") var connections = 4

    func run() async throws {
        let sink = try await SMTPSink.start()
        Output.emit(try await SendCeilingScenario(n: n, batchSize: batchSize, connections: connections).run(sink: sink))
    }
}

/// The welcome email every send scenario sends: one recipient, a rendered subject and text body.
enum SendSequence {
    static let definition = SequenceDefinition(name: "bench-send", version: 1, steps: [
        Step(id: "welcome", runner: "Email", config: [
            "from": "Acme <hi@acme.example>", "to": ["{{email}}"], "subject": "Welcome, {{name}}",
            "text": "Hi {{name}},\n\nThanks for signing up. Here is how to get started.\n\n— Acme",
        ]),
    ])

    static func requests(_ count: Int) -> [EnrollmentRequest] {
        (0..<count).map { EnrollmentRequest(subject: "user-\($0)", context: [
            "email": .string("user\($0)@example.com"), "name": .string("User \($0)"),
        ]) }
    }

    static func message(_ index: Int) throws -> EmailMessage {
        EmailMessage(from: try EmailAddress("Acme <hi@acme.example>"), to: [try EmailAddress("user\(index)@example.com")],
                     subject: "Welcome, User \(index)",
                     text: "Hi User \(index),\n\nThanks for signing up. Here is how to get started.\n\n— Acme",
                     date: Date(), idempotencyKey: "\(UUID().uuidString.lowercased())/welcome/1")
    }

    static func transportConfiguration(port: Int, connections: Int, before: Bool) -> SMTPTransport.Configuration {
        var configuration = SMTPTransport.Configuration(host: "127.0.0.1", port: port, security: .plain)
        configuration.maxConcurrentConnections = before ? 1 : connections
        if before {
            configuration.idleTimeout = .zero
            configuration.usesPipelining = false
        }
        return configuration
    }
}

/// N enrollments of ``SendSequence`` ticked until none is due by one `Sequencer`; timed over the
/// ticks; verified by every enrollment completed, N deliveries recorded sent and N messages at the sink.
struct SendScenario {
    var n: Int
    var batchSize = 500
    var connections = 4
    var before = false
    var memoryLedger = false

    var name: String { (before ? "send-before" : "send") + (memoryLedger ? "-memory-ledger" : "") }

    func run(_ database: BenchDatabase, sink: SMTPSink) async throws -> Figures {
        try await database.withFreshSchema(name.replacingOccurrences(of: "-", with: "_")) { store in
            let transport = SMTPTransport(
                configuration: SendSequence.transportConfiguration(port: sink.port, connections: connections, before: before),
                logger: benchLogger)
            let ledger: any DeliveryLedger = memoryLedger ? InMemoryDeliveryLedger() : store
            let runner = EmailRunner(transport: transport, ledger: ledger, logger: benchLogger)
            let sequencer = Sequencer(store: store, runners: .builtIn + [runner],
                                      configuration: tickerConfiguration(owner: "bench", batchSize: batchSize),
                                      logger: benchLogger)
            try await sequencer.register(SendSequence.definition)
            progress("\(name): enrolling \(n)")
            _ = try await sequencer.enroll(SendSequence.requests(n), in: SendSequence.definition.name)
            try await store.analyze()
            progress("\(name): sending \(n) to 127.0.0.1:\(sink.port)")
            // Committed transactions (one per ledger write, claim and commit); backends report
            // theirs at most a second late, hence the pauses (untimed).
            let transactions = "SELECT xact_commit::int8 FROM pg_stat_database WHERE datname = current_database()"
            try await Task.sleep(for: .milliseconds(1_500))
            let transactionsBefore = try await store.scalar(transactions)
            let clock = ContinuousClock()
            let cpu = await CPUSample.now(store.client)
            let start = clock.now
            let totals = try await tickUntilEmpty(sequencer)
            let seconds = (clock.now - start).timeInterval
            try await Task.sleep(for: .milliseconds(1_500))
            let transactionsAfter = try await store.scalar(transactions)
            let cpuFigures = CPUSample.figures(from: cpu, to: await CPUSample.now(store.client))
            transport.closeIdleConnections()
            let received = try await sink.stop()
            let recorded = try await store.scalar("SELECT count(*) FROM {s}.deliveries WHERE status = 'sent'")
            let figures: Figures = [
                "scenario": .string(name), "n": .int(n), "seconds": .rounded(seconds),
                "emails_per_second": .rounded(Double(n) / seconds, 0), "connections": .int(before ? 1 : connections),
                "pipelining": .bool(!before), "batch_size": .int(batchSize), "received": .int(received),
                "recorded_sent": .int(recorded), "claimed": .int(totals.claimed),
                "transactions": .int(transactionsAfter - transactionsBefore),
                "verified": .bool(try await store.allCompleted(n) && received == n && (memoryLedger || recorded == n)),
            ]
            return figures.merging(cpuFigures) { first, _ in first }
        }
    }
}

/// `SMTPTransport.send` alone, in batches of `batchSize`, to the sink: the most the server takes
/// from this client, with no engine and no ledger.
struct SendCeilingScenario {
    var n: Int
    var batchSize = 500
    var connections = 4

    func run(sink: SMTPSink) async throws -> Figures {
        let transport = SMTPTransport(
            configuration: SendSequence.transportConfiguration(port: sink.port, connections: connections, before: false),
            logger: benchLogger)
        let messages = try (0..<n).map(SendSequence.message)
        progress("send-ceiling: sending \(n) to 127.0.0.1:\(sink.port)")
        let clock = ContinuousClock()
        let cpu = CPUSample.processSeconds()
        let start = clock.now
        var sent = 0
        for offset in stride(from: 0, to: n, by: batchSize) {
            let outcomes = try await transport.send(Array(messages[offset..<min(offset + batchSize, n)]))
            sent += outcomes.filter { if case .sent = $0 { true } else { false } }.count
        }
        let seconds = (clock.now - start).timeInterval
        let clientCPU = CPUSample.processSeconds() - cpu
        transport.closeIdleConnections()
        let received = try await sink.stop()
        return [
            "client_cpu_seconds": .rounded(clientCPU, 2),
            "scenario": "send-ceiling", "n": .int(n), "seconds": .rounded(seconds),
            "emails_per_second": .rounded(Double(n) / seconds, 0), "connections": .int(connections),
            "batch_size": .int(batchSize), "received": .int(received),
            "verified": .bool(sent == n && received == n),
        ]
    }
}

/// `scripts/smtp-sink.py`: aiosmtpd on a free loopback port, counting what it receives; the count
/// is read when it stops.
final class SMTPSink: @unchecked Sendable {
    let port: Int
    private let process: Process
    private let directory: URL

    private init(port: Int, process: Process, directory: URL) {
        self.port = port
        self.process = process
        self.directory = directory
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: directory)
    }

    /// The script, found from this source file (the benchmark runs from its checkout).
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/smtp-sink.py")

    static func start() async throws -> SMTPSink {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sequencer-sink-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ready = directory.appendingPathComponent("ready.json")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--ready", ready.path,
                             "--log", directory.appendingPathComponent("count.json").path]
        process.standardOutput = FileHandle.standardError
        try process.run()
        for _ in 0..<750 {  // up to 15 s
            if let data = try? Data(contentsOf: ready), let port = (try? JSONValue(jsonData: data))?["port"]?.numberValue {
                return SMTPSink(port: Int(port), process: process, directory: directory)
            }
            if !process.isRunning {
                throw BenchError("\(script.path) exited with status \(process.terminationStatus) "
                                 + "(it needs python3 with aiosmtpd: bash scripts/ensure-python-deps.sh)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, SIGKILL)
        throw BenchError("\(script.path) did not report its port within 15 s")
    }

    /// Stops the sink and returns how many messages it received.
    func stop() async throws -> Int {
        process.terminate()
        for _ in 0..<500 where process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        let data = try Data(contentsOf: directory.appendingPathComponent("count.json"))
        guard let received = (try JSONValue(jsonData: data))["received"]?.numberValue else {
            throw BenchError("the SMTP sink wrote no count")
        }
        return Int(received)
    }
}
