import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTransports
import Synchronization
import Testing

/// A goal met while a send is due: `updateContext` races the ticks at an Email step, on
/// PostgreSQL, with the PostgreSQL ledger and aiosmtpd.
///
/// Trials: `SEQUENCER_GOAL_RACE_TRIALS` (default 200; the full run in docs/RELIABILITY.md uses 10,000).
@Suite("A goal met while a send is due")
struct GoalRaceTests {
    /// welcome (Email) → wait a day → converted (Goal: `converted` is true) → end. While an
    /// enrollment is at `welcome`, the goal after it is checked before the step runs.
    static let drip = SequenceDefinition(name: "drip", version: 1, steps: [
        Step(id: "welcome", runner: "Email", config: [
            "from": "Acme <hi@acme.example>", "to": ["{{email}}"], "subject": "Welcome", "text": "Hi.",
        ]),
        .waitForDuration("wait", 1, "days"),
        .goal("converted", .compare(.eq, .get("converted"), .raw(true))),
    ])

    static var trials: Int {
        ProcessInfo.processInfo.environment["SEQUENCER_GOAL_RACE_TRIALS"].flatMap(Int.init) ?? 200
    }

    /// Rounds of 50 enrollments, each enrolled due now; two tickers (batches of 5) tick while a
    /// task marks every enrollment converted in a random order with random pauses. Afterwards, for
    /// every enrollment: at most one message reached the server, and exactly as many as the ledger
    /// recorded; no send was committed after the context update (the update bumps the fence, so
    /// a tick that claimed before it cannot commit its step after it); and it ended completed
    /// through its goal. The trials that sent before the goal, and those whose send had started
    /// when the goal came (sent, its commit fenced out), are counted.
    @Test func noSendIsCommittedAfterTheGoalAndAStartedSendIsSentOnce() async throws {
        let server = try await TestServer.smtp(.init(pipelining: true))
        defer { server.stop() }
        let client = try await TestPostgres.shared.client()
        let schema = TestPostgres.uniqueSchema("goalrace")
        let store = try PostgresStore(client: client, configuration: .init(schema: schema), logger: TestPostgres.quietLogger)
        try await store.migrate()
        let transport = SMTPTransport(configuration: try server.smtpConfiguration())
        defer { transport.closeIdleConnections() }
        let tickers = (0..<2).map { index in
            var configuration = Sequencer.Configuration()
            configuration.owner = "ticker-\(index)"
            configuration.batchSize = 5
            configuration.firesSchedules = false
            return Sequencer(store: store, runners: .builtIn + [EmailRunner(transport: transport, ledger: store)],
                             configuration: configuration, logger: TestPostgres.quietLogger)
        }
        try await tickers[0].register(Self.drip)

        var ids: [UUID] = []
        var sentBeforeGoal = 0, startedWhenGoalCame = 0, notSent = 0, fencedOut = 0
        let round = 50
        for start in stride(from: 0, to: Self.trials, by: round) {
            let requests = (start..<min(start + round, Self.trials)).map {
                EnrollmentRequest(subject: "user-\($0)", context: ["email": .string("user\($0)@example.com")])
            }
            let roundIDs = try await tickers[0].enroll(requests, in: "drip")
            ids += roundIDs
            fencedOut += try await withThrowingTaskGroup(of: Int.self) { group in
                let updating = ManagedFlag()
                group.addTask {
                    for id in roundIDs.shuffled() {
                        try await Task.sleep(for: .microseconds(Int.random(in: 0...3_000)))
                        try await tickers[0].updateContext(id, merging: ["converted": true])
                    }
                    updating.set()
                    return 0
                }
                for ticker in tickers {
                    group.addTask {
                        var fenced = 0
                        while true {
                            let finished = updating.isSet
                            let report = try await ticker.tick(now: Date())
                            fenced += report.fencedOut
                            if finished && report.claimed == 0 { return fenced }
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
        }

        let received = Dictionary(grouping: try server.mail(), by: { $0.rcptTos.first ?? "" }).mapValues(\.count)
        let recorded = try await client.query(
            "SELECT count(*)::int8 FROM \(unescaped: "\"\(schema)\"").deliveries WHERE status = 'sent'",
            logger: TestPostgres.quietLogger).collect()[0].decode(Int.self)
        #expect(received.values.reduce(0, +) == recorded)
        for (index, id) in ids.enumerated() {
            let messages = received["user\(index)@example.com"] ?? 0
            #expect(messages <= 1, "enrollment \(index) was sent \(messages) messages")
            let history = try await tickers[0].history(of: id)
            guard let update = history.firstIndex(where: { $0.kind == .contextUpdated }) else {
                Issue.record("enrollment \(index) has no contextUpdated event")
                continue
            }
            let sendCommitted = history.firstIndex { $0.kind == .advanced && $0.fromStep == "welcome" }
            if let sendCommitted, sendCommitted > update {
                Issue.record("enrollment \(index): its send was committed after the goal was met: \(history.map(\.kind))")
            }
            #expect(history.contains { $0.kind == .goalReached }, "enrollment \(index): \(history.map(\.kind))")
            #expect(try await tickers[0].enrollment(id).status == .completed)
            switch (messages, sendCommitted) {
            case (1, .some): sentBeforeGoal += 1
            case (1, nil): startedWhenGoalCame += 1
            case (0, nil): notSent += 1
            default: Issue.record("enrollment \(index): a send committed without a message (\(messages))")
            }
        }
        _ = try await client.query("DROP SCHEMA \(unescaped: "\"\(schema)\"") CASCADE", logger: TestPostgres.quietLogger).collect()
        print("goal race: \(ids.count) trials: \(sentBeforeGoal) sent before the goal, \(startedWhenGoalCame) "
              + "sends started when the goal came (sent once, commit fenced out), \(notSent) not sent; "
              + "\(fencedOut) tick outcomes fenced out")
    }
}

/// A flag one task sets and others read.
final class ManagedFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
