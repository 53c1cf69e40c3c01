import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTesting
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// Waits for the first service event that matches, or fails after `seconds` of real time.
func firstEvent(_ events: AsyncStream<SequencerService.Event>, within seconds: Double,
                _ matches: @escaping @Sendable (SequencerService.Event) -> Bool) async throws -> SequencerService.Event? {
    try await events.first(within: .seconds(seconds), where: matches)
}

func report(_ event: SequencerService.Event?) -> TickReport? {
    if case .ticked(let report)? = event { report } else { nil }
}

/// Collects log lines, to count the warnings a test provokes.
final class LogCapture: Sendable {
    let lines = Mutex<[(Logger.Level, String)]>([])
    var logger: Logger {
        var logger = Logger(label: "capture") { _ in Handler(capture: self) }
        logger.logLevel = .info
        return logger
    }
    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.lines.withLock { $0.append((event.level, "\(event.message)")) }
        }
    }
    func count(_ level: Logger.Level, containing text: String) -> Int {
        lines.withLock { $0.filter { $0.0 == level && $0.1.contains(text) }.count }
    }
}

/// A sequence whose one step finishes at once.
let oneStep = SequenceDefinition(name: "one-step", version: 1) { Step.goTo("only", target: Step.end) }

@Suite("SequencerService on PostgreSQL", .serialized)   // timing-sensitive: one service at a time
struct PostgresServiceTests {
    @Test func aNotifiedEnrollmentIsProcessedLongBeforeThePoll() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(oneStep)
            var configuration = SequencerService.Configuration()
            // A 90 s poll and a 45 s bound: at the start of the full suite, with every suite starting
            // at once on this 2-core machine, the test process can stall for many seconds (a notified
            // tick took 22 s there), and the test is about the notification, not the poll.
            configuration.interval = .seconds(90)
            let service = SequencerService(sequencer, configuration: configuration, logger: testLogger)
            let events = service.events()
            let running = Task { try await service.run() }
            // The listener wakes the service once when it is connected (a notification sent before
            // that is lost, and on a loaded machine connecting can take a while): wait for it.
            let connected = try await firstEvent(events, within: 45) { if case .woken = $0 { true } else { false } }
            #expect(connected != nil, "the listener connected")
            try await Task.sleep(for: .milliseconds(200))
            let clock = ContinuousClock()
            let enrolled = clock.now
            let id = try await sequencer.enroll("u", in: oneStep.name)
            let processed = report(try await firstEvent(events, within: 45) { (report($0)?.claimed ?? 0) > 0 })
            #expect(processed?.completed == 1, "processed within 45 s although the service polls every 90 s")
            #expect(clock.now - enrolled < .seconds(45))
            #expect(try await sequencer.enrollment(id).status == .completed)
            running.cancel()
            try await running.value
        }
    }

    @Test func oneNotificationPerStatementAndNoneForAPause() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(oneStep)
            let received = SharedCount()
            let listener = Task {
                await store.wakeUps!.listen { received.value.withLock { $0 += 1 } }
            }
            // The listener wakes once when it is connected (notifications before that are lost).
            for _ in 0..<200 where received.value.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(50)) }
            let settled = received.value.withLock { $0 }
            func waitFor(_ count: Int) async throws {
                for _ in 0..<100 where received.value.withLock({ $0 }) < count { try await Task.sleep(for: .milliseconds(50)) }
            }
            _ = try await sequencer.enroll((0..<1_000).map { EnrollmentRequest(subject: "u\($0)") }, in: oneStep.name)
            try await waitFor(settled + 1)
            try await Task.sleep(for: .milliseconds(500))
            #expect(received.value.withLock { $0 } - settled == 1, "one statement, one notification for 1,000 enrollments")
            let id = try await sequencer.enroll("p", in: oneStep.name)
            try await waitFor(settled + 2)
            let beforePause = received.value.withLock { $0 }
            _ = try await sequencer.pause(id)
            try await Task.sleep(for: .milliseconds(500))
            #expect(received.value.withLock { $0 } == beforePause, "a pause makes nothing due")
            _ = try await sequencer.resume(id)
            try await waitFor(beforePause + 1)
            #expect(received.value.withLock { $0 } == beforePause + 1, "a resume does")
            listener.cancel()
            await listener.value
        }
    }

    @Test func whenListenIsUnavailableTheServicePollsAndWarnsOnce() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(oneStep)
            // A store on a server that is not there: its LISTEN cannot connect.
            var nowhere = PostgresClient.Configuration(host: "127.0.0.1", port: try ThrowawayPostgres.freePort(),
                                                       username: "postgres", password: nil, database: "postgres", tls: .disable)
            nowhere.options.connectTimeout = .milliseconds(200)
            let deadClient = PostgresClient(configuration: nowhere, backgroundLogger: TestPostgres.quietLogger)
            let capture = LogCapture()
            let deadStore = try PostgresStore(client: deadClient, configuration: .init(schema: store.configuration.schema),
                                              logger: capture.logger)
            var configuration = SequencerService.Configuration()
            configuration.interval = .milliseconds(200)
            var deadWakeUps = PostgresWakeUps(store: deadStore)
            deadWakeUps.connectionWarningDelay = .milliseconds(300)
            let service = SequencerService(sequencer, configuration: configuration, wakeUps: deadWakeUps, logger: testLogger)
            let events = service.events()
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await deadClient.run() }
                group.addTask { try await service.run() }
                let id = try await sequencer.enroll("u", in: oneStep.name)
                // Polled every 200 ms; the bound is generous because a loaded machine delays everything.
                #expect(report(try await firstEvent(events, within: 30) { (report($0)?.completed ?? 0) > 0 }) != nil)
                #expect(try await sequencer.enrollment(id).status == .completed, "processed by the poll")
                try await Task.sleep(for: .seconds(1))
                group.cancelAll()
            }
            #expect(capture.count(.warning, containing: "cannot listen") == 1, "one warning, not one per attempt")
        }
    }

    @Test func shutdownMidBatchHoldsNoLeaseAndLosesNothing() async throws {
        try await withStore { store in
            let blocker = Blocker()
            let sequencer = Sequencer(store: store, runners: .builtIn + [blocker], logger: testLogger)
            try await sequencer.register(SequenceDefinition(name: "stuck", version: 1) {
                Step.goTo("first", target: "send")
                Step(id: "send", runner: "Block")
            })
            let ids = try await sequencer.enroll((0..<5).map { EnrollmentRequest(subject: "u\($0)") }, in: "stuck")
            var configuration = SequencerService.Configuration()
            configuration.shutdownTimeout = .milliseconds(300)
            let service = SequencerService(sequencer, configuration: configuration, logger: testLogger)
            try await testGracefulShutdown { trigger in
                let running = Task { try await service.run() }
                while blocker.entered.withLock({ $0 }) < 5 { try await Task.sleep(for: .milliseconds(10)) }
                trigger.triggerGracefulShutdown()
                try await running.value
            }
            let leased: Int = try await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE lease_owner IS NOT NULL")
            #expect(leased == 0, "no lease is held after a graceful shutdown")
            for id in ids {
                let e = try await sequencer.enrollment(id)
                #expect(e.stepID == "send" && e.attempts == 0 && e.status == .active)
                #expect(try await sequencer.history(of: id).map(\.kind) == [.enrolled, .advanced])
            }
            // Another ticker picks them up at once and, with a runner that answers, finishes them once.
            let other = Sequencer(store: store, runners: .builtIn + [Answering()], logger: testLogger)
            let report = try await other.tick()
            #expect(report.claimed == 5 && report.completed == 5)
            let duplicates: Int = try await store.scalar("""
                SELECT count(*) FROM (SELECT 1 FROM {s}.events WHERE kind IN ('advanced', 'altAdvanced')
                GROUP BY enrollment_id, from_step, visit HAVING count(*) > 1) AS d
                """)
            #expect(duplicates == 0)
        }
    }

    /// The service keeps going through a database restart, and resumes by itself.
    @Test(.timeLimit(.minutes(2)))
    func theServiceResumesAfterTheServerRestarts() async throws {
        let cluster = try await ThrowawayPostgres.start()
        defer { Task { try? await cluster.stop() } }
        var clientConfiguration = try DatabaseURL(cluster.url).clientConfiguration()
        clientConfiguration.options.connectTimeout = .seconds(1)
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: TestPostgres.quietLogger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            let store = try PostgresStore(client: client, configuration: .init(schema: "restart"), logger: testLogger)
            try await store.migrate()
            var tuning = Sequencer.Configuration()
            tuning.claimTimeout = .seconds(1)
            // Whatever a restart leaves leased is free again soon: the test is about resuming.
            tuning.leaseDuration = .seconds(5)
            let sequencer = Sequencer(store: store, configuration: tuning, logger: testLogger)
            try await sequencer.register(oneStep)
            let capture = LogCapture()
            let service = restartTestService(sequencer, interval: .milliseconds(200), capture: capture)
            let events = service.events()
            group.addTask { try await service.run() }

            func statusEventually(_ id: UUID) async throws -> EnrollmentStatus {
                var status = try await sequencer.enrollment(id).status
                for _ in 0..<300 where status != .completed {
                    try await Task.sleep(for: .milliseconds(100))
                    status = try await sequencer.enrollment(id).status
                }
                return status
            }
            let before = try await sequencer.enroll("before", in: oneStep.name)
            #expect(try await statusEventually(before) == .completed)

            // Fast, not immediate: the throwaway cluster runs with synchronous_commit=off, so an
            // immediate stop may lose the last fraction of a second of commits.
            try await cluster.stopServer(.fast)
            _ = try await firstEvent(events, within: 15) { if case .failed = $0 { true } else { false } }
            try await Task.sleep(for: .seconds(1))
            try await cluster.startServer()

            // The client reconnects; enroll (retrying while its pool comes back) and the service does the rest.
            var after: UUID?
            var lastError: (any Error)?
            for _ in 0..<100 where after == nil {
                do {
                    after = try await sequencer.enroll("after", in: oneStep.name)
                } catch {
                    lastError = error
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            let id = try #require(after, "enroll after the restart kept failing: \(String(describing: lastError))")
            #expect(try await statusEventually(id) == .completed, "ticking resumed without a restart")
            let warnings = capture.count(.warning, containing: "tick failed")
            let logged = capture.lines.withLock { $0.filter { $0.0 >= .warning }.map(\.1) }
            #expect(warnings >= 1 && warnings <= 5, "failed ticks are logged at most about once a second: \(warnings) in \(logged)")
            group.cancelAll()
        }
    }

    /// PostgreSQL restarts (fast and immediate, down 0-1 s) and killed connections
    /// (`pg_terminate_backend` of every other backend: the service's pool and its LISTEN
    /// connection) while the service drains work that keeps arriving. A feeder enrolls small
    /// batches with idempotency keys, retrying each until it is stored. Pass: every enrollment
    /// completes along its path, no step is applied twice, the service ticks again after every
    /// restart without being restarted, and failed ticks are logged at most about once a second.
    ///
    /// Faults: `SEQUENCER_RESTART_FAULTS` (default 4). With 30 this test hung before the store
    /// stopped waiting on queries written to connections that had just closed (PostgresNIO 1.33).
    @Test(.timeLimit(.minutes(10)))
    func theServiceKeepsItsWorkThroughRestartsAndKilledConnections() async throws {
        let faults = ProcessInfo.processInfo.environment["SEQUENCER_RESTART_FAULTS"].flatMap(Int.init) ?? 4
        let cluster = try await ThrowawayPostgres.start()
        defer { Task { try? await cluster.stop() } }
        var clientConfiguration = try DatabaseURL(cluster.url).clientConfiguration()
        clientConfiguration.options.connectTimeout = .seconds(1)
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: TestPostgres.quietLogger)
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            // The throwaway cluster commits asynchronously (set on its command line); an immediate stop would
            // lose acknowledged commits. Sessions from here on commit synchronously (a database setting
            // outranks the command line), and the fast restart and the killed connections before the first
            // immediate stop replace every earlier session.
            try await client.query("""
                DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = on', current_database()); END $$
                """, logger: testLogger)
            let store = try PostgresStore(client: client, configuration: .init(schema: "restarts"), logger: testLogger)
            try await store.migrate()
            var tuning = Sequencer.Configuration()
            tuning.claimTimeout = .seconds(1)
            tuning.leaseDuration = .seconds(2)
            tuning.batchSize = 20
            tuning.stepBudget = 1
            let sequencer = Sequencer(store: store, configuration: tuning, logger: testLogger)
            try await sequencer.register(threeSteps)
            let capture = LogCapture()
            let service = restartTestService(sequencer, interval: .milliseconds(50), capture: capture)
            group.addTask { try await service.run() }

            /// Runs `body` until it succeeds (the pool reconnects after a restart).
            func retrying<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
                var lastError: (any Error)?
                for _ in 0..<300 {
                    do { return try await body() } catch {
                        lastError = error
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                throw TestTimeout(what: "\(what) kept failing: \(String(describing: lastError))")
            }
            let feeding = Mutex(true)
            let fed = Mutex(0)
            let feederDone = Mutex(false)
            group.addTask {
                defer { feederDone.withLock { $0 = true } }
                var batch = 0
                while feeding.withLock({ $0 }) {
                    let requests = (0..<10).map {
                        EnrollmentRequest(subject: "user-\(batch)-\($0)", idempotencyKey: "feed-\(batch)-\($0)")
                    }
                    _ = try await retrying("enroll") { try await sequencer.enroll(requests, in: threeSteps.name) }
                    fed.withLock { $0 += requests.count }
                    batch += 1
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            var slowestResume: Duration = .zero
            for fault in 0..<faults {
                try await Task.sleep(for: .milliseconds(Int.random(in: 500...1_500)))
                if fault.isMultiple(of: 2) {
                    try await cluster.stopServer(fault.isMultiple(of: 4) ? .fast : .immediate)
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...1_000)))
                    try await cluster.startServer()
                    // Ticking resumes without a restart of the service: a step advanced after the server is back.
                    let back = clock.now
                    let mark: Int = try await retrying("reading the last event") {
                        try await store.scalar("SELECT coalesce(max(id), 0) FROM {s}.events")
                    }
                    var resumed = false
                    while !resumed, clock.now - back < .seconds(60) {
                        let advanced: Int? = try? await store.scalar(
                            "SELECT count(*) FROM {s}.events WHERE id > \(mark) AND kind = 'advanced'")
                        resumed = (advanced ?? 0) > 0
                        if !resumed { try await Task.sleep(for: .milliseconds(20)) }
                    }
                    #expect(resumed, "the service advanced steps again after restart \(fault / 2 + 1)")
                    slowestResume = max(slowestResume, clock.now - back)
                } else {
                    _ = try await retrying("pg_terminate_backend") {
                        try await store.scalar("""
                            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                            WHERE pid <> pg_backend_pid() AND datname = current_database()
                            """)
                    }
                }
            }
            feeding.withLock { $0 = false }
            // The feeder finishes its batch and stops (cancelled in its pause, it would fail the group).
            for _ in 0..<6_000 where !feederDone.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            // Drained: nothing left to do, or no progress for 20 s (a stuck service fails the invariants).
            var remaining = -1, progressAt = clock.now
            while remaining != 0, clock.now - progressAt < .seconds(20) {
                let now: Int = (try? await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE status <> 'completed'")) ?? -1
                if now != remaining { progressAt = clock.now }
                remaining = now
                if remaining != 0 { try await Task.sleep(for: .milliseconds(200)) }
            }
            let total = fed.withLock { $0 }
            let invariants = try await retrying("the invariants") { try await HistoryInvariants.read(store) }
            #expect(invariants.enrollments >= total)
            #expect(invariants == .clean(invariants.enrollments), "\(invariants)")
            let seconds = (clock.now - started).timeInterval
            let warnings = capture.count(.warning, containing: "tick failed")
            #expect(warnings <= Int(seconds) + faults, "failed ticks logged at most about once a second: \(warnings) in \(seconds) s")
            print("restarts: \(faults) faults (\((faults + 1) / 2) restarts), \(invariants.enrollments) enrollments in "
                  + "\(Int(seconds)) s, slowest resume after a restart \(slowestResume), "
                  + "\(warnings) failed-tick warnings: \(invariants)")
            group.cancelAll()
        }
    }
}

/// A service for the restart tests: ticks every `interval`, backs off at most 1 s after a failed
/// tick, and logs into `capture` (the tests count its failed-tick warnings).
func restartTestService(_ sequencer: Sequencer, interval: Duration, capture: LogCapture) -> SequencerService {
    var configuration = SequencerService.Configuration()
    configuration.interval = interval
    configuration.backoff.maximum = .seconds(1)
    // No retention pass: one failing at the start of the outage shares the failed-tick warnings'
    // rate limit (one a second), and could hold back the warning these tests count.
    configuration.retention = nil
    return SequencerService(sequencer, configuration: configuration, logger: capture.logger)
}

/// A runner that blocks until cancelled.
final class Blocker: TaskRunner {
    let name = "Block"
    let entered = Mutex(0)
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        entered.withLock { $0 += batch.count }
        try await Task.sleep(for: .seconds(3_600))
        return batch.map { $0.result(.next) }
    }
}

/// The same step name, answering at once.
struct Answering: TaskRunner {
    let name = "Block"
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
}

/// A count shared with a listener's callback.
final class SharedCount: Sendable {
    let value = Mutex(0)
}
