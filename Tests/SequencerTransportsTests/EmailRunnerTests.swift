import Foundation
import Sequencer
import SequencerTesting
import SequencerTransports
import Testing

/// A welcome sequence: one email, then a day's wait.
let welcomeSequence = """
{"name": "welcome", "version": 1, "steps": [
  {"id": "welcome", "runner": "Email", "config": {
    "from": "Acme <hi@acme.example>", "to": ["{{name}} <{{email}}>"], "bcc": ["audit@acme.example"],
    "cc": ["{{manager}}"], "subject": "Welcome, {{name}}",
    "text": "Hi {{name}},\\nyour plan: {{plan}}.", "html": "<p>Hi {{name}}</p>"}},
  {"id": "wait", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "days"}}
]}
"""

@Suite("Email runner, end to end through the engine and aiosmtpd")
struct EmailRunnerTests {
    @Test("every enrollment of a tick gets its own rendered email, over maxConcurrentConnections connections")
    func sendsABatch() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let ledger = InMemoryDeliveryLedger()
        var smtp = try server.smtpConfiguration()
        smtp.maxConcurrentConnections = 2
        let runner = EmailRunner(transport: SMTPTransport(configuration: smtp), ledger: ledger)
        let sequencer = makeSequencer([runner])
        try await sequencer.register(json: welcomeSequence)
        var ids: [String: UUID] = [:]
        for (name, manager) in [("Ada", "boss@example.com"), ("Bob", ""), ("Cy", "")] {
            ids[name] = try await sequencer.enroll(name, in: "welcome", context: [
                "name": .string(name), "email": .string("\(name.lowercased())@example.com"), "plan": "trial",
                "manager": .string(manager),
            ], now: t0)
        }

        let report = try await sequencer.tick(now: t0)

        #expect(report.failed == 0 && report.retried == 0)
        let mail = try server.mail().sorted { ($0.header("Subject") ?? "") < ($1.header("Subject") ?? "") }
        #expect(mail.map { $0.header("Subject") } == ["Welcome, Ada", "Welcome, Bob", "Welcome, Cy"])
        #expect(Set(mail.map(\.clientPort)).count == 2)
        #expect(mail[0].rcptTos == ["ada@example.com", "boss@example.com", "audit@acme.example"])
        #expect(mail[1].rcptTos == ["bob@example.com", "audit@acme.example"])
        #expect(mail[0].header("To") == "Ada <ada@example.com>")
        #expect(mail[1].header("Cc") == nil)
        #expect(mail[0].body("text/plain") == "Hi Ada,\nyour plan: trial.")
        for (name, id) in ids {
            let enrollment = try await sequencer.enrollment(id)
            #expect(enrollment.stepID == "wait")
            let key = DeliveryKey(enrollmentID: id, step: "welcome", visit: 1)
            let record = try #require(ledger.record(for: key))
            #expect(record.status == .sent)
            #expect(record.providerID?.hasSuffix("@acme.example>") == true)
            let sent = try await sequencer.messages(of: id, .advanced).first ?? ""
            #expect(sent.hasPrefix("sent email to \(name.lowercased())@example.com (id <"))
        }
    }

    @Test("values under html are escaped; text stays as written")
    func htmlEscaping() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let sequencer = makeSequencer([EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()))])
        try await sequencer.register(json: welcomeSequence)
        _ = try await sequencer.enroll("x", in: "welcome", context: [
            "name": "<script>alert(1)</script>", "email": "x@example.com", "plan": "a & b",
        ], now: t0)

        try await sequencer.tick(now: t0)

        let mail = try #require(try server.mail().first)
        #expect(mail.body("text/html") == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>")
        #expect(mail.body("text/plain") == "Hi <script>alert(1)</script>,\nyour plan: a & b.")
    }

    @Test("an invalid rendered address fails only its enrollment, naming the field")
    func invalidRenderedAddress() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let sequencer = makeSequencer([EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()))])
        try await sequencer.register(json: welcomeSequence)
        let bad = try await sequencer.enroll("bad", in: "welcome", context: ["name": "Bad", "email": "not-an-address"],
                                             now: t0)
        let badCC = try await sequencer.enroll("bad-cc", in: "welcome", context: [
            "name": "Dee", "email": "dee@example.com", "manager": "boss@@example.com",
        ], now: t0)
        let good = try await sequencer.enroll("good", in: "welcome", context: ["name": "Good", "email": "good@example.com"],
                                              now: t0)

        let report = try await sequencer.tick(now: t0)

        #expect(report.failed == 2)
        let failed = try await sequencer.enrollment(bad)
        #expect(failed.status == .failed)
        #expect(failed.lastError?.contains("field 'config.to.0'") == true)
        #expect(failed.lastError?.contains("'Bad <not-an-address>'") == true)
        #expect(try await sequencer.enrollment(badCC).lastError?.contains("field 'config.cc.0'") == true)
        #expect(try await sequencer.enrollment(good).stepID == "wait")
        #expect(try server.mail().map(\.rcptTos) == [["good@example.com", "audit@acme.example"]])
    }

    @Test("a 5xx refusal fails the step with the server's reply; a 4xx one retries it with backoff")
    func refusals() async throws {
        let server = try await TestServer.smtp(.init(rejects: ["gone@example.com": 550, "busy@example.com": 451]))
        defer { server.stop() }
        let ledger = InMemoryDeliveryLedger()
        let runner = EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()), ledger: ledger)
        let sequencer = makeSequencer([runner])
        try await sequencer.register(json: welcomeSequence)
        let gone = try await sequencer.enroll("gone", in: "welcome", context: ["name": "G", "email": "gone@example.com"],
                                              now: t0)
        let busy = try await sequencer.enroll("busy", in: "welcome", context: ["name": "B", "email": "busy@example.com"],
                                              now: t0)

        try await sequencer.tick(now: t0)

        let failed = try await sequencer.enrollment(gone)
        #expect(failed.status == .failed)
        #expect(failed.lastError?.contains("550 5.1.1 <gone@example.com>: Recipient address rejected") == true)
        let retrying = try await sequencer.enrollment(busy)
        #expect(retrying.status == .active && retrying.attempts == 1)
        #expect(retrying.nextRunAt == t0.addingTimeInterval(10))
        #expect(try await sequencer.messages(of: busy, .retrying).first?.contains("451 4.1.1") == true)
        #expect(ledger.record(for: DeliveryKey(enrollmentID: busy, step: "welcome", visit: 1))?.status == .failed)
        #expect(try server.mail().isEmpty)

        // The retry reserves the key again and tries again (and is refused again).
        try await sequencer.tick(now: t0.addingTimeInterval(10))
        #expect(try await sequencer.enrollment(busy).attempts == 2)
        #expect(ledger.record(for: DeliveryKey(enrollmentID: busy, step: "welcome", visit: 1))?.attempts == 2)
    }

    @Test("a step visited again through a loop sends again: the key includes the visit")
    func newVisitSendsAgain() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let sequencer = makeSequencer([EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()))])
        try await sequencer.register(json: """
            {"name": "digest", "version": 1, "steps": [
              {"id": "digest", "runner": "Email", "config": {"from": "hi@acme.example", "to": ["{{email}}"],
                "subject": "Your digest", "text": "..."}},
              {"id": "wait", "runner": "WaitForDuration", "config": {"amount": 7, "unit": "days"}},
              {"id": "again", "runner": "GoTo", "config": {"target": "digest"}}
            ]}
            """)
        _ = try await sequencer.enroll("ada", in: "digest", context: ["email": "ada@example.com"], now: t0)

        try await sequencer.tick(now: t0)
        try await sequencer.tick(now: t0.addingTimeInterval(86_400))
        try await sequencer.tick(now: t0.addingTimeInterval(7 * 86_400))

        let ids = try server.mail().map { $0.header("Message-ID") }
        #expect(ids.count == 2)
        #expect(Set(ids).count == 2)
    }
}
