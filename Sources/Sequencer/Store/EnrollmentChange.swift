public import Foundation

/// A change the host makes to an enrollment outside a tick.
///
/// Stores apply it with ``apply(to:now:)`` inside their own atomic section, so every store
/// enforces the same rules:
///
/// ```swift
/// try await store.change(id, .mergeContext(["plan": "pro"]), now: Date())
/// try await store.change(id, .pause, now: Date())
/// ```
public struct EnrollmentChange: Sendable, Hashable {
    /// What changes.
    public enum Kind: Sendable, Hashable {
        /// Merge members into the context (objects merge deeply).
        case mergeContext([String: JSONValue])
        /// Stop picking it up until resumed.
        case pause
        /// Make a paused enrollment active and due now.
        case resume
        /// Stop it for good.
        case cancel
    }

    /// What changes.
    public var kind: Kind
    /// The largest context the change may leave, as compact JSON (see ``Limits/maximumContextBytes``).
    public var maximumContextBytes: Int

    /// A change of some kind.
    public init(_ kind: Kind, maximumContextBytes: Int = Limits().maximumContextBytes) {
        self.kind = kind
        self.maximumContextBytes = maximumContextBytes
    }

    /// Merge members into the context (objects merge deeply). An active enrollment becomes due
    /// at once, so the next tick re-checks its goals. A patch no store can keep (a NUL
    /// character, NaN or infinity, nesting deeper than ``JSONValue/maximumDepth``), or a merged
    /// context over `maximumContextBytes`, is refused naming the field.
    public static func mergeContext(_ patch: [String: JSONValue],
                                    maximumContextBytes: Int = Limits().maximumContextBytes) -> EnrollmentChange {
        EnrollmentChange(.mergeContext(patch), maximumContextBytes: maximumContextBytes)
    }

    /// Stop picking it up until resumed. Only an active enrollment can be paused.
    public static var pause: EnrollmentChange { EnrollmentChange(.pause) }
    /// Make a paused enrollment active and due now.
    public static var resume: EnrollmentChange { EnrollmentChange(.resume) }
    /// Stop it for good. Final enrollments cannot be cancelled.
    public static var cancel: EnrollmentChange { EnrollmentChange(.cancel) }

    /// Whether the change makes an active enrollment due at once (a context update, a resume),
    /// so a store tells a running service to tick.
    public var makesDue: Bool {
        switch kind {
        case .mergeContext, .resume: true
        case .pause, .cancel: false
        }
    }

    /// Applies the change, returning the history event to append.
    public func apply(to enrollment: inout Enrollment, now: Date) throws -> HistoryEvent {
        try Limits.check(now, field: "now", sequence: enrollment.sequenceName)
        let kind: HistoryEvent.Kind
        switch self.kind {
        case .mergeContext(let patch):
            guard !enrollment.status.isFinal else { throw invalid(enrollment, "update the context of") }
            if let problem = JSONValue.object(patch).inspect(at: "context") {
                throw SequencerError(problem.kind == .unstorable ? .invalidContext : .limitExceeded,
                                     "the context update of enrollment \(enrollment.id) has \(problem.description) at \(problem.path)",
                                     sequence: enrollment.sequenceName, version: enrollment.sequenceVersion,
                                     step: enrollment.stepID, field: problem.path)
            }
            let merged = enrollment.context.merging(patch)
            if let problem = merged.inspect(at: "context", maximumBytes: maximumContextBytes) {
                throw SequencerError(.limitExceeded, "the context of enrollment \(enrollment.id) would be \(problem.description)",
                                     sequence: enrollment.sequenceName, version: enrollment.sequenceVersion,
                                     step: enrollment.stepID, field: problem.path)
            }
            enrollment.context = merged
            if enrollment.status == .active { enrollment.nextRunAt = now }
            kind = .contextUpdated
        case .pause:
            guard enrollment.status == .active else { throw invalid(enrollment, "pause") }
            enrollment.status = .paused
            enrollment.nextRunAt = nil
            kind = .paused
        case .resume:
            guard enrollment.status == .paused else { throw invalid(enrollment, "resume") }
            enrollment.status = .active
            enrollment.nextRunAt = now
            kind = .resumed
        case .cancel:
            guard !enrollment.status.isFinal else { throw invalid(enrollment, "cancel") }
            enrollment.status = .cancelled
            enrollment.nextRunAt = nil
            kind = .cancelled
        }
        enrollment.updatedAt = now
        return HistoryEvent(enrollmentID: enrollment.id, kind: kind, fromStep: enrollment.stepID,
                            toStep: enrollment.stepID, visit: enrollment.visit, at: now)
    }

    private func invalid(_ e: Enrollment, _ verb: String) -> SequencerError {
        SequencerError(.invalidState, "cannot \(verb) enrollment \(e.id) in status \(e.status.rawValue)",
                       sequence: e.sequenceName, version: e.sequenceVersion, step: e.stepID)
    }
}
