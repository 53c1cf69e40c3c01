public import Foundation

/// A message a sequence sends when one of its enrollments fails, completes, or keeps retrying a
/// step (JSON key `"notifications"` of a definition): "tell me when it's done".
///
/// ```json
/// "notifications": [
///   {"on": "failed", "runner": "Email", "config": {"from": "jobs@example.com", "to": ["ops@example.com"],
///    "subject": "{{notification.sequence}} failed for {{notification.subject}}",
///    "text": "Step {{notification.step}} failed after {{notification.attempts}} attempts: {{notification.reason}}"}},
///   {"on": "completed", "runner": "SMS", "config": {"to": "+15555550123", "message": "Done in {{notification.duration}}"}},
///   {"on": "retrying", "afterRetries": 3, "runner": "Email", "config": {"…": "…"}}
/// ]
/// ```
///
/// The config is the runner's own (an Email or SMS step's), rendered against the enrollment's
/// context plus `notification` (which, for the message, shadows a context key of that name): `kind`, `sequence`, `version`, `subject`, `enrollment`, `step`,
/// `reason`, `attempts`, `startedAt`, `duration` ("3 m 12 s" since enrollment), `seconds`,
/// `stepDuration` (since the step was entered). It is sent at most once per (enrollment, kind,
/// visit) through the runner's deliveries ledger, under the key `<enrollment>/$notify.<kind>/<visit>`;
/// send windows and frequency caps do not hold it back.
///
/// **A notification holds its transition.** An enrollment is not marked failed or completed
/// until its notification is sent (or refused for good: the transition then happens, and the
/// history says why the message did not go). When the transport cannot send it now, the
/// enrollment stays where it was, active, and its step runs again after the retry policy's base
/// delay; a message already sent is not sent again. A `retrying` notification goes once when
/// a step has been retried `afterRetries` times at one visit; one that cannot be sent is tried
/// again at each later retry of that visit.
public struct SequenceNotification: Sendable, Hashable {
    /// When it is sent.
    public enum Trigger: Sendable, Hashable {
        /// The enrollment failed.
        case failed
        /// The enrollment went past its last step.
        case completed
        /// A step was retried this many times at one visit.
        case retrying(after: Int)

        /// `failed`, `completed` or `retrying`.
        public var kind: String {
            switch self {
            case .failed: "failed"
            case .completed: "completed"
            case .retrying: "retrying"
            }
        }
    }

    public var on: Trigger
    /// The runner that sends it, by name (`Email`, `SMS`, or the host's).
    public var runner: String
    /// The runner's config, templated.
    public var config: JSONValue

    public init(on: Trigger, runner: String, config: JSONValue) {
        self.on = on
        self.runner = runner
        self.config = config
    }

    /// The step the runner sees: id `$notify.<kind>`, which also names the message in the ledger.
    public var step: Step { Step(id: "$notify.\(on.kind)", runner: runner, config: config) }

    /// A duration as people say it: "3 m 12 s", "41 s", "2 d 4 h", "0.4 s".
    public static func spoken(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        if seconds < 10 { return "\((seconds * 10).rounded() / 10) s" }
        let whole = Int(min(seconds, 1e12).rounded())
        let parts = [(whole / 86_400, "d"), (whole / 3600 % 24, "h"), (whole / 60 % 60, "m"), (whole % 60, "s")]
        let shown = parts.drop { $0.0 == 0 }.prefix(2).enumerated().filter { $0.offset == 0 || $0.element.0 > 0 }.map(\.element)
        return shown.map { "\($0.0) \($0.1)" }.joined(separator: " ")
    }

    /// The keys of a notification object.
    static let keys = ["on", "afterRetries", "runner", "config"]

    /// The JSON form.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = ["on": .string(on.kind), "runner": .string(runner), "config": config]
        if case .retrying(let after) = on { members["afterRetries"] = .number(Double(after)) }
        return .object(members)
    }

    /// Reads a notification; errors name the sequence and `notifications[index].<key>`.
    static func read(_ value: JSONValue, index: Int, sequence: String, version: Int) throws(SequencerError) -> SequenceNotification {
        let at = "notifications[\(index)]"
        func failure(_ message: String, _ key: String?) -> SequencerError {
            SequencerError(.malformedDefinition, message, sequence: sequence, version: version, field: key.map { "\(at).\($0)" } ?? at)
        }
        guard case .object(let members) = value else { throw failure("a notification must be a JSON object, not \(value.typeName)", nil) }
        if let (key, suggestion) = KnownKeys.firstUnknown(in: members, known: keys) {
            throw failure(KnownKeys.message(key, suggestion: suggestion, known: keys, what: "a notification"), key)
        }
        guard let runner = members["runner"]?.stringValue, !runner.isEmpty else {
            throw failure("'runner' must name the runner that sends it (Email, SMS)", "runner")
        }
        let trigger: Trigger
        switch members["on"]?.stringValue {
        case "failed": trigger = .failed
        case "completed": trigger = .completed
        case "retrying":
            guard let after = members["afterRetries"]?.numberValue, let whole = Int(exactly: after), (1...1000).contains(whole) else {
                throw failure("'afterRetries' must be a whole number from 1 to 1000 (how many retries of one step before it is sent)",
                              "afterRetries")
            }
            trigger = .retrying(after: whole)
        default:
            throw failure("'on' must be \"failed\", \"completed\" or \"retrying\"", "on")
        }
        if members["afterRetries"] != nil, trigger.kind != "retrying" {
            throw failure("'afterRetries' applies only to \"on\": \"retrying\"", "afterRetries")
        }
        let config = members["config"] ?? [:]
        guard config.objectValue != nil else { throw failure("'config' must be an object (the runner's config)", "config") }
        return SequenceNotification(on: trigger, runner: runner, config: config)
    }
}
