public import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// The funnel of a sequence version; see ``Sequencer/SequenceStore/funnel(sequence:version:now:)``.
    ///
    /// One statement, three index-served parts: the version's counters (`funnel_counters` by its
    /// primary key, plus the deltas not folded yet through `funnel_deltas_version`; written by
    /// migration 3's triggers and by the statements that write history), the due count and the oldest due time from the `enrollments_due`
    /// index (what is due, not what is stored), and the last hour's failures and retries from the
    /// `events_failures` index.
    public func funnel(sequence: String, version: Int, now: Date) async throws -> FunnelStatistics {
        try Limits.check(now, field: "now", sequence: sequence)
        let until = SQLTimestamp(now), since = SQLTimestamp(now.addingTimeInterval(-3600))
        return try await withStoreErrors("read the funnel of '\(sequence)' v\(version)") {
            let rows = try await queryRows("""
                SELECT c.step_id, c.metric, sum(c.value)::bigint, NULL::timestamptz
                FROM (SELECT step_id, metric, value FROM \(unescaped: tables.funnelCounters)
                      WHERE sequence_name = \(sequence) AND sequence_version = \(version)
                      UNION ALL
                      SELECT step_id, metric, delta FROM \(unescaped: tables.funnelDeltas)
                      WHERE sequence_name = \(sequence) AND sequence_version = \(version)) AS c
                GROUP BY c.step_id, c.metric
                UNION ALL
                SELECT NULL, 'due', count(*), min(next_run_at) FROM \(unescaped: tables.enrollments)
                WHERE status = 'active' AND next_run_at <= \(until)
                  AND sequence_name = \(sequence) AND sequence_version = \(version)
                UNION ALL
                SELECT NULL, ev.kind, count(*), NULL
                FROM \(unescaped: tables.events) AS ev JOIN \(unescaped: tables.enrollments) AS e ON e.id = ev.enrollment_id
                WHERE ev.kind IN ('failed', 'retrying') AND ev.at > \(since) AND ev.at <= \(until)
                  AND e.sequence_name = \(sequence) AND e.sequence_version = \(version)
                GROUP BY ev.kind
                """)
            var funnel = FunnelStatistics(sequence: sequence, version: version, at: now)
            var steps: [String?: FunnelStatistics.StepFigures] = [:]
            for (stepID, metric, value, date) in try rows.decodeEach((String?, String, Int64, SQLTimestamp?).self) {
                let count = Int(value)
                switch (stepID, metric) {
                case (nil, "due"):
                    funnel.dueNow = count
                    funnel.oldestDueAt = date?.date
                case (nil, "failed"):
                    funnel.failedLastHour = count
                case (nil, "retrying"):
                    funnel.retriesLastHour = count
                case ("", "enrolled"):
                    funnel.enrolled = count
                case ("", "goal"):
                    funnel.goalsReached = count
                case (let id?, _):
                    let step = id.isEmpty ? nil : id
                    var figures = steps[step] ?? .init(step: step)
                    if metric == "reached" {
                        figures.reached = count
                    } else if let status = EnrollmentStatus(rawValue: metric) {
                        guard count != 0 else { continue }
                        figures.now[status] = count
                    } else {
                        continue
                    }
                    steps[step] = figures
                default:
                    continue
                }
            }
            funnel.steps = steps.values.sorted { ($0.step ?? "") < ($1.step ?? "") }
            return funnel
        }
    }

    /// Folds the delta rows the funnel triggers and history statements appended into `funnel_counters`; see
    /// ``Sequencer/SequenceStore/foldStatistics()``.
    ///
    /// One statement: it deletes the deltas it sees and adds their sums to the counters, in key
    /// order (two folds never lock counters in opposite orders). A transaction-scoped advisory
    /// lock lets one fold run at a time; another that finds it taken folds nothing and returns 0.
    public func foldStatistics() async throws -> Int {
        let lockKey = "\(tables.schema).funnel"
        return try await withStoreErrors("fold funnel counters") {
            let rows = try await queryRows("""
                WITH turn AS (SELECT pg_try_advisory_xact_lock(hashtext(\(lockKey))) AS held),
                moved AS (
                    DELETE FROM \(unescaped: tables.funnelDeltas) WHERE (SELECT held FROM turn)
                    RETURNING sequence_name, sequence_version, step_id, metric, delta
                ),
                folded AS (
                    INSERT INTO \(unescaped: tables.funnelCounters) AS c
                        (sequence_name, sequence_version, step_id, metric, value)
                    SELECT sequence_name, sequence_version, step_id, metric, sum(delta) FROM moved
                    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
                    ON CONFLICT (sequence_name, sequence_version, step_id, metric)
                    DO UPDATE SET value = c.value + excluded.value
                )
                SELECT count(*) FROM moved
                """)
            return try rows.first?.decode(Int.self) ?? 0
        }
    }
}
