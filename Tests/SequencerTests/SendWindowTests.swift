import Foundation
import Sequencer
import SequencerTesting
import Testing

// Expected instants are written out in UTC by hand (2026: March 7 is a Saturday; US DST from
// March 8 07:00Z to November 1 06:00Z; Paris is UTC+1 until March 29), never computed with the
// code under test.

/// Send windows (quiet hours): the window math, the WaitForWindow step, and message steps that
/// come due outside their sequence's window.
@Suite("Send windows")
struct SendWindowTests {
    static func at(_ iso: String) -> Date { ISO8601DateFormatter().date(from: iso)! }
    static func zone(_ id: String) -> TimeZone { TimeZone(identifier: id)! }

    @Test(arguments: [
        // Business hours in Paris.
        ("Europe/Paris", [1, 2, 3, 4, 5], "09:00", "17:30", "2026-03-07T09:00:00Z", "2026-03-09T08:00:00Z"),
        ("Europe/Paris", [1, 2, 3, 4, 5], "09:00", "17:30", "2026-03-10T11:00:00Z", "2026-03-10T11:00:00Z"),
        ("Europe/Paris", [1, 2, 3, 4, 5], "09:00", "17:30", "2026-03-10T16:30:00Z", "2026-03-11T08:00:00Z"),
        ("Europe/Paris", [1, 2, 3, 4, 5], "09:00", "17:30", "2026-03-13T16:29:00Z", "2026-03-13T16:29:00Z"),
        // Past midnight, every day.
        ("UTC", [0, 1, 2, 3, 4, 5, 6], "22:00", "06:00", "2026-03-10T23:00:00Z", "2026-03-10T23:00:00Z"),
        ("UTC", [0, 1, 2, 3, 4, 5, 6], "22:00", "06:00", "2026-03-11T05:59:00Z", "2026-03-11T05:59:00Z"),
        ("UTC", [0, 1, 2, 3, 4, 5, 6], "22:00", "06:00", "2026-03-11T06:00:00Z", "2026-03-11T22:00:00Z"),
        // Past midnight on Fridays only: Saturday early morning belongs to Friday's window.
        ("UTC", [5], "22:00", "06:00", "2026-03-14T03:00:00Z", "2026-03-14T03:00:00Z"),
        ("UTC", [5], "22:00", "06:00", "2026-03-14T23:00:00Z", "2026-03-20T22:00:00Z"),
        ("UTC", [5], "22:00", "06:00", "2026-03-12T23:00:00Z", "2026-03-13T22:00:00Z"),
        // Spring forward in New York: 02:30 does not exist on March 8; the window opens at 03:00 EDT.
        ("America/New_York", [0, 1, 2, 3, 4, 5, 6], "02:30", "04:00", "2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"),
        ("America/New_York", [0, 1, 2, 3, 4, 5, 6], "02:30", "04:00", "2026-03-08T07:30:00Z", "2026-03-08T07:30:00Z"),
        // Fall back: 01:30 comes twice on November 1; the window opens at the first (EDT).
        ("America/New_York", [0, 1, 2, 3, 4, 5, 6], "01:30", "03:00", "2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z"),
        ("America/New_York", [0, 1, 2, 3, 4, 5, 6], "01:30", "03:00", "2026-11-01T06:45:00Z", "2026-11-01T06:45:00Z"),
    ])
    func nextOpening(_ zone: String, _ days: [Int], _ from: String, _ to: String, _ now: String, _ expected: String) throws {
        let window = try SendWindow(days: Set(days), from: from, to: to)
        #expect(window.nextOpening(atOrAfter: Self.at(now), in: Self.zone(zone)) == Self.at(expected))
        #expect(window.isOpen(at: Self.at(now), in: Self.zone(zone)) == (now == expected))
    }

    @Test func badWindowsAreRefusedNamingTheSequenceStepAndField() async throws {
        let badStep = """
            {"name": "w", "version": 1, "steps": [{"id": "send", "runner": "GoTo", "config": {"target": "$end"},
              "window": {"from": "9am", "to": "17:00"}}]}
            """
        #expect {
            try SequenceDefinition(json: badStep)
        } throws: { error in
            let error = error as! SequencerError
            return error.step == "send" && error.field == "window.from" && error.message.contains("HH:MM")
        }
        let badSequence = """
            {"name": "w", "version": 1, "sendWindow": {"days": [7], "from": "09:00", "to": "17:00"},
             "steps": [{"id": "send", "runner": "GoTo", "config": {"target": "$end"}}]}
            """
        #expect {
            try SequenceDefinition(json: badSequence)
        } throws: { error in
            let error = error as! SequencerError
            return error.sequence == "w" && error.field == "sendWindow.days" && error.message.contains("Saturday")
        }
        #expect(throws: SequencerError.self) { try SendWindow(from: "09:00", to: "09:00") }
        #expect(throws: SequencerError.self) { try SendWindow(from: "24:00", to: "09:00") }
        let sequencer = Sequencer(store: InMemoryStore())
        let badConfig = SequenceDefinition(name: "w", version: 1, steps: [
            Step(id: "wait", runner: "WaitForWindow", config: ["from": "09:00", "to": "25:00"]),
        ])
        await #expect {
            try await sequencer.register(badConfig)
        } throws: { error in
            let error = error as! SequencerError
            return error.step == "wait" && error.field == "config.to"
        }
    }

    @Test func aDefinitionWithWindowsReadsBackEqual() throws {
        var definition = SequenceDefinition(name: "w", version: 1, steps: [
            Step(id: "send", runner: "GoTo", config: ["target": "$end"]),
        ])
        definition.sendWindow = try SendWindow(days: [1, 2, 3], from: "08:15", to: "24:00")
        definition.steps[0].window = try SendWindow(from: "22:00", to: "06:00")
        definition.uniqueSubject = .reject
        let read = try SequenceDefinition(json: String(decoding: try definition.jsonData(), as: UTF8.self))
        #expect(read == definition)
    }

    /// A message step: moves on, counting what it sent.
    struct FakeSend: TaskRunner {
        let name = "FakeSend"
        var sendsMessages: Bool { true }
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next, message: "sent") } }
    }

    @Test func aMessageStepDueOutsideItsSequencesWindowWaitsUntilItOpensAndSaysWhy() async throws {
        var definition = SequenceDefinition(name: "quiet", version: 1, timeZone: "Europe/Paris", steps: [
            .goTo("start", target: "send"),
            Step(id: "send", runner: "FakeSend"),
        ])
        definition.sendWindow = try SendWindow(days: [1, 2, 3, 4, 5], from: "09:00", to: "17:30")
        let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + [FakeSend()])
        try await sequencer.register(definition)
        let saturday = Self.at("2026-03-07T09:00:00Z"), monday = Self.at("2026-03-09T08:00:00Z")
        let id = try await sequencer.enroll("someone", in: "quiet", now: saturday)
        try await sequencer.tick(now: saturday)
        var e = try await sequencer.enrollment(id)
        #expect(e.stepID == "send" && e.nextRunAt == monday, "the GoTo ran; the send waits for Monday 09:00 Paris")
        let waiting = try await sequencer.history(of: id).last
        #expect(waiting?.kind == .waiting
                && waiting?.message == "outside its send window Mon–Fri 09:00–17:30 (Europe/Paris); waits until 2026-03-09T08:00:00.000Z",
                "\(String(describing: waiting))")
        try await sequencer.tick(now: monday.addingTimeInterval(-1))
        #expect(try await sequencer.enrollment(id).status == .active, "not a second early")
        try await sequencer.tick(now: monday)
        e = try await sequencer.enrollment(id)
        #expect(e.status == .completed)
        #expect(try await sequencer.history(of: id).contains { $0.message == "sent" })
    }

    @Test func aStepsOwnWindowAppliesToAnyRunnerAndWaitForWindowWaits() async throws {
        var definition = SequenceDefinition(name: "windows", version: 1, steps: [
            Step(id: "evening", runner: "WaitForWindow", config: ["from": "18:00", "to": "23:00"]),
            .goTo("night-only", target: Step.end),
        ])
        definition.steps[1].window = try SendWindow(from: "22:00", to: "06:00")
        let sequencer = Sequencer(store: InMemoryStore())
        try await sequencer.register(definition)
        let noon = Self.at("2026-03-10T12:00:00Z")
        let id = try await sequencer.enroll("someone", in: "windows", now: noon)
        try await sequencer.tick(now: noon)
        #expect(try await sequencer.enrollment(id).nextRunAt == Self.at("2026-03-10T18:00:00Z"))
        let waiting = try await sequencer.history(of: id).last
        #expect(waiting?.message?.hasPrefix("outside every day 18:00–23:00 (") == true, "\(String(describing: waiting))")
        try await sequencer.tick(now: Self.at("2026-03-10T18:00:00Z"))
        var e = try await sequencer.enrollment(id)
        #expect(e.stepID == "night-only" && e.nextRunAt == Self.at("2026-03-10T22:00:00Z"), "the GoTo's own window")
        try await sequencer.tick(now: Self.at("2026-03-10T22:00:00Z"))
        e = try await sequencer.enrollment(id)
        #expect(e.status == .completed)
    }
}
