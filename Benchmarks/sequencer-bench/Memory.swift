import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer-bench memory`: a ticker's memory follows its batch size, not the backlog.
struct Memory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Peak resident memory of a process draining N enrollments.")

    @Option(help: "Enrollments to drain.") var n = 1_000_000
    @Option(help: "Enrollments per claim.") var batchSize = 500

    func validate() throws {
        guard n > 0, batchSize > 0 else { throw ValidationError("n and batch-size must be positive") }
    }

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await MemoryScenario(n: n, batchSize: batchSize).run(database))
    }
}

/// N due enrollments are inserted with one `INSERT … SELECT FROM generate_series` (so no process
/// ever holds N of anything), then one `worker` child process, with one ticker, drains them and
/// reports its own peak resident set (`VmHWM` of `/proc/self/status`), untouched by this parent's
/// memory. `baseline_rss_mb` is the child's resident set once connected and warmed up, just before
/// the start; `peak_rss_mb − baseline_rss_mb` is what draining added.
struct MemoryScenario {
    var n = 1_000_000
    var batchSize = 500

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema("memory") { store in
            let sequencer = Sequencer(store: store, logger: benchLogger)
            try await sequencer.register(BenchSequence.definition)
            progress("memory: inserting \(n) due enrollments")
            let now = Date()
            try await store.insertGenerated(n, due: now, now: now)
            try await store.analyze()

            progress("memory: one worker process drains them")
            let key = StartLine.newKey()
            let (children, openedAt, _) = try await StartLine.run(key: key, count: 1, client: database.client) {
                [try ChildProcess("memory worker", arguments: [
                    "worker", "--schema", store.configuration.schema, "--start-key", "\(key)",
                    "--owner", "bench-memory", "--batch-size", "\(batchSize)",
                ], databaseURL: database.url)]
            }
            let result = try await children[0].result()
            let seconds = (result["finished_at"]?.numberValue ?? .nan) - openedAt.timeIntervalSince1970
            let verified = try await store.allCompleted(n)
            let peakMB = (result["peak_rss_kb"]?.numberValue ?? .nan) / 1_024
            let baselineMB = (result["baseline_rss_kb"]?.numberValue ?? .nan) / 1_024
            return [
                "scenario": "memory", "n": .int(n), "seconds": .rounded(seconds),
                "peak_rss_mb": .rounded(peakMB, 1), "baseline_rss_mb": .rounded(baselineMB, 1),
                "drain_growth_mb": .rounded(peakMB - baselineMB, 1), "batch_size": .int(batchSize),
                "steps_per_second": .rounded(Double(n * BenchSequence.stepsPerEnrollment) / seconds, 0),
                "verified": .bool(verified && result["completed"]?.numberValue == Double(n)),
            ]
        }
    }
}
