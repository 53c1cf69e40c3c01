import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres
import Synchronization

/// `sequencer-bench latency`: how soon after an enroll call returns does the service run its
/// first step, with NOTIFY wake-ups and a 1 s poll?
struct Latency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Due-to-applied latency of the service (NOTIFY on, 1 s poll) at half the drain peak; p50, p99, max.")

    @Option(help: "Seconds of steady enrolling.") var seconds = 20.0
    @Option(help: "Enrollments per second; 0 measures the one-step drain peak first and uses half of it.") var rate = 0.0

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await LatencyScenario(seconds: seconds, rate: rate).run(database))
    }
}

/// One sequence of one step (a runner that stamps each enrollment and moves on). The service
/// runs with its defaults (interval 1 s, wake-ups on). Every 10 ms one enroll call creates
/// rate/100 enrollments (one statement, one notification); the latency of each is the time from
/// that call returning to the end of the tick that committed its step (the service's event after
/// the commit). With `rate` 0 the scenario first drains 20,000 one-step enrollments by hand to
/// measure the peak and enrolls at half of it.
struct LatencyScenario {
    var seconds = 20.0
    var rate = 0.0

    /// Remembers the enrollments whose step ran since the last tick event.
    final class Stamp: TaskRunner {
        let name = "Stamp"
        let ran = Mutex<[UUID]>([])
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            ran.withLock { $0.append(contentsOf: batch.map(\.id)) }
            return batch.map { $0.result(.next) }
        }
    }

    /// When each enrollment's call returned, and the latencies measured so far.
    final class Tracker: Sendable {
        let enrolledAt = Mutex<[UUID: ContinuousClock.Instant]>([:])
        let latencies = Mutex<[Double]>([])
        /// How long each tick that ran steps took (claim, run, commit), in ms: the part of the
        /// latency the wake-up path does not add.
        let ticks = Mutex<[Double]>([])
    }

    static let definition = SequenceDefinition(name: "bench-latency", version: 1) { Step(id: "stamp", runner: "Stamp") }

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema("latency") { store in
            let stamp = Stamp()
            let sequencer = Sequencer(store: store, runners: .builtIn + [stamp],
                                      configuration: tickerConfiguration(owner: "bench-latency", batchSize: 500),
                                      logger: benchLogger)
            try await sequencer.register(Self.definition)
            var perSecond = rate
            var peak: Double?
            if perSecond <= 0 {
                progress("latency: measuring the one-step drain peak")
                let n = 20_000
                _ = try await sequencer.enroll(BenchSequence.requests(n, prefix: "peak"), in: Self.definition.name)
                try await store.analyze()
                let clock = ContinuousClock()
                let start = clock.now
                _ = try await tickUntilEmpty(sequencer)
                peak = Double(n) / (clock.now - start).timeInterval
                perSecond = peak! / 2
                _ = stamp.ran.withLock { $0.removeAll() }
            }
            let perCall = max(1, Int((perSecond / 100).rounded()))
            progress("latency: enrolling \(perCall) every 10 ms (\(Int(perSecond))/s) for \(seconds) s")

            let service = SequencerService(sequencer, logger: benchLogger)
            let events = service.events()
            let tracker = Tracker()
            let clock = ContinuousClock()
            let cpu = await CPUSample.now(database.client)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                group.addTask {
                    for await event in events {
                        guard case .ticked(let report) = event else { continue }
                        let done = clock.now
                        if report.claimed > 0 { tracker.ticks.withLock { $0.append(report.elapsed.timeInterval * 1_000) } }
                        let ids = stamp.ran.withLock { ran in defer { ran.removeAll() }; return ran }
                        let starts = tracker.enrolledAt.withLock { map in ids.compactMap { map.removeValue(forKey: $0) } }
                        tracker.latencies.withLock { $0.append(contentsOf: starts.map { (done - $0).timeInterval * 1_000 }) }
                    }
                }
                try await Task.sleep(for: .milliseconds(500))   // the service is listening
                let end = clock.now + .seconds(seconds)
                var next = clock.now
                var call = 0
                while clock.now < end {
                    let ids = try await sequencer.enroll(BenchSequence.requests(perCall, prefix: "l\(call)-"),
                                                         in: Self.definition.name)
                    let returned = clock.now
                    tracker.enrolledAt.withLock { map in for id in ids { map[id] = returned } }
                    call += 1
                    next = next + .milliseconds(10)
                    try await clock.sleep(until: next, tolerance: nil)
                }
                // Let the last ones through, then stop.
                for _ in 0..<300 where tracker.enrolledAt.withLock({ !$0.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
                group.cancelAll()
            }
            let cpuFigures = CPUSample.figures(from: cpu, to: await CPUSample.now(database.client))
            let sorted = tracker.latencies.withLock { $0 }.sorted()
            let missing = tracker.enrolledAt.withLock { $0.count }
            func percentile(_ p: Double, of sorted: [Double]) -> Double {
                sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
            }
            func percentile(_ p: Double) -> Double { percentile(p, of: sorted) }
            let ticks = tracker.ticks.withLock { $0 }.sorted()
            var figures: Figures = [
                "scenario": .string("latency"), "n": .int(sorted.count), "seconds": .rounded(seconds, 1),
                "rate_per_second": .rounded(perSecond, 0), "per_call": .int(perCall),
                "p50_ms": .rounded(percentile(0.50), 2), "p99_ms": .rounded(percentile(0.99), 2),
                "max_ms": .rounded(sorted.last ?? .nan, 2), "ticks": .int(ticks.count),
                "tick_p50_ms": .rounded(percentile(0.50, of: ticks), 2), "verified": .bool(missing == 0 && !sorted.isEmpty),
            ]
            if let peak { figures["drain_peak_per_second"] = .rounded(peak, 0) }
            figures.merge(cpuFigures) { a, _ in a }
            return figures
        }
    }
}

/// `sequencer-bench idle-service`: what a running service costs when nothing is due.
struct IdleService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle-service",
        abstract: "CPU used by a running service (1 s poll, NOTIFY on) with W enrollments waiting and nothing due.")

    @Option(help: "Enrollments waiting far in the future.") var waiting = 1_000_000
    @Option(help: "Seconds to measure.") var seconds = 60.0

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await IdleServiceScenario(waiting: waiting, seconds: seconds).run(database))
    }
}

/// W enrollments due ten years ahead (inserted with `generate_series`, then `ANALYZE`); the
/// service runs for `seconds` with its defaults; the process's and the server's CPU seconds over
/// that time are the cost of polling an idle schema once a second.
struct IdleServiceScenario {
    var waiting = 1_000_000
    var seconds = 60.0

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema("idle_service") { store in
            let sequencer = try await makeTickers(store: store, count: 1, owner: "bench-idle-service", batchSize: 500,
                                                  register: true)[0]
            progress("idle-service: inserting \(waiting) waiting enrollments")
            let now = Date()
            try await store.insertGenerated(waiting, due: now.addingTimeInterval(10 * 365 * 86_400), now: now)
            try await store.analyze()
            let service = SequencerService(sequencer, logger: benchLogger)
            let events = service.events()
            progress("idle-service: running the service for \(seconds) s")
            let cpu = await CPUSample.now(database.client)
            let ticks = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    try await service.run()
                    return 0
                }
                group.addTask {
                    var ticks = 0
                    for await event in events { if case .ticked = event { ticks += 1 } }
                    return ticks
                }
                try await Task.sleep(for: .seconds(seconds))
                group.cancelAll()
                var ticks = 0
                for try await count in group { ticks += count }
                return ticks
            }
            var figures: Figures = [
                "scenario": .string("idle-service"), "n": .int(waiting), "seconds": .rounded(seconds, 1),
                "ticks": .int(ticks), "verified": .bool(ticks >= Int(seconds) / 2),
            ]
            figures.merge(CPUSample.figures(from: cpu, to: await CPUSample.now(database.client))) { a, _ in a }
            return figures
        }
    }
}
