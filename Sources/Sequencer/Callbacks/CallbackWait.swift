public import Foundation

/// How long a runner's step waits for the outside system it started
/// (``RunnerAction/awaitCallback(_:)``).
public struct CallbackWait: Sendable, Hashable {
    /// The time the outside system has to complete, counted from when the wait begins.
    public var timeout: Duration
    /// When set, the outside system must also call ``Sequencer/heartbeat(token:progress:now:)``
    /// at least this often: the wait times out at the last heartbeat (or its start) plus this
    /// interval, never later than ``timeout``.
    public var heartbeat: Duration?

    public init(timeout: Duration, heartbeat: Duration? = nil) {
        self.timeout = timeout
        self.heartbeat = heartbeat
    }
}

/// What the host reports for a callback (``Sequencer/complete(token:outcome:now:)``).
public enum CallbackOutcome: Sendable, Hashable {
    /// The work succeeded: the step goes to `next`. A result is merged into the context under the
    /// key the step's config names in `resultKey` (kept nowhere without one).
    case success(JSONValue? = nil)
    /// The work failed: the step goes to `altNext`, or fails the enrollment without one.
    case failure(String)
}

/// An enrollment's callback at its current visit, as stored with it (``Enrollment/callback``).
///
/// Written when the runner's wait is committed (``startedAt``), by each heartbeat, and by the
/// completion; a completion or heartbeat that arrives before the wait is committed (a fast outside
/// system) is kept too, and the next tick acts on it.
public struct CallbackState: Sendable, Hashable, Codable {
    /// How the callback ended.
    public enum Outcome: Sendable, Hashable, Codable {
        case succeeded
        case failed(reason: String)
    }

    /// The visit of the step that waits (``Enrollment/visit``); a state of another visit is stale.
    public var visit: Int
    /// When the wait began; `nil` while only an early heartbeat or completion is recorded.
    public var startedAt: Date?
    /// ``startedAt`` plus the wait's timeout.
    public var deadline: Date?
    /// The wait's heartbeat interval in seconds, if it has one.
    public var heartbeatInterval: Double?
    /// The last heartbeat.
    public var lastHeartbeatAt: Date?
    /// The progress the last heartbeat reported, 0 to 100.
    public var progress: Double?
    /// How it ended; `nil` while it runs.
    public var outcome: Outcome?
    /// When the completion arrived.
    public var completedAt: Date?

    public init(visit: Int, startedAt: Date? = nil, deadline: Date? = nil, heartbeatInterval: Double? = nil,
                lastHeartbeatAt: Date? = nil, progress: Double? = nil, outcome: Outcome? = nil, completedAt: Date? = nil) {
        self.visit = visit
        self.startedAt = startedAt
        self.deadline = deadline
        self.heartbeatInterval = heartbeatInterval
        self.lastHeartbeatAt = lastHeartbeatAt
        self.progress = progress
        self.outcome = outcome
        self.completedAt = completedAt
    }

    /// When the running wait times out: its deadline, or earlier the last heartbeat (or the
    /// start) plus the heartbeat interval. `nil` before the wait began.
    public var expiresAt: Date? {
        guard let deadline, let startedAt else { return nil }
        guard let interval = heartbeatInterval else { return deadline }
        return min(deadline, (lastHeartbeatAt.map { max($0, startedAt) } ?? startedAt).addingTimeInterval(interval))
    }
}

extension CallbackState {
    /// The stored form: a JSON object with ISO 8601 dates.
    package var jsonValue: JSONValue {
        var members: [String: JSONValue] = ["visit": .number(Double(visit))]
        func date(_ key: String, _ value: Date?) {
            if let value { members[key] = .string(ISO8601Timestamp.string(from: value)) }
        }
        date("startedAt", startedAt)
        date("deadline", deadline)
        date("lastHeartbeatAt", lastHeartbeatAt)
        date("completedAt", completedAt)
        if let heartbeatInterval { members["heartbeatInterval"] = .number(heartbeatInterval) }
        if let progress { members["progress"] = .number(progress) }
        switch outcome {
        case nil: break
        case .succeeded?: members["outcome"] = "succeeded"
        case .failed(let reason)?:
            members["outcome"] = "failed"
            members["reason"] = .string(reason)
        }
        return .object(members)
    }

    /// Reads the stored form; `nil` for anything else.
    package init?(json: JSONValue) {
        guard let visit = json["visit"]?.numberValue, visit >= 1, visit <= 1e15 else { return nil }
        func date(_ key: String) -> Date? { json[key]?.stringValue.flatMap(ISO8601Timestamp.date(from:)) }
        self.init(visit: Int(visit), startedAt: date("startedAt"), deadline: date("deadline"),
                  heartbeatInterval: json["heartbeatInterval"]?.numberValue, lastHeartbeatAt: date("lastHeartbeatAt"),
                  progress: json["progress"]?.numberValue, completedAt: date("completedAt"))
        switch json["outcome"]?.stringValue {
        case "succeeded": outcome = .succeeded
        case "failed": outcome = .failed(reason: json["reason"]?.stringValue ?? "no reason given")
        default: outcome = nil
        }
    }
}
