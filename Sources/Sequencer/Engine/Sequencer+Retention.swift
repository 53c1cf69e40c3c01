public import Foundation

extension Sequencer {
    /// Deletes finished enrollments older than the policy allows, with their history and their
    /// deliveries, in short batches; one pass at a time per store (across processes on
    /// PostgreSQL). ``SequencerService`` runs this every ``SequencerService/Configuration/retentionInterval``.
    ///
    /// ```swift
    /// let report = try await sequencer.prune(RetentionPolicy(), dryRun: true)   // what would go
    /// ```
    ///
    /// - Parameters:
    ///   - policy: how long each final status is kept (default: 30 days each).
    ///   - now: the time the policy counts back from.
    ///   - dryRun: count, delete nothing.
    @discardableResult
    public func prune(_ policy: RetentionPolicy = RetentionPolicy(), now: Date = Date(), dryRun: Bool = false)
        async throws -> PruneReport
    {
        try Limits.check(now, field: "now")
        let report = try await store.prune(policy.request(now: now, dryRun: dryRun))
        if !dryRun {
            observability.count("sequencer_pruned_enrollments_total", report.enrollments)
            observability.count("sequencer_pruned_events_total", report.events)
        }
        return report
    }
}
