import Foundation
import Sequencer
import SequencerTesting
import Testing

@Suite("Notification definitions")
struct NotificationDefinitionTests {
    struct Mailer: EmailTransport {
        func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] { messages.map { _ in .sent(providerID: nil) } }
    }

    static func definition(_ notifications: String) -> String {
        #"{"name": "job", "version": 1, "steps": [{"id": "work", "runner": "GoTo", "config": {"target": "$end"}}], "notifications": "#
            + notifications + "}"
    }

    static let email = #""runner": "Email", "config": {"from": "a@example.com", "to": ["b@example.com"], "subject": "s", "text": "t"}"#

    @Test("a bad notification is refused at register, naming the sequence, the notification and the field", arguments: [
        (#"{"oops": 1}"#, "notifications", SequencerError.Code.malformedDefinition),
        (#"[{"on": "failed", "runner": "Email", "confg": {}}]"#, "notifications[0].confg", .malformedDefinition),
        (#"[{"on": "finished", "# + email + "}]", "notifications[0].on", .malformedDefinition),
        (#"[{"on": "retrying", "# + email + "}]", "notifications[0].afterRetries", .malformedDefinition),
        (#"[{"on": "failed", "afterRetries": 2, "# + email + "}]", "notifications[0].afterRetries", .malformedDefinition),
        (#"[{"on": "completed", "runner": "Pager", "config": {}}]"#, "notifications[0].runner", .unknownRunner),
        (#"[{"on": "failed", "runner": "Email", "config": {"from": "a@example.com", "subject": "s", "text": "t"}}]"#,
         "notifications[0].config.to", .invalidConfig),
        (#"[{"on": "failed", "runner": "Email", "config": {"from": "a@example.com", "to": ["b@example.com"], "subject": "s", "txt": "t"}}]"#,
         "notifications[0].config.txt", .invalidConfig),
        (#"[{"on": "failed", "runner": "Email", "config": {"from": "a@example.com", "to": ["b@example.com"], "subject": "{{#x}}", "text": "t"}}]"#,
         "notifications[0].config.subject", .invalidConfig),
    ])
    func badNotificationsAreRefused(notifications: String, field: String, code: SequencerError.Code) async throws {
        let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + [EmailRunner(transport: Mailer())])
        let error = await #expect(throws: SequencerError.self) {
            try await sequencer.register(json: Self.definition(notifications))
        }
        #expect(error?.code == code && error?.field == field && error?.sequence == "job", "\(String(describing: error))")
    }

    @Test func notificationsRoundTripThroughJSON() throws {
        let json = Self.definition(#"[{"on": "retrying", "afterRetries": 3, "# + Self.email + #"}, {"on": "completed", "# + Self.email + "}]")
        let definition = try SequenceDefinition(json: json)
        #expect(definition.notifications.map(\.on) == [.retrying(after: 3), .completed])
        #expect(try SequenceDefinition(jsonData: definition.jsonData()) == definition)
        #expect(definition.notifications[0].step.id == "$notify.retrying")
    }

    @Test func aStepIdMayNotTakeANotificationsName() async throws {
        let sequencer = Sequencer(store: InMemoryStore())
        let error = await #expect(throws: SequencerError.self) {
            try await sequencer.register(json: #"{"name": "x", "version": 1, "steps": [{"id": "$notify.failed", "runner": "GoTo", "config": {"target": "$end"}}]}"#)
        }
        #expect(error?.code == .invalidIdentifier && error?.field == "id")
    }

    @Test("durations read as people say them", arguments: [
        (0.42, "0.4 s"), (41, "41 s"), (192, "3 m 12 s"), (3600, "1 h"), (3725, "1 h 2 m"), (190_000, "2 d 4 h"),
    ])
    func spokenDurations(seconds: Double, text: String) {
        #expect(SequenceNotification.spoken(seconds) == text)
    }
}
