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

/// What the events of one statement add to the funnel's totals (``HistoryEvent/funnelEntry``;
/// migration 3), counted on the client so the statement needs no join.
struct FunnelEntries {
    struct Key: Hashable {
        let sequence: String
        let version: Int
        let step: String
        let metric: String
    }

    /// The distinct counters touched, and for each counted event row its enrollment and the
    /// counter's position in `keys` (one event can count in up to two).
    private(set) var keys: [Key] = []
    private(set) var enrollmentIDs: [UUID] = []
    private(set) var keyIndexes: [Int64] = []

    /// `enrollments` are the rows as the statement writes them (the version an event counts in).
    init(_ events: [HistoryEvent], of enrollments: [Enrollment]) {
        guard events.contains(where: { $0.funnelEntry != nil }) else { return }
        var versions: [UUID: (String, Int)] = [:]
        versions.reserveCapacity(enrollments.count)
        for e in enrollments { versions[e.id] = (e.sequenceName, e.sequenceVersion) }
        var positions: [Key: Int64] = [:]
        func add(_ id: UUID, _ key: Key) {
            let position: Int64
            if let known = positions[key] {
                position = known
            } else {
                position = Int64(keys.count) + 1
                positions[key] = position
                keys.append(key)
            }
            enrollmentIDs.append(id)
            keyIndexes.append(position)
        }
        for event in events {
            guard let entry = event.funnelEntry, let (sequence, version) = versions[event.enrollmentID] else { continue }
            add(event.enrollmentID, Key(sequence: sequence, version: version, step: entry.step ?? "", metric: "reached"))
            if entry.entersVersion {
                add(event.enrollmentID, Key(sequence: sequence, version: version, step: "", metric: "enrolled"))
            }
            if entry.isGoal { add(event.enrollmentID, Key(sequence: sequence, version: version, step: "", metric: "goal")) }
        }
    }
}

extension PostgresQuery.StringInterpolation {
    /// Two CTEs, `history` and `entries`, for a statement's `WITH` list: `history` appends
    /// `events` to the events table in order; `entries` adds what they count to the funnel's
    /// deltas (``FunnelEntries``).
    ///
    /// `onlyFor` names a CTE with an `id` column: only events of the enrollments it lists are
    /// written and counted (a fenced commit writes the history of the outcomes it applied, enroll
    /// that of the enrollments it created). `enrollments` are those rows as the statement writes them.
    mutating func appendInterpolation(history events: [HistoryEvent], of enrollments: [Enrollment],
                                      in tables: PostgresStore.Tables, onlyFor filter: String)
    {
        let entries = FunnelEntries(events, of: enrollments)
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
            ),
            entries AS (
            INSERT INTO \(tables.funnelDeltas) (sequence_name, sequence_version, step_id, metric, delta)
            SELECT k.sequence_name, k.sequence_version, k.step_id, k.metric, x.n
            FROM (SELECT key, count(*) AS n FROM unnest(
            """)
        appendInterpolation(SQLArray.uuids(entries.enrollmentIDs))
        appendLiteral(", ")
        appendInterpolation(SQLArray.int64s(entries.keyIndexes))
        appendLiteral("""
            ) AS e(enrollment_id, key)
                  WHERE e.enrollment_id IN (SELECT id FROM \(filter)) GROUP BY key) AS x
            JOIN unnest(
            """)
        appendInterpolation(SQLArray.texts(entries.keys.map(\.sequence)))
        appendLiteral(", ")
        appendInterpolation(SQLArray.int64s(entries.keys.map { Int64($0.version) }))
        appendLiteral(", ")
        appendInterpolation(SQLArray.texts(entries.keys.map(\.step)))
        appendLiteral(", ")
        appendInterpolation(SQLArray.texts(entries.keys.map(\.metric)))
        appendLiteral("""
            ) WITH ORDINALITY AS k(sequence_name, sequence_version, step_id, metric, key) ON k.key = x.key
            )
            """)
    }
}
