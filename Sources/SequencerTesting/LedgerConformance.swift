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
        Check(name: "sends over a frequency limit are refused until the window ends, counted per subject and channel",
              body: frequencyLimits),
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

    static func frequencyLimits(_ ledger: any DeliveryLedger) async throws {
        let subject = "capped \u{1F600} '; --"
        let day = SendLimit(maximum: 2, period: "day", from: t0, until: t0.addingTimeInterval(86_400))
        let week = SendLimit(maximum: 3, period: "week", from: t0.addingTimeInterval(-86_400),
                             until: t0.addingTimeInterval(6 * 86_400))
        let k = keys(8)
        func request(_ key: DeliveryKey, _ limits: [SendLimit], subject: String = subject) -> DeliveryRequest {
            DeliveryRequest(key: key, subject: subject, limits: limits)
        }
        let stale = Duration.seconds(300)
        let first = try await ledger.reserve([request(k[0], [day, week]), request(k[1], [day, week]), request(k[2], [day, week])],
                                             channel: "email", now: t0, staleAfter: stale)
        try expect(first[k[0]] == .send && first[k[1]] == .send, "two within the day's limit: \(first)")
        try expect(first[k[2]] == .limited(until: day.until, limit: day), "the third waits for the next day: \(first)")
        try expect(try await ledger.reserve([request(k[3], [day, week])], channel: "sms", now: t0, staleAfter: stale)[k[3]] == .send,
                   "another channel is counted apart")
        try expect(try await ledger.reserve([request(k[7], [day, week], subject: "someone else")], channel: "email", now: t0,
                                            staleAfter: stale)[k[7]] == .send, "another subject is counted apart")
        try await ledger.markSent([k[0]: "id-0"], now: t0.addingTimeInterval(1))
        try await ledger.markFailed([k[1]: "550 no such user"], now: t0.addingTimeInterval(1))
        let afterFailure = try await ledger.reserve([request(k[2], [day, week])], channel: "email", now: t0.addingTimeInterval(2),
                                                    staleAfter: stale)
        try expect(afterFailure[k[2]] == .send, "a failed send does not count: \(afterFailure)")
        try await ledger.markSent([k[2]: "id-2"], now: t0.addingTimeInterval(3))
        // The next day: a new day window, but the week holds k0, k2 and then k5: the fourth is refused until Monday.
        let nextDay = SendLimit(maximum: 2, period: "day", from: day.until, until: day.until.addingTimeInterval(86_400))
        let tuesday = day.until.addingTimeInterval(10)
        try expect(try await ledger.reserve([request(k[5], [nextDay, week])], channel: "email", now: tuesday,
                                            staleAfter: stale)[k[5]] == .send, "a new day, the week not full")
        let fourth = try await ledger.reserve([request(k[4], [nextDay, week])], channel: "email", now: tuesday.addingTimeInterval(1),
                                              staleAfter: stale)
        try expect(fourth[k[4]] == .limited(until: week.until, limit: week), "the week is full: \(fourth)")
        let sentAgain = try await ledger.reserve([request(k[0], [nextDay, week])], channel: "email", now: tuesday, staleAfter: stale)
        try expect(sentAgain[k[0]] == .alreadySent(providerID: "id-0"), "a sent key answers as sent, over the cap or not")
        try expect(try await ledger.reserve([request(k[6], [])], channel: "email", now: tuesday, staleAfter: stale)[k[6]] == .send,
                   "a request without limits is not capped")
    }
}
