import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTesting
import Testing

/// Retention on PostgreSQL: what the shared conformance check cannot see (the deliveries ledger,
/// the lock across processes, the service's pass).
@Suite("PostgresStore retention")
struct RetentionTests {
    static let definition = SequenceDefinition(name: "retention", version: 1) {
        Step(id: "send", runner: "Finish")
    }

    /// Completes everything it is given at once.
    struct Finish: TaskRunner {
        let name = "Finish"
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
    }

    func count(_ table: String, of store: PostgresStore) async throws -> Int {
        let rows = try await store.client.query(
            PostgresQuery(unsafeSQL: "SELECT count(*) FROM \"\(store.configuration.schema)\".\(table)"), logger: testLogger
        ).collect()
        return try rows.first!.decode(Int.self)
    }

    @Test func aPassDeletesAnOldEnrollmentWithItsEventsAndDeliveriesAndKeepsRecentOnes() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, runners: .builtIn + [Finish()], logger: testLogger)
            try await sequencer.register(Self.definition)
            let day: TimeInterval = 86_400
            let old = try await sequencer.enroll("old", in: "retention", now: t0)
            _ = try await sequencer.tick(now: t0)
            let recent = try await sequencer.enroll("recent", in: "retention", now: t0.addingTimeInterval(40 * day))
            _ = try await sequencer.tick(now: t0.addingTimeInterval(40 * day))
            let keys = [old, recent].map { DeliveryKey(enrollmentID: $0, step: "send", visit: 1) }
            _ = try await store.reserve(keys, channel: "email", now: t0, staleAfter: .seconds(60))
            try await store.markSent([keys[0]: "provider-1", keys[1]: "provider-2"], now: t0)

            let oldEvents = try await sequencer.history(of: old).count
            let allEvents = try await count("events", of: store)
            let report = try await sequencer.prune(RetentionPolicy(), now: t0.addingTimeInterval(45 * day))
            #expect(report.enrollments == 1 && report.deliveries == 1 && report.events == oldEvents && oldEvents >= 2, "\(report)")
            #expect(try await store.enrollment(old) == nil)
            #expect(try await store.enrollment(recent) != nil)
            #expect(try await count("deliveries", of: store) == 1)
            #expect(try await count("events", of: store) == allEvents - oldEvents)
        }
    }

    @Test func aPassSkipsWhileAnotherProcessHoldsTheRetentionLock() async throws {
        try await withStore { store in
            _ = try await store.client.withConnection { connection in
                let key = "\"\(store.configuration.schema)\".retention"
                _ = try await connection.query("SELECT pg_advisory_lock(hashtext(\(key)))", logger: testLogger).collect()
                let report = try await store.prune(RetentionPolicy().request(now: Date()))
                #expect(report.skipped && report.enrollments == 0)
                _ = try await connection.query("SELECT pg_advisory_unlock(hashtext(\(key)))", logger: testLogger).collect()
            }
            #expect(try await store.prune(RetentionPolicy().request(now: Date())).skipped == false, "free again")
        }
    }

    @Test func theServiceRunsAPassWhenItStarts() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, runners: .builtIn + [Finish()], logger: testLogger)
            try await sequencer.register(Self.definition)
            let id = try await sequencer.enroll("old", in: "retention", now: t0)
            _ = try await sequencer.tick(now: t0)
            var configuration = SequencerService.Configuration()
            configuration.retention = RetentionPolicy()
            let service = SequencerService(sequencer, configuration: configuration, now: { t0.addingTimeInterval(31 * 86_400) },
                                           logger: testLogger)
            let events = service.events()
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await service.run() }
                for await event in events {
                    if case .pruned(let report) = event {
                        #expect(report.enrollments == 1, "\(report)")
                        break
                    }
                }
                group.cancelAll()
            }
            #expect(try await store.enrollment(id) == nil)
        }
    }
}
