import Foundation
import Sequencer
import Testing

@Suite("WaitForEvent config")
struct WaitForEventTests {
    @Test(arguments: [
        (#"{}"#, "config.event"),
        (#"{"event": ""}"#, "config.event"),
        (#"{"event": 3}"#, "config.event"),
        (#"{"event": "paid", "since": "yesterday"}"#, "config.since"),
        (#"{"event": "paid", "timeout": {"amount": 3, "unit": "fortnights"}}"#, "config.timeout.unit"),
        (#"{"event": "paid", "timeout": {"amount": -1, "unit": "days"}}"#, "config.timeout.amount"),
        (#"{"event": "paid", "timeout": 3}"#, "config.timeout"),
        (#"{"event": "paid", "timout": {"amount": 3, "unit": "days"}}"#, "config.timout"),
    ])
    func badConfigsNameTheStepAndField(_ config: String, _ field: String) async throws {
        let sequencer = Sequencer(store: InMemoryStore())
        let json = #"{"name": "w", "version": 1, "steps": [{"id": "await", "runner": "WaitForEvent", "config": "# + config + "}]}"
        await #expect {
            try await sequencer.register(json: json)
        } throws: { error in
            let error = error as! SequencerError
            return error.sequence == "w" && error.step == "await" && error.field == field
        }
        #expect(try await sequencer.store.definition(named: "w", version: nil) == nil, "nothing stored")
    }

    @Test func aTimeoutWithoutAltNextFailsSayingSo() async throws {
        let sequencer = Sequencer(store: InMemoryStore())
        try await sequencer.register(json: """
            {"name": "w", "version": 1, "steps": [{"id": "await", "runner": "WaitForEvent",
              "config": {"event": "paid", "timeout": {"amount": 1, "unit": "hours"}}}]}
            """)
        let start = Date(timeIntervalSince1970: 1_900_000_000)
        let id = try await sequencer.enroll("u", in: "w", now: start)
        _ = try await sequencer.tick(now: start)
        _ = try await sequencer.tick(now: start.addingTimeInterval(3600))
        let e = try await sequencer.enrollment(id)
        #expect(e.status == .failed && e.lastError?.contains("timed out; the step has no altNext") == true, "\(e)")
    }
}
