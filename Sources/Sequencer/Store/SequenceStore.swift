public import Foundation

/// Where definitions, enrollment cursors and history live.
///
/// Every call is batch-shaped so a database store can serve each in a constant
/// number of round trips: ``claim(_:)`` leases a whole batch in one
/// statement, ``commit(_:)`` writes every outcome and history row of a batch at
/// once. ``InMemoryStore`` (tests, demos) and `PostgresStore` (the
/// `SequencerPostgres` module) implement it, and one conformance suite runs
/// against both.
///
/// **Fencing.** Each claim gives the enrollment a new fencing token; so does
/// every change made through ``EnrollmentWriter/change(_:_:now:)``. A commit applies an outcome
/// only when the row still carries the token it was claimed with, so a ticker
/// whose lease expired (and was re-claimed) or whose enrollment was paused,
/// cancelled or updated meanwhile cannot overwrite the newer state.
public protocol SequenceStore: EnrollmentWriter {
    /// Stores a definition unless the same `(name, version)` is already stored with equal content.
    ///
    /// - Returns: `true` when stored, `false` when an equal definition was already there.
    /// - Throws: ``SequencerError/Code/versionConflict`` when that version is stored with other
    ///   content, or when a greater version of the sequence is stored.
    func saveDefinition(_ definition: SequenceDefinition) async throws -> Bool

    /// The definition with this name and version; the greatest version when `version` is `nil`.
    func definition(named name: String, version: Int?) async throws -> SequenceDefinition?

    /// Every registered definition version, by name then version: what a dashboard or a
    /// command line lists. Definitions are few (one row per version), so this reads them all.
    func definitionVersions() async throws -> [DefinitionVersion]

    /// Creates enrollments, idempotent per `(sequenceName, idempotencyKey)`: an enrollment whose
    /// key already exists is not created, and its result is the existing enrollment. Results are
    /// in request order. Writes an `enrolled` history event for each created enrollment.
    func enroll(_ enrollments: [Enrollment]) async throws -> [EnrollResult]

    /// Leases up to `limit` active enrollments due at `now` (and not leased by a live lease). An
    /// enrollment whose previous lease expired unreleased is returned with one more attempt and
    /// ``Lease/expiryMessage(owner:step:)`` as its `lastError` (crash loops end).
    func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment]

    /// Writes the outcomes and history of a processed batch, fenced by each outcome's token,
    /// and releases their leases. Events of fenced-out enrollments are dropped with them.
    func commit(_ request: CommitRequest) async throws -> CommitResult

    /// Extends the leases of a batch still being processed, so a slow but live ticker keeps its
    /// work. Only leases still held (same owner, same fence, still active) are extended; the
    /// others are reported lost, and their commit will be fenced out.
    func renew(_ request: RenewRequest) async throws -> RenewResult

    /// Gives up leases without writing anything else, so another ticker can claim those
    /// enrollments at once instead of after the lease: what a ticker does with work it claimed
    /// but will not finish (it is shutting down, or its runners were cancelled). Only leases
    /// still held (same owner, same fence) are released; the cursor is left as it was.
    ///
    /// - Returns: how many leases were released.
    func release(_ request: ReleaseRequest) async throws -> Int

    /// Where a running ``SequencerService`` hears that an enrollment became due now (enrolled,
    /// resumed, its context updated), so it ticks at once instead of at its next poll; `nil`
    /// when the store cannot tell (the service then polls). The default is `nil`.
    var wakeUps: (any WakeUpSource)? { get }

    /// Applies `change` (see ``EnrollmentWriter/change(_:_:now:)``) to every active or paused
    /// enrollment of `subject`, in every sequence, atomically: each gets a new fencing token and
    /// its history event, and if the change is refused for one (a context over the limit), none
    /// changes. Served by the subject index; a database store locks and writes them in a constant
    /// number of statements. Returns them as changed, in creation order; none when the subject has none.
    func change(subject: String, _ change: EnrollmentChange, now: Date) async throws -> [Enrollment]

    /// The secret callback tokens are made with (``RunnerInput/callbackToken``): at least 32
    /// random bytes, the same for every process that shares the store, created once and never
    /// changed (a new secret invalidates every token handed out). `PostgresStore` keeps it in its
    /// schema; ``InMemoryStore`` makes one per store. The default is one random secret per process,
    /// right only for a store no two processes share.
    func callbackSecret() async throws -> [UInt8]

    /// One enrollment, or `nil`.
    func enrollment(_ id: UUID) async throws -> Enrollment?

    /// The enrollment for an idempotency key, or `nil`.
    func enrollment(sequence: String, idempotencyKey: String) async throws -> Enrollment?

    /// An enrollment's history, oldest first.
    func history(of id: UUID) async throws -> [HistoryEvent]

    /// A subject's enrollments in every sequence, newest first (by creation time, then id), at
    /// most `limit` of them. Served by an index on the subject, so its cost follows the
    /// subject's enrollments, not the table.
    func enrollments(subject: String, limit: Int) async throws -> [Enrollment]

    /// Deletes final enrollments that became final before the request's cutoff for their
    /// status, each with its history events and its deliveries-ledger rows, in transactions of
    /// `batchSize` enrollments with `pause` between them, so no transaction is long. Only one
    /// pass runs at a time per store (across processes, for a database store): a pass that
    /// finds another running returns at once with ``PruneReport/skipped``. A dry run counts and
    /// deletes nothing. Stops between batches when its task is cancelled.
    func prune(_ request: PruneRequest) async throws -> PruneReport

    /// A page of the enrollments that match a filter, newest first (by id: ids are
    /// time-ordered), at most `limit`, after a cursor a previous page returned. A page never
    /// repeats or skips an enrollment because others were created meanwhile.
    func enrollments(matching filter: EnrollmentFilter, after cursor: PageCursor?, limit: Int) async throws
        -> EnrollmentPage

    /// A page of an enrollment's history, oldest first, at most `limit` events after a cursor.
    func history(of id: UUID, after cursor: PageCursor?, limit: Int) async throws -> HistoryPage

    /// How many enrollments of a sequence version are at each step, in each status: an exact
    /// count of the version's rows (what ``Sequencer/migrateEnrollments(of:from:to:stepMap:by:now:)``
    /// checks). For dashboards, ``funnel(sequence:version:now:)`` answers without reading them.
    func stepCounts(sequence: String, version: Int) async throws -> [StepCount]

    /// The funnel of a sequence version at `now` (see ``FunnelStatistics``), steps in any order.
    /// A database store answers from counters and indexes, not by reading the version's
    /// enrollments: its cost follows the number of steps, what is due and what failed in the last hour.
    func funnel(sequence: String, version: Int, now: Date) async throws -> FunnelStatistics

    /// Folds pending counter changes into the funnel's totals, so funnel reads stay cheap. A
    /// database store records each statement's changes as small delta rows and folds them here;
    /// ``Sequencer/tick(now:)`` calls this every ``Sequencer/Configuration/statisticsFoldInterval``.
    /// Safe from many processes at once (one folds, the others return at once). Returns how many
    /// delta rows were folded; stores with nothing to fold return 0.
    func foldStatistics() async throws -> Int

    /// The store's own clock, when it has one: a database server's `clock_timestamp()`. A
    /// ``SequencerService`` ticks with it, so every process that shares the store agrees on
    /// what is due whatever its host's clock says. `nil` (the default) when the store has no
    /// clock of its own: the host's clock decides.
    func storeTime() async throws -> Date?

    // MARK: Schedules (see ScheduleStore.swift; the defaults keep none)

    /// Every stored schedule, by name.
    func schedules() async throws -> [ScheduleState]

    /// One stored schedule, or `nil`.
    func schedule(named name: String) async throws -> ScheduleState?

    /// Reads a schedule (`nil` when there is none), hands it to `change`, and stores what
    /// `change` returns (`nil` deletes it), atomically: no fire or other change of that schedule
    /// comes between the read and the write. Returns what was stored.
    func modifySchedule(named name: String, _ change: @escaping @Sendable (ScheduleState?) throws -> ScheduleState?) async throws
        -> ScheduleState?

    /// Fires the enabled schedules due at `now`, at most `limit` of them, each exactly once
    /// however many processes call this at once: each due schedule no other caller holds is
    /// locked (a database store: `FOR UPDATE SKIP LOCKED`), handed to `plan` with the enrollment
    /// its last fire created (`nil` when none, or pruned), and what `plan` returns is written in
    /// one transaction: its enrollments created (under their idempotency keys) and the schedule's
    /// new state. When creating the enrollments fails with an error about the request (not a
    /// store failure), the schedule's state from ``ScheduleFiring/refused(_:)`` is written
    /// instead. `plan` reads through the writer it is given (the transaction's connection).
    /// Returns the firings as written, with ``ScheduleFiring/results``.
    func fireSchedules(
        now: Date, limit: Int,
        plan: @escaping @Sendable (ScheduleState, _ lastEnrollment: Enrollment?, any EnrollmentWriter) async throws -> ScheduleFiring
    ) async throws -> [ScheduleFiring]
}

extension SequenceStore {
    /// Nothing to fold: the default for stores that keep their totals directly.
    public func foldStatistics() async throws -> Int { 0 }

    /// No clock of its own: the default (the in-memory store lives in the host's process).
    public func storeTime() async throws -> Date? { nil }
}

/// One registered version of a sequence, as ``SequenceStore/definitionVersions()`` lists it.
public struct DefinitionVersion: Sendable, Hashable {
    public var name: String
    public var version: Int
    /// How many steps it has.
    public var steps: Int
    /// When this version was stored.
    public var registeredAt: Date

    public init(name: String, version: Int, steps: Int, registeredAt: Date) {
        self.name = name
        self.version = version
        self.steps = steps
        self.registeredAt = registeredAt
    }
}

/// The answer to one enrollment of ``SequenceStore/enroll(_:)``.
public struct EnrollResult: Sendable, Hashable {
    /// The enrollment as stored: the one asked for, or the existing one with the same key.
    public var enrollment: Enrollment
    /// `false` when the idempotency key matched an existing enrollment.
    public var created: Bool

    public init(enrollment: Enrollment, created: Bool) {
        self.enrollment = enrollment
        self.created = created
    }
}

/// What a tick asks the store for.
public struct ClaimRequest: Sendable, Hashable {
    /// Enrollments with `nextRunAt <= now` are due.
    public var now: Date
    public var limit: Int
    /// Who holds the lease (``Sequencer/Configuration/owner``).
    public var owner: String
    /// How long the lease lasts. Database stores measure it with database time.
    public var leaseDuration: Duration

    public init(now: Date, limit: Int, owner: String, leaseDuration: Duration) {
        self.now = now
        self.limit = limit
        self.owner = owner
        self.leaseDuration = leaseDuration
    }
}

/// A lease on one enrollment: its id and the fencing token the lease was taken with.
public struct Lease: Sendable, Hashable {
    public var id: UUID
    public var fence: Int64

    public init(id: UUID, fence: Int64) {
        self.id = id
        self.fence = fence
    }

    /// What a claim records as the enrollment's `lastError` when it takes an enrollment whose
    /// previous lease expired (its holder never committed nor released it: it crashed, or stalled
    /// past the lease), split around the owner and the step so a SQL store can build the same text.
    /// Such a claim also counts one attempt of the step, so a step that crashes every ticker that
    /// runs it fails after ``RetryPolicy/maxAttempts`` instead of being claimed for ever.
    public static let expiryMessageParts = ("the lease of ", " expired while it ran step '", "' (the ticker crashed or stalled)")

    /// The message for an expired lease of `owner` at `step` (see ``expiryMessageParts``).
    public static func expiryMessage(owner: String, step: String?) -> String {
        let parts = expiryMessageParts
        return parts.0 + owner + parts.1 + (step ?? "") + parts.2
    }
}

/// What a ticker asks when it extends the leases of a batch it is still working on (see
/// ``SequenceStore/renew(_:)``).
public struct RenewRequest: Sendable, Hashable {
    /// The owner the leases were claimed by.
    public var owner: String
    public var leases: [Lease]
    /// The new lease runs this long from now. Database stores measure it with database time.
    public var leaseDuration: Duration
    /// The current time on the tick's clock (the tick's `now` plus the time the batch has run),
    /// for stores that measure leases with it (``InMemoryStore``).
    public var now: Date

    public init(owner: String, leases: [Lease], leaseDuration: Duration, now: Date) {
        self.owner = owner
        self.leases = leases
        self.leaseDuration = leaseDuration
        self.now = now
    }
}

/// Leases a ticker gives up (see ``SequenceStore/release(_:)``).
public struct ReleaseRequest: Sendable, Hashable {
    /// The owner the leases were claimed by.
    public var owner: String
    public var leases: [Lease]

    public init(owner: String, leases: [Lease]) {
        self.owner = owner
        self.leases = leases
    }
}

/// What ``SequenceStore/renew(_:)`` did.
public struct RenewResult: Sendable, Hashable {
    /// Leases extended.
    public var renewed: Int
    /// Enrollments whose lease was no longer this owner's (taken over after it expired, or
    /// changed by the host): their outcome will be fenced out.
    public var lost: [UUID]

    public init(renewed: Int, lost: [UUID]) {
        self.renewed = renewed
        self.lost = lost
    }
}

/// An enrollment leased to a ticker, with the fencing token its commit must present.
public struct ClaimedEnrollment: Sendable, Hashable {
    public var enrollment: Enrollment
    public var fence: Int64

    public init(enrollment: Enrollment, fence: Int64) {
        self.enrollment = enrollment
        self.fence = fence
    }
}

/// Everything a tick writes for one claimed batch (see ``SequenceStore/commit(_:)``).
public struct CommitRequest: Sendable, Hashable {
    /// The new cursor of one processed enrollment.
    public struct Outcome: Sendable, Hashable {
        /// The enrollment as the tick left it (its context is not written: contexts change only
        /// through ``EnrollmentWriter/change(_:_:now:)``).
        public var enrollment: Enrollment
        /// The token from ``ClaimedEnrollment/fence``.
        public var fence: Int64

        public init(enrollment: Enrollment, fence: Int64) {
            self.enrollment = enrollment
            self.fence = fence
        }
    }

    /// The lease owner that claimed the batch.
    public var owner: String
    public var outcomes: [Outcome]
    /// The batch's history, in order; events of enrollments whose outcome is fenced out are dropped.
    public var events: [HistoryEvent]

    public init(owner: String, outcomes: [Outcome], events: [HistoryEvent]) {
        self.owner = owner
        self.outcomes = outcomes
        self.events = events
    }
}

/// What a commit did.
public struct CommitResult: Sendable, Hashable {
    /// Outcomes written.
    public var applied: Int
    /// Enrollments whose token no longer matched: their outcome and events were dropped.
    public var fencedOut: [UUID]

    public init(applied: Int, fencedOut: [UUID]) {
        self.applied = applied
        self.fencedOut = fencedOut
    }
}

extension SequenceStore {
    /// No wake-ups: a ``SequencerService`` on this store polls.
    public var wakeUps: (any WakeUpSource)? { nil }

    /// One random secret for the process (see the requirement).
    public func callbackSecret() async throws -> [UInt8] { processCallbackSecret }
}

/// The default ``SequenceStore/callbackSecret()``.
private let processCallbackSecret: [UInt8] = {
    var generator = SystemRandomNumberGenerator()
    return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
}()
