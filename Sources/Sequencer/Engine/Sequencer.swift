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
    /// The store cursors live in.
    public let store: any SequenceStore
    public let configuration: Configuration
    let runners: [String: any TaskRunner]
    let logger: Logger
    let observability: Observability
    /// ``Configuration/timeZoneKeys``, each marked when it is a dotted path (split only then).
    let timeZoneKeys: [(key: String, isPath: Bool)]
    private let definitions = Mutex<[DefinitionKey: PreparedDefinition]>([:])
    /// When this process last folded the store's funnel counters (``Configuration/statisticsFoldInterval``).
    let lastFold = Mutex<ContinuousClock.Instant?>(nil)
    /// The tick time at which this process last fired schedules (``Configuration/firesSchedules``).
    let lastScheduleCheck = Mutex<Date?>(nil)
    /// Where ``lifecycleEvents()`` streams come from.
    let lifecycle = Broadcast<LifecycleEvent>()
    /// The store's ``SequenceStore/callbackSecret()``, read once.
    let callbackSecret = Mutex<[UInt8]?>(nil)

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
        let (sanitized, notes) = configuration.sanitized()
        for note in notes { logger.warning("configuration adjusted", metadata: ["sequencer.note": "\(note)"]) }
        self.store = store
        self.configuration = sanitized
        var byName: [String: any TaskRunner] = [:]
        for runner in runners { byName[runner.name] = runner }
        self.runners = byName
        self.logger = logger
        self.observability = Observability(factory: sanitized.metricsFactory, tracer: sanitized.tracer)
        self.timeZoneKeys = sanitized.timeZoneKeys.map { key in (key, key.contains { $0 == "." || $0 == "[" }) }
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
        try DefinitionValidator(runners: runners, limits: configuration.limits).validate(definition)
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
        try await definition(name, version: version, via: nil)
    }

    /// Every registered definition version, by name then version.
    ///
    /// ```swift
    /// for version in try await sequencer.definitionVersions() {
    ///     print(version.name, version.version, version.steps)
    /// }
    /// ```
    public func definitionVersions() async throws -> [DefinitionVersion] {
        try await store.definitionVersions()
    }

    /// ``definition(_:version:)``, read through `writer` when given (a host's transaction).
    func definition(_ name: String, version: Int?, via writer: (any EnrollmentWriter)?) async throws
        -> SequenceDefinition
    {
        guard let found = try await preparedDefinition(name, version: version, via: writer) else {
            throw SequencerError(.unknownSequence, version.map { "version \($0) is not registered" } ?? "no such sequence",
                                 sequence: name, version: version)
        }
        return found.definition
    }

    /// The definition from the cache or the store (read through `writer` when given: a host's
    /// transaction); `nil` when it is not stored.
    func preparedDefinition(_ name: String, version: Int?, via writer: (any EnrollmentWriter)? = nil) async throws
        -> PreparedDefinition?
    {
        if let version, let cached = definitions.withLock({ $0[DefinitionKey(name: name, version: version)] }) {
            return cached
        }
        guard let found = try await (writer ?? store).definition(named: name, version: version) else { return nil }
        let prepared = PreparedDefinition(found)
        definitions.withLock { $0[DefinitionKey(name: found.name, version: found.version)] = prepared }
        return prepared
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

    /// The enrollment an idempotency key created in a sequence, or `nil`: how a host finds the
    /// enrollment behind its own key ("the welcome drip of order 42") without keeping the id.
    public func enrollment(sequence: String, idempotencyKey: String) async throws -> Enrollment? {
        try await store.enrollment(sequence: sequence, idempotencyKey: idempotencyKey)
    }

    /// A subject's enrollments in every sequence, newest first: "where is user 42?".
    ///
    /// - Parameter limit: at most this many (default 100).
    public func enrollments(subject: String, limit: Int = 100) async throws -> [Enrollment] {
        try await store.enrollments(subject: subject, limit: limit)
    }
}
