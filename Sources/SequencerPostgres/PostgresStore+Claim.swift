import Foundation
public import Sequencer
import PostgresNIO

extension PostgresStore {
    /// Leases up to `limit` due enrollments in one statement.
    ///
    /// The due rows come from the partial index on `next_run_at` over active
    /// enrollments, oldest due first, skipping rows another ticker is claiming
    /// right now (`FOR UPDATE SKIP LOCKED`) and rows under a live lease. Each claimed
    /// row gets a new fencing token, `lease_owner` and `lease_expires_at = now() + leaseDuration`
    /// (database time). Due-ness uses `request.now`, the tick's (possibly simulated) time.
    public func claimDue(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] {
        guard request.limit > 0 else { return [] }
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
                lease_expires_at = now() + \(request.leaseDuration.timeInterval) * interval '1 second'
            FROM due
            WHERE e.id = due.id
            RETURNING \(unescaped: PostgresRows.enrollmentColumns("e"))
            """
        return try await withStoreErrors("claim due enrollments") {
            let rows = try await client.query(query, logger: logger)
            let claimed = try await PostgresRows.enrollments(rows)
                .map { ClaimedEnrollment(enrollment: $0.0, fence: $0.fence) }
                .sorted { ($0.enrollment.nextRunAt ?? .distantPast) < ($1.enrollment.nextRunAt ?? .distantPast) }
            logger.debug("claimed", metadata: [
                "sequencer.owner": "\(request.owner)", "sequencer.claimed": "\(claimed.count)",
                "sequencer.limit": "\(request.limit)",
            ])
            return claimed
        }
    }

    /// Writes a processed batch back in one statement, fenced by each outcome's token.
    ///
    /// One `UPDATE … FROM unnest(…)` applies every outcome whose row still carries
    /// the outcome's fence and is still active (a later claim, or a pause, cancel or
    /// context update by the host, bumps the fence), writes the cursor (never the
    /// context) and releases the lease; in the same statement the batch's history
    /// events are inserted for the applied enrollments only. The statement is its own
    /// transaction: a commit is all or nothing.
    public func commit(_ batch: CommitBatch) async throws -> CommitResult {
        guard !batch.outcomes.isEmpty else { return CommitResult(applied: 0, fencedOut: []) }
        let query = commitQuery(batch)
        return try await withStoreErrors("commit \(batch.outcomes.count) outcome(s)") {
            var applied = Set<UUID>()
            applied.reserveCapacity(batch.outcomes.count)
            for try await row in try await client.query(query, logger: logger) {
                applied.insert(try row.decode(UUID.self))
            }
            // In the caller's order, as the in-memory store reports them.
            let fencedOut = batch.outcomes.map(\.enrollment.id).filter { !applied.contains($0) }
            logger.debug("committed", metadata: [
                "sequencer.owner": "\(batch.owner)", "sequencer.applied": "\(applied.count)",
                "sequencer.fencedOut": "\(fencedOut.count)", "sequencer.events": "\(batch.events.count)",
            ])
            return CommitResult(applied: applied.count, fencedOut: fencedOut)
        }
    }

    /// The one statement of ``commit(_:)``.
    func commitQuery(_ batch: CommitBatch) -> PostgresQuery {
        // The status test compares with a column of the materialized outcome rather than the
        // constant 'active': a constant would let the planner answer it from the partial due index,
        // and on stale statistics (just after a bulk enroll) it then scans every active enrollment,
        // waiting ones included, instead of looking up the batch's rows by primary key.
        // A stable row order keeps two overlapping commits from locking rows in opposite orders.
        let outcomes = batch.outcomes.sorted { Self.precedes($0.enrollment.id, $1.enrollment.id) }
        let cursors = outcomes.map(\.enrollment)
        let events = batch.events
        let query: PostgresQuery = """
            WITH outcome AS MATERIALIZED (
                SELECT u.*, 'active'::text AS required_status FROM unnest(
                    \(SQLArray.uuids(cursors.map(\.id))), \(SQLArray.int64s(outcomes.map(\.fence))),
                    \(SQLArray.int64s(cursors.map { Int64($0.sequenceVersion) })),
                    \(SQLArray.texts(cursors.map(\.status.rawValue))), \(SQLArray.texts(cursors.map(\.stepID))),
                    \(SQLArray.timestamps(cursors.map(\.nextRunAt))), \(SQLArray.timestamps(cursors.map(\.stepEnteredAt))),
                    \(SQLArray.int64s(cursors.map { Int64($0.attempts) })), \(SQLArray.int64s(cursors.map { Int64($0.visit) })),
                    \(SQLArray.texts(cursors.map(\.lastError))), \(SQLArray.timestamps(cursors.map(\.updatedAt)))
                ) AS u(id, fence, sequence_version, status, step_id, next_run_at, step_entered_at, attempts, visit,
                       last_error, updated_at)
            ),
            applied AS (
                UPDATE \(unescaped: tables.enrollments) AS e
                SET sequence_version = o.sequence_version, status = o.status, step_id = o.step_id,
                    next_run_at = o.next_run_at, step_entered_at = o.step_entered_at, attempts = o.attempts,
                    visit = o.visit, last_error = o.last_error, updated_at = o.updated_at,
                    lease_owner = NULL, lease_expires_at = NULL
                FROM outcome AS o
                WHERE e.id = o.id AND e.fence = o.fence AND e.status = o.required_status
                RETURNING e.id
            ),
            history AS (
                INSERT INTO \(unescaped: tables.events) (enrollment_id, kind, from_step, to_step, message, visit, at)
                SELECT v.enrollment_id, v.kind, v.from_step, v.to_step, v.message, v.visit, v.at
                FROM unnest(
                    \(SQLArray.uuids(events.map(\.enrollmentID))), \(SQLArray.texts(events.map(\.kind.rawValue))),
                    \(SQLArray.texts(events.map(\.fromStep))), \(SQLArray.texts(events.map(\.toStep))),
                    \(SQLArray.texts(events.map(\.message))), \(SQLArray.int64s(events.map { Int64($0.visit) })),
                    \(SQLArray.timestamps(events.map(\.at)))
                ) WITH ORDINALITY AS v(enrollment_id, kind, from_step, to_step, message, visit, at, ord)
                WHERE v.enrollment_id IN (SELECT id FROM applied)
                ORDER BY v.ord
            )
            SELECT id FROM applied
            """
        return query
    }

    /// Byte order of two UUIDs (PostgreSQL's `uuid` order).
    static func precedes(_ a: UUID, _ b: UUID) -> Bool {
        withUnsafeBytes(of: a.uuid) { a in
            withUnsafeBytes(of: b.uuid) { b in a.lexicographicallyPrecedes(b) }
        }
    }
}
