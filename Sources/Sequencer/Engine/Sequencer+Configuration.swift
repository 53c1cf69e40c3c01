public import Foundation
import Logging
public import Metrics
public import Tracing

extension Sequencer {
    /// Tuning for ticks. Every field has a default.
    public struct Configuration: Sendable {
        /// Enrollments leased per claim. Default 500.
        public var batchSize: Int = 500
        /// Claim-process-commit rounds one tick may run before returning. Default 20.
        public var maxBatchesPerTick: Int = 20
        /// Batches one tick works on at once. Default 1: claim, batch and commit strictly one
        /// after another. With 2 the tick claims the next batch and runs it while the previous
        /// one commits, so the database and this process work at the same time instead of
        /// taking turns (about 1.7 times the one-ticker drain on two cores). Batches in flight
        /// hold disjoint leases, so an enrollment is never in two of them; their commits, and
        /// the lifecycle events they broadcast, may finish in either order. Each batch in flight
        /// holds a database connection while it claims and commits: size the pool for it.
        public var batchesInFlight: Int = 1
        /// Steps one enrollment may run in one tick; one that uses them all (a GoTo loop)
        /// yields and is due again after ``yieldDelay``. Default 100.
        public var stepBudget: Int = 100
        /// How long a claim is leased; an enrollment whose ticker died is picked up after this. Default 60 s.
        public var leaseDuration: Duration = .seconds(60)
        /// How thrown runner errors are retried.
        public var retry = RetryPolicy()
        /// When a runner returns ``RunnerAction/noop`` without a date, look again after this. Default 5 minutes.
        public var noopInterval: Duration = .seconds(300)
        /// How long an enrollment that used its step budget waits before it is due again. Default 1 s.
        public var yieldDelay: Duration = .seconds(1)
        /// The time zone used when neither the context nor the sequence names one. Default UTC.
        public var defaultTimeZone: TimeZone = TimeZone(identifier: "UTC")!
        /// The context keys (dotted paths allowed, e.g. `"user.timeZone"`) that may name an
        /// enrollment's IANA time zone, tried in order; the first present one decides. Default
        /// `timeZone`, `timezone`, `time_zone`, `tz`. A zone that does not exist is not silently
        /// replaced: the sequence's zone (else ``defaultTimeZone``) is used and every step's history
        /// message says so.
        public var timeZoneKeys: [String] = ["timeZone", "timezone", "time_zone", "tz"]
        /// This ticker's lease owner name. Default: host name, process id and a random suffix.
        public var owner: String = Configuration.defaultOwner()
        /// How long a claim may wait for the store before the tick fails. Default 10 s.
        ///
        /// A database that is down does not always fail a query: PostgresNIO's pool waits for a
        /// connection as long as it takes. A tick that fails instead is logged and retried with
        /// backoff by ``SequencerService``, so an outage shows in the logs and metrics.
        public var claimTimeout: Duration = .seconds(10)
        /// How often ``Sequencer/tick(now:)`` folds the store's pending funnel counter changes into
        /// their totals (``SequenceStore/foldStatistics()``), measured on this process's clock.
        /// Zero folds on every tick. Default 10 s.
        public var statisticsFoldInterval: Duration = .seconds(10)
        /// Whether ``Sequencer/tick(now:)`` fires due schedules (``Sequencer/fireSchedules(now:)``)
        /// before it claims enrollments: at most once per second of the tick's clock per process.
        /// Turn it off in processes that should only advance enrollments.
        public var firesSchedules = true
        /// The sizes Sequencer accepts for contexts, definitions and configs (see ``Limits``).
        public var limits = Limits()
        /// Where metrics go; `nil` (the default) uses the global `MetricsSystem`, a no-op until the
        /// host bootstraps a backend. Pass one to keep a sequencer's metrics apart (in tests,
        /// `MetricsTestKit`'s `TestMetrics`).
        public var metricsFactory: (any MetricsFactory)?
        /// Where spans go; `nil` (the default) uses the global `InstrumentationSystem`'s tracer.
        public var tracer: (any Tracer)?

        public init() {}

        /// This configuration with every value brought into its working range, and a note for
        /// each one that was out of it: a batch size of 1 to 10,000, at least one batch per tick
        /// and one step per budget, a lease of 1 ms to 1 day, delays of 0 to 10 years, at least one
        /// attempt and a jitter of 0 to 1. ``Sequencer/init(store:runners:configuration:logger:)``
        /// applies it (logging each note as a warning), so no setting can trap or stall a tick.
        func sanitized() -> (Configuration, notes: [String]) {
            var c = self
            var notes: [String] = []
            func clamp<T: Comparable>(_ value: inout T, _ range: ClosedRange<T>, _ name: String) {
                let clamped = min(max(value, range.lowerBound), range.upperBound)
                if clamped != value {
                    notes.append("\(name) \(value) is outside \(range.lowerBound)...\(range.upperBound); using \(clamped)")
                    value = clamped
                }
            }
            let tenYears = Duration.seconds(10 * 366 * 86_400)
            clamp(&c.batchSize, 1...10_000, "batchSize")
            clamp(&c.maxBatchesPerTick, 1...1_000_000, "maxBatchesPerTick")
            clamp(&c.batchesInFlight, 1...16, "batchesInFlight")
            clamp(&c.stepBudget, 1...1_000_000, "stepBudget")
            clamp(&c.leaseDuration, .milliseconds(1)...(.seconds(86_400)), "leaseDuration")
            clamp(&c.claimTimeout, .milliseconds(1)...(.seconds(86_400)), "claimTimeout")
            clamp(&c.noopInterval, .zero...tenYears, "noopInterval")
            clamp(&c.statisticsFoldInterval, .zero...(.seconds(86_400)), "statisticsFoldInterval")
            clamp(&c.yieldDelay, .zero...tenYears, "yieldDelay")
            clamp(&c.retry.maxAttempts, 1...1_000_000, "retry.maxAttempts")
            clamp(&c.retry.baseDelay, .zero...tenYears, "retry.baseDelay")
            clamp(&c.retry.maxDelay, .zero...tenYears, "retry.maxDelay")
            if !(0...1).contains(c.retry.jitter) {
                notes.append("retry.jitter \(c.retry.jitter) is outside 0...1; using 0.2")
                c.retry.jitter = 0.2
            }
            clamp(&c.limits.maximumContextBytes, 2...(1 << 30), "limits.maximumContextBytes")
            clamp(&c.limits.maximumDefinitionBytes, 2...(1 << 30), "limits.maximumDefinitionBytes")
            clamp(&c.limits.maximumConfigBytes, 2...(1 << 30), "limits.maximumConfigBytes")
            clamp(&c.limits.maximumSteps, 1...1_000_000, "limits.maximumSteps")
            return (c, notes)
        }

        static func defaultOwner() -> String {
            let info = ProcessInfo.processInfo
            return "\(info.hostName)-\(info.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())"
        }
    }
}
