import Foundation
public import Sequencer
import Synchronization

// A sequence's notifications through the engine and the store's own deliveries ledger (the
// store itself when it is one, as PostgresStore is): each goes once, and a failure or completion
// waits for its message.

extension StoreConformance {
    /// The notification checks (part of ``checks``).
    static let notificationChecks: [Check] = [
        Check(name: "a failure or completion waits for its notification, sent once even when the commit is lost",
              body: notificationsHoldTheirTransitions),
        Check(name: "a retrying notification goes once, after the configured number of retries",
              body: retryingNotificationGoesOnce),
    ]

    /// Records every email; answers a temporary failure while `down`.
    final class RecordingMailer: EmailTransport {
        let sent = Mutex<[EmailMessage]>([])
        let down = Mutex(false)
        func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
            if down.withLock({ $0 }) { return messages.map { _ in .temporaryFailure("421 try again later") } }
            sent.withLock { $0.append(contentsOf: messages) }
            return messages.map { .sent(providerID: "<\($0.idempotencyKey)>") }
        }
        func subjects() -> [String] { sent.withLock { $0.map(\.subject) } }
    }

    /// Fails subjects starting with "bad", retries those starting with "slow", passes the others.
    struct Outcomes: TaskRunner {
        let name = "Outcomes"
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { input in
                if input.subject.hasPrefix("bad") { return input.result(.fail("exit 2")) }
                if input.subject.hasPrefix("slow") { return input.result(.retry("the API timed out")) }
                return input.result(.next)
            }
        }
    }

    /// A store whose next commit fails without writing: the process died after the sends.
    final class LosingStore: ForwardingStore {
        let inner: any SequenceStore
        let loseNext = Mutex(false)
        init(_ inner: any SequenceStore) { self.inner = inner }
        struct Lost: Error {}
        func commit(_ request: CommitRequest) async throws -> CommitResult {
            if loseNext.withLock({ flag in defer { flag = false }; return flag }) { throw Lost() }
            return try await inner.commit(request)
        }
    }

    static let notifyingJob = """
        {"name": "nightly", "version": 1, "steps": [{"id": "work", "runner": "Outcomes"}],
         "notifications": [
           {"on": "failed", "runner": "Email", "config": {"from": "jobs@example.com", "to": ["ops@example.com"],
            "subject": "{{notification.sequence}} failed for {{notification.subject}} at {{notification.step}}: {{notification.reason}}",
            "text": "after {{notification.attempts}} attempts, {{notification.duration}}"}},
           {"on": "completed", "runner": "Email", "config": {"from": "jobs@example.com", "to": ["ops@example.com"],
            "subject": "{{notification.subject}} done in {{notification.duration}}", "text": "ok"}},
           {"on": "retrying", "afterRetries": 2, "runner": "Email", "config": {"from": "jobs@example.com", "to": ["ops@example.com"],
            "subject": "{{notification.subject}} retried {{notification.attempts}} times: {{notification.reason}}", "text": "…"}}
         ]}
        """

    static func notificationsHoldTheirTransitions(_ store: any SequenceStore) async throws {
        let mailer = RecordingMailer()
        let ledger = (store as? any DeliveryLedger) ?? InMemoryDeliveryLedger()
        let losing = LosingStore(store)
        var configuration = Sequencer.Configuration()
        configuration.retry.jitter = 0
        // PostgreSQL leases run on the database's clock: a short one, waited out for real below.
        configuration.leaseDuration = .seconds(1)
        let sequencer = Sequencer(store: losing, runners: .builtIn + [Outcomes(), EmailRunner(transport: mailer, ledger: ledger)],
                                  configuration: configuration)
        try await sequencer.register(json: notifyingJob)

        // The transport is down: the failure waits, the enrollment stays at its step.
        mailer.down.withLock { $0 = true }
        let bad = try await sequencer.enroll("bad-1", in: "nightly", now: t0)
        _ = try await sequencer.tick(now: t0)
        let held = try await sequencer.enrollment(bad)
        let heldNote = try await sequencer.history(of: bad).last
        try expect(held.status == .active && held.stepID == "work" && held.nextRunAt == t0.addingTimeInterval(10),
                   "held at its step until the retry delay: \(held)")
        try expect(heldNote?.kind == .notified
                   && heldNote?.message?.hasPrefix("the failed notification was not sent: ") == true
                   && heldNote?.message?.contains("421 try again later") == true,
                   "says why: \(String(describing: heldNote))")

        // Back up: the failure goes out once and the enrollment fails.
        mailer.down.withLock { $0 = false }
        let later = t0.addingTimeInterval(10)
        _ = try await sequencer.tick(now: later)
        let failed = try await sequencer.enrollment(bad)
        try expect(failed.status == .failed && failed.lastError == "exit 2", "failed with its own reason: \(failed)")
        try expect(mailer.subjects() == ["nightly failed for bad-1 at work: exit 2"], "one email: \(mailer.subjects())")
        let kinds = try await sequencer.history(of: bad).map(\.kind)
        try expect(kinds.suffix(2) == [.failed, .notified], "failed, then notified: \(kinds)")

        // The commit after the send is lost: the next tick repeats the step, the ledger keeps the
        // message from going twice.
        let crash = try await sequencer.enroll("bad-2", in: "nightly", now: later)
        losing.loseNext.withLock { $0 = true }
        do {
            _ = try await sequencer.tick(now: later)
            throw ConformanceFailure("the lost commit must fail the tick")
        } catch is LosingStore.Lost {}
        try await Task.sleep(for: .milliseconds(1100))   // the lease expires
        _ = try await sequencer.tick(now: later.addingTimeInterval(61))
        let repeated = try await sequencer.enrollment(crash)
        let repeatedHistory = try await sequencer.history(of: crash).map { "\($0.kind) \($0.message ?? "")" }
        try expect(repeated.status == .failed, "failed after the repeat: \(repeated), \(repeatedHistory)")
        try expect(mailer.subjects().filter { $0.contains("bad-2") }.count == 1, "sent once: \(mailer.subjects())")

        let good = try await sequencer.enroll("good-1", in: "nightly", now: later)
        _ = try await sequencer.tick(now: later.addingTimeInterval(200))
        try expect(try await sequencer.enrollment(good).status == .completed, "completed")
        try expect(mailer.subjects().last == "good-1 done in 3 m 20 s", "completion email: \(mailer.subjects())")
    }

    static func retryingNotificationGoesOnce(_ store: any SequenceStore) async throws {
        let mailer = RecordingMailer()
        let ledger = (store as? any DeliveryLedger) ?? InMemoryDeliveryLedger()
        var configuration = Sequencer.Configuration()
        configuration.retry = RetryPolicy(maxAttempts: 4, baseDelay: .seconds(10), maxDelay: .seconds(10), jitter: 0)
        let sequencer = Sequencer(store: store, runners: .builtIn + [Outcomes(), EmailRunner(transport: mailer, ledger: ledger)],
                                  configuration: configuration)
        try await sequencer.register(json: notifyingJob)
        let slow = try await sequencer.enroll("slow-1", in: "nightly", now: t0)
        for n in 0..<4 { _ = try await sequencer.tick(now: t0.addingTimeInterval(Double(n) * 10)) }
        let e = try await sequencer.enrollment(slow)
        try expect(e.status == .failed, "gave up after four attempts: \(e)")
        try expect(mailer.subjects() == ["slow-1 retried 2 times: the API timed out",
                                         "nightly failed for slow-1 at work: gave up after 4 attempts: the API timed out"],
                   "one retrying email, then the failure: \(mailer.subjects())")
    }
}
