import Foundation
import Sequencer
import SequencerTesting
import SequencerTransports
import Synchronization
import Testing

/// A ledger that remembers every `markSent` call's keys, and holds the first call until `release`
/// says so (the ledger write that is slow while other connections finish their messages).
final class RecordingLedger: ForwardingLedger {
    let inner: any DeliveryLedger = InMemoryDeliveryLedger()
    let calls = Mutex<[[DeliveryKey]]>([])
    let release: @Sendable () async -> Void

    init(holdingTheFirstMarkUntil release: @escaping @Sendable () async -> Void) {
        self.release = release
    }

    func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws {
        let first = calls.withLock { calls in
            calls.append(Array(sent.keys))
            return calls.count == 1
        }
        if first { await release() }
        try await inner.markSent(sent, now: now)
    }
}

@Suite("Sends are recorded in groups")
struct GroupReportingTests {
    @Test("outcomes that arrive while the ledger records are recorded together, each once, before their connections go on")
    func outcomesRecordedInGroups() async throws {
        let server = try await TestServer.smtp(.init(pipelining: true))
        defer { server.stop() }
        var smtp = try server.smtpConfiguration()
        smtp.maxConcurrentConnections = 4
        // The first write waits until every connection's first message is at the server (and a
        // moment more for the replies), so the other three outcomes are waiting when it returns.
        let log = server.logURL
        let receivedWhileHeld = Mutex(0)
        let ledger = RecordingLedger(holdingTheFirstMarkUntil: {
            func received() -> Int { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").count }
            for _ in 0..<500 where received() < 4 { try? await Task.sleep(for: .milliseconds(20)) }
            try? await Task.sleep(for: .milliseconds(300))
            receivedWhileHeld.withLock { $0 = received() }
        })
        let transport = SMTPTransport(configuration: smtp)
        let sequencer = makeSequencer([EmailRunner(transport: transport, ledger: ledger)])
        try await sequencer.register(json: welcomeSequence)
        for index in 0..<8 {
            _ = try await sequencer.enroll("user-\(index)", in: "welcome",
                                           context: ["name": .string("User \(index)"), "email": .string("user\(index)@example.com")],
                                           now: t0)
        }

        let report = try await sequencer.tick(now: t0)

        #expect(report.failed == 0 && report.retried == 0)
        let calls = ledger.calls.withLock { $0 }
        #expect(calls.flatMap { $0 }.count == 8)
        #expect(Set(calls.flatMap { $0 }).count == 8)
        #expect(calls.count < 8)
        #expect(calls.count >= 2 && calls[1].count == 3)
        // While the first write was held, no connection carried a second message.
        #expect(receivedWhileHeld.withLock { $0 } == 4)
        #expect(try server.mail().count == 8)
        transport.closeIdleConnections()
    }
}
