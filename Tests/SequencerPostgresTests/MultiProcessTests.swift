import Foundation
import Sequencer
import SequencerTesting
import SequencerPostgres
import SequencerPostgresTesting
import Testing

/// Separate OS processes (the `SequencerStressTicker` executable) tick one database at once.
@Suite("PostgresStore across processes")
struct MultiProcessTests {
    struct TickerReport: Decodable {
        var owner: String
        var claimed: Int
        var steps: Int
        var completed: Int
        var fencedOut: Int
    }

    @Test func threeTickerProcessesNeverApplyAStepTwice() async throws {
        let executable = try Self.tickerExecutable()
        let url = try await TestPostgres.shared.url()
        try await withStore { store in
            let count = 6_000
            _ = try await store.saveDefinition(threeSteps)
            _ = try await store.enroll((0..<count).map { newEnrollment("user-\($0)") })

            let reports = try await withThrowingTaskGroup(of: TickerReport.self) { group in
                for index in 0..<3 {
                    group.addTask {
                        try await Self.runTicker(executable, url: url, arguments: [
                            "--schema", store.configuration.schema, "--owner", "process-\(index)",
                            "--start", "\(t0.timeIntervalSince1970)", "--step-budget", "1", "--batch-size", "250",
                            "--timeout", "240",
                        ])
                    }
                }
                return try await group.reduce(into: [TickerReport]()) { $0.append($1) }
            }
            let invariants = try await RunInvariants.read(store)
            #expect(invariants == .clean(count), "\(invariants)")
            #expect(reports.map(\.steps).reduce(0, +) == 3 * count, "\(reports.map(\.steps))")
            #expect(reports.map(\.completed).reduce(0, +) == count)
            #expect(reports.filter { $0.steps > 0 }.count >= 2, "work was shared: \(reports.map(\.steps))")
        }
    }

    /// SIGKILL chaos: three ticker processes (the service) drain waves of enrollments while a
    /// driver kills a random one every 0.2–0.6 s and starts it again at once. Leases last 1 s,
    /// so a killed process's batch is taken over a second later. Pass: every enrollment of
    /// every wave completes along its path, no step is applied twice, and the kills happened.
    ///
    /// Kills: `SEQUENCER_CHAOS_KILLS` (default 12; docs/RELIABILITY.md gives the full run's).
    @Test func tickerProcessesKilledAtRandomLoseNothingAndApplyNothingTwice() async throws {
        let executable = try Self.tickerExecutable()
        let url = try await TestPostgres.shared.url()
        let target = ProcessInfo.processInfo.environment["SEQUENCER_CHAOS_KILLS"].flatMap(Int.init) ?? 12
        try await withStore { store in
            _ = try await store.saveDefinition(threeSteps)
            let wave = 4_000
            var enrolled = 0
            var kills = 0
            var waves = 0
            let arguments: (Int) -> [String] = { index in
                ["--schema", store.configuration.schema, "--owner", "chaos-\(index)", "--start", "\(t0.timeIntervalSince1970)",
                 "--step-budget", "1", "--batch-size", "10", "--lease", "1", "--timeout", "600"]
            }
            while kills < target {
                _ = try await store.enroll((0..<wave).map { newEnrollment("wave-\(waves)-user-\($0)") })
                enrolled += wave
                waves += 1
                var processes = try (0..<3).map { try Self.startTicker(executable, url: url, arguments: arguments($0)) }
                defer { for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
                while kills < target {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 200...600)))
                    let active: Int = try await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE status = 'active'")
                    if active == 0 { break }
                    let victim = Int.random(in: 0..<processes.count)
                    if processes[victim].isRunning {
                        kill(processes[victim].processIdentifier, SIGKILL)
                        processes[victim].waitUntilExit()
                        kills += 1
                    }
                    processes[victim] = try Self.startTicker(executable, url: url, arguments: arguments(victim))
                }
                // The survivors finish the wave and exit on their own.
                for _ in 0..<12_000 where processes.contains(where: \.isRunning) { try await Task.sleep(for: .milliseconds(10)) }
                #expect(processes.allSatisfy { !$0.isRunning && $0.terminationStatus == 0 },
                        "\(processes.map { $0.isRunning ? "running" : "exit \($0.terminationStatus)" })")
            }
            let invariants = try await RunInvariants.read(store)
            #expect(invariants == .clean(enrolled), "\(invariants)")
            print("chaos: \(kills) kills over \(waves) waves, \(enrolled) enrollments: \(invariants)")
        }
    }

    /// Starts a ticker process, its output discarded.
    static func startTicker(_ executable: URL, url: String, arguments: [String]) throws -> Process {
        let process = BuiltExecutable.process(executable, arguments: arguments, databaseURL: url)
        try process.run()
        return process
    }

    /// The ticker binary, built next to the test bundle (`SEQUENCER_STRESS_TICKER` overrides).
    static func tickerExecutable() throws -> URL {
        try BuiltExecutable.url(named: "SequencerStressTicker", override: "SEQUENCER_STRESS_TICKER")
    }

    static func runTicker(_ executable: URL, url: String, arguments: [String]) async throws -> TickerReport {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("ticker-\(UUID().uuidString).out")
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("ticker-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
        let process = BuiltExecutable.process(executable, arguments: arguments, databaseURL: url,
                                              standardOutput: try FileHandle(forWritingTo: output),
                                              standardError: try FileHandle(forWritingTo: errors))
        let status = try await process.runToExit()
        let stdout = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        guard status == 0, let line = stdout.split(separator: "\n").last else {
            throw TestTimeout(what: "ticker exited with \(status): \(stderr)")
        }
        return try JSONDecoder().decode(TickerReport.self, from: Data(line.utf8))
    }
}
