import Foundation
import Testing
@testable import Sequencer
import SequencerTesting

@Suite("Engine")
struct EngineTests {
    @Test func stepsThatFinishAtOnceRunInOneTickAndComplete() async throws {
        let record = RecordingRunner()
        let sequencer = makeSequencer([record])
        try await sequencer.register(SequenceDefinition(name: "s") {
            Step(id: "one", runner: "Record")
            Step(id: "two", runner: "Record")
        })
        let ids = try await sequencer.enroll((0..<3).map { EnrollmentRequest(subject: "u\($0)") }, in: "s", now: t0)
        let report = try await sequencer.tick(now: t0)
        #expect(report.claimed == 3 && report.steps == 6 && report.completed == 3)
        #expect(record.batches.map(\.count) == [3, 3], "one runner call per (sequence, step) group")
        for id in ids {
            let e = try await sequencer.enrollment(id)
            #expect(e.status == .completed && e.stepID == nil && e.nextRunAt == nil)
            #expect(try await sequencer.path(of: id) == ["one", "two", "$end"])
        }
        #expect(try await sequencer.tick(now: t0.addingTimeInterval(3600)).claimed == 0)
    }

    @Test func altNextTakesTheAlternativeBranch() async throws {
        let record = RecordingRunner(actions: ["alt": .altNext])
        let sequencer = makeSequencer([record])
        try await sequencer.register(SequenceDefinition(name: "s") {
            Step(id: "check", runner: "Record", altNext: "other")
            Step(id: "main", runner: "GoTo", config: ["target": "$end"])
            Step(id: "other", runner: "Record")
        })
        let main = try await sequencer.enroll("main", in: "s", now: t0)
        let alt = try await sequencer.enroll("alt", in: "s", now: t0)
        try await sequencer.tick(now: t0)
        #expect(try await sequencer.path(of: main) == ["check", "main", "$end"])
        #expect(try await sequencer.path(of: alt) == ["check", "other", "$end"])
        #expect(try await sequencer.history(of: alt).contains { $0.kind == .altAdvanced && $0.toStep == "other" })
    }

    @Test func altNextWithoutAltTargetGoesToNext() async throws {
        let record = RecordingRunner(actions: ["u": .altNext])
        let sequencer = makeSequencer([record])
        try await sequencer.register(SequenceDefinition(name: "s") {
            Step(id: "check", runner: "Record", next: "last")
            Step(id: "skipped", runner: "Record")
            Step(id: "last", runner: "GoTo", config: ["target": "$end"])
        })
        let id = try await sequencer.enroll("u", in: "s", now: t0)
        try await sequencer.tick(now: t0)
        #expect(try await sequencer.path(of: id) == ["check", "last", "$end"])
    }

    @Test func goToLoopYieldsAtTheStepBudgetAndResumesNextTick() async throws {
        let record = RecordingRunner()
        let sequencer = makeSequencer([record]) { $0.stepBudget = 10 }
        try await sequencer.register(SequenceDefinition(name: "loop") {
            Step(id: "work", runner: "Record")
            Step(id: "again", runner: "GoTo", config: ["target": "work"])
        })
        let id = try await sequencer.enroll("u", in: "loop", now: t0)
        let report = try await sequencer.tick(now: t0)
        #expect(report.steps == 10 && report.budgetExhausted == 1 && report.batches == 1)
        let e = try await sequencer.enrollment(id)
        #expect(e.status == .active && e.nextRunAt == t0.addingTimeInterval(1))
        #expect(try await sequencer.history(of: id).last?.kind == .budgetExhausted)
        #expect(try await sequencer.tick(now: t0).claimed == 0, "it does not spin within the same instant")
        #expect(try await sequencer.tick(now: t0.addingTimeInterval(1)).steps == 10)
    }

    @Test func goToOnlyCycleIsRejectedAtRegister() async throws {
        let sequencer = makeSequencer()
        let error = try await #require(throws: SequencerError.self) {
            try await sequencer.register(SequenceDefinition(name: "spin") {
                Step(id: "a", runner: "GoTo", config: ["target": "b"])
                Step(id: "b", runner: "GoTo", config: ["target": "a"])
            })
        }
        #expect(error.code == .goToCycle && error.sequence == "spin" && error.step == "a" && error.field == "config.target")
        #expect(try await sequencer.store.definition(named: "spin", version: nil) == nil)
    }

    @Test func thrownErrorsRetryWithBackoffThenFail() async throws {
        let sequencer = makeSequencer([ThrowingRunner()]) {
            $0.retry = RetryPolicy(maxAttempts: 3, baseDelay: .seconds(10), maxDelay: .seconds(3600), jitter: 0)
        }
        try await sequencer.register(SequenceDefinition(name: "s") { Step(id: "send", runner: "Throw") })
        let id = try await sequencer.enroll("u", in: "s", now: t0)
        var r = try await sequencer.tick(now: t0)
        #expect(r.retried == 1)
        var e = try await sequencer.enrollment(id)
        #expect(e.attempts == 1 && e.nextRunAt == t0.addingTimeInterval(10) && e.lastError == "provider unavailable")
        #expect(try await sequencer.tick(now: t0.addingTimeInterval(9)).claimed == 0, "not before the backoff")
        r = try await sequencer.tick(now: t0.addingTimeInterval(10))
        e = try await sequencer.enrollment(id)
        #expect(r.retried == 1 && e.attempts == 2 && e.nextRunAt == t0.addingTimeInterval(30), "delay doubles: 10 s then 20 s")
        r = try await sequencer.tick(now: t0.addingTimeInterval(30))
        e = try await sequencer.enrollment(id)
        #expect(r.failed == 1 && e.status == .failed && e.nextRunAt == nil)
        let last = try #require(try await sequencer.history(of: id).last)
        #expect(last.kind == .failed && last.message?.contains("provider unavailable") == true)
        #expect(last.message?.contains("3 attempts") == true)
    }

    @Test func retryDelayHasJitterWithinBounds() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: .seconds(10), maxDelay: .seconds(60), jitter: 0.2)
        #expect(policy.delay(forRetry: 1, random: -1) == 8)
        #expect(policy.delay(forRetry: 1, random: 1) == 12)
        #expect(policy.delay(forRetry: 3, random: 0) == 40)
        #expect(policy.delay(forRetry: 9, random: 0) == 60, "capped")
        let samples = (0..<50).map { _ in policy.delay(forRetry: 2) }
        #expect(samples.allSatisfy { (16...24).contains($0) } && Set(samples).count > 1)
    }

    @Test func runnerFailFailsOnlyThatEnrollment() async throws {
        let record = RecordingRunner(actions: ["bad": .fail("no address")])
        let sequencer = makeSequencer([record])
        try await sequencer.register(SequenceDefinition(name: "s") { Step(id: "x", runner: "Record") })
        let bad = try await sequencer.enroll("bad", in: "s", now: t0)
        let good = try await sequencer.enroll("good", in: "s", now: t0)
        let report = try await sequencer.tick(now: t0)
        #expect(report.failed == 1 && report.completed == 1)
        #expect(try await sequencer.enrollment(bad).status == .failed)
        #expect(try await sequencer.enrollment(bad).lastError == "no address")
        #expect(try await sequencer.enrollment(good).status == .completed)
    }

    @Test func idempotentEnrollReturnsTheSameEnrollment() async throws {
        let sequencer = makeSequencer()
        try await sequencer.register(SequenceDefinition(name: "s") { Step(id: "w", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"]) })
        let a = try await sequencer.enroll("u", in: "s", context: ["n": 1], idempotencyKey: "signup-u", now: t0)
        let b = try await sequencer.enroll("u", in: "s", context: ["n": 2], idempotencyKey: "signup-u", now: t0)
        let c = try await sequencer.enroll("u", in: "s", idempotencyKey: "other", now: t0)
        #expect(a == b && a != c)
        #expect(try await sequencer.enrollment(a).context == ["n": 1])
    }

    @Test func enrollmentStaysOnItsVersion() async throws {
        let record = RecordingRunner()
        let sequencer = makeSequencer([record])
        try await sequencer.register(SequenceDefinition(name: "s", version: 1) {
            Step(id: "w", runner: "WaitForDuration", config: ["amount": 1, "unit": "hours"])
            Step(id: "v1-only", runner: "Record")
        })
        let old = try await sequencer.enroll("old", in: "s", now: t0)
        try await sequencer.register(SequenceDefinition(name: "s", version: 2) {
            Step(id: "w", runner: "WaitForDuration", config: ["amount": 1, "unit": "hours"])
            Step(id: "v2-only", runner: "Record")
        })
        let new = try await sequencer.enroll("new", in: "s", now: t0)
        try await sequencer.run(from: t0, to: t0.addingTimeInterval(3600), every: 3600)
        #expect(try await sequencer.enrollment(old).sequenceVersion == 1)
        #expect(try await sequencer.path(of: old) == ["w", "v1-only", "$end"])
        #expect(try await sequencer.path(of: new) == ["w", "v2-only", "$end"])
    }

    @Test func configTemplatesRenderAgainstTheContext() async throws {
        let record = RecordingRunner()
        let sequencer = makeSequencer([record])
        try await sequencer.register(SequenceDefinition(name: "s") {
            Step(id: "x", runner: "Record", config: ["subject": "Hi {{user.firstName}} & co", "to": ["{{email}}"],
                                                      "html": "<b>{{user.firstName}}</b>", "n": 3])
        })
        try await sequencer.enroll("u", in: "s", context: ["user": ["firstName": "<Ada>"], "email": "ada@example.com"], now: t0)
        try await sequencer.tick(now: t0)
        let config = try #require(record.batches.first?.first?.config)
        #expect(config["subject"] == "Hi <Ada> & co", "text fields are not HTML-escaped")
        #expect(config["to"] == ["ada@example.com"])
        #expect(config["html"] == "<b>&lt;Ada&gt;</b>", "html fields escape values")
        #expect(config["n"] == 3)
    }

    @Test func pauseResumeAndCancel() async throws {
        let sequencer = makeSequencer()
        try await sequencer.register(SequenceDefinition(name: "s") {
            Step(id: "w", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"])
        })
        let id = try await sequencer.enroll("u", in: "s", now: t0)
        try await sequencer.pause(id, now: t0)
        #expect(try await sequencer.tick(now: t0.addingTimeInterval(7200)).claimed == 0)
        try await sequencer.resume(id, now: t0.addingTimeInterval(7200))
        #expect(try await sequencer.tick(now: t0.addingTimeInterval(7200)).waiting == 1, "resumed: due at once, still waiting")
        #expect(try await sequencer.enrollment(id).nextRunAt == t0.addingTimeInterval(86_400), "the wait still counts from step entry")
        try await sequencer.cancel(id, now: t0.addingTimeInterval(7300))
        #expect(try await sequencer.tick(now: t0.addingTimeInterval(86_400)).claimed == 0, "cancelled is never claimed")
        #expect(try await sequencer.enrollment(id).status == .cancelled)
        await #expect(throws: SequencerError.self) { try await sequencer.resume(id) }
    }

    @Test func unknownSequenceAndEnrollmentAreNamedErrors() async throws {
        let sequencer = makeSequencer()
        let e1 = try await #require(throws: SequencerError.self) { try await sequencer.enroll("u", in: "nope") }
        #expect(e1.code == .unknownSequence && e1.sequence == "nope")
        let e2 = try await #require(throws: SequencerError.self) { try await sequencer.enrollment(UUID()) }
        #expect(e2.code == .unknownEnrollment)
        try await sequencer.register(SequenceDefinition(name: "s") { Step(id: "x", runner: "GoTo", config: ["target": "$end"]) })
        let e3 = try await #require(throws: SequencerError.self) { try await sequencer.enroll("u", in: "s", context: [1, 2]) }
        #expect(e3.code == .invalidContext && e3.field == "context")
    }

    static let unstorable: [(context: JSONValue, field: String)] = [
        (["profile": ["name": "a\u{0}b"]], "context.profile.name"),
        (["tags": ["ok", .number(.nan)]], "context.tags[1]"),
        (["score": .number(.infinity)], "context.score"),
        (["bad\u{0}key": true], "context.bad\u{0}key"),
    ]

    @Test(arguments: unstorable)
    func contextsNoStoreCanKeepAreRefusedNamingThePlace(_ example: (context: JSONValue, field: String)) async throws {
        let (context, field) = example
        let store = InMemoryStore()
        let sequencer = Sequencer(store: store)
        try await sequencer.register(SequenceDefinition(name: "s") { Step(id: "x", runner: "GoTo", config: ["target": "$end"]) })
        let requests = [EnrollmentRequest(subject: "fine"), EnrollmentRequest(subject: "bad", context: context)]
        let error = try await #require(throws: SequencerError.self) { try await sequencer.enroll(requests, in: "s") }
        #expect(error.code == .invalidContext && error.sequence == "s" && error.field == field, "\(error)")
        #expect(store.allEnrollments().isEmpty, "a bulk enroll with one bad request stores none")

        let id = try await sequencer.enroll("ok", in: "s")
        let update = try await #require(throws: SequencerError.self) {
            try await sequencer.updateContext(id, merging: context.objectValue!)
        }
        #expect(update.code == .invalidContext && update.field == field)
        #expect(update.sequence == "s" && update.step == "x", "the store names where the enrollment is: \(update)")
        #expect(try await sequencer.enrollment(id).context == [:], "a refused update changes nothing")
    }

    @Test func nulInSubjectOrIdempotencyKeyIsRefused() async throws {
        let sequencer = makeSequencer()
        try await sequencer.register(SequenceDefinition(name: "s") { Step(id: "x", runner: "GoTo", config: ["target": "$end"]) })
        let subject = try await #require(throws: SequencerError.self) { try await sequencer.enroll("a\u{0}", in: "s") }
        #expect(subject.field == "subject")
        let key = try await #require(throws: SequencerError.self) {
            try await sequencer.enroll("a", in: "s", idempotencyKey: "k\u{0}")
        }
        #expect(key.field == "idempotencyKey")
    }

    @Test func runnerThatOmitsAResultRetriesThatEnrollment() async throws {
        struct Forgetful: TaskRunner {
            let name = "Forgetful"
            func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { [] }
        }
        let sequencer = makeSequencer([Forgetful()])
        try await sequencer.register(SequenceDefinition(name: "s") { Step(id: "x", runner: "Forgetful") })
        let id = try await sequencer.enroll("u", in: "s", now: t0)
        #expect(try await sequencer.tick(now: t0).retried == 1)
        #expect(try await sequencer.enrollment(id).lastError?.contains("no result") == true)
    }
}

@Suite("UUID version 7")
struct UUIDVersion7Tests {
    @Test func carriesVersionVariantAndTimeOrder() {
        let early = UUID.version7(at: Date(timeIntervalSince1970: 1_700_000_000))
        let late = UUID.version7(at: Date(timeIntervalSince1970: 1_700_000_001))
        for id in [early, late] {
            #expect(id.uuid.6 >> 4 == 7, "version nibble")
            #expect(id.uuid.8 >> 6 == 0b10, "RFC variant")
        }
        #expect(early.uuidString < late.uuidString, "later ids sort after earlier ones")
        #expect(early.uuidString.hasPrefix("018BCFE5-6800"), "48-bit millisecond timestamp first: \(early)")
        #expect(Set((0..<1000).map { _ in UUID.version7() }).count == 1000)
    }
}
