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
    ///
    /// **Who mints codes.** Only Sequencer's own modules create codes (the initializer is
    /// `package`): the core defines most, and `SequencerPostgres` adds the ones only a database
    /// can raise, such as `schemaTooNew`. Hosts compare against them (`error.code == .invalidConfig`)
    /// but cannot add their own, so the list stays the package's documented vocabulary, as
    /// PostgresNIO's `PSQLError.Code` does. A host or a custom runner with failures of its own
    /// throws its own error type; the engine keeps its description as the retry or failure reason.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, e.g. `"invalidConfig"`.
        public let rawValue: String
        package init(_ rawValue: String) { self.rawValue = rawValue }
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
        /// Text that is not JSON (RFC 8259), or JSON nested deeper than ``JSONValue/maximumDepth``;
        /// ``SequencerError/line`` and ``SequencerError/column`` say where.
        public static let malformedJSON = Code("malformedJSON")
        /// A value over one of the documented limits (see ``Limits``): a context, definition or
        /// config too large or too deeply nested, a name or key too long, a template nested too deep.
        public static let limitExceeded = Code("limitExceeded")
        /// A number or date outside the range the library accepts: a version that is not a whole
        /// number between 1 and 2,147,483,647, a date outside ``Limits/dates``, NaN.
        public static let outOfRange = Code("outOfRange")
        /// A URL the library cannot use (a database URL that is not `postgres://`, a port out of
        /// range, an unknown `sslmode`); ``SequencerError/field`` names the part.
        public static let invalidURL = Code("invalidURL")
        /// The subject already has an active or paused enrollment in a sequence that allows one
        /// (``SequenceDefinition/uniqueSubject``).
        public static let alreadyEnrolled = Code("alreadyEnrolled")
        /// A callback token this store did not make: mistyped, forged, or of another store
        /// (``Sequencer/complete(token:outcome:now:)``).
        public static let unknownCallback = Code("unknownCallback")
    }

    public var code: Code
    /// What went wrong, in a sentence.
    public var message: String
    /// The sequence at fault, when there is one.
    public var sequence: String?
    public var version: Int?
    public var step: String?
    /// The config key (dotted path, `config.compareTo.type`), definition field (`altNext`) or
    /// argument (`now`) at fault.
    public var field: String?
    /// The file a definition was read from (``SequenceDefinition/init(contentsOf:)``).
    public var file: String?
    /// Where in JSON text the problem is: line and column, both counted from 1.
    public var line: Int?
    public var column: Int?
    public var underlying: (any Error)?

    public init(
        _ code: Code, _ message: String, sequence: String? = nil, version: Int? = nil, step: String? = nil,
        field: String? = nil, file: String? = nil, line: Int? = nil, column: Int? = nil, underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.sequence = sequence
        self.version = version
        self.step = step
        self.field = field
        self.file = file
        self.line = line
        self.column = column
        self.underlying = underlying
    }

    /// `code: file:line:column: sequence 'name' v1, step 'id', field 'f': message (underlying)`, with
    /// the parts that are known.
    public var description: String {
        var place = file ?? ""
        if let line {
            place += (place.isEmpty ? "" : ":") + "line \(line)" + (column.map { ", column \($0)" } ?? "")
        }
        var location: [String] = place.isEmpty ? [] : [place]
        if let sequence { location.append("sequence '\(sequence)'" + (version.map { " v\($0)" } ?? "")) }
        if let step { location.append("step '\(step)'") }
        if let field { location.append("field '\(field)'") }
        let prefix = location.isEmpty ? "" : location.joined(separator: ", ") + ": "
        let suffix = underlying.map { " (\($0))" } ?? ""
        return "\(code): \(prefix)\(message)\(suffix)"
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
