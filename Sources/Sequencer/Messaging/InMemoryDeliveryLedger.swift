public import Foundation
import Synchronization

/// A ``DeliveryLedger`` in memory: for tests, demos and single-process hosts on ``InMemoryStore``.
///
/// It keeps every record for the life of the process. It protects against re-runs within the
/// process (an expired lease, a failed commit); with a durable store, use a durable ledger (the
/// PostgreSQL store's) so that a restart does not forget what was sent.
public final class InMemoryDeliveryLedger: DeliveryLedger {
    /// Where a send stands.
    public enum Status: String, Sendable, Hashable {
        /// Reserved; the send has not reported back.
        case pending
        /// The provider accepted it.
        case sent
        /// The last attempt failed; the key may be reserved again.
        case failed
    }

    /// One key's record.
    public struct Record: Sendable, Hashable {
        /// `"email"` or `"sms"`.
        public var channel: String
        /// The subject the message went to (frequency caps count per subject and channel).
        public var subject: String = ""
        /// Where the send stands.
        public var status: Status
        /// How many times the key was reserved.
        public var attempts: Int
        /// When it was last reserved.
        public var reservedAt: Date
        /// When the provider accepted it.
        public var sentAt: Date?
        /// The provider's id for the message.
        public var providerID: String?
        /// Why the last attempt failed.
        public var lastError: String?
    }

    private let records = Mutex<[DeliveryKey: Record]>([:])

    /// Creates an empty ledger.
    public init() {}

    /// Reserves keys, within their limits; see ``DeliveryLedger/reserve(_:channel:now:staleAfter:)``.
    public func reserve(_ requests: [DeliveryRequest], channel: String, now: Date, staleAfter: Duration) async throws
        -> [DeliveryKey: DeliveryReservation]
    {
        let staleBefore = now.addingTimeInterval(-staleAfter.timeInterval)
        return records.withLock { records in
            var result: [DeliveryKey: DeliveryReservation] = [:]
            for request in requests where result[request.key] == nil {
                let key = request.key
                var attempts = 1
                if let record = records[key] {
                    switch record.status {
                    case .sent:
                        result[key] = .alreadySent(providerID: record.providerID)
                        continue
                    case .pending where record.reservedAt > staleBefore:
                        result[key] = .inFlight(since: record.reservedAt)
                        continue
                    case .pending, .failed:
                        attempts = record.attempts + 1
                    }
                }
                if let limited = Self.limited(request, channel: channel, in: records) {
                    result[key] = limited
                    continue
                }
                var record = records[key] ?? Record(channel: channel, status: .pending, attempts: 0, reservedAt: now)
                record.status = .pending
                record.attempts = attempts
                record.reservedAt = now
                record.subject = request.subject
                records[key] = record
                result[key] = .send
            }
            return result
        }
    }

    /// The limit `request` would exceed, counting the subject's other sends on the channel.
    private static func limited(_ request: DeliveryRequest, channel: String, in records: [DeliveryKey: Record])
        -> DeliveryReservation?
    {
        guard !request.limits.isEmpty else { return nil }
        let sends = records.filter { key, record in
            key != request.key && record.subject == request.subject && record.channel == channel && record.status != .failed
        }.map { $0.value.sentAt ?? $0.value.reservedAt }
        let full = request.limits.filter { limit in
            sends.filter { $0 >= limit.from && $0 < limit.until }.count >= limit.maximum
        }
        guard let last = full.max(by: { $0.until < $1.until }) else { return nil }
        return .limited(until: last.until, limit: last)
    }

    /// Records accepted sends; see ``DeliveryLedger/markSent(_:now:)``.
    public func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws {
        records.withLock { records in
            for (key, providerID) in sent {
                guard var record = records[key] else { continue }
                record.status = .sent
                record.sentAt = now
                record.providerID = providerID
                record.lastError = nil
                records[key] = record
            }
        }
    }

    /// Records failed sends; see ``DeliveryLedger/markFailed(_:now:)``.
    public func markFailed(_ failed: [DeliveryKey: String], now: Date) async throws {
        records.withLock { records in
            for (key, reason) in failed {
                guard var record = records[key], record.status == .pending else { continue }
                record.status = .failed
                record.lastError = reason
                records[key] = record
            }
        }
    }

    /// The record of one key, if it was ever reserved.
    public func record(for key: DeliveryKey) -> Record? {
        records.withLock { $0[key] }
    }

    /// Every record, by key.
    public var allRecords: [DeliveryKey: Record] {
        records.withLock { $0 }
    }
}
