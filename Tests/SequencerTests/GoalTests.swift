import Foundation
import Testing
@testable import Sequencer
import SequencerTesting

@Suite("Goals")
struct GoalTests {
    /// welcome → wait 3 days → nudge → wait 3 days → last-chance → paid (goal: plan == "pro") → thanks
    static func drip() -> SequenceDefinition {
        SequenceDefinition(name: "drip") {
            Step(id: "welcome", runner: "Record")
            Step(id: "wait-1", runner: "WaitForDuration", config: ["amount": 3, "unit": "days"])
            Step(id: "nudge", runner: "Record")
            Step(id: "wait-2", runner: "WaitForDuration", config: ["amount": 3, "unit": "days"])
            Step(id: "last-chance", runner: "Record")
            Step(id: "paid", runner: "Goal", config: [
                "lodashCommand": "eq", "value": ["type": "get", "value": "plan"], "compareTo": ["type": "raw", "value": "pro"],
            ], altNext: "lost")
            Step(id: "thanks", runner: "Record", next: "$end")
            Step(id: "lost", runner: "Record")
        }
    }

    @Test func contextUpdateMeetingAGoalJumpsPastTheGoalOnTheNextTick() async throws {
        let record = RecordingRunner()
        let sequencer = makeSequencer([record])
        try await sequencer.register(Self.drip())
        let id = try await sequencer.enroll("u", in: "drip", context: ["plan": "free"], now: t0)
        try await sequencer.tick(now: t0)
        #expect(try await sequencer.enrollment(id).stepID == "wait-1")
        let oneDay = t0.addingTimeInterval(86_400)
        try await sequencer.updateContext(id, merging: ["plan": "pro"], now: oneDay)
        let report = try await sequencer.tick(now: oneDay)
        #expect(report.goalsReached == 1)
        #expect(try await sequencer.enrollment(id).status == .completed)
        #expect(try await sequencer.path(of: id) == ["welcome", "wait-1", "thanks", "$end"])
        let goalEvent = try #require(try await sequencer.history(of: id).first { $0.kind == .goalReached })
        #expect(goalEvent.fromStep == "wait-1" && goalEvent.toStep == "thanks" && goalEvent.message?.contains("paid") == true)
        #expect(!record.batches.flatMap { $0 }.contains { $0.step.id == "nudge" }, "nothing between was run")
    }

    @Test func goalAlreadyMetAtEnrollmentSkipsEverythingBeforeIt() async throws {
        let sequencer = makeSequencer([RecordingRunner()])
        try await sequencer.register(Self.drip())
        let id = try await sequencer.enroll("u", in: "drip", context: ["plan": "pro"], now: t0)
        try await sequencer.tick(now: t0)
        #expect(try await sequencer.path(of: id) == ["welcome", "thanks", "$end"])
    }

    @Test func goalReachedInOrderActsLikeAConditional() async throws {
        let sequencer = makeSequencer([RecordingRunner()])
        try await sequencer.register(Self.drip())
        let id = try await sequencer.enroll("u", in: "drip", context: ["plan": "free"], now: t0)
        try await sequencer.run(from: t0, to: t0.addingTimeInterval(7 * 86_400), every: 3600)
        #expect(try await sequencer.path(of: id) == ["welcome", "wait-1", "nudge", "wait-2", "last-chance", "paid", "lost", "$end"])
    }

    @Test func goalsBehindTheCursorAreNotRechecked() async throws {
        let record = RecordingRunner()
        let sequencer = makeSequencer([record])
        try await sequencer.register(SequenceDefinition(name: "after-goal") {
            Step(id: "vip", runner: "Goal", config: ["lodashCommand": "eq", "value": ["type": "get", "value": "vip"], "compareTo": ["type": "raw", "value": true]])
            Step(id: "perk", runner: "Record")
            Step(id: "wait", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"])
            Step(id: "perk-2", runner: "Record")
        })
        let id = try await sequencer.enroll("u", in: "after-goal", context: ["vip": true], now: t0)
        try await sequencer.run(from: t0, to: t0.addingTimeInterval(2 * 86_400), every: 3600)
        #expect(try await sequencer.path(of: id) == ["vip", "perk", "wait", "perk-2", "$end"])
    }

    @Test func updateContextOnAWaitKeepsTheSameWakeTime() async throws {
        let sequencer = makeSequencer([RecordingRunner()])
        try await sequencer.register(Self.drip())
        let id = try await sequencer.enroll("u", in: "drip", context: ["plan": "free"], now: t0)
        try await sequencer.tick(now: t0)
        let wake = try #require(try await sequencer.enrollment(id).nextRunAt)
        try await sequencer.updateContext(id, merging: ["note": "hello"], now: t0.addingTimeInterval(60))
        try await sequencer.tick(now: t0.addingTimeInterval(60))
        #expect(try await sequencer.enrollment(id).nextRunAt == wake, "a re-evaluated wait keeps its wake time")
        #expect(try await sequencer.enrollment(id).context["note"] == "hello")
    }
}
