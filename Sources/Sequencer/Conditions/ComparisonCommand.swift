import Foundation
import Synchronization

/// The comparison a ``Condition/compare(_:_:_:)`` applies to its two operands.
///
/// Raw values are the names of the JSON `lodashCommand` field. Two lodash aliases
/// are accepted when parsing, `isEqual` (for ``eq``) and `contains` (for
/// ``includes``); ``Condition/jsonValue`` always writes the canonical name.
/// The exact semantics, including mixed types, are listed on ``Condition``.
public enum ComparisonCommand: String, Sendable, Hashable, CaseIterable {
    /// JSON equality: numbers by value (`1 == 1.0`), no type coercion (`"1" != 1`).
    case eq
    /// The negation of ``eq``.
    case ne
    /// Greater than: numbers numerically, ISO-8601 date strings chronologically, other strings lexicographically.
    case gt
    /// Greater than or equal, ordered as ``gt``.
    case gte
    /// Less than, ordered as ``gt``.
    case lt
    /// Less than or equal, ordered as ``gt``.
    case lte
    /// An array holds an element (or an object a member value) equal to `compareTo`, or a string contains it.
    case includes
    /// Both are strings and the value starts with `compareTo`.
    case startsWith
    /// Both are strings and the value ends with `compareTo`.
    case endsWith
    /// The value is null or missing, `""`, `[]` or `{}`. Takes no `compareTo`.
    case isEmpty
    /// The value is null or missing. Takes no `compareTo`.
    case isNil
    /// The value is an object or array in which the dotted path `compareTo` exists.
    case has
    /// The value is a string in which the regular expression `compareTo` finds a match (linear
    /// time; see the syntax on ``Condition``).
    case matches

    /// Lodash names accepted as synonyms when parsing: `isEqual` → ``eq``, `contains` → ``includes``.
    public static let aliases: [String: ComparisonCommand] = ["isEqual": .eq, "contains": .includes]

    /// The command named `name`: a canonical name (`"gte"`) or an alias (`"isEqual"`).
    public init?(name: String) {
        guard let command = ComparisonCommand(rawValue: name) ?? Self.aliases[name] else { return nil }
        self = command
    }

    /// Whether the command compares against a `compareTo` operand (all but ``isEmpty`` and ``isNil``).
    public var needsCompareTo: Bool {
        switch self {
        case .isEmpty, .isNil: false
        default: true
        }
    }

    /// Every accepted name, for error messages: `eq, ne, …, matches (aliases: contains, isEqual)`.
    static var knownNames: String {
        allCases.map(\.rawValue).joined(separator: ", ")
            + " (aliases: " + aliases.keys.sorted().joined(separator: ", ") + ")"
    }

    /// Applies the command to resolved operands (a missing path arrives as `.null`). Never traps.
    ///
    /// `compareTo` is ignored by ``isEmpty`` and ``isNil``.
    public func holds(_ value: JSONValue, _ compareTo: JSONValue) -> Bool {
        switch self {
        case .eq: value == compareTo
        case .ne: value != compareTo
        case .gt: Self.order(value, compareTo).map { $0 > 0 } ?? false
        case .gte: Self.order(value, compareTo).map { $0 >= 0 } ?? false
        case .lt: Self.order(value, compareTo).map { $0 < 0 } ?? false
        case .lte: Self.order(value, compareTo).map { $0 <= 0 } ?? false
        case .includes: Self.includes(value, compareTo)
        case .startsWith:
            if case .string(let s) = value, case .string(let prefix) = compareTo { s.hasPrefix(prefix) } else { false }
        case .endsWith:
            if case .string(let s) = value, case .string(let suffix) = compareTo { s.hasSuffix(suffix) } else { false }
        case .isEmpty: Self.isEmpty(value)
        case .isNil: value == .null
        case .has: Self.has(value, path: compareTo)
        case .matches: Self.matches(value, pattern: compareTo)
        }
    }

    /// -1, 0 or 1 when the two values are ordered (two numbers, two strings), else `nil`.
    static func order(_ lhs: JSONValue, _ rhs: JSONValue) -> Int? {
        switch (lhs, rhs) {
        case (.number(let a), .number(let b)):
            return a < b ? -1 : (a > b ? 1 : 0)
        case (.string(let a), .string(let b)):
            if let da = ISO8601Timestamp.date(from: a), let db = ISO8601Timestamp.date(from: b) {
                return da < db ? -1 : (da > db ? 1 : 0)
            }
            return a < b ? -1 : (a == b ? 0 : 1)
        default:
            return nil
        }
    }

    private static func includes(_ container: JSONValue, _ element: JSONValue) -> Bool {
        switch container {
        case .array(let elements): elements.contains(element)
        case .object(let members): members.values.contains(element)
        case .string(let s):
            if case .string(let needle) = element { needle.isEmpty || s.contains(needle) } else { false }
        default: false
        }
    }

    private static func isEmpty(_ value: JSONValue) -> Bool {
        switch value {
        case .null: true
        case .string(let s): s.isEmpty
        case .array(let a): a.isEmpty
        case .object(let o): o.isEmpty
        case .bool, .number: false
        }
    }

    private static func has(_ value: JSONValue, path: JSONValue) -> Bool {
        guard case .string(let path) = path, !JSONValue.pathSegments(path).isEmpty else { return false }
        switch value {
        case .object, .array: return value.value(atPath: path) != nil
        default: return false
        }
    }

    private static func matches(_ value: JSONValue, pattern: JSONValue) -> Bool {
        guard case .string(let s) = value, case .string(let pattern) = pattern,
            let regex = try? regex(for: pattern)
        else { return false }
        return regex.matches(s)
    }

    /// The compiled regular expression for `pattern`, cached; throws if it does not compile.
    static func regex(for pattern: String) throws -> SafeRegex {
        try RegexCache.shared.regex(for: pattern)
    }
}

/// Compiled `matches` patterns, shared by every evaluation (at most 1,000; then it starts over).
private final class RegexCache: Sendable {
    static let shared = RegexCache()

    private let regexes = Mutex<[String: SafeRegex]>([:])

    func regex(for pattern: String) throws -> SafeRegex {
        if let hit = regexes.withLock({ $0[pattern] }) { return hit }
        let compiled = try SafeRegex(pattern)
        regexes.withLock {
            if $0.count > 1_000 { $0.removeAll(keepingCapacity: true) }
            $0[pattern] = compiled
        }
        return compiled
    }
}
