import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer-bench idle`: does a tick cost what is due, or what is stored?
struct Idle: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Median tick time with D due enrollments, with 0 and with W enrollments waiting; report their ratio.")

    @Option(help: "Enrollments due in each timed tick.") var due = 1_000
    @Option(help: "Enrollments waiting far in the future in the crowded schema.") var waiting = 1_000_000
    @Option(help: "Timed ticks per case (the median is reported).") var rounds = 15
    @Option(help: "Untimed ticks per case first.") var warmUp = 3

    func validate() throws {
        guard due > 0, waiting >= 0, rounds > 0, warmUp >= 0 else {
            throw ValidationError("due and rounds must be positive, waiting and warm-up not negative")
        }
    }

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await IdleScenario(due: due, waiting: waiting, rounds: rounds, warmUp: warmUp).run(database))
    }
}

/// Two schemas side by side: *empty* and *crowded* (W active enrollments due ten years from now,
/// inserted with one `INSERT … SELECT FROM generate_series`, then `ANALYZE`).
///
/// Each round, in each schema, D fresh enrollments are bulk-enrolled due now (untimed), then one
/// `tick(now:)` is timed; it must claim and complete exactly those D (with the default batch size
/// of 500 that is two claim+commit rounds and a final empty claim). Fresh enrollments, rather than
/// re-activating old rows with an UPDATE, keep the tick's work identical in every round and leave
/// no dead index entries behind. The two schemas alternate which goes first, so drift in the
/// machine's load falls on both alike. `ratio` = median(crowded) / median(empty); `seconds` is the
/// crowded median.
struct IdleScenario {
    var due = 1_000
    var waiting = 1_000_000
    var rounds = 15
    var warmUp = 3

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema("idle_empty") { empty in
            try await database.withFreshSchema("idle_crowded") { crowded in
                try await measure(empty: empty, crowded: crowded)
            }
        }
    }

    private func measure(empty: PostgresStore, crowded: PostgresStore) async throws -> Figures {
        let quiet = try await makeTickers(store: empty, count: 1, owner: "bench-empty", batchSize: 500, register: true)[0]
        let busy = try await makeTickers(store: crowded, count: 1, owner: "bench-crowded", batchSize: 500, register: true)[0]
        progress("idle: inserting \(waiting) waiting enrollments")
        let now = Date()
        try await crowded.insertGenerated(waiting, due: now.addingTimeInterval(10 * 365 * 86_400), now: now)
        try await crowded.analyze()
        try await empty.analyze()

        progress("idle: \(warmUp) + \(rounds) rounds of \(due) due enrollments")
        var emptyTimes: [Double] = []
        var crowdedTimes: [Double] = []
        for round in 0..<(warmUp + rounds) {
            var pair: (empty: Double, crowded: Double) = (0, 0)
            if round.isMultiple(of: 2) {
                pair.empty = try await timedTick(quiet, round: round)
                pair.crowded = try await timedTick(busy, round: round)
            } else {
                pair.crowded = try await timedTick(busy, round: round)
                pair.empty = try await timedTick(quiet, round: round)
            }
            if round >= warmUp {
                emptyTimes.append(pair.empty)
                crowdedTimes.append(pair.crowded)
            }
        }
        let stillWaiting = try await crowded.scalar("SELECT count(*) FROM {s}.enrollments WHERE status = 'active'")
        let medianEmpty = median(emptyTimes)
        let medianCrowded = median(crowdedTimes)
        return [
            "scenario": "idle", "n": .int(due), "waiting": .int(waiting), "seconds": .rounded(medianCrowded, 5),
            "median_tick_ms_empty": .rounded(medianEmpty * 1_000, 2),
            "median_tick_ms_waiting": .rounded(medianCrowded * 1_000, 2),
            "min_tick_ms_empty": .rounded((emptyTimes.min() ?? 0) * 1_000, 2),
            "min_tick_ms_waiting": .rounded((crowdedTimes.min() ?? 0) * 1_000, 2),
            "ratio": .rounded(medianCrowded / medianEmpty), "rounds": .int(rounds),
            "verified": .bool(stillWaiting == waiting),
        ]
    }

    /// Enrolls `due` subjects due now (untimed), then times one tick, which must complete them all.
    private func timedTick(_ sequencer: Sequencer, round: Int) async throws -> Double {
        _ = try await sequencer.enroll(BenchSequence.requests(due, prefix: "round-\(round)"),
                                       in: BenchSequence.definition.name, now: Date())
        let clock = ContinuousClock()
        let start = clock.now
        let report = try await sequencer.tick(now: Date())
        let seconds = (clock.now - start).timeInterval
        guard report.claimed == due, report.completed == due else {
            throw BenchError("idle: a tick claimed \(report.claimed) and completed \(report.completed), expected \(due)")
        }
        return seconds
    }
}

/// The median (the mean of the middle two for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let middle = sorted.count / 2
    return sorted.count.isMultiple(of: 2) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
}
