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
    /// Reserves keys; see ``DeliveryLedger/reserve(_:channel:now:staleAfter:)``.
    ///
    /// Without limits, one statement: new keys, failed ones and stale `pending` ones are taken
    /// (`INSERT … ON CONFLICT DO UPDATE WHERE …`); the others are reported from the rows as they
    /// were before the statement. A key another transaction is inserting right now waits for it,
    /// then reads as in flight. With limits (a frequency cap), one transaction: a transaction-scoped
    /// advisory lock per capped subject and channel (taken in sorted order), one query counting
    /// each limit's window through `deliveries_by_subject` and reading the keys' rows, then that
    /// statement for the keys still within their limits; the locks end with the transaction, after
    /// the reservations are visible to the next caller.
    public func reserve(_ requests: [DeliveryRequest], channel: String, now: Date, staleAfter: Duration) async throws
        -> [DeliveryKey: DeliveryReservation]
    {
        var seen = Set<DeliveryKey>()
        let distinct = requests.filter { seen.insert($0.key).inserted }
        guard !distinct.isEmpty else { return [:] }
        return try await withStoreErrors("reserve \(distinct.count) deliveries") {
            guard distinct.contains(where: { !$0.limits.isEmpty }) else {
                return try await withConnection { [self] connection in
                    try await reserveStatement(distinct, channel: channel, now: now, staleAfter: staleAfter, on: connection)
                }
            }
            return try await withTransaction { [self] connection in
                try await reserveWithinLimits(distinct, channel: channel, now: now, staleAfter: staleAfter, on: connection)
            }
        }
    }

    private func reserveWithinLimits(
        _ requests: [DeliveryRequest], channel: String, now: Date, staleAfter: Duration, on connection: PostgresConnection
    ) async throws -> [DeliveryKey: DeliveryReservation] {
        let capped = requests.filter { !$0.limits.isEmpty }
        let subjects = Set(capped.map(\.subject)).sorted()
        let lockPrefix = "sequencer.cap:\(configuration.schema):\(channel):"
        try await connection.query("""
            SELECT count(pg_advisory_xact_lock(hashtextextended(\(lockPrefix) || s, 0))) FROM unnest(\(SQLArray.texts(subjects))) AS s
            """, logger: logger)
        // One row per (request, limit): the subject's other live sends on the channel in that window.
        let rows = capped.flatMap { request in request.limits.map { (request, $0) } }
        let counts = try await connection.query("""
            SELECT (SELECT count(*) FROM \(unescaped: tables.deliveries) AS d
                    WHERE d.subject = l.subject AND d.channel = \(channel) AND d.status <> 'failed'
                      AND d.updated_at >= l.from_at AND d.updated_at < l.until_at
                      AND NOT (d.enrollment_id = l.enrollment_id AND d.step_id = l.step_id AND d.visit = l.visit)),
                   k.status, k.updated_at
            FROM unnest(\(SQLArray.texts(rows.map(\.0.subject))), \(SQLArray.timestamps(rows.map(\.1.from))),
                        \(SQLArray.timestamps(rows.map(\.1.until))), \(SQLArray.uuids(rows.map(\.0.key.enrollmentID))),
                        \(SQLArray.texts(rows.map(\.0.key.step))), \(SQLArray.int64s(rows.map { Int64($0.0.key.visit) })))
                WITH ORDINALITY AS l(subject, from_at, until_at, enrollment_id, step_id, visit, ord)
            LEFT JOIN \(unescaped: tables.deliveries) AS k
                ON k.enrollment_id = l.enrollment_id AND k.step_id = l.step_id AND k.visit = l.visit
            ORDER BY l.ord
            """, logger: logger).collect()
        var index = 0
        var added: [String: [Date]] = [:]   // sends this call reserves, by subject
        var limited: [DeliveryKey: DeliveryReservation] = [:]
        var allowed: [DeliveryRequest] = []
        let staleBefore = now.addingTimeInterval(-staleAfter.timeInterval)
        for request in requests {
            guard !request.limits.isEmpty else {
                allowed.append(request)
                continue
            }
            var full: [SendLimit] = []
            var answeredByRow = false
            for limit in request.limits {
                let (count, status, updatedAt) = try counts[index].decode((Int, String?, SQLTimestamp?).self)
                index += 1
                // A sent key, or one in flight, is answered by the reservation statement as it is.
                if status == "sent" || (status == "pending" && (updatedAt?.date ?? now) > staleBefore) { answeredByRow = true }
                let mine = added[request.subject, default: []].filter { $0 >= limit.from && $0 < limit.until }.count
                if count + mine >= limit.maximum { full.append(limit) }
            }
            if answeredByRow || full.isEmpty {
                allowed.append(request)
                if !answeredByRow { added[request.subject, default: []].append(now) }
            } else {
                let last = full.max { $0.until < $1.until }!
                limited[request.key] = .limited(until: last.until, limit: last)
            }
        }
        var result = limited
        if !allowed.isEmpty {
            for (key, reservation) in try await reserveStatement(allowed, channel: channel, now: now, staleAfter: staleAfter,
                                                                 on: connection) {
                result[key] = reservation
            }
        }
        return result
    }

    /// The reservation statement (see ``reserve(_:channel:now:staleAfter:)``) for distinct keys.
    private func reserveStatement(
        _ requests: [DeliveryRequest], channel: String, now: Date, staleAfter: Duration, on connection: PostgresConnection
    ) async throws -> [DeliveryKey: DeliveryReservation] {
        let keys = requests.map(\.key)
        let query: PostgresQuery = """
            WITH k AS (
                SELECT * FROM unnest(\(SQLArray.uuids(keys.map(\.enrollmentID))),
                                     \(SQLArray.texts(keys.map(\.step))),
                                     \(SQLArray.int64s(keys.map { Int64($0.visit) })),
                                     \(SQLArray.texts(requests.map(\.subject))))
                    AS k(enrollment_id, step_id, visit, subject)
            ),
            won AS (
                INSERT INTO \(unescaped: tables.deliveries) AS d
                    (enrollment_id, step_id, visit, status, attempts, created_at, updated_at, subject, channel)
                SELECT enrollment_id, step_id, visit, 'pending', 1, \(SQLTimestamp(now)), \(SQLTimestamp(now)), subject, \(channel)
                FROM k
                ORDER BY enrollment_id, step_id, visit
                ON CONFLICT (enrollment_id, step_id, visit) DO UPDATE
                    SET status = 'pending', attempts = d.attempts + 1, updated_at = EXCLUDED.updated_at, last_error = NULL,
                        subject = EXCLUDED.subject, channel = EXCLUDED.channel
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
        var result: [DeliveryKey: DeliveryReservation] = [:]
        for try await row in try await connection.query(query, logger: logger) {
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

    /// Records accepted sends in one statement; see ``DeliveryLedger/markSent(_:now:)``.
    ///
    /// One key (the transports record each message as it is accepted) is updated by its primary
    /// key; several are joined against `unnest`. The single-key form never depends on the
    /// planner's idea of the table's size, which lags a burst of sends until autoanalyze runs.
    public func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws {
        guard !sent.isEmpty else { return }
        if sent.count == 1, let (key, providerID) = sent.first {
            let query: PostgresQuery = """
                UPDATE \(unescaped: tables.deliveries)
                SET status = 'sent', provider_message_id = \(providerID), sent_at = \(SQLTimestamp(now)),
                    updated_at = \(SQLTimestamp(now)), last_error = NULL
                WHERE enrollment_id = \(key.enrollmentID) AND step_id = \(key.step) AND visit = \(Int64(key.visit))
                """
            try await withStoreErrors("mark a delivery sent") {
                _ = try await queryRows(query)
            }
            return
        }
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
            _ = try await queryRows(query)
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
            _ = try await queryRows(query)
        }
    }
}
