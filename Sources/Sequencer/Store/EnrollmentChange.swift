public import Foundation

/// A change the host makes to an enrollment outside a tick.
///
/// Stores apply it with ``apply(to:now:)`` inside their own atomic section, so
/// every store enforces the same rules.
public enum EnrollmentChange: Sendable, Hashable {
    /// Merge members into the context (objects merge deeply). An active enrollment becomes
    /// due at once, so the next tick re-checks its goals. A patch no store can keep (a NUL
    /// character, NaN or infinity) is refused with `invalidContext` naming the field.
    case mergeContext([String: JSONValue])
    /// Stop picking it up until resumed. Only an active enrollment can be paused.
    case pause
    /// Make a paused enrollment active and due now.
    case resume
    /// Stop it for good. Final enrollments cannot be cancelled.
    case cancel

    /// Applies the change, returning the history event to append.
    public func apply(to enrollment: inout Enrollment, now: Date) throws -> HistoryEvent {
        let kind: HistoryEvent.Kind
        switch self {
        case .mergeContext(let patch):
            guard !enrollment.status.isFinal else { throw invalid(enrollment, "update the context of") }
            if let (path, problem) = JSONValue.object(patch).firstUnstorableValue(at: "context") {
                throw SequencerError(.invalidContext, "the context update of enrollment \(enrollment.id) has \(problem) at \(path)",
                                     sequence: enrollment.sequenceName, version: enrollment.sequenceVersion,
                                     step: enrollment.stepID, field: path)
            }
            enrollment.context = enrollment.context.merging(patch)
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
