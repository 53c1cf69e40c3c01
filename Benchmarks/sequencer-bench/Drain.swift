import ArgumentParser
import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres

/// `sequencer-bench drain`: how fast the engine drains a backlog of due enrollments.
struct Drain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drain N due enrollments of a three-step sequence; report steps per second.",
        discussion: """
            N enrollments of a sequence whose three steps all finish at once are enrolled (bulk, all due \
            now, outside the timed region); the time is from the first tick until every ticker has had a \
            tick that claims nothing. One SQL count then checks that all N are completed.
            """)

    @Option(help: "Enrollments to drain.") var n = 100_000
    @Option(help: "Concurrent tickers (Sequencer instances, one shared client) per process.") var tickers = 1
    @Option(help: "Ticker processes (copies of this executable); 1 ticks in this process.") var processes = 1
    @Option(help: "Runs; the median one is reported (with every run's seconds).") var runs = 1
    @Flag(inversion: .prefixedNo, help: "Run an untimed 2,000-enrollment drain first.") var warmUp = true
    @Option(help: "Enrollments per claim (Sequencer.Configuration.batchSize).") var batchSize = 500
    @Flag(help: "Another session holds a REPEATABLE READ transaction (an old snapshot) open during the drain.")
    var holdSnapshot = false
    @Option(help: "Batches each ticker works on at once (Sequencer.Configuration.batchesInFlight).") var batchesInFlight = 1

    func validate() throws {
        guard n > 0, tickers > 0, processes > 0, batchSize > 0, runs > 0 else {
            throw ValidationError("n, tickers, processes, batch-size and runs must be positive")
        }
    }

    func run() async throws {
        let database = try await BenchDatabase.connect()
        if warmUp { try await warmUpServer(database) }
        let scenario = DrainScenario(n: n, tickers: tickers, processes: processes, batchSize: batchSize,
                                     holdSnapshot: holdSnapshot, batchesInFlight: batchesInFlight)
        Output.emit(try await Runs.repeated(runs) { try await scenario.run(database) })
    }
}

/// One drain: enroll N, time the tickers (in this process, or in worker processes), verify.
///
/// With k tickers in one process, k `Sequencer` instances (distinct owners) share one
/// `PostgresStore` and so one `PostgresClient` and its connection pool: that is how a host runs
/// several tick loops, and the pool holds a connection per concurrent ticker. With several
/// processes, each is a copy of this executable (`worker`) with its own client; a ``StartLine``
/// keeps process start-up out of the timing.
struct DrainScenario {
    var n: Int
    var tickers = 1
    var processes = 1
    var batchSize = 500
    /// Whether another session holds a snapshot from before the drain until it ends
    /// (``SnapshotHolder``): no row version the drain makes dead can be removed meanwhile.
    var holdSnapshot = false
    /// ``Sequencer/Configuration/batchesInFlight`` of each ticker in this process.
    var batchesInFlight = 1

    var name: String {
        var name = holdSnapshot ? "drain-held-snapshot" : "drain"
        if batchesInFlight > 1 { name += "-\(batchesInFlight)-in-flight" }
        if processes > 1 { name += "-\(processes)-processes" }
        if tickers > 1 { name += "-\(tickers)-tickers" }
        return name
    }

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema(name) { store in
            progress("\(name): enrolling \(n)")
            let enrolled = try await enrollBacklog(store, n: n, batchSize: batchSize)
            progress("\(name): draining with \(tickers) ticker(s) in \(processes) process(es)")
            let holder = holdSnapshot ? try await SnapshotHolder.start(store) : nil
            let drained: (Double, TickTotals, Figures)
            do {
                drained = processes > 1
                    ? try await drainInWorkers(database, store: store)
                    : try await drainHere(database, store: store)
            } catch {
                await holder?.release()
                throw error
            }
            await holder?.release()
            let (seconds, totals, cpu) = drained
            let verified = try await store.allCompleted(n)
            let steps = n * BenchSequence.stepsPerEnrollment
            let figures: Figures = [
                "scenario": .string(name), "n": .int(n), "seconds": .rounded(seconds),
                "steps_per_second": .rounded(Double(steps) / seconds, 0),
                "enrollments_per_second": .rounded(Double(n) / seconds, 0),
                "steps": .int(totals.steps), "claimed": .int(totals.claimed),
                "batches": .int(totals.batches), "fenced_out": .int(totals.fencedOut),
                "tickers": .int(tickers), "processes": .int(processes),
                "batch_size": .int(batchSize), "batches_in_flight": .int(batchesInFlight), "enroll_seconds": .rounded(enrolled),
                "verified": .bool(verified && totals.steps == steps),
            ]
            return figures.merging(cpu) { first, _ in first }
        }
    }

    private func drainHere(_ database: BenchDatabase, store: PostgresStore) async throws -> (Double, TickTotals, Figures) {
        let sequencers = try await makeTickers(store: store, count: tickers, owner: "bench", batchSize: batchSize,
                                               batchesInFlight: batchesInFlight)
        let clock = ContinuousClock()
        let cpu = await CPUSample.now(database.client)
        let start = clock.now
        let totals = try await tickConcurrently(sequencers)
        let seconds = (clock.now - start).timeInterval
        return (seconds, totals, CPUSample.figures(from: cpu, to: await CPUSample.now(database.client)))
    }

    private func drainInWorkers(_ database: BenchDatabase, store: PostgresStore) async throws
        -> (Double, TickTotals, Figures)
    {
        let key = StartLine.newKey()
        let (children, openedAt, cpu) = try await StartLine.run(key: key, count: processes, client: database.client) {
            try (0..<processes).map { index in
                try ChildProcess("worker \(index)", arguments: [
                    "worker", "--schema", store.configuration.schema, "--start-key", "\(key)",
                    "--owner", "bench-p\(index)", "--tickers", "\(tickers)", "--batch-size", "\(batchSize)",
                ], databaseURL: database.url)
            }
        }
        var results: [[String: JSONValue]] = []
        for child in children { results.append(try await child.result()) }
        let finishedAt = results.compactMap { $0["finished_at"]?.numberValue }.max() ?? Date().timeIntervalSince1970
        // Let the server reap the workers' backends, so their CPU time reaches the postmaster's
        // account of its children (outside the timing, which ends at the workers' own finish).
        try await Task.sleep(for: .milliseconds(500))
        // The server's figure holds; the client's is the workers' sum.
        var figures = CPUSample.figures(from: cpu, to: await CPUSample.now(database.client))
        figures["client_cpu_seconds"] = .rounded(results.compactMap { $0["cpu_seconds"]?.numberValue }.reduce(0, +), 2)
        var totals = TickTotals()
        for result in results {
            func int(_ key: String) -> Int { Int(result[key]?.numberValue ?? 0) }
            totals = totals + TickTotals(ticks: int("ticks"), claimed: int("claimed"), steps: int("steps"),
                                         completed: int("completed"), batches: int("batches"),
                                         fencedOut: int("fenced_out"))
        }
        return (finishedAt - openedAt.timeIntervalSince1970, totals, figures)
    }
}

/// Registers the drain sequence and enrolls `n` subjects through the bulk API, all due now; then
/// refreshes the planner statistics. Returns the seconds the enrolling took.
func enrollBacklog(_ store: PostgresStore, n: Int, batchSize: Int) async throws -> Double {
    let sequencer = Sequencer(store: store, configuration: tickerConfiguration(owner: "bench-enroll", batchSize: batchSize),
                              logger: benchLogger)
    try await sequencer.register(BenchSequence.definition)
    let requests = BenchSequence.requests(n)
    let clock = ContinuousClock()
    let start = clock.now
    _ = try await sequencer.enroll(requests, in: BenchSequence.definition.name, now: Date())
    let seconds = (clock.now - start).timeInterval
    try await store.analyze()
    return seconds
}

/// A session that opens a `REPEATABLE READ` transaction, takes its snapshot and a transaction id,
/// and holds them until released: what a long report, a forgotten `BEGIN` in psql or a slow
/// replica's feedback does to a busy table. Until it ends, no row version made dead after its
/// snapshot can be removed, by vacuum or by index scans marking entries dead.
struct SnapshotHolder {
    private let release: AsyncStream<Void>.Continuation
    private let task: Task<Void, any Error>

    static func start(_ store: PostgresStore) async throws -> SnapshotHolder {
        let (released, release) = AsyncStream<Void>.makeStream()
        let (ready, readyContinuation) = AsyncStream<Result<Void, any Error>>.makeStream()
        let task = Task {
            do {
                try await store.client.withConnection { connection in
                    try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: benchLogger)
                    _ = try await connection.query("SELECT txid_current(), (SELECT count(*) FROM \(unescaped: store.quotedSchema).enrollments)",
                                                   logger: benchLogger).collect()
                    readyContinuation.yield(.success(()))
                    for await _ in released { break }
                    try await connection.query("ROLLBACK", logger: benchLogger)
                }
            } catch {
                readyContinuation.yield(.failure(error))
                throw error
            }
        }
        for await result in ready {
            try result.get()
            break
        }
        return SnapshotHolder(release: release, task: task)
    }

    /// Ends the transaction.
    func release() async {
        release.yield()
        release.finish()
        _ = await task.result
    }
}
