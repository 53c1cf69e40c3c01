import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import Synchronization
import Testing

/// Ticker processes (`SequencerStressTicker --serve`: the service a host runs, on the database's
/// clock) over a mixed sequence: an Email to a real SMTP server, a 2 s wait, a branch, an
/// HTTPTask whose job service calls back through the host's route, a second Email, a 1 s wait.
/// One test kills tickers at random; the other restarts PostgreSQL under them and kills their
/// connections. docs/RELIABILITY.md reports the full runs (`scripts/fault-suite.sh`).
///
/// Pass, from the database and the servers: every enrollment completed along its branch's path
/// (nothing lost or stuck), no transition recorded twice within a visit, exactly one `completed`
/// each, one message per Email visit and one job per HTTPTask visit except copies sent again
/// after a fault landed between the provider accepting and the ledger recording (counted; never
/// more extra copies than faults during or between the copies: a restart counts for its whole
/// outage), every delivery recorded as sent except
/// where a fault cut the ledger write off after the provider accepted (counted: the message went
/// once, the row stays `pending`).
@Suite("Chaos: ticker processes and PostgreSQL under faults", .serialized)
struct ChaosTests {
    static func setting(_ name: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap(Int.init) ?? fallback
    }

    /// A driver SIGKILLs a random ticker every 0.2–2 s (one holding leases, when any does: work
    /// in flight) and starts another in its place, while the enrollments arrive spread over the
    /// run. The SMTP server takes 50 ms to accept each message, as a provider does. Leases last
    /// 2 s, the service ticks every 200 ms when idle: every lease a killed ticker held must be
    /// claimed by another within the lease plus one tick of the kill.
    ///
    /// `SEQUENCER_CHAOS_KILLS` (default 12), `SEQUENCER_CHAOS_ENROLLMENTS` (default 300),
    /// `SEQUENCER_CHAOS_PROCESSES` (default 4; the full run: 1,000 kills, 10,000, 8).
    @Test(.timeLimit(.minutes(90)))
    func tickerProcessesKilledAtRandomLoseNothingAndApplyNothingTwice() async throws {
        let kills = Self.setting("SEQUENCER_CHAOS_KILLS", 12)
        let total = Self.setting("SEQUENCER_CHAOS_ENROLLMENTS", 300)
        let processes = Self.setting("SEQUENCER_CHAOS_PROCESSES", 4)
        let report = StallReport("chaos kills", after: Double(kills) * 2 + 180)
        defer { report.finish() }
        report.at("starting the servers")
        let smtp = try await TestServer.smtp(.init(dataDelay: 0.05))
        defer { smtp.stop() }
        let jobs = try await TestServer.http(callingBack: true)
        defer { jobs.stop() }
        let client = try await TestPostgres.shared.client()
        let url = try await TestPostgres.shared.url()
        let endpoint = CallbackEndpoint()
        try await endpoint.serve { callbackURL in
            let rig = try await ChaosRig(client: client, databaseURL: url, schema: TestPostgres.uniqueSchema("chaos"),
                                         smtp: smtp, jobs: jobs, callbackURL: callbackURL, endpoint: endpoint)
            defer {
                rig.stopTickers()
                rig.removeFiles()
            }
            let started = Date()
            try rig.startTickers(processes)
            var done = 0
            while done < kills {
                report.at("kill \(done + 1)")
                try await rig.enroll(upTo: total * (done + 1) / kills)
                try await Task.sleep(for: .milliseconds(Int.random(in: 200...2_000)))
                guard rig.exitedOnTheirOwn.isEmpty else { break }
                try await rig.killAndRestart(slot: try await rig.victim())
                done += 1
            }
            #expect(rig.exitedOnTheirOwn.isEmpty, "\(rig.exitedOnTheirOwn)")
            report.at("draining")
            try await rig.drain()
            let seconds = Date().timeIntervalSince(started)
            rig.stopTickers()
            report.at("checking")

            let invariants = try await rig.invariants()
            #expect(invariants == .clean(total), "\(invariants)")
            let orphans = try await rig.orphans()
            #expect(orphans.neverReclaimed == 0 && orphans.late == 0, "\(orphans)")
            let branches = try await rig.branches()
            let sends = try await rig.sends()
            for key in sends.messages.unexplainedKeys {
                print("unexplained duplicate message: \(try await rig.story(ofMessage: key))")
            }
            #expect(sends.messages.visits == total + branches.basic, "one message per Email visit: \(sends)")
            #expect(sends.jobs.visits == branches.pro, "one job per HTTPTask visit: \(sends)")
            #expect(sends.messages.unexplained == 0 && sends.jobs.unexplained == 0, "\(sends)")
            #expect(sends.messages.mostAfterOneFault <= 4, "at most one message in flight per SMTP connection: \(sends)")
            let unsent = try await rig.unsentDeliveries()
            #expect(unsent.other.isEmpty, "every delivery recorded as sent, or cut off by a fault: \(unsent)")
            let errorLines = rig.allTickers.map { $0.errorLines.count }.reduce(0, +)
            print("chaos: \(done) kills of \(processes) ticker processes in \(Int(seconds)) s, \(total) enrollments: \(invariants); "
                  + "\(orphans); \(sends); \(unsent.pendingAtAFault) ledger writes cut off by a kill; "
                  + "\(endpoint.refused.load(ordering: .relaxed)) callbacks refused; \(errorLines) error lines")
            _ = try await rig.query("DROP SCHEMA \(rig.quoted) CASCADE")
        }
    }

    /// PostgreSQL restarted (fast and immediate in turn) every few seconds, down 0–5 s, and
    /// between restarts killed connections every 1–5 s (`pg_terminate_backend`: in turn the
    /// tickers' LISTEN connections and half of every other client connection), while a feeder
    /// enrolls 20 subjects a second, retrying each batch until it is stored. The tickers are
    /// never restarted.
    ///
    /// Pass, besides the suite's invariants: no ticker exits, ticking resumes after every
    /// restart within two ticks (a tick during an outage backs off to at most 1 s), and each
    /// ticker logs at most about one warning or error line per second.
    ///
    /// `SEQUENCER_CHAOS_RESTART_SECONDS` (default 30), `SEQUENCER_CHAOS_RESTART_GAP` (seconds
    /// between restarts, default `4-8`; the full run: 1,800 s, `5-40`), `SEQUENCER_CHAOS_PROCESSES`.
    @Test(.timeLimit(.minutes(90)))
    func tickerProcessesKeepTheirWorkThroughDatabaseRestartsAndKilledConnections() async throws {
        let duration = Double(Self.setting("SEQUENCER_CHAOS_RESTART_SECONDS", 30))
        let gapBounds = (ProcessInfo.processInfo.environment["SEQUENCER_CHAOS_RESTART_GAP"] ?? "4-8")
            .split(separator: "-").compactMap { Double($0) }
        let gaps = try #require(gapBounds.count == 2 ? gapBounds[0]...gapBounds[1] : nil, "SEQUENCER_CHAOS_RESTART_GAP is LOW-HIGH")
        let processes = Self.setting("SEQUENCER_CHAOS_PROCESSES", 4)
        let report = StallReport("chaos restarts", after: duration + 180)
        defer { report.finish() }
        report.at("starting the cluster")
        let cluster = try await ThrowawayPostgres.start()
        defer { Task { try? await cluster.stop() } }
        var clientConfiguration = try DatabaseURL(cluster.url).clientConfiguration()
        clientConfiguration.options.connectTimeout = .seconds(1)
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: TestPostgres.quietLogger)
        let smtp = try await TestServer.smtp(.init(dataDelay: 0.05))
        defer { smtp.stop() }
        let jobs = try await TestServer.http(callingBack: true)
        defer { jobs.stop() }
        let endpoint = CallbackEndpoint()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // The throwaway cluster commits asynchronously (its command line); an immediate stop would lose
            // acknowledged commits. A database setting outranks the command line for every later session.
            try await client.query("""
                DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = on', current_database()); END $$
                """, logger: TestPostgres.quietLogger)
            report.at("starting the callback route")
            try await endpoint.serve { callbackURL in
                report.at("setting the schema up")
                let rig = try await ChaosRig(client: client, databaseURL: cluster.url, schema: "chaos", smtp: smtp, jobs: jobs,
                                             callbackURL: callbackURL, endpoint: endpoint)
                defer {
                    rig.stopTickers()
                    rig.removeFiles()
                    report.at("stopping the callback route, the servers and the cluster")
                }
                try rig.startTickers(processes)
                let started = Date()

                let feeding = Mutex(true)
                let fed = Mutex(0)
                let sequencer = rig.sequencer
                let feeder = Task {
                    var next = 0
                    while feeding.withLock({ $0 }) {
                        let requests = ChaosRig.requests(next..<next + 5)
                        while (try? await sequencer.enroll(requests, in: "chaos")) == nil {
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        next += requests.count
                        fed.withLock { $0 = next }
                        try await Task.sleep(for: .milliseconds(250))
                    }
                }

                /// Runs `body` until it succeeds (while the server comes back).
                func retrying<T>(_ body: () async throws -> T) async throws -> T {
                    for _ in 0..<300 {
                        if let result = try? await body() { return result }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    return try await body()
                }

                var backAt: [Date] = []
                var terminations = 0
                var nextRestart = started.addingTimeInterval(Double.random(in: gaps))
                while Date().timeIntervalSince(started) < duration {
                    let pause = min(Double.random(in: 1...5), max(0, nextRestart.timeIntervalSinceNow))
                    try await Task.sleep(for: .milliseconds(Int(pause * 1_000)))
                    if Date() >= nextRestart {
                        let stopping = Date()
                        report.at("stopping the server (restart \(backAt.count + 1))")
                        try await cluster.stopServer(backAt.count.isMultiple(of: 2) ? .fast : .immediate)
                        try await Task.sleep(for: .milliseconds(Int.random(in: 0...5_000)))
                        report.at("starting the server (restart \(backAt.count + 1))")
                        try await cluster.startServer()
                        backAt.append(Date())
                        rig.faults.append(stopping...backAt.last!)   // the whole outage
                        nextRestart = Date().addingTimeInterval(Double.random(in: gaps))
                    } else {
                        let listeners = terminations.isMultiple(of: 2)
                        let killing = Date()
                        report.at("killing connections (round \(terminations + 1))")
                        _ = try await retrying {
                            try await rig.count("""
                                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                                WHERE pid <> pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'
                                  AND \(listeners ? "query LIKE 'LISTEN%'" : "query NOT LIKE 'LISTEN%' AND random() < 0.5")
                                """)
                        }
                        rig.faults.append(killing...Date())
                        terminations += 1
                    }
                    guard rig.exitedOnTheirOwn.isEmpty else { break }
                }
                feeding.withLock { $0 = false }
                report.at("waiting for the feeder's last batch")
                try await feeder.value
                let acknowledged = fed.withLock { $0 }
                #expect(rig.exitedOnTheirOwn.isEmpty, "no ticker stopped: \(rig.exitedOnTheirOwn)")
                report.at("draining")
                try await rig.drain()
                let seconds = Date().timeIntervalSince(started)
                #expect(rig.exitedOnTheirOwn.isEmpty && rig.allTickers.count == processes, "\(rig.exitedOnTheirOwn)")
                rig.stopTickers()

                report.at("checking")
                let invariants = try await rig.invariants()
                #expect(invariants.enrollments >= acknowledged, "acknowledged \(acknowledged), stored \(invariants.enrollments)")
                #expect(invariants == .clean(invariants.enrollments), "\(invariants)")
                var resumes: [Double] = []
                for back in backAt {
                    let first = try await rig.query("""
                        SELECT extract(epoch FROM min(at))::float8 FROM \(rig.quoted).lease_log
                        WHERE new_owner IS NOT NULL AND at > to_timestamp(\(back.timeIntervalSince1970))
                        """)[0].decode(Double?.self)
                    resumes.append((first ?? .infinity) - back.timeIntervalSince1970)
                }
                let twoTicks = 2 * (1 + ChaosRig.intervalMilliseconds / 1_000)
                #expect(resumes.allSatisfy { $0 <= twoTicks }, "ticking resumed within two ticks: \(resumes)")
                let branches = try await rig.branches()
                let sends = try await rig.sends()
                for key in sends.messages.unexplainedKeys {
                    print("unexplained duplicate message: \(try await rig.story(ofMessage: key))")
                }
                #expect(sends.messages.visits == invariants.enrollments + branches.basic, "\(sends)")
                #expect(sends.jobs.visits == branches.pro, "\(sends)")
                // A message sent twice with no fault during or between its copies would be a ticker
                // sending on a reservation another had taken over: nothing is handed over past nine
                // tenths of the in-flight timeout after reserving (LeaseLossTests, HandOverDeadlineTests).
                #expect(sends.messages.unexplained == 0, "\(sends)")
                #expect(sends.jobs.unexplained == 0, "\(sends)")
                #expect(sends.messages.mostAfterOneFault <= 4 * processes, "at most one message in flight per SMTP connection: \(sends)")
                let unsent = try await rig.unsentDeliveries()
                #expect(unsent.other.isEmpty, "every delivery recorded as sent, or cut off by a fault: \(unsent)")
                let lines = rig.allTickers.map { $0.errorLines.count }
                #expect(lines.allSatisfy { Double($0) <= seconds + 5 }, "about one line a second at most: \(lines) in \(Int(seconds)) s")
                let slowest = resumes.max() ?? 0
                let orphans = try await rig.orphans()
                print("chaos restarts: \(backAt.count) restarts and \(terminations) rounds of killed connections under "
                      + "\(processes) ticker processes in \(Int(seconds)) s, \(invariants.enrollments) enrollments "
                      + "(\(acknowledged) acknowledged): \(invariants); ticking resumed within \(String(format: "%.2f", slowest)) s "
                      + "of the server accepting connections; \(orphans); \(sends); \(unsent.pendingAtAFault) ledger writes cut off by a fault; "
                      + "\(endpoint.refused.load(ordering: .relaxed)) callbacks refused; error lines per ticker \(lines)")
            }
        }
    }
}
