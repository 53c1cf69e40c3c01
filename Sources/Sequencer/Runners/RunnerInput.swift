public import Foundation

/// One enrollment at one step, as a runner sees it.
public struct RunnerInput: Sendable {
    /// The enrollment id.
    public var id: UUID
    /// The host's id for the enrolled person or thing.
    public var subject: String
    public var sequence: String
    public var version: Int
    /// The step being run, with its config as written (unrendered).
    public var step: Step
    /// The step's config with templates rendered against ``context`` (the raw config when the
    /// runner does not render templates).
    public var config: JSONValue
    /// The enrollment's context (a JSON object).
    public var context: JSONValue
    /// The tick's time. Use this, never `Date()`, so simulated clocks work.
    public var now: Date
    /// When the enrollment entered this step; waits count from here.
    public var stepEnteredAt: Date
    /// 1 on the first try of this step, 2 after one retry, and so on.
    public var attempt: Int
    /// The visit number of this step for this enrollment (see ``Enrollment/visit``).
    public var visit: Int
    /// The enrollment's time zone: the zone its context names (``Sequencer/Configuration/timeZoneKeys``), else the sequence's, else UTC.
    public var timeZone: TimeZone
    /// The token the outside system completes this visit with (``Sequencer/complete(token:outcome:now:)``):
    /// set for runners whose ``TaskRunner/awaitsCallbacks`` is `true`, `nil` for the others. The
    /// same visit always gets the same token.
    public var callbackToken: String?
    /// When the tick that built this input read ``now``, on the monotonic clock, when that tick
    /// runs on a real clock (a service on the store's clock); `nil` otherwise.
    var nowReadAt: ContinuousClock.Instant?

    public init(
        id: UUID, subject: String, sequence: String, version: Int, step: Step, config: JSONValue, context: JSONValue,
        now: Date, stepEnteredAt: Date, attempt: Int, visit: Int, timeZone: TimeZone, callbackToken: String? = nil
    ) {
        self.callbackToken = callbackToken
        self.id = id
        self.subject = subject
        self.sequence = sequence
        self.version = version
        self.step = step
        self.config = config
        self.context = context
        self.now = now
        self.stepEnteredAt = stepEnteredAt
        self.attempt = attempt
        self.visit = visit
        self.timeZone = timeZone
    }

    /// An input of a running tick, which read ``now`` at `nowReadAt` (`nil`: a simulated time).
    init(
        id: UUID, subject: String, sequence: String, version: Int, step: Step, config: JSONValue, context: JSONValue,
        now: Date, stepEnteredAt: Date, attempt: Int, visit: Int, timeZone: TimeZone, callbackToken: String? = nil,
        nowReadAt: ContinuousClock.Instant?
    ) {
        self.init(id: id, subject: subject, sequence: sequence, version: version, step: step, config: config,
                  context: context, now: now, stepEnteredAt: stepEnteredAt, attempt: attempt, visit: visit,
                  timeZone: timeZone, callbackToken: callbackToken)
        self.nowReadAt = nowReadAt
    }

    /// The time now on the tick's clock: ``now`` carried forward on the monotonic clock for as
    /// long as the tick has run, when the tick runs on a real clock (a ``SequencerService`` on
    /// the store's clock); ``now`` itself otherwise, so simulated times stay exact. For recording
    /// when something was done late in a long tick (the delivery ledger's reservations, whose
    /// in-flight timeout counts from them); what is due and waits keep counting from ``now``.
    public var currentTime: Date {
        nowReadAt.map { now.addingTimeInterval((ContinuousClock.now - $0).timeInterval) } ?? now
    }

    /// Names this visit of this step (`"\(input.visitKey)"` is `"<enrollment>/<step>/<visit>"`).
    /// Side-effecting runners use it as an idempotency key so a re-run of the same visit does not
    /// act twice.
    public var visitKey: VisitKey { VisitKey(enrollmentID: id, step: step.id, visit: visit) }

    /// A result for this input.
    public func result(_ action: RunnerAction, message: String? = nil) -> RunnerResult {
        RunnerResult(id: id, action: action, message: message)
    }
}
