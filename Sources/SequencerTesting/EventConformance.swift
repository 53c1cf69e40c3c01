import Foundation
public import Sequencer

// Events through the engine: what a store must do so an event reaches one enrollment or a whole
// subject atomically, and so WaitForEvent sees it.

extension StoreConformance {
    /// The event checks (part of ``checks``).
    static let eventChecks: [Check] = [
        Check(name: "an event reaches one enrollment, or every active and paused one of a subject, atomically",
              body: eventsReachEnrollments),
        Check(name: "WaitForEvent goes on when its event comes, earlier events included, and to altNext on timeout",
              body: waitForEventPaths),
    ]

    static let parkedDefinition = SequenceDefinition(name: "parked", version: 1, steps: [
        Step(id: "wait", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"]),
    ])

    static func eventsReachEnrollments(_ store: any SequenceStore) async throws {
        var configuration = Sequencer.Configuration()
        configuration.limits.maximumContextBytes = 300
        let sequencer = Sequencer(store: store, configuration: configuration)
        var other = parkedDefinition
        other.name = "parked-too"
        try await sequencer.register(parkedDefinition)
        try await sequencer.register(other)
        let a = try await sequencer.enroll("u", in: "parked", now: t0)
        let b = try await sequencer.enroll("u", in: "parked-too", now: t0)
        let gone = try await sequencer.enroll("u", in: "parked", now: t0)
        try await sequencer.cancel(gone, now: t0)
        let paused = try await sequencer.enroll("u", in: "parked-too", now: t0)
        try await sequencer.pause(paused, now: t0)
        let stranger = try await sequencer.enroll("v", in: "parked", now: t0)
        _ = try await sequencer.tick(now: t0)   // all wait a day

        let later = t0.addingTimeInterval(3600)
        let reached = try await sequencer.send(event: "paid", data: ["plan": "pro"], to: .subject("u"), now: later)
        try expect(reached.map(\.id) == [a, b, paused], "the subject's active and paused enrollments, oldest first: \(reached.map(\.id))")
        for e in reached {
            try expect(e.context["plan"] == "pro" && e.context["$events"]?["paid"]?["count"] == 1
                       && e.context["$events"]?["paid"]?["at"] == .string(ISO8601Timestamp.string(from: later)),
                       "data merged and the event recorded: \(e.context)")
            let last = try await sequencer.history(of: e.id).last
            try expect(last?.kind == .eventReceived && last?.message == "received event 'paid' with plan", "history: \(String(describing: last))")
        }
        try expect(try await sequencer.enrollment(a).nextRunAt == later, "an active one is due at once")
        try expect(try await sequencer.enrollment(paused).status == .paused, "a paused one stays paused")
        try expect(try await sequencer.enrollment(gone).context["plan"] == nil, "a cancelled one is not reached")
        try expect(try await sequencer.enrollment(stranger).context["plan"] == nil, "another subject is not reached")
        try expect(try await sequencer.send(event: "paid", to: .subject("nobody"), now: later).isEmpty, "no enrollments, no error")

        let again = try await sequencer.send(event: "paid", to: .enrollment(a), now: later)
        try expect(again.count == 1 && again[0].context["$events"]?["paid"]?["count"] == 2, "counted again")
        for (recipient, code) in [(EventRecipient.enrollment(gone), SequencerError.Code.invalidState),
                                  (.enrollment(UUID.version7()), .unknownEnrollment)] {
            do {
                _ = try await sequencer.send(event: "paid", to: recipient, now: later)
                throw ConformanceFailure("sending to \(recipient) must fail with \(code)")
            } catch let error as SequencerError where error.code == code {}
        }
        do {
            _ = try await sequencer.send(event: "", to: .subject("u"), now: later)
            throw ConformanceFailure("an empty event name must be refused")
        } catch let error as SequencerError where error.field == "event" {}

        // All or none: data that would take one of them over the context limit changes none.
        _ = try await sequencer.updateContext(b, merging: ["notes": .string(String(repeating: "x", count: 150))], now: later)
        do {
            _ = try await sequencer.send(event: "big", data: ["more": .string(String(repeating: "y", count: 60))],
                                         to: .subject("u"), now: later)
            throw ConformanceFailure("an event that overflows one context must be refused")
        } catch let error as SequencerError where error.code == .limitExceeded {}
        try expect(try await sequencer.enrollment(a).context["more"] == nil, "no enrollment changed")
    }

    static func waitForEventPaths(_ store: any SequenceStore) async throws {
        let sequencer = Sequencer(store: store)
        let checkout = try SequenceDefinition(json: """
            {"name": "checkout", "version": 1, "steps": [
              {"id": "await", "runner": "WaitForEvent", "altNext": "remind",
               "config": {"event": "paid", "timeout": {"amount": 3, "unit": "days"}}},
              {"id": "thanks", "runner": "GoTo", "config": {"target": "$end"}},
              {"id": "remind", "runner": "GoTo", "config": {"target": "$end"}}
            ]}
            """)
        let late = try SequenceDefinition(json: """
            {"name": "late", "version": 1, "steps": [
              {"id": "first", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "hours"}},
              {"id": "await", "runner": "WaitForEvent", "config": {"event": "paid"}},
              {"id": "await-new", "runner": "WaitForEvent", "config": {"event": "paid", "since": "step"}}
            ]}
            """)
        try await sequencer.register(checkout)
        try await sequencer.register(late)
        let payer = try await sequencer.enroll("payer", in: "checkout", now: t0)
        let silent = try await sequencer.enroll("silent", in: "checkout", now: t0)
        let early = try await sequencer.enroll("early", in: "late", now: t0)
        _ = try await sequencer.tick(now: t0)
        try expect(try await sequencer.enrollment(payer).stepID == "await", "waits for the event")

        _ = try await sequencer.send(event: "paid", to: .enrollment(payer), now: t0.addingTimeInterval(600))
        _ = try await sequencer.send(event: "paid", to: .enrollment(early), now: t0.addingTimeInterval(600))
        _ = try await sequencer.tick(now: t0.addingTimeInterval(600))
        let paid = try await sequencer.enrollment(payer)
        let advanced = try await sequencer.history(of: payer).filter { $0.fromStep == "await" && $0.toStep != "await" }
        try expect(paid.status == .completed && advanced.first?.kind == .advanced && advanced.first?.toStep == "thanks",
                   "the event takes next: \(advanced.map(\.kind))")

        // The event came while "early" was still at its first step: "await" passes at once (since
        // enrollment), "await-new" (since step) waits for a new one.
        _ = try await sequencer.tick(now: t0.addingTimeInterval(3600))
        try expect(try await sequencer.enrollment(early).stepID == "await-new", "an earlier event counts by default")
        _ = try await sequencer.send(event: "paid", to: .subject("early"), now: t0.addingTimeInterval(7200))
        _ = try await sequencer.tick(now: t0.addingTimeInterval(7200))
        let passed = try await sequencer.enrollment(early)
        let lines = try await sequencer.history(of: early).map { "\($0.kind) \($0.message ?? "")" }
        try expect(passed.status == .completed, "a new event passes a since-step wait: \(passed.status) at \(passed.stepID ?? "-"), \(lines)")

        // Not a second early, then the timeout takes altNext.
        _ = try await sequencer.tick(now: t0.addingTimeInterval(3 * 86_400 - 1))
        try expect(try await sequencer.enrollment(silent).stepID == "await", "still waiting before the timeout")
        _ = try await sequencer.tick(now: t0.addingTimeInterval(3 * 86_400))
        let timedOut = try await sequencer.history(of: silent).filter { $0.fromStep == "await" && $0.toStep != "await" }
        try expect(timedOut.first?.kind == .altAdvanced && timedOut.first?.toStep == "remind"
                   && timedOut.first?.message?.contains("did not arrive") == true, "the timeout takes altNext: \(timedOut)")
    }
}
