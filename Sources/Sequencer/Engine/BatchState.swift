import Foundation
import Logging

/// Everything that changes while one claimed batch runs: each enrollment's cursor, the history
/// events to write, and the counts of the tick report.
///
/// Every transition goes through one of its methods (``move(_:to:by:message:)``,
/// ``wait(_:until:message:)``, ``retry(_:_:)``, ``fail(_:_:)``, ``yield(_:)``), and each method
/// appends its events and counts its own outcome, so there is one place that counts each kind.
struct BatchState {
    /// One claimed enrollment and what the batch did to it so far.
    struct Item {
        var enrollment: Enrollment
        let fence: Int64
        /// `nil` when the enrollment's sequence version is not registered.
        let definition: PreparedDefinition?
        /// Steps run for this enrollment in this batch (runner results and goal jumps).
        var stepsRun = 0
        /// The due time it was claimed with: a wait that sets the same time again is not news.
        var initialNextRunAt: Date?
        /// Whether the batch did anything to it; one it never got to (the tick was cancelled) is
        /// released instead of committed.
        var touched = false
        /// A failure or completion held until the sequence's notification of it is sent.
        var pendingFinal: PendingFinal?
        /// Whether its notification was dealt with, so the held transition now happens.
        var notificationHandled = false
        /// Whether a retry in this batch calls for the sequence's `retrying` notification.
        var retryNotice = false
    }

    /// A transition held for its notification (see ``SequenceNotification``).
    enum PendingFinal {
        case failed(reason: String)
        case completed(by: Transition, message: String?)

        var kind: String {
            switch self {
            case .failed: "failed"
            case .completed: "completed"
            }
        }
    }

    /// What the batch did, by sequence and step, for the metrics (see ``Observability``).
    struct Tally {
        struct Key: Hashable { var sequence: String; var step: String; var what: String }
        var steps: [Key: Int] = [:]
        var goals: [Key: Int] = [:]
        var failed: [Key: Int] = [:]
        var completed: [String: Int] = [:]
        var claimed = 0

        func emit(to observability: Observability) {
            observability.count("sequencer_claimed_total", claimed)
            for (key, count) in steps {
                observability.count("sequencer_steps_total", count,
                                    [("sequence", key.sequence), ("step", key.step), ("action", key.what)])
            }
            for (key, count) in goals {
                observability.count("sequencer_goals_reached_total", count, [("sequence", key.sequence), ("step", key.step)])
            }
            for (key, count) in failed {
                observability.count("sequencer_failed_total", count, [("sequence", key.sequence), ("step", key.step)])
            }
            for (sequence, count) in completed {
                observability.count("sequencer_completed_total", count, [("sequence", sequence)])
            }
        }
    }

    /// How an enrollment left its step.
    enum Transition {
        /// A runner's `next`.
        case next
        /// A runner's `altNext`.
        case altNext
        /// A runner's `goTo` (a GoTo step, or any runner that jumps).
        case goTo
        /// A goal later in the sequence was met.
        case goal
    }

    private(set) var items: [Item]
    private(set) var events: [HistoryEvent] = []
    private(set) var report = TickReport()
    private(set) var tally = Tally()
    /// Enrollments whose callback wait timed out in this batch, with the reason.
    private(set) var timedOut: [UUID: String] = [:]
    let now: Date
    let configuration: Sequencer.Configuration
    let logger: Logger

    init(items: [Item], now: Date, configuration: Sequencer.Configuration, logger: Logger) {
        self.items = items
        self.now = now
        self.configuration = configuration
        self.logger = logger
        report.claimed = items.count
        report.batches = 1
        tally.claimed = items.count
    }

    // MARK: Before a round

    /// Whether the enrollment runs its step this round. First fails it if its definition is
    /// missing, yields it if it used its step budget, and jumps it to a goal that is met.
    mutating func readyToRun(_ i: Int) -> Bool {
        guard let definition = items[i].definition, let stepID = items[i].enrollment.stepID else {
            let e = items[i].enrollment
            fail(i, "sequence '\(e.sequenceName)' version \(e.sequenceVersion) is not registered")
            return false
        }
        // Claimed with every attempt used: the last ones ended with expired leases (a step that
        // crashes each ticker that runs it). Fail it rather than run it again.
        if items[i].stepsRun == 0, items[i].enrollment.attempts >= configuration.retry.maxAttempts {
            let e = items[i].enrollment
            let reason = e.lastError ?? "no reason recorded"
            // A failure held for its notification kept its reason, which already says so.
            fail(i, reason.hasPrefix("gave up after ") ? reason : "gave up after \(e.attempts) attempts: \(reason)")
            return false
        }
        if items[i].stepsRun >= configuration.stepBudget {
            yield(i)
            return false
        }
        if let goal = definition.metGoal(after: stepID, context: items[i].enrollment.context, now: now) {
            move(i, to: definition.successor(of: goal), by: .goal, message: "goal '\(goal)' met")
            return isRunning(i)
        }
        if let (action, message, timeout) = callbackResult(i, step: definition.step(stepID)) {
            if timeout { timedOut[items[i].enrollment.id] = message }
            return apply(action, message: message, to: i)
        }
        return true
    }

    /// What the engine decides, without the runner, for a step whose callback this visit already
    /// has: its completion, its timeout, or more waiting (another change woke it early). `nil`
    /// when the runner should run (no wait began at this visit).
    private func callbackResult(_ i: Int, step: Step?) -> (action: RunnerAction, message: String, timedOut: Bool)? {
        let e = items[i].enrollment
        guard let callback = e.callback, callback.visit == e.visit else { return nil }
        let hasAlternative = step?.altNext != nil
        switch callback.outcome {
        case .succeeded?:
            return (.next, "callback succeeded", false)
        case .failed(let reason)?:
            let why = "callback failed: \(reason)"
            return (hasAlternative ? .altNext : .fail(why + " (the step has no altNext)"), why, false)
        case nil:
            guard let expiry = callback.expiresAt else { return nil }
            guard now >= expiry else {
                return (.noop(until: expiry), "waiting for a callback until \(ConfigReader.format(expiry))", false)
            }
            let missed = callback.heartbeatInterval != nil && expiry < callback.deadline!
            let why = missed ? "no heartbeat since \(ConfigReader.format(callback.lastHeartbeatAt ?? callback.startedAt!)) (timed out)"
                             : "no callback by \(ConfigReader.format(expiry)) (timed out)"
            return (hasAlternative ? .altNext : .fail(why + "; the step has no altNext"), why, true)
        }
    }

    // MARK: Applying a runner's result

    /// Applies a runner's action; returns `true` when the enrollment moved and should run its new
    /// step this tick.
    mutating func apply(_ action: RunnerAction, message: String?, to i: Int) -> Bool {
        items[i].stepsRun += 1
        report.steps += 1
        guard let definition = items[i].definition, let stepID = items[i].enrollment.stepID else { return false }
        let what: String
        switch action {
        case .next: what = "next"
        case .altNext: what = "altNext"
        case .goTo: what = "goTo"
        case .noop: what = "noop"
        case .retry: what = "retry"
        case .fail: what = "fail"
        case .awaitCallback: what = "awaitCallback"
        }
        tally.steps[Tally.Key(sequence: definition.name, step: stepID, what: what), default: 0] += 1
        switch action {
        case .next:
            move(i, to: definition.successor(of: stepID), by: .next, message: message)
        case .altNext:
            move(i, to: definition.alternative(of: stepID), by: .altNext, message: message)
        case .goTo(let target):
            guard target == Step.end || definition.step(target) != nil else {
                fail(i, "runner jumped to '\(target)', which is not a step of this sequence")
                return false
            }
            move(i, to: target == Step.end ? nil : target, by: .goTo, message: message)
        case .noop(let until):
            wait(i, until: until, message: message)
            return false
        case .retry(let reason):
            retry(i, reason)
            return false
        case .fail(let reason):
            fail(i, reason)
            return false
        case .awaitCallback(let wait):
            awaitCallback(i, wait, message: message)
            return false
        }
        return isRunning(i)
    }

    /// Whether the enrollment is still walking its steps in this batch (not ended, not held for a notification).
    func isRunning(_ i: Int) -> Bool {
        items[i].enrollment.status == .active && items[i].pendingFinal == nil
    }

    // MARK: Transitions

    /// Moves to `target` (`nil`: the end, which completes the enrollment).
    mutating func move(_ i: Int, to target: String?, by transition: Transition, message: String?) {
        items[i].touched = true
        if target == nil, !items[i].notificationHandled, items[i].definition?.notification("completed") != nil {
            items[i].pendingFinal = .completed(by: transition, message: message)
            return
        }
        var e = items[i].enrollment
        let from = e.stepID
        let kind: HistoryEvent.Kind
        switch transition {
        case .next, .goTo:
            kind = .advanced
        case .altNext:
            kind = .altAdvanced
        case .goal:
            kind = .goalReached
        }
        events.append(HistoryEvent(enrollmentID: e.id, kind: kind, fromStep: from, toStep: target ?? Step.end,
                                   message: message, visit: e.visit, at: now))
        switch transition {
        case .next: report.advanced += 1
        case .altNext: report.altAdvanced += 1
        case .goTo: report.jumped += 1
        case .goal:
            report.goalsReached += 1
            report.steps += 1
            items[i].stepsRun += 1
            tally.goals[Tally.Key(sequence: e.sequenceName, step: target ?? Step.end, what: ""), default: 0] += 1
        }
        e.visit += 1
        e.attempts = 0
        e.lastError = nil
        e.callback = nil
        e.stepEnteredAt = now
        e.updatedAt = now
        if let target {
            e.stepID = target
            e.nextRunAt = now
        } else {
            e.stepID = nil
            e.status = .completed
            e.nextRunAt = nil
            events.append(HistoryEvent(enrollmentID: e.id, kind: .completed, fromStep: from, toStep: nil, visit: e.visit,
                                       at: now))
            report.completed += 1
            tally.completed[e.sequenceName, default: 0] += 1
        }
        items[i].enrollment = e
        logger.debug("moved", metadata: [
            "sequencer.enrollment": "\(e.id)", "sequencer.from": "\(from ?? "-")", "sequencer.to": "\(target ?? Step.end)",
        ])
    }

    /// Stays on the step until `until` (at least ``Sequencer/Configuration/yieldDelay`` from now),
    /// or for ``Sequencer/Configuration/noopInterval`` without a date. A wake time that is not a
    /// date (NaN) retries the step; one after ``Limits/dates`` fails it, saying so.
    mutating func wait(_ i: Int, until: Date?, message: String?) {
        items[i].touched = true
        if let until, until.timeIntervalSinceReferenceDate.isNaN {
            retry(i, "the runner answered noop(until:) with a wake time that is not a date")
            return
        }
        if let until, until > Limits.dates.upperBound {
            fail(i, "the wait would end at \(Limits.describe(until)), after 9999-12-31T23:59:59Z, the last date Sequencer stores")
            return
        }
        let minimum = later(by: configuration.yieldDelay.timeInterval)
        let wake = until.map { max($0, minimum) } ?? later(by: configuration.noopInterval.timeInterval)
        if wake != items[i].initialNextRunAt || items[i].stepsRun > 1 {
            append(i, .waiting, to: items[i].enrollment.stepID, message: message ?? "until \(ConfigReader.format(wake))")
        }
        items[i].enrollment.nextRunAt = wake
        items[i].enrollment.updatedAt = now
        report.waiting += 1
    }

    /// Begins the wait for the outside system's callback: the state keeps what an early
    /// heartbeat recorded, and the enrollment is due when the wait would time out.
    mutating func awaitCallback(_ i: Int, _ request: CallbackWait, message: String?) {
        let e = items[i].enrollment
        var callback = e.callback?.visit == e.visit ? e.callback! : CallbackState(visit: e.visit)
        callback.startedAt = now
        callback.deadline = later(by: request.timeout.timeInterval)
        callback.heartbeatInterval = request.heartbeat.map { max($0.timeInterval, 0) }
        items[i].enrollment.callback = callback
        let expiry = callback.expiresAt!
        wait(i, until: expiry, message: message ?? "waiting for a callback until \(ConfigReader.format(expiry))")
    }

    /// `now` plus `seconds`, no later than the last date Sequencer stores.
    private func later(by seconds: Double) -> Date {
        min(now.addingTimeInterval(seconds), Limits.dates.upperBound)
    }

    /// Counts a failed attempt and schedules the next with backoff, or fails after the last.
    mutating func retry(_ i: Int, _ reason: String) {
        items[i].touched = true
        let policy = configuration.retry
        items[i].enrollment.attempts += 1
        let attempts = items[i].enrollment.attempts
        if attempts >= policy.maxAttempts {
            fail(i, "gave up after \(attempts) attempts: \(reason)")
            return
        }
        let delay = policy.delay(forRetry: attempts)
        if case .retrying(let after)? = items[i].definition?.notification("retrying")?.on, attempts >= after {
            items[i].retryNotice = true
        }
        items[i].enrollment.nextRunAt = later(by: delay)
        items[i].enrollment.lastError = reason
        items[i].enrollment.updatedAt = now
        append(i, .retrying, to: items[i].enrollment.stepID,
               message: "attempt \(attempts) failed: \(reason); retrying in \(ConfigReader.format(delay.rounded()))s")
        report.retried += 1
    }

    /// Fails the enrollment with `reason`.
    mutating func fail(_ i: Int, _ reason: String) {
        items[i].touched = true
        if !items[i].notificationHandled, items[i].definition?.notification("failed") != nil {
            items[i].pendingFinal = .failed(reason: reason)
            return
        }
        tally.failed[Tally.Key(sequence: items[i].enrollment.sequenceName, step: items[i].enrollment.stepID ?? "-", what: ""),
                     default: 0] += 1
        items[i].enrollment.status = .failed
        items[i].enrollment.nextRunAt = nil
        items[i].enrollment.lastError = reason
        items[i].enrollment.updatedAt = now
        append(i, .failed, to: nil, message: reason)
        report.failed += 1
        logger.debug("failed", metadata: ["sequencer.enrollment": "\(items[i].enrollment.id)", "sequencer.reason": "\(reason)"])
    }

    /// Ends the enrollment's turn at a callback step it entered during this claim, due at once:
    /// the step runs in a claim of its own, after the visit its token names is committed, so an
    /// outside system that calls back before that claim's commit finds the visit and its
    /// completion is taken (it fences that commit out, and the next claim acts on it).
    mutating func stopBeforeCallbackStep(_ i: Int) {
        items[i].touched = true
        items[i].enrollment.nextRunAt = now
    }

    /// Ends the enrollment's turn after it used its step budget; it is due again after
    /// ``Sequencer/Configuration/yieldDelay``.
    mutating func yield(_ i: Int) {
        items[i].touched = true
        items[i].enrollment.nextRunAt = later(by: configuration.yieldDelay.timeInterval)
        append(i, .budgetExhausted, to: items[i].enrollment.stepID,
               message: "used its budget of \(configuration.stepBudget) steps; resumes next tick")
        report.budgetExhausted += 1
    }

    // MARK: Notifications

    /// The held transition happens now that its notification was sent (or refused for good);
    /// `note` goes in the history with it.
    mutating func finalize(_ i: Int, note: String) {
        guard let pending = items[i].pendingFinal else { return }
        items[i].pendingFinal = nil
        items[i].notificationHandled = true
        let at = items[i].enrollment.stepID
        switch pending {
        case .failed(let reason): fail(i, reason)
        case .completed(let transition, let message): move(i, to: nil, by: transition, message: message)
        }
        events.append(HistoryEvent(enrollmentID: items[i].enrollment.id, kind: .notified, fromStep: at, toStep: nil,
                                   message: note, visit: items[i].enrollment.visit, at: now))
    }

    /// The held transition does not happen yet: its notification could not be sent. The
    /// enrollment stays at its step, due again at `until` or after the retry policy's base delay,
    /// when the step runs again (a message already sent is not sent again).
    mutating func postpone(_ i: Int, reason: String, until: Date?) {
        guard let pending = items[i].pendingFinal else { return }
        items[i].pendingFinal = nil
        if case .failed(let why) = pending { items[i].enrollment.lastError = why }
        let wake = until.map { max($0, now) } ?? later(by: configuration.retry.delay(forRetry: 1, random: 0))
        items[i].enrollment.nextRunAt = wake
        items[i].enrollment.updatedAt = now
        append(i, .notified, to: items[i].enrollment.stepID,
               message: "the \(pending.kind) notification was not sent: \(reason); the step runs again at \(ConfigReader.format(wake))")
    }

    /// Postpones every transition still held (the tick stopped before its notification went),
    /// due at once for the next ticker.
    mutating func postponeHeld(_ reason: String) {
        for i in items.indices where items[i].pendingFinal != nil { postpone(i, reason: reason, until: now) }
    }

    /// Records how a `retrying` notification went.
    mutating func noteRetryNotice(_ i: Int, _ message: String) {
        items[i].retryNotice = false
        append(i, .notified, to: items[i].enrollment.stepID, message: message)
    }

    private mutating func append(_ i: Int, _ kind: HistoryEvent.Kind, to: String?, message: String?) {
        let e = items[i].enrollment
        events.append(HistoryEvent(enrollmentID: e.id, kind: kind, fromStep: e.stepID, toStep: to, message: message,
                                   visit: e.visit, at: now))
    }
}
