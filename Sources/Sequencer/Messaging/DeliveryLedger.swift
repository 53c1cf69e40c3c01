public import Foundation

/// Records sends by visit, so a re-run of the same visit of a step never sends again.
///
/// ``EmailRunner`` and ``SMSRunner`` key every send by ``DeliveryKey`` (enrollment, step, visit)
/// and, per batch:
///
/// 1. ``reserve(_:channel:now:staleAfter:)`` the keys **before** sending: a new key (or one whose
///    last send failed, or one reserved so long ago that its sender must have died) is reserved
///    and comes back ``DeliveryReservation/send``; a key already sent comes back
///    ``DeliveryReservation/alreadySent(providerID:)`` and is not sent again; a key reserved
///    recently by another sender comes back ``DeliveryReservation/inFlight(since:)`` and the step
///    waits until that reservation goes stale;
/// 2. hand the reserved messages to the transport, which reports each outcome as the provider
///    answers (``EmailTransport/send(_:reporting:)``);
/// 3. ``markSent(_:now:)`` the accepted messages of each report (one call per group the
///    transport reports, ``EmailTransport/send(_:reportingInGroups:)``), with their ids, **before
///    any of those connections hands over another message**, and ``markFailed(_:now:)`` what was
///    refused (in one call at the end), which frees those keys for the retry.
///
/// Reservations are recorded at the time the runner passes (``RunnerInput/currentTime``), and no
/// message is handed over later than nine tenths of `staleAfter` after its reservation was asked
/// for (``DeliveryDeadline``), since another sender may find the reservation stale by then. A
/// failure reported past that point is not marked: the reservation may be another sender's.
///
/// The engine commits the step's outcome after that. A crash, a failed commit or an expired lease
/// after a message was recorded re-runs the visit, finds the key sent, and moves on without sending.
///
/// **The one window for a duplicate** is between the provider accepting a message and step 3
/// recording it: the process dies there (or the ledger write fails and the tick's commit fails
/// too), or the connection drops after the message was handed over but before the provider's
/// answer arrived (SMTP's reply to the final `.`, an HTTP response). It holds at most the
/// message in flight on each connection (messages on one connection go one after another): up
/// to the transport's concurrency (SMTP's `maxConcurrentConnections`, HTTP's
/// `maxConcurrentRequests`), never the rest of a batch.
/// After a crash the key stays reserved, and once the reservation is older than `staleAfter` a
/// re-run sends the message again; after a lost answer the send counts as a temporary failure
/// and the step's retry sends it again. HTTP transports pass ``VisitKey/description`` as an
/// idempotency header, which closes this window at providers that honour one; SMTP has no such
/// mechanism, but both sends carry the same `Message-ID`.
///
/// **For a SQL implementation** (one statement per call): the PostgreSQL schema's `deliveries`
/// table, keyed by `(enrollment_id, step_id, visit)` with `status` (`pending`, `sent`, `failed`),
/// `provider_message_id`, `attempts`, `last_error`, `updated_at` (for a `pending` row: when it was
/// reserved) and `sent_at`, serves all three calls. `channel` is informational; store it only if
/// the table has a column for it.
///
/// ```sql
/// -- reserve: $1 uuid[], $2 text[], $3 int[] (the keys, split), $4 now, $5 staleAfter in seconds
/// WITH k AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[]) AS k(enrollment_id, step_id, visit)),
/// won AS (
///   INSERT INTO deliveries AS d (enrollment_id, step_id, visit, status, attempts, created_at, updated_at)
///   SELECT enrollment_id, step_id, visit, 'pending', 1, $4, $4 FROM k
///   ON CONFLICT (enrollment_id, step_id, visit) DO UPDATE
///     SET status = 'pending', attempts = d.attempts + 1, updated_at = $4
///     WHERE d.status = 'failed'
///        OR (d.status = 'pending' AND d.updated_at <= $4 - make_interval(secs => $5))
///   RETURNING enrollment_id, step_id, visit)
/// SELECT k.enrollment_id, k.step_id, k.visit, (w.visit IS NOT NULL) AS reserved,
///        d.status, d.provider_message_id, d.updated_at
/// FROM k LEFT JOIN won w USING (enrollment_id, step_id, visit)
///        LEFT JOIN deliveries d USING (enrollment_id, step_id, visit)  -- the rows as they were before
/// ```
///
/// `reserved` is ``DeliveryReservation/send``; otherwise `status = 'sent'` is
/// ``DeliveryReservation/alreadySent(providerID:)`` and `pending` is
/// ``DeliveryReservation/inFlight(since:)`` with `since = updated_at`; no row at all (a concurrent
/// transaction is reserving the same key) is in flight too, with `since = now`.
/// `markSent` and `markFailed` are one `UPDATE deliveries … FROM unnest(…)` each: `markSent` sets
/// `status = 'sent'`, `provider_message_id`, `sent_at` and `updated_at`; `markFailed` sets
/// `status = 'failed'`, `last_error` and `updated_at` only where the row is still `pending`, so a
/// late failure never overwrites a recorded send.
public protocol DeliveryLedger: Sendable {
    /// Reserves `keys` (distinct) for sending, all at once; returns one reservation per key.
    ///
    /// - Parameters:
    ///   - channel: `"email"` or `"sms"` (kept for reporting; keys are unique across channels).
    ///   - now: the tick's time, ``RunnerInput/now``.
    ///   - staleAfter: a `pending` reservation older than this is taken over (its sender is presumed dead).
    ///
    /// A request with ``DeliveryRequest/limits`` is reserved only while the subject's sends on
    /// the channel within each limit's window (recorded sends and live or stale reservations of
    /// other keys, not failed ones, plus those this call reserved before it) stay below its
    /// maximum; otherwise it comes back ``DeliveryReservation/limited(until:limit:)``. The check
    /// and the reservation must be atomic per subject and channel (the PostgreSQL ledger takes a
    /// transaction-scoped advisory lock on each), so concurrent callers cannot together exceed it.
    func reserve(_ requests: [DeliveryRequest], channel: String, now: Date, staleAfter: Duration) async throws
        -> [DeliveryKey: DeliveryReservation]

    /// Records sends the provider accepted, with the provider's id for each (if it gave one).
    func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws

    /// Records sends the provider refused or that could not be made, with the reason; a later
    /// ``reserve(_:channel:now:staleAfter:)`` of these keys returns ``DeliveryReservation/send``.
    func markFailed(_ failed: [DeliveryKey: String], now: Date) async throws
}

/// The ledger's key: one visit of one step of one enrollment, the unit of "at most one send".
///
/// A ``VisitKey``: the ledger keys sends by the engine's own name for a visit, and its
/// description (`"<enrollment>/<step>/<visit>"`) is the idempotency key HTTP transports send.
public typealias DeliveryKey = VisitKey

extension DeliveryLedger {
    /// Reserves keys with no subject and no limits (see ``reserve(_:channel:now:staleAfter:)``).
    public func reserve(_ keys: [DeliveryKey], channel: String, now: Date, staleAfter: Duration) async throws
        -> [DeliveryKey: DeliveryReservation]
    {
        try await reserve(keys.map { DeliveryRequest(key: $0, subject: "") }, channel: channel, now: now,
                          staleAfter: staleAfter)
    }
}

/// One send to reserve: its key, the subject it goes to (sends are counted per subject and
/// channel), and the frequency limits it must stay within (``FrequencyCap/limits(at:in:)``).
public struct DeliveryRequest: Sendable, Hashable {
    public var key: DeliveryKey
    public var subject: String
    /// Empty when no cap applies.
    public var limits: [SendLimit]

    public init(key: DeliveryKey, subject: String, limits: [SendLimit] = []) {
        self.key = key
        self.subject = subject
        self.limits = limits
    }
}

/// What ``DeliveryLedger/reserve(_:channel:now:staleAfter:)`` decided for one key.
public enum DeliveryReservation: Sendable, Hashable {
    /// Reserved for this caller: send now. The key was new, its last send failed, or its
    /// reservation had gone stale.
    case send
    /// Sent before; do not send again. The provider's id, if it gave one.
    case alreadySent(providerID: String?)
    /// Another caller reserved it at `since` and has not reported back; it becomes stale at
    /// `since + staleAfter`.
    case inFlight(since: Date)
    /// Not reserved: the subject already has `limit.maximum` sends in `limit`'s window; a send
    /// is allowed again at `until`, when that window ends (of several full windows, the one that
    /// ends last).
    case limited(until: Date, limit: SendLimit)
}
