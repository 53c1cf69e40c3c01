import Foundation
import Sequencer
import SequencerTesting
import SequencerTransports
import Testing

@Suite("Notifications through a real SMTP server")
struct NotificationTests {
    struct Deploy: TaskRunner {
        let name = "Deploy"
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { $0.result(.fail("exit 2: migration 0042 failed")) }
        }
    }

    @Test func aFailedEnrollmentMailsItsOperatorOnceWithTheReasonAttemptsAndDuration() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let ledger = InMemoryDeliveryLedger()
        let sequencer = makeSequencer([Deploy(), EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()),
                                                             ledger: ledger)])
        try await sequencer.register(json: """
            {"name": "release", "version": 1, "steps": [
              {"id": "wait", "runner": "WaitForDuration", "config": {"amount": 90, "unit": "seconds"}},
              {"id": "deploy", "runner": "Deploy"}],
             "notifications": [{"on": "failed", "runner": "Email", "config": {
               "from": "releases@example.com", "to": ["{{owner}}"],
               "subject": "{{notification.sequence}} failed for {{notification.subject}} at {{notification.step}}",
               "text": "{{notification.reason}} (attempts: {{notification.attempts}}, after {{notification.duration}})"}}]}
            """)
        let id = try await sequencer.enroll("v1.8.0", in: "release", context: ["owner": "ops@example.com"], now: t0)
        try await sequencer.tick(now: t0)
        try await sequencer.tick(now: t0.addingTimeInterval(90))
        try await sequencer.tick(now: t0.addingTimeInterval(200))   // nothing due: no second message

        let mail = try server.mail()
        #expect(mail.count == 1)
        #expect(mail.first?.rcptTos == ["ops@example.com"])
        #expect(mail.first?.header("Subject") == "release failed for v1.8.0 at deploy")
        #expect(mail.first?.body("text/plain") == "exit 2: migration 0042 failed (attempts: 0, after 1 m 30 s)")
        let e = try await sequencer.enrollment(id)
        #expect(e.status == .failed && e.lastError == "exit 2: migration 0042 failed")
        let note = try await sequencer.messages(of: id, .notified).first
        #expect(note?.hasPrefix("Email notification (failed): sent") == true, "\(note ?? "")")
        #expect(ledger.record(for: DeliveryKey(enrollmentID: id, step: "$notify.failed", visit: 2))?.status == .sent)
    }
}
