public import Foundation
import Logging
public import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Applies a host change under a row lock; see ``Sequencer/EnrollmentWriter/change(_:_:now:)``.
    ///
    /// In one transaction: `SELECT … FOR UPDATE`, ``Sequencer/EnrollmentChange/apply(to:now:)``,
    /// an update that bumps the fencing token and releases the lease, and the history event;
    /// for a change that makes the enrollment due (a context update, a resume), a `pg_notify`
    /// that running services receive when the transaction commits.
    public func change(_ id: UUID, _ change: EnrollmentChange, now: Date) async throws -> Enrollment {
        try await withStoreErrors("change enrollment \(id)") {
            try await withTransaction { [self] connection in
                try await self.change(id, change, now: now, on: connection)
            }
        }
    }

    /// Applies a host change on a connection, inside whatever transaction the caller holds there.
    func change(_ id: UUID, _ change: EnrollmentChange, now: Date, on connection: PostgresConnection) async throws
        -> Enrollment
    {
        let rows = try await connection.query("""
            SELECT \(unescaped: EnrollmentTable.selectList()) FROM \(unescaped: tables.enrollments)
            WHERE id = \(id) FOR UPDATE
            """, logger: logger)
        guard var enrollment = try await EnrollmentTable.decodeAll(rows).first?.enrollment else {
            throw SequencerError(.unknownEnrollment, "no enrollment with id \(id)")
        }
        let event = try change.apply(to: &enrollment, now: now)
        try await write([enrollment], events: [event], makingDue: change.makesDue, on: connection)
        logger.debug("changed enrollment", metadata: [
            "sequencer.enrollment": "\(id)", "sequencer.event": "\(event.kind.rawValue)",
        ])
        return enrollment
    }

    /// Applies a host change to every active or paused enrollment of a subject; see
    /// ``Sequencer/SequenceStore/change(subject:_:now:)``. One transaction: the subject's rows
    /// `SELECT … FOR UPDATE` (through the subject index, in id order so concurrent callers lock
    /// alike), the change applied to each, one update and one history insert for all of them, and
    /// at most one `pg_notify`.
    public func change(subject: String, _ change: EnrollmentChange, now: Date) async throws -> [Enrollment] {
        try await withStoreErrors("change the enrollments of subject '\(Limits.excerpt(subject))'") {
            try await withTransaction { [self] connection in
                let rows = try await connection.query("""
                    SELECT \(unescaped: EnrollmentTable.selectList()) FROM \(unescaped: tables.enrollments)
                    WHERE subject = \(subject) AND status IN ('active', 'paused')
                    ORDER BY id FOR UPDATE
                    """, logger: logger)
                var enrollments = try await EnrollmentTable.decodeAll(rows).map(\.enrollment)
                guard !enrollments.isEmpty else { return [] }
                var events: [HistoryEvent] = []
                for index in enrollments.indices {
                    events.append(try change.apply(to: &enrollments[index], now: now))
                }
                try await write(enrollments, events: events, makingDue: change.makesDue, on: connection)
                return enrollments
            }
        }
    }

    /// Writes changed enrollments (bumping each fencing token and releasing any lease) and their
    /// history in one statement, then one `pg_notify` when the change made an active one due.
    private func write(_ enrollments: [Enrollment], events: [HistoryEvent], makingDue: Bool,
                       on connection: PostgresConnection) async throws {
        let written = EnrollmentTable.written(by: .change)
        let keyed = EnrollmentTable.key + written
        _ = try await connection.query("""
            WITH u AS (
                SELECT * FROM \(unnest: keyed, of: enrollments) AS u(\(unescaped: EnrollmentTable.names(keyed)))
            ),
            changed AS (
                UPDATE \(unescaped: tables.enrollments) AS e
                SET \(unescaped: EnrollmentTable.assignments(written, from: "u")),
                    fence = e.fence + 1, lease_owner = NULL, lease_expires_at = NULL
                FROM u
                WHERE e.id = u.id
                RETURNING e.id
            ),
            \(history: events, of: enrollments, in: tables, onlyFor: "changed")
            SELECT id FROM changed
            """, logger: logger).collect()
        if makingDue && enrollments.contains(where: { $0.status == .active }) {
            // Delivered when the transaction commits: running services tick at once.
            _ = try await connection.query("SELECT pg_notify(\(tables.channel), '')", logger: logger).collect()
        }
    }
}
