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
// (seconds) in every mode.
//
// With --serve it runs the service as a host would, on the database's clock, until it is killed:
// the chaos tests (Tests/SequencerTransportsTests/ChaosTests.swift) kill it, restart it and restart
// the database under it. --callback-url URL adds the HTTPTask step; --interval (milliseconds) and
// --max-attempts tune the service and the retries; warnings and errors go to standard error, one
// line each, which the tests count.
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
    var serve = false
    var callbackURL: String?
    var interval = 200.0
    var maxAttempts: Int?
    var smtp: String?
    var lease: Double?
    var inFlightTimeout = 300.0

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            switch flag {
            case "--once": once = true; continue
            case "--serve": serve = true; continue
            default: break
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
            case "--callback-url": callbackURL = value
            case "--interval": interval = try number(value, flag)
            case "--max-attempts": maxAttempts = Int(try number(value, flag))
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

/// The sequencer with the built-in runners, plus Email with `--smtp` and HTTPTask with `--callback-url`.
func makeSequencer(_ options: Options, client: PostgresClient, logger: Logger) throws -> Sequencer {
    let store = try PostgresStore(client: client, configuration: .init(schema: options.schema), logger: logger)
    var configuration = Sequencer.Configuration()
    configuration.owner = options.owner
    configuration.batchSize = options.batchSize
    configuration.firesSchedules = false
    if let lease = options.lease { configuration.leaseDuration = .milliseconds(Int(lease * 1_000)) }
    if let maxAttempts = options.maxAttempts { configuration.retry.maxAttempts = maxAttempts }
    var runners: [any TaskRunner] = .builtIn
    if let smtp = options.smtp {
        runners.append(EmailRunner(transport: SMTPTransport(configuration: try .init(url: smtp)), ledger: store,
                                   inFlightTimeout: .milliseconds(Int(options.inFlightTimeout * 1_000))))
    }
    if let callbackURL = options.callbackURL {
        runners.append(HTTPTaskRunner(configuration: .init(callbackURL: callbackURL), logger: logger))
    }
    return Sequencer(store: store, runners: runners, configuration: configuration, logger: logger)
}

/// One tick with the wall clock.
func tickOnce(_ options: Options, client: PostgresClient, logger: Logger) async throws -> TickReport {
    try await makeSequencer(options, client: client, logger: logger).tick(now: Date())
}

/// The service on the database's clock, until the process is killed (or its parent, the test, is
/// gone); returning is a failure.
func serve(_ options: Options, client: PostgresClient, logger: Logger) async throws -> TickReport {
    let parent = getppid()
    Thread.detachNewThread {
        while getppid() == parent { Thread.sleep(forTimeInterval: 0.5) }
        exit(0)
    }
    var configuration = SequencerService.Configuration()
    configuration.interval = .milliseconds(Int(options.interval))
    configuration.backoff.maximum = .seconds(1)
    let service = SequencerService(try makeSequencer(options, client: client, logger: logger),
                                   configuration: configuration, logger: logger)
    try await service.run()
    throw Failure("\(options.owner): the service stopped")
}

let options: Options
do {
    options = try Options(Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("SequencerStressTicker: \(error)\n".utf8))
    exit(2)
}
let logger: Logger = {
    guard options.serve else { return Logger(label: "sequencer.stress-ticker") { _ in SwiftLogNoOpLogHandler() } }
    var logger = Logger(label: "sequencer.stress-ticker") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}()
do {
    guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else { throw Failure("DATABASE_URL is not set") }
    var clientConfiguration = try DatabaseURL(url).clientConfiguration()
    clientConfiguration.options.connectTimeout = .seconds(1)   // back within a tick of a restarted server
    // PostgresNIO's own reconnection messages stay out of the counted lines: a host sets that logger apart.
    let client = PostgresClient(configuration: clientConfiguration,
                                backgroundLogger: Logger(label: "postgres") { _ in SwiftLogNoOpLogHandler() })
    let report = try await withThrowingTaskGroup(of: TickReport?.self) { group in
        group.addTask { await client.run(); return nil }
        defer { group.cancelAll() }
        if options.serve { return try await serve(options, client: client, logger: logger) }
        return options.once ? try await tickOnce(options, client: client, logger: logger)
            : try await tickUntilDone(options, client: client, logger: logger)
    }
    print(#"{"owner":"\#(options.owner)","claimed":\#(report.claimed),"steps":\#(report.steps),"#
        + #""completed":\#(report.completed),"fencedOut":\#(report.fencedOut),"batches":\#(report.batches)}"#)
} catch {
    FileHandle.standardError.write(Data("SequencerStressTicker: \(error)\n".utf8))
    exit(1)
}
