import Foundation

/// `WaitForWindow`: waits until a local time window is open: business hours, evenings, weekends.
///
/// ```json
/// {"id": "business-hours", "runner": "WaitForWindow", "config": {"days": [1, 2, 3, 4, 5], "from": "09:00", "to": "17:30"}}
/// ```
///
/// The config is a ``SendWindow`` (days `0` = Sunday … `6` = Saturday, absent for every day;
/// `from` and `to` local `HH:MM`, a `to` earlier than `from` running past midnight), read in the
/// enrollment's ``RunnerInput/timeZone``. Inside the window the step answers `.next` at once;
/// outside it waits until the instant the window next opens (DST-correct, see ``SendWindow``)
/// and then goes on. Register rejects a config that is not a window, naming the part.
public struct WaitForWindowRunner: TaskRunner {
    /// `"WaitForWindow"`.
    public let name = "WaitForWindow"
    /// Creates the runner; it has no settings.
    public init() {}

    /// The config keys it reads: `days`, `from`, `to`.
    public var configKeys: [String]? { ["days", "from", "to"] }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try SendWindow(step.config, sequence: definition.name, version: definition.version, step: step.id, field: "config")
    }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        batch.map { input in
            let window: SendWindow
            do {
                window = try SendWindow(input.config, sequence: input.sequence, version: input.version, step: input.step.id,
                                        field: "config")
            } catch {
                return input.result(.fail((error as? SequencerError)?.message ?? "\(error)"))
            }
            let opening = window.nextOpening(atOrAfter: input.now, in: input.timeZone)
            if opening == input.now { return input.result(.next, message: "inside \(window)") }
            return input.result(.noop(until: opening), message: "outside \(window) (\(input.timeZone.identifier)); waits until "
                                + ISO8601Timestamp.string(from: opening))
        }
    }
}
