import ArgumentParser
import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres

/// `sequencer-bench worker` (hidden): one ticker process of `drain --processes` and `memory`.
///
/// Connects to `DATABASE_URL`, builds its tickers on the schema the parent prepared, warms them up
/// (connections, definition cache), waits at the parent's ``StartLine``, then ticks until a tick
/// claims nothing and prints one JSON line: what it did, when it started and finished (Unix
/// seconds, so the parent can take the span over all workers) and its memory (`VmRSS` just before
/// the start, `VmHWM` at the end, in kB).
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A ticker process started by drain --processes and memory.", shouldDisplay: false)

    @Option(help: "The schema the parent prepared.") var schema: String
    @Option(help: "The start line's advisory lock key.") var startKey: Int64
    @Option(help: "Lease owner prefix of this process's tickers.") var owner: String
    @Option(help: "Concurrent tickers in this process.") var tickers = 1
    @Option(help: "Enrollments per claim.") var batchSize = 500

    func run() async throws {
        guard ProcessInfo.processInfo.environment["DATABASE_URL"] != nil else {
            throw ValidationError("worker runs only as a child of sequencer-bench, with DATABASE_URL set")
        }
        let database = try await BenchDatabase.connect()
        let store = try PostgresStore(client: database.client, configuration: .init(schema: schema), logger: benchLogger)
        let sequencers = try await makeTickers(store: store, count: tickers, owner: owner, batchSize: batchSize)
        let baselineKB = processStatus("VmRSS") ?? 0

        try await StartLine.pass(startKey, client: database.client)
        let startedAt = Date()
        let cpu = CPUSample.processSeconds()
        let totals = try await tickConcurrently(sequencers)
        let finishedAt = Date()
        let cpuSeconds = CPUSample.processSeconds() - cpu

        Output.emit([
            "owner": .string(owner), "tickers": .int(tickers),
            "claimed": .int(totals.claimed), "steps": .int(totals.steps),
            "completed": .int(totals.completed), "batches": .int(totals.batches),
            "fenced_out": .int(totals.fencedOut), "ticks": .int(totals.ticks),
            "cpu_seconds": .rounded(cpuSeconds, 3),
            "started_at": .number(startedAt.timeIntervalSince1970), "finished_at": .number(finishedAt.timeIntervalSince1970),
            "baseline_rss_kb": .int(baselineKB), "peak_rss_kb": .int(processStatus("VmHWM") ?? 0),
        ])
    }
}

/// `count` sequencers (owners `OWNER-t0`, `OWNER-t1`, …) on one store, each with the drain
/// definition in its cache and the client holding a connection per ticker, so the first timed tick
/// pays for neither. With `register`, the first one registers the definition first.
func makeTickers(store: PostgresStore, count: Int, owner: String, batchSize: Int, batchesInFlight: Int = 1,
                 register: Bool = false) async throws -> [Sequencer] {
    let sequencers = (0..<max(1, count)).map { index in
        Sequencer(store: store, configuration: tickerConfiguration(owner: "\(owner)-t\(index)", batchSize: batchSize,
                                                                   batchesInFlight: batchesInFlight),
                  logger: benchLogger)
    }
    let definition = BenchSequence.definition
    if register { try await sequencers[0].register(definition) }
    try await withThrowingTaskGroup(of: Void.self) { group in
        for sequencer in sequencers {
            group.addTask {
                _ = try await sequencer.definition(definition.name, version: definition.version)
                // Held briefly in parallel, so the pool opens one connection per ticker now.
                try await store.client.query("SELECT pg_sleep(0.05)", logger: benchLogger)
            }
        }
        try await group.waitForAll()
    }
    return sequencers
}

/// Runs a ``SequencerService`` per sequencer, as hosts do, until each has a tick that claims nothing.
func tickConcurrently(_ sequencers: [Sequencer]) async throws -> TickTotals {
    try await withThrowingTaskGroup(of: TickTotals.self) { group in
        for sequencer in sequencers {
            group.addTask { try await serviceUntilEmpty(sequencer) }
        }
        var sum = TickTotals()
        for try await totals in group { sum = sum + totals }
        return sum
    }
}
