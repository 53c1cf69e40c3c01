import Foundation
import Sequencer
import SequencerTesting
import PostgresNIO
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTransports
import Testing

/// The deliveries ledger against crashes. The ledger instance outlives the simulated crash, as the
/// PostgreSQL ledger outlives a real one.
@Suite("At most once per visit")
struct AtMostOnceTests {
    @Test("a crash between send and commit: the re-run after the lease expires does not send again")
    func crashBetweenSendAndCommit() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let store = CrashingStore()
        let ledger = InMemoryDeliveryLedger()
        let runner = EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()), ledger: ledger)
        let sequencer = makeSequencer(store: store, [runner])
        try await sequencer.register(json: welcomeSequence)
        let id = try await sequencer.enroll("ada", in: "welcome", context: ["name": "Ada", "email": "ada@example.com"],
                                            now: t0)

        store.crashAtNextCommit()
        await #expect(throws: CrashingStore.SimulatedCrash.self) { try await sequencer.tick(now: t0) }
        #expect(try server.mail().count == 1)
        #expect(try await sequencer.enrollment(id).stepID == "welcome")   // nothing was committed

        // Another ticker picks the enrollment up once the lease (60 s) has expired.
        let report = try await sequencer.tick(now: t0.addingTimeInterval(61))

        #expect(report.claimed == 1)
        #expect(try await sequencer.enrollment(id).stepID == "wait")
        #expect(try server.mail().count == 1)
        let message = try await sequencer.messages(of: id, .advanced).first ?? ""
        #expect(message.hasPrefix("already sent for this visit (id <"))
        #expect(message.hasSuffix("); not sent again"))
    }

    @Test("with the PostgreSQL ledger, a new process re-running the visit does not send again")
    func crashWithThePostgresLedger() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let client = try await TestPostgres.shared.client()
        let schema = TestPostgres.uniqueSchema()
        let ledgerBeforeCrash = try PostgresStore(client: client, configuration: .init(schema: schema), logger: TestPostgres.quietLogger)
        try await ledgerBeforeCrash.migrate()
        let store = CrashingStore()
        let smtp = try server.smtpConfiguration()
        let sequencer = makeSequencer(store: store, [EmailRunner(transport: SMTPTransport(configuration: smtp), ledger: ledgerBeforeCrash)])
        try await sequencer.register(json: welcomeSequence)
        let id = try await sequencer.enroll("ada", in: "welcome", context: ["name": "Ada", "email": "ada@example.com"], now: t0)
        store.crashAtNextCommit()
        await #expect(throws: CrashingStore.SimulatedCrash.self) { try await sequencer.tick(now: t0) }
        #expect(try server.mail().count == 1)

        // "Restart": a new store object and runner; only what PostgreSQL recorded survives.
        let ledgerAfterCrash = try PostgresStore(client: client, configuration: .init(schema: schema), logger: TestPostgres.quietLogger)
        let restarted = makeSequencer(store: store, [EmailRunner(transport: SMTPTransport(configuration: smtp), ledger: ledgerAfterCrash)])
        let report = try await restarted.tick(now: t0.addingTimeInterval(61))
        #expect(report.claimed == 1)
        #expect(try await restarted.enrollment(id).stepID == "wait")
        #expect(try server.mail().count == 1, "no second message")
        let sent = try await client.query("SELECT status FROM \(unescaped: "\"\(schema)\"").deliveries", logger: TestPostgres.quietLogger)
            .collect().map { try $0.decode(String.self) }
        #expect(sent == ["sent"])
        _ = try await client.query("DROP SCHEMA \(unescaped: "\"\(schema)\"") CASCADE", logger: TestPostgres.quietLogger).collect()
    }

    @Test("the documented window: a crash before the send is recorded waits for the reservation, then sends again")
    func crashBeforeTheSendIsRecorded() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let store = CrashingStore()
        let ledger = ForgetfulLedger()
        let runner = EmailRunner(transport: SMTPTransport(configuration: try server.smtpConfiguration()), ledger: ledger,
                                 inFlightTimeout: .seconds(300))
        let sequencer = makeSequencer(store: store, [runner])
        try await sequencer.register(json: welcomeSequence)
        let id = try await sequencer.enroll("ada", in: "welcome", context: ["name": "Ada", "email": "ada@example.com"],
                                            now: t0)

        ledger.forgetNextSends()
        store.crashAtNextCommit()
        await #expect(throws: CrashingStore.SimulatedCrash.self) { try await sequencer.tick(now: t0) }
        #expect(try server.mail().count == 1)

        // After the lease: the reservation is still in flight, so the step waits for it to go stale.
        try await sequencer.tick(now: t0.addingTimeInterval(61))
        #expect(try server.mail().count == 1)
        let waiting = try await sequencer.enrollment(id)
        // The crashed ticker's expired lease counts as one attempt of the step (crash loops end).
        #expect(waiting.stepID == "welcome" && waiting.attempts == 1)
        #expect(waiting.lastError?.contains("expired while it ran step 'welcome'") == true, "\(waiting.lastError ?? "-")")
        #expect(waiting.nextRunAt == t0.addingTimeInterval(300))

        // Once stale, the sender is presumed dead and the message goes out again, same Message-ID.
        try await sequencer.tick(now: t0.addingTimeInterval(300))
        let mail = try server.mail()
        #expect(mail.count == 2)
        #expect(mail[0].header("Message-ID") == mail[1].header("Message-ID"))
        #expect(try await sequencer.enrollment(id).stepID == "wait")
    }

    @Test("a failed ledger write after the send does not resend: the step still moves on")
    func ledgerFailureAfterSend() async throws {
        let transport = RecordingTransport()
        let ledger = ForgetfulLedger()
        let sequencer = makeSequencer([EmailRunner(transport: transport, ledger: ledger)])
        try await sequencer.register(json: welcomeSequence)
        let id = try await sequencer.enroll("ada", in: "welcome", context: ["name": "Ada", "email": "ada@example.com"],
                                            now: t0)
        ledger.forgetNextSends()

        try await sequencer.tick(now: t0)
        try await sequencer.tick(now: t0.addingTimeInterval(61))

        #expect(transport.emailBatches.flatMap { $0 }.count == 1)
        #expect(try await sequencer.enrollment(id).stepID == "wait")
    }

    @Test("the in-memory ledger: reserve, in flight, sent, failed, stale")
    func ledgerStates() async throws {
        let ledger = InMemoryDeliveryLedger()
        let a = DeliveryKey(enrollmentID: UUID(), step: "welcome", visit: 1)
        let b = DeliveryKey(enrollmentID: a.enrollmentID, step: "welcome", visit: 2)
        let stale = Duration.seconds(300)

        #expect(try await ledger.reserve([a, b], channel: "email", now: t0, staleAfter: stale) == [a: .send, b: .send])
        #expect(try await ledger.reserve([a], channel: "email", now: t0.addingTimeInterval(10), staleAfter: stale)
            == [a: .inFlight(since: t0)])

        try await ledger.markSent([a: "<id@x>"], now: t0.addingTimeInterval(1))
        try await ledger.markFailed([b: "451 busy"], now: t0.addingTimeInterval(1))
        #expect(try await ledger.reserve([a, b], channel: "email", now: t0.addingTimeInterval(20), staleAfter: stale)
            == [a: .alreadySent(providerID: "<id@x>"), b: .send])
        #expect(ledger.record(for: b)?.attempts == 2)

        // A failure reported after the send was recorded never undoes it.
        try await ledger.markFailed([a: "late"], now: t0.addingTimeInterval(30))
        #expect(ledger.record(for: a)?.status == .sent)

        // b is pending again since t0+20; stale from t0+320.
        #expect(try await ledger.reserve([b], channel: "email", now: t0.addingTimeInterval(319), staleAfter: stale)
            == [b: .inFlight(since: t0.addingTimeInterval(20))])
        #expect(try await ledger.reserve([b], channel: "email", now: t0.addingTimeInterval(320), staleAfter: stale)
            == [b: .send])
        #expect(a.description == "\(a.enrollmentID.uuidString.lowercased())/welcome/1")
    }
}
