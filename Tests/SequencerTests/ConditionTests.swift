import Foundation
import Testing

@testable import Sequencer

/// One row of a command table: `value` and `compareTo` are read from the context with `get`,
/// so `nil` stands for a missing path.
struct ConditionCommandCase: Sendable, CustomTestStringConvertible {
    let value: JSONValue?
    let compareTo: JSONValue?
    let expected: Bool

    init(_ value: JSONValue?, _ compareTo: JSONValue?, _ expected: Bool) {
        self.value = value
        self.compareTo = compareTo
        self.expected = expected
    }

    var testDescription: String {
        "\(value.map(\.description) ?? "missing") vs \(compareTo.map(\.description) ?? "missing") → \(expected)"
    }

    func evaluate(_ command: ComparisonCommand) -> Bool {
        var context: [String: JSONValue] = [:]
        context["a"] = value
        context["b"] = compareTo
        let condition = Condition.compare(command, .get("a"), command.needsCompareTo ? .get("b") : nil)
        return condition.evaluate(context: .object(context), now: Date(timeIntervalSince1970: 0))
    }
}

@Suite("Condition")
struct ConditionTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)  // 2023-11-14T22:13:20Z

    static func parse(_ json: String, step: String = "check") throws -> Condition {
        try Condition.parse(JSONValue(json: json), sequence: "onboarding", version: 3, step: step)
    }

    static let getProjects = #"{"type": "get", "value": "usage.projects"}"#

    @Suite("Commands")
    struct Commands {
        @Test(arguments: [
            ConditionCommandCase(1, 1, true), ConditionCommandCase(1, 1.0, true), ConditionCommandCase(1, 2, false),
            ConditionCommandCase("1", 1, false), ConditionCommandCase(true, 1, false), ConditionCommandCase("a", "a", true),
            ConditionCommandCase("a", "A", false), ConditionCommandCase("", nil, false), ConditionCommandCase(.null, nil, true),
            ConditionCommandCase(nil, .null, true), ConditionCommandCase(nil, nil, true), ConditionCommandCase(0, .null, false),
            ConditionCommandCase([1, 2], [1, 2], true), ConditionCommandCase([1, 2], [2, 1], false),
            ConditionCommandCase(["x": 1, "y": [true]], ["y": [true], "x": 1.0], true), ConditionCommandCase(["x": 1], ["x": 2], false),
            ConditionCommandCase("caf\u{E9}", "cafe\u{301}", true),
            ConditionCommandCase("2024-01-01", "2024-01-01T00:00:00Z", false),
        ])
        func eq(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.eq) == row.expected)
            #expect(row.evaluate(.ne) == !row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase(2, 1, true), ConditionCommandCase(1, 1, false), ConditionCommandCase(-1, 0, false), ConditionCommandCase(1.5, 1, true),
            ConditionCommandCase("b", "a", true), ConditionCommandCase("a", "B", true), ConditionCommandCase("9", "10", true),
            ConditionCommandCase("2024-03-01", "2024-02-29T23:59:59Z", true),
            ConditionCommandCase("2024-01-01T10:00:00+02:00", "2024-01-01T09:00:00Z", false),
            ConditionCommandCase("2024-01-01T10:00:00.5Z", "2024-01-01T10:00:00Z", true),
            ConditionCommandCase("2", 1, false), ConditionCommandCase(2, "1", false), ConditionCommandCase(true, false, false),
            ConditionCommandCase(nil, 0, false), ConditionCommandCase(0, nil, false), ConditionCommandCase(.null, .null, false),
            ConditionCommandCase([2], [1], false), ConditionCommandCase(["a": 2], ["a": 1], false),
        ])
        func gt(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.gt) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase(1, 1, true), ConditionCommandCase(1, 1.0, true), ConditionCommandCase(2, 1, true), ConditionCommandCase(1, 2, false),
            ConditionCommandCase("a", "a", true), ConditionCommandCase("2024-01-01", "2024-01-01T00:00:00.000Z", true),
            ConditionCommandCase("2024-01-01T00:00:00+01:00", "2024-01-01", false),
            ConditionCommandCase("1", 1, false), ConditionCommandCase(nil, nil, false), ConditionCommandCase(.null, .null, false),
            ConditionCommandCase(true, true, false),
        ])
        func gte(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.gte) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase(1, 2, true), ConditionCommandCase(2, 2, false), ConditionCommandCase("A", "a", true), ConditionCommandCase("10", "9", true),
            ConditionCommandCase("2023-12-31T23:59:59.999Z", "2024-01-01", true),
            ConditionCommandCase("2024-01-01 08:00:00-05:00", "2024-01-01T12:00:00Z", false),
            ConditionCommandCase("2024-13-01", "2024-02-01", false),  // not a date: lexicographic, "3" > "2"
            ConditionCommandCase(1, "2", false), ConditionCommandCase(nil, 1, false), ConditionCommandCase(.null, 1, false),
            ConditionCommandCase(false, true, false),
        ])
        func lt(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.lt) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase(1, 1, true), ConditionCommandCase(0.5, 1, true), ConditionCommandCase(2, 1, false), ConditionCommandCase("a", "a", true),
            ConditionCommandCase("2024-01-01T01:00:00+01:00", "2024-01-01", true), ConditionCommandCase(1, "1", false),
            ConditionCommandCase(nil, nil, false), ConditionCommandCase([1], [1], false),
        ])
        func lte(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.lte) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase([1, 2, 3], 2, true), ConditionCommandCase([1, 2, 3], 2.0, true), ConditionCommandCase([1, 2, 3], "2", false),
            ConditionCommandCase([1, 2, 3], 4, false), ConditionCommandCase([["id": 1]], ["id": 1], true), ConditionCommandCase([.null], nil, true),
            ConditionCommandCase([], 1, false), ConditionCommandCase("hello world", "o w", true), ConditionCommandCase("hello", "", true),
            ConditionCommandCase("hello", "H", false), ConditionCommandCase("a1", 1, false), ConditionCommandCase(["k": "v"], "v", true),
            ConditionCommandCase(["k": "v"], "k", false), ConditionCommandCase(12, 1, false), ConditionCommandCase(nil, 1, false),
            ConditionCommandCase(.null, .null, false), ConditionCommandCase(true, true, false),
        ])
        func includes(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.includes) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase("hello", "he", true), ConditionCommandCase("hello", "", true), ConditionCommandCase("hello", "lo", false),
            ConditionCommandCase("hello", "Hello", false), ConditionCommandCase("he", "hello", false), ConditionCommandCase(["he"], "he", false),
            ConditionCommandCase(12, "1", false), ConditionCommandCase("12", 1, false), ConditionCommandCase(nil, "", false),
        ])
        func startsWith(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.startsWith) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase("user@example.com", "@example.com", true), ConditionCommandCase("hello", "", true),
            ConditionCommandCase("hello", "he", false), ConditionCommandCase(["lo"], "lo", false), ConditionCommandCase(10, "0", false),
            ConditionCommandCase("10", 0, false), ConditionCommandCase(nil, "x", false),
        ])
        func endsWith(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.endsWith) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase(nil, nil, true), ConditionCommandCase(.null, nil, true), ConditionCommandCase("", nil, true),
            ConditionCommandCase([], nil, true), ConditionCommandCase([:], nil, true), ConditionCommandCase(" ", nil, false),
            ConditionCommandCase([.null], nil, false), ConditionCommandCase(["a": .null], nil, false), ConditionCommandCase(0, nil, false),
            ConditionCommandCase(false, nil, false),
        ])
        func isEmpty(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.isEmpty) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase(nil, nil, true), ConditionCommandCase(.null, nil, true), ConditionCommandCase("", nil, false),
            ConditionCommandCase(0, nil, false), ConditionCommandCase(false, nil, false), ConditionCommandCase([], nil, false),
            ConditionCommandCase([:], nil, false),
        ])
        func isNil(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.isNil) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase(["address": ["city": "Oslo"]], "address.city", true),
            ConditionCommandCase(["address": ["city": "Oslo"]], "address.zip", false),
            ConditionCommandCase(["a": .null], "a", true), ConditionCommandCase(["items": [["sku": "x"]]], "items[0].sku", true),
            ConditionCommandCase(["items": [["sku": "x"]]], "items.1", false), ConditionCommandCase([10, 20], "1", true),
            ConditionCommandCase([10, 20], "2", false), ConditionCommandCase(["a": 1], "", false), ConditionCommandCase(["a": 1], 1, false),
            ConditionCommandCase("abc", "0", false), ConditionCommandCase(nil, "a", false), ConditionCommandCase(.null, "a", false),
        ])
        func has(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.has) == row.expected)
        }

        @Test(arguments: [
            ConditionCommandCase("user@example.com", "@example\\.com$", true), ConditionCommandCase("USER", "^user$", false),
            ConditionCommandCase("USER", "(?i)^user$", true), ConditionCommandCase("abc123", "\\d+", true),
            ConditionCommandCase("abc", "\\d", false), ConditionCommandCase("caf\u{E9} \u{1F600}", "\u{1F600}$", true),
            ConditionCommandCase("abc", "(", false),  // invalid pattern from the context: false, not a crash
            ConditionCommandCase(123, "1", false), ConditionCommandCase("123", 1, false), ConditionCommandCase(nil, ".*", false),
            ConditionCommandCase(["a"], "a", false),
        ])
        func matches(_ row: ConditionCommandCase) {
            #expect(row.evaluate(.matches) == row.expected)
        }

        @Test(arguments: [("isEqual", ComparisonCommand.eq), ("contains", .includes), ("gte", .gte), ("has", .has)])
        func namesAndAliases(name: String, command: ComparisonCommand) throws {
            #expect(ComparisonCommand(name: name) == command)
            let json = #"{"lodashCommand": "\#(name)", "value": \#(ConditionTests.getProjects), "#
                + #""compareTo": {"type": "raw", "value": "x"}}"#
            let condition = try ConditionTests.parse(json)
            #expect(condition == .compare(command, .get("usage.projects"), .raw("x")))
            #expect(condition.jsonValue["lodashCommand"] == .string(command.rawValue))
        }

        /// Every command over every pair of awkward values: no trap, and `ne` is always `!eq`.
        @Test func totalOverMixedTypes() {
            let values: [JSONValue?] = [
                nil, .null, true, 0, -1.5, 1e300, "", "a", "2024-01-01", "(", [], [.null], [1, "a"], [:], ["a": [1]],
            ]
            for lhs in values {
                for rhs in values {
                    for command in ComparisonCommand.allCases {
                        _ = ConditionCommandCase(lhs, rhs, false).evaluate(command)
                    }
                    let row = ConditionCommandCase(lhs, rhs, false)
                    #expect(row.evaluate(.ne) == !row.evaluate(.eq))
                }
            }
        }
    }

    @Suite("Combinators")
    struct Combinators {
        static let yes = Condition.compare(.eq, .raw(1), .raw(1))
        static let no = Condition.compare(.eq, .raw(1), .raw(2))

        @Test(arguments: [
            (Condition.all([yes, yes]), true), (.all([yes, no]), false), (.all([]), true),
            (.any([no, yes]), true), (.any([no, no]), false), (.any([]), false),
            (.not(yes), false), (.not(no), true), (.not(.all([yes, .any([no, .not(no)])])), false),
        ])
        func evaluate(condition: Condition, expected: Bool) {
            #expect(condition.evaluate(context: [:], now: ConditionTests.now) == expected)
        }

        @Test func parsesNestedJSON() throws {
            let condition = try ConditionTests.parse(
                """
                {"all": [
                  {"lodashCommand": "eq", "value": {"type": "get", "value": "plan"}, "compareTo": {"type": "raw", "value": "trial"}},
                  {"not": {"lodashCommand": "isEmpty", "value": {"type": "get", "value": "email"}}},
                  {"any": [{"lodashCommand": "isNil", "value": {"type": "get", "value": "x"}}]}
                ], "description": "ignored"}
                """)
            #expect(
                condition
                    == .all([
                        .compare(.eq, .get("plan"), .raw("trial")), .not(.compare(.isEmpty, .get("email"))),
                        .any([.compare(.isNil, .get("x"))]),
                    ]))
            #expect(condition.evaluate(context: ["plan": "trial", "email": "a@b.c"], now: ConditionTests.now))
            #expect(!condition.evaluate(context: ["plan": "trial", "email": ""], now: ConditionTests.now))
            #expect(!condition.evaluate(context: ["plan": "pro", "email": "a@b.c"], now: ConditionTests.now))
        }

        @Test(arguments: [
            Condition.compare(.gt, .get("usage.projects"), .raw(0)), .compare(.isNil, .get("a")),
            .compare(.matches, .template("{{a}}"), .raw("^x")), .compare(.lt, .now, .get("trialEndsAt")),
            .all([.any([.compare(.has, .raw(["a": 1]), .raw("a"))]), .not(.compare(.ne, .raw(.null), .raw([1, 2])))]),
        ])
        func jsonRoundTrip(condition: Condition) throws {
            let reparsed = try Condition.parse(
                JSONValue(json: condition.jsonValue.jsonString()), sequence: "s", version: 1, step: "x")
            #expect(reparsed == condition)
        }

        @Test func designExample() throws {
            let json = #"{"lodashCommand": "gt", "value": {"type": "get", "value": "usage.projects"}, "#
                + #""compareTo": {"type": "raw", "value": 0}}"#
            let condition = try ConditionTests.parse(json)
            #expect(condition == .compare(.gt, .get("usage.projects"), .raw(0)))
            #expect(condition.jsonValue == (try JSONValue(json: json)))
            #expect(condition.evaluate(context: ["usage": ["projects": 2]], now: ConditionTests.now))
            #expect(!condition.evaluate(context: ["usage": ["projects": 0]], now: ConditionTests.now))
            #expect(!condition.evaluate(context: [:], now: ConditionTests.now))
            #expect(!condition.evaluate(context: "not an object", now: ConditionTests.now))
        }
    }

    @Suite("Operands")
    struct Operands {
        static let context: JSONValue = [
            "user": ["name": "Ada", "tags": ["beta", "vip"]], "orders": [["total": 30], ["total": 70.5]],
            "trialEndsAt": "2023-11-15T09:00:00+01:00", "count": 3, "nothing": .null,
        ]

        @Test(arguments: [
            (Operand.get("user.name"), JSONValue.string("Ada")), (.get("orders.1.total"), 70.5),
            (.get("orders[0].total"), 30), (.get("user.tags[1]"), "vip"), (.get("orders.5.total"), .null),
            (.get("nothing"), .null), (.get("user.name.first"), .null), (.raw(["x": [1]]), JSONValue.object(["x": [1]])),
            (.raw("{{user.name}}"), "{{user.name}}"), (.template("Hi {{user.name}}, {{count}}"), "Hi Ada, 3"),
            (.template("{{missing}}"), ""), (.template("plain"), "plain"), (.now, "2023-11-14T22:13:20.000Z"),
        ])
        func resolve(operand: Operand, expected: JSONValue) {
            #expect(operand.resolve(context: Self.context, now: ConditionTests.now) == expected)
        }

        @Test func templateIsAlwaysAString() {
            let condition = Condition.compare(.eq, .template("{{count}}"), .raw(3))
            #expect(!condition.evaluate(context: Self.context, now: ConditionTests.now))
            #expect(Condition.compare(.eq, .template("{{count}}"), .raw("3")).evaluate(
                context: Self.context, now: ConditionTests.now))
        }

        @Test(arguments: [
            (ComparisonCommand.lt, "2023-11-15T09:00:00+01:00", true),  // 08:00Z tomorrow
            (.gt, "2023-11-14", true), (.gt, "2023-11-14T22:13:20.001Z", false),
            (.gte, "2023-11-14T22:13:20Z", true), (.lte, "2023-11-14T23:13:20+01:00", true),
            (.gt, "2023-11-14T23:00:00", false), (.lt, "2023-11-14T17:13:21-05:00", true),
            (.eq, "2023-11-14T22:13:20.000Z", true), (.gt, "not a date", false),
        ])
        func nowAgainstISODates(command: ComparisonCommand, date: String, expected: Bool) {
            let condition = Condition.compare(command, .now, .raw(.string(date)))
            #expect(condition.evaluate(context: [:], now: ConditionTests.now) == expected)
        }

        @Test func nowAgainstContextDate() {
            let beforeTrialEnds = Condition.compare(.lt, .now, .get("trialEndsAt"))
            #expect(beforeTrialEnds.evaluate(context: Self.context, now: ConditionTests.now))
            #expect(!beforeTrialEnds.evaluate(context: Self.context, now: ConditionTests.now.addingTimeInterval(86_400)))
        }

        @Test(arguments: [
            ("2024-02-29", 1_709_164_800.0), ("1970-01-01T00:00:00Z", 0), ("1969-12-31T23:59:59.5Z", -0.5),
            ("2024-01-01t10:30+0130", 1_704_099_600), ("2024-01-01 10:30:00,25-02", 1_704_112_200.25),
            ("0000-03-01", -62_162_035_200), ("9999-12-31T23:59:59.999Z", 253_402_300_799.999),
        ])
        func parsesTimestamps(text: String, seconds: Double) throws {
            let date = try #require(ISO8601Timestamp.date(from: text))
            #expect(abs(date.timeIntervalSince1970 - seconds) < 0.000_5)
        }

        @Test(arguments: [
            "2023-02-29", "2024-00-10", "2024-04-31", "2024-01-01T24:00", "2024-01-01T10:60", "2024-01-01T10:00:00.",
            "2024-01-01T10", "2024-01-01Z", "2024-01-01T10:00+2", "2024-1-01", "20240101", "2024", "", "tomorrow",
            "2024-01-01T10:00:00Zjunk", "２０２４-01-01",
        ])
        func rejectsNonTimestamps(text: String) {
            #expect(ISO8601Timestamp.date(from: text) == nil)
        }

        @Test(arguments: [
            0.0, 1_700_000_000.123, -1.5, 951_782_400, 253_402_300_799.999, -62_167_219_200,
        ])
        func formatsAndReparses(seconds: Double) throws {
            let text = ISO8601Timestamp.string(from: Date(timeIntervalSince1970: seconds))
            #expect(text.count == 24 && text.hasSuffix("Z"))
            let back = try #require(ISO8601Timestamp.date(from: text))
            #expect(abs(back.timeIntervalSince1970 - seconds) < 0.000_5)
        }

        @Test func formatsOutOfRangeDatesWithoutTrapping() {
            #expect(ISO8601Timestamp.string(from: .distantFuture) == "4001-01-01T00:00:00.000Z")
            #expect(ISO8601Timestamp.string(from: .distantPast) == "0000-12-30T00:00:00.000Z")  // proleptic Gregorian
            #expect(ISO8601Timestamp.string(from: Date(timeIntervalSince1970: 1e15)) == "9999-12-31T23:59:59.999Z")
            #expect(ISO8601Timestamp.string(from: Date(timeIntervalSince1970: -1e15)) == "0000-01-01T00:00:00.000Z")
            #expect(ISO8601Timestamp.string(from: Date(timeIntervalSince1970: .infinity)) == "9999-12-31T23:59:59.999Z")
        }
    }
}
