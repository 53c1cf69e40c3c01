import ArgumentParser
import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres

/// `sequencer-bench sql-floor`: the drain done by hand-written SQL alone, the floor the engine is measured against.
struct SQLFloor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql-floor",
        abstract: "Drain N enrollments with hand-written SQL only (no engine); report steps per second.")

    @Option(help: "Enrollments to drain.") var n = 100_000
    @Option(help: "Concurrent SQL loops on the shared client.") var tickers = 1
    @Option(help: "Runs; the median one is reported (with every run's seconds).") var runs = 1
    @Flag(inversion: .prefixedNo, help: "Run an untimed 2,000-enrollment drain first.") var warmUp = true
    @Option(help: "Enrollments per claim.") var batchSize = 500

    func validate() throws {
        guard n > 0, tickers > 0, batchSize > 0, runs > 0 else {
            throw ValidationError("n, tickers, batch-size and runs must be positive")
        }
    }

    func run() async throws {
        let database = try await BenchDatabase.connect()
        if warmUp { try await warmUpServer(database) }
        let scenario = SQLFloorScenario(n: n, tickers: tickers, batchSize: batchSize)
        Output.emit(try await Runs.repeated(runs) { try await scenario.run(database) })
    }
}

/// The same drain as ``DrainScenario`` (same sequence, same bulk enroll, same `ANALYZE`, same
/// driver and client), done by two hand-written statements per batch and no engine.
///
/// What the floor does, per batch of up to `batchSize`, until a claim returns no row
/// (``FloorStatements``):
/// 1. **Claim**: the engine's claim statement, returning only `id`, `fence`, `visit` (the engine
///    returns and decodes whole rows, context included).
/// 2. **Advance**: one statement writing the final cursor of every claimed row (status
///    `completed`, `step_id` and `next_run_at` NULL, `visit + 3`, attempts 0, step entry and
///    update times, lease cleared), fenced like the engine's commit, with the same four history
///    events per enrollment the engine writes (three `advanced`, one `completed`, with the same
///    steps, visits and messages).
///
/// What it does not do: evaluate the conditions or run any runner, render templates, decode
/// contexts or whole rows, read definitions, check goals or step budgets, record metrics, logs or
/// spans, or sort outcomes. It knows the sequence's outcome in advance; that knowledge is the
/// engine's whole job, and its cost is what `drain / sql-floor` shows.
struct SQLFloorScenario {
    var n = 100_000
    var tickers = 1
    var batchSize = 500

    var name: String { tickers > 1 ? "sql-floor-\(tickers)-tickers" : "sql-floor" }

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema(name) { store in
            progress("\(name): enrolling \(n)")
            _ = try await enrollBacklog(store, n: n, batchSize: batchSize)
            // Warm the pool as makeTickers does: one connection per loop.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<tickers {
                    group.addTask { try await store.client.query("SELECT pg_sleep(0.05)", logger: benchLogger) }
                }
                try await group.waitForAll()
            }
            progress("\(name): draining with \(tickers) SQL loop(s)")
            let clock = ContinuousClock()
            let cpu = await CPUSample.now(store.client)
            let start = clock.now
            let (claimed, batches) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
                for index in 0..<tickers {
                    group.addTask { try await drainLoop(store, owner: "bench-floor-\(index)") }
                }
                var sum = (0, 0)
                for try await (claimed, batches) in group { sum = (sum.0 + claimed, sum.1 + batches) }
                return sum
            }
            let seconds = (clock.now - start).timeInterval
            let cpuFigures = CPUSample.figures(from: cpu, to: await CPUSample.now(store.client))
            let verified = try await store.allCompleted(n)
            let events = try await store.scalar("SELECT count(*) FROM {s}.events WHERE kind <> 'enrolled'")
            let steps = n * BenchSequence.stepsPerEnrollment
            let figures: Figures = [
                "scenario": .string(name), "n": .int(n), "seconds": .rounded(seconds),
                "steps_per_second": .rounded(Double(steps) / seconds, 0),
                "enrollments_per_second": .rounded(Double(n) / seconds, 0),
                "claimed": .int(claimed), "batches": .int(batches), "tickers": .int(tickers),
                "batch_size": .int(batchSize), "events": .int(events),
                "verified": .bool(verified && claimed == n && events == 4 * n),
            ]
            return figures.merging(cpuFigures) { first, _ in first }
        }
    }

    /// Claims and advances batches until a claim returns nothing. Returns (claimed, batches).
    private func drainLoop(_ store: PostgresStore, owner: String) async throws -> (Int, Int) {
        let floor = FloorStatements(store: store, batchSize: batchSize, owner: owner)
        var claimedTotal = 0
        var batches = 0
        while true {
            let now = Date()
            let claimed = try await floor.claim(now: now)
            if claimed.ids.isEmpty { return (claimedTotal, batches) }
            claimedTotal += claimed.ids.count
            batches += 1
            try await floor.advance(claimed, events: Self.eventTemplate, to: .completed(visitOffset: 3), now: now)
        }
    }

    /// The four events the engine writes per enrollment of the drain sequence.
    private static let eventTemplate: [FloorStatements.Event] = [
        .init("advanced", "check-plan", "jump", "condition true", 0),
        .init("advanced", "jump", "finish", nil, 1),
        .init("advanced", "finish", "$end", "condition true", 2),
        .init("completed", "finish", nil, nil, 3),
    ]
}

/// The two statements of a floor's batch, shared by `sql-floor` and `sql-floor-waits`.
struct FloorStatements {
    var store: PostgresStore
    var batchSize: Int
    var owner: String

    /// One history event of a floor's batch, per claimed enrollment; `visitOffset` is added to
    /// the visit the claim returned.
    struct Event {
        var kind: String
        var from: String?
        var to: String?
        var message: String?
        var visitOffset: Int64

        init(_ kind: String, _ from: String?, _ to: String?, _ message: String?, _ visitOffset: Int64) {
            (self.kind, self.from, self.to, self.message, self.visitOffset) = (kind, from, to, message, visitOffset)
        }
    }

    /// The cursor a batch leaves: completed, or active at a step due later.
    enum Cursor {
        case completed(visitOffset: Int64)
        case waiting(step: String, until: Date, visitOffset: Int64)
    }

    struct Claimed {
        var ids: [UUID] = []
        var fences: [Int64] = []
        var visits: [Int64] = []
    }

    private var enrollments: String { "\(store.quotedSchema).enrollments" }
    private var events: String { "\(store.quotedSchema).events" }

    /// The engine's claim statement: the oldest due active rows without a live lease from the
    /// partial due index, `FOR UPDATE SKIP LOCKED`, setting `fence + 1`, `lease_owner` and
    /// `lease_expires_at`, returning only `id`, `fence`, `visit` (the engine returns whole rows).
    func claim(now: Date) async throws -> Claimed {
        var claimed = Claimed()
        claimed.ids.reserveCapacity(batchSize)
        let claim: PostgresQuery = """
            WITH due AS MATERIALIZED (
                SELECT id FROM \(unescaped: enrollments)
                WHERE status = 'active' AND next_run_at <= \(now)
                  AND (lease_expires_at IS NULL OR lease_expires_at <= now())
                ORDER BY next_run_at
                LIMIT \(batchSize)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE \(unescaped: enrollments) AS e
            SET fence = e.fence + 1, lease_owner = \(owner), lease_expires_at = now() + interval '60 seconds'
            FROM due
            WHERE e.id = due.id
            RETURNING e.id, e.fence, e.visit
            """
        for try await (id, fence, visit) in try await store.client.query(claim, logger: benchLogger)
            .decode((UUID, Int64, Int64).self) {
            claimed.ids.append(id)
            claimed.fences.append(fence)
            claimed.visits.append(visit)
        }
        return claimed
    }

    /// One statement writing every claimed row's new cursor through `unnest`, fenced like the
    /// engine's commit (`fence` and `status` must still match), and inserting, for the rows it
    /// updated, the given events per enrollment, bound as arrays from the client as the engine
    /// binds them.
    func advance(_ claimed: Claimed, events template: [Event], to cursor: Cursor, now: Date) async throws {
        var eventIDs: [UUID] = [], kinds: [String] = [], froms: [String] = [], tos: [String] = []
        var messages: [String] = [], eventVisits: [Int64] = []
        let count = claimed.ids.count * template.count
        eventIDs.reserveCapacity(count); kinds.reserveCapacity(count); froms.reserveCapacity(count)
        tos.reserveCapacity(count); messages.reserveCapacity(count); eventVisits.reserveCapacity(count)
        for (id, visit) in zip(claimed.ids, claimed.visits) {
            for event in template {
                eventIDs.append(id); kinds.append(event.kind); froms.append(event.from ?? ""); tos.append(event.to ?? "")
                messages.append(event.message ?? ""); eventVisits.append(visit + event.visitOffset)
            }
        }
        let status: String, step: String?, nextRunAt: Date?, visitOffset: Int64
        switch cursor {
        case .completed(let offset): (status, step, nextRunAt, visitOffset) = ("completed", nil, nil, offset)
        case .waiting(let waitStep, let until, let offset): (status, step, nextRunAt, visitOffset) = ("active", waitStep, until, offset)
        }
        // As in the engine's commit, the status test compares with a column of the materialized
        // input rather than a constant, so the planner looks rows up by primary key.
        let statement: PostgresQuery = """
            WITH outcome AS MATERIALIZED (
                SELECT o.*, 'active'::text AS required_status
                FROM unnest(\(claimed.ids), \(claimed.fences), \(claimed.visits)) AS o(id, fence, visit)
            ),
            applied AS (
                UPDATE \(unescaped: enrollments) AS e
                SET status = \(status), step_id = \(step), next_run_at = \(nextRunAt), step_entered_at = \(now),
                    attempts = 0, visit = o.visit + \(visitOffset), last_error = NULL, updated_at = \(now),
                    lease_owner = NULL, lease_expires_at = NULL
                FROM outcome AS o
                WHERE e.id = o.id AND e.fence = o.fence AND e.status = o.required_status
                RETURNING e.id
            ),
            history AS (
                INSERT INTO \(unescaped: events) (enrollment_id, kind, from_step, to_step, message, visit, at)
                SELECT v.enrollment_id, v.kind, NULLIF(v.from_step, ''), NULLIF(v.to_step, ''),
                       NULLIF(v.message, ''), v.visit, \(now)
                FROM unnest(\(eventIDs), \(kinds), \(froms), \(tos), \(messages), \(eventVisits))
                    WITH ORDINALITY AS v(enrollment_id, kind, from_step, to_step, message, visit, ord)
                WHERE v.enrollment_id IN (SELECT id FROM applied)
                ORDER BY v.ord
            )
            SELECT count(*) FROM applied
            """
        let rows = try await store.client.query(statement, logger: benchLogger).collect()
        let applied = try rows[0].decode(Int.self)
        guard applied == claimed.ids.count else {
            throw BenchError("\(owner): \(claimed.ids.count - applied) of \(claimed.ids.count) claimed rows were not applied")
        }
    }
}
