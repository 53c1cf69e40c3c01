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
