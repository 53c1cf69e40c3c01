import Foundation
import Sequencer
import SequencerTesting
import SequencerTransports
import Testing

/// A batch held up after its reservation (the ledger write for its first messages waiting out a
/// database outage, while the connection that carried them waits for that write) must not hand
/// its later messages over once their reservations may look stale to another ticker: that ticker
/// would take them over and send them too. The chaos restart test found this one (a message
/// handed over 4.4 s after its reservation, with an in-flight timeout of 3 s, and sent again by
/// the ticker that had taken the reservation over).
@Suite("No message is handed over past its batch's delivery deadline")
struct HandOverDeadlineTests {
    enum Transport: String, CaseIterable, CustomTestStringConvertible {
        /// `SMTPTransport` over one connection to the aiosmtpd stand-in.
        case smtp
        /// `WebhookTransport`, one request at a time, to the HTTP stand-in.
        case webhook
        /// A transport that implements only `send(_:)`: the protocol's default implementations.
        case sendOnly
        var testDescription: String { rawValue }
    }

    /// Long enough that the first message is handed over before the deadline however loaded the
    /// machine is; the held ledger write below lasts exactly until the deadline has passed.
    static let inFlightTimeout = Duration.seconds(10)

    static let sequence = """
        {"name": "welcome", "version": 1, "steps": [
          {"id": "welcome", "runner": "Email", "config": {"from": "hi@acme.example", "to": ["{{email}}"], "subject": "Hi", "text": "Hi."}},
          {"id": "wait", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "days"}}
        ]}
        """

    @Test("a batch whose first ledger write outlasts the deadline hands nothing more over; the rest is sent once, when its reservations are stale",
          arguments: Transport.allCases)
    func aBatchHeldUpAfterItsReservationHandsNothingOverPastItsDeadline(_ kind: Transport) async throws {
        var server: TestServer?
        defer { server?.stop() }
        let recording = RecordingTransport()
        let transport: any EmailTransport
        switch kind {
        case .smtp:
            let smtp = try await TestServer.smtp()
            server = smtp
            var configuration = try smtp.smtpConfiguration()
            configuration.maxConcurrentConnections = 1
            transport = SMTPTransport(configuration: configuration)
        case .webhook:
            let http = try await TestServer.http()
            server = http
            var configuration = WebhookTransport.Configuration(url: "http://127.0.0.1:\(http.port)/send")
            configuration.maxConcurrentRequests = 1
            transport = WebhookTransport(configuration: configuration)
        case .sendOnly:
            transport = recording
        }
        func handedOver() throws -> [String] {
            switch kind {
            case .smtp: return try server!.mail().flatMap(\.rcptTos)
            case .webhook: return try server!.records(ReceivedRequest.self).compactMap { $0.json?.value(atPath: "to.0.address")?.stringValue }
            case .sendOnly: return recording.emailBatches.flatMap { $0 }.map { $0.to[0].address }
            }
        }
        // The first ledger write lasts until the batch's deadline has passed (a database outage).
        let ledger = RecordingLedger(holdingTheFirstMarkUntil: {
            for _ in 0..<3_000 where !DeliveryDeadline.hasPassed { try? await Task.sleep(for: .milliseconds(10)) }
        })
        let sequencer = makeSequencer([EmailRunner(transport: transport, ledger: ledger, inFlightTimeout: Self.inFlightTimeout)])
        try await sequencer.register(json: Self.sequence)
        var ids: [UUID] = []
        for index in 0..<2 {
            ids.append(try await sequencer.enroll("user-\(index)", in: "welcome",
                                                  context: ["name": .string("User \(index)"), "email": .string("user\(index)@example.com")],
                                                  now: t0))
        }

        _ = try await sequencer.tick(now: t0)

        // One message went out; the other's reservation may be stale by now to another ticker.
        let first = try handedOver()
        #expect(first.count == 1, "handed over: \(first)")
        let stale = t0.addingTimeInterval(Self.inFlightTimeout.timeInterval)
        var waiting: [Enrollment] = []
        for id in ids {
            let enrollment = try await sequencer.enrollment(id)
            if enrollment.stepID == "welcome" { waiting.append(enrollment) }
        }
        try #require(waiting.count == 1, "one enrollment still at its send")
        #expect(waiting[0].nextRunAt == stale, "it waits for its reservation to go stale")
        #expect(waiting[0].attempts == 0, "not a failure: its message was never handed over")

        // Once stale, the visit's next run takes the reservation over and sends, once.
        _ = try await sequencer.tick(now: stale)
        #expect(try handedOver().sorted() == ["user0@example.com", "user1@example.com"])
        for id in ids { #expect(try await sequencer.enrollment(id).stepID == "wait") }
        (transport as? SMTPTransport)?.closeIdleConnections()
    }

    /// Hands each message over, and answers with a temporary failure only after `answerAfter`
    /// (a provider that times out).
    struct SlowFailingTransport: EmailTransport {
        let answerAfter: Duration
        func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
            try await Task.sleep(for: answerAfter)
            return messages.map { _ in .temporaryFailure("the provider timed out") }
        }
    }

    @Test("a failure reported past the deadline leaves the reservation to go stale instead of marking it failed")
    func aFailureReportedPastTheDeadlineIsNotMarkedFailed() async throws {
        let ledger = InMemoryDeliveryLedger()
        // Answers after the whole in-flight timeout: past the deadline (nine tenths of it) whenever it started.
        let transport = SlowFailingTransport(answerAfter: .seconds(2))
        let sequencer = makeSequencer([EmailRunner(transport: transport, ledger: ledger, inFlightTimeout: .seconds(2))])
        try await sequencer.register(json: Self.sequence)
        let id = try await sequencer.enroll("ada", in: "welcome", context: ["email": "ada@example.com"], now: t0)

        _ = try await sequencer.tick(now: t0)

        // Another ticker may have taken the reservation over by now: a failed mark would free the
        // key it is sending on. The reservation stays in flight until it is stale.
        let enrollment = try await sequencer.enrollment(id)
        let stale = t0.addingTimeInterval(2)
        #expect(enrollment.stepID == "welcome" && enrollment.nextRunAt == stale && enrollment.attempts == 0)
        let key = DeliveryKey(enrollmentID: id, step: "welcome", visit: enrollment.visit)
        let again = try await ledger.reserve([DeliveryRequest(key: key, subject: "ada", limits: [])], channel: "email",
                                             now: t0.addingTimeInterval(1), staleAfter: .seconds(2))
        #expect(again[key] == .inFlight(since: t0))
    }
}
