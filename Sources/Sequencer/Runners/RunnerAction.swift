public import Foundation

/// What a runner decided for one enrollment.
public enum RunnerAction: Sendable, Hashable {
    /// Go to the step's `next` (the following step by default).
    case next
    /// Go to the step's `altNext` (its `next` when it has none).
    case altNext
    /// Stay on this step. With a date, look again exactly then; without one, after
    /// ``Sequencer/Configuration/noopInterval``.
    case noop(until: Date?)
    /// Jump to a step by id, or ``Step/end`` to complete.
    case goTo(String)
    /// Retry this step later with backoff, counting toward the retry limit, as a thrown error would.
    case retry(String)
    /// Fail the enrollment with a reason kept in its history.
    case fail(String)

    /// Stay on this step and look again after ``Sequencer/Configuration/noopInterval``.
    public static var noop: RunnerAction { .noop(until: nil) }
}
