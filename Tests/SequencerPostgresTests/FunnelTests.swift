import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTesting
import Testing

/// The funnel counters on PostgreSQL: kept by triggers in the statements that change enrollments,
/// they must always equal what the rows and the history say, whoever writes.
@Suite("PostgresStore funnel")
struct FunnelTests {
    /// Fails every seventh subject, retries every seventh-plus-one once, passes the rest.
    struct Flaky: TaskRunner {
        let name = "Flaky"
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { input in
                let n = Int(input.subject.dropFirst()) ?? 0
                if n % 7 == 0 { return input.result(.fail("unlucky")) }
                if n % 7 == 1, input.attempt == 1 { return input.result(.retry("once more")) }
                return input.result(.next)
            }
        }
    }

    static let v1 = SequenceDefinition(name: "funnel", version: 1, steps: [
        Step(id: "start", runner: "Flaky"),
        .waitForDuration("wait", 1, "days"),
        .goal("paid", .compare(.eq, .get("plan"), .raw("pro"))),
        .goTo("last", target: Step.end),
    ])
    static let v2 = SequenceDefinition(name: "funnel", version: 2, steps: [
        Step(id: "start", runner: "Flaky"),
        .waitForDuration("wait2", 2, "days"),
        .goTo("last", target: Step.end),
    ])

    /// What the rows and the history say, for one version: (step, metric) → value.
    func truth(_ store: PostgresStore, version: Int) async throws -> [String: Int] {
        var figures: [String: Int] = [:]
        let rows = try await store.client.query(PostgresQuery(unsafeSQL: """
            SELECT coalesce(step_id, '') || '/' || status, count(*) FROM "\(store.configuration.schema)".enrollments
            WHERE sequence_name = 'funnel' AND sequence_version = \(version) GROUP BY 1
            """), logger: testLogger)
        for try await (key, count) in rows.decode((String, Int).self) { figures[key] = count }
        return figures
    }

    func gauges(_ funnel: FunnelStatistics) -> [String: Int] {
        var figures: [String: Int] = [:]
        for step in funnel.steps {
            for (status, count) in step.now where count != 0 { figures["\(step.step ?? "")/\(status.rawValue)"] = count }
        }
        return figures
    }

    /// Entries into each step of version 1 according to the history (the enrollments never leave it).
    func reachedByHistory(_ store: PostgresStore) async throws -> [String: Int] {
        var figures: [String: Int] = [:]
        let rows = try await store.client.query(PostgresQuery(unsafeSQL: """
            SELECT coalesce(nullif(to_step, '$end'), ''), count(*) FROM "\(store.configuration.schema)".events
            WHERE kind IN ('enrolled', 'advanced', 'altAdvanced', 'goalReached', 'moved') GROUP BY 1
            """), logger: testLogger)
        for try await (step, count) in rows.decode((String, Int).self) { figures[step] = count }
        return figures
    }

    @Test func countersEqualTheRowsAndTheHistoryUnderConcurrentTickersHostChangesAndFolds() async throws {
        try await withStore { store in
            var configuration = Sequencer.Configuration()
            configuration.batchSize = 25
            configuration.statisticsFoldInterval = .zero   // every tick folds: folds race the commits
            configuration.retry.baseDelay = .seconds(60)
            configuration.retry.jitter = 0
            let tickers = (0..<4).map { _ in
                Sequencer(store: store, runners: .builtIn + [Flaky()], configuration: configuration, logger: testLogger)
            }
            try await tickers[0].register(Self.v1)
            let ids = try await tickers[0].enroll((0..<300).map {
                EnrollmentRequest(subject: "s\($0)", context: $0 % 5 == 0 ? ["plan": "pro"] : [:])
            }, in: "funnel", now: t0)
            // Four tickers at once, while the host pauses and cancels some of the same enrollments.
            for offset: TimeInterval in [0, 120, 2 * 86_400] {
                let now = t0.addingTimeInterval(offset)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for ticker in tickers { group.addTask { _ = try await ticker.tick(now: now) } }
                    group.addTask {
                        for id in ids[200..<220] { _ = try? await tickers[0].pause(id, now: now) }
                        for id in ids[220..<230] { _ = try? await tickers[0].cancel(id, now: now) }
                    }
                    try await group.waitForAll()
                }
            }
            let funnel = try await tickers[0].funnel(sequence: "funnel", now: t0.addingTimeInterval(2 * 86_400))
            #expect(gauges(funnel) == (try await truth(store, version: 1)))
            let history = try await reachedByHistory(store)
            for step in funnel.steps {
                #expect(step.reached == history[step.step ?? "", default: 0], "reached \(step.step ?? "(end)")")
            }
            #expect(funnel.enrolled == 300)
            #expect(funnel.steps.map(\.step) == ["start", "wait", "paid", "last", nil], "in the definition's order")
            #expect(funnel.goalsReached > 0)
            let goals: Int = try await store.scalar("SELECT count(*) FROM {s}.events WHERE kind = 'goalReached'")
            #expect(funnel.goalsReached == goals)

            // A bulk retry, a version migration and retention: the gauges follow the rows, the
            // totals of version 1 stay, version 2 counts what entered it.
            try await tickers[0].register(Self.v2)
            let retried = try await tickers[0].apply(.retry, toEnrollmentsMatching: EnrollmentFilter(sequence: "funnel", status: .failed),
                                                     now: t0.addingTimeInterval(3 * 86_400))
            #expect(retried.changed > 0)
            let migrated = try await tickers[0].migrateEnrollments(of: "funnel", from: 1, to: 2, stepMap: ["wait": "wait2", "paid": "last"],
                                                                   now: t0.addingTimeInterval(3 * 86_400))
            var policy = RetentionPolicy()
            policy.completed = .days(0)
            policy.cancelled = .days(0)
            policy.pause = .zero
            let pruned = try await tickers[0].prune(policy, now: t0.addingTimeInterval(4 * 86_400))
            #expect(pruned.enrollments > 0)
            let v1 = try await tickers[0].funnel(sequence: "funnel", version: 1, now: t0.addingTimeInterval(4 * 86_400))
            let v2 = try await tickers[0].funnel(sequence: "funnel", version: 2, now: t0.addingTimeInterval(4 * 86_400))
            #expect(gauges(v1) == (try await truth(store, version: 1)))
            #expect(gauges(v2) == (try await truth(store, version: 2)))
            #expect(v1.enrolled == 300 && v2.enrolled == migrated.changed && migrated.changed > 0)
            #expect(v1.steps.map(\.reached) == funnel.steps.map(\.reached), "version 1's entries are history: kept")

            // Folding everything leaves no delta and changes no figure.
            _ = try await store.foldStatistics()
            let deltas: Int = try await store.scalar("SELECT count(*) FROM {s}.funnel_deltas")
            #expect(deltas == 0)
            #expect(try await tickers[0].funnel(sequence: "funnel", version: 2, now: v2.at) == v2)
        }
    }

    @Test func migrationThreeCountsWhatExistedBefore() async throws {
        try await withStore(migrate: false) { store in
            try await store.migrate(through: 2)
            // Forty enrollments written as a schema-2 library would have left them: every fourth
            // completed through a goal, the next at "wait", the rest at "start" (one in four failed).
            try await store.execute("""
                INSERT INTO {s}.enrollments (id, sequence_name, sequence_version, subject, step_id, status, next_run_at,
                                             step_entered_at, visit, created_at, updated_at)
                SELECT gen_random_uuid(), 'funnel', 1, 's' || n,
                       CASE n % 4 WHEN 0 THEN NULL WHEN 1 THEN 'wait' ELSE 'start' END,
                       CASE n % 4 WHEN 0 THEN 'completed' WHEN 3 THEN 'failed' ELSE 'active' END,
                       CASE WHEN n % 4 IN (1, 2) THEN now() END, now(), 1, now(), now()
                FROM generate_series(0, 39) AS n
                """)
            try await store.execute("""
                INSERT INTO {s}.events (enrollment_id, kind, from_step, to_step, visit, at)
                SELECT e.id, x.kind, x.from_step, x.to_step, 1, now()
                FROM {s}.enrollments AS e
                CROSS JOIN LATERAL (VALUES ('enrolled', NULL, 'start', true),
                                           ('advanced', 'start', 'wait', e.step_id IS DISTINCT FROM 'start'),
                                           ('goalReached', 'wait', '$end', e.step_id IS NULL)) AS x(kind, from_step, to_step, happened)
                WHERE x.happened
                """)
            try await store.migrate()
            let sequencer = Sequencer(store: store, runners: .builtIn + [Flaky()], logger: testLogger)
            try await sequencer.register(Self.v1)
            let funnel = try await sequencer.funnel(sequence: "funnel")
            #expect(gauges(funnel) == (try await truth(store, version: 1)))
            #expect(funnel.steps.map(\.reached) == [40, 20, 0, 0, 10])
            #expect(funnel.enrolled == 40 && funnel.goalsReached == 10)
        }
    }
}
