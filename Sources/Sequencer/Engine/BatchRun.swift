import Foundation
import Logging
import Metrics

/// Processes one claimed batch in memory, then commits it in one store call.
///
/// ``run()`` has three parts: ``prepare()`` looks up each enrollment's definition;
/// ``runRounds(_:)`` checks goals and the step budget, runs each (sequence, version, step)
/// group's runner once and applies the results, round after round while enrollments move
/// to a step they can run at once; ``commit(_:)`` writes every outcome and event in one call.
/// Everything that changes while the batch runs lives in one ``BatchState``.
struct BatchRun {
    let sequencer: Sequencer
    let now: Date
    let claimed: [ClaimedEnrollment]

    func run() async throws -> TickReport {
        var state = try await prepare()
        await withDiscardingTaskGroup { group in
            group.addTask { await keepLeases() }
            await runRounds(&state)
            group.cancelAll()
        }
        return try await commit(state)
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
        while !active.isEmpty {
            // Goals and budget, before running anything this round. Goal jumps continue into the
            // next round so their new step is budget-checked and run.
            var groups: [GroupKey: [Int]] = [:]
            for i in active where state.readyToRun(i) {
                let e = state.items[i].enrollment
                guard let stepID = e.stepID else { continue }
                groups[GroupKey(name: e.sequenceName, version: e.sequenceVersion, step: stepID), default: []].append(i)
            }
            if groups.isEmpty { break }

            let outcomes = await runGroups(groups, items: state.items)
            var next: [Int] = []
            for (key, indices) in groups {
                let outcome = outcomes[key]!
                for i in indices {
                    let id = state.items[i].enrollment.id
                    let result: RunnerResult?
                    switch outcome {
                    case .failure(let error): result = RunnerResult(id: id, action: .retry("\(error)"))
                    case .success(let byID): result = byID[id]
                    }
                    let action = result?.action ?? .retry("runner '\(key.step)' returned no result for this enrollment")
                    if state.apply(action, message: result?.message, to: i) { next.append(i) }
                }
            }
            active = next
        }
    }

    private enum GroupOutcome: Sendable {
        case success([UUID: RunnerResult])
        case failure(String)
    }

    private func runGroups(_ groups: [GroupKey: [Int]], items: [BatchState.Item]) async -> [GroupKey: GroupOutcome] {
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
                        attempt: e.attempts + 1, visit: e.visit,
                        timeZone: timeZone(of: e, definition: definition.definition)))
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

    // MARK: Commit

    private func commit(_ state: BatchState) async throws -> TickReport {
        var report = state.report
        let request = CommitRequest(
            owner: sequencer.configuration.owner,
            outcomes: state.items.map { CommitRequest.Outcome(enrollment: $0.enrollment, fence: $0.fence) },
            events: state.events)
        let result = try await sequencer.store.commit(request)
        report.fencedOut = result.fencedOut.count
        if !result.fencedOut.isEmpty {
            sequencer.logger.info("lease lost; outcomes discarded", metadata: ["sequencer.fencedOut": "\(result.fencedOut.count)"])
        }
        Counter(label: "sequencer_steps_total").increment(by: report.steps)
        Counter(label: "sequencer_completed_total").increment(by: report.completed)
        Counter(label: "sequencer_failed_total").increment(by: report.failed)
        return report
    }
}
