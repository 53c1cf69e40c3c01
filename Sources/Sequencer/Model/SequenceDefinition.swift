public import Foundation

/// A sequence: a named, versioned list of steps.
///
/// A definition is data. It decodes from the JSON format in the README and can
/// be built in Swift; both give the same value:
///
/// ```swift
/// let drip = SequenceDefinition(name: "trial-onboarding", version: 1) {
///     Step(id: "welcome", runner: "Email", config: ["from": "hi@example.com", "to": ["{{email}}"],
///                                                   "subject": "Welcome", "text": "Glad you're here."])
///     Step.waitForDuration("wait-2d", 2, "days")
///     Step.goTo("done", target: Step.end)
/// }
/// ```
///
/// A definition is stored by `(name, version)` and never changed in place; an
/// enrollment stays on the version it started with.
public struct SequenceDefinition: Sendable, Hashable {
    /// The sequence name enrollments refer to.
    public var name: String
    /// Starts at 1; a new version must be greater than every stored one.
    public var version: Int
    /// The time zone (IANA identifier, e.g. `"Europe/Paris"`) used when an enrollment's context names none (see ``Sequencer/Configuration/timeZoneKeys``).
    public var timeZone: String?
    /// The steps, in order. Execution starts at the first.
    public var steps: [Step]
    /// At most one active or paused enrollment per subject in this sequence (any version), and
    /// what enrolling the subject again does meanwhile; `nil` (the default): any number. JSON key
    /// `"uniqueSubject"`. Enforced by the store (on PostgreSQL, a partial unique index), so
    /// concurrent enrolls of one subject leave exactly one. Once that enrollment completes, fails
    /// or is cancelled, the subject can be enrolled again; retrying a failed one while another is
    /// active is refused with ``SequencerError/Code/alreadyEnrolled``.
    public var uniqueSubject: UniqueSubject?
    /// Quiet hours for messages (JSON key `"sendWindow"`): a step whose runner sends messages
    /// (Email, SMS, ``TaskRunner/sendsMessages``) and comes due outside this window, in the
    /// enrollment's time zone, waits until it next opens. A step's own ``Step/window`` replaces it.
    public var sendWindow: SendWindow?
    /// Messages sent when an enrollment fails, completes or keeps retrying (JSON key
    /// `"notifications"`); see ``SequenceNotification``.
    public var notifications: [SequenceNotification] = []

    /// What enrolling a subject that already has an active or paused enrollment does, in a
    /// sequence with ``SequenceDefinition/uniqueSubject``.
    public enum UniqueSubject: String, Sendable, Hashable, Codable, CaseIterable {
        /// The call returns the existing enrollment's id, as an idempotency key would.
        case returnExisting
        /// The call throws ``SequencerError/Code/alreadyEnrolled`` and stores nothing of its batch.
        case reject
    }

    public init(name: String, version: Int = 1, timeZone: String? = nil, steps: [Step]) {
        self.name = name
        self.version = version
        self.timeZone = timeZone
        self.steps = steps
    }

    /// Builds a definition from a list of steps.
    public init(name: String, version: Int = 1, timeZone: String? = nil, @StepsBuilder steps: () -> [Step]) {
        self.init(name: name, version: version, timeZone: timeZone, steps: steps())
    }

    /// Decodes a definition from its JSON form.
    ///
    /// Strict: JSON that does not parse is refused with its line and column; an unknown key
    /// (`"altnext"`), a missing or mistyped one is refused naming the step and field, with the key
    /// probably meant. Each error is a ``SequencerError`` with code
    /// ``SequencerError/Code/malformedDefinition``. The definition is not yet validated against
    /// runners; ``Sequencer/register(_:)`` does that.
    public init(json: String) throws {
        let value: JSONValue
        do {
            value = try JSONReader.parse(json)
        } catch {
            throw SequencerError(.malformedDefinition, "not valid JSON: \(error.message)", line: error.line,
                                 column: error.column)
        }
        self = try DefinitionReader.read(value)
    }

    /// Decodes a definition from its JSON form (UTF-8); see ``init(json:)``.
    public init(jsonData: Data) throws {
        try self.init(json: String(decoding: jsonData, as: UTF8.self))
    }

    /// Reads a definition from a JSON file; see ``init(json:)``. Every error carries the file's
    /// path in ``SequencerError/file``.
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw SequencerError(.malformedDefinition, "cannot read the file", file: url.path, underlying: error)
        }
        do {
            try self.init(jsonData: data)
        } catch var error as SequencerError {
            error.file = url.path
            throw error
        }
    }

    /// The JSON form: ``jsonData()`` parsed, or what ``init(json:)`` reads back to an equal definition.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = [
            "name": .string(name), "version": .number(Double(version)), "steps": .array(steps.map(\.jsonValue)),
        ]
        if let timeZone { members["timeZone"] = .string(timeZone) }
        if let uniqueSubject { members["uniqueSubject"] = .string(uniqueSubject.rawValue) }
        if let sendWindow { members["sendWindow"] = sendWindow.jsonValue }
        if !notifications.isEmpty { members["notifications"] = .array(notifications.map(\.jsonValue)) }
        return .object(members)
    }

    /// The JSON form, with sorted keys.
    public func jsonData() throws -> Data {
        try jsonValue.jsonData()
    }

    /// The step with this id.
    public func step(_ id: String) -> Step? {
        steps.first { $0.id == id }
    }

    /// The index of the step with this id.
    public func index(of id: String) -> Int? {
        steps.firstIndex { $0.id == id }
    }

    /// Where `next` from `stepID` goes: its explicit `next`, else the following step; `nil` means the end.
    public func successor(of stepID: String) -> String? {
        index(of: stepID).flatMap(successor(at:))
    }

    /// Where `altNext` from `stepID` goes: its `altNext`, else its `next`.
    public func alternative(of stepID: String) -> String? {
        index(of: stepID).flatMap(alternative(at:))
    }

    /// Where `next` from the step at `index` goes; `nil` means the end.
    func successor(at index: Int) -> String? {
        if let explicit = steps[index].next { return explicit == Step.end ? nil : explicit }
        let following = index + 1
        return following < steps.count ? steps[following].id : nil
    }

    /// Where `altNext` from the step at `index` goes: its `altNext`, else its `next`.
    func alternative(at index: Int) -> String? {
        if let alt = steps[index].altNext { return alt == Step.end ? nil : alt }
        return successor(at: index)
    }
}

extension SequenceDefinition: Codable {
    /// Decodes the JSON form strictly, as ``init(json:)`` does.
    public init(from decoder: any Decoder) throws {
        self = try DefinitionReader.read(JSONValue(from: decoder))
    }

    /// Encodes the JSON form (``jsonValue``).
    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }
}

/// Collects ``Step`` values for ``SequenceDefinition/init(name:version:timeZone:steps:)-(_,_,_,()->[Step])``.
@resultBuilder
public enum StepsBuilder {
    public static func buildExpression(_ step: Step) -> [Step] { [step] }
    public static func buildExpression(_ steps: [Step]) -> [Step] { steps }
    public static func buildBlock(_ parts: [Step]...) -> [Step] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [Step]?) -> [Step] { part ?? [] }
    public static func buildEither(first: [Step]) -> [Step] { first }
    public static func buildEither(second: [Step]) -> [Step] { second }
    public static func buildArray(_ parts: [[Step]]) -> [Step] { parts.flatMap { $0 } }
}
