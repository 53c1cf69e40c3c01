import Foundation
import Sequencer
import SequencerTesting
import Testing

/// Which zone an enrollment runs in, and what happens when its context names one that does not exist.
@Suite("Enrollment time zones")
struct TimeZoneTests {
    /// Moves on, saying which zone it was given.
    struct ZoneEcho: TaskRunner {
        let name = "ZoneEcho"
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { $0.result(.next, message: "zone \($0.timeZone.identifier)") }
        }
    }

    static let definition = SequenceDefinition(name: "zones", version: 1, timeZone: "Asia/Tokyo", steps: [
        Step(id: "echo", runner: "ZoneEcho"),
    ])

    func firstMessage(context: JSONValue, keys: [String]? = nil) async throws -> String? {
        var configuration = Sequencer.Configuration()
        if let keys { configuration.timeZoneKeys = keys }
        let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + [ZoneEcho()], configuration: configuration)
        try await sequencer.register(Self.definition)
        let id = try await sequencer.enroll("someone", in: "zones", context: context, now: t0)
        try await sequencer.tick(now: t0)
        return try await sequencer.history(of: id).first { $0.kind == .advanced }?.message
    }

    @Test func theSpellingsJSONAPIsUseAreRead() async throws {
        #expect(try await firstMessage(context: ["timeZone": "Europe/Paris"]) == "zone Europe/Paris")
        #expect(try await firstMessage(context: ["timezone": "America/Chicago"]) == "zone America/Chicago")
        #expect(try await firstMessage(context: ["time_zone": "Africa/Lagos"]) == "zone Africa/Lagos")
        #expect(try await firstMessage(context: ["tz": "Australia/Perth"]) == "zone Australia/Perth")
        #expect(try await firstMessage(context: [:]) == "zone Asia/Tokyo", "the sequence's zone when the context has none")
    }

    @Test func configuredKeysAndNestedPathsAreReadInOrder() async throws {
        let context: JSONValue = ["user": ["zone": "Europe/Oslo"], "tz": "Europe/Rome"]
        #expect(try await firstMessage(context: context, keys: ["user.zone", "tz"]) == "zone Europe/Oslo")
        #expect(try await firstMessage(context: context, keys: ["profile.zone", "tz"]) == "zone Europe/Rome")
    }

    @Test func aZoneThatDoesNotExistIsRecordedNotSilentlyReplaced() async throws {
        let message = try #require(try await firstMessage(context: ["timeZone": "Mars/Olympus_Mons"]))
        #expect(message == "zone Asia/Tokyo (the context's timeZone 'Mars/Olympus_Mons' is not a known time zone; used Asia/Tokyo)")
        let number = try #require(try await firstMessage(context: ["tz": 5]))
        #expect(number.hasSuffix("(the context's tz holds a JSON number, not a time zone name; used Asia/Tokyo)"), "\(number)")
    }
}
