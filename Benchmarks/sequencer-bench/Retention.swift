import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer-bench retention`: what the retention pass deletes per second, and what it costs a
/// drain running beside it.
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune N old finished enrollments (rows/s); drain N fresh ones with and without the pruner beside.")

    @Option(help: "Old finished enrollments to prune, and fresh ones to drain.") var n = 50_000

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await RetentionScenario(n: n).run(database))
    }
}

/// Three phases in one schema, with the default `RetentionPolicy` (batches of 1,000, 50 ms
/// pauses, 30 days):
/// 1. N enrollments of the three-step sequence are enrolled and drained 40 days in the past (so
///    each has four events and finished 40 days ago); one pass deletes them: rows per second
///    (enrollments and events) and the pass's wall time, pauses included.
/// 2. N fresh enrollments are drained alone: the drain's steps per second.
/// 3. N more old ones are made as in 1, then N fresh enrollments are drained while a pass runs
///    beside: the drain's steps per second with the pruner; afterwards the `events` table holds
///    only the fresh enrollments' events (bounded: nothing old is left).
struct RetentionScenario {
    var n = 50_000

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema("retention") { store in
            let sequencer = try await makeTickers(store: store, count: 1, owner: "bench-retention", batchSize: 500,
                                                  register: true)[0]
            let name = BenchSequence.definition.name
            let old = Date().addingTimeInterval(-40 * 86_400)

            func makeOld(_ prefix: String) async throws {
                _ = try await sequencer.enroll(BenchSequence.requests(n, prefix: prefix), in: name, now: old)
                try await store.analyze()
                while try await sequencer.tick(now: old).claimed > 0 {}
            }

            progress("retention: \(n) enrollments finished 40 days ago")
            try await makeOld("old-a")
            let eventsBefore = try await store.scalar("SELECT count(*) FROM {s}.events")
            let clock = ContinuousClock()
            var start = clock.now
            let alone = try await sequencer.prune(RetentionPolicy())
            let pruneSeconds = (clock.now - start).timeInterval

            progress("retention: draining \(n) fresh enrollments alone")
            _ = try await sequencer.enroll(BenchSequence.requests(n, prefix: "fresh-a"), in: name)
            try await store.analyze()
            start = clock.now
            let drainedAlone = try await tickUntilEmpty(sequencer)
            let drainAloneSeconds = (clock.now - start).timeInterval

            progress("retention: draining \(n) fresh enrollments beside a pass over \(n) old ones")
            try await makeOld("old-b")
            _ = try await sequencer.enroll(BenchSequence.requests(n, prefix: "fresh-b"), in: name)
            try await store.analyze()
            start = clock.now
            async let beside = sequencer.prune(RetentionPolicy())
            let drainedBeside = try await tickUntilEmpty(sequencer)
            let drainBesideSeconds = (clock.now - start).timeInterval
            let besideReport = try await beside
            let eventsAfter = try await store.scalar("SELECT count(*) FROM {s}.events")
            let finished = try await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE status = 'completed'")
            let orphans = try await store.scalar(
                "SELECT count(*) FROM {s}.events e WHERE NOT EXISTS (SELECT 1 FROM {s}.enrollments n WHERE n.id = e.enrollment_id)")

            let steps = Double(n * BenchSequence.stepsPerEnrollment)
            let rows = Double(alone.enrollments + alone.events)
            return [
                "scenario": "retention", "n": .int(n), "seconds": .rounded(pruneSeconds),
                "pruned_enrollments": .int(alone.enrollments), "pruned_events": .int(alone.events),
                "prune_rows_per_second": .rounded(rows / pruneSeconds, 0),
                "prune_batches": .int(alone.batches),
                "drain_alone_steps_per_second": .rounded(steps / drainAloneSeconds, 0),
                "drain_beside_pruner_steps_per_second": .rounded(steps / drainBesideSeconds, 0),
                "drain_ratio_with_pruner": .rounded(drainAloneSeconds / drainBesideSeconds),
                "pruned_beside_drain": .int(besideReport.enrollments),
                "events_before_prune": .int(eventsBefore), "events_after": .int(eventsAfter),
                "verified": .bool(alone.enrollments == n && besideReport.enrollments == n
                                  && drainedAlone.steps == n * BenchSequence.stepsPerEnrollment
                                  && drainedBeside.steps == n * BenchSequence.stepsPerEnrollment
                                  && finished == 2 * n && orphans == 0
                                  // bounded: what is left is the two fresh drains' events, as many as one old drain's, twice
                                  && eventsAfter == 2 * eventsBefore),
            ]
        }
    }
}
