public import Foundation
public import Sequencer
import PostgresNIO

/// The durable deliveries ledger: ``EmailRunner`` and ``SMSRunner`` on a PostgreSQL store should
/// share the store as their ledger, so a restart never forgets what was sent:
///
/// ```swift
/// let store = try PostgresStore(client: client, logger: logger)
/// let email = EmailRunner(transport: smtp, ledger: store)
/// ```
///
/// Each call is one statement over the `deliveries` table, keyed by `(enrollment_id, step_id, visit)`.
extension PostgresStore: DeliveryLedger {
    /// Reserves keys in one statement; see ``DeliveryLedger/reserve(_:channel:now:staleAfter:)``.
    ///
    /// New keys, failed ones and stale `pending` ones are taken (`INSERT … ON CONFLICT DO UPDATE
    /// WHERE …`); the others are reported from the rows as they were before the statement. A key
    /// another transaction is inserting right now waits for it, then reads as in flight.
    public func reserve(_ keys: [DeliveryKey], channel: String, now: Date, staleAfter: Duration) async throws
        -> [DeliveryKey: DeliveryReservation]
    {
        var seen = Set<DeliveryKey>()
        let distinct = keys.filter { seen.insert($0).inserted }
        guard !distinct.isEmpty else { return [:] }
        let query: PostgresQuery = """
            WITH k AS (
                SELECT * FROM unnest(\(SQLArray.uuids(distinct.map(\.enrollmentID))),
                                     \(SQLArray.texts(distinct.map(\.step))),
                                     \(SQLArray.int64s(distinct.map { Int64($0.visit) })))
                    AS k(enrollment_id, step_id, visit)
            ),
            won AS (
                INSERT INTO \(unescaped: tables.deliveries) AS d
                    (enrollment_id, step_id, visit, status, attempts, created_at, updated_at)
                SELECT enrollment_id, step_id, visit, 'pending', 1, \(SQLTimestamp(now)), \(SQLTimestamp(now)) FROM k
                ORDER BY enrollment_id, step_id, visit
                ON CONFLICT (enrollment_id, step_id, visit) DO UPDATE
                    SET status = 'pending', attempts = d.attempts + 1, updated_at = EXCLUDED.updated_at, last_error = NULL
                    WHERE d.status = 'failed'
                       OR (d.status = 'pending'
                           AND d.updated_at <= EXCLUDED.updated_at - \(staleAfter.timeInterval) * interval '1 second')
                RETURNING enrollment_id, step_id, visit
            )
            SELECT k.enrollment_id, k.step_id, k.visit, (w.visit IS NOT NULL), d.status, d.provider_message_id,
                   d.updated_at
            FROM k LEFT JOIN won AS w USING (enrollment_id, step_id, visit)
                   LEFT JOIN \(unescaped: tables.deliveries) AS d USING (enrollment_id, step_id, visit)
            """
        return try await withStoreErrors("reserve \(distinct.count) deliveries") {
            var result: [DeliveryKey: DeliveryReservation] = [:]
            for try await row in try await client.query(query, logger: logger) {
                let (id, step, visit, reserved, status, providerID, reservedAt) = try row.decode(
                    (UUID, String, Int64, Bool, String?, String?, SQLTimestamp?).self)
                let key = DeliveryKey(enrollmentID: id, step: step, visit: Int(visit))
                if reserved {
                    result[key] = .send
                } else if status == "sent" {
                    result[key] = .alreadySent(providerID: providerID)
                } else {
                    result[key] = .inFlight(since: reservedAt?.date ?? now)
                }
            }
            return result
        }
    }

    /// Records accepted sends in one statement; see ``DeliveryLedger/markSent(_:now:)``.
    public func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws {
        guard !sent.isEmpty else { return }
        let entries = Array(sent)
        let query: PostgresQuery = """
            UPDATE \(unescaped: tables.deliveries) AS d
            SET status = 'sent', provider_message_id = u.provider_id, sent_at = \(SQLTimestamp(now)),
                updated_at = \(SQLTimestamp(now)), last_error = NULL
            FROM unnest(\(SQLArray.uuids(entries.map(\.key.enrollmentID))), \(SQLArray.texts(entries.map(\.key.step))),
                        \(SQLArray.int64s(entries.map { Int64($0.key.visit) })), \(SQLArray.texts(entries.map(\.value))))
                AS u(enrollment_id, step_id, visit, provider_id)
            WHERE d.enrollment_id = u.enrollment_id AND d.step_id = u.step_id AND d.visit = u.visit
            """
        try await withStoreErrors("mark \(entries.count) deliveries sent") {
            _ = try await client.query(query, logger: logger).collect()
        }
    }

    /// Records failed sends in one statement, never over a recorded send; see ``DeliveryLedger/markFailed(_:now:)``.
    public func markFailed(_ failed: [DeliveryKey: String], now: Date) async throws {
        guard !failed.isEmpty else { return }
        let entries = Array(failed)
        let query: PostgresQuery = """
            UPDATE \(unescaped: tables.deliveries) AS d
            SET status = 'failed', last_error = u.reason, updated_at = \(SQLTimestamp(now))
            FROM unnest(\(SQLArray.uuids(entries.map(\.key.enrollmentID))), \(SQLArray.texts(entries.map(\.key.step))),
                        \(SQLArray.int64s(entries.map { Int64($0.key.visit) })), \(SQLArray.texts(entries.map(\.value))))
                AS u(enrollment_id, step_id, visit, reason)
            WHERE d.enrollment_id = u.enrollment_id AND d.step_id = u.step_id AND d.visit = u.visit
              AND d.status = 'pending'
            """
        try await withStoreErrors("mark \(entries.count) deliveries failed") {
            _ = try await client.query(query, logger: logger).collect()
        }
    }
}
