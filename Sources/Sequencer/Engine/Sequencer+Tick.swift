public import Foundation
import CoreMetrics
import Logging
import Synchronization
import Tracing

extension Sequencer {
    /// Advances every due enrollment, up to ``Configuration/maxBatchesPerTick`` batches.
    ///
    /// - Parameter now: the tick's time. Pass a simulated time in tests; enrollments due at or
    ///   before it are processed, and waits compute their wake times from it.
    /// - Throws: ``SequencerError/Code/outOfRange`` (field `now`) for a time outside ``Limits/dates``,
    ///   before anything is claimed; store errors.
    @discardableResult
    public func tick(now: Date = Date()) async throws -> TickReport {
        try await tick(now: now, shouldContinue: { true })
    }

    /// A tick that claims another batch only while `shouldContinue()` holds (a service stops
    /// claiming when it is shutting down) and none at all once the task is cancelled.
    ///
    /// With `nowReadAt` (a service on a real clock: when it read `now`, on the monotonic clock),
    /// what runners record of when they acted (``RunnerInput/currentTime``: the delivery ledger's
    /// reservations) is `now` carried forward from that instant; without (a simulated time), `now` itself.
    func tick(now: Date, shouldContinue: () -> Bool, nowReadAt: ContinuousClock.Instant? = nil) async throws -> TickReport {
        try Limits.check(now, field: "now")
        let clock = ContinuousClock()
        let start = clock.now
        var report = TickReport()
        report.schedules = await fireSchedulesIfDue(now: now)
        try await observability.withSpan("sequencer.tick") { span in
            try await runBatches(now: now, tickStarted: start, nowReadAt: nowReadAt,
                                 shouldContinue: shouldContinue, into: &report)
            span.attributes["sequencer.claimed"] = report.claimed
            span.attributes["sequencer.steps"] = report.steps
            span.attributes["sequencer.batches"] = report.batches
        }
        await foldStatisticsIfDue(clock: clock)
        report.elapsed = clock.now - start
        observability.count("sequencer_ticks_total")
        observability.timer("sequencer_tick_duration").recordNanoseconds(report.elapsed.nanoseconds)
        if report.claimed > 0 {
            logger.info("tick", metadata: [
                "sequencer.claimed": "\(report.claimed)", "sequencer.steps": "\(report.steps)",
                "sequencer.completed": "\(report.completed)", "sequencer.failed": "\(report.failed)",
                "sequencer.retried": "\(report.retried)", "sequencer.waiting": "\(report.waiting)",
                "sequencer.fencedOut": "\(report.fencedOut)", "sequencer.released": "\(report.released)",
                "sequencer.elapsed": "\(report.elapsed)",
            ])
        }
        return report
    }

    /// Claims and runs batches until a claim is short or empty, up to ``Configuration/maxBatchesPerTick``,
    /// with up to ``Configuration/batchesInFlight`` of them running at once: the next claim
    /// goes out while earlier batches run and commit. A failed batch does not cancel the
    /// others in flight (their work would be lost until their leases expire): they finish, no
    /// new batch is claimed, and the first error is thrown.
    private func runBatches(now: Date, tickStarted: ContinuousClock.Instant, nowReadAt: ContinuousClock.Instant?,
                            shouldContinue: () -> Bool, into report: inout TickReport) async throws {
        let request = ClaimRequest(now: now, limit: configuration.batchSize, owner: configuration.owner,
                                   leaseDuration: configuration.leaseDuration)
        // `TickReport.add` takes the added report's `moreDue`: set the tick's own after the batches.
        var moreDue = false
        let failure: (any Error)? = await withTaskGroup(of: Result<TickReport, any Error>.self) { group in
            var inFlight = 0
            var failure: (any Error)?
            func collect(_ result: Result<TickReport, any Error>?) {
                inFlight -= 1
                switch result {
                case .success(let batch)?: report.add(batch)
                case .failure(let error)?: failure = failure ?? error
                case nil: break
                }
            }
            for _ in 0..<configuration.maxBatchesPerTick {
                guard failure == nil, !Task.isCancelled, shouldContinue() else { break }
                let claimed: [ClaimedEnrollment]
                do {
                    claimed = try await claim(request)
                } catch {
                    failure = error
                    break
                }
                if claimed.isEmpty {
                    moreDue = false
                    break
                }
                inFlight += 1
                group.addTask {
                    do {
                        return .success(try await BatchRun(sequencer: self, now: now, claimed: claimed, tickStarted: tickStarted,
                                                           nowReadAt: nowReadAt).run())
                    } catch {
                        return .failure(error)
                    }
                }
                moreDue = claimed.count == configuration.batchSize
                if !moreDue { break }
                while inFlight >= configuration.batchesInFlight { collect(await group.next()) }
            }
            while inFlight > 0 { collect(await group.next()) }
            return failure
        }
        report.moreDue = moreDue
        if let failure { throw failure }
    }

    /// Folds the store's funnel counters when ``Configuration/statisticsFoldInterval`` has passed
    /// since this process last did. A failure is logged, not thrown: the tick's own work is done,
    /// and the next fold takes what this one left.
    func foldStatisticsIfDue(clock: ContinuousClock) async {
        let now = clock.now
        let due = lastFold.withLock { last in
            guard last.map({ now - $0 >= configuration.statisticsFoldInterval }) ?? true else { return false }
            last = now
            return true
        }
        guard due, !Task.isCancelled else { return }
        do {
            let folded = try await store.foldStatistics()
            if folded > 0 { logger.debug("folded funnel counters", metadata: ["sequencer.deltas": "\(folded)"]) }
        } catch {
            logger.warning("could not fold funnel counters; the next tick tries again", metadata: [
                "sequencer.error": "\(error)",
            ])
        }
    }

    /// Claims, failing with ``SequencerError/Code/storeFailure`` when the store does not answer
    /// within ``Configuration/claimTimeout`` (an unreachable database can make a query wait for a
    /// connection indefinitely).
    ///
    /// A claim the server had already received may still answer after the timeout: its rows are
    /// leased to this ticker, so they are returned and the tick goes on with them, rather than
    /// dropped and left leased until their lease ran out (which after a database restart held
    /// fresh work for a whole lease).
    private func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] {
        let store = self.store
        return try await bounded("claim") { try await store.claim(request) }
    }

    /// Runs a store call, failing with ``SequencerError/Code/storeFailure`` when it has not answered
    /// within ``Configuration/claimTimeout``. At the timeout the call is cancelled, which ends a wait
    /// for a connection; a call that answers anyway (the server had it already, and its work is
    /// done) is returned rather than lost.
    func bounded<T: Sendable>(_ what: String, _ call: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = configuration.claimTimeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await call() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            if let answer = try await group.next() ?? nil {
                group.cancelAll()
                return answer
            }
            group.cancelAll()
            // The timer fired first; the call either ends cancelled or answers.
            while let late = try? await group.next() {
                if let answer = late { return answer }
            }
            throw SequencerError(.storeFailure, "\(what) did not answer within \(timeout); is the database reachable?")
        }
    }
}
