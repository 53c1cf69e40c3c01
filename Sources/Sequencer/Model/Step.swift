/// One step of a sequence: a runner name, its config, and where to go next.
///
/// `next` defaults to the following step; running off the end, or a target of
/// ``Step/end`` (`"$end"`), completes the enrollment. `altNext` is where a
/// runner's ``RunnerAction/altNext`` goes; a step without one goes on to `next`.
public struct Step: Sendable, Hashable, Codable {
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

    public init(id: String, runner: String, config: JSONValue = [:], next: String? = nil, altNext: String? = nil) {
        self.id = id
        self.runner = runner
        self.config = config
        self.next = next
        self.altNext = altNext
    }

    enum CodingKeys: String, CodingKey { case id, runner, config, next, altNext }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try c.decode(String.self, forKey: .id)
        self.runner = try c.decode(String.self, forKey: .runner)
        self.config = try c.decodeIfPresent(JSONValue.self, forKey: .config) ?? [:]
        self.next = try c.decodeIfPresent(String.self, forKey: .next)
        self.altNext = try c.decodeIfPresent(String.self, forKey: .altNext)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(runner, forKey: .runner)
        try c.encode(config, forKey: .config)
        try c.encodeIfPresent(next, forKey: .next)
        try c.encodeIfPresent(altNext, forKey: .altNext)
    }
}
