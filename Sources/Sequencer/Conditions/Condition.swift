public import Foundation

// INTERFACE STUB: replaced by the full implementation.
public indirect enum Condition: Sendable, Hashable {
    case all([Condition])

    public static func parse(_ config: JSONValue, sequence: String, version: Int, step: String) throws -> Condition {
        .all([])
    }

    public func evaluate(context: JSONValue, now: Date) -> Bool { true }
}
