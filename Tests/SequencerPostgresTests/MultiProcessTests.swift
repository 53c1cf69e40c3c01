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
            let invariants = try await HistoryInvariants.read(store)
            #expect(invariants == .clean(count), "\(invariants)")
            #expect(reports.map(\.steps).reduce(0, +) == 3 * count, "\(reports.map(\.steps))")
            #expect(reports.map(\.completed).reduce(0, +) == count)
            #expect(reports.filter { $0.steps > 0 }.count >= 2, "work was shared: \(reports.map(\.steps))")
        }
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
