import Foundation
import Sequencer
import SequencerTesting
import SequencerPostgres
import SequencerPostgresTesting
import Testing

/// Prints how fast one sequencer drains a batch of work. Measures, never asserts a time:
/// run it alone in release for a meaningful figure:
///
///     swift test -c release -Xswiftc -enable-testing --filter ThroughputTests
@Suite("PostgresStore throughput")
struct ThroughputTests {
    @Test func drainTenThousandThreeStepEnrollments() async throws {
        try await withStore { store in
            let count = 10_000
            var configuration = Sequencer.Configuration()
            configuration.batchSize = 500
            configuration.maxBatchesPerTick = 1_000
            let sequencer = Sequencer(store: store, configuration: configuration, logger: testLogger)
            try await sequencer.register(threeSteps)

            let clock = ContinuousClock()
            var start = clock.now
            _ = try await sequencer.enroll((0..<count).map { EnrollmentRequest(subject: "user-\($0)") },
                                           in: threeSteps.name, now: t0)
            let enrollTime = clock.now - start

            start = clock.now
            var report = TickReport()
            while true {
                let tick = try await sequencer.tick(now: t0)
                report.add(tick)
                if tick.claimed == 0 { break }
            }
            let drainTime = clock.now - start
            let invariants = try await HistoryInvariants.read(store)
            #expect(invariants == .clean(count), "\(invariants)")
            #expect(report.completed == count)

            let seconds = Double(drainTime.components.seconds) + Double(drainTime.components.attoseconds) / 1e18
            let enrollSeconds = Double(enrollTime.components.seconds) + Double(enrollTime.components.attoseconds) / 1e18
            print("""
                throughput: enrolled \(count) in \(String(format: "%.2f", enrollSeconds)) s \
                (\(Int(Double(count) / enrollSeconds)) enrollments/s); drained \(count) three-step enrollments \
                (\(report.steps) steps, \(report.batches) batches of 500) in \(String(format: "%.2f", seconds)) s: \
                \(Int(Double(count) / seconds)) enrollments/s, \(Int(Double(report.steps) / seconds)) steps/s
                """)
        }
    }
}
