public import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// A page of enrollments matching a filter, newest first; see
    /// ``Sequencer/SequenceStore/enrollments(matching:after:limit:)``.
    ///
    /// One statement with only the conditions the filter sets, walking the primary key backwards
    /// from the cursor (ids are time-ordered) or, with a subject, the subject index.
    public func enrollments(matching filter: EnrollmentFilter, after cursor: PageCursor?, limit: Int) async throws
        -> EnrollmentPage
    {
        let limit = max(1, min(limit, 10_000))
        var conditions: [String] = []
        var binds = PostgresBindings()
        func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value, _ condition: (String) -> String) throws {
            try binds.append(value)
            conditions.append(condition("$\(binds.count)"))
        }
        if let sequence = filter.sequence { try bind(sequence) { "sequence_name = \($0)" } }
        if let version = filter.version { try bind(version) { "sequence_version = \($0)" } }
        if let step = filter.step { try bind(step) { "step_id = \($0)" } }
        if let status = filter.status { try bind(status.rawValue) { "status = \($0)" } }
        if let subject = filter.subject { try bind(subject) { "subject = \($0)" } }
        if let since = filter.updatedSince { try bind(SQLTimestamp(since)) { "updated_at >= \($0)" } }
        if let cursor {
            guard let id = cursor.enrollmentID else {
                throw SequencerError(.invalidIdentifier, "\(cursor) is not a cursor of an enrollment list", field: "cursor")
            }
            try bind(id) { "id < \($0)" }
        }
        try binds.append(limit + 1)
        let sql = """
            SELECT \(EnrollmentTable.selectList()) FROM \(tables.enrollments)
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY id DESC LIMIT $\(binds.count)
            """
        return try await withStoreErrors("list enrollments") {
            let rows = try await queryRows(PostgresQuery(unsafeSQL: sql, binds: binds))
            let found = try EnrollmentTable.decodeAll(rows).map(\.enrollment)
            let page = Array(found.prefix(limit))
            return EnrollmentPage(enrollments: page,
                                  next: found.count > limit ? page.last.map { PageCursor.after($0.id) } : nil)
        }
    }

    /// A page of an enrollment's history, oldest first, through the `events_enrollment` index.
    public func history(of id: UUID, after cursor: PageCursor?, limit: Int) async throws -> HistoryPage {
        let limit = max(1, min(limit, 10_000))
        let after = cursor?.eventPosition ?? 0
        return try await withStoreErrors("read history of \(id)") {
            let rows = try await queryRows("""
                SELECT \(unescaped: EventTable.columnNames), id FROM \(unescaped: tables.events)
                WHERE enrollment_id = \(id) AND id > \(after) ORDER BY id LIMIT \(limit + 1)
                """)
            var events: [(HistoryEvent, Int64)] = []
            for row in rows {
                events.append((try EventTable.decode(row), try row.makeRandomAccess()[7].decode(Int64.self)))
            }
            let page = events.prefix(limit)
            return HistoryPage(events: page.map(\.0),
                               next: events.count > limit ? page.last.map { PageCursor.after(event: $0.1) } : nil)
        }
    }

    /// Enrollments per step and status of one sequence version: one grouped scan of that
    /// version's rows.
    public func stepCounts(sequence: String, version: Int) async throws -> [StepCount] {
        try await withStoreErrors("count enrollments of '\(sequence)' v\(version)") {
            let rows = try await queryRows("""
                SELECT step_id, status, count(*) FROM \(unescaped: tables.enrollments)
                WHERE sequence_name = \(sequence) AND sequence_version = \(version)
                GROUP BY step_id, status ORDER BY step_id NULLS LAST, status
                """)
            var counts: [StepCount] = []
            for (step, status, count) in try rows.decodeEach((String?, String, Int).self) {
                guard let status = EnrollmentStatus(rawValue: status) else { continue }
                counts.append(StepCount(step: step, status: status, count: count))
            }
            return counts
        }
    }
}
