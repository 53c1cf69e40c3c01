public import Foundation
import Logging
import Metrics
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
        try Limits.check(now, field: "now")
        let clock = ContinuousClock()
        let start = clock.now
        var report = TickReport()
        try await withSpan("sequencer.tick") { span in
            for _ in 0..<max(1, configuration.maxBatchesPerTick) {
                let claimed = try await store.claim(ClaimRequest(
                    now: now, limit: configuration.batchSize, owner: configuration.owner,
                    leaseDuration: configuration.leaseDuration))
                if claimed.isEmpty { break }
                let batch = try await BatchRun(sequencer: self, now: now, claimed: claimed).run()
                report.add(batch)
                if claimed.count < configuration.batchSize { break }
            }
            span.attributes["sequencer.claimed"] = report.claimed
            span.attributes["sequencer.steps"] = report.steps
        }
        report.elapsed = clock.now - start
        Timer(label: "sequencer_tick_duration").recordNanoseconds(
            report.elapsed.components.seconds * 1_000_000_000 + report.elapsed.components.attoseconds / 1_000_000_000)
        if report.claimed > 0 {
            logger.info("tick", metadata: [
                "sequencer.claimed": "\(report.claimed)", "sequencer.steps": "\(report.steps)",
                "sequencer.completed": "\(report.completed)", "sequencer.failed": "\(report.failed)",
                "sequencer.fencedOut": "\(report.fencedOut)", "sequencer.elapsed": "\(report.elapsed)",
            ])
        }
        return report
    }
}
