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
    /// The runner started work elsewhere and handed it ``RunnerInput/callbackToken``: stay on this
    /// step until the outside system calls ``Sequencer/complete(token:outcome:now:)`` (success
    /// goes to `next`, failure to `altNext`), or the wait times out (to `altNext`, or failing the
    /// enrollment without one). The runner is not run again for this visit: the engine acts on
    /// the completion or the timeout. Only a runner whose ``TaskRunner/awaitsCallbacks`` is `true`
    /// gets a token.
    case awaitCallback(CallbackWait)

    /// Stay on this step and look again after ``Sequencer/Configuration/noopInterval``.
    public static var noop: RunnerAction { .noop(until: nil) }
}
