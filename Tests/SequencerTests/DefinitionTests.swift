import Foundation
import Testing
@testable import Sequencer

/// The JSON example from DESIGN.md: the compatibility contract.
let designExample = """
{
  "name": "trial-onboarding",
  "version": 3,
  "steps": [
    {"id": "welcome",  "runner": "Email", "config": {"from": "hi@example.com", "to": ["{{email}}"], "subject": "Welcome, {{name}}", "text": "..."}},
    {"id": "wait-2d",  "runner": "WaitForDuration", "config": {"amount": 2, "unit": "days"}},
    {"id": "weekday",  "runner": "WaitForDateComparison", "config": {"attribute": "day", "values": [1,2,3,4,5]}},
    {"id": "has-used", "runner": "Conditional", "config": {"lodashCommand": "gt", "value": {"type": "get", "value": "usage.projects"}, "compareTo": {"type": "raw", "value": 0}}, "altNext": "nudge"},
    {"id": "done",     "runner": "GoTo", "config": {"target": "$end"}},
    {"id": "nudge",    "runner": "SMS", "config": {"from": "+15555550100", "to": "{{phone}}", "message": "Need a hand?"}},
    {"id": "paid",     "runner": "Goal", "config": {"lodashCommand": "eq", "value": {"type": "get", "value": "plan"}, "compareTo": {"type": "raw", "value": "pro"}}}
  ]
}
"""

/// Stand-ins for the Email and SMS runners, which need a transport; they accept any config.
struct NamedRunner: TaskRunner {
    let name: String
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
}

@Suite("Definitions")
struct DefinitionTests {
    @Test func designExampleDecodesAndEncodesBackToTheSameJSON() throws {
        let definition = try SequenceDefinition(json: designExample)
        #expect(definition.name == "trial-onboarding" && definition.version == 3 && definition.steps.count == 7)
        #expect(definition.steps[3].altNext == "nudge" && definition.steps[3].next == nil)
        #expect(definition.steps[1].config == ["amount": 2, "unit": "days"])
        let reencoded = try JSONValue(jsonData: definition.jsonData())
        #expect(reencoded == (try JSONValue(json: designExample)), "encoding gives back the same JSON value")
        let encodedText = String(decoding: try definition.jsonData(), as: UTF8.self)
        #expect(encodedText.contains("\"amount\":2,"), "integral numbers encode without a fraction")
    }

    @Test func swiftBuilderProducesTheSameValueAsJSON() throws {
        let built = SequenceDefinition(name: "trial-onboarding", version: 3) {
            Step(id: "welcome", runner: "Email", config: ["from": "hi@example.com", "to": ["{{email}}"], "subject": "Welcome, {{name}}", "text": "..."])
            Step(id: "wait-2d", runner: "WaitForDuration", config: ["amount": 2, "unit": "days"])
            Step(id: "weekday", runner: "WaitForDateComparison", config: ["attribute": "day", "values": [1, 2, 3, 4, 5]])
            Step(id: "has-used", runner: "Conditional", config: [
                "lodashCommand": "gt", "value": ["type": "get", "value": "usage.projects"], "compareTo": ["type": "raw", "value": 0],
            ], altNext: "nudge")
            Step(id: "done", runner: "GoTo", config: ["target": "$end"])
            Step(id: "nudge", runner: "SMS", config: ["from": "+15555550100", "to": "{{phone}}", "message": "Need a hand?"])
            Step(id: "paid", runner: "Goal", config: [
                "lodashCommand": "eq", "value": ["type": "get", "value": "plan"], "compareTo": ["type": "raw", "value": "pro"],
            ])
        }
        #expect(built == (try SequenceDefinition(json: designExample)))
    }

    @Test func builtInStepConstructorsMatchTheirJSON() throws {
        let built = SequenceDefinition(name: "trial-onboarding", version: 3) {
            Step(id: "welcome", runner: "Email", config: ["from": "hi@example.com", "to": ["{{email}}"], "subject": "Welcome, {{name}}", "text": "..."])
            Step.waitForDuration("wait-2d", 2, "days")
            Step.waitUntil("weekday", "day", in: [1, 2, 3, 4, 5])
            Step.conditional("has-used", .compare(.gt, .get("usage.projects"), .raw(0)), altNext: "nudge")
            Step.goTo("done", target: Step.end)
            Step(id: "nudge", runner: "SMS", config: ["from": "+15555550100", "to": "{{phone}}", "message": "Need a hand?"])
            Step.goal("paid", .compare(.eq, .get("plan"), .raw("pro")))
        }
        #expect(built == (try SequenceDefinition(json: designExample)))
    }

    @Test func designExampleRegistersWithEmailAndSMSRunners() async throws {
        let sequencer = makeSequencer([NamedRunner(name: "Email"), NamedRunner(name: "SMS")])
        #expect(try await sequencer.register(json: designExample))
        #expect(try await sequencer.register(json: designExample) == false, "registering the same definition again is a no-op")
    }

    struct BadCase: CustomStringConvertible, Sendable {
        let label: String
        let steps: String
        let code: SequencerError.Code
        let step: String?
        let field: String?
        var description: String { label }
    }

    static let badCases: [BadCase] = [
        BadCase(label: "no steps", steps: "[]", code: .noSteps, step: nil, field: "steps"),
        BadCase(label: "duplicate id", steps: #"[{"id":"a","runner":"GoTo","config":{"target":"$end"}},{"id":"a","runner":"GoTo","config":{"target":"$end"}}]"#,
                code: .duplicateStepID, step: "a", field: "id"),
        BadCase(label: "unknown runner", steps: #"[{"id":"a","runner":"Fax","config":{}}]"#, code: .unknownRunner, step: "a", field: "runner"),
        BadCase(label: "next to nowhere", steps: #"[{"id":"a","runner":"GoTo","config":{"target":"$end"},"next":"zz"}]"#,
                code: .unknownStepReference, step: "a", field: "next"),
        BadCase(label: "altNext to nowhere", steps: #"[{"id":"a","runner":"GoTo","config":{"target":"$end"},"altNext":"zz"}]"#,
                code: .unknownStepReference, step: "a", field: "altNext"),
        BadCase(label: "GoTo target to nowhere", steps: #"[{"id":"a","runner":"GoTo","config":{"target":"zz"}}]"#,
                code: .unknownStepReference, step: "a", field: "config.target"),
        BadCase(label: "GoTo without target", steps: #"[{"id":"a","runner":"GoTo","config":{}}]"#,
                code: .invalidConfig, step: "a", field: "config.target"),
        BadCase(label: "GoTo target of wrong type", steps: #"[{"id":"a","runner":"GoTo","config":{"target":3}}]"#,
                code: .invalidConfig, step: "a", field: "config.target"),
        BadCase(label: "config not an object", steps: #"[{"id":"a","runner":"GoTo","config":[1]}]"#,
                code: .invalidConfig, step: "a", field: "config"),
        BadCase(label: "wait amount of wrong type", steps: #"[{"id":"w","runner":"WaitForDuration","config":{"amount":"two","unit":"days"}}]"#,
                code: .invalidConfig, step: "w", field: "config.amount"),
        BadCase(label: "wait unknown unit", steps: #"[{"id":"w","runner":"WaitForDuration","config":{"amount":2,"unit":"fortnights"}}]"#,
                code: .invalidConfig, step: "w", field: "config.unit"),
        BadCase(label: "conditional unknown command", steps: #"[{"id":"c","runner":"Conditional","config":{"lodashCommand":"frobnicate","value":{"type":"raw","value":1}}}]"#,
                code: .invalidConfig, step: "c", field: "config.lodashCommand"),
        BadCase(label: "bad template", steps: #"[{"id":"t","runner":"Record","config":{"text":"Hi {{#name}}"}}]"#,
                code: .invalidConfig, step: "t", field: "config.text"),
        BadCase(label: "GoTo cycle", steps: #"[{"id":"a","runner":"GoTo","config":{"target":"b"}},{"id":"b","runner":"GoTo","config":{"target":"a"}}]"#,
                code: .goToCycle, step: "a", field: "config.target"),
        BadCase(label: "end as a step id", steps: #"[{"id":"$end","runner":"GoTo","config":{"target":"$end"}}]"#,
                code: .invalidIdentifier, step: "$end", field: "id"),
    ]

    @Test("each validation error names the sequence, step and field, and stores nothing", arguments: badCases)
    func validationErrors(_ bad: BadCase) async throws {
        let sequencer = makeSequencer([RecordingRunner()])
        let json = #"{"name": "bad-seq", "version": 1, "steps": \#(bad.steps)}"#
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(json: json) }
        #expect(error.code == bad.code, "\(error)")
        #expect(error.sequence == "bad-seq")
        #expect(error.step == bad.step, "\(error)")
        #expect(error.field == bad.field, "\(error)")
        #expect(try await sequencer.store.definition(named: "bad-seq", version: nil) == nil, "nothing stored")
    }

    @Test func malformedJSONNamesTheStepAndField() async throws {
        let sequencer = makeSequencer()
        let missingRunner = #"{"name": "m", "version": 1, "steps": [{"id": "first", "runner": "GoTo", "config": {"target": "$end"}}, {"id": "second"}]}"#
        let e1 = try await #require(throws: SequencerError.self) { try await sequencer.register(json: missingRunner) }
        #expect(e1.code == .malformedDefinition && e1.sequence == "m" && e1.step == "second" && e1.field == "runner")
        let wrongVersion = #"{"name": "m", "version": "one", "steps": []}"#
        let e2 = try await #require(throws: SequencerError.self) { try await sequencer.register(json: wrongVersion) }
        #expect(e2.code == .malformedDefinition && e2.field == "version")
        let notJSON = #"{"name": "m", "#
        let e3 = try await #require(throws: SequencerError.self) { try await sequencer.register(json: notJSON) }
        #expect(e3.code == .malformedDefinition)
    }

    @Test func changedContentNeedsAGreaterVersion() async throws {
        let sequencer = makeSequencer()
        let v1 = SequenceDefinition(name: "s", version: 1) { Step(id: "a", runner: "GoTo", config: ["target": "$end"]) }
        try await sequencer.register(v1)
        var changed = v1
        changed.steps[0].id = "b"
        let conflict = try await #require(throws: SequencerError.self) { try await sequencer.register(changed) }
        #expect(conflict.code == .versionConflict && conflict.sequence == "s" && conflict.field == "version")
        #expect(try await sequencer.definition("s") == v1, "the stored version is untouched")
        changed.version = 2
        #expect(try await sequencer.register(changed))
        #expect(try await sequencer.definition("s").version == 2)
    }

    @Test func badTimeZoneIsNamed() async throws {
        let sequencer = makeSequencer()
        let def = SequenceDefinition(name: "tz", timeZone: "Mars/Olympus") { Step(id: "a", runner: "GoTo", config: ["target": "$end"]) }
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(def) }
        #expect(error.field == "timeZone" && error.sequence == "tz")
    }
}
