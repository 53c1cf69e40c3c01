import Foundation
import Logging
import Metrics

/// Processes one claimed batch in memory, then commits it in one store call.
///
/// Rounds: check goals, run each (sequence, version, step) group's runner once,
/// apply the results; enrollments that moved to a new step go round again, until
/// each one waits, ends, or uses its step budget.
struct BatchRun {
    let sequencer: Sequencer
    let now: Date
    let claimed: [ClaimedEnrollment]

    private struct Item {
        var enrollment: Enrollment
        let fence: Int64
        let definition: SequenceDefinition?
        let goals: [(index: Int, condition: Condition)]
        var stepsRun = 0
        var initialNextRunAt: Date?
    }

    private struct GroupKey: Hashable { let name: String; let version: Int; let step: String }

    func run() async throws -> TickReport {
        var report = TickReport()
        report.claimed = claimed.count
        report.batches = 1
        var items: [Item] = []
        items.reserveCapacity(claimed.count)
        var events: [HistoryEvent] = []
        var goalCache: [Sequencer.DefinitionKey: [(Int, Condition)]] = [:]

        for claim in claimed {
            let e = claim.enrollment
            // A store error propagates (the leases expire and another tick retries); only a
            // definition that is truly missing fails the enrollment.
            let definition = try await sequencer.storedDefinition(e.sequenceName, version: e.sequenceVersion)
            var goals: [(Int, Condition)] = []
            if let definition {
                let key = Sequencer.DefinitionKey(name: definition.name, version: definition.version)
                if let cached = goalCache[key] {
                    goals = cached
                } else {
                    goals = Self.goals(of: definition, runners: sequencer.runners)
                    goalCache[key] = goals
                }
            }
            items.append(Item(enrollment: e, fence: claim.fence, definition: definition, goals: goals,
                              initialNextRunAt: e.nextRunAt))
        }

        var active = Array(items.indices)
        while !active.isEmpty {
            // Goals and budget, before running anything this round.
            var runnable: [Int] = []
            for i in active {
                guard let definition = items[i].definition, let stepID = items[i].enrollment.stepID else {
                    fail(&items[i], "sequence '\(items[i].enrollment.sequenceName)' version \(items[i].enrollment.sequenceVersion) is not registered",
                         events: &events, report: &report)
                    continue
                }
                if items[i].stepsRun >= sequencer.configuration.stepBudget {
                    items[i].enrollment.nextRunAt = now.addingTimeInterval(sequencer.configuration.yieldDelay.timeInterval)
                    events.append(event(items[i], .budgetExhausted, to: stepID,
                                        message: "used its budget of \(sequencer.configuration.stepBudget) steps; resumes next tick"))
                    report.budgetExhausted += 1
                    continue
                }
                if let goal = metGoal(items[i], definition: definition, currentStep: stepID) {
                    let target = definition.successor(of: goal)
                    move(&items[i], to: target, kind: .goalReached, message: "goal '\(goal)' met", events: &events,
                         report: &report)
                    report.goalsReached += 1
                    if items[i].enrollment.status == .active { runnable.append(i) }
                    continue
                }
                runnable.append(i)
            }
            // Goal jumps continue into the next round so their new step is budget-checked and run.
            var groups: [GroupKey: [Int]] = [:]
            for i in runnable {
                let e = items[i].enrollment
                guard let stepID = e.stepID else { continue }
                groups[GroupKey(name: e.sequenceName, version: e.sequenceVersion, step: stepID), default: []].append(i)
            }
            if groups.isEmpty { break }

            let outcomes = await runGroups(groups, items: items)
            var next: [Int] = []
            for (key, indices) in groups {
                let outcome = outcomes[key]!
                for i in indices {
                    items[i].stepsRun += 1
                    report.steps += 1
                    let result: RunnerResult?
                    switch outcome {
                    case .failure(let error): result = RunnerResult(id: items[i].enrollment.id, action: .retry("\(error)"))
                    case .success(let byID): result = byID[items[i].enrollment.id]
                    }
                    let action = result?.action ?? .retry("runner '\(key.step)' returned no result for this enrollment")
                    if apply(action, message: result?.message, to: &items[i], events: &events, report: &report) {
                        next.append(i)
                    }
                }
            }
            active = next
        }

        let commit = CommitBatch(
            owner: sequencer.configuration.owner,
            outcomes: items.map { EnrollmentOutcome(enrollment: $0.enrollment, fence: $0.fence) }, events: events)
        let result = try await sequencer.store.commit(commit)
        report.fencedOut = result.fencedOut.count
        if !result.fencedOut.isEmpty {
            sequencer.logger.info("lease lost; outcomes discarded", metadata: ["sequencer.fencedOut": "\(result.fencedOut.count)"])
        }
        Counter(label: "sequencer_steps_total").increment(by: report.steps)
        Counter(label: "sequencer_completed_total").increment(by: report.completed)
        Counter(label: "sequencer_failed_total").increment(by: report.failed)
        return report
    }

    // MARK: Running runners

    private enum GroupOutcome: Sendable {
        case success([UUID: RunnerResult])
        case failure(String)
    }

    private func runGroups(_ groups: [GroupKey: [Int]], items: [Item]) async -> [GroupKey: GroupOutcome] {
        var inputs: [GroupKey: (any TaskRunner, [RunnerInput])] = [:]
        var outcomes: [GroupKey: GroupOutcome] = [:]
        for (key, indices) in groups {
            let definition = items[indices[0]].definition!
            guard let step = definition.step(key.step) else {
                outcomes[key] = .failure("step '\(key.step)' does not exist in version \(key.version)")
                continue
            }
            guard let runner = sequencer.runners[step.runner] else {
                outcomes[key] = .failure("no runner named '\(step.runner)' is registered")
                continue
            }
            var batch: [RunnerInput] = []
            batch.reserveCapacity(indices.count)
            var renderFailures: [UUID: RunnerResult] = [:]
            for i in indices {
                let e = items[i].enrollment
                do {
                    let config = runner.rendersTemplates
                        ? try TemplateRenderer.render(config: step.config, context: e.context) : step.config
                    batch.append(RunnerInput(
                        id: e.id, subject: e.subject, sequence: e.sequenceName, version: e.sequenceVersion, step: step,
                        config: config, context: e.context, now: now, stepEnteredAt: e.stepEnteredAt,
                        attempt: e.attempts + 1, visit: e.visit, timeZone: timeZone(of: e, definition: definition)))
                } catch {
                    renderFailures[e.id] = RunnerResult(id: e.id, action: .fail("config template failed to render: \(error)"))
                }
            }
            if batch.isEmpty {
                outcomes[key] = .success(renderFailures)
            } else {
                inputs[key] = (runner, batch)
                if !renderFailures.isEmpty { outcomes[key] = .success(renderFailures) }
            }
        }
        let ran = await withTaskGroup(of: (GroupKey, GroupOutcome).self) { group in
            for (key, (runner, batch)) in inputs {
                group.addTask {
                    do {
                        let results = try await runner.run(batch)
                        var byID: [UUID: RunnerResult] = [:]
                        byID.reserveCapacity(results.count)
                        for r in results where byID[r.id] == nil { byID[r.id] = r }
                        return (key, .success(byID))
                    } catch {
                        return (key, .failure("\(error)"))
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
        return outcomes
    }

    private func timeZone(of e: Enrollment, definition: SequenceDefinition) -> TimeZone {
        if let name = e.context["timeZone"]?.stringValue, let zone = TimeZone(identifier: name) { return zone }
        if let name = definition.timeZone, let zone = TimeZone(identifier: name) { return zone }
        return sequencer.configuration.defaultTimeZone
    }

    // MARK: Goals

    static func goals(of definition: SequenceDefinition, runners: [String: any TaskRunner]) -> [(Int, Condition)] {
        definition.steps.enumerated().compactMap { index, step in
            guard step.runner == "Goal",
                  let condition = try? Condition.parse(step.config, sequence: definition.name,
                                                       version: definition.version, step: step.id)
            else { return nil }
            return (index, condition)
        }
    }

    /// The first Goal step after the current one whose condition holds.
    private func metGoal(_ item: Item, definition: SequenceDefinition, currentStep: String) -> String? {
        guard !item.goals.isEmpty, let current = definition.index(of: currentStep) else { return nil }
        for (index, condition) in item.goals where index > current {
            if condition.evaluate(context: item.enrollment.context, now: now) { return definition.steps[index].id }
        }
        return nil
    }

    // MARK: Applying actions

    /// Applies an action; returns `true` when the enrollment moved and should run its new step this tick.
    private func apply(_ action: RunnerAction, message: String?, to item: inout Item, events: inout [HistoryEvent],
                       report: inout TickReport) -> Bool {
        guard let definition = item.definition, let stepID = item.enrollment.stepID else { return false }
        switch action {
        case .next:
            report.advanced += 1
            move(&item, to: definition.successor(of: stepID), kind: .advanced, message: message, events: &events, report: &report)
        case .altNext:
            report.altAdvanced += 1
            move(&item, to: definition.alternative(of: stepID), kind: .altAdvanced, message: message, events: &events,
                 report: &report)
        case .goTo(let target):
            guard target == Step.end || definition.step(target) != nil else {
                fail(&item, "runner jumped to '\(target)', which is not a step of this sequence", events: &events, report: &report)
                return false
            }
            report.jumped += 1
            move(&item, to: target == Step.end ? nil : target, kind: .advanced, message: message, events: &events,
                 report: &report)
        case .noop(let until):
            let minimum = now.addingTimeInterval(sequencer.configuration.yieldDelay.timeInterval)
            let wake = until.map { max($0, minimum) }
                ?? now.addingTimeInterval(sequencer.configuration.noopInterval.timeInterval)
            if wake != item.initialNextRunAt || item.stepsRun > 1 {
                events.append(event(item, .waiting, to: stepID, message: message ?? "until \(wake.formatted(.iso8601))"))
            }
            item.enrollment.nextRunAt = wake
            item.enrollment.updatedAt = now
            report.waiting += 1
            return false
        case .retry(let reason):
            retry(&item, reason, events: &events, report: &report)
            return false
        case .fail(let reason):
            fail(&item, reason, events: &events, report: &report)
            return false
        }
        return item.enrollment.status == .active
    }

    private func move(_ item: inout Item, to target: String?, kind: HistoryEvent.Kind, message: String?,
                      events: inout [HistoryEvent], report: inout TickReport) {
        let from = item.enrollment.stepID
        var e = item.enrollment
        events.append(HistoryEvent(enrollmentID: e.id, kind: kind, fromStep: from, toStep: target ?? Step.end,
                                   message: message, visit: e.visit, at: now))
        e.visit += 1
        e.attempts = 0
        e.lastError = nil
        e.stepEnteredAt = now
        e.updatedAt = now
        if let target {
            e.stepID = target
            e.nextRunAt = now
        } else {
            e.stepID = nil
            e.status = .completed
            e.nextRunAt = nil
            events.append(HistoryEvent(enrollmentID: e.id, kind: .completed, fromStep: from, toStep: nil, visit: e.visit, at: now))
            report.completed += 1
        }
        item.enrollment = e
        if kind == .goalReached { item.stepsRun += 1; report.steps += 1 }
        sequencer.logger.debug("moved", metadata: [
            "sequencer.enrollment": "\(e.id)", "sequencer.from": "\(from ?? "-")", "sequencer.to": "\(target ?? Step.end)",
        ])
    }

    private func retry(_ item: inout Item, _ reason: String, events: inout [HistoryEvent], report: inout TickReport) {
        let policy = sequencer.configuration.retry
        item.enrollment.attempts += 1
        if item.enrollment.attempts >= policy.maxAttempts {
            fail(&item, "gave up after \(item.enrollment.attempts) attempts: \(reason)", events: &events, report: &report)
            return
        }
        let delay = policy.delay(forRetry: item.enrollment.attempts)
        item.enrollment.nextRunAt = now.addingTimeInterval(delay)
        item.enrollment.lastError = reason
        item.enrollment.updatedAt = now
        events.append(event(item, .retrying, to: item.enrollment.stepID,
                            message: "attempt \(item.enrollment.attempts) failed: \(reason); retrying in \(Int(delay.rounded()))s"))
        report.retried += 1
    }

    private func fail(_ item: inout Item, _ reason: String, events: inout [HistoryEvent], report: inout TickReport) {
        item.enrollment.status = .failed
        item.enrollment.nextRunAt = nil
        item.enrollment.lastError = reason
        item.enrollment.updatedAt = now
        events.append(event(item, .failed, to: nil, message: reason))
        report.failed += 1
        sequencer.logger.debug("failed", metadata: ["sequencer.enrollment": "\(item.enrollment.id)", "sequencer.reason": "\(reason)"])
    }

    private func event(_ item: Item, _ kind: HistoryEvent.Kind, to: String?, message: String?) -> HistoryEvent {
        HistoryEvent(enrollmentID: item.enrollment.id, kind: kind, fromStep: item.enrollment.stepID, toStep: to,
                     message: message, visit: item.enrollment.visit, at: now)
    }
}
