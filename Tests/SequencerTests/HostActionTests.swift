import Foundation
import Synchronization
import Testing
import Sequencer
import SequencerTesting

/// The host's everyday calls beyond enroll/pause/resume/cancel: retry, move, and the lookups.
@Suite("Host actions")
struct HostActionTests {
    /// Throws while `down` is set, then moves on.
    final class Outage: TaskRunner {
        let name = "Outage"
        let down = Mutex(true)
        let runs = Mutex(0)
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            runs.withLock { $0 += batch.count }
            if down.withLock({ $0 }) { throw ThrowingRunner.Boom() }
            return batch.map { $0.result(.next) }
        }
    }

    @Test func aFailedEnrollmentRetriedByTheHostRunsItsStepAgainAndCompletes() async throws {
        let outage = Outage()
        let sequencer = makeSequencer([outage]) { $0.retry.maxAttempts = 1 }
        try await sequencer.register(SequenceDefinition(name: "s") { Step(id: "call", runner: "Outage") })
        let id = try await sequencer.enroll("u", in: "s", now: t0)
        #expect(try await sequencer.tick(now: t0).failed == 1)
        outage.down.withLock { $0 = false }
        #expect(try await sequencer.tick(now: t0.addingTimeInterval(60)).claimed == 0, "a failed enrollment is never claimed")

        let retried = try await sequencer.retry(id, by: "ops", now: t0.addingTimeInterval(60))
        #expect(retried.status == .active && retried.attempts == 0 && retried.stepID == "call")
        #expect(try await sequencer.tick(now: t0.addingTimeInterval(60)).completed == 1)
        #expect(outage.runs.withLock { $0 } == 2, "the step ran once more")
        let kinds = try await sequencer.history(of: id).map(\.kind)
        #expect(kinds == [.enrolled, .failed, .retried, .advanced, .completed], "got \(kinds)")
        await #expect(throws: SequencerError.self, "a completed enrollment cannot be retried") {
            try await sequencer.retry(id)
        }
    }

    @Test func moveSkipsAWaitAndAnUnknownStepIsNamed() async throws {
        let sequencer = makeSequencer()
        try await sequencer.register(SequenceDefinition(name: "s") {
            Step(id: "wait", runner: "WaitForDuration", config: ["amount": 3, "unit": "days"])
            Step(id: "after", runner: "WaitForDuration", config: ["amount": 1, "unit": "hours"])
        })
        let id = try await sequencer.enroll("u", in: "s", now: t0)
        _ = try await sequencer.tick(now: t0)
        let error = await #expect(throws: SequencerError.self) {
            try await sequencer.move(id, to: "aftr", now: t0)
        }
        #expect(error?.code == .unknownStepReference && error?.step == "aftr" && error?.sequence == "s")
        #expect(try await sequencer.enrollment(id).stepID == "wait", "nothing changed")

        let t1 = t0.addingTimeInterval(60)
        try await sequencer.move(id, to: "after", by: "support", now: t1)
        #expect(try await sequencer.tick(now: t1).waiting == 1, "due at once, then waits from its new step entry")
        #expect(try await sequencer.enrollment(id).nextRunAt == t1.addingTimeInterval(3600))
        let moved = try #require(try await sequencer.history(of: id).first { $0.kind == .moved })
        #expect(moved.fromStep == "wait" && moved.toStep == "after" && moved.message == "moved from wait to after (by support)")
    }

    @Test func enrollmentsAreFoundByIdempotencyKeyAndBySubject() async throws {
        let sequencer = makeSequencer()
        for name in ["welcome", "trial"] {
            try await sequencer.register(SequenceDefinition(name: name) {
                Step(id: "w", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"])
            })
        }
        let welcome = try await sequencer.enroll("user-42", in: "welcome", idempotencyKey: "signup-42", now: t0)
        let trial = try await sequencer.enroll("user-42", in: "trial", now: t0.addingTimeInterval(1))
        _ = try await sequencer.enroll("user-7", in: "trial", now: t0)
        #expect(try await sequencer.enrollment(sequence: "welcome", idempotencyKey: "signup-42")?.id == welcome)
        #expect(try await sequencer.enrollment(sequence: "trial", idempotencyKey: "signup-42") == nil, "keys are per sequence")
        #expect(try await sequencer.enrollments(subject: "user-42").map(\.id) == [trial, welcome])
    }
}

@Suite("Bulk actions and version migration")
struct BulkActionTests {
    static let v1 = SequenceDefinition(name: "drip", version: 1) {
        Step(id: "welcome", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"])
        Step(id: "old-nudge", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"])
    }
    static let v2 = SequenceDefinition(name: "drip", version: 2) {
        Step(id: "welcome", runner: "WaitForDuration", config: ["amount": 2, "unit": "days"])
        Step(id: "nudge", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"])
    }

    @Test func aBulkActionChangesWhatItAppliesToAndCountsTheRest() async throws {
        let sequencer = makeSequencer()
        try await sequencer.register(Self.v1)
        let ids = try await sequencer.enroll((0..<12).map { EnrollmentRequest(subject: "u\($0)") }, in: "drip", now: t0)
        try await sequencer.cancel(ids[0], now: t0)
        let paused = try await sequencer.apply(.pause, toEnrollmentsMatching: EnrollmentFilter(sequence: "drip"), by: "ops",
                                               now: t0, batchSize: 5)
        #expect(paused.changed == 11 && paused.skipped == 1 && paused.batches == 3, "\(paused)")
        let page = try await sequencer.enrollments(matching: EnrollmentFilter(status: .paused), limit: 100)
        #expect(page.enrollments.count == 11 && page.next == nil)
        let resumed = try await sequencer.apply(.resume, toEnrollmentsMatching: EnrollmentFilter(subject: "u3"), now: t0)
        #expect(resumed.changed == 1)
        #expect(try await sequencer.enrollment(ids[3]).status == .active)
        let none = try await sequencer.apply(.cancel, toEnrollmentsMatching: EnrollmentFilter(sequence: "nothing"), now: t0)
        #expect(none.changed == 0 && none.skipped == 0)
    }

    @Test func migrationMovesEnrollmentsThroughTheStepMapAndKeepsSameNamedSteps() async throws {
        let sequencer = makeSequencer()
        try await sequencer.register(Self.v1)
        let atWelcome = try await sequencer.enroll("a", in: "drip", now: t0)
        let atNudge = try await sequencer.enroll("b", in: "drip", now: t0)
        _ = try await sequencer.tick(now: t0)
        try await sequencer.move(atNudge, to: "old-nudge", now: t0)
        _ = try await sequencer.tick(now: t0)
        try await sequencer.register(Self.v2)

        let refused = await #expect(throws: SequencerError.self) {
            try await sequencer.migrateEnrollments(of: "drip", from: 1, to: 2, now: t0)
        }
        #expect(refused?.field == "stepMap" && refused?.message.contains("\"old-nudge\"") == true, "\(String(describing: refused))")
        #expect(try await sequencer.enrollment(atNudge).sequenceVersion == 1, "nothing changed")
        let badTarget = await #expect(throws: SequencerError.self) {
            try await sequencer.migrateEnrollments(of: "drip", from: 1, to: 2, stepMap: ["old-nudge": "nudj"], now: t0)
        }
        #expect(badTarget?.code == .unknownStepReference && badTarget?.step == "nudj")

        let t1 = t0.addingTimeInterval(3_600)
        let result = try await sequencer.migrateEnrollments(of: "drip", from: 1, to: 2, stepMap: ["old-nudge": "nudge"],
                                                            by: "deploy-42", now: t1)
        #expect(result.changed == 2 && result.skipped == 0)
        let welcome = try await sequencer.enrollment(atWelcome)
        #expect(welcome.sequenceVersion == 2 && welcome.stepID == "welcome" && welcome.visit == 1, "same step, same visit")
        #expect(try await sequencer.enrollment(atNudge).stepID == "nudge")
        _ = try await sequencer.tick(now: t1)
        #expect(try await sequencer.enrollment(atWelcome).nextRunAt == t0.addingTimeInterval(2 * 86_400),
                "the new version's two-day wait counts from the original step entry")
        let event = try #require(try await sequencer.history(of: atNudge).last { $0.kind == .migrated })
        #expect(event.message == "migrated from version 1 to 2, step old-nudge → nudge (by deploy-42)")
    }
}
