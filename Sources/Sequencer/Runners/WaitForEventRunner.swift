import Foundation

/// `WaitForEvent`: waits until an event reaches the enrollment (``Sequencer/send(event:data:to:now:)``),
/// or a timeout passes.
///
/// ```json
/// {"id": "await-payment", "runner": "WaitForEvent", "altNext": "remind",
///  "config": {"event": "paid", "timeout": {"amount": 3, "unit": "days"}}}
/// ```
///
/// | key | |
/// |---|---|
/// | `event` | the event's name |
/// | `timeout` | optional, a duration like WaitForDuration's (`amount`, `unit`), counted from step entry in the enrollment's zone; absent waits for ever |
/// | `since` | `"enrollment"` (default) or `"step"`: which events count (below) |
///
/// The step goes to `next` once the event has arrived, and to `altNext` when the timeout passes
/// first (without an `altNext`, a timeout fails the enrollment, saying so). Sending the event makes
/// the enrollment due at once, so the step moves on at the next tick.
///
/// **An event that arrives before the enrollment reaches the step** counts: with `since`
/// `"enrollment"` (the default) the step passes at once if the event came at any time since
/// enrollment ("paid" before the reminder step is reached means no reminder). With `"step"` only an
/// event that arrives after the enrollment entered the step counts (the last arrival is what
/// is compared: a repeated event counts again). Events are recorded in the context under
/// `$events.<name>` (`{"at", "count"}`).
public struct WaitForEventRunner: TaskRunner {
    /// `"WaitForEvent"`.
    public let name = "WaitForEvent"
    /// Creates the runner; it has no settings.
    public init() {}

    /// The config keys it reads: `event`, `timeout`, `since`.
    public var configKeys: [String]? { ["event", "timeout", "since"] }

    struct Config {
        var event: String
        var timeout: WaitForDurationRunner.Config?
        var sinceStep: Bool
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try Self.parse(step.config, site: ConfigReader.Site(step, in: definition))
    }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        batch.map { input in
            let config: Config
            do {
                guard let parsed = try Self.parse(input.config, site: ConfigReader.Site(input)) else {
                    return input.result(.fail("WaitForEvent step '\(input.step.id)' has an unrendered config"))
                }
                config = parsed
            } catch {
                return input.result(.fail((error as? SequencerError)?.message ?? "\(error)"))
            }
            if let at = input.context[EnrollmentChange.eventsKey]?[config.event]?["at"]?.stringValue.flatMap(ISO8601Timestamp.date(from:)),
               !config.sinceStep || at >= input.stepEnteredAt
            {
                return input.result(.next, message: "event '\(config.event)' arrived at \(ConfigReader.format(at))")
            }
            guard let timeout = config.timeout else {
                return input.result(.noop(until: nil), message: "waiting for event '\(config.event)'")
            }
            let deadline = WaitForDurationRunner.wakeTime(timeout, enteredAt: input.stepEnteredAt, timeZone: input.timeZone)
            if input.now < deadline {
                return input.result(.noop(until: deadline),
                                    message: "waiting for event '\(config.event)' until \(ConfigReader.format(deadline))")
            }
            let why = "event '\(config.event)' did not arrive by \(ConfigReader.format(deadline))"
            return input.step.altNext == nil ? input.result(.fail(why + " (timed out; the step has no altNext)"))
                                             : input.result(.altNext, message: why + " (timed out)")
        }
    }

    /// Reads a config; `nil` when a templated value is left for run time.
    static func parse(_ config: JSONValue, site: ConfigReader.Site) throws -> Config? {
        guard config.objectValue != nil else {
            throw site.invalid("config must be an object like {\"event\": \"paid\", \"timeout\": {\"amount\": 3, \"unit\": \"days\"}}",
                               field: "config")
        }
        var event: String?
        switch config["event"] {
        case nil, .null?:
            throw site.invalid("missing required key 'event' (the event's name)", field: "config.event")
        case let value? where site.isDeferred(value):
            break
        case .string(let name)? where !name.isEmpty:
            event = name
        case let value?:
            throw site.invalid("event must be a non-empty string; got \(ConfigReader.describe(value))", field: "config.event")
        }
        var sinceStep = false
        switch config["since"] {
        case nil, .null?, .string("enrollment")?: break
        case .string("step")?: sinceStep = true
        case let value?:
            throw site.invalid("since must be \"enrollment\" or \"step\"; got \(ConfigReader.describe(value))", field: "config.since")
        }
        var timeout: WaitForDurationRunner.Config?
        if let value = config["timeout"], !value.isNull {
            do {
                guard let parsed = try WaitForDurationRunner.parse(value, site: site) else { return nil }
                timeout = parsed
            } catch var error as SequencerError {
                // WaitForDuration names its own fields (config.amount): these are under config.timeout.
                error.field = error.field.map { $0.replacingOccurrences(of: "config", with: "config.timeout", options: .anchored) }
                throw error
            }
        }
        guard let event else { return nil }
        return Config(event: event, timeout: timeout, sinceStep: sinceStep)
    }
}
