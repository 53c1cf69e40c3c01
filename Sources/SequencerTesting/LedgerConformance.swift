import Foundation
public import Sequencer

/// The behaviour every ``DeliveryLedger`` owes the messaging runners, as checks any ledger can run.
///
/// ```swift
/// @Test(arguments: LedgerConformance.checks)
/// func ledger(_ check: LedgerConformance.Check) async throws { try await check.run(MyLedger()) }
/// ```
public enum LedgerConformance {
    /// One named check.
    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        let body: @Sendable (any DeliveryLedger) async throws -> Void

        /// Runs the check against an empty ledger.
        public func run(_ ledger: any DeliveryLedger) async throws { try await body(ledger) }
        public var description: String { name }
    }

    /// Every check.
    public static let checks: [Check] = [
        Check(name: "new keys are reserved once; a fresh reservation is in flight", body: reserveOnce),
        Check(name: "a sent key is never reserved again and keeps its provider id", body: sentIsFinal),
        Check(name: "a failed key can be reserved again", body: failedFrees),
        Check(name: "a stale reservation is taken over", body: staleTakenOver),
        Check(name: "a late failure never overwrites a recorded send", body: lateFailure),
    ]

    static func keys(_ n: Int, visit: Int = 1) -> [DeliveryKey] {
        let id = UUID.version7()
        return (0..<n).map { DeliveryKey(enrollmentID: id, step: "step-\($0)", visit: visit) }
    }

    static func reserveOnce(_ ledger: any DeliveryLedger) async throws {
        let k = keys(3)
        let first = try await ledger.reserve(k + [k[0]], channel: "email", now: t0, staleAfter: .seconds(300))
        try expect(first.count == 3 && first.values.allSatisfy { $0 == .send }, "new keys: send, got \(first)")
        let again = try await ledger.reserve(k, channel: "email", now: t0.addingTimeInterval(10), staleAfter: .seconds(300))
        try expect(again.values.allSatisfy { $0 == .inFlight(since: t0) }, "a fresh reservation is in flight, got \(again)")
    }

    static func sentIsFinal(_ ledger: any DeliveryLedger) async throws {
        let k = keys(2)
        _ = try await ledger.reserve(k, channel: "sms", now: t0, staleAfter: .seconds(300))
        try await ledger.markSent([k[0]: "provider-1", k[1]: nil], now: t0)
        let later = try await ledger.reserve(k, channel: "sms", now: t0.addingTimeInterval(86_400), staleAfter: .seconds(300))
        try expect(later[k[0]] == .alreadySent(providerID: "provider-1"), "sent with id, got \(String(describing: later[k[0]]))")
        try expect(later[k[1]] == .alreadySent(providerID: nil), "sent without id, got \(String(describing: later[k[1]]))")
        let nextVisit = DeliveryKey(enrollmentID: k[0].enrollmentID, step: k[0].step, visit: 2)
        try expect(try await ledger.reserve([nextVisit], channel: "sms", now: t0, staleAfter: .seconds(300))[nextVisit] == .send,
                   "another visit of the same step is a new key")
    }

    static func failedFrees(_ ledger: any DeliveryLedger) async throws {
        let k = keys(1)
        _ = try await ledger.reserve(k, channel: "email", now: t0, staleAfter: .seconds(300))
        try await ledger.markFailed([k[0]: "451 try later"], now: t0)
        let retry = try await ledger.reserve(k, channel: "email", now: t0.addingTimeInterval(1), staleAfter: .seconds(300))
        try expect(retry[k[0]] == .send, "a failed key is reserved again, got \(String(describing: retry[k[0]]))")
    }

    static func staleTakenOver(_ ledger: any DeliveryLedger) async throws {
        let k = keys(1)
        _ = try await ledger.reserve(k, channel: "email", now: t0, staleAfter: .seconds(300))
        let early = try await ledger.reserve(k, channel: "email", now: t0.addingTimeInterval(299), staleAfter: .seconds(300))
        try expect(early[k[0]] == .inFlight(since: t0), "not stale before staleAfter, got \(String(describing: early[k[0]]))")
        let late = try await ledger.reserve(k, channel: "email", now: t0.addingTimeInterval(301), staleAfter: .seconds(300))
        try expect(late[k[0]] == .send, "stale after staleAfter, got \(String(describing: late[k[0]]))")
    }

    static func lateFailure(_ ledger: any DeliveryLedger) async throws {
        let k = keys(1)
        _ = try await ledger.reserve(k, channel: "email", now: t0, staleAfter: .seconds(300))
        try await ledger.markSent([k[0]: "id-9"], now: t0)
        try await ledger.markFailed([k[0]: "timeout"], now: t0.addingTimeInterval(5))
        let after = try await ledger.reserve(k, channel: "email", now: t0.addingTimeInterval(600), staleAfter: .seconds(300))
        try expect(after[k[0]] == .alreadySent(providerID: "id-9"), "the send stands, got \(String(describing: after[k[0]]))")
    }
}
