import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import Testing

@Suite("Schedules on PostgreSQL")
struct ScheduleTests {
    static let parked = SequenceDefinition(name: "parked", version: 1, steps: [
        Step(id: "wait", runner: "WaitForDuration", config: ["amount": 30, "unit": "days"]),
    ])

    /// Eight tickers, each its own Sequencer with its own PostgresClient, fire schedules through a
    /// simulated week together (the clock jumps 30–120 minutes at a time, all eight calling
    /// `fireSchedules(now:)`, what every tick does first, at each time) over a schedule that fires
    /// every minute and catches up on everything: each of the 10,080 occurrences fires exactly once. A fire that was not exclusive would show up in the summed
    /// `fired` counts (the idempotency keys alone would hide it in the enrollment count).
    @Test func eightTickersFireEachOccurrenceOfAWeekOfAOneMinuteScheduleExactlyOnce() async throws {
        try await withStore { store in
            let start = Date(timeIntervalSince1970: 1_900_022_400)   // 2030-03-18T00:00:00Z
            let minutes = 7 * 24 * 60
            let admin = Sequencer(store: store, logger: testLogger)
            try await admin.register(Self.parked)
            _ = try await admin.schedule(Schedule(
                name: "every-minute", recurrence: try Recurrence("* * * * *"), sequence: Self.parked.name,
                subject: "minute-{{date}}-{{time}}", missedFires: .all(max: 1000), missedAfter: .seconds(86400)), now: start)

            var clock: [Date] = []
            var generator = SystemRandomNumberGenerator()
            var elapsed = 0
            while elapsed < minutes {
                elapsed = min(minutes, elapsed + Int.random(in: 30...120, using: &generator))
                clock.append(start.addingTimeInterval(TimeInterval(elapsed * 60)))
            }
            let times = clock
            let server = try await TestPostgres.shared.server()
            let clients = (0..<8).map { _ in
                PostgresClient(configuration: server.configuration, backgroundLogger: TestPostgres.quietLogger)
            }
            let reports = try await withThrowingTaskGroup(of: [ScheduleReport]?.self) { group in
                for client in clients { group.addTask { await client.run(); return nil } }
                defer { group.cancelAll() }
                return try await withThrowingTaskGroup(of: (Int, ScheduleReport).self) { tickers in
                    var sequencers: [Sequencer] = []
                    for (index, client) in clients.enumerated() {
                        let own = try PostgresStore(client: client, configuration: store.configuration, logger: testLogger)
                        var configuration = Sequencer.Configuration()
                        configuration.owner = "ticker-\(index)"
                        sequencers.append(Sequencer(store: own, configuration: configuration, logger: testLogger))
                    }
                    var perTicker = Array(repeating: ScheduleReport(), count: 8)
                    for now in times {
                        for (index, ticker) in sequencers.enumerated() {
                            tickers.addTask { (index, try await ticker.fireSchedules(now: now)) }
                        }
                        for try await (index, report) in tickers {
                            perTicker[index].fired += report.fired
                            perTicker[index].enrolled += report.enrolled
                            perTicker[index].skipped += report.skipped
                        }
                    }
                    return perTicker
                }
            }
            let fired = reports.map(\.fired)
            #expect(fired.reduce(0, +) == minutes, "occurrences fired per ticker: \(fired)")
            #expect(reports.map(\.enrolled).reduce(0, +) == minutes)
            #expect(reports.map(\.skipped).reduce(0, +) == 0)
            #expect(fired.filter { $0 > 0 }.count >= 2, "the fires were shared: \(fired)")
            let state = try await admin.schedule(named: "every-minute")
            #expect(state.fired == minutes && state.skipped == 0)
            #expect(state.nextFireAt == start.addingTimeInterval(TimeInterval((minutes + 1) * 60)))
            let keys = try await store.scalar(
                "SELECT count(DISTINCT idempotency_key) FROM {s}.enrollments WHERE idempotency_key LIKE 'schedule:every-minute:%'")
            let rows = try await store.scalar("SELECT count(*) FROM {s}.enrollments")
            #expect(keys == minutes && rows == minutes)
            // Each minute of the week, once: the first and last subjects, and no other day.
            let first = try await admin.enrollments(subject: "minute-2030-03-18-00:01")
            let last = try await admin.enrollments(subject: "minute-2030-03-25-00:00")
            #expect(first.count == 1 && last.count == 1)
        }
    }
}
