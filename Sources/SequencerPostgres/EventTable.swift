import Foundation
import PostgresNIO
import Sequencer

/// The `events` table's columns, as every statement that writes or reads history sees them.
///
/// The commit of a tick, a host change and enroll all append events with the
/// `\(insert: events, into: table, onlyFor: cte)` interpolation; reads decode them with
/// ``decode(_:)``.
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
    /// An `INSERT … SELECT FROM unnest(…)` appending `events` to `table` in order, for use as a
    /// CTE body.
    ///
    /// With `onlyFor`, the name of a CTE with an `id` column, only events of the enrollments it
    /// lists are written: a fenced commit writes the history of the outcomes it applied, enroll
    /// that of the enrollments it created.
    mutating func appendInterpolation(insert events: [HistoryEvent], into table: String, onlyFor filter: String? = nil) {
        appendLiteral("INSERT INTO \(table) (\(EventTable.columnNames))\n")
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
        appendLiteral(") WITH ORDINALITY AS v(enrollment_id, kind, from_step, to_step, message, visit, at, ord)\n")
        if let filter { appendLiteral("WHERE v.enrollment_id IN (SELECT id FROM \(filter))\n") }
        appendLiteral("ORDER BY v.ord")
    }
}
