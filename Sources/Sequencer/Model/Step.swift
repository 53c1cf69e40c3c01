/// One step of a sequence: a runner name, its config, and where to go next.
///
/// `next` defaults to the following step; running off the end, or a target of
/// ``Step/end`` (`"$end"`), completes the enrollment. `altNext` is where a
/// runner's ``RunnerAction/altNext`` goes; a step without one goes on to `next`.
public struct Step: Sendable, Hashable {
    /// The target that completes the enrollment: `"$end"`.
    public static let end = "$end"

    /// Unique within its sequence.
    public var id: String
    /// The name of the ``TaskRunner`` that runs this step, e.g. `"WaitForDuration"`.
    public var runner: String
    /// Free-form JSON; string values are Mustache templates rendered against the enrollment's context.
    public var config: JSONValue
    /// The step after this one; `nil` means the following step in the list.
    public var next: String?
    /// Where ``RunnerAction/altNext`` goes; `nil` means the same as `next`.
    public var altNext: String?
    /// When the step may run, in the enrollment's time zone (JSON key `"window"`): one that comes
    /// due outside it waits until it next opens (see ``SendWindow``). For message steps it takes
    /// the place of the sequence's ``SequenceDefinition/sendWindow``.
    public var window: SendWindow?

    public init(id: String, runner: String, config: JSONValue = [:], next: String? = nil, altNext: String? = nil) {
        self.id = id
        self.runner = runner
        self.config = config
        self.next = next
        self.altNext = altNext
    }

    /// The JSON form, which ``SequenceDefinition/init(json:)`` reads back to an equal step.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = ["id": .string(id), "runner": .string(runner), "config": config]
        if let next { members["next"] = .string(next) }
        if let altNext { members["altNext"] = .string(altNext) }
        if let window { members["window"] = window.jsonValue }
        return .object(members)
    }
}

extension Step: Codable {
    /// Decodes the JSON form strictly (unknown keys are refused, naming the key meant).
    public init(from decoder: any Decoder) throws {
        self = try DefinitionReader.readStep(JSONValue(from: decoder), index: 0)
    }

    /// Encodes the JSON form (``jsonValue``).
    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }
}
