import Foundation
import PostgresNIO
import Sequencer

/// The `events` table's columns, as every statement that writes or reads history sees them.
///
/// The commit of a tick, a host change and enroll all append events (and count them in the
/// funnel) with the `\(history: events, in: tables, onlyFor: cte)` interpolation; reads decode
/// them with ``decode(_:)``.
enum EventTable {
    /// The columns written and read, in order (`id`, the order of history, is generated).
    static let columnNames = "enrollment_id, kind, from_step, to_step, message, visit, at"

    /// Decodes a row selected with ``columnNames``.
    static func decode(_ row: PostgresRow) throws -> HistoryEvent {
        let (id, kind, from, to, message, visit, at) = try row.decode(
            (UUID, String, String?, String?, String?, Int, SQLTimestamp).self)
        guard let kind = HistoryEvent.Kind(rawValue: kind) else {
            throw SequencerError(.storeFailure, "event of enrollment \(id) has an unknown kind '\(kind)'")
        }
        return HistoryEvent(enrollmentID: id, kind: kind, fromStep: from, toStep: to, message: message, visit: visit,
                            at: at.date)
    }
}

extension PostgresQuery.StringInterpolation {
    /// Two CTEs, `history` and `entries`, for a statement's `WITH` list: `history` appends
    /// `events` to the events table in order; `entries` adds what they count to the funnel (see
    /// migration 3): each event that enters a step (enrolled, advanced, altAdvanced, goalReached,
    /// moved, migrated) is one entry of its target step, enrolled and migrated ones also enter
    /// the version, goalReached ones are also a goal of the version.
    ///
    /// `onlyFor` names a CTE with `id`, `sequence_name` and `sequence_version` columns: only
    /// events of the enrollments it lists are written and counted (a fenced commit writes the
    /// history of the outcomes it applied, enroll that of the enrollments it created), under
    /// the version they have after the statement.
    mutating func appendInterpolation(history events: [HistoryEvent], in tables: PostgresStore.Tables, onlyFor filter: String) {
        appendLiteral("history AS (\nINSERT INTO \(tables.events) (\(EventTable.columnNames))\n")
        appendLiteral("SELECT v.enrollment_id, v.kind, v.from_step, v.to_step, v.message, v.visit, v.at\nFROM unnest(")
        appendInterpolation(SQLArray.uuids(events.map(\.enrollmentID)))
        appendLiteral(", ")
        appendInterpolation(SQLArray.texts(events.map(\.kind.rawValue)))
        appendLiteral(", ")
        appendInterpolation(SQLArray.texts(events.map(\.fromStep)))
        appendLiteral(", ")
        appendInterpolation(SQLArray.texts(events.map(\.toStep)))
        appendLiteral(", ")
        appendInterpolation(SQLArray.texts(events.map(\.message)))
        appendLiteral(", ")
        appendInterpolation(SQLArray.int64s(events.map { Int64($0.visit) }))
        appendLiteral(", ")
        appendInterpolation(SQLArray.timestamps(events.map(\.at)))
        appendLiteral("""
            ) WITH ORDINALITY AS v(enrollment_id, kind, from_step, to_step, message, visit, at, ord)
            WHERE v.enrollment_id IN (SELECT id FROM \(filter))
            ORDER BY v.ord
            RETURNING enrollment_id, kind, to_step
            ),
            entries AS (
            INSERT INTO \(tables.funnelDeltas) (sequence_name, sequence_version, step_id, metric, delta)
            SELECT f.sequence_name, f.sequence_version, m.step_id, m.metric, count(*)
            FROM history AS h JOIN \(filter) AS f ON f.id = h.enrollment_id
            CROSS JOIN LATERAL (VALUES
                (coalesce(nullif(h.to_step, '$end'), ''), 'reached'),
                ('', CASE WHEN h.kind IN ('enrolled', 'migrated') THEN 'enrolled' END),
                ('', CASE WHEN h.kind = 'goalReached' THEN 'goal' END)
            ) AS m(step_id, metric)
            WHERE h.kind IN ('enrolled', 'advanced', 'altAdvanced', 'goalReached', 'moved', 'migrated')
              AND m.metric IS NOT NULL
            GROUP BY 1, 2, 3, 4
            )
            """)
    }
}
