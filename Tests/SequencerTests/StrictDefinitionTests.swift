import Foundation
import Sequencer
import SequencerTesting
import Testing

/// A typo in a definition is an error that names the place and the key meant, never a branch
/// that silently disappears.
@Suite("Strict definitions")
struct StrictDefinitionTests {
    struct TypoCase: Sendable, CustomStringConvertible {
        var label: String
        var json: String
        var code: SequencerError.Code
        var step: String?
        var field: String
        var suggestion: String?
        var description: String { label }
    }

    static let typos: [TypoCase] = [
        TypoCase(label: "altnext in a step",
                 json: #"{"name": "s", "version": 1, "steps": [{"id": "a", "runner": "GoTo", "config": {"target": "$end"}, "altnext": "a"}]}"#,
                 code: .malformedDefinition, step: "a", field: "altnext", suggestion: "altNext"),
        TypoCase(label: "nxt in a step",
                 json: #"{"name": "s", "version": 1, "steps": [{"id": "a", "runner": "GoTo", "config": {"target": "$end"}, "nxt": "a"}]}"#,
                 code: .malformedDefinition, step: "a", field: "nxt", suggestion: "next"),
        TypoCase(label: "unti in a WaitForDuration config",
                 json: #"{"name": "s", "version": 1, "steps": [{"id": "w", "runner": "WaitForDuration", "config": {"amount": 2, "unti": "days", "unit": "days"}}]}"#,
                 code: .invalidConfig, step: "w", field: "config.unti", suggestion: "unit"),
        TypoCase(label: "timezone at the top",
                 json: #"{"name": "s", "version": 1, "timezone": "UTC", "steps": [{"id": "a", "runner": "GoTo", "config": {"target": "$end"}}]}"#,
                 code: .malformedDefinition, step: nil, field: "timezone", suggestion: "timeZone"),
        TypoCase(label: "compareto in a condition",
                 json: #"{"name": "s", "version": 1, "steps": [{"id": "c", "runner": "Conditional", "config": {"lodashCommand": "eq", "value": {"type": "raw", "value": 1}, "compareto": {"type": "raw", "value": 1}}}]}"#,
                 code: .invalidConfig, step: "c", field: "config.compareto", suggestion: "compareTo"),
        TypoCase(label: "an unknown key in an operand",
                 json: #"{"name": "s", "version": 1, "steps": [{"id": "c", "runner": "Goal", "config": {"all": [{"lodashCommand": "isNil", "value": {"type": "get", "vaule": "x"}}]}}]}"#,
                 code: .invalidConfig, step: "c", field: "config.all.0.value.vaule", suggestion: "value"),
        TypoCase(label: "a key far from any known one",
                 json: #"{"name": "s", "version": 1, "steps": [{"id": "g", "runner": "GoTo", "config": {"target": "$end", "colour": "red"}}]}"#,
                 code: .invalidConfig, step: "g", field: "config.colour", suggestion: nil),
    ]

    @Test("unknown keys are refused, naming the step, the field and the key meant", arguments: typos)
    func unknownKeysAreRefused(_ typo: TypoCase) async throws {
        let sequencer = makeSequencer()
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(json: typo.json) }
        #expect(error.code == typo.code, "\(error)")
        #expect(error.sequence == "s", "\(error)")
        #expect(error.step == typo.step, "\(error)")
        #expect(error.field == typo.field, "\(error)")
        if let suggestion = typo.suggestion {
            #expect(error.message.contains("did you mean '\(suggestion)'?"), "\(error)")
        } else {
            #expect(!error.message.contains("did you mean"), "\(error)")
        }
        #expect(try await sequencer.store.definition(named: "s", version: nil) == nil, "nothing stored")
    }

    @Test func aConditionMayCarryADescription() async throws {
        let sequencer = makeSequencer()
        let json = #"{"name": "s", "version": 1, "steps": [{"id": "c", "runner": "Conditional", "config": {"description": "paying users", "lodashCommand": "eq", "value": {"type": "get", "value": "plan"}, "compareTo": {"type": "raw", "value": "pro"}}}]}"#
        #expect(try await sequencer.register(json: json))
    }

    @Test func aCustomRunnerCanDeclareItsKeys() async throws {
        struct Slack: TaskRunner {
            let name = "Slack"
            var configKeys: [String]? { ["channel", "text"] }
            func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
        }
        let sequencer = makeSequencer([Slack()])
        let json = ##"{"name": "s", "version": 1, "steps": [{"id": "post", "runner": "Slack", "config": {"chanel": "#ops", "text": "hi"}}]}"##
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(json: json) }
        #expect(error.field == "config.chanel" && error.message.contains("did you mean 'channel'?"), "\(error)")
    }

    @Test("a JSON syntax error gives its line and column", arguments: [
        ("{\n  \"name\": \"s\",\n  \"version\": 1\n  \"steps\": []\n}", 4, 3),
        ("{\"name\": \"s\", \"version\": 1, \"steps\": [}", 1, 39),
        ("{\"name\": \"s\",\n\"version\": 01, \"steps\": []}", 2, 12),
        ("", 1, 1),
    ])
    func syntaxErrorsSayWhere(_ json: String, _ line: Int, _ column: Int) throws {
        let error = try #require(throws: SequencerError.self) { try SequenceDefinition(json: json) }
        #expect(error.code == .malformedDefinition)
        #expect(error.line == line && error.column == column, "\(error)")
        #expect("\(error)".contains("line \(line), column \(column)"))
    }

    @Test func aDefinitionFileNamesItselfInEveryError() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sequencer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sequencer = makeSequencer()

        let good = directory.appendingPathComponent("good.json")
        try #"{"name": "f", "version": 1, "steps": [{"id": "a", "runner": "GoTo", "config": {"target": "$end"}}]}"#
            .write(to: good, atomically: true, encoding: .utf8)
        #expect(try await sequencer.register(contentsOf: good))

        let syntax = directory.appendingPathComponent("syntax.json")
        try "{\"name\": \"f\",\n\"version\": 2,\n\"steps\": [}".write(to: syntax, atomically: true, encoding: .utf8)
        let e1 = try await #require(throws: SequencerError.self) { try await sequencer.register(contentsOf: syntax) }
        #expect(e1.file == syntax.path && e1.line == 3 && "\(e1)".hasPrefix("malformedDefinition: \(syntax.path):line 3"))

        let invalid = directory.appendingPathComponent("invalid.json")
        try #"{"name": "f", "version": 2, "steps": [{"id": "a", "runner": "GoTo", "config": {"target": "nowhere"}}]}"#
            .write(to: invalid, atomically: true, encoding: .utf8)
        let e2 = try await #require(throws: SequencerError.self) { try await sequencer.register(contentsOf: invalid) }
        #expect(e2.file == invalid.path && e2.code == .unknownStepReference && e2.step == "a")

        let missing = directory.appendingPathComponent("missing.json")
        let e3 = try await #require(throws: SequencerError.self) { try await sequencer.register(contentsOf: missing) }
        #expect(e3.file == missing.path)
    }
}
