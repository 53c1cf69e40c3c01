/// What one ``Sequencer/tick(now:)`` did.
public struct TickReport: Sendable, Hashable, CustomStringConvertible {
    /// Enrollments leased from the store.
    public var claimed = 0
    /// Steps executed (runner calls per enrollment, plus goal jumps).
    public var steps = 0
    /// Moves to `next`.
    public var advanced = 0
    /// Moves to `altNext`.
    public var altAdvanced = 0
    /// Jumps by a GoTo (or a runner's ``RunnerAction/goTo(_:)``).
    public var jumped = 0
    /// Goal jumps.
    public var goalsReached = 0
    /// Enrollments left waiting at a step (``RunnerAction/noop(until:)``).
    public var waiting = 0
    /// Attempts that failed and were scheduled again.
    public var retried = 0
    /// Enrollments that completed.
    public var completed = 0
    /// Enrollments that failed.
    public var failed = 0
    /// Enrollments that used their whole step budget and yield until a later tick.
    public var budgetExhausted = 0
    /// Outcomes dropped because the lease was lost (re-claimed after expiry, or changed by the host).
    public var fencedOut = 0
    /// Enrollments claimed but not processed, whose leases were given back because the tick was
    /// cancelled or the service is shutting down: another ticker takes them at once.
    public var released = 0
    /// Whether the last claim came back full, so more enrollments may be due right now: a service
    /// ticks again at once instead of sleeping.
    public var moreDue = false
    /// Claim-process-commit rounds.
    public var batches = 0
    /// What the tick's schedule firing did (``Sequencer/fireSchedules(now:)``).
    public var schedules = ScheduleReport()
    /// Wall time of the tick.
    public var elapsed: Duration = .zero

    public init() {}

    public var description: String {
        "claimed=\(claimed) steps=\(steps) advanced=\(advanced) altAdvanced=\(altAdvanced) jumped=\(jumped) "
            + "goals=\(goalsReached) waiting=\(waiting) retried=\(retried) completed=\(completed) failed=\(failed) "
            + "budgetExhausted=\(budgetExhausted) fencedOut=\(fencedOut) released=\(released) batches=\(batches) "
            + "scheduled=\(schedules.enrolled) scheduleSkips=\(schedules.skipped) elapsed=\(elapsed)"
    }

    /// Adds another report's counts to this one (`elapsed` is left alone), to total many ticks.
    public mutating func add(_ other: TickReport) {
        claimed += other.claimed
        steps += other.steps
        advanced += other.advanced
        altAdvanced += other.altAdvanced
        jumped += other.jumped
        goalsReached += other.goalsReached
        waiting += other.waiting
        retried += other.retried
        completed += other.completed
        failed += other.failed
        budgetExhausted += other.budgetExhausted
        fencedOut += other.fencedOut
        released += other.released
        batches += other.batches
        schedules.fired += other.schedules.fired
        schedules.enrolled += other.schedules.enrolled
        schedules.skipped += other.schedules.skipped
        moreDue = other.moreDue
    }
}
