import ArgumentParser
import Foundation
import Sequencer

/// `sequencer-bench all`: every scenario, one JSON line each, then a `summary` line with the targets.
struct All: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every scenario, then print a summary line with the targets.",
        discussion: """
            First an untimed warm-up drain. Then drain and sql-floor, alternating three runs each \
            (each reports its median run), so the two figures the main ratio compares share the \
            server's state; then drain-2-in-flight, drain-held-snapshot, drain-waits, sql-floor-waits, drain-2-tickers, drain-4-tickers, \
            drain-2-processes, enroll, enroll-unnest, enroll-floor, send, send-before, send-ceiling, \
            idle, memory, summary. A scenario that fails prints {"scenario": NAME, "error": …} and \
            the run goes on; the exit status is then non-zero, as it is when a scenario's \
            work does not verify ("verified": false).
            """)

    @Flag(help: "Small N everywhere: a smoke run of a minute or two, not figures to quote.") var quick = false

    /// The sizes of one run.
    struct Sizes {
        var drain: Int
        var drainWaits: Int
        var enroll: Int
        var idleWaiting: Int
        var idleRounds: Int
        var memory: Int
        var latencySeconds: Double
        var idleServiceWaiting: Int
        var idleServiceSeconds: Double
        var retention: Int
        var dashboard: Int
        var send: Int
        var sendBefore: Int
        /// Runs of drain and of sql-floor (alternating); each reports its median run.
        var drainRuns = 3

        static let full = Sizes(drain: 100_000, drainWaits: 100_000, enroll: 100_000, idleWaiting: 1_000_000, idleRounds: 15, memory: 1_000_000,
                                latencySeconds: 20, idleServiceWaiting: 1_000_000, idleServiceSeconds: 60,
                                retention: 50_000, dashboard: 1_000_000, send: 20_000, sendBefore: 5_000)
        static let quick = Sizes(drain: 10_000, drainWaits: 5_000, enroll: 10_000, idleWaiting: 100_000, idleRounds: 7, memory: 50_000,
                                 latencySeconds: 3, idleServiceWaiting: 10_000, idleServiceSeconds: 3,
                                 retention: 2_000, dashboard: 2_000, send: 1_000, sendBefore: 300)
    }

    func run() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let database = try await BenchDatabase.connect()
        let sizes = quick ? Sizes.quick : Sizes.full
        var log = RunLog()
        do {
            try await warmUpServer(database)
        } catch {
            progress("warm-up failed: \(error)")
        }

        // The two figures of the main ratio alternate, run by run, so drift falls on both alike.
        var drains = Runs()
        var floors = Runs()
        for _ in 0..<sizes.drainRuns {
            await drains.add { try await DrainScenario(n: sizes.drain).run(database) }
            await floors.add { try await SQLFloorScenario(n: sizes.drain).run(database) }
        }
        log.record("drain", drains.result())
        log.record("sql-floor", floors.result())

        // One ticker with two batches in flight: claim and run the next while one commits.
        await log.run("drain-2-in-flight") { try await DrainScenario(n: sizes.drain, batchesInFlight: 2).run(database) }
        await log.run("drain-held-snapshot") { try await DrainScenario(n: sizes.drain, holdSnapshot: true).run(database) }
        // A drip's shape: one step per claim, on a simulated clock, against its floor.
        await log.run("drain-waits") { try await DrainWaitsScenario(n: sizes.drainWaits).run(database) }
        await log.run("sql-floor-waits") { try await DrainWaitsScenario(n: sizes.drainWaits, floor: true).run(database) }
        await log.run("drain-2-tickers") { try await DrainScenario(n: sizes.drain, tickers: 2).run(database) }
        await log.run("drain-4-tickers") { try await DrainScenario(n: sizes.drain, tickers: 4).run(database) }
        await log.run("drain-2-processes") { try await DrainScenario(n: sizes.drain, processes: 2).run(database) }
        // Enroll through COPY, the path before it, and the hand-written COPY floor, one after another.
        await log.run("enroll") { try await EnrollScenario(n: sizes.enroll).run(database) }
        await log.run("enroll-unnest") { try await EnrollScenario(n: sizes.enroll, path: .unnest).run(database) }
        await log.run("enroll-floor") { try await EnrollFloorScenario(n: sizes.enroll).run(database) }
        // Sends: the Email step through the engine and the PostgreSQL ledger to an aiosmtpd sink;
        // the transport as it was before it kept and pipelined connections; the transport alone.
        await log.run("send") { try await SendScenario(n: sizes.send).run(database, sink: try await SMTPSink.start()) }
        await log.run("send-before") {
            try await SendScenario(n: sizes.sendBefore, before: true).run(database, sink: try await SMTPSink.start())
        }
        await log.run("send-ceiling") { try await SendCeilingScenario(n: sizes.send).run(sink: try await SMTPSink.start()) }
        await log.run("idle") { try await IdleScenario(waiting: sizes.idleWaiting, rounds: sizes.idleRounds).run(database) }
        await log.run("memory") { try await MemoryScenario(n: sizes.memory).run(database) }
        await log.run("latency") { try await LatencyScenario(seconds: sizes.latencySeconds).run(database) }
        await log.run("idle-service") {
            try await IdleServiceScenario(waiting: sizes.idleServiceWaiting, seconds: sizes.idleServiceSeconds).run(database)
        }
        await log.run("retention") { try await RetentionScenario(n: sizes.retention).run(database) }
        await log.run("dashboard") { try await DashboardScenario(n: sizes.dashboard, requests: quick ? 3 : 15).run(database) }

        let total = (clock.now - start).timeInterval
        Output.emit(await summary(log, seconds: total, database: database))
        if !log.failed.isEmpty { throw ExitCode.failure }
    }

    /// Each scenario's figures as they were printed, and the scenarios that failed.
    struct RunLog {
        var results: [String: Figures] = [:]
        var failed: [String] = []

        /// Prints the scenario's line (or its error line) and keeps it for the summary.
        mutating func record(_ name: String, _ result: Result<Figures, any Error>) {
            switch result {
            case .success(let figures):
                Output.emit(figures)
                results[name] = figures
                // A figure whose work did not check out (not every enrollment completed, a step
                // doubled) is no figure: the run fails, so a smoke run in CI catches it.
                if figures["verified"] == false {
                    progress("\(name) failed: its work did not verify")
                    failed.append(name)
                }
            case .failure(let error):
                progress("\(name) failed: \(error)")
                Output.emit(["scenario": .string(name), "error": .string("\(error)")])
                failed.append(name)
            }
        }

        mutating func run(_ name: String, _ body: () async throws -> Figures) async {
            do { record(name, .success(try await body())) } catch { record(name, .failure(error)) }
        }
    }

    /// The `summary` line: the engine/floor ratio, every target met or not, and the machine.
    private func summary(_ log: RunLog, seconds: Double, database: BenchDatabase) async -> Figures {
        func figure(_ scenario: String, _ key: String) -> Double? { log.results[scenario]?[key]?.numberValue }
        let drainRate = figure("drain", "steps_per_second")
        let floorRate = figure("sql-floor", "steps_per_second")
        let ratio = drainRate.flatMap { drain in floorRate.map { drain / $0 } }
        func ratioOf(_ a: String, _ b: String, _ key: String) -> Double? {
            figure(a, key).flatMap { x in figure(b, key).map { x / $0 } }
        }

        func target(_ value: Double?, _ text: String, _ met: (Double) -> Bool) -> JSONValue {
            guard let value else { return ["value": nil, "target": .string(text), "met": false] }
            return ["value": .rounded(value), "target": .string(text), "met": .bool(met(value))]
        }
        // Sends: at least three times the transport before, or the sink's ceiling, whichever is lower.
        let sendBound = figure("send-before", "emails_per_second").flatMap { before in
            figure("send-ceiling", "emails_per_second").map { min(3 * before, $0) }
        }
        let sendVsBound = figure("send", "emails_per_second").flatMap { send in sendBound.map { send / $0 } }
        let version = (try? await database.serverVersion()) ?? "unknown"
        let info = ProcessInfo.processInfo
        return [
            "scenario": "summary", "n": .int(log.results.count), "seconds": .rounded(seconds, 1),
            "quick": .bool(quick), "failed": .array(log.failed.map { .string($0) }),
            "drain_vs_sql_floor": ratio.map { .rounded($0) } ?? nil,
            // What an old snapshot costs the drain (reported, no target: it depends on the holder).
            "held_snapshot_vs_drain": ratioOf("drain-held-snapshot", "drain", "steps_per_second").map { .rounded($0) } ?? nil,
            "send_vs_send_before": ratioOf("send", "send-before", "emails_per_second").map { .rounded($0) } ?? nil,
            "send_vs_send_ceiling": ratioOf("send", "send-ceiling", "emails_per_second").map { .rounded($0) } ?? nil,
            "send_bound": sendBound.map { .rounded($0, 0) } ?? nil,
            "send_bound_is": figure("send-before", "emails_per_second").flatMap { before in
                figure("send-ceiling", "emails_per_second").map { .string(3 * before <= $0 ? "3 x send-before" : "send-ceiling") }
            } ?? nil,
            "targets": [
                "drain_vs_sql_floor": target(ratio, ">= 0.85") { $0 >= 0.85 },
                "drain_client_cpu_vs_sql_floor": target(ratioOf("drain", "sql-floor", "client_cpu_seconds"), "<= 1.5") {
                    $0 <= 1.5
                },
                "drain_2_in_flight_vs_drain": target(ratioOf("drain-2-in-flight", "drain", "steps_per_second"), ">= 1.4") {
                    $0 >= 1.4
                },
                "drain_waits_vs_sql_floor_waits": target(ratioOf("drain-waits", "sql-floor-waits", "steps_per_second"), ">= 0.7") {
                    $0 >= 0.7
                },
                "enroll_vs_enroll_floor": target(ratioOf("enroll", "enroll-floor", "rows_per_second"), ">= 0.7") { $0 >= 0.7 },
                "enroll_vs_enroll_unnest": target(ratioOf("enroll", "enroll-unnest", "rows_per_second"), ">= 3") { $0 >= 3 },
                "send_vs_bound": target(sendVsBound, ">= 1 (bound: min(3 x send-before, send-ceiling))") { $0 >= 1 },
                "idle_ratio": target(figure("idle", "ratio"), "<= 1.3") { $0 <= 1.3 },
                "memory_peak_rss_mb": target(figure("memory", "peak_rss_mb"), "< 200") { $0 < 200 },
                "latency_p50_ms": target(figure("latency", "p50_ms"), "<= 5") { $0 <= 5 },
                "latency_p99_ms": target(figure("latency", "p99_ms"), "<= 25") { $0 <= 25 },
                "dashboard_overview_p50_ms": target(figure("dashboard", "overview_p50_ms"), "< 200") { $0 < 200 },
                "dashboard_funnel_p50_ms": target(figure("dashboard", "funnel_p50_ms"), "< 200") { $0 < 200 },
                "all_seconds": target(seconds, "< 900") { $0 < 900 },
            ],
            "machine": [
                "cores": .int(info.activeProcessorCount),
                "memory_gib": .rounded(Double(info.physicalMemory) / 1_073_741_824, 1),
                "postgres": .string(version), "database": .string(database.origin),
            ],
        ]
    }
}
