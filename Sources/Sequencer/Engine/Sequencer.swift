public import Foundation
public import Logging
import Metrics
import Synchronization
import Tracing

/// Runs sequences: registers definitions, enrolls subjects, and advances due enrollments on each tick.
///
/// The host owns the clock: call ``tick(now:)`` from a timer (every second is
/// typical). Each tick leases a batch of due enrollments, runs each step's
/// runner once per group of enrollments at that step, keeps going through steps
/// that finish at once, and writes every outcome back, fenced by the lease.
/// Many processes may tick against one store at once.
///
/// ```swift
/// let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + [MyRunner()], logger: logger)
/// try await sequencer.register(definition)        // validates; errors name the step and field
/// let id = try await sequencer.enroll("user-42", in: "trial-onboarding", context: ["email": "a@example.com"])
/// let report = try await sequencer.tick()          // or tick(now:) with a simulated clock
/// ```
public final class Sequencer: Sendable {
    /// Tuning for ticks. Every field has a default.
    public struct Configuration: Sendable {
        /// Enrollments leased per claim. Default 500.
        public var batchSize: Int = 500
        /// Claim-process-commit rounds one tick may run before returning. Default 20.
        public var maxBatchesPerTick: Int = 20
        /// Steps one enrollment may run in one tick; one that uses them all (a GoTo loop)
        /// yields and is due again after ``yieldDelay``. Default 100.
        public var stepBudget: Int = 100
        /// How long a claim is leased; an enrollment whose ticker died is picked up after this. Default 60 s.
        public var leaseDuration: Duration = .seconds(60)
        /// How thrown runner errors are retried.
        public var retry = RetryPolicy()
        /// When a runner returns ``RunnerAction/noop`` without a date, look again after this. Default 5 minutes.
        public var noopInterval: Duration = .seconds(300)
        /// How long an enrollment that used its step budget waits before it is due again. Default 1 s.
        public var yieldDelay: Duration = .seconds(1)
        /// The time zone used when neither the context nor the sequence names one. Default UTC.
        public var defaultTimeZone: TimeZone = TimeZone(identifier: "UTC")!
        /// This ticker's lease owner name. Default: host name, process id and a random suffix.
        public var owner: String = Configuration.defaultOwner()

        public init() {}

        static func defaultOwner() -> String {
            let info = ProcessInfo.processInfo
            return "\(info.hostName)-\(info.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())"
        }
    }

    /// The store cursors live in.
    public let store: any SequenceStore
    public let configuration: Configuration
    let runners: [String: any TaskRunner]
    let logger: Logger
    private let definitions = Mutex<[DefinitionKey: PreparedDefinition]>([:])

    struct DefinitionKey: Hashable { let name: String; let version: Int }

    /// Creates a sequencer.
    ///
    /// - Parameters:
    ///   - store: where definitions and cursors live (``InMemoryStore``, or `PostgresStore`).
    ///   - runners: the runners steps may name; a later runner replaces an earlier one of the same name.
    ///     Start from ``Swift/Array/builtIn``.
    ///   - configuration: tuning; the defaults suit most hosts.
    ///   - logger: `.info` per tick that did work, `.debug` per transition.
    public init(
        store: any SequenceStore, runners: [any TaskRunner] = .builtIn, configuration: Configuration = .init(),
        logger: Logger = Logger(label: "sequencer")
    ) {
        self.store = store
        self.configuration = configuration
        var byName: [String: any TaskRunner] = [:]
        for runner in runners { byName[runner.name] = runner }
        self.runners = byName
        self.logger = logger
    }

    // MARK: Definitions

    /// Validates and stores a definition.
    ///
    /// Validation catches an empty sequence, duplicate step ids, unknown runners,
    /// `next`/`altNext`/GoTo targets that do not exist, GoTo-only cycles, templates that do
    /// not parse and configs a runner rejects. Each error is a ``SequencerError`` naming the
    /// sequence, step and field; nothing is stored when validation fails.
    ///
    /// Registering an equal definition again is a no-op. A changed definition needs a greater version.
    ///
    /// - Returns: `true` when stored, `false` when an equal one was already stored.
    @discardableResult
    public func register(_ definition: SequenceDefinition) async throws -> Bool {
        try DefinitionValidator(runners: runners).validate(definition)
        let stored = try await store.saveDefinition(definition)
        let prepared = PreparedDefinition(definition)
        definitions.withLock { $0[DefinitionKey(name: definition.name, version: definition.version)] = prepared }
        logger.info("registered sequence", metadata: [
            "sequencer.sequence": "\(definition.name)", "sequencer.version": "\(definition.version)",
            "sequencer.stored": "\(stored)",
        ])
        return stored
    }

    /// Decodes a JSON definition and registers it (see ``register(_:)`` and
    /// ``SequenceDefinition/init(json:)``).
    @discardableResult
    public func register(json: String) async throws -> Bool {
        try await register(SequenceDefinition(json: json))
    }

    /// Reads a JSON definition from a file and registers it. Every error, from reading the JSON
    /// to validating the steps, carries the file's path in ``SequencerError/file``.
    @discardableResult
    public func register(contentsOf url: URL) async throws -> Bool {
        let definition = try SequenceDefinition(contentsOf: url)
        do {
            return try await register(definition)
        } catch var error as SequencerError {
            error.file = url.path
            throw error
        }
    }

    /// A stored definition; the latest version when `version` is `nil`.
    public func definition(_ name: String, version: Int? = nil) async throws -> SequenceDefinition {
        guard let found = try await preparedDefinition(name, version: version) else {
            throw SequencerError(.unknownSequence, version.map { "version \($0) is not registered" } ?? "no such sequence",
                                 sequence: name, version: version)
        }
        return found.definition
    }

    /// The definition from the cache or the store; `nil` when it is not stored.
    func preparedDefinition(_ name: String, version: Int?) async throws -> PreparedDefinition? {
        if let version, let cached = definitions.withLock({ $0[DefinitionKey(name: name, version: version)] }) {
            return cached
        }
        guard let found = try await store.definition(named: name, version: version) else { return nil }
        let prepared = PreparedDefinition(found)
        definitions.withLock { $0[DefinitionKey(name: found.name, version: found.version)] = prepared }
        return prepared
    }

    // MARK: Enrollments

    /// Enrolls a subject in the latest (or a given) version of a sequence, due at once.
    ///
    /// With an idempotency key, enrolling again with the same key in the same sequence
    /// returns the first enrollment's id and changes nothing.
    ///
    /// - Parameters:
    ///   - subject: the host's id for the person or thing.
    ///   - sequence: the sequence name.
    ///   - version: a registered version; `nil` for the latest.
    ///   - context: a JSON object that templates and conditions read.
    ///   - idempotencyKey: makes the call safe to repeat.
    ///   - now: the enrollment time (and its first due time).
    ///   - transaction: writes inside the host's own transaction instead of the store's
    ///     (``EnrollmentWriter``; `PostgresStore.transaction(on:)`), so a rollback leaves no enrollment.
    @discardableResult
    public func enroll(
        _ subject: String, in sequence: String, version: Int? = nil, context: JSONValue = [:],
        idempotencyKey: String? = nil, now: Date = Date(), within transaction: (any EnrollmentWriter)? = nil
    ) async throws -> UUID {
        try await enroll([EnrollmentRequest(subject: subject, context: context, idempotencyKey: idempotencyKey)],
                         in: sequence, version: version, now: now, within: transaction)[0]
    }

    /// Enrolls many subjects in one call; idempotent per key.
    ///
    /// Every request is checked before any is stored. The store writes them in batches
    /// (`PostgresStore`: `enrollBatchSize`, each batch atomic; repeating the call with the same
    /// keys finishes a call that failed part-way).
    ///
    /// - Parameter transaction: writes inside the host's own transaction (see
    ///   ``enroll(_:in:version:context:idempotencyKey:now:within:)``).
    /// - Returns: the enrollment ids, in request order.
    @discardableResult
    public func enroll(
        _ requests: [EnrollmentRequest], in sequence: String, version: Int? = nil, now: Date = Date(),
        within transaction: (any EnrollmentWriter)? = nil
    ) async throws -> [UUID] {
        let enrollments = try await newEnrollments(requests, in: sequence, version: version, now: now)
        let results = try await (transaction ?? store).enroll(enrollments)
        // Inside the host's transaction nothing is counted: it may still roll back.
        if transaction == nil {
            Counter(label: "sequencer_enrollments_created_total").increment(by: results.filter(\.created).count)
        }
        return results.map(\.enrollment.id)
    }

    /// The enrollments an enroll call asks for, from the sequence's definition; every request is
    /// checked (``EnrollmentRequest``'s rules) before the caller stores any.
    func newEnrollments(
        _ requests: [EnrollmentRequest], in sequence: String, version: Int?, now: Date
    ) async throws -> [Enrollment] {
        let definition = try await definition(sequence, version: version)
        return try requests.map { try $0.enrollment(in: definition, now: now) }
    }

    /// Merges members into an enrollment's context. An active enrollment becomes due at once,
    /// so the next tick re-checks its goals (and re-evaluates its current step).
    ///
    /// - Parameter transaction: writes inside the host's own transaction (see ``EnrollmentWriter``).
    @discardableResult
    public func updateContext(_ id: UUID, merging patch: [String: JSONValue], now: Date = Date(),
                              within transaction: (any EnrollmentWriter)? = nil) async throws -> Enrollment {
        try await (transaction ?? store).change(id, .mergeContext(patch), now: now)
    }

    /// Cancels an enrollment for good. An in-flight tick's outcome for it is discarded.
    ///
    /// - Parameter transaction: writes inside the host's own transaction (see ``EnrollmentWriter``),
    ///   so an unsubscribe and its record commit together.
    @discardableResult
    public func cancel(_ id: UUID, now: Date = Date(), within transaction: (any EnrollmentWriter)? = nil) async throws
        -> Enrollment
    {
        try await (transaction ?? store).change(id, .cancel, now: now)
    }

    /// Pauses an active enrollment: ticks skip it until ``resume(_:now:within:)``.
    @discardableResult
    public func pause(_ id: UUID, now: Date = Date(), within transaction: (any EnrollmentWriter)? = nil) async throws
        -> Enrollment
    {
        try await (transaction ?? store).change(id, .pause, now: now)
    }

    /// Resumes a paused enrollment, due at once.
    @discardableResult
    public func resume(_ id: UUID, now: Date = Date(), within transaction: (any EnrollmentWriter)? = nil) async throws
        -> Enrollment
    {
        try await (transaction ?? store).change(id, .resume, now: now)
    }

    /// An enrollment's current state.
    public func enrollment(_ id: UUID) async throws -> Enrollment {
        guard let e = try await store.enrollment(id) else {
            throw SequencerError(.unknownEnrollment, "no enrollment with id \(id)")
        }
        return e
    }

    /// An enrollment's history, oldest first.
    public func history(of id: UUID) async throws -> [HistoryEvent] {
        try await store.history(of: id)
    }

    // MARK: Tick

    /// Advances every due enrollment, up to ``Configuration/maxBatchesPerTick`` batches.
    ///
    /// - Parameter now: the tick's time. Pass a simulated time in tests; enrollments due at or
    ///   before it are processed, and waits compute their wake times from it.
    @discardableResult
    public func tick(now: Date = Date()) async throws -> TickReport {
        let clock = ContinuousClock()
        let start = clock.now
        var report = TickReport()
        try await withSpan("sequencer.tick") { span in
            for _ in 0..<max(1, configuration.maxBatchesPerTick) {
                let claimed = try await store.claim(ClaimRequest(
                    now: now, limit: configuration.batchSize, owner: configuration.owner,
                    leaseDuration: configuration.leaseDuration))
                if claimed.isEmpty { break }
                let batch = try await BatchRun(sequencer: self, now: now, claimed: claimed).run()
                report.add(batch)
                if claimed.count < configuration.batchSize { break }
            }
            span.attributes["sequencer.claimed"] = report.claimed
            span.attributes["sequencer.steps"] = report.steps
        }
        report.elapsed = clock.now - start
        Timer(label: "sequencer_tick_duration").recordNanoseconds(
            report.elapsed.components.seconds * 1_000_000_000 + report.elapsed.components.attoseconds / 1_000_000_000)
        if report.claimed > 0 {
            logger.info("tick", metadata: [
                "sequencer.claimed": "\(report.claimed)", "sequencer.steps": "\(report.steps)",
                "sequencer.completed": "\(report.completed)", "sequencer.failed": "\(report.failed)",
                "sequencer.fencedOut": "\(report.fencedOut)", "sequencer.elapsed": "\(report.elapsed)",
            ])
        }
        return report
    }
}
