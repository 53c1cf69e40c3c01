public import Foundation

/// A change a bulk action makes to each enrollment a filter matches.
public enum BulkAction: String, Sendable, Hashable, CaseIterable {
    case cancel, pause, resume, retry

    /// Whether the action applies to an enrollment in this status.
    public func applies(to status: EnrollmentStatus) -> Bool {
        switch self {
        case .cancel: !status.isFinal
        case .pause: status == .active
        case .resume: status == .paused
        case .retry: status == .failed
        }
    }

    func change(by actor: String?) -> EnrollmentChange {
        switch self {
        case .cancel: .cancel
        case .pause: .pause
        case .resume: .resume
        case .retry: .retry(by: actor)
        }
    }
}

/// How many enrollments a filter matches, and to how many of them an action applies:
/// ``Sequencer/count(_:matching:upTo:)``, the figure to show before ``Sequencer/apply(_:toEnrollmentsMatching:by:now:batchSize:)``.
public struct BulkCount: Sendable, Hashable {
    public var matching = 0
    public var applicable = 0
    /// Counting stopped at the cap: there are at least this many.
    public var capped = false

    public init() {}
}

/// What a bulk action or a version migration did.
public struct BulkResult: Sendable, Hashable, CustomStringConvertible {
    /// Enrollments changed.
    public var changed = 0
    /// Enrollments the filter matched that the action does not apply to (a pause of a completed
    /// enrollment), or that changed meanwhile so it no longer did.
    public var skipped = 0
    /// Pages read.
    public var batches = 0

    public init() {}

    public var description: String { "\(changed) changed, \(skipped) skipped" }
}

extension Sequencer {
    /// A page of the enrollments a filter matches, newest first; pass the page's `next` to get
    /// the one after it.
    ///
    /// ```swift
    /// var cursor: PageCursor?
    /// repeat {
    ///     let page = try await sequencer.enrollments(matching: EnrollmentFilter(status: .failed), after: cursor)
    ///     for enrollment in page.enrollments { print(enrollment.subject, enrollment.lastError ?? "") }
    ///     cursor = page.next
    /// } while cursor != nil
    /// ```
    public func enrollments(matching filter: EnrollmentFilter, after cursor: PageCursor? = nil, limit: Int = 100)
        async throws -> EnrollmentPage
    {
        try filter.check()
        return try await store.enrollments(matching: filter, after: cursor, limit: limit)
    }

    /// A page of an enrollment's history, oldest first.
    public func history(of id: UUID, after cursor: PageCursor?, limit: Int = 100) async throws -> HistoryPage {
        try await store.history(of: id, after: cursor, limit: limit)
    }

    /// How many enrollments of a sequence version (the latest when `version` is `nil`) are at
    /// each step, in each status.
    public func stepCounts(sequence: String, version: Int? = nil) async throws -> [StepCount] {
        let definition = try await definition(sequence, version: version)
        return try await store.stepCounts(sequence: sequence, version: definition.version)
    }

    /// The funnel of a sequence version (the latest when `version` is `nil`) at `now`: every step of
    /// the definition in order, including steps nobody reached, then the end (completed). See
    /// ``FunnelStatistics``.
    ///
    /// ```swift
    /// let funnel = try await sequencer.funnel(sequence: "trial-onboarding")
    /// print(funnel.enrolled, funnel.dueNow, funnel.oldestDueLag, funnel.share(reaching: nil))
    /// ```
    public func funnel(sequence: String, version: Int? = nil, now: Date = Date()) async throws -> FunnelStatistics {
        try Limits.check(now, field: "now", sequence: sequence)
        let definition = try await definition(sequence, version: version)
        var funnel = try await store.funnel(sequence: sequence, version: definition.version, now: now)
        var byStep: [String?: FunnelStatistics.StepFigures] = [:]
        for figures in funnel.steps { byStep[figures.step] = figures }
        var ordered = definition.steps.map { byStep.removeValue(forKey: $0.id) ?? .init(step: $0.id) }
        ordered.append(byStep.removeValue(forKey: nil) ?? .init(step: nil))
        // Steps the definition does not have (none, unless rows were written by hand) come last.
        ordered += byStep.values.sorted { ($0.step ?? "") < ($1.step ?? "") }
        funnel.steps = ordered
        return funnel
    }

    /// Applies an action to one enrollment: ``cancel(_:now:within:)``, ``pause(_:now:within:)``,
    /// ``resume(_:now:within:)`` or ``retry(_:by:now:within:)`` (the only one that records `actor`).
    @discardableResult
    public func apply(_ action: BulkAction, to id: UUID, by actor: String? = nil, now: Date = Date()) async throws -> Enrollment {
        switch action {
        case .cancel: try await cancel(id, now: now)
        case .pause: try await pause(id, now: now)
        case .resume: try await resume(id, now: now)
        case .retry: try await retry(id, by: actor, now: now)
        }
    }

    /// How many enrollments a filter matches and to how many `action` applies. With a sequence
    /// and neither subject nor update time, from the per-step counts of its versions (one
    /// statement each, ``SequenceStore/stepCounts(sequence:version:)``); otherwise by reading the
    /// matching pages, stopping past `cap` rows (``BulkCount/capped``) when one is given.
    ///
    /// ```swift
    /// let count = try await sequencer.count(.retry, matching: EnrollmentFilter(sequence: "billing", status: .failed))
    /// print("retry \(count.applicable) of \(count.matching)?")
    /// ```
    public func count(_ action: BulkAction, matching filter: EnrollmentFilter, upTo cap: Int? = nil) async throws -> BulkCount {
        try filter.check()
        var count = BulkCount()
        if let sequence = filter.sequence, filter.subject == nil, filter.updatedSince == nil {
            var versions = filter.version.map { [$0] } ?? []
            if filter.version == nil {
                versions = try await store.definitionVersions().filter { $0.name == sequence }.map(\.version)
            }
            for version in versions {
                for step in try await store.stepCounts(sequence: sequence, version: version)
                where (filter.step.map { $0 == step.step } ?? true) && (filter.status.map { $0 == step.status } ?? true) {
                    count.matching += step.count
                    if action.applies(to: step.status) { count.applicable += step.count }
                }
            }
            return count
        }
        var cursor: PageCursor?
        repeat {
            let page = try await store.enrollments(matching: filter, after: cursor, limit: 1_000)
            count.matching += page.enrollments.count
            count.applicable += page.enrollments.filter { action.applies(to: $0.status) }.count
            cursor = page.next
            if let cap, count.matching >= cap, cursor != nil {
                count.capped = true
                return count
            }
        } while cursor != nil
        return count
    }

    /// Applies an action to every enrollment a filter matches, a page of `batchSize` at a time;
    /// each enrollment changes atomically and fenced, exactly as the single-enrollment call
    /// (``cancel(_:now:within:)``, ``pause(_:now:within:)``, ``resume(_:now:within:)``,
    /// ``retry(_:by:now:within:)``) would change it. Enrollments the action does not apply to
    /// are counted as skipped. A filter by version without a sequence is refused
    /// (``SequencerError/Code/invalidState``, field `version`).
    ///
    /// ```swift
    /// let result = try await sequencer.apply(.retry, toEnrollmentsMatching: EnrollmentFilter(sequence: "billing", status: .failed))
    /// ```
    @discardableResult
    public func apply(_ action: BulkAction, toEnrollmentsMatching filter: EnrollmentFilter, by actor: String? = nil,
                      now: Date = Date(), batchSize: Int = 500) async throws -> BulkResult
    {
        try Limits.check(now, field: "now", sequence: filter.sequence)
        try filter.check()
        var result = BulkResult()
        try await change(every: filter, now: now, batchSize: batchSize, into: &result) { enrollment in
            action.applies(to: enrollment.status) ? action.change(by: actor) : nil
        }
        return result
    }

    /// Pages through the enrollments a filter matches, `batchSize` at a time, applying the change
    /// `changeFor` picks for each (`nil`: skip it) through the store, atomically and fenced; one
    /// that changed or was pruned since its page was read is skipped.
    private func change(every filter: EnrollmentFilter, now: Date, batchSize: Int, into result: inout BulkResult,
                        changeFor: (Enrollment) -> EnrollmentChange?) async throws
    {
        var cursor: PageCursor?
        repeat {
            try Task.checkCancellation()
            let page = try await store.enrollments(matching: filter, after: cursor, limit: batchSize)
            result.batches += 1
            for enrollment in page.enrollments {
                guard let change = changeFor(enrollment) else {
                    result.skipped += 1
                    continue
                }
                do {
                    _ = try await store.change(enrollment.id, change, now: now)
                    result.changed += 1
                } catch let error as SequencerError where error.code == .invalidState || error.code == .unknownEnrollment {
                    result.skipped += 1
                }
            }
            cursor = page.next
        } while cursor != nil
    }

    /// Moves the active and paused enrollments of one version of a sequence to another version,
    /// each at the step `stepMap` names for its current step, or at the step with the same id
    /// when the map does not name it.
    ///
    /// Everything is checked before anything changes: both versions must be registered, every
    /// key of `stepMap` must be a step of `old` and every value a step of `new`
    /// (``SequencerError/Code/unknownStepReference`` naming it), and every step of `old` that has
    /// active or paused enrollments must be mapped or exist in `new`
    /// (``SequencerError/Code/invalidState``, field `stepMap`, naming the unmapped steps). Then each
    /// enrollment changes atomically and fenced, with a `migrated` history event; one whose step
    /// is the same id keeps its visit and step-entry time (waits keep counting), one that moves
    /// to another step starts a new visit; active ones are due at once, so the new version's step
    /// decides what happens next.
    ///
    /// ```swift
    /// try await sequencer.migrateEnrollments(of: "onboarding", from: 1, to: 2, stepMap: ["old-nudge": "nudge"])
    /// ```
    @discardableResult
    public func migrateEnrollments(of sequence: String, from old: Int, to new: Int, stepMap: [String: String] = [:],
                                   by actor: String? = nil, now: Date = Date()) async throws -> BulkResult
    {
        try Limits.check(now, field: "now", sequence: sequence)
        let source = try await definition(sequence, version: old)
        let target = try await definition(sequence, version: new)
        let sourceSteps = Set(source.steps.map(\.id)), targetSteps = Set(target.steps.map(\.id))
        for (from, to) in stepMap.sorted(by: { $0.key < $1.key }) {
            guard sourceSteps.contains(from) else {
                throw SequencerError(.unknownStepReference, "stepMap names \"\(from)\", which version \(old) does not have",
                                     sequence: sequence, version: old, step: from, field: "stepMap")
            }
            guard targetSteps.contains(to) else {
                throw SequencerError(.unknownStepReference, "stepMap maps \"\(from)\" to \"\(to)\", which version \(new) does not have",
                                     sequence: sequence, version: new, step: to, field: "stepMap.\(from)")
            }
        }
        var mapping: [String: String] = [:]
        for step in sourceSteps {
            if let mapped = stepMap[step] { mapping[step] = mapped } else if targetSteps.contains(step) { mapping[step] = step }
        }
        let counts = try await store.stepCounts(sequence: sequence, version: old)
        let unmapped = Set(counts.filter { ($0.status == .active || $0.status == .paused) && $0.count > 0 }
            .compactMap(\.step).filter { mapping[$0] == nil }).sorted()
        guard unmapped.isEmpty else {
            throw SequencerError(.invalidState,
                                 "steps \(unmapped.map { "\"\($0)\"" }.joined(separator: ", ")) of version \(old) have enrollments "
                                 + "and are neither in stepMap nor in version \(new); nothing was migrated",
                                 sequence: sequence, version: old, step: unmapped.first, field: "stepMap")
        }
        var result = BulkResult()
        let change = EnrollmentChange(.migrate(from: old, to: new, steps: mapping, by: actor),
                                      maximumContextBytes: configuration.limits.maximumContextBytes)
        for status in [EnrollmentStatus.active, .paused] {
            try await self.change(every: EnrollmentFilter(sequence: sequence, version: old, status: status), now: now,
                                  batchSize: 500, into: &result) { _ in change }
        }
        return result
    }
}
