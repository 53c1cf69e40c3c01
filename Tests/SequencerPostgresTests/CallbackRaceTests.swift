import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import Synchronization
import Testing

@Suite("Callbacks on PostgreSQL")
struct CallbackRaceTests {
    /// Starts nothing: waits a minute for a callback, keeping each token it hands out.
    final class Starter: TaskRunner {
        let name = "Start"
        let tokens = Mutex<[UUID: String]>([:])
        var awaitsCallbacks: Bool { true }
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { input in
                tokens.withLock { $0[input.id] = input.callbackToken }
                return input.result(.awaitCallback(CallbackWait(timeout: .seconds(60))))
            }
        }
    }

    enum RaceResult: Sendable {
        case ticked(fencedOut: Int)
        /// Each enrollment, and whether its completion was accepted.
        case completed([(UUID, Bool)])
    }

    static let job = SequenceDefinition(name: "job", version: 1, steps: [
        Step(id: "run", runner: "Start", altNext: "recover"),
        Step(id: "done", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"]),
        Step(id: "recover", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"]),
    ])

    /// 1,000 completions, each racing the tick that times its step out: four tickers (each its own
    /// Sequencer and PostgresClient, claiming small batches) tick at the deadline while four tasks
    /// complete every enrollment at the same instant. For each, exactly one wins: a completion that
    /// was accepted ends at `done` with one `callbackCompleted` and no timeout; one refused (the
    /// enrollment had left the visit) ends at `recover` with one timeout and no completion. The
    /// split and the tick outcomes dropped by fencing are reported.
    @Test func aCompletionRacingItsTimeoutEitherWinsOrIsRefusedNeverBoth() async throws {
        try await withStore { store in
            let runner = Starter()
            let server = try await TestPostgres.shared.server()
            let clients = (0..<4).map { _ in
                PostgresClient(configuration: server.configuration, backgroundLogger: TestPostgres.quietLogger)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in clients { group.addTask { await client.run() } }
                defer { group.cancelAll() }
                var configuration = Sequencer.Configuration()
                configuration.batchSize = 7
                configuration.firesSchedules = false
                var sequencers: [Sequencer] = []
                for (index, client) in clients.enumerated() {
                    let own = try PostgresStore(client: client, configuration: store.configuration, logger: testLogger)
                    configuration.owner = "ticker-\(index)"
                    sequencers.append(Sequencer(store: own, runners: .builtIn + [runner], configuration: configuration,
                                                logger: testLogger))
                }
                let admin = sequencers[0]
                try await admin.register(Self.job)

                var accepted = 0, refused = 0, fencedOut = 0
                let start = Date(timeIntervalSince1970: 1_900_000_000)
                for trial in 0..<10 {
                    let t0 = start.addingTimeInterval(Double(trial) * 86_400)
                    let deadline = t0.addingTimeInterval(60)
                    let ids = try await admin.enroll((0..<100).map { EnrollmentRequest(subject: "t\(trial)-\($0)") }, in: "job", now: t0)
                    while try await admin.tick(now: t0).claimed > 0 {}
                    let tokens = runner.tokens.withLock { $0 }
                    let chunks = stride(from: 0, to: ids.count, by: 25).map { Array(ids[$0..<min($0 + 25, ids.count)]) }
                    let results = try await withThrowingTaskGroup(of: RaceResult.self) { race in
                        for ticker in sequencers {
                            race.addTask {
                                var dropped = 0
                                for _ in 0..<4 { dropped += try await ticker.tick(now: deadline).fencedOut }
                                return .ticked(fencedOut: dropped)
                            }
                        }
                        for (index, chunk) in chunks.enumerated() {
                            let completer = sequencers[index % sequencers.count]
                            race.addTask {
                                var outcomes: [(UUID, Bool)] = []
                                for id in chunk {
                                    do {
                                        _ = try await completer.complete(token: tokens[id]!, outcome: .success(), now: deadline)
                                        outcomes.append((id, true))
                                    } catch let error as SequencerError where error.code == .invalidState {
                                        outcomes.append((id, false))
                                    }
                                }
                                return .completed(outcomes)
                            }
                        }
                        var byID: [UUID: Bool] = [:]
                        for try await result in race {
                            switch result {
                            case .ticked(let dropped): fencedOut += dropped
                            case .completed(let outcomes): for (id, won) in outcomes { byID[id] = won }
                            }
                        }
                        return byID
                    }
                    // Settle: the completions recorded after a tick's claim are applied now.
                    while try await admin.tick(now: deadline).claimed > 0 {}
                    // Each enrollment's step and its counts of completions, successes and timeouts, in one query.
                    let rows = try await store.client.query("""
                        SELECT e.id, e.step_id,
                               count(*) FILTER (WHERE ev.kind = 'callbackCompleted'),
                               count(*) FILTER (WHERE ev.kind = 'advanced' AND ev.from_step = 'run'),
                               count(*) FILTER (WHERE ev.kind = 'altAdvanced' AND ev.from_step = 'run')
                        FROM \(unescaped: "\"\(store.configuration.schema)\"").enrollments e
                        JOIN \(unescaped: "\"\(store.configuration.schema)\"").events ev ON ev.enrollment_id = e.id
                        WHERE e.id = ANY(\(ids))
                        GROUP BY e.id, e.step_id
                        """, logger: testLogger).collect()
                    #expect(rows.count == ids.count)
                    for row in rows {
                        let (id, step, completions, successes, timeouts) = try row.decode((UUID, String, Int, Int, Int).self)
                        let won = try #require(results[id], "every completion answered")
                        if won {
                            accepted += 1
                            #expect(step == "done" && completions == 1 && successes == 1 && timeouts == 0,
                                    "accepted, so done: \(step), \(completions) \(successes) \(timeouts)")
                        } else {
                            refused += 1
                            #expect(step == "recover" && completions == 0 && successes == 0 && timeouts == 1,
                                    "refused, so timed out: \(step), \(completions) \(successes) \(timeouts)")
                        }
                    }
                }
                #expect(accepted + refused == 1000)
                print("callback race: \(accepted) completions won, \(refused) timeouts won, \(fencedOut) tick outcomes fenced out")
            }
        }
    }
}
