import Foundation
import InMemoryTracing
import Logging
import MetricsTestKit
@testable import Sequencer
import SequencerTesting
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing
import Tracing

/// A runner that blocks until its task is cancelled (a send that never returns), counting calls.
final class BlockingRunner: TaskRunner {
    let name = "Block"
    let entered = Mutex(0)
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        entered.withLock { $0 += batch.count }
        try await Task.sleep(for: .seconds(3_600))
        return batch.map { $0.result(.next) }
    }
}

/// Waits for the first event that matches, or fails after `seconds` of real time.
func expectEvent(_ events: AsyncStream<SequencerService.Event>, within seconds: Double = 10,
                 _ matches: @escaping @Sendable (SequencerService.Event) -> Bool) async throws -> SequencerService.Event {
    try #require(try await events.first(within: .seconds(seconds), where: matches), "no matching event within \(seconds) s")
}

func ticked(_ event: SequencerService.Event) -> TickReport? {
    if case .ticked(let report) = event { report } else { nil }
}

@Suite("SequencerService")
struct ServiceTests {
    static let twoSteps = SequenceDefinition(name: "two", version: 1) {
        Step.goTo("a", target: "b")
        Step(id: "b", runner: "Record")
    }

    @Test func anEnrollmentWakesTheServiceWithoutWaitingForThePoll() async throws {
        let clock = ManualClock()
        let sequencer = makeSequencer([RecordingRunner()])
        try await sequencer.register(Self.twoSteps)
        var configuration = SequencerService.Configuration()
        configuration.retention = nil   // one sleeper on the manual clock: the loop
        configuration.interval = .seconds(3_600)
        configuration.debounce = .zero
        let service = SequencerService(sequencer, configuration: configuration, clock: clock, now: { t0 })
        let events = service.events()
        let running = Task { try await service.run() }
        _ = try await expectEvent(events) { ticked($0) != nil }   // the first, empty tick
        await clock.waitForSleepers(1)
        let id = try await sequencer.enroll("u", in: "two", now: t0)
        let report = try #require(ticked(try await expectEvent(events) { (ticked($0)?.claimed ?? 0) > 0 }))
        #expect(report.completed == 1 && clock.now.offset == .zero, "ticked at once, without the clock moving")
        #expect(try await sequencer.enrollment(id).status == .completed)
        running.cancel()
        try await running.value
    }

    @Test func withoutWakeUpsItPollsEveryInterval() async throws {
        let clock = ManualClock()
        let sequencer = makeSequencer([RecordingRunner()])
        try await sequencer.register(Self.twoSteps)
        var configuration = SequencerService.Configuration()
        configuration.retention = nil   // one sleeper on the manual clock: the loop
        configuration.interval = .seconds(10)
        configuration.wakeUps = .pollOnly
        let service = SequencerService(sequencer, configuration: configuration, clock: clock, now: { t0 })
        let events = service.events()
        let running = Task { try await service.run() }
        _ = try await expectEvent(events) { ticked($0) != nil }
        await clock.waitForSleepers(1)
        let id = try await sequencer.enroll("u", in: "two", now: t0)
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await sequencer.enrollment(id).status == .active, "not processed before the poll")
        clock.advance(by: .seconds(10))
        _ = try await expectEvent(events) { (ticked($0)?.claimed ?? 0) > 0 }
        #expect(try await sequencer.enrollment(id).status == .completed)
        running.cancel()
        try await running.value
    }

    @Test func fullBatchesTickAgainAtOnce() async throws {
        let clock = ManualClock()
        let sequencer = makeSequencer([RecordingRunner()]) {
            $0.batchSize = 10
            $0.maxBatchesPerTick = 1
        }
        try await sequencer.register(Self.twoSteps)
        _ = try await sequencer.enroll((0..<25).map { EnrollmentRequest(subject: "u\($0)") }, in: "two", now: t0)
        var configuration = SequencerService.Configuration()
        configuration.retention = nil   // one sleeper on the manual clock: the loop
        configuration.wakeUps = .pollOnly
        let service = SequencerService(sequencer, configuration: configuration, clock: clock, now: { t0 })
        let events = service.events()
        let running = Task { try await service.run() }
        var claims: [Int] = []
        for await event in events {
            guard let report = ticked(event) else { continue }
            claims.append(report.claimed)
            if report.claimed < 10 { break }
        }
        #expect(claims == [10, 10, 5], "three ticks back to back, the clock never moved")
        #expect(clock.now.offset == .zero)
        running.cancel()
        try await running.value
    }

    @Test func aFailingStoreIsRetriedWithBackoffAndTheServiceResumes() async throws {
        let clock = ManualClock()
        let store = FlakyStore(failures: 3)
        let sequencer = makeSequencer([RecordingRunner()], store: store)
        try await sequencer.register(Self.twoSteps)
        let id = try await sequencer.enroll("u", in: "two", now: t0)
        var configuration = SequencerService.Configuration()
        configuration.retention = nil   // one sleeper on the manual clock: the loop
        configuration.wakeUps = .pollOnly
        configuration.backoff.jitter = 0
        let service = SequencerService(sequencer, configuration: configuration, clock: clock, now: { t0 })
        let events = service.events()
        let running = Task { try await service.run() }
        for expected in [Duration.milliseconds(100), .milliseconds(200), .milliseconds(400)] {
            _ = try await expectEvent(events) { if case .failed = $0 { true } else { false } }
            await clock.waitForSleepers(1)
            clock.advance(by: expected)
        }
        _ = try await expectEvent(events) { (ticked($0)?.completed ?? 0) == 1 }
        #expect(try await sequencer.enrollment(id).status == .completed)
        running.cancel()
        try await running.value
    }

    @Test func retentionRunsWhenTheServiceStartsAndEveryIntervalAfter() async throws {
        let sequencer = makeSequencer()
        try await sequencer.register(SequenceDefinition(name: "two", version: 1) { Step.goTo("a", target: Step.end) })
        let first = try await sequencer.enroll("old", in: "two", now: t0)
        _ = try await sequencer.tick(now: t0)
        let now = Mutex(t0.addingTimeInterval(31 * 86_400))
        let clock = ManualClock()
        var configuration = SequencerService.Configuration()
        configuration.wakeUps = .pollOnly
        configuration.interval = .seconds(3_600)   // the loop and the pass sleep alike: one advance wakes both
        let service = SequencerService(sequencer, configuration: configuration, clock: clock, now: { now.withLock { $0 } })
        let events = service.events()
        let running = Task { try await service.run() }
        @Sendable func pruned(_ event: SequencerService.Event) -> PruneReport? { if case .pruned(let r) = event { r } else { nil } }
        let report = try await expectEvent(events) { pruned($0) != nil }
        #expect(pruned(report)?.enrollments == 1)
        await #expect(throws: SequencerError.self) { try await sequencer.enrollment(first) }

        let second = try await sequencer.enroll("later", in: "two", now: t0.addingTimeInterval(31 * 86_400))
        _ = try await sequencer.tick(now: t0.addingTimeInterval(31 * 86_400))
        now.withLock { $0 = t0.addingTimeInterval(62 * 86_400) }
        let later = service.events()   // a consumer's cancellation ends its stream: a new one
        await clock.waitForSleepers(2)
        clock.advance(by: .seconds(3_600))
        let again = try await expectEvent(later) { pruned($0) != nil }
        #expect(pruned(again)?.enrollments == 1)
        await #expect(throws: SequencerError.self) { try await sequencer.enrollment(second) }
        running.cancel()
        try await running.value
    }

    @Test func gracefulShutdownLetsTheBatchInFlightFinish() async throws {
        let slow = SlowRunner(milliseconds: 300)
        let sequencer = makeSequencer([slow])
        try await sequencer.register(SequenceDefinition(name: "slow", version: 1) { Step(id: "s", runner: "Slow") })
        let ids = try await sequencer.enroll((0..<3).map { EnrollmentRequest(subject: "u\($0)") }, in: "slow", now: t0)
        let service = SequencerService(sequencer, now: { t0 })
        try await testGracefulShutdown { trigger in
            let running = Task { try await service.run() }
            while slow.entered.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }  // in its runner
            trigger.triggerGracefulShutdown()
            try await running.value
        }
        for id in ids { #expect(try await sequencer.enrollment(id).status == .completed) }
    }

    @Test func pastTheShutdownTimeoutWorkDoneIsCommittedAndTheRestReleased() async throws {
        let clock = ManualClock()
        let blocker = BlockingRunner()
        let sequencer = makeSequencer([blocker])
        try await sequencer.register(SequenceDefinition(name: "stuck", version: 1) {
            Step.goTo("first", target: "send")
            Step(id: "send", runner: "Block")
        })
        let ids = try await sequencer.enroll((0..<3).map { EnrollmentRequest(subject: "u\($0)") }, in: "stuck", now: t0)
        var configuration = SequencerService.Configuration()
        configuration.retention = nil   // one sleeper on the manual clock: the loop
        configuration.shutdownTimeout = .seconds(5)
        let service = SequencerService(sequencer, configuration: configuration, clock: clock, now: { t0 })
        let events = service.events()
        try await testGracefulShutdown { trigger in
            let running = Task { try await service.run() }
            while blocker.entered.withLock({ $0 }) < 3 { try await Task.sleep(for: .milliseconds(5)) }
            trigger.triggerGracefulShutdown()
            await clock.waitForSleepers(1)   // the shutdown timeout
            clock.advance(by: .seconds(5))
            try await running.value
        }
        let report = try #require(ticked(try await expectEvent(events) { ticked($0) != nil }))
        #expect(report.jumped == 3 && report.retried == 0 && report.failed == 0, "\(report)")
        for id in ids {
            let e = try await sequencer.enrollment(id)
            #expect(e.stepID == "send" && e.status == .active && e.attempts == 0, "the GoTo was committed, the send left to run again")
            #expect(try await sequencer.history(of: id).map(\.kind) == [.enrolled, .advanced], "nothing counted twice, no retry")
        }
        // No lease is held: another ticker takes them at once.
        let taken = try await sequencer.store.claim(ClaimRequest(now: t0, limit: 10, owner: "next", leaseDuration: .seconds(60)))
        #expect(taken.count == 3)
    }

    @Test func aCancelledTickIsNotAFailedAttemptAndHoldsNoLease() async throws {
        let blocker = BlockingRunner()
        let sequencer = makeSequencer([blocker])
        try await sequencer.register(SequenceDefinition(name: "stuck", version: 1) { Step(id: "send", runner: "Block") })
        let id = try await sequencer.enroll("u", in: "stuck", now: t0)
        // The README's hand-written loop, cancelled the way a ServiceGroup cancels on SIGTERM.
        let loop = Task {
            while !Task.isCancelled {
                _ = try await sequencer.tick(now: t0)
            }
        }
        while blocker.entered.withLock({ $0 }) < 1 { try await Task.sleep(for: .milliseconds(5)) }
        loop.cancel()
        _ = try? await loop.value
        let e = try await sequencer.enrollment(id)
        #expect(e.attempts == 0 && e.lastError == nil && e.status == .active)
        #expect(try await sequencer.history(of: id).map(\.kind) == [.enrolled])
        let taken = try await sequencer.store.claim(ClaimRequest(now: t0, limit: 10, owner: "next", leaseDuration: .seconds(60)))
        #expect(taken.count == 1, "released, not left leased")
    }

    @Test func metricsAndSpansAreRecorded() async throws {
        let metrics = TestMetrics()
        let tracer = InMemoryTracer()
        let sequencer = makeSequencer([RecordingRunner(), ThrowingRunner()]) {
            $0.metricsFactory = metrics
            $0.tracer = tracer
            $0.retry.maxAttempts = 1
        }
        try await sequencer.register(Self.twoSteps)
        try await sequencer.register(SequenceDefinition(name: "boom", version: 1) { Step(id: "t", runner: "Throw") })
        _ = try await sequencer.enroll((0..<4).map { EnrollmentRequest(subject: "u\($0)") }, in: "two", now: t0)
        _ = try await sequencer.enroll("x", in: "boom", now: t0)
        _ = try await sequencer.tick(now: t0.addingTimeInterval(5))

        #expect(metrics.counterTotal(label: "sequencer_ticks_total") == 1)
        #expect(metrics.counterTotal(label: "sequencer_claimed_total") == 5)
        #expect(metrics.counterTotal(label: "sequencer_steps_total",
                                     dimensions: [("sequence", "two"), ("step", "a"), ("action", "goTo")]) == 4)
        #expect(metrics.counterTotal(label: "sequencer_steps_total",
                                     dimensions: [("sequence", "two"), ("step", "b"), ("action", "next")]) == 4)
        #expect(metrics.counterTotal(label: "sequencer_steps_total",
                                     dimensions: [("sequence", "boom"), ("step", "t"), ("action", "retry")]) == 1)
        #expect(metrics.counterTotal(label: "sequencer_completed_total", dimensions: [("sequence", "two")]) == 4)
        #expect(metrics.counterTotal(label: "sequencer_failed_total", dimensions: [("sequence", "boom"), ("step", "t")]) == 1)
        #expect(metrics.counterTotal(label: "sequencer_enrollments_created_total", dimensions: [("sequence", "two")]) == 4)
        let tick = try metrics.expectTimer("sequencer_tick_duration")
        #expect(tick.values.count == 1)
        let runner = try metrics.expectTimer("sequencer_runner_duration", [("runner", "Record")])
        #expect(runner.values.count == 1)
        let lag = try metrics.expectTimer("sequencer_due_lag")
        #expect(lag.values.count == 5 && lag.values.allSatisfy { $0 >= 5_000_000_000 }, "claimed 5 s after they were due")

        let spans = tracer.finishedSpans
        #expect(spans.filter { $0.operationName == "sequencer.tick" }.count == 1)
        let runnerSpans = spans.filter { $0.operationName == "sequencer.runner" }
        #expect(runnerSpans.count == 3)
        let recordSpan = try #require(runnerSpans.first { $0.attributes["sequencer.runner"]?.toSpanAttribute() == "Record" })
        #expect(recordSpan.attributes["sequencer.sequence"]?.toSpanAttribute() == "two")
        #expect(recordSpan.attributes["sequencer.step"]?.toSpanAttribute() == "b")
        #expect(recordSpan.attributes["sequencer.batch_size"]?.toSpanAttribute() == 4)
    }
}

/// A runner that takes a while (real time) and then moves on.
final class SlowRunner: TaskRunner {
    let name = "Slow"
    let milliseconds: Int
    let entered = Mutex(0)
    init(milliseconds: Int) { self.milliseconds = milliseconds }
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        entered.withLock { $0 += 1 }
        try await Task.sleep(for: .milliseconds(milliseconds))
        return batch.map { $0.result(.next) }
    }
}

/// The service ticks with the store's clock: a store an hour ahead of this host makes an
/// enrollment due in 30 minutes (by this host's clock) due now, and its history records the
/// store's time; the store's clock is read once, then carried forward.
@Suite("SequencerService's clock")
struct ServiceClockTests {
    @Test func theServiceTicksWithTheStoresClockReadOnceAndCarriedForward() async throws {
        let store = AheadStore()
        let sequencer = makeSequencer([RecordingRunner()], store: store)
        try await sequencer.register(ServiceTests.twoSteps)
        let id = try await sequencer.enroll("u", in: "two", now: Date().addingTimeInterval(1_800))
        var configuration = SequencerService.Configuration()
        configuration.retention = nil
        let service = SequencerService(sequencer, configuration: configuration)
        let first = try await service.tickOnce()
        let second = try await service.tickOnce()
        #expect(first.completed + second.completed == 1, "due by the store's clock, an hour ahead")
        let completed = try #require(try await sequencer.history(of: id).last)
        #expect(abs(completed.at.timeIntervalSinceNow - 3_600) < 60, "history in the store's time: \(completed.at)")
        #expect(store.reads.withLock { $0 } == 3, "one resync (three reads), then carried forward")
    }

    @Test func aStoreWithoutAClockLeavesTheHostsClock() async throws {
        let sequencer = makeSequencer([RecordingRunner()])
        try await sequencer.register(ServiceTests.twoSteps)
        let id = try await sequencer.enroll("u", in: "two", now: Date().addingTimeInterval(1_800))
        let service = SequencerService(sequencer)
        #expect(try await service.tickOnce().claimed == 0, "not due by this host's clock")
        #expect(try await sequencer.enrollment(id).status == .active)
    }
}

/// An in-memory store whose clock is an hour ahead of this host's, counting its reads.
final class AheadStore: ForwardingStore {
    let inner: any SequenceStore = InMemoryStore()
    let reads = Mutex(0)
    func storeTime() async throws -> Date? {
        reads.withLock { $0 += 1 }
        return Date().addingTimeInterval(3_600)
    }
}

/// An in-memory store whose first `failures` claims fail, as a database that is down would.
final class FlakyStore: ForwardingStore {
    struct Down: Error, CustomStringConvertible { var description: String { "connection refused" } }
    let inner: any SequenceStore = InMemoryStore()
    let remaining: Mutex<Int>
    init(failures: Int) { remaining = Mutex(failures) }
    func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] {
        if remaining.withLock({ $0 -= 1; return $0 >= 0 }) { throw Down() }
        return try await inner.claim(request)
    }
}

/// Answers claims late, and cannot be cancelled: a query the server already received.
final class LateClaims: ForwardingStore {
    let inner: any SequenceStore = InMemoryStore()
    func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] {
        let inner = self.inner
        return try await Task {
            try await Task.sleep(for: .milliseconds(300))
            return try await inner.claim(request)
        }.value
    }
}

@Suite("Claim timeout")
struct ClaimTimeoutTests {
    @Test func aClaimThatAnswersAfterTheTimeoutIsUsedNotLeftLeased() async throws {
        let store = LateClaims()
        let sequencer = makeSequencer(store: store) { $0.claimTimeout = .milliseconds(50) }
        try await sequencer.register(SequenceDefinition(name: "s", version: 1) { Step.goTo("a", target: Step.end) })
        let id = try await sequencer.enroll("u", in: "s", now: t0)
        let report = try await sequencer.tick(now: t0)
        #expect(report.claimed == 1 && report.completed == 1, "\(report)")
        #expect(try await sequencer.enrollment(id).status == .completed)
    }
}
