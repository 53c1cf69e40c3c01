public import Foundation

/// One side of a ``Condition/compare(_:_:_:)``: where the value comes from.
///
/// In JSON an operand is an object with a `type` and, except for `now`, a `value`:
///
/// ```json
/// {"type": "get", "value": "usage.projects"}
/// {"type": "raw", "value": 0}
/// {"type": "template", "value": "{{firstName}} {{lastName}}"}
/// {"type": "now"}
/// ```
public enum Operand: Sendable, Hashable {
    /// The value at a dotted path in the context: `user.plan`, `items.0.sku` or `items[0].sku`.
    ///
    /// A path that does not exist resolves to `null`, so it is ``ComparisonCommand/isNil``
    /// and ``ComparisonCommand/eq`` to a raw `null`.
    case get(String)
    /// A literal JSON value, used as it is (strings are not rendered as templates).
    case raw(JSONValue)
    /// A Mustache template rendered against the context; the result is always a string.
    ///
    /// Use ``get(_:)`` to compare numbers: `{{count}}` renders as the string `"3"`,
    /// which is not ordered against the number `3`.
    case template(String)
    /// The evaluation time, as an ISO-8601 UTC string with milliseconds (`2025-03-01T09:30:00.000Z`),
    /// so it orders chronologically against any ISO-8601 date string.
    case now

    /// The operand's value for one evaluation. Never throws: a template that fails to render yields `null`.
    public func resolve(context: JSONValue, now: Date) -> JSONValue {
        switch self {
        case .get(let path):
            context.value(atPath: path) ?? .null
        case .raw(let value):
            value
        case .template(let template):
            (try? TemplateRenderer.render(template, context: context)).map(JSONValue.string) ?? .null
        case .now:
            .string(ISO8601Timestamp.string(from: now))
        }
    }

    /// The JSON form, e.g. `{"type": "get", "value": "usage.projects"}`.
    public var jsonValue: JSONValue {
        switch self {
        case .get(let path): ["type": "get", "value": .string(path)]
        case .raw(let value): ["type": "raw", "value": value]
        case .template(let template): ["type": "template", "value": .string(template)]
        case .now: ["type": "now"]
        }
    }

    /// The `type` names of the JSON form.
    static let typeNames = ["get", "raw", "template", "now"]
}
