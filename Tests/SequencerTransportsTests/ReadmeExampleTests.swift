import Foundation
import Sequencer
import SequencerTransports
import Testing

/// The README's first-screen example, run for real against an SMTP server on loopback, so the
/// README cannot drift from the API.
@Suite("README example")
struct ReadmeExampleTests {
    @Test func firstScreenExampleSendsTheWelcomeEmail() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }

        // From README.md, with the server's port in the URL.
        let smtp = SMTPTransport(configuration: try .init(url: "smtp://127.0.0.1:\(server.port)"))
        let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + [EmailRunner(transport: smtp)])

        try await sequencer.register(SequenceDefinition(name: "trial-onboarding", version: 1) {
            Step(id: "welcome", runner: "Email", config: ["from": "hi@example.com", "to": ["{{email}}"],
                                                          "subject": "Welcome, {{name}}", "text": "Glad you're here."])
            Step(id: "wait-2d", runner: "WaitForDuration", config: ["amount": 2, "unit": "days"])
            Step(id: "has-used", runner: "Conditional", config: [
                "lodashCommand": "gt",
                "value": ["type": "get", "value": "usage.projects"],
                "compareTo": ["type": "raw", "value": 0],
            ], altNext: "nudge")
            Step(id: "done", runner: "GoTo", config: ["target": "$end"])
            Step(id: "nudge", runner: "Email", config: ["from": "hi@example.com", "to": ["{{email}}"],
                                                        "subject": "Need a hand?", "text": "Reply to this email."])
        })

        let id = try await sequencer.enroll("user-42", in: "trial-onboarding",
                                            context: ["email": "ada@example.com", "name": "Ada"])
        let report = try await sequencer.tick()

        #expect(report.claimed == 1 && report.waiting == 1)
        #expect(try await sequencer.enrollment(id).stepID == "wait-2d")
        let mail = try server.mail()
        #expect(mail.count == 1)
        #expect(mail.first?.rcptTos == ["ada@example.com"])
        #expect(mail.first?.raw.contains("Subject: Welcome, Ada") == true)
    }
}
