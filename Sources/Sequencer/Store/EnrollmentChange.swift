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
        /// Make a failed enrollment active again at its failed step, due now, with its
        /// attempts reset; `by` says who, in the history event.
        case retry(by: String?)
        /// Put the enrollment at the start of another step of its own version (a new visit,
        /// attempts reset), due now unless paused. `version` and `steps` are the definition the
        /// caller checked the step against: a store refuses the change if the enrollment is on
        /// another version by the time it applies it.
        case move(to: String, version: Int, steps: Set<String>, by: String?)
        /// Move an active or paused enrollment of version `from` to version `to` of its
        /// sequence: its step becomes `steps[current step]` (a new visit when the id changes),
        /// and an active one is due now. An enrollment on another version, or at a step the map
        /// does not cover, is refused (``SequencerError/Code/invalidState``).
        case migrate(from: Int, to: Int, steps: [String: String], by: String?)
        /// An event reached the enrollment: `data` merges into the context (deeply), the context's
        /// `$events.<name>` records when it last came (`{"at": ISO 8601, "count": n}`), and an
        /// active enrollment is due at once (see ``Sequencer/send(event:data:to:now:)``).
        case event(name: String, data: [String: JSONValue])
        /// The outside system reported on the callback of visit `visit` (see
        /// ``Sequencer/complete(token:outcome:now:)`` and ``Sequencer/heartbeat(token:progress:now:)``).
        /// Refused (``SequencerError/Code/invalidState``) unless the enrollment is active or paused
        /// at that visit with no completion recorded yet.
        case callback(visit: Int, CallbackReport)
    }

    /// What the outside system reported on a callback.
    public enum CallbackReport: Sendable, Hashable {
        /// It succeeded; `result`, when given with a `resultKey`, merges into the context under that key.
        case succeeded(result: JSONValue?, resultKey: String?)
        /// It failed, for `reason`.
        case failed(reason: String)
        /// It is still working; `progress` is 0 to 100 when known.
        case heartbeat(progress: Double?)
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
    /// Retry a failed enrollment from its failed step; see ``Kind/retry(by:)``.
    public static func retry(by actor: String? = nil) -> EnrollmentChange { EnrollmentChange(.retry(by: actor)) }
    /// Move an enrollment to a step of `definition` (its own version); see ``Kind/move(to:version:steps:by:)``.
    public static func move(to step: String, in definition: SequenceDefinition, by actor: String? = nil) -> EnrollmentChange {
        EnrollmentChange(.move(to: step, version: definition.version, steps: Set(definition.steps.map(\.id)), by: actor))
    }

    /// An event reached the enrollment; see ``Kind/event(name:data:)``. Only an active or paused
    /// enrollment receives events.
    public static func event(_ name: String, data: [String: JSONValue] = [:],
                             maximumContextBytes: Int = Limits().maximumContextBytes) -> EnrollmentChange {
        EnrollmentChange(.event(name: name, data: data), maximumContextBytes: maximumContextBytes)
    }

    /// The context key under which received events are recorded (``Kind/event(name:data:)``).
    public static let eventsKey = "$events"

    /// Whether the change makes an active enrollment due at once (a context update, a resume),
    /// so a store tells a running service to tick.
    public var makesDue: Bool {
        switch kind {
        case .mergeContext, .resume, .retry, .move, .migrate, .event: true
        case .callback(_, .succeeded), .callback(_, .failed): true
        case .pause, .cancel, .callback(_, .heartbeat): false
        }
    }

    /// Applies the change, returning the history event to append.
    public func apply(to enrollment: inout Enrollment, now: Date) throws -> HistoryEvent {
        try Limits.check(now, field: "now", sequence: enrollment.sequenceName)
        let kind: HistoryEvent.Kind
        let fromStep = enrollment.stepID
        let fromVisit = enrollment.visit
        var message: String?
        switch self.kind {
        case .mergeContext(let patch):
            guard !enrollment.status.isFinal else { throw invalid(enrollment, "update the context of") }
            try merge(patch, into: &enrollment, now: now)
            kind = .contextUpdated
        case .event(let name, let data):
            guard enrollment.status == .active || enrollment.status == .paused else {
                throw invalid(enrollment, "send event '\(Limits.excerpt(name))' to")
            }
            let previous = enrollment.context[Self.eventsKey]?[name]?["count"]?.numberValue ?? 0
            var patch = data
            patch[Self.eventsKey] = .object([name: ["at": .string(ISO8601Timestamp.string(from: now)),
                                                   "count": .number(previous + 1)]])
            try merge(patch, into: &enrollment, now: now)
            message = "received event '\(name)'" + (data.isEmpty ? "" : " with " + data.keys.sorted().joined(separator: ", "))
            kind = .eventReceived
        case .callback(let visit, let report):
            let recorded = try record(report, visit: visit, on: &enrollment, now: now)
            kind = recorded.kind
            message = recorded.message
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
        case .retry(let actor):
            guard enrollment.status == .failed else { throw invalid(enrollment, "retry") }
            // The same visit: a host retry is one more try of the step the engine gave up on, so
            // a message its ledger recorded as sent is not sent again.
            message = Self.describe("retried after: \(enrollment.lastError ?? "failure")", by: actor)
            enrollment.status = .active
            enrollment.attempts = 0
            enrollment.lastError = nil
            // A callback that failed or timed out is started again.
            enrollment.callback = nil
            enrollment.nextRunAt = now
            kind = .retried
        case .move(let step, let version, let steps, let actor):
            guard enrollment.status == .active || enrollment.status == .paused || enrollment.status == .failed else {
                throw invalid(enrollment, "move")
            }
            guard enrollment.sequenceVersion == version else {
                throw SequencerError(.invalidState,
                                     "enrollment \(enrollment.id) is on version \(enrollment.sequenceVersion), not \(version)",
                                     sequence: enrollment.sequenceName, version: enrollment.sequenceVersion,
                                     step: enrollment.stepID)
            }
            guard steps.contains(step) else {
                throw SequencerError(.unknownStepReference, "version \(version) has no step \"\(step)\" to move enrollment \(enrollment.id) to",
                                     sequence: enrollment.sequenceName, version: version, step: step, field: "step")
            }
            message = Self.describe("moved from \(enrollment.stepID ?? "nowhere") to \(step)", by: actor)
            if enrollment.status == .failed { enrollment.status = .active }
            enrollment.stepID = step
            enrollment.visit += 1
            enrollment.stepEnteredAt = now
            enrollment.attempts = 0
            enrollment.lastError = nil
            enrollment.nextRunAt = enrollment.status == .active ? now : nil
            kind = .moved
        case .migrate(let from, let to, let steps, let actor):
            guard enrollment.status == .active || enrollment.status == .paused else { throw invalid(enrollment, "migrate") }
            guard enrollment.sequenceVersion == from else {
                throw SequencerError(.invalidState,
                                     "enrollment \(enrollment.id) is on version \(enrollment.sequenceVersion), not \(from)",
                                     sequence: enrollment.sequenceName, version: enrollment.sequenceVersion,
                                     step: enrollment.stepID)
            }
            guard let current = enrollment.stepID, let target = steps[current] else {
                throw SequencerError(.invalidState, "step \(enrollment.stepID ?? "none") of version \(from) has no step in version \(to)",
                                     sequence: enrollment.sequenceName, version: from, step: enrollment.stepID, field: "stepMap")
            }
            message = Self.describe("migrated from version \(from) to \(to)" + (target == current ? "" : ", step \(current) → \(target)"),
                                    by: actor)
            enrollment.sequenceVersion = to
            if target != current {
                enrollment.stepID = target
                enrollment.visit += 1
                enrollment.stepEnteredAt = now
                enrollment.attempts = 0
                enrollment.lastError = nil
            }
            if enrollment.status == .active { enrollment.nextRunAt = now }
            kind = .migrated
        }
        enrollment.updatedAt = now
        return HistoryEvent(enrollmentID: enrollment.id, kind: kind, fromStep: fromStep,
                            toStep: enrollment.stepID, message: message, visit: fromVisit, at: now)
    }

    /// Merges `patch` into the context (deeply), refusing what no store can keep or a context
    /// over the limit; an active enrollment becomes due at `now`.
    private func merge(_ patch: [String: JSONValue], into enrollment: inout Enrollment, now: Date) throws {
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
    }

    /// Records a callback report on the enrollment's ``Enrollment/callback``.
    private func record(_ report: CallbackReport, visit: Int, on enrollment: inout Enrollment, now: Date) throws
        -> (kind: HistoryEvent.Kind, message: String)
    {
        let what: String
        switch report {
        case .heartbeat: what = "take a heartbeat for"
        case .succeeded, .failed: what = "complete"
        }
        guard enrollment.status == .active || enrollment.status == .paused else {
            throw SequencerError(.invalidState, "cannot \(what) the callback of enrollment \(enrollment.id): it is \(enrollment.status.rawValue)",
                                 sequence: enrollment.sequenceName, version: enrollment.sequenceVersion, step: enrollment.stepID)
        }
        guard enrollment.visit == visit else {
            throw SequencerError(.invalidState,
                                 "cannot \(what) the callback of enrollment \(enrollment.id): the enrollment has left the visit "
                                     + "the token was issued for (visit \(visit); it is at step \(enrollment.stepID ?? "none"), visit \(enrollment.visit))",
                                 sequence: enrollment.sequenceName, version: enrollment.sequenceVersion, step: enrollment.stepID)
        }
        var callback = enrollment.callback?.visit == visit ? enrollment.callback! : CallbackState(visit: visit)
        if let outcome = callback.outcome {
            let how = if case .failed = outcome { "failed" } else { "succeeded" }
            throw SequencerError(.invalidState,
                                 "cannot \(what) the callback of enrollment \(enrollment.id): it already \(how) at "
                                     + (callback.completedAt.map { ISO8601Timestamp.string(from: $0) } ?? "an earlier time"),
                                 sequence: enrollment.sequenceName, version: enrollment.sequenceVersion, step: enrollment.stepID)
        }
        let kind: HistoryEvent.Kind
        let message: String
        switch report {
        case .succeeded(let result, let key):
            if let result, let key { try merge([key: result], into: &enrollment, now: now) }
            callback.outcome = .succeeded
            message = "callback succeeded" + (result != nil && key != nil ? " (result in \(key!))" : "")
            kind = .callbackCompleted
        case .failed(let reason):
            callback.outcome = .failed(reason: reason)
            message = "callback failed: \(reason)"
            kind = .callbackCompleted
        case .heartbeat(let progress):
            callback.lastHeartbeatAt = now
            if let progress { callback.progress = progress }
            message = "heartbeat" + (progress.map { " at \(ConfigReader.format($0))%" } ?? "")
            kind = .heartbeat
        }
        if callback.outcome != nil { callback.completedAt = now }
        enrollment.callback = callback
        if enrollment.status == .active {
            // A completion is acted on at the next tick; a heartbeat moves the timeout.
            enrollment.nextRunAt = callback.outcome != nil ? now : (callback.expiresAt ?? enrollment.nextRunAt)
        }
        return (kind, message)
    }

    private static func describe(_ what: String, by actor: String?) -> String {
        guard let actor, !actor.isEmpty else { return what }
        return "\(what) (by \(actor))"
    }

    private func invalid(_ e: Enrollment, _ verb: String) -> SequencerError {
        SequencerError(.invalidState, "cannot \(verb) enrollment \(e.id) in status \(e.status.rawValue)",
                       sequence: e.sequenceName, version: e.sequenceVersion, step: e.stepID)
    }
}
