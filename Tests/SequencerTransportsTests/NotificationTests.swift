import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTesting
import SequencerTransports
import Testing

@Suite("Notifications through a real SMTP server, on PostgreSQL")
struct NotificationTests {
    /// Fails "v-bad", retries "v-slow", deploys the others.
    struct Deploy: TaskRunner {
        let name = "Deploy"
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { input in
                switch input.subject {
                case "v-bad": input.result(.fail("exit 2: migration 0042 failed"))
                case "v-slow": input.result(.retry("registry timed out"))
                default: input.result(.next)
                }
            }
        }
    }

    static let release = """
        {"name": "release", "version": 1, "steps": [
          {"id": "wait", "runner": "WaitForDuration", "config": {"amount": 90, "unit": "seconds"}},
          {"id": "deploy", "runner": "Deploy"}],
         "notifications": [
           {"on": "failed", "runner": "Email", "config": {"from": "releases@example.com", "to": ["{{owner}}"],
            "subject": "{{notification.sequence}} failed for {{notification.subject}} at {{notification.step}}",
            "text": "{{notification.reason}} (attempts: {{notification.attempts}}, after {{notification.duration}})"}},
           {"on": "completed", "runner": "Email", "config": {"from": "releases@example.com", "to": ["{{owner}}"],
            "subject": "{{notification.subject}} released in {{notification.duration}}", "text": "done"}},
           {"on": "retrying", "afterRetries": 2, "runner": "Email", "config": {"from": "releases@example.com", "to": ["{{owner}}"],
            "subject": "{{notification.subject}} retried {{notification.attempts}} times", "text": "{{notification.reason}}"}}]}
        """

    @Test func eachKindMailsItsOperatorOnceWithTheReasonAttemptsAndDuration() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let client = try await TestPostgres.shared.client()
        let store = try PostgresStore(client: client, configuration: .init(schema: TestPostgres.uniqueSchema("notify")),
                                      logger: TestPostgres.quietLogger)
        try await store.migrate()
        var configuration = Sequencer.Configuration()
        configuration.retry = RetryPolicy(maxAttempts: 3, baseDelay: .seconds(10), maxDelay: .seconds(10), jitter: 0)
        let sequencer = Sequencer(store: store, runners: .builtIn + [
            Deploy(), EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()), ledger: store),
        ], configuration: configuration)
        try await sequencer.register(json: Self.release)
        var ids: [String: UUID] = [:]
        for subject in ["v-bad", "v-slow", "v-good"] {
            ids[subject] = try await sequencer.enroll(subject, in: "release", context: ["owner": "ops@example.com"], now: t0)
        }
        // Every 10 s for five minutes: the slow one retries twice, then fails on its third attempt.
        for step in 0...30 { try await sequencer.tick(now: t0.addingTimeInterval(Double(step) * 10)) }

        let subjects = try server.mail().compactMap { $0.header("Subject") }.sorted()
        #expect(subjects == [
            "release failed for v-bad at deploy", "release failed for v-slow at deploy",
            "v-good released in 1 m 30 s", "v-slow retried 2 times",
        ], "\(subjects)")
        let bad = try server.mail().first { $0.header("Subject") == "release failed for v-bad at deploy" }
        #expect(bad?.body("text/plain") == "exit 2: migration 0042 failed (attempts: 0, after 1 m 30 s)")
        #expect(try server.mail().allSatisfy { $0.rcptTos == ["ops@example.com"] })
        #expect(try await sequencer.enrollment(ids["v-bad"]!).status == .failed)
        #expect(try await sequencer.enrollment(ids["v-slow"]!).status == .failed)
        #expect(try await sequencer.enrollment(ids["v-good"]!).status == .completed)
        let sent = try await client.query("""
            SELECT step_id, status FROM \(unescaped: "\"\(store.configuration.schema)\"").deliveries ORDER BY step_id
            """, logger: TestPostgres.quietLogger).collect().map { try $0.decode((String, String).self) }
        #expect(sent.map(\.0) == ["$notify.completed", "$notify.failed", "$notify.failed", "$notify.retrying"]
                && sent.allSatisfy { $0.1 == "sent" }, "\(sent)")
        try await client.query("DROP SCHEMA \(unescaped: "\"\(store.configuration.schema)\"") CASCADE", logger: TestPostgres.quietLogger)
    }
}
