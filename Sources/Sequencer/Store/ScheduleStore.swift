public import Foundation

extension SequenceStore {
    /// No schedules: the default for stores that do not keep them.
    public func schedules() async throws -> [ScheduleState] { [] }

    /// No schedules: the default for stores that do not keep them.
    public func schedule(named name: String) async throws -> ScheduleState? { nil }

    /// Refuses: the default for stores that do not keep schedules.
    public func modifySchedule(named name: String, _ change: @escaping @Sendable (ScheduleState?) throws -> ScheduleState?)
        async throws -> ScheduleState?
    {
        throw SequencerError(.invalidState, "\(type(of: self)) does not keep schedules", field: "schedule")
    }

    /// Nothing to fire: the default for stores that do not keep schedules.
    public func fireSchedules(
        now: Date, limit: Int,
        plan: @escaping @Sendable (ScheduleState, _ lastEnrollment: Enrollment?, any EnrollmentWriter) async throws -> ScheduleFiring
    ) async throws -> [ScheduleFiring] { [] }
}

/// What one fire of a schedule writes (see ``SequenceStore/fireSchedules(now:limit:plan:)``):
/// the schedule's new state and the enrollments of the occurrences that fire.
public struct ScheduleFiring: Sendable, Hashable {
    /// The schedule as it is to be stored.
    public var state: ScheduleState
    /// The occurrences that fire, oldest first.
    public var occurrences: [Date]
    /// One enrollment per occurrence, each with the idempotency key `schedule:<name>:<occurrence>`,
    /// so an occurrence never enrolls twice.
    public var enrollments: [Enrollment]
    /// Occurrences that did not fire in this pass (already counted in ``ScheduleState/skipped``).
    public var skipped: Int
    /// What creating the enrollments returned, filled in by ``recording(_:)``.
    public var results: [EnrollResult] = []

    public init(state: ScheduleState, occurrences: [Date], enrollments: [Enrollment], skipped: Int) {
        self.state = state
        self.occurrences = occurrences
        self.enrollments = enrollments
        self.skipped = skipped
    }

    /// The firing after its enrollments were created: the state counts the new ones, names the
    /// last as the schedule's last run, and its occurrence as the last fired.
    public func recording(_ results: [EnrollResult]) -> ScheduleFiring {
        var copy = self
        copy.results = results
        copy.state.fired += results.filter(\.created).count
        if let last = results.last { copy.state.lastEnrollmentID = last.enrollment.id }
        if let last = occurrences.last { copy.state.lastFiredAt = last }
        return copy
    }

    /// The firing when creating its enrollments was refused (a subject another enrollment holds in
    /// a sequence that rejects a second, a context over the size limit): nothing is enrolled, and
    /// the occurrences count as skipped with the error as the reason.
    public func refused(_ error: SequencerError) -> ScheduleFiring {
        var copy = self
        if let last = occurrences.last {
            copy.state.skipped += occurrences.count
            copy.state.lastSkip = ScheduleSkip(occurrence: last, reason: error.message)
        }
        copy.skipped += occurrences.count
        copy.occurrences = []
        copy.enrollments = []
        return copy
    }
}
