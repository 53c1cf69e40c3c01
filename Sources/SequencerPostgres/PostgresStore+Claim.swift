import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Leases up to `limit` due enrollments in one statement.
    ///
    /// The due rows come from the partial index on `next_run_at` over active
    /// enrollments, oldest due first, skipping rows another ticker is claiming
    /// right now (`FOR UPDATE SKIP LOCKED`) and rows under a live lease. Each claimed
    /// row gets a new fencing token, `lease_owner` and `lease_expires_at = now() + leaseDuration`
    /// (database time). Due-ness uses `request.now`, the tick's (possibly simulated) time. A row
    /// whose previous lease expired unreleased (`lease_owner` still set) gets one more attempt and
    /// the expiry as its `last_error`, in the same statement.
    public func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] {
        guard request.limit > 0 else { return [] }
        let expiry = Lease.expiryMessageParts
        let query: PostgresQuery = """
            WITH due AS MATERIALIZED (
                SELECT id FROM \(unescaped: tables.enrollments)
                WHERE status = 'active' AND next_run_at <= \(SQLTimestamp(request.now))
                  AND (lease_expires_at IS NULL OR lease_expires_at <= now())
                ORDER BY next_run_at
                LIMIT \(request.limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE \(unescaped: tables.enrollments) AS e
            SET fence = e.fence + 1, lease_owner = \(request.owner),
                lease_expires_at = now() + \(request.leaseDuration.timeInterval) * interval '1 second',
                attempts = e.attempts + (e.lease_owner IS NOT NULL)::int,
                last_error = CASE WHEN e.lease_owner IS NULL THEN e.last_error
                                  ELSE \(expiry.0) || e.lease_owner || \(expiry.1) || coalesce(e.step_id, '') || \(expiry.2) END
            FROM due
            WHERE e.id = due.id
            RETURNING \(unescaped: EnrollmentTable.selectList("e"))
            """
        return try await withStoreErrors("claim due enrollments") {
            let rows = try await queryRows(query)
            let claimed = try EnrollmentTable.decodeAll(rows)
                .map { ClaimedEnrollment(enrollment: $0.enrollment, fence: $0.fence) }
                .sorted { ($0.enrollment.nextRunAt ?? .distantPast) < ($1.enrollment.nextRunAt ?? .distantPast) }
            logger.debug("claimed", metadata: [
                "sequencer.owner": "\(request.owner)", "sequencer.claimed": "\(claimed.count)",
                "sequencer.limit": "\(request.limit)",
            ])
            return claimed
        }
    }
}
