public import Foundation
import Logging
import Synchronization

extension Sequencer {
    /// Creates or replaces (by name) a schedule: at each occurrence of its recurrence, a tick
    /// enrolls its subject in its sequence.
    ///
    /// Saving an equal schedule again changes nothing. Replacing one keeps its next occurrence and
    /// its counts unless the recurrence or the time zone changed (then it counts from `now`);
    /// saving a disabled schedule enabled resumes it (see ``resumeSchedule(_:now:)``).
    ///
    /// **What each fire enrolls.** The subject is ``Schedule/subject`` rendered for the
    /// occurrence; the idempotency key is `schedule:<name>:<occurrence>` (so an occurrence
    /// never enrolls twice, whatever happens); the context is the schedule's context with a
    /// `schedule` member: `{"name", "occurrence", "previousRun"}`, where `previousRun` (present
    /// once a run has completed) is `{"enrollment", "completedAt", "context"}` of the last
    /// enrollment this schedule created that completed: "the last successful execution". It is
    /// the run the previous fire created when that run has completed by the time of the next fire
    /// (always so for an ``Schedule/exclusive`` schedule); for overlapping runs, the last one seen
    /// completed.
    ///
    /// **Who fires.** Every ``tick(now:)`` (``Configuration/firesSchedules``) fires what is due,
    /// with no leader: each due schedule is locked by one ticker (`FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL), which advances it and enrolls in one transaction.
    ///
    /// - Throws: ``SequencerError`` naming the field: `name` (empty, over 200 bytes, a NUL),
    ///   `sequence`/`version` (not registered: ``SequencerError/Code/unknownSequence``),
    ///   `subject` (not a template), `context` (not an object, over the limits), `maxMissedFires`.
    @discardableResult
    public func schedule(_ schedule: Schedule, now: Date = Date()) async throws -> ScheduleState {
        try await validate(schedule, now: now)
        let saved = try await store.modifySchedule(named: schedule.name) { existing in
            guard var state = existing else {
                return ScheduleState(
                    schedule: schedule, anchor: now,
                    nextFireAt: schedule.recurrence.occurrence(after: now, in: schedule.timeZone, anchor: now),
                    createdAt: now, updatedAt: now)
            }
            guard state.schedule != schedule else { return state }
            let old = state.schedule
            state.schedule = schedule
            state.updatedAt = now
            if old.recurrence != schedule.recurrence || old.timeZone != schedule.timeZone {
                state.anchor = now
                state.nextFireAt = schedule.recurrence.occurrence(after: now, in: schedule.timeZone, anchor: now)
            } else if !old.enabled && schedule.enabled {
                state.nextFireAt = schedule.recurrence.occurrence(after: now, in: schedule.timeZone, anchor: state.anchor)
            }
            return state
        }
        guard let saved else { throw SequencerError(.storeFailure, "the schedule was not stored", field: "schedule") }
        logger.info("saved schedule", metadata: [
            "sequencer.schedule": "\(schedule.name)", "sequencer.recurrence": "\(schedule.recurrence)",
            "sequencer.nextFireAt": "\(saved.nextFireAt.map { ISO8601Timestamp.string(from: $0) } ?? "never")",
        ])
        return saved
    }

    /// Every stored schedule, by name.
    public func schedules() async throws -> [ScheduleState] {
        try await store.schedules()
    }

    /// A stored schedule; ``SequencerError/Code/unknownSchedule`` when there is none by that name.
    public func schedule(named name: String) async throws -> ScheduleState {
        guard let state = try await store.schedule(named: name) else { throw Self.unknownSchedule(name) }
        return state
    }

    /// Disables a schedule: it does not fire until ``resumeSchedule(_:now:)``. Pausing a paused
    /// schedule changes nothing.
    @discardableResult
    public func pauseSchedule(_ name: String, now: Date = Date()) async throws -> ScheduleState {
        try await setEnabled(false, name, now: now)
    }

    /// Enables a paused schedule. Occurrences that came due while it was paused do not fire: it
    /// fires next at its first occurrence after `now`.
    @discardableResult
    public func resumeSchedule(_ name: String, now: Date = Date()) async throws -> ScheduleState {
        try await setEnabled(true, name, now: now)
    }

    /// Deletes a schedule; enrollments it created go on. Returns `false` when there was none.
    @discardableResult
    public func deleteSchedule(_ name: String) async throws -> Bool {
        let found = Mutex(false)
        _ = try await store.modifySchedule(named: name) { existing in
            found.withLock { $0 = existing != nil }
            return nil
        }
        let deleted = found.withLock { $0 }
        if deleted { logger.info("deleted schedule", metadata: ["sequencer.schedule": "\(name)"]) }
        return deleted
    }

    private func setEnabled(_ enabled: Bool, _ name: String, now: Date) async throws -> ScheduleState {
        let saved = try await store.modifySchedule(named: name) { existing in
            guard var state = existing else { throw Self.unknownSchedule(name) }
            guard state.schedule.enabled != enabled else { return state }
            state.schedule.enabled = enabled
            state.updatedAt = now
            if enabled {
                let s = state.schedule
                state.nextFireAt = s.recurrence.occurrence(after: now, in: s.timeZone, anchor: state.anchor)
            }
            return state
        }
        guard let saved else { throw Self.unknownSchedule(name) }
        return saved
    }

    static func unknownSchedule(_ name: String) -> SequencerError {
        SequencerError(.unknownSchedule, "no schedule named '\(Limits.excerpt(name))'", field: "name")
    }

    private func validate(_ schedule: Schedule, now: Date) async throws {
        let name = Limits.excerpt(schedule.name)
        func invalid(_ message: String, _ field: String, code: SequencerError.Code = .invalidConfig) -> SequencerError {
            SequencerError(code, "schedule '\(name)': \(message)", sequence: schedule.sequence, version: schedule.version,
                           field: field)
        }
        try Limits.check(now, field: "now", sequence: schedule.sequence)
        guard !schedule.name.isEmpty else { throw invalid("a schedule needs a name", "name") }
        try Limits.check(length: schedule.name, maximum: 200, what: "the name of schedule '\(name)'", field: "name",
                         sequence: schedule.sequence, version: schedule.version)
        guard !schedule.name.utf8.contains(0), !schedule.subject.utf8.contains(0) else {
            throw invalid("the name and the subject cannot contain a NUL character",
                          schedule.name.utf8.contains(0) ? "name" : "subject")
        }
        if case .all(let max) = schedule.missedFires, !(1...1000).contains(max) {
            throw invalid("maxMissedFires must be from 1 to 1,000, not \(max)", "maxMissedFires")
        }
        guard schedule.missedAfter >= .seconds(1) else {
            throw invalid("missedAfter must be at least one second", "missedAfterSeconds")
        }
        if case .every(let interval) = schedule.recurrence, interval < .seconds(60) {
            throw invalid("a rate must be at least one minute", "recurrence")
        }
        // The sequence and version exist; a fire's subject and context pass enroll's own checks.
        let definition = try await definition(schedule.sequence, version: schedule.version)
        let subject: String
        do {
            subject = try TemplateRenderer.render(schedule.subject, context: Self.templateValues(for: schedule, occurrence: now))
        } catch {
            throw SequencerError(.invalidConfig, "schedule '\(name)': the subject is not a valid Mustache template",
                                 sequence: schedule.sequence, field: "subject", underlying: error)
        }
        do {
            _ = try EnrollmentRequest(subject: subject, context: schedule.context)
                .enrollment(in: definition, now: now, limits: configuration.limits)
        } catch {
            var refused = error
            refused.message = "schedule '\(name)': " + refused.message
            throw refused
        }
    }

    // MARK: Firing

    /// Fires every schedule due at `now` (what ``tick(now:)`` does first, once per second of its
    /// clock); see ``schedule(_:now:)`` for what a fire enrolls and ``MissedFirePolicy`` for
    /// occurrences found late.
    @discardableResult
    public func fireSchedules(now: Date = Date()) async throws -> ScheduleReport {
        try Limits.check(now, field: "now")
        var report = ScheduleReport()
        while true {
            let firings = try await store.fireSchedules(now: now, limit: configuration.batchSize) { state, last, writer in
                try await self.plan(state, lastEnrollment: last, via: writer, now: now)
            }
            for firing in firings {
                let created = firing.results.filter(\.created).count
                report.fired += firing.occurrences.count
                report.enrolled += created
                report.skipped += firing.skipped
                let name = firing.state.schedule.name
                if created > 0 { observability.count("sequencer_schedule_enrollments_total", created, [("schedule", name)]) }
                if firing.skipped > 0 {
                    observability.count("sequencer_schedule_skips_total", firing.skipped, [("schedule", name)])
                    logger.info("schedule skipped occurrences", metadata: [
                        "sequencer.schedule": "\(name)", "sequencer.skipped": "\(firing.skipped)",
                        "sequencer.reason": "\(firing.state.lastSkip?.reason ?? "")",
                    ])
                }
                if !firing.occurrences.isEmpty {
                    logger.debug("schedule fired", metadata: [
                        "sequencer.schedule": "\(name)", "sequencer.occurrences": "\(firing.occurrences.count)",
                        "sequencer.created": "\(created)",
                    ])
                }
            }
            if firings.count < configuration.batchSize || Task.isCancelled { break }
        }
        return report
    }

    /// ``fireSchedules(now:)`` from a tick: at most once per second of the tick's clock (a
    /// clock that goes back checks again), and a failure is logged, not thrown, so the tick still
    /// advances enrollments; the next tick fires what this one could not.
    func fireSchedulesIfDue(now: Date) async -> ScheduleReport {
        guard configuration.firesSchedules else { return ScheduleReport() }
        let due = lastScheduleCheck.withLock { last in
            if let last, now >= last, now.timeIntervalSince(last) < 1 { return false }
            last = now
            return true
        }
        guard due, !Task.isCancelled else { return ScheduleReport() }
        do {
            // Bounded like a claim: an unreachable database must not hold the tick here, where
            // nothing would report it, instead of failing the claim that follows.
            return try await bounded("firing schedules") { try await self.fireSchedules(now: now) }
        } catch {
            lastScheduleCheck.withLock { $0 = nil }
            logger.warning("could not fire schedules; the next tick tries again", metadata: ["sequencer.error": "\(error)"])
            return ScheduleReport()
        }
    }

    /// What a due schedule fires at `now`: which occurrences (``MissedFirePolicy``, exclusivity),
    /// their enrollments, and the schedule's next state. Reads only (the definition, through `writer`).
    func plan(_ state: ScheduleState, lastEnrollment: Enrollment?, via writer: any EnrollmentWriter, now: Date)
        async throws -> ScheduleFiring
    {
        var next = state
        let schedule = state.schedule
        guard schedule.enabled, let first = state.nextFireAt, first <= now else {
            return ScheduleFiring(state: state, occurrences: [], enrollments: [], skipped: 0)
        }
        next.updatedAt = now
        let keep: Int = switch schedule.missedFires {
        case .once: 1
        case .skip: 1000
        case .all(let max): max
        }
        let due = Self.dueOccurrences(of: state, from: first, through: now, keep: keep)
        next.nextFireAt = due.next
        var fires: [Date]
        var skips: [ScheduleSkip] = []
        var skippedCount = 0
        switch schedule.missedFires {
        case .once:
            fires = due.newest
            if due.count > 1 {
                skippedCount = due.count - 1
                skips.append(ScheduleSkip(
                    occurrence: due.newest[0],
                    reason: "\(Self.count(due.count - 1, due.countIsLowerBound)) earlier occurrence(s) came due before any ticker fired them; "
                        + "fired once, for the latest (missedFires: once)"))
            }
        case .skip:
            let late = due.newest.filter { now.timeIntervalSince($0) > schedule.missedAfter.timeInterval }
            fires = due.newest.filter { now.timeIntervalSince($0) <= schedule.missedAfter.timeInterval }
            skippedCount = due.count - fires.count
            if let last = late.last {
                skips.append(ScheduleSkip(
                    occurrence: last,
                    reason: "\(Self.count(skippedCount, due.countIsLowerBound)) occurrence(s) found more than "
                        + "\(Int(schedule.missedAfter.timeInterval)) s late (missedFires: skip)"))
            }
        case .all(let max):
            fires = due.newest
            skippedCount = due.count - fires.count
            if skippedCount > 0 {
                skips.append(ScheduleSkip(
                    occurrence: fires[0],
                    reason: "\(Self.count(due.count, due.countIsLowerBound)) occurrences came due at once; fired the latest \(max) "
                        + "(missedFires: all, maxMissedFires: \(max))"))
            }
        }
        if let last = lastEnrollment, last.status == .completed, state.previousRun?.enrollmentID != last.id {
            next.previousRun = PreviousRun(enrollmentID: last.id, completedAt: last.updatedAt,
                                           context: Self.withoutPreviousRun(last.context))
        }
        if schedule.exclusive, !fires.isEmpty {
            var running = lastEnrollment.map { $0.status == .active || $0.status == .paused } ?? false
            var kept: [Date] = []
            for occurrence in fires {
                if running {
                    skippedCount += 1
                    let who = kept.isEmpty ? "enrollment \(lastEnrollment!.id.uuidString.lowercased())" : "the run this pass created"
                    skips.append(ScheduleSkip(occurrence: occurrence,
                                              reason: "the previous run (\(who)) is still active (exclusive)"))
                } else {
                    kept.append(occurrence)
                    running = true
                }
            }
            fires = kept
        }
        next.skipped += skippedCount
        if let lastSkip = skips.max(by: { $0.occurrence < $1.occurrence }) { next.lastSkip = lastSkip }
        var firing = ScheduleFiring(state: next, occurrences: fires, enrollments: [], skipped: skippedCount)
        guard !fires.isEmpty else { return firing }
        do {
            let requests = try fires.map { occurrence in
                try enrollmentRequest(for: next, occurrence: occurrence)
            }
            firing.enrollments = try await newEnrollments(requests, in: schedule.sequence, version: schedule.version,
                                                           now: now, via: writer)
        } catch let error as SequencerError where error.code != .storeFailure {
            return firing.refused(error)
        }
        return firing
    }

    private func enrollmentRequest(for state: ScheduleState, occurrence: Date) throws -> EnrollmentRequest {
        let schedule = state.schedule
        let subject: String
        do {
            subject = try TemplateRenderer.render(schedule.subject, context: Self.templateValues(for: schedule, occurrence: occurrence))
        } catch {
            throw SequencerError(.invalidConfig, "the subject template did not render: \(error)", field: "subject")
        }
        var context = schedule.context.objectValue ?? [:]
        var member: [String: JSONValue] = [
            "name": .string(schedule.name), "occurrence": .string(ISO8601Timestamp.string(from: occurrence)),
        ]
        if let previous = state.previousRun { member["previousRun"] = previous.jsonValue }
        context["schedule"] = .object(member)
        return EnrollmentRequest(subject: subject, context: .object(context),
                                 idempotencyKey: "schedule:\(schedule.name):\(ISO8601Timestamp.string(from: occurrence))")
    }

    /// What a schedule's subject template can read for one occurrence.
    static func templateValues(for schedule: Schedule, occurrence: Date) -> JSONValue {
        let wall = ISO8601Timestamp.string(from: CalendarMath.wallClock(of: occurrence, in: schedule.timeZone),
                                           withMilliseconds: false)
        // "2026-03-09T09:00:00Z" read as the zone's wall clock.
        let date = String(wall.prefix(10)), time = String(wall.dropFirst(11).prefix(5))
        return ["schedule": .string(schedule.name), "occurrence": .string(ISO8601Timestamp.string(from: occurrence)),
                "date": .string(date), "time": .string(time), "context": schedule.context]
    }

    /// A completed run's context as the next run receives it: without its own `previousRun`, so
    /// runs do not nest one inside the other.
    static func withoutPreviousRun(_ context: JSONValue) -> JSONValue {
        guard case .object(var members) = context, case .object(var own)? = members["schedule"] else { return context }
        own["previousRun"] = nil
        members["schedule"] = .object(own)
        return .object(members)
    }

    private static func count(_ n: Int, _ lowerBound: Bool) -> String {
        lowerBound ? "at least \(n)" : "\(n)"
    }

    struct DueOccurrences {
        /// How many occurrences came due (a lower bound after a very long outage).
        var count = 0
        var countIsLowerBound = false
        /// The latest of them, oldest first, at most `keep`.
        var newest: [Date] = []
        /// The first occurrence after `now`.
        var next: Date?
    }

    /// The occurrences from `first` through `now`. Walks them one by one up to 100,000; after
    /// that (an outage of months of a one-minute schedule) jumps to the last week before `now`
    /// and counts from there, so the count becomes a lower bound.
    static func dueOccurrences(of state: ScheduleState, from first: Date, through now: Date, keep: Int)
        -> DueOccurrences
    {
        let schedule = state.schedule
        var due = DueOccurrences()
        var budget = 100_000
        var cursor: Date? = first
        while let occurrence = cursor, occurrence <= now {
            due.count += 1
            due.newest.append(occurrence)
            if due.newest.count > 2 * keep { due.newest.removeFirst(due.newest.count - keep) }
            budget -= 1
            var from = occurrence
            if budget == 0 {
                let weekBefore = now.addingTimeInterval(-7 * 86400)
                if weekBefore > occurrence {
                    from = weekBefore
                    due.countIsLowerBound = true
                }
                budget = 100_000
            }
            cursor = schedule.recurrence.occurrence(after: from, in: schedule.timeZone, anchor: state.anchor)
        }
        due.newest = Array(due.newest.suffix(keep))
        due.next = cursor
        return due
    }
}

/// What ``Sequencer/fireSchedules(now:)`` did.
public struct ScheduleReport: Sendable, Hashable {
    /// Occurrences that fired.
    public var fired = 0
    /// Enrollments they created (an occurrence whose subject was already enrolled, under a
    /// one-per-subject rule, fires without creating one).
    public var enrolled = 0
    /// Occurrences that did not fire (missed, exclusive, refused).
    public var skipped = 0

    public init() {}
}
