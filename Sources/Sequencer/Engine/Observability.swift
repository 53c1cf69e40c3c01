import Foundation
import CoreMetrics
import Logging
public import Metrics
import Synchronization
public import Tracing

/// The metrics, spans and rate-limited logs of one ``Sequencer`` and its service.
///
/// Metrics go to ``Sequencer/Configuration/metricsFactory`` (the global `MetricsSystem` when
/// `nil`), spans to ``Sequencer/Configuration/tracer`` (the global `InstrumentationSystem`'s
/// when `nil`): both are no-ops until the host bootstraps a backend. Counters with a sequence
/// or step dimension are created once per combination, so their cardinality is that of the
/// registered definitions.
///
/// | metric | kind | dimensions | what |
/// |---|---|---|---|
/// | `sequencer_ticks_total` | counter | | ticks run |
/// | `sequencer_claimed_total` | counter | | enrollments leased by ticks |
/// | `sequencer_steps_total` | counter | `sequence`, `step`, `action` | steps run, by what the runner decided (`next`, `altNext`, `goTo`, `noop`, `retry`, `fail`) |
/// | `sequencer_goals_reached_total` | counter | `sequence`, `step` | goal jumps |
/// | `sequencer_completed_total` | counter | `sequence` | enrollments completed |
/// | `sequencer_failed_total` | counter | `sequence`, `step` | enrollments failed |
/// | `sequencer_fenced_out_total` | counter | | outcomes dropped because the lease was lost |
/// | `sequencer_enrollments_created_total` | counter | `sequence` | enrollments created (outside host transactions) |
/// | `sequencer_notifications_total` | counter | | wake-ups a service received |
/// | `sequencer_store_errors_total` | counter | | ticks that failed on a store error |
/// | `sequencer_tick_duration` | timer | | wall time of a tick |
/// | `sequencer_runner_duration` | timer | `runner` | wall time of one runner call (one batch of one step) |
/// | `sequencer_due_lag` | timer | | claim time minus due time, per claimed enrollment: how late work starts |
final class Observability: Sendable {
    let factory: (any MetricsFactory)?
    let tracer: (any Tracer)?
    private let counters = Mutex<[CounterKey: Counter]>([:])

    private struct CounterKey: Hashable {
        let label: String
        let dimensions: [String]
    }

    init(factory: (any MetricsFactory)?, tracer: (any Tracer)?) {
        self.factory = factory
        self.tracer = tracer
    }

    /// Adds `amount` to the counter `label` with `dimensions` (skipped when zero).
    func count(_ label: String, _ amount: Int = 1, _ dimensions: [(String, String)] = []) {
        guard amount != 0 else { return }
        let key = CounterKey(label: label, dimensions: dimensions.flatMap { [$0.0, $0.1] })
        let counter = counters.withLock { counters in
            if let existing = counters[key] { return existing }
            let made = factory.map { Counter(label: label, dimensions: dimensions, factory: $0) }
                ?? Counter(label: label, dimensions: dimensions)
            counters[key] = made
            return made
        }
        counter.increment(by: amount)
    }

    /// A timer, from the configured factory.
    func timer(_ label: String, _ dimensions: [(String, String)] = []) -> Metrics.Timer {
        factory.map { Metrics.Timer(label: label, dimensions: dimensions, factory: $0) }
            ?? Metrics.Timer(label: label, dimensions: dimensions)
    }

    /// Runs `body` in a span named `name`, on the configured tracer.
    func withSpan<T>(_ name: String, _ body: (any Span) async throws -> T) async rethrows -> T {
        if let tracer {
            return try await tracer.withAnySpan(name) { span in try await body(span) }
        }
        return try await Tracing.withSpan(name) { span in try await body(span) }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating (a timer's unit).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}

/// Logs at most one line per `interval` for a kind of repeated problem, saying how many were
/// held back since the last: so a database outage or a runner failing every enrollment does
/// not flood the host's logs.
final class LogRateLimiter: Sendable {
    private struct State {
        var last: ContinuousClock.Instant?
        var suppressed = 0
    }

    private let state = Mutex(State())
    private let interval: Duration

    init(interval: Duration = .seconds(1)) {
        self.interval = interval
    }

    /// Whether to log now, and how many were held back before this one.
    func permit() -> (Bool, suppressed: Int) {
        let now = ContinuousClock.now
        return state.withLock { state in
            if let last = state.last, now - last < interval {
                state.suppressed += 1
                return (false, 0)
            }
            let suppressed = state.suppressed
            state.last = now
            state.suppressed = 0
            return (true, suppressed)
        }
    }

    /// Logs `message` at `level` unless one was logged within the interval.
    func log(_ logger: Logger, _ level: Logger.Level, _ message: Logger.Message, metadata: Logger.Metadata) {
        let (allowed, suppressed) = permit()
        guard allowed else { return }
        var metadata = metadata
        if suppressed > 0 { metadata["sequencer.suppressed"] = "\(suppressed)" }
        logger.log(level: level, message, metadata: metadata)
    }
}
