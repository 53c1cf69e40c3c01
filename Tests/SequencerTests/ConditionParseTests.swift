import Foundation
import Testing

@testable import Sequencer

/// One row of the parse-error table.
struct ConditionParseErrorCase: Sendable, CustomTestStringConvertible {
    let json: String
    let field: String
    let messageContains: String

    var testDescription: String { "\(field): \(json)" }
}

extension ConditionTests {
    @Suite("Parse errors")
    struct ParseErrors {
        static let get = ConditionTests.getProjects
        static let raw = #"{"type": "raw", "value": 0}"#

        @Test(arguments: [
            ConditionParseErrorCase(json: "[1]", field: "config", messageContains: "JSON object"),
            ConditionParseErrorCase(json: "{}", field: "config.lodashCommand", messageContains: "missing 'lodashCommand'"),
            ConditionParseErrorCase(json: #"{"lodashCommand": 3}"#, field: "config.lodashCommand", messageContains: "string"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "bigger", "value": \#(get)}"#, field: "config.lodashCommand",
                messageContains: "unknown command 'bigger'; known commands: eq, ne, gt, gte, lt, lte, includes"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "compareTo": \#(raw)}"#, field: "config.value",
                messageContains: "'value' operand"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "gt", "value": \#(get)}"#, field: "config.compareTo",
                messageContains: "'gt' needs a 'compareTo'"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": \#(get), "compareTo": null}"#, field: "config.compareTo",
                messageContains: "'eq' needs a 'compareTo'"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": "usage.projects", "compareTo": \#(raw)}"#,
                field: "config.value", messageContains: "must be an object"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": \#(get), "compareTo": {"value": 0}}"#,
                field: "config.compareTo.type", messageContains: "missing 'type'"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": \#(get), "compareTo": {"type": 1, "value": 0}}"#,
                field: "config.compareTo.type", messageContains: "must be a string"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": \#(get), "compareTo": {"type": "literal", "value": 0}}"#,
                field: "config.compareTo.type", messageContains: "unknown operand type 'literal'; known types: get, raw"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": {"type": "get", "value": 1}, "compareTo": \#(raw)}"#,
                field: "config.value.value", messageContains: "dotted path string"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "isNil", "value": {"type": "get", "value": ""}}"#,
                field: "config.value.value", messageContains: "non-empty"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "isNil", "value": {"type": "get"}}"#, field: "config.value.value",
                messageContains: "not missing"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": \#(get), "compareTo": {"type": "raw"}}"#,
                field: "config.compareTo.value", messageContains: "'raw' operand needs a 'value'"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": {"type": "template", "value": ["x"]}, "compareTo": \#(raw)}"#,
                field: "config.value.value", messageContains: "Mustache string"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "eq", "value": {"type": "template", "value": "{{#a}}"}, "compareTo": \#(raw)}"#,
                field: "config.value.value", messageContains: "not a valid Mustache template"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "matches", "value": \#(get), "compareTo": {"type": "raw", "value": "a(b"}}"#,
                field: "config.compareTo.value", messageContains: "not a valid regular expression"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "matches", "value": \#(get), "compareTo": {"type": "raw", "value": 1}}"#,
                field: "config.compareTo.value", messageContains: "regular expression string"),
            ConditionParseErrorCase(
                json: #"{"lodashCommand": "has", "value": \#(get), "compareTo": {"type": "raw", "value": ""}}"#,
                field: "config.compareTo.value", messageContains: "non-empty dotted path"),
            ConditionParseErrorCase(json: #"{"all": []}"#, field: "config.all", messageContains: "at least one"),
            ConditionParseErrorCase(json: #"{"any": []}"#, field: "config.any", messageContains: "at least one"),
            ConditionParseErrorCase(json: #"{"all": {"not": {}}}"#, field: "config.all", messageContains: "must be an array"),
            ConditionParseErrorCase(
                json: #"{"all": [{"lodashCommand": "isNil", "value": \#(get)}, {"lodashCommand": "eq"}]}"#,
                field: "config.all.1.value", messageContains: "'value' operand"),
            ConditionParseErrorCase(
                json: #"{"any": [{"not": {"lodashCommand": "eq", "value": \#(get), "compareTo": {"type": "x"}}}]}"#,
                field: "config.any.0.not.compareTo.type", messageContains: "unknown operand type"),
            ConditionParseErrorCase(json: #"{"not": 5}"#, field: "config.not", messageContains: "JSON object, not number"),
            ConditionParseErrorCase(
                json: #"{"not": {"lodashCommand": "isNil", "value": \#(get)}, "all": []}"#, field: "config",
                messageContains: "exactly one of"),
        ])
        func reportsField(_ row: ConditionParseErrorCase) throws {
            let error = try #require(throws: SequencerError.self) { try ConditionTests.parse(row.json, step: "has-used") }
            #expect(error.code == .invalidConfig)
            #expect(error.field == row.field)
            #expect(error.step == "has-used")
            #expect(error.sequence == "onboarding")
            #expect(error.version == 3)
            #expect(error.message.contains(row.messageContains), "message: \(error.message)")
        }

        @Test func regexErrorKeepsUnderlyingError() throws {
            let json = #"{"lodashCommand": "matches", "value": \#(Self.get), "compareTo": {"type": "raw", "value": "["}}"#
            let error = try #require(throws: SequencerError.self) { try ConditionTests.parse(json) }
            #expect(error.underlying != nil)
            #expect(error.description.contains("step 'check'"))
        }

        @Test func acceptsOptionalCompareToAndDynamicPatterns() throws {
            let isNil = try ConditionTests.parse(#"{"lodashCommand": "isNil", "value": \#(Self.get), "compareTo": null}"#)
            #expect(isNil == .compare(.isNil, .get("usage.projects")))
            let dynamic = try ConditionTests.parse(
                #"{"lodashCommand": "matches", "value": \#(Self.get), "compareTo": {"type": "get", "value": "p"}}"#)
            #expect(dynamic == .compare(.matches, .get("usage.projects"), .get("p")))
            #expect(!dynamic.evaluate(context: ["usage": ["projects": "abc"], "p": "a("], now: ConditionTests.now))
            #expect(dynamic.evaluate(context: ["usage": ["projects": "abc"], "p": "b"], now: ConditionTests.now))
        }
    }
}
