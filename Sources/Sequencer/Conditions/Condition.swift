public import Foundation

/// A yes/no question about an enrollment's context: the config of `Conditional` and `Goal` steps.
///
/// A condition is data. Its JSON form is the compatibility contract: a comparison names a
/// command and its operands, and `all`, `any` and `not` combine conditions.
///
/// ```json
/// {"lodashCommand": "gt", "value": {"type": "get", "value": "usage.projects"},
///  "compareTo": {"type": "raw", "value": 0}}
///
/// {"all": [{"lodashCommand": "eq", "value": {"type": "get", "value": "plan"},
///           "compareTo": {"type": "raw", "value": "trial"}},
///          {"not": {"lodashCommand": "isEmpty", "value": {"type": "get", "value": "email"}}}]}
/// ```
///
/// The same values built in Swift, and turned into a step:
///
/// ```swift
/// let used = Condition.compare(.gt, .get("usage.projects"), .raw(0))
/// let trialWithEmail = Condition.all([
///     .compare(.eq, .get("plan"), .raw("trial")),
///     .not(.compare(.isEmpty, .get("email"))),
/// ])
/// let step = Step(id: "has-used", runner: "Conditional", config: used.jsonValue, altNext: "nudge")
/// ```
///
/// ## Operands
/// See ``Operand``: `get` (a dotted path in the context, `items.0.sku` or `items[0].sku`),
/// `raw` (a literal), `template` (Mustache, always a string), `now` (the evaluation time as
/// an ISO-8601 UTC string with milliseconds, `2025-03-01T09:30:00.000Z`).
///
/// ## Semantics
/// Evaluation never throws and never traps. A command that does not apply to the
/// operands' types is simply `false`. A missing `get` path resolves to `null`: missing
/// and `null` are the same thing everywhere.
/// - `eq` / `isEqual`: JSON equality. Numbers by value (`1 == 1.0`); no coercion
///   (`"1" != 1`, `true != 1`, `"" != null`); arrays element by element in order; objects
///   member by member in any order; strings by Swift `String` equality (canonically
///   equivalent Unicode is equal). A missing path equals `null`.
/// - `ne`: exactly `!eq`, so values of different types are `ne`.
/// - `gt`, `gte`, `lt`, `lte`: two numbers compare numerically. Two strings that both parse
///   as ISO-8601 timestamps (`2025-03-01`, `2025-03-01T09:30:00`, with optional fraction and
///   `Z`/`±hh:mm` offset; no offset means UTC, a date alone means midnight UTC) compare
///   chronologically, so `now` orders against stored dates. Other pairs of strings compare
///   lexicographically by (canonically normalized) Unicode scalars, case-sensitive (`"B" < "a"`, `"10" < "9"`).
///   Anything else — different types, `null`/missing, Booleans, arrays, objects, a number
///   against a numeric string — is `false` for all four (so `lt` is not `!gte` there).
/// - `includes` / `contains`: an array holds an element `eq` to `compareTo`; an object has a
///   member value `eq` to it; a string contains the string `compareTo` (the empty string is
///   in every string). Otherwise `false`.
/// - `startsWith`, `endsWith`: both operands are strings and the prefix/suffix matches
///   (the empty string always does). Otherwise `false`.
/// - `isEmpty`: `null`/missing, `""`, `[]` and `{}` are empty; numbers and Booleans never are
///   (unlike lodash, `0` and `false` are not empty). Takes no `compareTo`.
/// - `isNil`: `null` or missing. Takes no `compareTo`.
/// - `has`: the value is an object or array and `compareTo` is a non-empty dotted path string
///   that exists in it (a member present with value `null` counts). Otherwise `false`.
/// - `matches`: the value is a string and `compareTo` a regular expression found anywhere in
///   it; anchor with `^…$`, ignore case with `(?i)`. Matching takes linear time whatever the
///   pattern, so no pattern can stall a tick: the syntax is the common subset of ICU, PCRE and
///   RE2 (literals, `.`, classes, `\d \w \s \b`, `\p{L}`, anchors, groups, `|`, `* + ? {n,m}`,
///   the flags `i`, `s`, `m`); backreferences, lookaround, atomic groups and possessive
///   quantifiers are refused at register. A pattern is at most 1,000 bytes, and a match that
///   would take more than 50,000,000 steps (a 50-instruction pattern against a string of a
///   million characters) counts as no match. A `get` pattern that does not compile when
///   evaluated is `false`.
/// - `all` holds when every condition holds, `any` when at least one does, `not` negates.
///   Built in Swift, an empty `all` is `true` and an empty `any` is `false`; the JSON form
///   rejects empty lists as a likely mistake.
///
/// ## Parsing
/// ``parse(_:sequence:version:step:)`` checks everything it can before the sequence is
/// registered, and its ``SequencerError`` names the field as a dotted path from the step's
/// config: `config.lodashCommand`, `config.compareTo.type`, `config.all.1.value`. A raw
/// `matches` pattern must compile; a raw `has` path must be a non-empty string. A condition may
/// carry a `description`; any other key is refused, naming the key probably meant
/// (`"compareto"`: did you mean `compareTo`?).
public indirect enum Condition: Sendable, Hashable {
    /// Applies `command` to the resolved `value` and `compareTo` operands.
    ///
    /// `compareTo` is `nil` for ``ComparisonCommand/isEmpty`` and ``ComparisonCommand/isNil``;
    /// for a command that needs one, a `nil` `compareTo` compares against `null`.
    case compare(ComparisonCommand, Operand, Operand? = nil)
    /// Holds when every condition holds (`true` when empty).
    case all([Condition])
    /// Holds when at least one condition holds (`false` when empty).
    case any([Condition])
    /// Holds when the condition does not.
    case not(Condition)

    /// Reads a condition from a step's `config`.
    ///
    /// - Throws: ``SequencerError`` with code ``SequencerError/Code/invalidConfig``, the given
    ///   sequence, version and step, and the offending `field` (e.g. `config.compareTo.type`).
    public static func parse(_ config: JSONValue, sequence: String, version: Int, step: String) throws -> Condition {
        try Parser(sequence: sequence, version: version, step: step).condition(config, at: "config")
    }

    /// Whether the condition holds for `context` at `now`. Never throws, never traps.
    public func evaluate(context: JSONValue, now: Date) -> Bool {
        switch self {
        case .compare(let command, let value, let compareTo):
            command.holds(
                value.resolve(context: context, now: now), compareTo?.resolve(context: context, now: now) ?? .null)
        case .all(let conditions):
            conditions.allSatisfy { $0.evaluate(context: context, now: now) }
        case .any(let conditions):
            conditions.contains { $0.evaluate(context: context, now: now) }
        case .not(let condition):
            !condition.evaluate(context: context, now: now)
        }
    }

    /// The JSON form, which ``parse(_:sequence:version:step:)`` reads back to an equal condition.
    ///
    /// Aliases are written with their canonical names (`isEqual` as `eq`).
    public var jsonValue: JSONValue {
        switch self {
        case .compare(let command, let value, let compareTo):
            var members: [String: JSONValue] = ["lodashCommand": .string(command.rawValue), "value": value.jsonValue]
            members["compareTo"] = compareTo?.jsonValue
            return .object(members)
        case .all(let conditions):
            return ["all": .array(conditions.map(\.jsonValue))]
        case .any(let conditions):
            return ["any": .array(conditions.map(\.jsonValue))]
        case .not(let condition):
            return ["not": condition.jsonValue]
        }
    }
}

extension Condition: CustomStringConvertible {
    /// The compact JSON form.
    public var description: String { jsonValue.jsonString() }
}
