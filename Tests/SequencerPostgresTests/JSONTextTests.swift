import Foundation
import Sequencer
import SequencerTesting
@testable import SequencerPostgres
import Testing

@Suite("JSON text for jsonb columns")
struct JSONTextTests {
    static let contexts: [JSONValue] = [
        [:],
        ["name": "Zoë 😀 中文", "empty": "", "quote": "say \"hi\"", "backslash": "a\\b", "slash": "a/b"],
        ["controls": "tab\tnew\nline\rcr \u{01}\u{1F}", "key \"quoted\"": true, "": nil],
        ["numbers": [0, -1, 1.5, -0.25, 0.1, 1e-7, 1e20, 123_456_789_012, 9_007_199_254_740_993, -2.5e-300]],
        ["nested": ["a": ["b": ["c": [[], [:], [nil, false, true]]]]]],
        ["user": ["firstName": "Ada", "plan": "pro", "usage": ["projects": 3]], "tags": ["a", "b"]],
    ]

    /// Written by us, stored as jsonb, read back by us: equal to what went in.
    @Test(arguments: contexts)
    func contextsRoundTripThroughJSONB(_ context: JSONValue) async throws {
        try await withStore { store in
            _ = try await store.saveDefinition(threeSteps)
            let request = newEnrollment("u", context: context)
            _ = try await store.enroll([request])
            #expect(try await store.enrollment(request.id)?.context == context)
            let merged = try await store.change(request.id, .mergeContext(["added": context]), now: t0)
            #expect(try await store.enrollment(request.id)?.context == merged.context)
        }
    }

    /// The parser agrees with Foundation's decoder, including escapes PostgreSQL never writes.
    @Test(arguments: [
        #"{}"#, #"[]"#, #"  {"a" : [1, 2.5e3, -0.5E-2, true, false, null] }  "#, #""\u00e9\u4e2d\ud83d\ude00\/\b\f""#,
        #"{"a": {"b": {}}, "c": [[]]}"#, #"12345678901234567890"#, #""plain""#,
    ])
    func parserAgreesWithFoundation(_ text: String) throws {
        #expect(try JSONText.parse(text) == JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
    }

    @Test(arguments: [#"{"a": }"#, #"{"a" 1}"#, #""\ud800""#, #"tru"#, ""])
    func malformedJSONThrows(_ text: String) {
        #expect(throws: (any Error).self) { try JSONText.parse(text) }
    }

    @Test(arguments: contexts)
    func writerOutputDecodesToTheSameValue(_ value: JSONValue) throws {
        #expect(try JSONValue(json: JSONText.write(value)) == value)
        #expect(try JSONText.parse(JSONText.write(value)) == value)
    }
}
