import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Writes a processed batch back in one statement, fenced by each outcome's token.
    ///
    /// One `UPDATE … FROM unnest(…)` applies every outcome whose row still carries
    /// the outcome's fence and is still active (a later claim, or a pause, cancel or
    /// context update by the host, bumps the fence), writes the cursor (never the
    /// context) and releases the lease; in the same statement the batch's history
    /// events are inserted, and counted in the funnel, for the applied enrollments only. The statement is its own
    /// transaction: a commit is all or nothing.
    public func commit(_ request: CommitRequest) async throws -> CommitResult {
        guard !request.outcomes.isEmpty else { return CommitResult(applied: 0, fencedOut: []) }
        for outcome in request.outcomes { try outcome.enrollment.checkDates() }
        let query = commitQuery(request)
        return try await withStoreErrors("commit \(request.outcomes.count) outcome(s)") {
            var applied = Set<UUID>()
            applied.reserveCapacity(request.outcomes.count)
            for row in try await queryRows(query) {
                applied.insert(try row.decode(UUID.self))
            }
            // In the caller's order, as the in-memory store reports them.
            let fencedOut = request.outcomes.map(\.enrollment.id).filter { !applied.contains($0) }
            logger.debug("committed", metadata: [
                "sequencer.owner": "\(request.owner)", "sequencer.applied": "\(applied.count)",
                "sequencer.fencedOut": "\(fencedOut.count)", "sequencer.events": "\(request.events.count)",
            ])
            return CommitResult(applied: applied.count, fencedOut: fencedOut)
        }
    }

    /// The one statement of ``commit(_:)``.
    func commitQuery(_ request: CommitRequest) -> PostgresQuery {
        // The status test compares with a column of the materialized outcome rather than the
        // constant 'active': a constant would let the planner answer it from the partial due index,
        // and on stale statistics (just after a bulk enroll) it then scans every active enrollment,
        // waiting ones included, instead of looking up the batch's rows by primary key.
        // A stable row order keeps two overlapping commits from locking rows in opposite orders.
        let outcomes = request.outcomes.sorted { Self.precedes($0.enrollment.id, $1.enrollment.id) }
        let cursors = outcomes.map(\.enrollment)
        let written = EnrollmentTable.written(by: .commit)
        let keyed = EnrollmentTable.key + written
        return """
            WITH outcome AS MATERIALIZED (
                SELECT o.*, 'active'::text AS required_status
                FROM \(unnest: keyed, of: cursors, then: [SQLArray.int64s(outcomes.map(\.fence))])
                    AS o(\(unescaped: EnrollmentTable.names(keyed)), fence)
            ),
            applied AS (
                UPDATE \(unescaped: tables.enrollments) AS e
                SET \(unescaped: EnrollmentTable.assignments(written, from: "o")),
                    lease_owner = NULL, lease_expires_at = NULL
                FROM outcome AS o
                WHERE e.id = o.id AND e.fence = o.fence AND e.status = o.required_status
                RETURNING e.id
            ),
            \(history: request.events, of: cursors, in: tables, onlyFor: "applied")
            SELECT id FROM applied
            """
    }

    /// Byte order of two UUIDs (PostgreSQL's `uuid` order).
    static func precedes(_ a: UUID, _ b: UUID) -> Bool {
        withUnsafeBytes(of: a.uuid) { a in
            withUnsafeBytes(of: b.uuid) { b in a.lexicographicallyPrecedes(b) }
        }
    }
}
