import Foundation

/// The error every Sequencer API throws.
///
/// A struct with an extensible ``Code`` (as PostgresNIO's `PSQLError`), carrying
/// what a user needs to find the problem: the sequence, its version, the step and
/// the config field, plus the underlying error if there is one.
///
/// ```swift
/// do { try await sequencer.register(definition) }
/// catch let error as SequencerError where error.code == .unknownStepReference {
///     print(error.step, error.field)   // "has-used", "altNext"
/// }
/// ```
public struct SequencerError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// JSON that is not a valid definition (syntax, missing or mistyped key).
        public static let malformedDefinition = Code("malformedDefinition")
        /// A definition with no steps.
        public static let noSteps = Code("noSteps")
        /// An empty or otherwise unusable name, id or version.
        public static let invalidIdentifier = Code("invalidIdentifier")
        /// Two steps share an id.
        public static let duplicateStepID = Code("duplicateStepID")
        /// A step names a runner that is not registered.
        public static let unknownRunner = Code("unknownRunner")
        /// `next`, `altNext` or a GoTo `target` names a step that does not exist.
        public static let unknownStepReference = Code("unknownStepReference")
        /// GoTo steps that jump only to each other, so no step could ever wait or branch.
        public static let goToCycle = Code("goToCycle")
        /// A runner rejected a step's config.
        public static let invalidConfig = Code("invalidConfig")
        /// The version is not greater than the stored one, or it is stored with different content.
        public static let versionConflict = Code("versionConflict")
        /// No sequence (or version) with that name is registered.
        public static let unknownSequence = Code("unknownSequence")
        /// No enrollment with that id.
        public static let unknownEnrollment = Code("unknownEnrollment")
        /// The operation does not apply in the enrollment's current status.
        public static let invalidState = Code("invalidState")
        /// A context that is not a JSON object.
        public static let invalidContext = Code("invalidContext")
        /// The store failed (connection, query).
        public static let storeFailure = Code("storeFailure")
    }

    public var code: Code
    /// What went wrong, in a sentence.
    public var message: String
    public var sequence: String?
    public var version: Int?
    public var step: String?
    /// The config key (dotted path) or definition field at fault.
    public var field: String?
    public var underlying: (any Error)?

    public init(
        _ code: Code, _ message: String, sequence: String? = nil, version: Int? = nil, step: String? = nil,
        field: String? = nil, underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.sequence = sequence
        self.version = version
        self.step = step
        self.field = field
        self.underlying = underlying
    }

    public var description: String {
        var location: [String] = []
        if let sequence { location.append("sequence '\(sequence)'" + (version.map { " v\($0)" } ?? "")) }
        if let step { location.append("step '\(step)'") }
        if let field { location.append("field '\(field)'") }
        let prefix = location.isEmpty ? "" : location.joined(separator: ", ") + ": "
        let suffix = underlying.map { " (\($0))" } ?? ""
        return "\(code): \(prefix)\(message)\(suffix)"
    }

    /// Turns a `DecodingError` from a definition document into a ``Code/malformedDefinition`` error
    /// naming the step (by id when it could be read, else by index) and the field.
    static func decoding(_ error: DecodingError, data: Data) -> SequencerError {
        let (path, reason): ([any CodingKey], String) =
            switch error {
            case .typeMismatch(let type, let ctx): (ctx.codingPath, "expected \(type): \(ctx.debugDescription)")
            case .valueNotFound(let type, let ctx): (ctx.codingPath, "missing \(type) value")
            case .keyNotFound(let key, let ctx): (ctx.codingPath + [key], "missing key '\(key.stringValue)'")
            case .dataCorrupted(let ctx): (ctx.codingPath, ctx.debugDescription)
            @unknown default: ([], "\(error)")
            }
        let raw = try? JSONValue(jsonData: data)
        let sequence = raw?["name"]?.stringValue
        var step: String?
        var fieldPath = path.map(\.stringValue)
        if path.first?.stringValue == "steps", path.count >= 2, let index = path[1].intValue {
            step = raw?["steps"]?.arrayValue?[safe: index]?["id"]?.stringValue ?? "#\(index)"
            fieldPath = Array(fieldPath.dropFirst(2))
        }
        return SequencerError(
            .malformedDefinition, reason, sequence: sequence, version: raw?["version"]?.numberValue.map { Int($0) },
            step: step, field: fieldPath.isEmpty ? nil : fieldPath.joined(separator: "."), underlying: error)
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
