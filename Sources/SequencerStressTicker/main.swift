// A ticker process for the multi-process test (Tests/SequencerPostgresTests/MultiProcessTests.swift).
//
// Runs a SequencerService on a PostgresStore (DATABASE_URL, --schema) with a simulated clock until
// no enrollment is active any more, then prints one line of JSON with what it did.
// Not a product: it exists to put several real OS processes on one database.
//
//   DATABASE_URL=postgres://… SequencerStressTicker --schema s --owner p1 [--start 1900000000]
//       [--batch-size 250] [--step-budget 1] [--timeout 300]
//
// With --once it ticks once with the wall clock instead, and exits: the zombie test stops it with
// SIGSTOP in the middle of that tick's send. --smtp URL adds the Email step (SMTPTransport, the
// store as the deliveries ledger, --in-flight-timeout seconds); --lease sets the lease duration
// (seconds) in either mode.
import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTransports
import ServiceLifecycle
import Synchronization

struct Options {
    var schema = "sequencer"
    var owner = "ticker-\(ProcessInfo.processInfo.processIdentifier)"
    var start = Date(timeIntervalSince1970: 1_900_000_000)
    var batchSize = 250
    var stepBudget = 1
    var timeout = 300.0
    var once = false
    var smtp: String?
    var lease: Double?
    var inFlightTimeout = 300.0

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            if flag == "--once" {
                once = true
                continue
            }
            guard let value = rest.popFirst() else { throw Failure("missing value after \(flag)") }
            switch flag {
            case "--schema": schema = value
            case "--owner": owner = value
            case "--start": start = Date(timeIntervalSince1970: try number(value, flag))
            case "--batch-size": batchSize = Int(try number(value, flag))
            case "--step-budget": stepBudget = Int(try number(value, flag))
            case "--timeout": timeout = try number(value, flag)
            case "--smtp": smtp = value
            case "--lease": lease = try number(value, flag)
            case "--in-flight-timeout": inFlightTimeout = try number(value, flag)
            default: throw Failure("unknown option \(flag)")
            }
        }
    }

    private func number(_ value: String, _ flag: String) throws -> Double {
        guard let number = Double(value) else { throw Failure("\(flag) needs a number, not '\(value)'") }
        return number
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs the sequencer's ``SequencerService`` (the runtime a host runs) on a simulated clock that
/// moves 10 ms per tick, until a tick finds nothing and no enrollment is active any more.
func tickUntilDone(_ options: Options, client: PostgresClient, logger: Logger) async throws -> TickReport {
    let store = try PostgresStore(client: client, configuration: .init(schema: options.schema), logger: logger)
    var configuration = Sequencer.Configuration()
    configuration.owner = options.owner
    configuration.batchSize = options.batchSize
    configuration.stepBudget = options.stepBudget
    configuration.yieldDelay = .milliseconds(1)
    if let lease = options.lease { configuration.leaseDuration = .milliseconds(Int(lease * 1_000)) }
    let sequencer = Sequencer(store: store, configuration: configuration, logger: logger)

    let ticks = Atomic<Int>(0)
    let start = options.start
    var serviceConfiguration = SequencerService.Configuration()
    serviceConfiguration.interval = .milliseconds(5)
    serviceConfiguration.retention = nil   // simulated weeks must not age the run's own enrollments out
    let service = SequencerService(sequencer, configuration: serviceConfiguration, now: {
        start.addingTimeInterval(0.01 * Double(ticks.add(1, ordering: .relaxed).oldValue))
    }, logger: logger)
    let events = service.events()
    let schema = options.schema
    let timeout = options.timeout
    return try await withThrowingTaskGroup(of: TickReport?.self) { group in
        group.addTask {
            try await service.run()
            return nil
        }
        group.addTask {
            var total = TickReport()
            for await event in events {
                guard case .ticked(let report) = event else { continue }
                total.add(report)
                guard report.claimed == 0 else { continue }
                let active = try await client.query(
                    "SELECT count(*) FROM \(unescaped: "\"\(schema)\"").enrollments WHERE status = 'active'", logger: logger
                ).collect()[0].decode(Int.self)
                if active == 0 { return total }
            }
            return total
        }
        group.addTask {
            try await Task.sleep(for: .seconds(timeout))
            throw Failure("\(options.owner): enrollments still active after \(timeout) s")
        }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let total = result { return total }
        }
        throw Failure("the service stopped")
    }
}

/// One tick with the wall clock, with the Email step when `--smtp` is given.
func tickOnce(_ options: Options, client: PostgresClient, logger: Logger) async throws -> TickReport {
    let store = try PostgresStore(client: client, configuration: .init(schema: options.schema), logger: logger)
    var configuration = Sequencer.Configuration()
    configuration.owner = options.owner
    configuration.batchSize = options.batchSize
    configuration.firesSchedules = false
    if let lease = options.lease { configuration.leaseDuration = .milliseconds(Int(lease * 1_000)) }
    var runners: [any TaskRunner] = .builtIn
    if let smtp = options.smtp {
        runners.append(EmailRunner(transport: SMTPTransport(configuration: try .init(url: smtp)), ledger: store,
                                   inFlightTimeout: .milliseconds(Int(options.inFlightTimeout * 1_000))))
    }
    let sequencer = Sequencer(store: store, runners: runners, configuration: configuration, logger: logger)
    return try await sequencer.tick(now: Date())
}

let logger = Logger(label: "sequencer.stress-ticker") { _ in SwiftLogNoOpLogHandler() }
do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else { throw Failure("DATABASE_URL is not set") }
    let client = PostgresClient(configuration: try DatabaseURL(url).clientConfiguration(), backgroundLogger: logger)
    let report = try await withThrowingTaskGroup(of: TickReport?.self) { group in
        group.addTask { await client.run(); return nil }
        defer { group.cancelAll() }
        return options.once ? try await tickOnce(options, client: client, logger: logger)
            : try await tickUntilDone(options, client: client, logger: logger)
    }
    print(#"{"owner":"\#(options.owner)","claimed":\#(report.claimed),"steps":\#(report.steps),"#
        + #""completed":\#(report.completed),"fencedOut":\#(report.fencedOut),"batches":\#(report.batches)}"#)
} catch {
    FileHandle.standardError.write(Data("SequencerStressTicker: \(error)\n".utf8))
    exit(1)
}
