public import Foundation

/// The config keys every callback step shares, read the same way by the built-in HTTP task
/// runner and by a host's own callback runners.
///
/// ```json
/// {"timeout": {"amount": 2, "unit": "hours"}, "heartbeat": {"amount": 5, "unit": "minutes"}, "resultKey": "build"}
/// ```
///
/// | key | |
/// |---|---|
/// | `timeout` | required: how long the outside system has to complete, from when the wait begins; `amount` and `unit` as WaitForDuration's, up to weeks (a day is 24 hours here) |
/// | `heartbeat` | optional: how often it must call ``Sequencer/heartbeat(token:progress:now:)``; missing one times the step out |
/// | `resultKey` | optional: the context key a success's result is merged under |
///
/// A timeout (or a missed heartbeat) goes to the step's `altNext`, or fails the enrollment when
/// it has none; so does a failure the outside system reports.
public struct CallbackStepConfig: Sendable, Hashable {
    /// The keys it reads: `timeout`, `heartbeat`, `resultKey`.
    public static let keys = ["timeout", "heartbeat", "resultKey"]

    /// How the step waits.
    public var wait: CallbackWait
    /// Where a success's result goes in the context.
    public var resultKey: String?

    /// Reads a step's config at register, naming the sequence, step and field in its errors.
    public init(_ step: Step, in definition: SequenceDefinition) throws {
        try self.init(step.config, site: ConfigReader.Site(step, in: definition))
    }

    /// Reads a runner input's (rendered) config.
    public init(_ input: RunnerInput) throws {
        try self.init(input.config, site: ConfigReader.Site(input))
    }

    init(_ config: JSONValue, site: ConfigReader.Site) throws {
        guard config.objectValue != nil else {
            throw site.invalid("config must be an object with a timeout like {\"amount\": 1, \"unit\": \"hours\"}", field: "config")
        }
        guard let timeout = config["timeout"], !timeout.isNull else {
            throw site.invalid("missing required key 'timeout' (how long the callback may take, like {\"amount\": 1, \"unit\": \"hours\"})",
                               field: "config.timeout")
        }
        wait = CallbackWait(timeout: try Self.duration(timeout, key: "timeout", site: site))
        if let heartbeat = config["heartbeat"], !heartbeat.isNull {
            wait.heartbeat = try Self.duration(heartbeat, key: "heartbeat", site: site)
        }
        switch config["resultKey"] {
        case nil, .null?: resultKey = nil
        case .string(let key)? where !key.isEmpty && key.utf8.count <= 200 && !key.utf8.contains(0): resultKey = key
        case let value?:
            throw site.invalid("resultKey must be a context key of 1 to 200 bytes; got \(ConfigReader.describe(value))",
                               field: "config.resultKey")
        }
    }

    /// A positive `{amount, unit}` of elapsed time, weeks at most as a unit.
    private static func duration(_ value: JSONValue, key: String, site: ConfigReader.Site) throws -> Duration {
        let field = "config.\(key)"
        let parsed: WaitForDurationRunner.Config?
        do {
            parsed = try WaitForDurationRunner.parse(value, site: ConfigReader.Site(sequence: site.sequence, version: site.version,
                                                                                    step: site.step, registering: false))
        } catch var error as SequencerError {
            error.field = error.field.map { $0.replacingOccurrences(of: "config", with: field, options: .anchored) }
            throw error
        }
        guard let parsed else { throw site.invalid("\(key) must be a literal duration, not a template", field: field) }
        switch parsed.unit {
        case .years, .quarters, .months:
            throw site.invalid("\(key) must be in weeks or a smaller unit; got \(parsed.unit.rawValue)", field: "\(field).unit")
        default: break
        }
        let seconds = parsed.amount * parsed.unit.approximateSeconds
        guard seconds > 0 else { throw site.invalid("\(key) must be longer than zero", field: "\(field).amount") }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
