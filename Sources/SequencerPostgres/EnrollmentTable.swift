import Foundation
import PostgresNIO
import Sequencer

/// An enrollment as read from its row, with the fencing token the row carried when it was read.
///
/// A claim hands the token to the tick, whose commit must present it; other reads ignore it.
struct EnrollmentRow: Sendable {
    var enrollment: Enrollment
    var fence: Int64
}

/// One column of the `enrollments` table, as every statement that reads or writes it sees it.
///
/// ``EnrollmentTable/columns`` lists them all, in one place: the select list and row decoding
/// (reads, claims), the bulk `INSERT` of enroll, the fenced `UPDATE` of a commit and the
/// `UPDATE` of a host change are all built from it. Adding a column is one entry here plus a
/// migration.
struct EnrollmentColumn: Sendable {
    /// Which statements write the column (every statement reads every column).
    struct Writes: OptionSet, Sendable {
        let rawValue: Int
        /// The enroll `INSERT`.
        static let insert = Writes(rawValue: 1)
        /// The fenced commit of a tick (the cursor; never the context).
        static let commit = Writes(rawValue: 2)
        /// A host change (context, status and cursor).
        static let change = Writes(rawValue: 4)
        static let all: Writes = [.insert, .commit, .change]
    }

    /// The column name.
    let name: String
    /// The column's SQL type when it differs from the bound array's element type (`jsonb`,
    /// bound as text); `nil` when the bound values already have the column's type.
    let cast: String?
    /// The statements that write it.
    let writes: Writes
    /// The column's values for a batch of enrollments, as one array bind for `unnest`.
    let bind: @Sendable ([Enrollment]) -> SQLArray
    /// The column's value as enroll's `COPY` writes it (``CopyField``).
    let copy: CopyField
    /// Reads the column's cell into a row being decoded.
    let decode: @Sendable (PostgresCell, inout EnrollmentRow) throws -> Void

    /// `u.name`, or `u.name::cast`: the value to write from an `unnest` aliased `u`.
    func value(from alias: String) -> String {
        cast.map { "\(alias).\(name)::\($0)" } ?? "\(alias).\(name)"
    }
}

/// The `enrollments` table's columns and the statement fragments built from them.
enum EnrollmentTable {
    /// Every column a read returns, in select order; `fence` last.
    static let columns: [EnrollmentColumn] = [
        EnrollmentColumn(name: "id", cast: nil, writes: .insert, bind: { SQLArray.uuids($0.map(\.id)) },
                         copy: .uuid(\.id),
                         decode: { cell, row in row.enrollment.id = try cell.decode(UUID.self) }),
        EnrollmentColumn(name: "sequence_name", cast: nil, writes: .insert, bind: { SQLArray.texts($0.map(\.sequenceName)) },
                         copy: .text(\.sequenceName),
                         decode: { cell, row in row.enrollment.sequenceName = try cell.decode(String.self) }),
        EnrollmentColumn(name: "sequence_version", cast: nil, writes: .all,
                         bind: { SQLArray.int64s($0.map { Int64($0.sequenceVersion) }) },
                         copy: .integer { Int64($0.sequenceVersion) },
                         decode: { cell, row in row.enrollment.sequenceVersion = try cell.decode(Int.self) }),
        EnrollmentColumn(name: "subject", cast: nil, writes: .insert, bind: { SQLArray.texts($0.map(\.subject)) },
                         copy: .text(\.subject),
                         decode: { cell, row in row.enrollment.subject = try cell.decode(String.self) }),
        EnrollmentColumn(name: "idempotency_key", cast: nil, writes: .insert, bind: { SQLArray.texts($0.map(\.idempotencyKey)) },
                         copy: .text(\.idempotencyKey),
                         decode: { cell, row in row.enrollment.idempotencyKey = try cell.decode(String?.self) }),
        EnrollmentColumn(name: "context", cast: "jsonb", writes: [.insert, .change],
                         bind: { SQLArray.texts($0.map { JSONText.write($0.context) }) },
                         copy: .text { JSONText.write($0.context) },
                         decode: { cell, row in row.enrollment.context = try JSONText.parse(cell.decode(String.self)) }),
        EnrollmentColumn(name: "step_id", cast: nil, writes: .all, bind: { SQLArray.texts($0.map(\.stepID)) },
                         copy: .text(\.stepID),
                         decode: { cell, row in row.enrollment.stepID = try cell.decode(String?.self) }),
        EnrollmentColumn(name: "status", cast: nil, writes: .all, bind: { SQLArray.texts($0.map(\.status.rawValue)) },
                         copy: .text(\.status.rawValue),
                         decode: { cell, row in
                             let raw = try cell.decode(String.self)
                             guard let status = EnrollmentStatus(rawValue: raw) else {
                                 throw SequencerError(
                                     .storeFailure, "enrollment \(row.enrollment.id) has an unknown status '\(raw)'",
                                     sequence: row.enrollment.sequenceName, version: row.enrollment.sequenceVersion)
                             }
                             row.enrollment.status = status
                         }),
        EnrollmentColumn(name: "next_run_at", cast: nil, writes: .all, bind: { SQLArray.timestamps($0.map(\.nextRunAt)) },
                         copy: .timestamp(\.nextRunAt),
                         decode: { cell, row in row.enrollment.nextRunAt = try cell.decode(SQLTimestamp?.self)?.date }),
        EnrollmentColumn(name: "step_entered_at", cast: nil, writes: .all,
                         bind: { SQLArray.timestamps($0.map(\.stepEnteredAt)) },
                         copy: .timestamp(\.stepEnteredAt),
                         decode: { cell, row in row.enrollment.stepEnteredAt = try cell.decode(SQLTimestamp.self).date }),
        EnrollmentColumn(name: "attempts", cast: nil, writes: .all, bind: { SQLArray.int64s($0.map { Int64($0.attempts) }) },
                         copy: .integer { Int64($0.attempts) },
                         decode: { cell, row in row.enrollment.attempts = try cell.decode(Int.self) }),
        EnrollmentColumn(name: "visit", cast: nil, writes: .all, bind: { SQLArray.int64s($0.map { Int64($0.visit) }) },
                         copy: .integer { Int64($0.visit) },
                         decode: { cell, row in row.enrollment.visit = try cell.decode(Int.self) }),
        EnrollmentColumn(name: "last_error", cast: nil, writes: .all, bind: { SQLArray.texts($0.map(\.lastError)) },
                         copy: .text(\.lastError),
                         decode: { cell, row in row.enrollment.lastError = try cell.decode(String?.self) }),
        EnrollmentColumn(name: "created_at", cast: nil, writes: .insert, bind: { SQLArray.timestamps($0.map(\.createdAt)) },
                         copy: .timestamp(\.createdAt),
                         decode: { cell, row in row.enrollment.createdAt = try cell.decode(SQLTimestamp.self).date }),
        EnrollmentColumn(name: "updated_at", cast: nil, writes: .all, bind: { SQLArray.timestamps($0.map(\.updatedAt)) },
                         copy: .timestamp(\.updatedAt),
                         decode: { cell, row in row.enrollment.updatedAt = try cell.decode(SQLTimestamp.self).date }),
        EnrollmentColumn(name: "unique_subject", cast: nil, writes: .insert,
                         bind: { SQLArray.texts($0.map(\.uniqueSubject?.rawValue)) },
                         copy: .text(\.uniqueSubject?.rawValue),
                         decode: { cell, row in
                             row.enrollment.uniqueSubject = try cell.decode(String?.self)
                                 .flatMap(SequenceDefinition.UniqueSubject.init(rawValue:))
                         }),
        EnrollmentColumn(name: "callback", cast: "jsonb", writes: .all,
                         bind: { SQLArray.texts($0.map { $0.callback.map { JSONText.write($0.jsonValue) } }) },
                         copy: .text { $0.callback.map { JSONText.write($0.jsonValue) } },
                         decode: { cell, row in
                             row.enrollment.callback = try cell.decode(String?.self).flatMap { CallbackState(json: try JSONText.parse($0)) }
                         }),
    ]

    /// The primary key column, `id`, which updates look rows up by.
    static var key: [EnrollmentColumn] { columns.filter { $0.name == "id" } }

    /// The columns a statement writes.
    static func written(by statement: EnrollmentColumn.Writes) -> [EnrollmentColumn] {
        columns.filter { $0.writes.contains(statement) }
    }

    /// The select list of a read, `fence` included: `e.id, e.sequence_name, …, e.fence`.
    static func selectList(_ alias: String = "") -> String {
        let prefix = alias.isEmpty ? "" : alias + "."
        return (columns.map(\.name) + ["fence"]).map { prefix + $0 }.joined(separator: ", ")
    }

    /// `name, name, …` of some columns.
    static func names(_ columns: [EnrollmentColumn]) -> String {
        columns.map(\.name).joined(separator: ", ")
    }

    /// `name = u.name, …`: the `SET` list writing some columns from an `unnest` aliased `alias`.
    static func assignments(_ columns: [EnrollmentColumn], from alias: String) -> String {
        columns.map { "\($0.name) = \($0.value(from: alias))" }.joined(separator: ", ")
    }

    /// Decodes a row selected with ``selectList(_:)``.
    static func decode(_ row: PostgresRow) throws -> EnrollmentRow {
        var decoded = EnrollmentRow(enrollment: placeholder, fence: 0)
        var iterator = row.makeIterator()
        for column in columns {
            guard let cell = iterator.next() else { throw shortRow(row) }
            try column.decode(cell, &decoded)
        }
        guard let fence = iterator.next() else { throw shortRow(row) }
        decoded.fence = try fence.decode(Int64.self)
        return decoded
    }

    /// Decodes every row of a result selected with ``selectList(_:)``.
    static func decodeAll(_ rows: [PostgresRow]) throws -> [EnrollmentRow] {
        try rows.map(decode)
    }

    /// The same, for a result still streaming (a query on a connection the caller holds).
    static func decodeAll(_ rows: PostgresRowSequence) async throws -> [EnrollmentRow] {
        try decodeAll(try await rows.collect())
    }

    private static func shortRow(_ row: PostgresRow) -> SequencerError {
        SequencerError(.storeFailure, "an enrollment row has \(row.count) columns; expected \(columns.count + 1)")
    }

    /// Every field is overwritten by ``columns`` while decoding.
    private static let placeholder = Enrollment(
        id: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), sequenceName: "", sequenceVersion: 0,
        subject: "", stepID: nil, nextRunAt: nil, stepEnteredAt: Date(timeIntervalSince1970: 0),
        createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 0))
}

extension PostgresQuery.StringInterpolation {
    /// `unnest($1, $2, …)` binding `columns` of `enrollments` as one array each, in column order,
    /// then the `then` arrays (values that are not enrollment fields, such as fences).
    mutating func appendInterpolation(unnest columns: [EnrollmentColumn], of enrollments: [Enrollment],
                                      then extra: [SQLArray] = []) {
        appendLiteral("unnest(")
        for (index, column) in columns.enumerated() {
            if index > 0 { appendLiteral(", ") }
            appendInterpolation(column.bind(enrollments))
        }
        for array in extra {
            appendLiteral(", ")
            appendInterpolation(array)
        }
        appendLiteral(")")
    }
}
