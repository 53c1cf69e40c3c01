import ArgumentParser
import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres

/// `sequencer-bench drain-waits`: a drip's shape, one step per claim.
struct DrainWaits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain-waits",
        abstract: "Drain N enrollments of a sequence whose steps are each followed by a one-day wait, on a simulated clock.",
        discussion: """
            Every round the simulated clock moves a day and one ticker drains what is due, so each \
            claim takes each enrollment through one wait and one step into the next wait (or to \
            the end): four claims per enrollment. Compare with sql-floor-waits.
            """)

    @Option(help: "Enrollments to drain.") var n = 100_000
    @Option(help: "Enrollments per claim.") var batchSize = 500

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await DrainWaitsScenario(n: n, batchSize: batchSize).run(database))
    }
}

/// `sequencer-bench sql-floor-waits`: the same rounds by hand-written SQL alone.
struct SQLFloorWaits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql-floor-waits",
        abstract: "Drain-waits done by hand-written SQL only (no engine); report steps per second.")

    @Option(help: "Enrollments to drain.") var n = 100_000
    @Option(help: "Enrollments per claim.") var batchSize = 500

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await DrainWaitsScenario(n: n, batchSize: batchSize, floor: true).run(database))
    }
}

/// The sequence of a drip: three instant steps, each followed by a one-day wait.
///
/// `a` → `wait-1` → `b` → `wait-2` → `c` → `wait-3` → end; `a`, `b`, `c` are Conditionals on
/// the context's `plan` (true for every enrollment), each wait is one day.
enum WaitsSequence {
    static let definition = SequenceDefinition(name: "bench-waits", version: 1, steps: [
        .conditional("a", .compare(.eq, .get("plan"), .raw("trial"))),
        .waitForDuration("wait-1", 1, "days"),
        .conditional("b", .compare(.ne, .get("plan"), .raw("churned"))),
        .waitForDuration("wait-2", 1, "days"),
        .conditional("c", .compare(.eq, .get("plan"), .raw("trial"))),
        .waitForDuration("wait-3", 1, "days"),
    ])

    /// Claims per enrollment: the first step, then each wait's end.
    static let rounds = 4
    /// Steps each enrollment runs, as `TickReport.steps` counts them: `a`, `b`, `c`, and each
    /// wait twice (entered, then ended a day later).
    static let stepsPerEnrollment = 9
    /// History events the engine writes per enrollment after `enrolled`: per round 2, 3, 3, 2.
    static let eventsPerEnrollment = 10
}

/// N enrollments of ``WaitsSequence`` enrolled at a simulated `t0`; round r ticks at
/// `t0 + r days + 1 s` until a tick claims nothing. The engine (one `Sequencer`, `tick(now:)`) or
/// the floor (``WaitsFloor``) does the rounds; both are timed over the rounds only, and verified
/// by every enrollment completed and the history's size.
struct DrainWaitsScenario {
    var n: Int
    var batchSize = 500
    var floor = false

    var name: String { floor ? "sql-floor-waits" : "drain-waits" }

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema(name) { store in
            let t0 = Date(timeIntervalSince1970: (Date().timeIntervalSince1970).rounded(.down))
            let sequencer = Sequencer(store: store, configuration: tickerConfiguration(owner: "bench", batchSize: batchSize),
                                      logger: benchLogger)
            try await sequencer.register(WaitsSequence.definition)
            progress("\(name): enrolling \(n)")
            _ = try await sequencer.enroll(BenchSequence.requests(n), in: WaitsSequence.definition.name, now: t0)
            try await store.analyze()
            _ = try await sequencer.definition(WaitsSequence.definition.name, version: 1)
            progress("\(name): \(WaitsSequence.rounds) rounds")
            let clock = ContinuousClock()
            let cpu = await CPUSample.now(store.client)
            let start = clock.now
            var claims = 0, batches = 0, steps = 0
            for round in 0..<WaitsSequence.rounds {
                let now = t0.addingTimeInterval(Double(round) * 86_400 + 1)
                if floor {
                    let (claimed, floorBatches) = try await WaitsFloor(store: store, batchSize: batchSize, round: round)
                        .drain(now: now)
                    claims += claimed
                    batches += floorBatches
                } else {
                    let totals = try await tickUntilEmpty(sequencer, now: now)
                    claims += totals.claimed
                    batches += totals.batches
                    steps += totals.steps
                }
            }
            let seconds = (clock.now - start).timeInterval
            let cpuFigures = CPUSample.figures(from: cpu, to: await CPUSample.now(store.client))
            let events = try await store.scalar("SELECT count(*) FROM {s}.events WHERE kind <> 'enrolled'")
            let allSteps = n * WaitsSequence.stepsPerEnrollment
            let figures: Figures = [
                "scenario": .string(name), "n": .int(n), "seconds": .rounded(seconds),
                "steps_per_second": .rounded(Double(allSteps) / seconds, 0),
                "claims_per_second": .rounded(Double(claims) / seconds, 0),
                "claimed": .int(claims), "steps": .int(floor ? allSteps : steps), "batches": .int(batches), "batch_size": .int(batchSize), "events": .int(events),
                "verified": .bool(try await store.allCompleted(n) && claims == n * WaitsSequence.rounds
                                  && (floor || steps == allSteps) && events == n * WaitsSequence.eventsPerEnrollment),
            ]
            return figures.merging(cpuFigures) { first, _ in first }
        }
    }
}

/// One round of `sql-floor-waits`: claim and advance batches (``FloorStatements``) until a claim
/// returns nothing, writing the cursor and the events the engine writes in that round: the
/// wait's end (`advanced wait → step`), the step (`advanced step → wait`, "condition true") and
/// the next wait (`waiting`, "waiting until …", due a day later); the last round ends the wait
/// and completes. It evaluates nothing: it knows each round's outcome in advance.
struct WaitsFloor {
    var store: PostgresStore
    var batchSize: Int
    var round: Int

    func drain(now: Date) async throws -> (Int, Int) {
        let floor = FloorStatements(store: store, batchSize: batchSize, owner: "bench-floor-waits")
        let until = now.addingTimeInterval(86_400)
        let waiting = "waiting until " + ISO8601DateFormatter.string(from: until, timeZone: .gmt, formatOptions: .withInternetDateTime)
        let steps = ["a", "b", "c"]
        var events: [FloorStatements.Event] = []
        let cursor: FloorStatements.Cursor
        if round == 0 {
            events = [.init("advanced", "a", "wait-1", "condition true", 0), .init("waiting", "wait-1", "wait-1", waiting, 1)]
            cursor = .waiting(step: "wait-1", until: until, visitOffset: 1)
        } else if round < 3 {
            let wait = "wait-\(round)", step = steps[round], next = "wait-\(round + 1)"
            events = [.init("advanced", wait, step, nil, 0), .init("advanced", step, next, "condition true", 1),
                      .init("waiting", next, next, waiting, 2)]
            cursor = .waiting(step: next, until: until, visitOffset: 2)
        } else {
            events = [.init("advanced", "wait-3", "$end", nil, 0), .init("completed", "wait-3", nil, nil, 1)]
            cursor = .completed(visitOffset: 1)
        }
        var claimedTotal = 0, batches = 0
        while true {
            let claimed = try await floor.claim(now: now)
            if claimed.ids.isEmpty { return (claimedTotal, batches) }
            claimedTotal += claimed.ids.count
            batches += 1
            try await floor.advance(claimed, events: events, to: cursor, now: now)
        }
    }
}
