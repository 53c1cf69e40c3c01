import Foundation
import Sequencer
import SequencerTesting
import Testing

/// Hostile definitions and patterns: each is a clear error (or a bounded result), never a crash
/// or a stall. Those that involve a store run against both stores in `RobustnessChecks`.
@Suite("Hostile input")
struct HostileInputTests {
    @Test("versions that do not fit an integer are refused", arguments: ["1e300", "1e19", "2147483648", "1.5", "-1e300"])
    func hugeVersions(_ version: String) async throws {
        let sequencer = makeSequencer()
        let json = #"{"name": "v", "version": \#(version), "steps": [{"id": "a", "runner": "GoTo", "config": {"target": "$end"}}]}"#
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(json: json) }
        #expect(error.code == .outOfRange && error.field == "version", "\(error)")
        #expect(try await sequencer.store.definition(named: "v", version: nil) == nil)
    }

    @Test func aVersionBuiltInSwiftThatDoesNotFitTheDatabaseIsRefused() async throws {
        let sequencer = makeSequencer()
        let definition = SequenceDefinition(name: "v", version: Int.max) { Step.goTo("a", target: Step.end) }
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(definition) }
        #expect(error.code == .outOfRange && error.field == "version")
    }

    @Test func aDefinitionNested10000ArraysDeepIsRefused() async throws {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let json = #"{"name": "deep", "version": 1, "steps": [{"id": "a", "runner": "GoTo", "config": {"target": "$end", "x": \#(deep)}}]}"#
        let error = try #require(throws: SequencerError.self) { try SequenceDefinition(json: json) }
        #expect(error.code == .malformedDefinition && error.line == 1 && error.message.contains("deeper than 256"), "\(error)")
    }

    @Test func aConfigBuiltInSwiftTooDeepIsRefusedAtRegister() async throws {
        struct Anything: TaskRunner {
            let name = "Anything"
            func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
        }
        let sequencer = makeSequencer([Anything()])
        var deep: JSONValue = "leaf"
        for _ in 0..<10_000 { deep = [deep] }
        let definition = SequenceDefinition(name: "deep", version: 1) {
            Step(id: "a", runner: "Anything", config: ["x": deep])
        }
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(definition) }
        #expect(error.code == .limitExceeded && error.step == "a" && (error.field ?? "").hasPrefix("config.x"), "\(error)")
    }

    @Test func aTemplateWith5000NestedSectionsIsRefused() async throws {
        let sequencer = makeSequencer([RecordingRunner()])
        let template = String(repeating: "{{#a}}", count: 5_000) + "x" + String(repeating: "{{/a}}", count: 5_000)
        let definition = SequenceDefinition(name: "t", version: 1) {
            Step(id: "render", runner: "Record", config: ["text": .string(template)])
        }
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(definition) }
        #expect(error.code == .invalidConfig && error.field == "config.text" && "\(error)".contains("nested deeper than 32"),
                "\(error)")
        // Rendering a template directly is bounded the same way.
        #expect(throws: (any Error).self) { try TemplateRenderer.render(template, context: [:]) }
        // 32 levels are fine.
        let ok = String(repeating: "{{#a}}", count: 32) + "x" + String(repeating: "{{/a}}", count: 32)
        #expect(try TemplateRenderer.render(ok, context: ["a": true]) == "x")
    }

    @Test func aConditionNested100000DeepIsRefusedAndOneOf100LevelsWorks() async throws {
        let sequencer = makeSequencer()
        var deep = #"{"lodashCommand": "isNil", "value": {"type": "get", "value": "x"}}"#
        for _ in 0..<100 { deep = #"{"not": \#(deep)}"# }
        let json = #"{"name": "c", "version": 1, "steps": [{"id": "c", "runner": "Conditional", "config": \#(deep)}]}"#
        #expect(try await sequencer.register(json: json))
        let id = try await sequencer.enroll("u", in: "c", now: t0)
        _ = try await sequencer.tick(now: t0)
        #expect(try await sequencer.enrollment(id).status == .completed)

        let tooDeep = String(repeating: #"{"not": "#, count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        let error = try #require(throws: SequencerError.self) { try JSONValue(json: tooDeep) }
        #expect(error.code == .malformedJSON)
    }

    /// 10,000 GoTo steps in a chain: linear validation registers it at once (the cycle check was
    /// cubic: 2,000 steps took about 5 s, 10,000 never finished in 30 s).
    @Test(.timeLimit(.minutes(1)))
    func aChainOf10000GoToStepsRegisters() async throws {
        let sequencer = makeSequencer()
        let steps = (0..<10_000).map { i in Step.goTo("s\(i)", target: i == 9_999 ? Step.end : "s\(i + 1)") }
        #expect(try await sequencer.register(SequenceDefinition(name: "chain", version: 1, steps: steps)))

        // A cycle hidden at the end of a long chain is still found, and named.
        var cyclic = steps
        cyclic[9_999] = Step.goTo("s9999", target: "s5000")
        let error = try await #require(throws: SequencerError.self) {
            try await sequencer.register(SequenceDefinition(name: "cycle", version: 1, steps: cyclic))
        }
        #expect(error.code == .goToCycle && error.step == "s5000", "\(error)")
    }

    @Test("definition and config sizes and step counts are limited")
    func sizeLimitsAtRegister() async throws {
        let sequencer = makeSequencer([RecordingRunner()]) {
            $0.limits.maximumConfigBytes = 1_000
            $0.limits.maximumDefinitionBytes = 20_000
            $0.limits.maximumSteps = 50
        }
        let big = String(repeating: "x", count: 2_000)
        let e1 = try await #require(throws: SequencerError.self) {
            try await sequencer.register(SequenceDefinition(name: "s", version: 1) {
                Step(id: "a", runner: "Record", config: ["text": .string(big)])
            })
        }
        #expect(e1.code == .limitExceeded && e1.step == "a" && e1.field == "config", "\(e1)")
        let medium = String(repeating: "y", count: 900)
        let e2 = try await #require(throws: SequencerError.self) {
            try await sequencer.register(SequenceDefinition(name: "s", version: 1, steps: (0..<30).map {
                Step(id: "s\($0)", runner: "Record", config: ["text": .string(medium)])
            }))
        }
        #expect(e2.code == .limitExceeded && e2.field == "steps", "\(e2)")
        let e3 = try await #require(throws: SequencerError.self) {
            try await sequencer.register(SequenceDefinition(name: "s", version: 1, steps: (0..<51).map {
                Step.goTo("s\($0)", target: Step.end)
            }))
        }
        #expect(e3.code == .limitExceeded && e3.field == "steps", "\(e3)")
    }

    @Test("patterns a linear-time engine cannot run are refused at register", arguments: [
        #"(a)\1"#, #"foo(?=bar)"#, #"(?<!x)y"#, #"(?>a+)b"#, #"a++"#, #"[[:alpha:]]"#, #"a{2000}"#, #"(a"#, #"a)"#, #"*a"#,
    ])
    func unsupportedPatternsAreRefused(_ pattern: String) async throws {
        let sequencer = makeSequencer()
        let definition = SequenceDefinition(name: "re", version: 1) {
            Step.conditional("check", .compare(.matches, .get("s"), .raw(.string(pattern))))
        }
        let error = try await #require(throws: SequencerError.self) { try await sequencer.register(definition) }
        #expect(error.code == .invalidConfig && error.field == "config.compareTo.value", "\(error)")
    }

    @Test("matches: the usual patterns give the usual answers", arguments: [
        (#"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"#, "ada@example.com", true),
        (#"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"#, "ada@example", false),
        (#"(?i)^pro"#, "PROfessional", true),
        (#"(?i:abc)d"#, "ABCd", true),
        (#"(?i:abc)d"#, "ABCD", false),
        (#"\bcat\b"#, "the cat sat", true),
        (#"\bcat\b"#, "concatenate", false),
        (#"^\d{3}-\d{4}$"#, "555-0100", true),
        (#"^\d{3}-\d{4}$"#, "555-01000", false),
        (#"colou?r"#, "my color", true),
        (#"^(foo|bar)+$"#, "foobarfoo", true),
        (#"^(foo|bar)+$"#, "foobaz", false),
        (#"^\p{Lu}\p{Ll}+$"#, "Zoë", true),
        (#"^[^aeiou]+$"#, "rhythm", true),
        (#"a.c"#, "a\nc", false),
        (#"(?s)a.c"#, "a\nc", true),
        (#"^b$"#, "a\nb", false),
        (#"(?m)^b$"#, "a\nb", true),
        (#"x*"#, "", true),
        (#"^$"#, "", true),
        (#"[\]a-]"#, "]", true),
        (#"^a{2,3}$"#, "aaaa", false),
        (#"^a{2,3}$"#, "aaa", true),
        (#"^a{2,}$"#, "aaaaaaa", true),
        (#"\."#, "a.b", true),
        (#"\."#, "ab", false),
        (#"^(a+)+$"#, String(repeating: "a", count: 2_000) + "!", false),
    ] as [(String, String, Bool)])
    func matchesAnswers(_ pattern: String, _ text: String, _ expected: Bool) {
        let condition = Condition.compare(.matches, .raw(.string(text)), .raw(.string(pattern)))
        #expect(condition.evaluate(context: [:], now: t0) == expected)
    }
}
