import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerTesting
import SequencerPostgres
import SequencerPostgresTesting
import Synchronization
import Testing

@Suite("PostgresStore concurrency")
struct ConcurrencyTests {
    /// Four sequencers, each with its own owner and its own PostgresClient, drain 10,000
    /// enrollments of a three-step sequence at once. A step budget of 1 makes every step a
    /// separate claim and commit, so the tickers keep taking work from each other.
    @Test func fourTickersNeverApplyAStepTwice() async throws {
        try await withStore { store in
            let count = 10_000
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(threeSteps)
            _ = try await store.enroll((0..<count).map { newEnrollment("user-\($0)", due: t0) })

            let server = try await TestPostgres.shared.server()
            let clients = (0..<4).map { _ in
                PostgresClient(configuration: server.configuration, backgroundLogger: TestPostgres.quietLogger)
            }
            let reports = try await withThrowingTaskGroup(of: TickReport?.self) { group in
                for client in clients { group.addTask { await client.run(); return nil } }
                var tickers: [Task<TickReport, any Error>] = []
                for (index, client) in clients.enumerated() {
                    let ownStore = try PostgresStore(client: client, configuration: store.configuration, logger: testLogger)
                    var configuration = Sequencer.Configuration()
                    configuration.owner = "ticker-\(index)"
                    configuration.batchSize = 250
                    configuration.stepBudget = 1
                    configuration.yieldDelay = .milliseconds(1)
                    let ticker = Sequencer(store: ownStore, configuration: configuration, logger: testLogger)
                    try await ticker.register(threeSteps)
                    tickers.append(Task { try await drain(ticker, store: ownStore, startingAt: t0) })
                }
                defer {
                    for ticker in tickers { ticker.cancel() }
                    group.cancelAll()  // stops the clients' run()
                }
                var reports: [TickReport] = []
                for ticker in tickers { reports.append(try await ticker.value) }
                return reports
            }
            let invariants = try await HistoryInvariants.read(store)
            #expect(invariants == .clean(count), "\(invariants)")
            // Every ticker got work, and together they ran each of the 3 steps exactly once per enrollment.
            #expect(reports.allSatisfy { $0.steps > 0 }, "\(reports.map(\.steps))")
            #expect(reports.map(\.steps).reduce(0, +) == 3 * count)
        }
    }

    /// One ticker with batches in flight claims the next batch while earlier ones run and
    /// commit (seen by the store: a claim or commit starts while a commit is under way), and
    /// still applies every step once: their leases are disjoint.
    @Test func batchesInFlightOverlapAndApplyEveryStepOnce() async throws {
        try await withStore { store in
            let count = 2_000
            let watched = OverlapWatchingStore(store)
            var configuration = Sequencer.Configuration()
            configuration.batchSize = 50
            configuration.batchesInFlight = 3
            configuration.maxBatchesPerTick = 1_000
            let sequencer = Sequencer(store: watched, configuration: configuration, logger: testLogger)
            try await sequencer.register(threeSteps)
            _ = try await store.enroll((0..<count).map { newEnrollment("user-\($0)", due: t0) })
            let report = try await drain(sequencer, store: store, startingAt: t0)
            let invariants = try await HistoryInvariants.read(store)
            #expect(invariants == .clean(count), "\(invariants)")
            #expect(report.steps == 3 * count && report.claimed == count)
            #expect(watched.overlaps.withLock { $0 } > 0, "no claim or commit ever started while a commit was running")
        }
    }

    /// A ticker that claims and dies: its enrollments stay leased until the lease expires
    /// (database time), are then claimed by another ticker, and the dead one's late commit is rejected.
    @Test func aDeadTickersLeaseExpiresAndItsLateCommitIsFencedOut() async throws {
        try await withStore { store in
            _ = try await store.saveDefinition(threeSteps)
            _ = try await store.enroll((0..<20).map { newEnrollment("user-\($0)") })
            // Long enough that a loaded machine (tests run in parallel) still asks again within it.
            let lease = Duration.seconds(4)
            let clock = ContinuousClock()
            let claimedAt = clock.now  // no later than the database's now() of the claim
            let dead = try await store.claim(ClaimRequest(now: t0, limit: 100, owner: "dies", leaseDuration: lease))
            #expect(dead.count == 20)

            // Not claimable while the lease lives, whatever `now` the tick passes. On a machine so
            // loaded that the lease ran out before this claim was even answered, taking the rows is
            // right: what must never happen is a take sooner than the lease (measured here from
            // before the first claim to after this one, an upper bound on the database's interval).
            let early = try await store.claim(ClaimRequest(now: t0.addingTimeInterval(86_400), limit: 100, owner: "b",
                                                              leaseDuration: .seconds(60)))
            #expect(early.isEmpty || clock.now - claimedAt >= lease, "taken while the lease lived")

            var taken: [ClaimedEnrollment] = early
            for _ in 0..<150 where taken.isEmpty {  // bounded: at most ~15 s
                try await Task.sleep(for: .milliseconds(100))
                taken = try await store.claim(ClaimRequest(now: t0, limit: 100, owner: "b", leaseDuration: .seconds(60)))
            }
            #expect(clock.now - claimedAt >= .milliseconds(3_950), "claimed again only once the 4 s lease expired")
            #expect(taken.count == 20)
            let byID = Dictionary(uniqueKeysWithValues: dead.map { ($0.enrollment.id, $0.fence) })
            #expect(taken.allSatisfy { $0.fence == byID[$0.enrollment.id]! + 1 })

            // The dead ticker wakes up and commits: every outcome and event is rejected.
            var finished = dead[0].enrollment
            finished.status = .completed
            finished.stepID = nil
            finished.nextRunAt = nil
            let late = try await store.commit(CommitRequest(
                owner: "dies", outcomes: [CommitRequest.Outcome(enrollment: finished, fence: dead[0].fence)],
                events: [HistoryEvent(enrollmentID: finished.id, kind: .completed, fromStep: "a", toStep: nil, visit: 1, at: t0)]))
            #expect(late.applied == 0 && late.fencedOut == [finished.id])
            #expect(try await store.enrollment(finished.id)?.status == .active)
            #expect(try await store.history(of: finished.id).map(\.kind) == [.enrolled])

            // The new holder's commit applies.
            let current = taken.first { $0.enrollment.id == finished.id }!
            let applied = try await store.commit(CommitRequest(
                owner: "b", outcomes: [CommitRequest.Outcome(enrollment: finished, fence: current.fence)], events: []))
            #expect(applied.applied == 1 && applied.fencedOut.isEmpty)
            #expect(try await store.enrollment(finished.id)?.status == .completed)
        }
    }

    /// Leases are measured with the database clock, not the tick's `now`: a tick far in the
    /// simulated future does not see a live lease as expired.
    @Test func leasesUseDatabaseTime() async throws {
        try await withStore { store in
            _ = try await store.saveDefinition(threeSteps)
            _ = try await store.enroll([newEnrollment("u")])
            let clock = ContinuousClock()
            let before = clock.now
            let claimed = try await store.claim(ClaimRequest(now: t0, limit: 1, owner: "a", leaseDuration: .seconds(30)))
            #expect(claimed.count == 1)
            let seconds: Double = try await store.scalar(
                "SELECT extract(epoch FROM lease_expires_at - now())::float8 FROM {s}.enrollments", as: Double.self)
            // 30 s from the claim's database time, less what passed since (at most what this process
            // measured around both statements: a loaded machine can stall seconds between them).
            let elapsed = (clock.now - before).timeInterval
            #expect(seconds > 30 - elapsed - 0.5 && seconds <= 30, "\(seconds) s left, \(elapsed) s elapsed")
            let owner: String = try await store.scalar("SELECT lease_owner FROM {s}.enrollments", as: String.self)
            #expect(owner == "a")
            let farFuture = try await store.claim(ClaimRequest(now: t0.addingTimeInterval(365 * 86_400), limit: 1,
                                                                  owner: "b", leaseDuration: .seconds(30)))
            #expect(farFuture.isEmpty)
        }
    }

    /// Two claims racing for the same rows split them: SKIP LOCKED, never both.
    @Test func racingClaimsSplitTheRows() async throws {
        try await withStore { store in
            _ = try await store.saveDefinition(threeSteps)
            _ = try await store.enroll((0..<2_000).map { newEnrollment("user-\($0)") })
            let claims = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for owner in 0..<8 {
                    group.addTask {
                        try await store.claim(ClaimRequest(now: t0, limit: 400, owner: "o\(owner)", leaseDuration: .seconds(60)))
                            .map(\.enrollment.id)
                    }
                }
                return try await group.reduce(into: [UUID]()) { $0 += $1 }
            }
            #expect(claims.count == 2_000)
            #expect(Set(claims).count == 2_000)
        }
    }
}

/// Ticks until no enrollment of the store is active any more (bounded by `limit`).
func drain(_ sequencer: Sequencer, store: PostgresStore, startingAt start: Date, limit: Duration = .seconds(300))
    async throws -> TickReport
{
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    var report = TickReport()
    var now = start
    while clock.now < deadline {
        let tick = try await sequencer.tick(now: now)
        report.add(tick)
        if tick.claimed == 0 {
            let active: Int = try await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE status = 'active'")
            if active == 0 { return report }
            try await Task.sleep(for: .milliseconds(5))
        }
        // Enrollments that yielded are due 1 ms later: move the simulated clock on.
        now = now.addingTimeInterval(0.01)
    }
    throw TestTimeout(what: "draining \(sequencer.configuration.owner)")
}

struct TestTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out \(what)" }
}

/// Counts store calls (claims, commits) that begin while a commit is still running.
final class OverlapWatchingStore: ForwardingStore, @unchecked Sendable {
    let inner: any SequenceStore
    let commitsRunning = Mutex(0)
    let overlaps = Mutex(0)

    init(_ inner: any SequenceStore) { self.inner = inner }

    private func begin() {
        if commitsRunning.withLock({ $0 }) > 0 { overlaps.withLock { $0 += 1 } }
    }

    func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] {
        begin()
        return try await inner.claim(request)
    }

    func commit(_ request: CommitRequest) async throws -> CommitResult {
        begin()
        commitsRunning.withLock { $0 += 1 }
        defer { commitsRunning.withLock { $0 -= 1 } }
        return try await inner.commit(request)
    }
}
