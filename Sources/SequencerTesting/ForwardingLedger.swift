public import Foundation
public import Sequencer

/// A deliveries ledger that passes every call to another one: declare the calls you want to
/// watch, slow down or break and leave the rest to the defaults, as ``ForwardingStore`` does for
/// stores.
///
/// ```swift
/// final class ForgetfulLedger: ForwardingLedger {
///     let inner: any DeliveryLedger = InMemoryDeliveryLedger()
///     func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws {
///         throw CancellationError()   // as if the process died before recording the send
///     }
/// }
/// ```
public protocol ForwardingLedger: DeliveryLedger {
    /// The ledger every call goes to.
    var inner: any DeliveryLedger { get }
}

extension ForwardingLedger {
    public func reserve(_ requests: [DeliveryRequest], channel: String, now: Date, staleAfter: Duration) async throws
        -> [DeliveryKey: DeliveryReservation]
    {
        try await inner.reserve(requests, channel: channel, now: now, staleAfter: staleAfter)
    }
    public func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws {
        try await inner.markSent(sent, now: now)
    }
    public func markFailed(_ failed: [DeliveryKey: String], now: Date) async throws {
        try await inner.markFailed(failed, now: now)
    }
}
