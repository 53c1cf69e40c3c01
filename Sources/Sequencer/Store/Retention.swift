public import Foundation

/// How long finished enrollments are kept before ``Sequencer/prune(_:now:dryRun:)`` (and the
/// service's retention pass) deletes them, with their history and their deliveries.
///
/// Only final enrollments are ever deleted: completed, cancelled and failed, each by how long
/// ago it became final (its `updatedAt`). Active and paused enrollments are never touched. The
/// default keeps each for 30 days.
///
/// **What deletion frees.** A deleted enrollment's idempotency key is free again: enrolling
/// with that key creates a new enrollment. Keep finished enrollments at least as long as a
/// host may repeat an enroll call with the same key (a webhook retried for a week needs more
/// than a week).
///
/// ```swift
/// var retention = RetentionPolicy()
/// retention.failed = .forever          // keep failures for people to look at
/// retention.completed = .days(7)
/// ```
public struct RetentionPolicy: Sendable, Hashable {
    /// How long to keep one kind of finished enrollment.
    public enum Keep: Sendable, Hashable {
        /// Never delete.
        case forever
        /// Delete once it has been final for this long.
        case `for`(Duration)

        /// Keep for a number of days.
        public static func days(_ days: Int) -> Keep { .for(.seconds(days * 86_400)) }
    }

    /// Completed enrollments. Default 30 days.
    public var completed: Keep = .days(30)
    /// Cancelled enrollments. Default 30 days.
    public var cancelled: Keep = .days(30)
    /// Failed enrollments. Default 30 days.
    public var failed: Keep = .days(30)
    /// Enrollments deleted per transaction (with their events and deliveries). Default 1,000.
    public var batchSize: Int = 1_000
    /// The pause between two batches, so a large backlog never holds the database for long.
    /// Default 50 ms.
    public var pause: Duration = .milliseconds(50)

    /// 30 days for every final status.
    public init() {}

    /// Keeps everything: no enrollment is ever deleted.
    public static var forever: RetentionPolicy {
        var policy = RetentionPolicy()
        policy.completed = .forever
        policy.cancelled = .forever
        policy.failed = .forever
        return policy
    }

    /// The store request for a pass at `now`: for each status kept for a while, the time before
    /// which it is deleted.
    public func request(now: Date, dryRun: Bool = false) -> PruneRequest {
        var cutoffs: [EnrollmentStatus: Date] = [:]
        for (status, keep) in [(EnrollmentStatus.completed, completed), (.cancelled, cancelled), (.failed, failed)] {
            if case .for(let duration) = keep { cutoffs[status] = now.addingTimeInterval(-duration.timeInterval) }
        }
        return PruneRequest(olderThan: cutoffs, batchSize: batchSize, pause: pause, dryRun: dryRun)
    }
}

/// One retention pass (``SequenceStore/prune(_:)``): delete final enrollments, with their events
/// and deliveries, that became final before a cutoff per status.
public struct PruneRequest: Sendable, Hashable {
    /// Per final status, the time before which an enrollment (by `updatedAt`) is deleted.
    /// Statuses not listed, and statuses that are not final, are never deleted.
    public var olderThan: [EnrollmentStatus: Date]
    /// Enrollments per transaction.
    public var batchSize: Int
    /// The pause between batches.
    public var pause: Duration
    /// Count what would be deleted, delete nothing.
    public var dryRun: Bool

    public init(olderThan: [EnrollmentStatus: Date], batchSize: Int = 1_000, pause: Duration = .milliseconds(50),
                dryRun: Bool = false) {
        self.olderThan = olderThan.filter { $0.key.isFinal }
        self.batchSize = max(1, batchSize)
        self.pause = pause
        self.dryRun = dryRun
    }
}

/// What a retention pass deleted (or, for a dry run, would delete).
public struct PruneReport: Sendable, Hashable, CustomStringConvertible {
    /// Enrollments deleted.
    public var enrollments = 0
    /// History events deleted with them.
    public var events = 0
    /// Deliveries-ledger rows deleted with them.
    public var deliveries = 0
    /// Transactions used.
    public var batches = 0
    /// Another process was running a pass, so this one did nothing.
    public var skipped = false
    /// Nothing was deleted: the figures are what a pass would delete.
    public var dryRun = false

    public init() {}

    public var description: String {
        if skipped { return "skipped: another retention pass is running" }
        return "\(dryRun ? "would delete" : "deleted") \(enrollments) enrollments, \(events) events, "
            + "\(deliveries) deliveries in \(batches) batches"
    }
}
