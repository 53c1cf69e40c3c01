public import Foundation

/// A JSON value: the type of enrollment contexts and step configs.
///
/// Numbers are stored as `Double`, as JSON itself does; integral values encode
/// without a fraction (`2`, not `2.0`). Objects encode with sorted keys so two
/// equal values always produce the same bytes.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue {
    /// The string, if this is a string.
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    /// The number, if this is a number.
    public var numberValue: Double? { if case .number(let n) = self { n } else { nil } }
    /// The Boolean, if this is a Boolean.
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    /// The members, if this is an object.
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    /// `true` for `.null`.
    public var isNull: Bool { self == .null }

    /// The member named `key`, if this is an object that has it.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { o[key] } else { nil }
    }

    /// The JSON type name used in error messages: `null`, `boolean`, `number`, `string`, `array`, `object`.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Looks up a dotted path: `user.firstName`, `items.0.sku` or `items[0].sku`.
    ///
    /// Returns `nil` when any segment is missing; an explicit JSON `null` is returned as `.null`.
    public func value(atPath path: String) -> JSONValue? {
        var current = self
        for segment in JSONValue.pathSegments(path) {
            switch current {
            case .object(let members):
                guard let next = members[segment] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(segment), elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    /// Splits `a.b[0].c` into `["a", "b", "0", "c"]` (`.`, `[` and `]` all separate; empty parts are dropped).
    ///
    /// On the hot path of every condition, so it scans UTF-8 bytes once instead of going through Foundation.
    static func pathSegments(_ path: String) -> [String] {
        if let segments = path.utf8.withContiguousStorageIfAvailable(split) { return segments }
        return Array(path.utf8).withUnsafeBufferPointer(split)
    }

    private static func split(_ bytes: UnsafeBufferPointer<UInt8>) -> [String] {
        var segments: [String] = []
        var start = 0
        for i in 0...bytes.count {
            let isSeparator = i == bytes.count || bytes[i] == UInt8(ascii: ".") || bytes[i] == UInt8(ascii: "[")
                || bytes[i] == UInt8(ascii: "]")
            guard isSeparator else { continue }
            if i > start { segments.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)) }
            start = i + 1
        }
        return segments
    }

    /// Returns this object with `patch`'s members merged in (objects merge deeply, everything else replaces).
    public func merging(_ patch: [String: JSONValue]) -> JSONValue {
        var members = objectValue ?? [:]
        for (key, value) in patch {
            if case .object(let inner) = value, let existing = members[key], existing.objectValue != nil {
                members[key] = existing.merging(inner)
            } else {
                members[key] = value
            }
        }
        return .object(members)
    }
}

// MARK: - JSON text

extension JSONValue {
    /// The deepest nesting of arrays and objects the package reads, writes or accepts: 256.
    ///
    /// JSON text nested deeper is refused when it is parsed, and a value built in Swift that is
    /// nested deeper is refused by every call that stores it (enroll, `updateContext`, register),
    /// so no later step (templates, conditions, the database) ever meets one.
    public static let maximumDepth = 256

    /// Parses a JSON document (RFC 8259).
    ///
    /// - Throws: ``SequencerError`` with code ``SequencerError/Code/malformedJSON`` whose
    ///   message says what is wrong and whose ``SequencerError/line`` and
    ///   ``SequencerError/column`` say where; nesting deeper than ``maximumDepth`` is refused.
    public init(json: String) throws {
        do {
            self = try JSONReader.parse(json)
        } catch {
            throw SequencerError(.malformedJSON, error.message, line: error.line, column: error.column)
        }
    }

    /// Parses a JSON document (RFC 8259); see ``init(json:)``.
    public init(jsonData: Data) throws {
        let parsed: Result<JSONValue, JSONReader.Failure> = jsonData.withUnsafeBytes { raw in
            do throws(JSONReader.Failure) {
                return .success(try JSONReader.parse(raw.bindMemory(to: UInt8.self)))
            } catch {
                return .failure(error)
            }
        }
        switch parsed {
        case .success(let value): self = value
        case .failure(let error):
            throw SequencerError(.malformedJSON, error.message, line: error.line, column: error.column)
        }
    }

    /// This value as compact JSON with sorted keys (so equal values give equal bytes), UTF-8.
    public func jsonData() throws -> Data {
        Data(jsonString().utf8)
    }

    /// This value as a compact JSON string with sorted keys.
    /// Pretty JSON with sorted keys, for people (the command line, the dashboard) and for `jq`.
    package var prettyJSON: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "null"
    }

    public func jsonString() -> String {
        JSONWriter(sortedKeys: true).write(self)
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    /// Decodes any JSON value. Refuses nesting deeper than ``maximumDepth`` (counted from the
    /// decoder's root).
    public init(from decoder: any Decoder) throws {
        guard decoder.codingPath.count < Self.maximumDepth else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "nested deeper than \(Self.maximumDepth) levels"))
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? container.decode([String: JSONValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    /// Encodes any JSON value. Refuses nesting deeper than ``maximumDepth``.
    public func encode(to encoder: any Encoder) throws {
        guard encoder.codingPath.count < Self.maximumDepth else {
            throw EncodingError.invalidValue(self, .init(
                codingPath: encoder.codingPath, debugDescription: "nested deeper than \(Self.maximumDepth) levels"))
        }
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n):
            if let integer = n.exactJSONInteger {
                try container.encode(integer)
            } else {
                try container.encode(n)
            }
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// Converts any `Encodable` value (a typed context, say) to a `JSONValue`.
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONValue(jsonData: data)
    }

    /// Decodes this value into a `Decodable` type.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: jsonData())
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: CustomStringConvertible {
    public var description: String { jsonString() }
}

extension Double {
    /// This number as an integer when it is one that a `Double` holds exactly (|n| < 2^53), so
    /// JSON writes `3`, not `3.0`; `nil` otherwise. Every JSON writer of the package uses it, so
    /// they cannot drift apart.
    package var exactJSONInteger: Int64? {
        rounded() == self && abs(self) < 9.007_199_254_740_992e15 ? Int64(self) : nil
    }
}
