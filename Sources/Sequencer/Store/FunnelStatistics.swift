public import Foundation

/// Where the enrollments of one sequence version are now, and how many got how far:
/// ``Sequencer/funnel(sequence:version:now:)``.
///
/// The figures a funnel chart and an operator's overview need, read without scanning the
/// version's enrollments: on PostgreSQL the per-step figures come from counters kept in the same
/// statements that change enrollments, "due" from the due index and "last hour" from an index
/// on failure events (see the README's "Funnel statistics").
///
/// ```swift
/// let funnel = try await sequencer.funnel(sequence: "trial-onboarding")
/// for step in funnel.steps {
///     print(step.step ?? "(finished)", step.reached, funnel.share(reaching: step.step), step.now[.active] ?? 0)
/// }
/// ```
public struct FunnelStatistics: Sendable, Hashable {
    /// The figures of one step.
    public struct StepFigures: Sendable, Hashable {
        /// The step's id; `nil` for enrollments that went past the last step (completed).
        public var step: String?
        /// How many times an enrollment entered this step of this version (by enrolling, moving on,
        /// a goal, an operator's move or a version migration). A sequence without loops enters each
        /// step once per enrollment; a loop counts every pass. For `step == nil`: how many completed.
        /// Kept when retention deletes the enrollments.
        public var reached: Int
        /// The enrollments at this step now, by status (completed ones have no step). Retention
        /// removes deleted enrollments from these.
        public var now: [EnrollmentStatus: Int]

        public init(step: String?, reached: Int = 0, now: [EnrollmentStatus: Int] = [:]) {
            self.step = step
            self.reached = reached
            self.now = now
        }
    }

    public var sequence: String
    public var version: Int
    /// Enrollments that entered this version: enrolled in it, or migrated to it. Kept when
    /// retention deletes them.
    public var enrolled: Int
    /// One entry per step. ``Sequencer/funnel(sequence:version:now:)`` lists every step of the
    /// definition in its order (steps nobody reached included), then the end (`step == nil`).
    public var steps: [StepFigures]
    /// Goals met: jumps of an enrollment to a later Goal step whose condition came true (history
    /// kind `goalReached`; the jump counts as an entry of the step after the goal). Kept when
    /// retention deletes the enrollments.
    public var goalsReached: Int
    /// Active enrollments due at ``at`` or before: what the next ticks will work on.
    public var dueNow: Int
    /// The earliest due time among them (`nil` when none is due).
    public var oldestDueAt: Date?
    /// Enrollments of this version that failed in the hour before ``at``.
    public var failedLastHour: Int
    /// Failed attempts in the hour before ``at`` that will be retried.
    public var retriesLastHour: Int
    /// The time the figures are for.
    public var at: Date

    public init(sequence: String, version: Int, enrolled: Int = 0, steps: [StepFigures] = [], goalsReached: Int = 0,
                dueNow: Int = 0, oldestDueAt: Date? = nil, failedLastHour: Int = 0, retriesLastHour: Int = 0, at: Date)
    {
        self.sequence = sequence
        self.version = version
        self.enrolled = enrolled
        self.steps = steps
        self.goalsReached = goalsReached
        self.dueNow = dueNow
        self.oldestDueAt = oldestDueAt
        self.failedLastHour = failedLastHour
        self.retriesLastHour = retriesLastHour
        self.at = at
    }

    /// How long the oldest due enrollment has waited past its due time; zero when nothing is due.
    public var oldestDueLag: Duration {
        guard let oldestDueAt, oldestDueAt < at else { return .zero }
        return .seconds(at.timeIntervalSince(oldestDueAt))
    }

    /// Enrollments of this version with `status` now, across every step.
    public func count(_ status: EnrollmentStatus) -> Int {
        steps.reduce(0) { $0 + ($1.now[status] ?? 0) }
    }

    /// The figures of one step (`nil`: the end); zeros for a step nobody reached.
    public func figures(for step: String?) -> StepFigures {
        steps.first { $0.step == step } ?? StepFigures(step: step)
    }

    /// The share of ``enrolled`` that reached `step` (`nil`: completed), from 0 to 1; 0 when
    /// nobody enrolled. Capped at 1 for steps a loop passes more than once per enrollment.
    public func share(reaching step: String?) -> Double {
        guard enrolled > 0 else { return 0 }
        return min(1, Double(figures(for: step).reached) / Double(enrolled))
    }
}

/// What one history event adds to a funnel's running totals: the one rule both stores count by.
package struct FunnelEntry: Sendable, Hashable {
    /// The step entered; `nil` past the last step.
    package var step: String?
    /// Enrolled and migrated events also enter the version (``FunnelStatistics/enrolled``).
    package var entersVersion: Bool
    /// A goal met (``FunnelStatistics/goalsReached``).
    package var isGoal: Bool
}

extension HistoryEvent {
    /// What this event counts in a funnel; `nil` for events that enter no step. Enrolled,
    /// advanced, altAdvanced, goalReached, moved and migrated events enter their target step.
    package var funnelEntry: FunnelEntry? {
        switch kind {
        case .enrolled, .advanced, .altAdvanced, .goalReached, .moved, .migrated:
            FunnelEntry(step: toStep == Step.end ? nil : toStep, entersVersion: kind == .enrolled || kind == .migrated,
                        isGoal: kind == .goalReached)
        default:
            nil
        }
    }
}
