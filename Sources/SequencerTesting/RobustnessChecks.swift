public import Foundation
public import Sequencer
import Synchronization

/// Hostile input through the public API, against any store: what must end in a clear error,
/// never a crash, a stall or anything stored half-way.
///
/// Each check gets a fresh, empty store and the deliveries ledger that goes with it (the store
/// itself for `PostgresStore`, an `InMemoryDeliveryLedger` for the in-memory store):
///
/// ```swift
/// for check in RobustnessChecks.checks {   // or one @Test(arguments: RobustnessChecks.checks) case each
///     try await check.run(InMemoryStore(), ledger: InMemoryDeliveryLedger())
/// }
/// ```
public enum RobustnessChecks {
    /// One named check.
    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        let body: @Sendable (any SequenceStore, any DeliveryLedger) async throws -> Void

        /// Runs the check against an empty store and its ledger.
        public func run(_ store: any SequenceStore, ledger: any DeliveryLedger) async throws {
            try await body(store, ledger)
        }

        public var description: String { name }
    }

    /// Every check.
    public static let checks: [Check] = [
        Check(name: "dates outside the calendar are refused, naming the argument", body: datesOutOfRange),
        Check(name: "a wake time past the last date fails the step instead of trapping", body: wakeTimesPastTheLastDate),
        Check(name: "contexts nested 100,000 deep are refused, not a stack overflow", body: deepContexts),
        Check(name: "a 50 MB context is refused, and so is an update that grows past the limit", body: largeContexts),
        Check(name: "long subjects and keys are refused before anything of a bulk enroll is stored", body: longStrings),
        Check(name: "a backtracking pattern cannot stall a tick", body: catastrophicPatterns),
        Check(name: "a batch slower than its lease keeps its lease", body: slowBatchKeepsItsLease),
        Check(name: "a crash while recording a send repeats that one message, not the batch", body: crashWhileRecording),
    ]

    static let waits = SequenceDefinition(name: "waits", version: 1) {
        Step.waitForDuration("wait", 1, "days")
    }

    static func sequencer(_ store: any SequenceStore, _ runners: [any TaskRunner] = [],
                          configure: (inout Sequencer.Configuration) -> Void = { _ in }) -> Sequencer {
        var configuration = Sequencer.Configuration()
        configuration.retry.jitter = 0
        configure(&configuration)
        return Sequencer(store: store, runners: .builtIn + runners, configuration: configuration)
    }

    /// Expects `body` to throw a ``SequencerError`` with `code` and `field`.
    static func expectError(_ code: SequencerError.Code, field: String?, _ what: String,
                            _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as SequencerError {
            try expect(error.code == code && (field == nil || error.field == field),
                       "\(what): expected \(code) naming \(field ?? "-"), got \(error)")
            return
        }
        throw ConformanceFailure("\(what): expected \(code), but nothing was thrown")
    }

    // MARK: Dates

    static let badDates: [(String, Date)] = [
        ("NaN", Date(timeIntervalSince1970: .nan)),
        ("year 300,000", Date(timeIntervalSince1970: 9_400_000_000_000)),
        ("1e13 seconds since 1970", Date(timeIntervalSince1970: 1e13)),
        ("-1e13 seconds since 1970", Date(timeIntervalSince1970: -1e13)),
        ("infinity", Date(timeIntervalSince1970: .infinity)),
    ]

    static func datesOutOfRange(_ store: any SequenceStore, _ ledger: any DeliveryLedger) async throws {
        let sequencer = sequencer(store)
        try await sequencer.register(waits)
        let id = try await sequencer.enroll("kept", in: "waits", now: t0)
        for (label, date) in badDates {
            try await expectError(.outOfRange, field: "now", "tick at \(label)") { try await sequencer.tick(now: date) }
            try await expectError(.outOfRange, field: "now", "enroll at \(label)") {
                try await sequencer.enroll("u-\(label)", in: "waits", now: date)
            }
            try await expectError(.outOfRange, field: "now", "updateContext at \(label)") {
                try await sequencer.updateContext(id, merging: ["a": 1], now: date)
            }
            try await expectError(.outOfRange, field: "now", "pause at \(label)") { try await sequencer.pause(id, now: date) }
        }
        let kept = try await sequencer.enrollment(id)
        try expect(kept.status == .active && kept.context == [:] && kept.nextRunAt == t0, "nothing changed: \(kept)")
        try expect(try await sequencer.history(of: id).map(\.kind) == [.enrolled], "no history written")
        let report = try await sequencer.tick(now: t0)
        try expect(report.claimed == 1, "only the good enrollment exists and ticks")
    }

    /// A runner that answers `noop(until:)` with the wake time in its config (seconds since 1970).
    struct WakeAt: TaskRunner {
        let name = "WakeAt"
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { input in
                let seconds = input.context["wake"]?.numberValue ?? .nan
                return input.result(.noop(until: Date(timeIntervalSince1970: seconds)))
            }
        }
    }

    static func wakeTimesPastTheLastDate(_ store: any SequenceStore, _ ledger: any DeliveryLedger) async throws {
        let sequencer = sequencer(store, [WakeAt()]) { $0.retry.maxAttempts = 1 }
        try await sequencer.register(SequenceDefinition(name: "far", version: 1) {
            Step.waitForDuration("long", 10_000, "years")
        })
        try await sequencer.register(SequenceDefinition(name: "custom", version: 1) {
            Step(id: "wake", runner: "WakeAt")
        })
        let late = Date(timeIntervalSince1970: 253_000_000_000)  // 9987
        let far = try await sequencer.enroll("far", in: "far", now: late)
        let beyond = try await sequencer.enroll("beyond", in: "custom", context: ["wake": 1e15], now: late)
        let notADate = try await sequencer.enroll("nan", in: "custom", context: ["x": 1], now: late)
        let fine = try await sequencer.enroll("fine", in: "custom", context: ["wake": 253_400_000_000], now: late)
        _ = try await sequencer.tick(now: late)
        let farState = try await sequencer.enrollment(far)
        try expect(farState.status == .failed && (farState.lastError ?? "").contains("9999-12-31"),
                   "a 10,000-year wait from 9987 fails, saying why: \(farState)")
        let beyondState = try await sequencer.enrollment(beyond)
        try expect(beyondState.status == .failed, "a wake time past 9999 fails the step: \(beyondState)")
        let nanState = try await sequencer.enrollment(notADate)
        try expect(nanState.status == .failed && (nanState.lastError ?? "").contains("not a date"),
                   "a NaN wake time is retried, then fails: \(nanState)")
        let fineState = try await sequencer.enrollment(fine)
        try expect(fineState.status == .active && fineState.nextRunAt == Date(timeIntervalSince1970: 253_400_000_000),
                   "a wake time inside the range is kept: \(fineState)")
    }

    // MARK: Depth and size

    /// `{"a": {"a": … {"a": 1}}}`, `depth` levels, built in Swift without recursion.
    static func nested(_ depth: Int) -> JSONValue {
        var value: JSONValue = 1
        for _ in 0..<depth { value = ["a": value] }
        return value
    }

    /// A value 100,000 levels deep, built once and never freed: Swift's own deallocation of a
    /// value that deep recurses once per level and overflows the stack, in whatever code drops
    /// it last. Sequencer refuses it without copying it into anything it would free, and never
    /// builds one from JSON text (the reader stops at ``JSONValue/maximumDepth``).
    static let hundredThousandDeep: JSONValue = nested(100_000)

    static func deepContexts(_ store: any SequenceStore, _ ledger: any DeliveryLedger) async throws {
        let sequencer = sequencer(store)
        try await sequencer.register(waits)
        try await expectError(.limitExceeded, field: nil, "a context 100,000 deep") {
            try await sequencer.enroll("deep", in: "waits", context: ["deep": hundredThousandDeep], now: t0)
        }
        let id = try await sequencer.enroll("ok", in: "waits", context: ["ok": nested(200)], now: t0)
        try await expectError(.limitExceeded, field: nil, "a context update 100,000 deep") {
            try await sequencer.updateContext(id, merging: ["deep": hundredThousandDeep], now: t0)
        }
        try await expectError(.limitExceeded, field: nil, "a context update that makes it 257 deep") {
            try await sequencer.updateContext(id, merging: ["ok": nested(256)], now: t0)
        }
        let text = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        do {
            _ = try JSONValue(json: text)
            throw ConformanceFailure("JSON text 100,000 deep was parsed")
        } catch let error as SequencerError {
            try expect(error.code == .malformedJSON && error.line == 1, "JSON 100,000 deep: \(error)")
        }
        try expect(try await sequencer.enrollment(id).context == ["ok": nested(200)], "the context is unchanged")
    }

    static func largeContexts(_ store: any SequenceStore, _ ledger: any DeliveryLedger) async throws {
        let sequencer = sequencer(store) { $0.limits.maximumContextBytes = 64 << 10 }
        try await sequencer.register(waits)
        let fiftyMB = String(repeating: "x", count: 50 << 20)
        try await expectError(.limitExceeded, field: "context", "a 50 MB context") {
            try await sequencer.enroll("big", in: "waits", context: ["blob": .string(fiftyMB)], now: t0)
        }
        let id = try await sequencer.enroll("small", in: "waits", context: ["n": 1], now: t0)
        let halfLimit = String(repeating: "y", count: 40 << 10)
        _ = try await sequencer.updateContext(id, merging: ["first": .string(halfLimit)], now: t0)
        try await expectError(.limitExceeded, field: "context", "an update that grows the context past the limit") {
            try await sequencer.updateContext(id, merging: ["second": .string(halfLimit)], now: t0)
        }
        let context = try await sequencer.enrollment(id).context
        try expect(context["second"] == nil && context["first"] != nil, "the refused update left nothing behind")
        let count = try await store.history(of: id).filter { $0.kind == .contextUpdated }.count
        try expect(count == 1, "one update recorded, got \(count)")
    }

    static func longStrings(_ store: any SequenceStore, _ ledger: any DeliveryLedger) async throws {
        let sequencer = sequencer(store)
        try await sequencer.register(waits)
        let long = String(repeating: "é", count: 1_500)  // 3,000 bytes of UTF-8
        var requests = (0..<2_000).map { EnrollmentRequest(subject: "user-\($0)", idempotencyKey: "k-\($0)") }
        requests.append(EnrollmentRequest(subject: long))
        try await expectError(.limitExceeded, field: "subject", "a 3 KB subject at the end of a bulk enroll") {
            _ = try await sequencer.enroll(requests, in: "waits", now: t0)
        }
        try expect(try await store.enrollment(sequence: "waits", idempotencyKey: "k-0") == nil,
                   "no enrollment of the refused call was stored")
        try await expectError(.limitExceeded, field: "idempotencyKey", "a 3 KB idempotency key") {
            try await sequencer.enroll("u", in: "waits", idempotencyKey: long, now: t0)
        }
        try await expectError(.limitExceeded, field: "name", "a 3 KB sequence name") {
            try await sequencer.register(SequenceDefinition(name: long, version: 1) { Step.goTo("a", target: Step.end) })
        }
        try await expectError(.limitExceeded, field: "id", "a 3 KB step id") {
            try await sequencer.register(SequenceDefinition(name: "ids", version: 1) { Step.goTo(long, target: Step.end) })
        }
        let report = try await sequencer.tick(now: t0)
        try expect(report.claimed == 0, "nothing was enrolled")
    }

    // MARK: Regular expressions

    static let backtrackers = [#"^(a+)+$"#, #"(a|aa)+$"#, #"(a|a?)+b"#, #"^(\w+\s?)*$"#, #"(x+x+)+y"#, #"(.*a){20}"#,
                               #"^(a?){30}a{30}$"#]

    static func catastrophicPatterns(_ store: any SequenceStore, _ ledger: any DeliveryLedger) async throws {
        let sequencer = sequencer(store)
        var subjects: [String: String] = [:]
        for (index, pattern) in backtrackers.enumerated() {
            let name = "regex-\(index)"
            try await sequencer.register(SequenceDefinition(name: name, version: 1) {
                Step.conditional("check", .compare(.matches, .get("text"), .raw(.string(pattern))), altNext: "no")
                Step.goTo("yes", target: Step.end)
                Step.waitForDuration("no", 1, "days")
            })
            // 30 characters stall a backtracking engine for seconds; 2,000 for longer than the universe.
            for (length, suffix) in [(30, "!"), (2_000, "!"), (29, "")] {
                let text = String(repeating: "a", count: length) + suffix
                let id = try await sequencer.enroll("\(name)-\(length)\(suffix)", in: name, context: ["text": .string(text)], now: t0)
                subjects["\(id)"] = "\(pattern) on \(length) a's\(suffix)"
            }
        }
        let report = try await sequencer.tick(now: t0)
        try expect(report.claimed == subjects.count && report.failed == 0, "every enrollment ran: \(report)")
    }

    // MARK: Leases

    /// A runner that takes `seconds` of real time.
    final class Slow: TaskRunner {
        let name = "Slow"
        let seconds: Double
        let calls = Mutex(0)
        init(seconds: Double) { self.seconds = seconds }
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            calls.withLock { $0 += batch.count }
            try await Task.sleep(for: .seconds(seconds))
            return batch.map { $0.result(.next) }
        }
    }

    static func slowBatchKeepsItsLease(_ store: any SequenceStore, _ ledger: any DeliveryLedger) async throws {
        // Generous margins: renewals run on the cooperative pool, which other work can keep busy.
        let slow = Slow(seconds: 8)
        let lease = Duration.seconds(5)
        let spy = RenewSpy(store)
        let a = sequencer(spy, [slow]) { $0.leaseDuration = lease; $0.owner = "slow" }
        let b = sequencer(store, [slow]) { $0.leaseDuration = lease; $0.owner = "eager" }
        try await a.register(SequenceDefinition(name: "slow", version: 1) { Step(id: "work", runner: "Slow") })
        let id = try await a.enroll("u", in: "slow", now: t0)
        let clock = ContinuousClock()
        let started = clock.now
        // Both tickers follow real time, as tickers on a real clock do.
        func now() -> Date { t0.addingTimeInterval((clock.now - started).timeInterval) }
        async let first = a.tick(now: now())
        var stolen: [Duration] = []
        // The other ticker starts once the slow one holds the batch and runs it.
        while slow.calls.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        let batchStarted = clock.now
        while clock.now - started < .milliseconds(8_300) {
            if try await b.tick(now: now()).claimed > 0 { stolen.append(clock.now - started) }
            try await Task.sleep(for: .milliseconds(40))
        }
        let report = try await first
        let attempts = spy.renewals.withLock { $0 }
        let renewals = attempts.map { "\($0.0 - started): \($0.1)" }
        // A machine can stall this process longer than the lease (renewals run on the shared
        // concurrency pool); the ticker is then as good as dead and being taken over is right.
        // Only a take-over while renewals kept coming in time is a failure.
        let starts = [batchStarted] + attempts.map(\.0)
        let stalled = zip(starts, starts.dropFirst()).contains { $1 - $0 >= lease }
            || (starts.last.map { clock.now - $0 >= lease } ?? false)
        if stolen.isEmpty || !stalled {
            try expect(stolen.isEmpty, "another ticker took the live batch at \(stolen); renewals: \(renewals)")
            try expect(report.fencedOut == 0 && report.advanced == 1, "the slow ticker committed its work: \(report)")
            try expect(slow.calls.withLock { $0 } == 1, "the step ran once")
        } else {
            try expect(report.fencedOut == 1, "the stalled ticker's late commit was fenced out: \(report)")
        }
        try expect(try await a.enrollment(id).status == .completed, "completed")
    }

    /// Forwards to a store, noting when each renewal happened and what it did.
    final class RenewSpy: ForwardingStore {
        let inner: any SequenceStore
        let renewals = Mutex<[(ContinuousClock.Instant, String)]>([])
        init(_ inner: any SequenceStore) { self.inner = inner }
        func renew(_ request: RenewRequest) async throws -> RenewResult {
            let started = ContinuousClock.now
            do {
                let result = try await inner.renew(request)
                renewals.withLock { $0.append((started, "renewed \(result.renewed), lost \(result.lost.count), took \(ContinuousClock.now - started)")) }
                return result
            } catch {
                renewals.withLock { $0.append((started, "\(error)")) }
                throw error
            }
        }
    }

    // MARK: Sends

    /// A transport that accepts every message and counts deliveries per idempotency key.
    final class CountingTransport: EmailTransport {
        let deliveries = Mutex<[String: Int]>([:])
        func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
            deliveries.withLock { counts in for m in messages { counts[m.idempotencyKey, default: 0] += 1 } }
            return messages.map { .sent(providerID: "id-\($0.idempotencyKey)") }
        }
    }

    /// A store that stops working, for good, once ``die()`` is called: what another process sees
    /// of a ticker that was killed (its leases are no longer renewed, it never commits).
    final class DyingStore: ForwardingStore {
        let inner: any SequenceStore
        let dead = Mutex(false)
        init(_ inner: any SequenceStore) { self.inner = inner }
        func die() { dead.withLock { $0 = true } }
        struct Dead: Error {}
        /// A dead process neither renews nor commits: fail those calls (rather than hang, so the
        /// test can end the zombie task afterwards).
        private func hangIfDead() async throws {
            if dead.withLock({ $0 }) { throw Dead() }
        }
        func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] {
            try await hangIfDead()
            return try await inner.claim(request)
        }
        func commit(_ request: CommitRequest) async throws -> CommitResult {
            try await hangIfDead()
            return try await inner.commit(request)
        }
        func renew(_ request: RenewRequest) async throws -> RenewResult {
            try await hangIfDead()
            return try await inner.renew(request)
        }
        func release(_ request: ReleaseRequest) async throws -> Int {
            try await hangIfDead()
            return try await inner.release(request)
        }
    }

    /// A ledger through which the process "dies" the `n`th time it is asked to record a send:
    /// that call and every later one never return, and the store dies with it.
    final class FreezingLedger: ForwardingLedger {
        let inner: any DeliveryLedger
        let freezeAt: Int
        let store: DyingStore
        let calls = Mutex(0)
        init(_ inner: any DeliveryLedger, freezeAt: Int, store: DyingStore) {
            self.inner = inner
            self.freezeAt = freezeAt
            self.store = store
        }
        func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws {
            let call = calls.withLock { $0 += 1; return $0 }
            if call >= freezeAt {
                store.die()
                try await Task.sleep(for: .seconds(86_400))
            }
            try await inner.markSent(sent, now: now)
        }
    }

    static func crashWhileRecording(_ store: any SequenceStore, _ ledger: any DeliveryLedger) async throws {
        let transport = CountingTransport()
        let dying = DyingStore(store)
        let frozen = FreezingLedger(ledger, freezeAt: 11, store: dying)
        let email = EmailRunner(transport: transport, ledger: frozen, inFlightTimeout: .seconds(120))
        let first = sequencer(dying, [email]) {
            $0.owner = "crashes"
            $0.leaseDuration = .milliseconds(500)
        }
        try await first.register(json: #"""
            {"name": "welcome", "version": 1, "steps": [
              {"id": "welcome", "runner": "Email", "config": {"from": "hi@example.com", "to": ["{{email}}"],
                                                              "subject": "Welcome", "text": "Hello"}}]}
            """#)
        _ = try await first.enroll((0..<50).map { EnrollmentRequest(subject: "u\($0)", context: ["email": .string("u\($0)@example.com")]) },
                                   in: "welcome", now: t0)
        // The first ticker records ten sends, then dies while recording the eleventh.
        let crashed = Task { try await first.tick(now: t0) }
        for _ in 0..<500 where frozen.calls.withLock({ $0 }) < 11 { try await Task.sleep(for: .milliseconds(10)) }
        try expect(frozen.calls.withLock { $0 } == 11, "the ticker reached the eleventh send")

        // Another process takes the work over once the dead ticker's lease has expired (database
        // stores measure it in real time) and its in-flight reservations are stale.
        let second = sequencer(store, [EmailRunner(transport: transport, ledger: ledger, inFlightTimeout: .seconds(120))]) {
            $0.owner = "takes-over"
        }
        var report = TickReport()
        for _ in 0..<200 where report.claimed == 0 {
            report = try await second.tick(now: t0.addingTimeInterval(3_600))
            if report.claimed == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        let counts = transport.deliveries.withLock { $0 }
        let repeated = counts.values.filter { $0 > 1 }.count
        crashed.cancel()
        _ = try? await crashed.value
        try expect(report.claimed == 50 && counts.count == 50, "every enrollment was sent: \(report), \(counts.count) keys")
        try expect(repeated <= 1, "\(repeated) messages were sent twice; at most the one being recorded may be")
    }
}
