public import Foundation

/// A recurring enrollment: at each occurrence of its ``recurrence`` the ticks enroll a subject in
/// a sequence (see ``Sequencer/schedule(_:now:)``).
///
/// ```swift
/// try await sequencer.schedule(Schedule(
///     name: "weekly-report", recurrence: try Recurrence("0 9 * * 1"),
///     timeZone: TimeZone(identifier: "Europe/Paris")!, sequence: "report",
///     subject: "report-{{date}}", exclusive: true))
/// ```
///
/// Its JSON form (``init(json:)``, ``jsonValue``, what `sequencer schedules` prints):
///
/// ```json
/// {"name": "weekly-report", "recurrence": "0 9 * * 1", "timeZone": "Europe/Paris",
///  "sequence": "report", "subject": "report-{{date}}", "context": {"format": "pdf"},
///  "missedFires": "once", "exclusive": true, "enabled": true}
/// ```
public struct Schedule: Sendable, Hashable {
    /// The schedule's name, its identity: saving a schedule of the same name replaces it.
    public var name: String
    public var recurrence: Recurrence
    /// The zone whose wall clock a cron ``recurrence`` reads, and in which `{{date}}` and
    /// `{{time}}` are written. Default UTC.
    public var timeZone: TimeZone
    /// The sequence each occurrence enrolls in.
    public var sequence: String
    /// The version to enroll in; `nil` for the latest at each occurrence.
    public var version: Int?
    /// The subject of each enrollment: a Mustache template over `schedule` (the name),
    /// `occurrence` (ISO 8601, UTC), `date` (`2026-03-09`) and `time` (`09:00`) in the schedule's
    /// zone, and `context` (the schedule's context). Default: the schedule's name.
    public var subject: String
    /// The context each enrollment starts with; the engine adds a `schedule` member (see
    /// ``Sequencer/schedule(_:now:)``).
    public var context: JSONValue
    public var missedFires: MissedFirePolicy
    /// An occurrence not fired within this long of its time is *missed*, and ``missedFires``
    /// decides what becomes of it. Default one minute.
    public var missedAfter: Duration
    /// Skips an occurrence while the enrollment the previous occurrence created is still active
    /// or paused; the skip is recorded (``ScheduleState/skipped``, ``ScheduleState/lastSkip``).
    public var exclusive: Bool
    /// A disabled schedule does not fire; ``Sequencer/resumeSchedule(_:now:)`` enables it again.
    public var enabled: Bool

    public init(
        name: String, recurrence: Recurrence, timeZone: TimeZone = Schedule.utc, sequence: String,
        version: Int? = nil, subject: String? = nil, context: JSONValue = [:], missedFires: MissedFirePolicy = .once,
        missedAfter: Duration = .seconds(60), exclusive: Bool = false, enabled: Bool = true
    ) {
        self.name = name
        self.recurrence = recurrence
        self.timeZone = timeZone
        self.sequence = sequence
        self.version = version
        self.subject = subject ?? name
        self.context = context
        self.missedFires = missedFires
        self.missedAfter = missedAfter
        self.exclusive = exclusive
        self.enabled = enabled
    }

    /// The default zone, UTC.
    public static let utc = TimeZone(identifier: "UTC")!
}

/// What becomes of occurrences that came due while nothing fired them (every ticker stopped, the
/// schedule's sequence missing) and are older than ``Schedule/missedAfter`` when a tick finds them.
public enum MissedFirePolicy: Sendable, Hashable, CustomStringConvertible {
    /// Missed occurrences do not fire; they are counted as skipped. Occurrences found within
    /// ``Schedule/missedAfter`` fire.
    case skip
    /// Everything due fires once, as the latest occurrence; the older ones are counted as
    /// skipped. The default.
    case once
    /// Every due occurrence fires, oldest first, but no more than `max` (1…1,000) at once: the
    /// latest `max`, the older ones counted as skipped.
    case all(max: Int)

    public var description: String {
        switch self {
        case .skip: "skip"
        case .once: "once"
        case .all(let max): "all (at most \(max))"
        }
    }
}

/// A stored schedule and where it stands.
public struct ScheduleState: Sendable, Hashable {
    public var schedule: Schedule
    /// Where a rate counts from: when the schedule was created or its recurrence last changed.
    public var anchor: Date
    /// The next occurrence; `nil` when the recurrence has none left.
    public var nextFireAt: Date?
    /// The last occurrence that fired.
    public var lastFiredAt: Date?
    /// The enrollment the last fire created (or found, under an idempotency key or a
    /// one-per-subject rule).
    public var lastEnrollmentID: UUID?
    /// Enrollments created by this schedule.
    public var fired: Int
    /// Occurrences that did not fire: missed, exclusive while the previous run was active, or
    /// refused (an unknown sequence, a subject already enrolled).
    public var skipped: Int
    public var lastSkip: ScheduleSkip?
    /// The last completed run: handed to each fire in the context's `schedule.previousRun`.
    public var previousRun: PreviousRun?
    public var createdAt: Date
    public var updatedAt: Date

    public init(schedule: Schedule, anchor: Date, nextFireAt: Date?, lastFiredAt: Date? = nil,
                lastEnrollmentID: UUID? = nil, fired: Int = 0, skipped: Int = 0, lastSkip: ScheduleSkip? = nil,
                previousRun: PreviousRun? = nil, createdAt: Date, updatedAt: Date)
    {
        self.schedule = schedule
        self.anchor = anchor
        self.nextFireAt = nextFireAt
        self.lastFiredAt = lastFiredAt
        self.lastEnrollmentID = lastEnrollmentID
        self.fired = fired
        self.skipped = skipped
        self.lastSkip = lastSkip
        self.previousRun = previousRun
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// An occurrence that did not fire, and why.
public struct ScheduleSkip: Sendable, Hashable {
    public var occurrence: Date
    public var reason: String

    public init(occurrence: Date, reason: String) {
        self.occurrence = occurrence
        self.reason = reason
    }
}

/// A schedule's last completed run ("the last successful execution").
public struct PreviousRun: Sendable, Hashable {
    public var enrollmentID: UUID
    public var completedAt: Date
    /// The enrollment's final context, without its own `schedule.previousRun` (runs do not nest).
    public var context: JSONValue

    public init(enrollmentID: UUID, completedAt: Date, context: JSONValue) {
        self.enrollmentID = enrollmentID
        self.completedAt = completedAt
        self.context = context
    }

    /// The JSON a fire puts in the context's `schedule.previousRun`.
    public var jsonValue: JSONValue {
        ["enrollment": .string(enrollmentID.uuidString.lowercased()),
         "completedAt": .string(ISO8601Timestamp.string(from: completedAt)), "context": context]
    }
}

extension SequencerError.Code {
    /// No schedule has that name.
    public static let unknownSchedule = Self("unknownSchedule")
}
