import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTesting
import Synchronization
import Testing

/// A ticker whose ledger answers late (a reservation that waited out a database outage, its lease
/// running out meanwhile) must not send on a reservation that another ticker may already find
/// stale: the reservation is recorded at the tick's time, so the ticker that claims the
/// enrollment after the outage can take it over at once and send. The chaos restart test found
/// this one (a message sent twice just after a restart, by the ticker that had waited and by the
/// one that took over, with no fault between the copies).
@Suite("A reservation the ledger answers late")
struct LeaseLossTests {
    enum Stores: String, CaseIterable, CustomTestStringConvertible {
        case inMemory, postgres
        var testDescription: String { rawValue }
    }

    /// Renewals fail while `down` is set, as they do while the database is unreachable.
    final class RenewalOutage: ForwardingStore {
        let inner: any SequenceStore
        let down = Mutex(false)
        init(_ inner: any SequenceStore) { self.inner = inner }

        func renew(_ request: RenewRequest) async throws -> RenewResult {
            if down.withLock({ $0 }) { throw SequencerError(.storeFailure, "renew: the database is down") }
            return try await inner.renew(request)
        }
    }

    /// Makes the next reservation, then holds its answer back until ``answer()`` and at least
    /// `atLeast`: the ticker waits, its reservation already recorded at its tick's time.
    final class StallingLedger: ForwardingLedger {
        let inner: any DeliveryLedger
        let atLeast: Duration
        private let stallNext = Mutex(false)
        private let answered = Mutex(false)
        /// Set once the stalled reservation is recorded.
        let reserved = Mutex(false)

        init(_ inner: any DeliveryLedger, atLeast: Duration) {
            self.inner = inner
            self.atLeast = atLeast
        }

        func stallNextReservation(untilAnswered: Bool) {
            stallNext.withLock { $0 = true }
            answered.withLock { $0 = !untilAnswered }
        }

        func answer() { answered.withLock { $0 = true } }

        func reserve(_ requests: [DeliveryRequest], channel: String, now: Date, staleAfter: Duration) async throws
            -> [DeliveryKey: DeliveryReservation]
        {
            let reservations = try await inner.reserve(requests, channel: channel, now: now, staleAfter: staleAfter)
            if stallNext.withLock({ flag in defer { flag = false }; return flag }) {
                reserved.withLock { $0 = true }
                let clock = ContinuousClock()
                let since = clock.now
                while clock.now - since < atLeast || !answered.withLock({ $0 }) {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            return reservations
        }
    }

    static let sequence = """
        {"name": "welcome", "version": 1, "steps": [
          {"id": "welcome", "runner": "Email", "config": {"from": "hi@acme.example", "to": ["{{email}}"], "subject": "Hi", "text": "Hi."}},
          {"id": "wait", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "days"}}
        ]}
        """

    static func sequencer(_ store: any SequenceStore, _ ledger: any DeliveryLedger, _ transport: RecordingTransport,
                          owner: String, inFlightTimeout: Duration) -> Sequencer {
        var configuration = Sequencer.Configuration()
        configuration.owner = owner
        configuration.leaseDuration = .milliseconds(600)
        configuration.retry.jitter = 0
        var logger = Logger(label: "lease-loss")
        logger.logLevel = .error
        return Sequencer(store: store, runners: .builtIn + [EmailRunner(transport: transport, ledger: ledger, inFlightTimeout: inFlightTimeout)],
                         configuration: configuration, logger: logger)
    }

    /// The stores under test, and a cleanup.
    static func stores(_ kind: Stores) async throws -> (store: any SequenceStore, ledger: any DeliveryLedger, cleanup: @Sendable () async -> Void) {
        switch kind {
        case .inMemory:
            return (InMemoryStore(), InMemoryDeliveryLedger(), { @Sendable () async in })
        case .postgres:
            let client = try await TestPostgres.shared.client()
            let schema = TestPostgres.uniqueSchema("leaseloss")
            let store = try PostgresStore(client: client, configuration: .init(schema: schema), logger: TestPostgres.quietLogger)
            try await store.migrate()
            return (store, store, { @Sendable () async in _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \"\(schema)\" CASCADE"),
                                                                 logger: TestPostgres.quietLogger) })
        }
    }

    @Test("a ticker whose ledger took the reservation's in-flight timeout to answer sends nothing; the ticker that took over sends once",
          arguments: Stores.allCases)
    func aReservationAnsweredTooLateIsNotSentOn(_ kind: Stores) async throws {
        let (base, ledger, cleanup) = try await Self.stores(kind)
        let store = RenewalOutage(base)
        // An in-flight timeout of 3 s, and the first ticker's reservation answered 3 s or more after it was asked.
        let stalling = StallingLedger(ledger, atLeast: .seconds(3))
        let transport = RecordingTransport()
        let first = Self.sequencer(store, stalling, transport, owner: "first", inFlightTimeout: .seconds(3))
        // The second ticker's own in-flight timeout is long, so a statement slowed by the suite's
        // load (the shared pool) cannot put its send past its deadline; it judges the first
        // ticker's reservation, made at t0, stale at t0 + 30 s.
        let second = Self.sequencer(store, ledger, transport, owner: "second", inFlightTimeout: .seconds(30))
        try await first.register(json: Self.sequence)
        let id = try await first.enroll("ada", in: "welcome", context: ["email": "ada@example.com"], now: t0)

        store.down.withLock { $0 = true }
        stalling.stallNextReservation(untilAnswered: true)
        let stalled = Task { try await first.tick(now: t0) }
        for _ in 0..<1_000 where !stalling.reserved.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        try #require(stalling.reserved.withLock { $0 }, "the first ticker reserved")
        // Once the first ticker's lease (600 ms, not renewed) has run out by the store's clock, the
        // second claims the enrollment, finds the reservation stale on its tick's clock (t0 + 31 s),
        // and sends.
        var report = TickReport()
        for _ in 0..<200 where report.claimed == 0 {
            try await Task.sleep(for: .milliseconds(50))
            report = try await second.tick(now: t0.addingTimeInterval(31))
        }
        #expect(report.claimed == 1)
        #expect(transport.emailBatches.flatMap { $0 }.count == 1, "the second ticker sent")
        stalling.answer()
        _ = try await stalled.value   // its commit is fenced out
        store.down.withLock { $0 = false }

        #expect(transport.emailBatches.flatMap { $0 }.count == 1, "sent once: \(transport.emailBatches.flatMap { $0 }.map(\.messageID))")
        #expect(try await first.enrollment(id).stepID == "wait")
        await cleanup()
    }

    @Test("a ledger answering after the lease but well within the in-flight timeout still sends", arguments: Stores.allCases)
    func aLedgerAnsweringAfterTheLeaseStillSends(_ kind: Stores) async throws {
        let (store, ledger, cleanup) = try await Self.stores(kind)
        let stalling = StallingLedger(ledger, atLeast: .milliseconds(1_500))
        let transport = RecordingTransport()
        let sequencer = Self.sequencer(store, stalling, transport, owner: "only", inFlightTimeout: .seconds(300))
        try await sequencer.register(json: Self.sequence)
        let id = try await sequencer.enroll("ada", in: "welcome", context: ["email": "ada@example.com"], now: t0)

        stalling.stallNextReservation(untilAnswered: false)
        let report = try await sequencer.tick(now: t0)
        #expect(report.fencedOut == 0)
        #expect(transport.emailBatches.flatMap { $0 }.count == 1)
        #expect(try await sequencer.enrollment(id).stepID == "wait")
        await cleanup()
    }

    /// A host step that takes a second before it moves on, as a slow API call does.
    final class SlowStep: TaskRunner {
        let name = "Slow"
        let finished = Mutex<Date?>(nil)
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            try await Task.sleep(for: .seconds(1))
            finished.withLock { $0 = Date() }
            return batch.map { $0.result(.next) }
        }
    }

    /// Records the times reservations are made with.
    final class SpyingLedger: ForwardingLedger {
        let inner: any DeliveryLedger = InMemoryDeliveryLedger()
        let reservedAt = Mutex<[Date]>([])
        func reserve(_ requests: [DeliveryRequest], channel: String, now: Date, staleAfter: Duration) async throws
            -> [DeliveryKey: DeliveryReservation]
        {
            reservedAt.withLock { $0.append(now) }
            return try await inner.reserve(requests, channel: channel, now: now, staleAfter: staleAfter)
        }
    }

    /// The service ticks on a real clock: a reservation made a second into a tick is recorded a
    /// second after the tick's time, so its in-flight timeout counts from when it was made.
    @Test func aServiceRecordsAReservationAtTheTimeItIsMadeNotAtItsTicksStart() async throws {
        let slow = SlowStep()
        let ledger = SpyingLedger()
        let transport = RecordingTransport()
        var logger = Logger(label: "lease-loss")
        logger.logLevel = .error
        let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + [slow, EmailRunner(transport: transport, ledger: ledger)],
                                  logger: logger)
        try await sequencer.register(json: """
            {"name": "slow", "version": 1, "steps": [
              {"id": "call", "runner": "Slow", "config": {}},
              {"id": "welcome", "runner": "Email", "config": {"from": "hi@acme.example", "to": ["{{email}}"], "subject": "Hi", "text": "Hi."}}
            ]}
            """)
        let enrolled = Date()
        _ = try await sequencer.enroll("ada", in: "slow", context: ["email": "ada@example.com"], now: enrolled)
        let service = SequencerService(sequencer)
        try await service.tickOnce()
        let reservedAt = try #require(ledger.reservedAt.withLock { $0 }.first)
        let finished = try #require(slow.finished.withLock { $0 })
        // The same tick ran the slow step and then the email: its time is before the slow step began.
        #expect(transport.emailBatches.count == 1)
        #expect(reservedAt >= finished.addingTimeInterval(-0.05), "reserved at \(reservedAt), the slow step finished at \(finished)")
    }
}
