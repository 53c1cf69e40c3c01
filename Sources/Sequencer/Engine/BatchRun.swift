import Foundation
import CoreMetrics
import Crypto
import Logging
import Metrics
import Tracing

/// Processes one claimed batch in memory, then commits it in one store call.
///
/// ``run()`` has three parts: ``prepare()`` looks up each enrollment's definition;
/// ``runRounds(_:)`` checks goals and the step budget, runs each (sequence, version, step)
/// group's runner once and applies the results, round after round while enrollments move
/// to a step they can run at once; ``finish(_:)`` writes every outcome and event in one call.
/// Everything that changes while the batch runs lives in one ``BatchState``.
///
/// **Cancellation is never a failure.** When the task is cancelled (the host shuts down), no
/// new round starts, a runner cancelled mid-call is not counted as an attempt, and its
/// enrollments stay at the step they were at; then what was done is committed and the leases
/// of what was not touched are released, both in a task that the cancellation does not reach,
/// so another ticker takes the rest at once and nothing done is lost or done twice.
struct BatchRun {
    let sequencer: Sequencer
    let now: Date
    let claimed: [ClaimedEnrollment]
    /// When the tick started (real time), to place the claim on the tick's clock.
    let tickStarted: ContinuousClock.Instant
    /// When a tick on a real clock read `now` (`nil`: a simulated time): runner inputs carry it
    /// forward from there (``RunnerInput/currentTime``).
    var nowReadAt: ContinuousClock.Instant?

    func run() async throws -> TickReport {
        var state = try await prepare()
        if !Task.isCancelled {
            await withDiscardingTaskGroup { group in
                group.addTask { await keepLeases() }
                await runRounds(&state)
                if !Task.isCancelled { await notify(&state) }
                group.cancelAll()
            }
        }
        state.postponeHeld("the tick stopped before it was sent")
        return try await finish(state)
    }

    /// While the runners run, extends the batch's leases every third of a lease, so a batch that takes
    /// longer than its lease (a large send) is not taken over by another ticker while this one is
    /// alive. Fencing still protects against a ticker that died or stalled. Ends when cancelled.
    private func keepLeases() async {
        let configuration = sequencer.configuration
        // A third, so a renewal delayed by a busy machine still lands well before the lease ends.
        let interval = configuration.leaseDuration / 3
        let clock = ContinuousClock()
        let started = clock.now
        let leases = claimed.map { Lease(id: $0.enrollment.id, fence: $0.fence) }
        while true {
            do { try await clock.sleep(for: interval) } catch { return }
            let elapsed = clock.now - started
            do {
                let result = try await sequencer.store.renew(RenewRequest(
                    owner: configuration.owner, leases: leases, leaseDuration: configuration.leaseDuration,
                    now: now.addingTimeInterval(elapsed.timeInterval)))
                sequencer.logger.debug("renewed leases of a running batch", metadata: [
                    "sequencer.renewed": "\(result.renewed)", "sequencer.lost": "\(result.lost.count)",
                ])
            } catch {
                sequencer.logger.warning("could not renew the leases of a running batch", metadata: [
                    "sequencer.claimed": "\(leases.count)", "sequencer.error": "\(error)",
                ])
            }
        }
    }

    // MARK: Prepare

    /// The batch's state: each claimed enrollment with its definition.
    private func prepare() async throws -> BatchState {
        var items: [BatchState.Item] = []
        items.reserveCapacity(claimed.count)
        let claimedAt = now.addingTimeInterval((ContinuousClock.now - tickStarted).timeInterval)
        let lag = sequencer.observability.timer("sequencer_due_lag")
        for claim in claimed {
            if let due = claim.enrollment.nextRunAt {
                lag.recordNanoseconds(Int64(max(0, claimedAt.timeIntervalSince(due)) * 1e9))
            }
        }
        var byKey: [Sequencer.DefinitionKey: PreparedDefinition?] = [:]
        for claim in claimed {
            let e = claim.enrollment
            let key = Sequencer.DefinitionKey(name: e.sequenceName, version: e.sequenceVersion)
            let definition: PreparedDefinition?
            if let found = byKey[key] {
                definition = found
            } else {
                // A store error propagates (the leases expire and another tick retries); only a
                // definition that is truly missing fails the enrollment.
                definition = try await sequencer.preparedDefinition(e.sequenceName, version: e.sequenceVersion)
                byKey[key] = definition
            }
            items.append(BatchState.Item(enrollment: e, fence: claim.fence, definition: definition,
                                         initialNextRunAt: e.nextRunAt))
        }
        return BatchState(items: items, now: now, configuration: sequencer.configuration, logger: sequencer.logger)
    }

    // MARK: Rounds

    private struct GroupKey: Hashable { let name: String; let version: Int; let step: String }

    private func runRounds(_ state: inout BatchState) async {
        var active = Array(state.items.indices)
        while !active.isEmpty && !Task.isCancelled {
            // Goals and budget, before running anything this round. Goal jumps continue into the
            // next round so their new step is budget-checked and run.
            var groups: [GroupKey: [Int]] = [:]
            for i in active where state.readyToRun(i) {
                let e = state.items[i].enrollment
                guard let stepID = e.stepID else { continue }
                if state.items[i].stepsRun > 0, let step = state.items[i].definition?.step(stepID),
                   sequencer.runners[step.runner]?.awaitsCallbacks == true {
                    state.stopBeforeCallbackStep(i)
                    continue
                }
                groups[GroupKey(name: e.sequenceName, version: e.sequenceVersion, step: stepID), default: []].append(i)
            }
            if groups.isEmpty { break }

            let (outcomes, zoneNotes) = await runGroups(groups, items: state.items)
            var next: [Int] = []
            let cancelled = Task.isCancelled
            for (key, indices) in groups {
                let outcome = outcomes[key]!
                for i in indices {
                    let id = state.items[i].enrollment.id
                    let result: RunnerResult?
                    switch outcome {
                    case .failure(let error): result = RunnerResult(id: id, action: .retry("\(error)"))
                    case .success(let byID): result = byID[id]
                    case .cancelled: result = nil
                    }
                    // A runner cancelled mid-call (or failing because it was) has not made an attempt:
                    // the enrollment stays where it was, to be released and run again elsewhere.
                    if case .cancelled = outcome { continue }
                    if cancelled, result.map({ if case .retry = $0.action { true } else { false } }) ?? true { continue }
                    let action = result?.action ?? .retry("runner '\(key.step)' returned no result for this enrollment")
                    var message = result?.message
                    if let note = zoneNotes[id] { message = message.map { "\($0) (\(note))" } ?? note }
                    if state.apply(action, message: message, to: i) { next.append(i) }
                }
            }
            active = next
        }
    }

    private enum GroupOutcome: Sendable {
        case success([UUID: RunnerResult])
        case failure(String)
        /// The runner threw because its task was cancelled.
        case cancelled
    }

    /// Runs each group's runner, and returns the outcomes with, per enrollment whose context names
    /// a zone that does not exist, the note its history message carries (``timeZone(of:definition:)``,
    /// worked out once per enrollment and step).
    private func runGroups(_ groups: [GroupKey: [Int]], items: [BatchState.Item]) async
        -> (outcomes: [GroupKey: GroupOutcome], zoneNotes: [UUID: String])
    {
        var zoneNotes: [UUID: String] = [:]
        var inputs: [GroupKey: (any TaskRunner, [RunnerInput])] = [:]
        var outcomes: [GroupKey: GroupOutcome] = [:]
        for (key, indices) in groups {
            let definition = items[indices[0]].definition!
            let zones = indices.map { timeZone(of: items[$0].enrollment, definition: definition.definition) }
            for (i, zone) in zip(indices, zones) { if let note = zone.note { zoneNotes[items[i].enrollment.id] = note } }
            guard let step = definition.step(key.step) else {
                outcomes[key] = .failure("step '\(key.step)' does not exist in version \(key.version)")
                continue
            }
            guard let runner = sequencer.runners[step.runner] else {
                outcomes[key] = .failure("no runner named '\(step.runner)' is registered")
                continue
            }
            var callbackKey: SymmetricKey?
            if runner.awaitsCallbacks {
                do {
                    callbackKey = try await sequencer.callbackKey()
                } catch {
                    outcomes[key] = .failure("could not read the store's callback secret: \(error)")
                    continue
                }
            }
            var batch: [RunnerInput] = []
            batch.reserveCapacity(indices.count)
            // Results decided without the runner: a config that does not render, a window that is closed.
            var answered: [UUID: RunnerResult] = [:]
            // The step's own window, else the sequence's quiet hours for a step that sends messages.
            let window = step.window ?? (runner.sendsMessages ? definition.definition.sendWindow : nil)
            for (i, zone) in zip(indices, zones.map(\.zone)) {
                let e = items[i].enrollment
                if let window {
                    let opening = window.nextOpening(atOrAfter: now, in: zone)
                    if opening != now {
                        answered[e.id] = RunnerResult(
                            id: e.id, action: .noop(until: opening),
                            message: "outside its \(step.window == nil ? "send window" : "window") \(window) "
                                + "(\(zone.identifier)); waits until \(ISO8601Timestamp.string(from: opening))")
                        continue
                    }
                }
                do {
                    let config = runner.rendersTemplates
                        ? try TemplateRenderer.render(config: step.config, context: e.context) : step.config
                    batch.append(RunnerInput(
                        id: e.id, subject: e.subject, sequence: e.sequenceName, version: e.sequenceVersion, step: step,
                        config: config, context: e.context, now: now, stepEnteredAt: e.stepEnteredAt,
                        attempt: e.attempts + 1, visit: e.visit,
                        timeZone: zone,
                        callbackToken: callbackKey.map { CallbackToken.make(enrollment: e.id, visit: e.visit, key: $0) },
                        nowReadAt: nowReadAt))
                } catch {
                    answered[e.id] = RunnerResult(id: e.id, action: .fail("config template failed to render: \(error)"))
                }
            }
            if batch.isEmpty {
                outcomes[key] = .success(answered)
            } else {
                inputs[key] = (runner, batch)
                if !answered.isEmpty { outcomes[key] = .success(answered) }
            }
        }
        let observability = sequencer.observability
        let ran = await withTaskGroup(of: (GroupKey, GroupOutcome).self) { group in
            for (key, (runner, batch)) in inputs {
                group.addTask {
                    let started = ContinuousClock.now
                    defer {
                        observability.timer("sequencer_runner_duration", [("runner", runner.name)])
                            .recordNanoseconds((ContinuousClock.now - started).nanoseconds)
                    }
                    return await observability.withSpan("sequencer.runner") { span in
                        span.attributes["sequencer.sequence"] = key.name
                        span.attributes["sequencer.version"] = key.version
                        span.attributes["sequencer.step"] = key.step
                        span.attributes["sequencer.runner"] = runner.name
                        span.attributes["sequencer.batch_size"] = batch.count
                        do {
                            let results = try await runner.run(batch)
                            var byID: [UUID: RunnerResult] = [:]
                            byID.reserveCapacity(results.count)
                            for r in results where byID[r.id] == nil { byID[r.id] = r }
                            return (key, .success(byID))
                        } catch {
                            if Task.isCancelled || error is CancellationError { return (key, .cancelled) }
                            span.recordError(error)
                            return (key, .failure("\(error)"))
                        }
                    }
                }
            }
            var collected: [(GroupKey, GroupOutcome)] = []
            for await pair in group { collected.append(pair) }
            return collected
        }
        for (key, outcome) in ran {
            if case .success(let byID) = outcome, case .success(let failures)? = outcomes[key] {
                outcomes[key] = .success(byID.merging(failures) { ran, _ in ran })
            } else {
                outcomes[key] = outcome
            }
        }
        return (outcomes, zoneNotes)
    }

    /// The enrollment's zone: the first of ``Sequencer/Configuration/timeZoneKeys`` present in its
    /// context, else the sequence's, else the configured default. When the context names a zone
    /// that does not exist (or is not a string), the fallback is used and `note` says so, for the
    /// step's history message.
    private func timeZone(of e: Enrollment, definition: SequenceDefinition) -> (zone: TimeZone, note: String?) {
        func fallback() -> TimeZone {
            definition.timeZone.flatMap(TimeZone.init(identifier:)) ?? sequencer.configuration.defaultTimeZone
        }
        guard case .object(let members) = e.context, !members.isEmpty else { return (fallback(), nil) }
        for (key, isPath) in sequencer.timeZoneKeys {
            // A plain key is one dictionary lookup; only a path is split into segments.
            guard let value = isPath ? e.context.value(atPath: key) : members[key], value != .null else { continue }
            if case .string(let name) = value, let zone = TimeZone(identifier: name) { return (zone, nil) }
            let zone = fallback()
            guard let name = value.stringValue else {
                return (zone, "the context's \(key) holds a JSON \(value.typeName), not a time zone name; used \(zone.identifier)")
            }
            return (zone, "the context's \(key) '\(Limits.excerpt(name))' is not a known time zone; used \(zone.identifier)")
        }
        return (fallback(), nil)
    }

    // MARK: Notifications

    /// Sends the sequences' notifications (``SequenceNotification``) for the failures and
    /// completions held in this batch and for retries that call for one, one runner call per
    /// (sequence, version, kind); then lets each held transition happen, or postpones it when its
    /// message could not be sent.
    private func notify(_ state: inout BatchState) async {
        struct Key: Hashable { let sequence: String; let version: Int; let kind: String }
        var groups: [Key: [(index: Int, reason: String?)]] = [:]
        for (i, item) in state.items.enumerated() {
            let e = item.enrollment
            if let pending = item.pendingFinal {
                let reason: String? = if case .failed(let why) = pending { why } else { nil }
                groups[Key(sequence: e.sequenceName, version: e.sequenceVersion, kind: pending.kind), default: []].append((i, reason))
            } else if item.retryNotice {
                groups[Key(sequence: e.sequenceName, version: e.sequenceVersion, kind: "retrying"), default: []]
                    .append((i, e.lastError))
            }
        }
        for (key, members) in groups {
            guard let notification = state.items[members[0].index].definition?.notification(key.kind) else { continue }
            var step = notification.step
            let runner = sequencer.runners[step.runner]
            // An operator's message is not held back by a subject's frequency cap.
            if runner?.configKeys?.contains("frequencyCap") == true, step.config["frequencyCap"] == nil,
               case .object(var members) = step.config {
                members["frequencyCap"] = "ignore"
                step.config = .object(members)
            }
            var inputs: [RunnerInput] = []
            var answers: [UUID: (RunnerAction, String?)] = [:]
            for member in members {
                let e = state.items[member.index].enrollment
                let context = e.context.merging(["notification": notificationData(e, kind: key.kind, reason: member.reason)])
                do {
                    let config = runner?.rendersTemplates ?? true
                        ? try TemplateRenderer.render(config: step.config, context: context) : step.config
                    inputs.append(RunnerInput(
                        id: e.id, subject: e.subject, sequence: e.sequenceName, version: e.sequenceVersion, step: step,
                        config: config, context: context, now: now, stepEnteredAt: e.stepEnteredAt, attempt: 1, visit: e.visit,
                        timeZone: sequencer.configuration.defaultTimeZone,
                        nowReadAt: nowReadAt))
                } catch {
                    answers[e.id] = (.fail("its config did not render: \(error)"), nil)
                }
            }
            if let runner, !inputs.isEmpty {
                do {
                    for result in try await runner.run(inputs) where answers[result.id] == nil {
                        answers[result.id] = (result.action, result.message)
                    }
                } catch {
                    for input in inputs { answers[input.id] = (.retry("\(error)"), nil) }
                }
            } else if runner == nil {
                for input in inputs { answers[input.id] = (.retry("no runner named '\(step.runner)' is registered"), nil) }
            }
            for member in members {
                let e = state.items[member.index].enrollment
                let (action, message) = answers[e.id] ?? (.retry("the runner returned no result"), nil)
                apply(action, message: message, notification: key.kind, runner: step.runner, to: member.index, &state)
            }
        }
    }

    /// What one notification's send did to its enrollment.
    private func apply(_ action: RunnerAction, message: String?, notification kind: String, runner: String, to i: Int,
                       _ state: inout BatchState) {
        let what = "\(runner) notification (\(kind))"
        let held = state.items[i].pendingFinal != nil
        /// The message went, or never will: a held transition happens.
        func settled(_ note: String) {
            if held { state.finalize(i, note: note) } else { state.noteRetryNotice(i, note) }
        }
        /// The message may go later: a held transition waits for it.
        func notSent(_ why: String, until: Date?) {
            if held {
                state.postpone(i, reason: why, until: until)
            } else {
                state.noteRetryNotice(i, "\(what) was not sent: \(why); it is tried again at the next retry")
            }
        }
        switch action {
        case .next, .altNext, .goTo: settled("\(what): \(message ?? "sent")")
        case .fail(let reason): settled("\(what) was refused and not sent: \(reason)")
        case .awaitCallback: settled("\(what): the runner cannot send notifications (it waits for a callback)")
        case .retry(let reason): notSent(reason, until: nil)
        case .noop(let until): notSent(message ?? "it was deferred", until: until)
        }
    }

    /// `notification` for a message's template.
    private func notificationData(_ e: Enrollment, kind: String, reason: String?) -> JSONValue {
        let seconds = max(0, now.timeIntervalSince(e.createdAt))
        return [
            "kind": .string(kind), "sequence": .string(e.sequenceName), "version": .number(Double(e.sequenceVersion)),
            "subject": .string(e.subject), "enrollment": .string(e.id.uuidString.lowercased()),
            "step": e.stepID.map(JSONValue.string) ?? .null, "reason": reason.map(JSONValue.string) ?? .null,
            "attempts": .number(Double(e.attempts)), "startedAt": .string(ISO8601Timestamp.string(from: e.createdAt)),
            "duration": .string(SequenceNotification.spoken(seconds)), "seconds": .number(seconds.rounded()),
            "stepDuration": .string(SequenceNotification.spoken(max(0, now.timeIntervalSince(e.stepEnteredAt)))),
        ]
    }

    // MARK: Finish

    /// Commits what the batch did and releases the leases of enrollments it never got to (its
    /// task was cancelled), in a task the cancellation does not reach: work done is written,
    /// and nothing stays leased for the lease's length.
    private func finish(_ state: BatchState) async throws -> TickReport {
        var report = state.report
        let owner = sequencer.configuration.owner
        let touched = state.items.filter(\.touched)
        let untouched = state.items.filter { !$0.touched }
        let request = CommitRequest(
            owner: owner, outcomes: touched.map { CommitRequest.Outcome(enrollment: $0.enrollment, fence: $0.fence) },
            events: state.events)
        let store = sequencer.store
        let (result, released) = try await Task {
            let result = touched.isEmpty ? CommitResult(applied: 0, fencedOut: []) : try await store.commit(request)
            let released = untouched.isEmpty ? 0 : try await store.release(ReleaseRequest(
                owner: owner, leases: untouched.map { Lease(id: $0.enrollment.id, fence: $0.fence) }))
            return (result, released)
        }.value
        report.fencedOut = result.fencedOut.count
        report.released = released
        if !result.fencedOut.isEmpty {
            sequencer.logger.info("lease lost; outcomes discarded", metadata: ["sequencer.fencedOut": "\(result.fencedOut.count)"])
        }
        if released > 0 {
            sequencer.logger.info("released the leases of enrollments not processed", metadata: [
                "sequencer.released": "\(released)",
            ])
        }
        state.tally.emit(to: sequencer.observability)
        sequencer.observability.count("sequencer_fenced_out_total", report.fencedOut)
        publishLifecycle(state, fencedOut: result.fencedOut)
        return report
    }

    /// Hands the committed completions, failures and retries to ``Sequencer/lifecycleEvents()``
    /// streams, when anyone listens.
    private func publishLifecycle(_ state: BatchState, fencedOut: [UUID]) {
        guard sequencer.lifecycle.hasSubscribers else { return }
        let dropped = Set(fencedOut)
        var byID: [UUID: Enrollment] = [:]
        for item in state.items where item.touched { byID[item.enrollment.id] = item.enrollment }
        for (id, reason) in state.timedOut where !dropped.contains(id) {
            guard let enrollment = byID[id], let history = state.events.first(where: { $0.enrollmentID == id }) else { continue }
            sequencer.lifecycle.publish(LifecycleEvent(kind: .timedOut, enrollment: enrollment, step: history.fromStep,
                                                       message: reason, at: history.at))
        }
        for event in state.events where !dropped.contains(event.enrollmentID) {
            let kind: LifecycleEvent.Kind
            switch event.kind {
            case .completed: kind = .completed
            case .failed: kind = .failed
            case .retrying: kind = .retrying
            default: continue
            }
            guard let enrollment = byID[event.enrollmentID] else { continue }
            sequencer.lifecycle.publish(LifecycleEvent(kind: kind, enrollment: enrollment, step: event.fromStep,
                                                       message: event.message, at: event.at))
        }
    }
}
