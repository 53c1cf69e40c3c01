import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer-bench enroll`: how fast `Sequencer.enroll(_:in:now:)` writes a segment.
struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bulk-enroll N subjects in one call; report rows per second.")

    @Option(help: "Subjects to enroll.") var n = 100_000

    func validate() throws {
        guard n > 0 else { throw ValidationError("n must be positive") }
    }

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await EnrollScenario(n: n).run(database))
    }
}

/// Times one `sequencer.enroll(requests, in:)` call of N subjects (each with a small context, no
/// idempotency key), the requests built beforehand. The sequencer cuts the call into chunks of
/// `4 × batchSize` (2,000) and the store writes each as one `INSERT … SELECT FROM unnest(…)` with
/// its `enrolled` history events; a count then checks that all N rows exist.
struct EnrollScenario {
    var n: Int

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema("enroll") { store in
            let sequencer = Sequencer(store: store, logger: benchLogger)
            try await sequencer.register(BenchSequence.definition)
            // Warm the pool's connection and the definition cache outside the timing.
            _ = try await sequencer.enroll(BenchSequence.requests(1, prefix: "warm-up"), in: BenchSequence.definition.name)
            let requests = BenchSequence.requests(n)
            progress("enroll: enrolling \(n)")
            let clock = ContinuousClock()
            let start = clock.now
            let ids = try await sequencer.enroll(requests, in: BenchSequence.definition.name, now: Date())
            let seconds = (clock.now - start).timeInterval
            let stored = try await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE subject NOT LIKE 'warm-up-%'")
            return [
                "scenario": "enroll", "n": .int(n), "seconds": .rounded(seconds),
                "rows_per_second": .rounded(Double(n) / seconds, 0),
                "verified": .bool(ids.count == n && stored == n),
            ]
        }
    }
}
