import Foundation
import Sequencer
import SequencerTesting
import SequencerTransports
import Testing

// Expected instants are written out by hand: 2026-03-10 is a Tuesday; Paris is UTC+1 until
// March 29, so Paris midnight is 23:00Z and Monday March 16 00:00 Paris is 2026-03-15T23:00:00Z.

/// Frequency caps through the engine, the in-memory ledger and a real SMTP server (aiosmtpd).
@Suite("Frequency caps")
struct FrequencyCapTests {
    static func at(_ iso: String) -> Date { ISO8601DateFormatter().date(from: iso)! }

    static func sequence(_ name: String, policy: String?) -> String {
        let cap = policy.map { #", "frequencyCap": "\#($0)""# } ?? ""
        return """
            {"name": "\(name)", "version": 1, "steps": [
              {"id": "mail", "runner": "Email", "config": {"from": "hi@acme.example", "to": ["{{email}}"],
                "subject": "\(name) {{n}}", "text": "hello"\(cap)}},
              {"id": "after", "runner": "WaitForDuration", "config": {"amount": 30, "unit": "days"}}
            ]}
            """
    }

    @Test func theThirdEmailOfTheDayWaitsForLocalMidnightASkipMovesOnAndIgnoreSends() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let runner = EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()),
                                 ledger: InMemoryDeliveryLedger(), frequencyCap: FrequencyCap(perDay: 2, perWeek: 5))
        let sequencer = makeSequencer([runner])
        try await sequencer.register(json: Self.sequence("drip", policy: nil))
        try await sequencer.register(json: Self.sequence("digest", policy: "skip"))
        try await sequencer.register(json: Self.sequence("receipt", policy: "ignore"))
        let morning = Self.at("2026-03-10T10:00:00Z")
        func enroll(_ sequence: String, _ n: Int) async throws -> UUID {
            try await sequencer.enroll("ada", in: sequence, context: [
                "email": "ada@example.com", "timeZone": "Europe/Paris", "n": .number(Double(n)),
            ], now: morning)
        }
        let drips = [try await enroll("drip", 1), try await enroll("drip", 2), try await enroll("drip", 3)]
        _ = try await sequencer.tick(now: morning)
        #expect(try server.mail().count == 2, "two emails a day")
        let held = try #require(await asyncFirst(drips) { try await sequencer.enrollment($0).stepID == "mail" })
        let why = try await sequencer.messages(of: held, .waiting)
        #expect(why.last?.contains("frequency cap: email to this subject at most 2 a day (Europe/Paris), reached") == true,
                "\(why)")
        #expect(why.last?.hasSuffix("waits until 2026-03-10T23:00:00Z") == true, "\(why)")

        let digest = try await enroll("digest", 4)
        let receipt = try await enroll("receipt", 5)
        _ = try await sequencer.tick(now: morning.addingTimeInterval(60))
        #expect(try await sequencer.enrollment(digest).stepID == "after", "skip moves on")
        #expect(try await sequencer.messages(of: digest, .advanced).last?.hasPrefix("not sent: frequency cap") == true)
        #expect(try await sequencer.enrollment(receipt).stepID == "after", "ignore sends over the cap")
        #expect(try server.mail().count == 3)

        // Not a second early; at Paris midnight the held one goes (the week holds 4 of 5).
        _ = try await sequencer.tick(now: Self.at("2026-03-10T22:59:59Z"))
        #expect(try server.mail().count == 3)
        _ = try await sequencer.tick(now: Self.at("2026-03-10T23:00:00Z"))
        #expect(try server.mail().count == 4)
        #expect(try await sequencer.enrollment(held).stepID == "after")
        // The fifth of the week goes on Wednesday; a sixth waits for Monday in Paris.
        let wednesday = Self.at("2026-03-11T09:00:00Z")
        let fifth = try await sequencer.enroll("ada", in: "drip", context: ["email": "ada@example.com", "timeZone": "Europe/Paris", "n": 6],
                                               now: wednesday)
        let sixth = try await sequencer.enroll("ada", in: "drip", context: ["email": "ada@example.com", "timeZone": "Europe/Paris", "n": 7],
                                               now: wednesday)
        _ = try await sequencer.tick(now: wednesday)
        #expect(try server.mail().count == 5)
        let waiting = try await sequencer.enrollment(fifth).stepID == "mail" ? fifth : sixth
        #expect(try await sequencer.messages(of: waiting, .waiting).last?
            .contains("at most 5 a week (Europe/Paris), reached; waits until 2026-03-15T23:00:00Z") == true)
    }

    @Test func aBadFrequencyCapPolicyIsRefusedNamingTheStepAndField() async throws {
        let runner = EmailRunner(transport: RecordingTransport(), frequencyCap: FrequencyCap(perDay: 1))
        let sequencer = makeSequencer([runner])
        await #expect {
            try await sequencer.register(json: Self.sequence("bad", policy: "sometimes"))
        } throws: { error in
            let error = error as! SequencerError
            return error.step == "mail" && error.field == "config.frequencyCap" && error.message.contains("\"wait\", \"skip\" or \"ignore\"")
        }
    }

    @Test(arguments: [
        // now, zone, day from/until, week from/until (Monday 00:00 local to the next)
        ("2026-03-10T10:00:00Z", "Europe/Paris", "2026-03-09T23:00:00Z", "2026-03-10T23:00:00Z",
         "2026-03-08T23:00:00Z", "2026-03-15T23:00:00Z"),
        ("2026-03-08T12:00:00Z", "America/New_York", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z",   // a 23-hour day
         "2026-03-02T05:00:00Z", "2026-03-09T04:00:00Z"),
        ("2026-03-29T00:30:00Z", "Europe/Paris", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z",
         "2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z"),   // Sunday: the week ends at Monday 00:00 CEST
    ])
    func windowsAreCalendarDaysAndWeeksInTheSubjectsZone(
        _ now: String, _ zone: String, _ dayFrom: String, _ dayUntil: String, _ weekFrom: String, _ weekUntil: String
    ) {
        let limits = FrequencyCap(perDay: 2, perWeek: 5).limits(at: Self.at(now), in: TimeZone(identifier: zone)!)
        #expect(limits == [
            SendLimit(maximum: 2, period: "day", from: Self.at(dayFrom), until: Self.at(dayUntil)),
            SendLimit(maximum: 5, period: "week", from: Self.at(weekFrom), until: Self.at(weekUntil)),
        ])
    }
}

/// The first element for which `predicate` holds.
func asyncFirst<T>(_ elements: [T], where predicate: (T) async throws -> Bool) async rethrows -> T? {
    for element in elements where try await predicate(element) { return element }
    return nil
}
