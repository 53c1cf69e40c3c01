public import Foundation

/// Something that happened to an enrollment in a tick of this process, for the host to act on
/// in code: page someone on `failed`, post to a channel on `completed` (see
/// ``Sequencer/lifecycleEvents()``).
public struct LifecycleEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// Went past its last step.
        case completed
        /// Failed: a runner's `fail`, the last attempt of a retry, a missing definition, a crash loop.
        case failed
        /// An attempt of a step failed and another is scheduled.
        case retrying
        /// A callback step's wait ended without a completion (its timeout, or a missed heartbeat);
        /// the enrollment went to the step's `altNext` or failed (a `failed` event follows then).
        case timedOut
    }

    public var kind: Kind
    /// The enrollment as the tick committed it.
    public var enrollment: Enrollment
    /// The step it happened at (the last step, for `completed`).
    public var step: String?
    /// The reason of a failure or retry; the runner's message otherwise.
    public var message: String?
    /// When, on the tick's clock.
    public var at: Date

    public init(kind: Kind, enrollment: Enrollment, step: String?, message: String?, at: Date) {
        self.kind = kind
        self.enrollment = enrollment
        self.step = step
        self.message = message
        self.at = at
    }
}

extension Sequencer {
    /// What this process's ticks do to enrollments that a host may want to act on in code: each
    /// `completed`, `failed`, `retrying` and `timedOut`, once its tick has committed it (an outcome fenced
    /// out, because another ticker or the host changed the enrollment meanwhile, yields nothing).
    ///
    /// ```swift
    /// for await event in sequencer.lifecycleEvents() where event.kind == .failed {
    ///     logger.error("\(event.enrollment.sequenceName) failed for \(event.enrollment.subject): \(event.message ?? "")")
    /// }
    /// ```
    ///
    /// Each call returns a new stream that keeps the newest 1,000 events a slow reader has not
    /// taken. It reports this process's ticks only, in memory: with many processes, each sees its
    /// own; for a durable record read the history (``history(of:)``).
    public func lifecycleEvents() -> AsyncStream<LifecycleEvent> {
        lifecycle.subscribe()
    }
}
