import Foundation
import PostgresNIO
import Sequencer
@testable import SequencerPostgres
import SequencerPostgresTesting
import Testing

/// Tickers on hosts whose clocks disagree. Each ticker is a `sequencer run` process (the
/// service) whose wall clock libfaketime shifts; the database's clock decides what is due.
@Suite("Clock skew between ticker processes, on PostgreSQL")
struct ClockSkewTests {
    /// libfaketime, installed by `scripts/ensure-faketime.sh` (Debian's `faketime` package).
    static func faketimeLibrary() -> String? {
        let candidates = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                          "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                          "/usr/lib/faketime/libfaketime.so.1"]
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Three service processes: one whose clock is 5 minutes ahead, one 5 minutes behind, and
    /// one that is right until it jumps back an hour in the middle of the run. 150 enrollments
    /// wait 8 s (from their enrollment) and then 15 s (from when a ticker moved them on). Pass:
    /// every enrollment completes, no wait ends early by the database's clock (the first wait runs
    /// from the database time the test enrolled with: 1 s allowed; the second from the commit that
    /// started it: 5 s allowed for the tick before that commit), none ends more than 60 s late. With the hosts' clocks deciding (the service before it read the
    /// database's), the ticker 5 minutes ahead ended the first wait at once: 7.95 s early.
    @Test(.timeLimit(.minutes(5)))
    func tickersWhoseClocksDisagreeFireNothingEarlyByTheDatabasesClock() async throws {
        guard let library = Self.faketimeLibrary() else {
            if ProcessInfo.processInfo.environment["SEQUENCER_REQUIRE_FAKETIME"] == "1" {
                Issue.record("libfaketime not found; scripts/ensure-faketime.sh installs it")
            } else {
                print("clock skew: skipped, libfaketime not found (scripts/ensure-faketime.sh installs it)")
            }
            return
        }
        let url = try await TestPostgres.shared.url()
        let executable = try BuiltExecutable.url(named: "sequencer", override: "SEQUENCER_CLI")
        try await withStore { store in
            // The database's time of every event, next to the engine's `at`.
            try await store.execute("ALTER TABLE {s}.events ADD COLUMN db_at timestamptz NOT NULL DEFAULT clock_timestamp()")
            let definition = SequenceDefinition(name: "skewed", version: 1, steps: [
                .waitForDuration("first", 8, "seconds"),
                .waitForDuration("second", 15, "seconds"),
                .goTo("done", target: Step.end),
            ])
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(definition)

            let jump = FileManager.default.temporaryDirectory.appendingPathComponent("faketime-\(UUID().uuidString)")
            try "+0".write(to: jump, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: jump) }
            let clocks: [[String: String]] = [
                ["FAKETIME": "+300"],
                ["FAKETIME": "-300"],
                ["FAKETIME_TIMESTAMP_FILE": jump.path, "FAKETIME_NO_CACHE": "1"],
            ]
            let logs = clocks.indices.map {
                FileManager.default.temporaryDirectory.appendingPathComponent("skewed-ticker-\($0)-\(UUID().uuidString).log")
            }
            defer { for log in logs { try? FileManager.default.removeItem(at: log) } }
            let processes = try zip(clocks, logs).map { clock, log in
                _ = FileManager.default.createFile(atPath: log.path, contents: nil)
                let output = try FileHandle(forWritingTo: log)
                // Through env(1): a Swift binary spawned directly with libfaketime preloaded lost its
                // arguments here (it printed the root help); exec'd by env it keeps them.
                let process = BuiltExecutable.process(URL(fileURLWithPath: "/usr/bin/env"),
                                                      arguments: [executable.path, "run", "--schema", store.configuration.schema],
                                                      databaseURL: url, standardOutput: output, standardError: output)
                var environment = process.environment ?? [:]
                environment["LD_PRELOAD"] = library
                environment["DONT_FAKE_MONOTONIC"] = "1"   // timers and leases keep real time
                environment.merge(clock) { $1 }
                process.environment = environment
                try process.run()
                return process
            }
            defer { for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }

            let count = 150
            for wave in 0..<5 {
                let now = try #require(try await store.storeTime())
                try await sequencer.enroll((0..<count / 5).map { EnrollmentRequest(subject: "u-\(wave)-\($0)") },
                                           in: definition.name, now: now)
                try await Task.sleep(for: .seconds(1))
            }
            try "-3600".write(to: jump, atomically: true, encoding: .utf8)   // the third host's clock jumps back an hour

            var remaining = count
            for _ in 0..<900 where remaining > 0 {
                try await Task.sleep(for: .milliseconds(100))
                remaining = try await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE status <> 'completed'")
            }
            #expect(remaining == 0, "enrollments not completed")
            let running = processes.filter(\.isRunning).count
            #expect(running == processes.count, "every ticker kept running")
            for (process, log) in zip(processes, logs) where !process.isRunning {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                print("a ticker exited with \(process.terminationStatus): \(output.prefix(700))")
            }

            // Per enrollment: how much earlier than due (by the database's clock) each wait ended.
            let timing = """
                WITH t AS (
                    SELECT e.id,
                        (SELECT at FROM {s}.events WHERE enrollment_id = e.id AND kind = 'enrolled') AS enrolled,
                        (SELECT db_at FROM {s}.events WHERE enrollment_id = e.id AND kind = 'advanced' AND from_step = 'first') AS first,
                        (SELECT db_at FROM {s}.events WHERE enrollment_id = e.id AND kind = 'advanced' AND from_step = 'second') AS second
                    FROM {s}.enrollments e)
                """
            func seconds(_ sql: String) async throws -> Double {
                try await store.scalar(timing + sql, as: Double?.self) ?? 0
            }
            // The first wait runs from the enrollment's `at`: the database's time the test read and enrolled with.
            let earlyFirst = try await seconds("SELECT max(extract(epoch FROM enrolled + interval '8 s' - first))::float8 FROM t")
            let earlySecond = try await seconds("SELECT max(extract(epoch FROM first + interval '15 s' - second))::float8 FROM t")
            let lateFirst = try await seconds("SELECT max(extract(epoch FROM first - enrolled - interval '8 s'))::float8 FROM t")
            let lateSecond = try await seconds("SELECT max(extract(epoch FROM second - first - interval '15 s'))::float8 FROM t")
            let missing: Int = try await store.scalar(timing + "SELECT count(*) FROM t WHERE first IS NULL OR second IS NULL")
            #expect(missing == 0)
            #expect(earlyFirst <= 1, "the first wait ended \(earlyFirst) s before it was due by the database's clock")
            #expect(earlySecond <= 5, "the second wait ended \(earlySecond) s before it was due by the database's clock")
            #expect(lateFirst <= 60 && lateSecond <= 60, "late by \(lateFirst) s / \(lateSecond) s")
            print("clock skew: 3 tickers (+5 min, -5 min, jumping back 1 h), \(count) enrollments; most early "
                  + "\(String(format: "%.2f", earlyFirst)) s / \(String(format: "%.2f", earlySecond)) s, most late "
                  + "\(String(format: "%.2f", lateFirst)) s / \(String(format: "%.2f", lateSecond)) s (first / second wait)")
            // The deferred SIGKILL ends them (waitUntilExit would block one of the test run's few threads).
        }
    }
}
