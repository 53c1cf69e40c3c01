public import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Runs a ``Sequencer`` inside a swift-service-lifecycle `ServiceGroup`: the tick loop a host
/// would otherwise write, as a good citizen of the host's lifecycle.
///
/// ```swift
/// let sequencer = Sequencer(store: store, runners: .builtIn + [EmailRunner(transport: smtp, ledger: store)], logger: logger)
/// let service = SequencerService(sequencer, logger: logger)
/// let group = ServiceGroup(services: [client, service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
///
/// **The loop.** It ticks; while ticks come back with full batches it ticks again at once;
/// otherwise it sleeps ``Configuration/interval`` (1 s) on its clock, and wakes early when the
/// store says something became due now (``SequenceStore/wakeUps``: `NOTIFY` on PostgreSQL,
/// in process for ``InMemoryStore``). A wake-up that finds the service idle ticks at once; the
/// wake-ups that arrive while a tick runs are gathered for ``Configuration/debounce`` (2 ms)
/// after it and give one more tick, so a burst costs two ticks however long it is, and an
/// isolated enrollment waits for no timer. The poll stays as the backup: a lost notification
/// delays work by one interval at most.
///
/// **Shutdown.** On graceful shutdown it stops claiming. A batch in flight finishes and commits
/// within ``Configuration/shutdownTimeout`` (30 s); past it, its runners are cancelled, what was
/// done is committed, and the leases of the rest are released, so another process takes them
/// at once. A cancelled runner is never counted as an attempt. When `run()` returns, this
/// service holds no lease.
///
/// **Errors.** A failing tick (the database is down) is logged at most once a second, and the
/// loop backs off (``Configuration/backoff``: exponential with jitter, up to 30 s), then goes
/// on; when the database comes back the service resumes by itself. `run()` returns only on
/// shutdown or cancellation and never throws.
///
/// Everything it does is also callable once, directly: ``tickOnce()`` runs one tick the way the
/// loop does, for tests and the CLI.
public final class SequencerService: Service, Sendable {
    /// How the service ticks. Every field has a default.
    public struct Configuration: Sendable {
        /// How long to sleep when nothing more is due, before polling again. Default 1 s.
        public var interval: Duration = .seconds(1)
        /// Listen for wake-ups from the store (`.listen`, the default), or only poll (`.pollOnly`):
        /// for PostgreSQL behind a connection pooler in transaction mode (PgBouncer), where
        /// `LISTEN` cannot work.
        public var wakeUps: WakeUpMode = .listen
        /// How long to gather the wake-ups that arrived during a tick before ticking again for
        /// them, so a burst gives one more tick, not one per wake-up. A wake-up that finds the
        /// service idle ticks at once. Default 2 ms.
        public var debounce: Duration = .milliseconds(2)
        /// How long a batch in flight may take to finish once shutdown begins. Default 30 s.
        public var shutdownTimeout: Duration = .seconds(30)
        /// How long to wait after a failed tick.
        public var backoff = Backoff()
        /// How long finished enrollments are kept; `nil` turns the retention pass off (keep
        /// everything, or prune from elsewhere with ``Sequencer/prune(_:now:dryRun:)``).
        /// Default: 30 days for completed, cancelled and failed enrollments.
        public var retention: RetentionPolicy? = RetentionPolicy()
        /// How often the retention pass runs (the first when the service starts). Only one pass
        /// runs at a time across all processes on a store. Default 1 hour.
        public var retentionInterval: Duration = .seconds(3_600)

        public init() {}
    }

    /// Whether the service listens for wake-ups or only polls.
    public enum WakeUpMode: Sendable, Hashable {
        /// Listen to the store's ``SequenceStore/wakeUps`` (when it has any) and poll as a backup.
        case listen
        /// Only poll every ``Configuration/interval``.
        case pollOnly
    }

    /// Exponential backoff with jitter after failed ticks: `initial`, doubling, capped at `maximum`,
    /// each spread by ±`jitter`.
    public struct Backoff: Sendable, Hashable {
        /// The first wait. Default 100 ms.
        public var initial: Duration = .milliseconds(100)
        /// The longest wait. Default 30 s.
        public var maximum: Duration = .seconds(30)
        /// The fraction of each wait added or removed at random, 0...1. Default 0.2.
        public var jitter: Double = 0.2

        public init() {}

        /// The wait after `failures` failed ticks in a row (1 = the first).
        public func delay(afterFailures failures: Int, random: Double = .random(in: -1...1)) -> Duration {
            let exponent = min(max(0, failures - 1), 40)
            let base = min(initial.timeInterval * Double(1 << UInt64(min(exponent, 40))), maximum.timeInterval)
            let spread = max(0, min(1, jitter))
            return .seconds(max(0, base * (1 + spread * random)))
        }
    }

    /// What the service did: each tick's report, or the error a tick failed with.
    public enum Event: Sendable {
        case ticked(TickReport)
        case failed(String)
        /// A wake-up arrived (before its debounced tick).
        case woken
        /// A retention pass finished (``Configuration/retention``).
        case pruned(PruneReport)
    }

    /// The sequencer it ticks.
    public let sequencer: Sequencer
    public let configuration: Configuration
    private let clock: any Clock<Duration>
    private let hostNow: (@Sendable () -> Date)?
    private let storeClock: StoreClock
    private let wakeUpSource: (any WakeUpSource)?
    private let logger: Logger
    private let signal = WakeSignal()
    private let errors = LogRateLimiter()
    private let subscribers = Broadcast<Event>()

    /// Creates the service.
    ///
    /// - Parameters:
    ///   - sequencer: the sequencer to tick; its store's ``SequenceStore/wakeUps`` are used unless
    ///     the configuration says `.pollOnly`.
    ///   - configuration: interval, wake-ups, shutdown timeout, backoff.
    ///   - clock: what the loop sleeps on; tests pass a clock they advance (`SequencerTesting`'s
    ///     `ManualClock`), so no test waits for real time.
    ///   - now: the time each tick passes to ``Sequencer/tick(now:)``. By default the store's
    ///     clock (``SequenceStore/storeTime()``: the database server's), read once a minute and
    ///     carried forward on the monotonic clock, so tickers on hosts whose clocks disagree, or
    ///     jump, agree on what is due; the host's wall clock for a store without one (in-memory).
    ///   - wakeUps: where wake-ups come from, when not the store's own ``SequenceStore/wakeUps``.
    ///   - logger: `.info` per tick that did work (from the sequencer), `.warning` for failed ticks
    ///     (at most once a second) and for wake-ups that cannot be listened for.
    public init(
        _ sequencer: Sequencer, configuration: Configuration = .init(), clock: any Clock<Duration> = ContinuousClock(),
        now: (@Sendable () -> Date)? = nil, wakeUps: (any WakeUpSource)? = nil,
        logger: Logger = Logger(label: "sequencer.service")
    ) {
        self.sequencer = sequencer
        self.configuration = configuration
        self.clock = clock
        self.hostNow = now
        self.storeClock = StoreClock(store: sequencer.store)
        self.wakeUpSource = configuration.wakeUps == .listen ? (wakeUps ?? sequencer.store.wakeUps) : nil
        self.logger = logger
    }

    /// What the service does, as it does it: each tick's report, each failure, each wake-up. For
    /// tests and dashboards; every call returns a new stream, ended when `run()` returns.
    public func events() -> AsyncStream<Event> {
        subscribers.subscribe()
    }

    /// Makes the loop tick at once, as a wake-up from the store would (after the debounce).
    public func wake() {
        signal.signal()
    }

    /// Ticks until graceful shutdown or cancellation; see the type's documentation. Never throws.
    public func run() async throws {
        logger.info("sequencer service started", metadata: [
            "sequencer.owner": "\(sequencer.configuration.owner)", "sequencer.interval": "\(configuration.interval)",
            "sequencer.wakeUps": "\(wakeUpSource != nil ? "listen" : "poll")",
        ])
        await withDiscardingTaskGroup { group in
            if let source = wakeUpSource {
                let signal = self.signal
                let observability = sequencer.observability
                group.addTask { [weak self] in
                    await source.listen { [weak self] in
                        observability.count("sequencer_notifications_total")
                        self?.publish(.woken)
                        signal.signal()
                    }
                }
            }
            if let retention = configuration.retention {
                group.addTask { await self.retentionLoop(retention) }
            }
            await loop()
            group.cancelAll()
        }
        subscribers.finishAll()
        logger.info("sequencer service stopped", metadata: ["sequencer.owner": "\(sequencer.configuration.owner)"])
    }

    /// One tick, as the loop runs it: it stops claiming on graceful shutdown, and a batch still
    /// running ``Configuration/shutdownTimeout`` after shutdown began is cancelled (what it did
    /// is committed, the rest released).
    @discardableResult
    public func tickOnce() async throws -> TickReport {
        let sequencer = self.sequencer
        let now = try await self.now()
        // On the store's clock (real time), runners can carry `now` forward from this instant.
        let nowReadAt = hostNow == nil ? ContinuousClock.now : nil
        let timeout = configuration.shutdownTimeout
        let clock = self.clock
        return try await withThrowingTaskGroup(of: TickReport?.self) { group in
            group.addTask {
                try await sequencer.tick(now: now, shouldContinue: { !Task.isShuttingDownGracefully },
                                         nowReadAt: nowReadAt)
            }
            group.addTask {
                // Returns only once shutdown began and the timeout passed; cancelled with the tick.
                try await gracefulShutdown()
                try await clock.sleep(for: timeout)
                return nil
            }
            while let finished = try await group.next() {
                if let report = finished {
                    group.cancelAll()
                    return report
                }
                // The shutdown timeout passed: cancel the batch (it commits what it did and releases the rest).
                sequencer.logger.warning("shutdown timeout passed; cancelling the batch in flight", metadata: [
                    "sequencer.timeout": "\(timeout)",
                ])
                group.cancelAll()
            }
            throw CancellationError()
        }
    }

    /// The time a tick or a retention pass runs with (see `init`'s `now`).
    private func now() async throws -> Date {
        if let hostNow { return hostNow() }
        return try await storeClock.now()
    }

    private var stopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }

    private func loop() async {
        var failures = 0
        while !stopping {
            do {
                signal.clear()
                let report = try await tickOnce()
                failures = 0
                publish(.ticked(report))
                if report.moreDue && !stopping { continue }
            } catch {
                if stopping { break }
                failures += 1
                sequencer.observability.count("sequencer_store_errors_total")
                publish(.failed("\(error)"))
                let delay = configuration.backoff.delay(afterFailures: failures)
                errors.log(logger, .warning, "tick failed; retrying", metadata: [
                    "sequencer.error": "\(error)", "sequencer.failures": "\(failures)", "sequencer.retryIn": "\(delay)",
                ])
                try? await cancelWhenGracefulShutdown { try await self.clock.sleep(for: delay) }
                continue
            }
            await sleepUntilWoken()
        }
    }

    /// Runs a retention pass, then sleeps ``Configuration/retentionInterval``, until shutdown. A
    /// failed pass is logged (rate-limited) and tried again at the next interval.
    private func retentionLoop(_ policy: RetentionPolicy) async {
        while !stopping {
            do {
                let report = try await sequencer.prune(policy, now: try await now())
                publish(.pruned(report))
            } catch {
                if stopping { break }
                sequencer.observability.count("sequencer_store_errors_total")
                errors.log(logger, .warning, "retention pass failed; trying again later", metadata: [
                    "sequencer.error": "\(error)", "sequencer.retryIn": "\(configuration.retentionInterval)",
                ])
            }
            let interval = configuration.retentionInterval
            let clock = self.clock
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }
        }
    }

    /// Sleeps ``Configuration/interval``, or less if a wake-up arrives; returns at once on
    /// graceful shutdown or cancellation. Wake-ups that arrived during the last tick (a burst
    /// under way) are gathered for the debounce first; one that finds the loop idle is not delayed.
    private func sleepUntilWoken() async {
        let clock = self.clock
        let interval = configuration.interval
        let signal = self.signal
        let burst = signal.isPending
        let woken: Bool = (try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try? await clock.sleep(for: interval)
                    return false
                }
                group.addTask {
                    await signal.wait()
                    return !Task.isCancelled
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
        }) ?? false
        if woken && burst && !stopping {
            try? await cancelWhenGracefulShutdown { try await clock.sleep(for: self.configuration.debounce) }
        }
    }

    private func publish(_ event: Event) {
        subscribers.publish(event)
    }
}
