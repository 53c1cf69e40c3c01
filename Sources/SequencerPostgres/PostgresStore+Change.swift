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
            try await client.withTransaction(logger: logger) { connection in
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
        let written = EnrollmentTable.written(by: .change)
        let keyed = EnrollmentTable.key + written
        _ = try await connection.query("""
            WITH u AS (
                SELECT * FROM \(unnest: keyed, of: [enrollment]) AS u(\(unescaped: EnrollmentTable.names(keyed)))
            ),
            changed AS (
                UPDATE \(unescaped: tables.enrollments) AS e
                SET \(unescaped: EnrollmentTable.assignments(written, from: "u")),
                    fence = e.fence + 1, lease_owner = NULL, lease_expires_at = NULL
                FROM u
                WHERE e.id = u.id
                RETURNING e.id
            ),
            \(history: [event], of: [enrollment], in: tables, onlyFor: "changed")
            SELECT id FROM changed
            """, logger: logger).collect()
        if change.makesDue && enrollment.status == .active {
            // Delivered when the transaction commits: running services tick at once.
            _ = try await connection.query("SELECT pg_notify(\(tables.channel), '')", logger: logger).collect()
        }
        logger.debug("changed enrollment", metadata: [
            "sequencer.enrollment": "\(id)", "sequencer.event": "\(event.kind.rawValue)",
        ])
        return enrollment
    }
}
