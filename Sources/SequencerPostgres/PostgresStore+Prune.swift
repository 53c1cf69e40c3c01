public import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Deletes old final enrollments with their events and deliveries; see
    /// ``Sequencer/SequenceStore/prune(_:)``.
    ///
    /// The pass holds a session advisory lock (keyed by the schema) on one pooled connection, so
    /// one pass runs at a time across every process on the schema; a pass that cannot take it
    /// returns `skipped`. Each batch is one statement in its own transaction: it picks up to
    /// `batchSize` enrollments of one status, oldest first, through the `enrollments_finished`
    /// index (`FOR UPDATE SKIP LOCKED`, so a host change in flight is never waited for), and
    /// deletes them, their events and their deliveries together.
    public func prune(_ request: PruneRequest) async throws -> PruneReport {
        try await withStoreErrors("prune finished enrollments") {
            try await withConnection { [self] connection in
                try await self.prune(request, on: connection)
            }
        }
    }

    private func prune(_ request: PruneRequest, on connection: PostgresConnection) async throws -> PruneReport {
        var report = PruneReport()
        report.dryRun = request.dryRun
        let lockKey = "\(tables.schema).retention"
        let locked = try await connection.query("SELECT pg_try_advisory_lock(hashtext(\(lockKey)))", logger: logger)
            .collect().first?.decode(Bool.self) ?? false
        guard locked else {
            report.skipped = true
            return report
        }
        do {
            for status in [EnrollmentStatus.completed, .cancelled, .failed] {
                guard let cutoff = request.olderThan[status] else { continue }
                if request.dryRun {
                    try await count(status, before: cutoff, into: &report, on: connection)
                    continue
                }
                while !Task.isCancelled {
                    let deleted = try await deleteBatch(status, before: cutoff, limit: request.batchSize, on: connection)
                    guard deleted.enrollments > 0 else { break }
                    report.enrollments += deleted.enrollments
                    report.events += deleted.events
                    report.deliveries += deleted.deliveries
                    report.batches += 1
                    if deleted.enrollments < request.batchSize { break }
                    try? await Task.sleep(for: request.pause)
                }
            }
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(hashtext(\(lockKey)))", logger: logger).collect()
            throw error
        }
        _ = try await connection.query("SELECT pg_advisory_unlock(hashtext(\(lockKey)))", logger: logger).collect()
        if report.enrollments > 0 {
            logger.info("pruned finished enrollments", metadata: [
                "sequencer.enrollments": "\(report.enrollments)", "sequencer.events": "\(report.events)",
                "sequencer.deliveries": "\(report.deliveries)", "sequencer.batches": "\(report.batches)",
            ])
        }
        return report
    }

    /// One batch, one statement (so one transaction): the oldest `limit` enrollments of a status
    /// finished before `cutoff`, with their events and deliveries.
    private func deleteBatch(_ status: EnrollmentStatus, before cutoff: Date, limit: Int,
                             on connection: PostgresConnection) async throws
        -> (enrollments: Int, events: Int, deliveries: Int)
    {
        let rows = try await connection.query("""
            WITH doomed AS (
                SELECT id FROM \(unescaped: tables.enrollments)
                WHERE status = \(status.rawValue) AND updated_at < \(cutoff)
                ORDER BY updated_at
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ),
            gone_events AS (
                DELETE FROM \(unescaped: tables.events) WHERE enrollment_id IN (SELECT id FROM doomed) RETURNING 1
            ),
            gone_deliveries AS (
                DELETE FROM \(unescaped: tables.deliveries) WHERE enrollment_id IN (SELECT id FROM doomed) RETURNING 1
            ),
            gone AS (
                DELETE FROM \(unescaped: tables.enrollments) WHERE id IN (SELECT id FROM doomed) RETURNING 1
            )
            SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM gone_events), (SELECT count(*) FROM gone_deliveries)
            """, logger: logger).collect()
        guard let row = rows.first else { return (0, 0, 0) }
        let (enrollments, events, deliveries) = try row.decode((Int, Int, Int).self)
        return (enrollments, events, deliveries)
    }

    /// What a pass would delete for one status, counted, nothing deleted.
    private func count(_ status: EnrollmentStatus, before cutoff: Date, into report: inout PruneReport,
                       on connection: PostgresConnection) async throws
    {
        let rows = try await connection.query("""
            WITH doomed AS (
                SELECT id FROM \(unescaped: tables.enrollments)
                WHERE status = \(status.rawValue) AND updated_at < \(cutoff)
            )
            SELECT (SELECT count(*) FROM doomed),
                   (SELECT count(*) FROM \(unescaped: tables.events) WHERE enrollment_id IN (SELECT id FROM doomed)),
                   (SELECT count(*) FROM \(unescaped: tables.deliveries) WHERE enrollment_id IN (SELECT id FROM doomed))
            """, logger: logger).collect()
        guard let row = rows.first else { return }
        let (enrollments, events, deliveries) = try row.decode((Int, Int, Int).self)
        report.enrollments += enrollments
        report.events += events
        report.deliveries += deliveries
        report.batches += enrollments > 0 ? 1 : 0
    }
}
