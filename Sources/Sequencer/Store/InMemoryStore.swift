public import Foundation
import Synchronization

/// A ``SequenceStore`` in process memory: for tests, demos and single-process tools.
///
/// It keeps the same contract as the PostgreSQL store (leases, fencing,
/// idempotency keys, history) and passes the same conformance suite, but
/// nothing survives the process. Due enrollments are found through a min-heap
/// on their due time, so a claim costs what is due, not what is stored. Leases
/// are measured with the `now` the tick passes, so a simulated clock works.
public final class InMemoryStore: SequenceStore {
    private struct Record {
        var enrollment: Enrollment
        var fence: Int64 = 0
        var leaseOwner: String?
        var leaseExpiry: Date?
    }

    private struct State {
        var definitions: [String: [Int: SequenceDefinition]] = [:]
        var registeredAt: [String: [Int: Date]] = [:]
        var records: [UUID: Record] = [:]
        var keys: [String: UUID] = [:]
        var bySubject: [String: [UUID]] = [:]
        var events: [UUID: [HistoryEvent]] = [:]
        var due = DueHeap()
        /// The funnel's running totals, which retention does not reduce (see ``FunnelStatistics``).
        var reached: [FunnelKey: Int] = [:]
        var goals: [FunnelKey: Int] = [:]
        var enrolled: [FunnelKey: Int] = [:]

        mutating func schedule(_ id: UUID, at date: Date?) {
            if let date { due.push(date, id) }
        }

        /// The active or paused enrollment of `subject` in `sequence` that holds its sequence's
        /// one place per subject (``SequenceDefinition/uniqueSubject``), other than `except`.
        func holder(of subject: String, in sequence: String, except: UUID? = nil) -> Enrollment? {
            for id in bySubject[subject] ?? [] where id != except {
                guard let e = records[id]?.enrollment, e.sequenceName == sequence, e.uniqueSubject != nil,
                      e.status == .active || e.status == .paused
                else { continue }
                return e
            }
            return nil
        }

        /// Stores a record a host change applied to, with its event: a new fence, no lease,
        /// due when active. Returns the enrollment as changed.
        mutating func store(changed record: Record, _ event: HistoryEvent) -> Enrollment {
            var record = record
            let id = record.enrollment.id
            count(event, of: record.enrollment)
            record.fence += 1
            record.leaseOwner = nil
            record.leaseExpiry = nil
            records[id] = record
            events[id, default: []].append(event)
            if record.enrollment.status == .active { schedule(id, at: record.enrollment.nextRunAt) }
            return record.enrollment
        }

        /// Counts an event the store wrote for `enrollment` (as it is after the write) in the
        /// funnel's totals (``HistoryEvent/funnelEntry``, as the PostgreSQL store counts).
        mutating func count(_ event: HistoryEvent, of enrollment: Enrollment) {
            guard let entry = event.funnelEntry else { return }
            let step = FunnelKey(sequence: enrollment.sequenceName, version: enrollment.sequenceVersion, step: entry.step)
            reached[step, default: 0] += 1
            let version = FunnelKey(sequence: enrollment.sequenceName, version: enrollment.sequenceVersion, step: nil)
            if entry.isGoal { goals[version, default: 0] += 1 }
            if entry.entersVersion { enrolled[version, default: 0] += 1 }
        }
    }

    private struct FunnelKey: Hashable {
        var sequence: String
        var version: Int
        var step: String?
    }

    private let state = Mutex(State())
    private let signals = InMemoryWakeUps()
    private let pruning = Mutex(false)
    /// Schedules, and the names a fire is working on (see InMemoryStore+Schedules.swift).
    let scheduleTable = Mutex(ScheduleTable())
    /// This store's ``callbackSecret()``.
    private let secret: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }()

    public init() {}

    public func saveDefinition(_ definition: SequenceDefinition) async throws -> Bool {
        try state.withLock { state in
            let versions = state.definitions[definition.name] ?? [:]
            let store = try DefinitionVersioning.check(
                definition, existing: versions[definition.version], latestVersion: versions.keys.max())
            if store {
                state.definitions[definition.name, default: [:]][definition.version] = definition
                state.registeredAt[definition.name, default: [:]][definition.version] = Date()
            }
            return store
        }
    }

    public func definitionVersions() async throws -> [DefinitionVersion] {
        state.withLock { state in
            state.definitions.sorted { $0.key < $1.key }.flatMap { name, versions in
                versions.sorted { $0.key < $1.key }.map { version, definition in
                    DefinitionVersion(name: name, version: version, steps: definition.steps.count,
                                      registeredAt: state.registeredAt[name]?[version] ?? Date())
                }
            }
        }
    }

    public func definition(named name: String, version: Int?) async throws -> SequenceDefinition? {
        state.withLock { state in
            guard let versions = state.definitions[name] else { return nil }
            if let version { return versions[version] }
            return versions.keys.max().flatMap { versions[$0] }
        }
    }

    public func enroll(_ enrollments: [Enrollment]) async throws -> [EnrollResult] {
        for e in enrollments { try e.checkDates() }
        defer { if enrollments.contains(where: { $0.status == .active && $0.nextRunAt != nil }) { signals.wake() } }
        return try state.withLock { state in
            // A rejected subject refuses the whole call before anything is stored.
            var keys = Set<String>(), subjects = Set<String>()
            for e in enrollments {
                if let key = e.idempotencyKey {
                    let compound = Self.key(e.sequenceName, key)
                    if state.keys[compound] != nil || !keys.insert(compound).inserted { continue }
                }
                guard let policy = e.uniqueSubject else { continue }
                let taken = state.holder(of: e.subject, in: e.sequenceName) != nil
                    || !subjects.insert(Self.key(e.sequenceName, e.subject)).inserted
                if taken && policy == .reject { throw Self.alreadyEnrolled(e) }
            }
            return enrollments.map { e in
                if let key = e.idempotencyKey {
                    let compound = Self.key(e.sequenceName, key)
                    if let existing = state.keys[compound], let record = state.records[existing] {
                        return EnrollResult(enrollment: record.enrollment, created: false)
                    }
                }
                if e.uniqueSubject != nil, let holder = state.holder(of: e.subject, in: e.sequenceName) {
                    return EnrollResult(enrollment: holder, created: false)
                }
                if let key = e.idempotencyKey { state.keys[Self.key(e.sequenceName, key)] = e.id }
                state.records[e.id] = Record(enrollment: e)
                state.bySubject[e.subject, default: []].append(e.id)
                let enrolled = HistoryEvent(enrollmentID: e.id, kind: .enrolled, fromStep: nil, toStep: e.stepID,
                                            visit: e.visit, at: e.createdAt)
                state.events[e.id, default: []].append(enrolled)
                state.count(enrolled, of: e)
                if e.status == .active { state.schedule(e.id, at: e.nextRunAt) }
                return EnrollResult(enrollment: e, created: true)
            }
        }
    }

    public func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] {
        let leaseEnd = request.now.addingTimeInterval(request.leaseDuration.timeInterval)
        return state.withLock { state in
            var claimed: [ClaimedEnrollment] = []
            defer {
                // Picked up again if the lease expires uncommitted; scheduled after the loop, so a
                // lease that has already ended (a zero lease) is not taken twice by this claim.
                for claim in claimed { state.schedule(claim.enrollment.id, at: leaseEnd) }
            }
            while claimed.count < request.limit, let (date, id) = state.due.popIfDue(request.now) {
                guard var record = state.records[id], record.enrollment.status == .active,
                      let nextRunAt = record.enrollment.nextRunAt, nextRunAt <= request.now
                else { continue }
                if record.leaseOwner != nil, let expiry = record.leaseExpiry, expiry > request.now { continue }
                _ = date
                if let previous = record.leaseOwner {
                    // Its holder never committed nor released it: count the attempt it was making.
                    record.enrollment.attempts += 1
                    record.enrollment.lastError = Lease.expiryMessage(owner: previous, step: record.enrollment.stepID)
                }
                record.fence += 1
                record.leaseOwner = request.owner
                record.leaseExpiry = leaseEnd
                state.records[id] = record
                claimed.append(ClaimedEnrollment(enrollment: record.enrollment, fence: record.fence))
            }
            return claimed
        }
    }

    public func commit(_ batch: CommitRequest) async throws -> CommitResult {
        for outcome in batch.outcomes { try outcome.enrollment.checkDates() }
        return state.withLock { state in
            var fencedOut: [UUID] = []
            var applied = Set<UUID>()
            for outcome in batch.outcomes {
                let id = outcome.enrollment.id
                guard var record = state.records[id], record.fence == outcome.fence,
                      record.enrollment.status == .active
                else {
                    fencedOut.append(id)
                    continue
                }
                var updated = outcome.enrollment
                updated.context = record.enrollment.context
                record.enrollment = updated
                record.leaseOwner = nil
                record.leaseExpiry = nil
                state.records[id] = record
                if updated.status == .active { state.schedule(id, at: updated.nextRunAt) }
                applied.insert(id)
            }
            for event in batch.events where applied.contains(event.enrollmentID) {
                state.events[event.enrollmentID, default: []].append(event)
                if let e = state.records[event.enrollmentID]?.enrollment { state.count(event, of: e) }
            }
            return CommitResult(applied: applied.count, fencedOut: fencedOut)
        }
    }

    public func renew(_ request: RenewRequest) async throws -> RenewResult {
        let leaseEnd = request.now.addingTimeInterval(request.leaseDuration.timeInterval)
        return state.withLock { state in
            var lost: [UUID] = []
            for lease in request.leases {
                guard var record = state.records[lease.id], record.fence == lease.fence,
                      record.leaseOwner == request.owner, record.enrollment.status == .active
                else {
                    lost.append(lease.id)
                    continue
                }
                record.leaseExpiry = leaseEnd
                state.records[lease.id] = record
                state.schedule(lease.id, at: leaseEnd)
            }
            return RenewResult(renewed: request.leases.count - lost.count, lost: lost)
        }
    }

    public func release(_ request: ReleaseRequest) async throws -> Int {
        state.withLock { state in
            var released = 0
            for lease in request.leases {
                guard var record = state.records[lease.id], record.fence == lease.fence,
                      record.leaseOwner == request.owner
                else { continue }
                record.leaseOwner = nil
                record.leaseExpiry = nil
                state.records[lease.id] = record
                if record.enrollment.status == .active { state.schedule(lease.id, at: record.enrollment.nextRunAt) }
                released += 1
            }
            return released
        }
    }

    /// Signals a ``SequencerService`` on this store whenever an enroll or a change makes an
    /// enrollment due.
    public var wakeUps: (any WakeUpSource)? { signals }

    public func change(_ id: UUID, _ change: EnrollmentChange, now: Date) async throws -> Enrollment {
        let changed = try state.withLock { state in
            guard var record = state.records[id] else {
                throw SequencerError(.unknownEnrollment, "no enrollment with id \(id)")
            }
            let before = record.enrollment.status
            let event = try change.apply(to: &record.enrollment, now: now)
            let e = record.enrollment
            if e.uniqueSubject != nil, e.status == .active || e.status == .paused, before != .active && before != .paused,
               state.holder(of: e.subject, in: e.sequenceName, except: id) != nil
            {
                throw Self.alreadyEnrolled(e)
            }
            return state.store(changed: record, event)
        }
        if change.makesDue { signals.wake() }
        return changed
    }

    public func change(subject: String, _ change: EnrollmentChange, now: Date) async throws -> [Enrollment] {
        let changed = try state.withLock { state in
            // Every change is worked out first, so one refused leaves all unchanged.
            var updates: [(Record, HistoryEvent)] = []
            for id in state.bySubject[subject] ?? [] {
                guard var record = state.records[id], record.enrollment.status == .active || record.enrollment.status == .paused
                else { continue }
                let event = try change.apply(to: &record.enrollment, now: now)
                updates.append((record, event))
            }
            return updates.map { state.store(changed: $0.0, $0.1) }
        }
        if change.makesDue && changed.contains(where: { $0.status == .active }) { signals.wake() }
        return changed
    }

    /// 32 random bytes made with the store.
    public func callbackSecret() async throws -> [UInt8] { secret }

    public func enrollment(_ id: UUID) async throws -> Enrollment? {
        state.withLock { $0.records[id]?.enrollment }
    }

    public func enrollment(sequence: String, idempotencyKey: String) async throws -> Enrollment? {
        state.withLock { state in
            state.keys[Self.key(sequence, idempotencyKey)].flatMap { state.records[$0]?.enrollment }
        }
    }

    public func history(of id: UUID) async throws -> [HistoryEvent] {
        state.withLock { $0.events[id] ?? [] }
    }

    public func enrollments(subject: String, limit: Int) async throws -> [Enrollment] {
        state.withLock { state in
            let found = (state.bySubject[subject] ?? []).compactMap { state.records[$0]?.enrollment }
            return Array(found.sorted { ($0.createdAt, $0.id.uuidString) > ($1.createdAt, $1.id.uuidString) }
                .prefix(max(0, limit)))
        }
    }

    public func prune(_ request: PruneRequest) async throws -> PruneReport {
        var report = PruneReport()
        report.dryRun = request.dryRun
        guard pruning.withLock({ running in defer { running = true }; return !running }) else {
            report.skipped = true
            return report
        }
        defer { pruning.withLock { $0 = false } }
        func doomed(_ record: Record) -> Bool {
            request.olderThan[record.enrollment.status].map { record.enrollment.updatedAt < $0 } ?? false
        }
        while !Task.isCancelled {
            let deleted = state.withLock { state -> (enrollments: Int, events: Int) in
                let candidates = state.records.values.filter(doomed).map(\.enrollment).sorted { $0.updatedAt < $1.updatedAt }
                // A dry run counts every candidate at once; a real pass takes one batch.
                let ids = candidates.prefix(request.dryRun ? candidates.count : request.batchSize).map(\.id)
                var events = 0
                for id in ids {
                    events += state.events[id]?.count ?? 0
                    if request.dryRun { continue }
                    guard let enrollment = state.records.removeValue(forKey: id)?.enrollment else { continue }
                    state.events[id] = nil
                    if let key = enrollment.idempotencyKey { state.keys[Self.key(enrollment.sequenceName, key)] = nil }
                    state.bySubject[enrollment.subject]?.removeAll { $0 == id }
                    if state.bySubject[enrollment.subject]?.isEmpty == true { state.bySubject[enrollment.subject] = nil }
                }
                return (ids.count, events)
            }
            guard deleted.enrollments > 0 else { break }
            report.enrollments += deleted.enrollments
            report.events += deleted.events
            report.batches += 1
            if request.dryRun || deleted.enrollments < request.batchSize { break }
            try? await Task.sleep(for: request.pause)
        }
        return report
    }

    public func enrollments(matching filter: EnrollmentFilter, after cursor: PageCursor?, limit: Int) async throws
        -> EnrollmentPage
    {
        let limit = max(1, limit)
        let start = cursor.map { $0.enrollmentID?.uuidString ?? "" }
        let found = state.withLock { state in
            // Uppercase hex compares as the bytes do, so this is the order PostgreSQL gives ids.
            state.records.values.lazy.map(\.enrollment)
                .filter { e in filter.matches(e) && start.map { e.id.uuidString < $0 } ?? true }
                .sorted { $0.id.uuidString > $1.id.uuidString }
                .prefix(limit + 1)
        }
        let page = Array(found.prefix(limit))
        return EnrollmentPage(enrollments: page, next: found.count > limit ? page.last.map { PageCursor.after($0.id) } : nil)
    }

    public func history(of id: UUID, after cursor: PageCursor?, limit: Int) async throws -> HistoryPage {
        let limit = max(1, limit)
        let first = cursor.flatMap(\.eventPosition).map { Int($0) + 1 } ?? 0
        let events = state.withLock { $0.events[id] ?? [] }
        guard first < events.count else { return HistoryPage(events: [], next: nil) }
        let end = min(events.count, first + limit)
        return HistoryPage(events: Array(events[first..<end]),
                           next: end < events.count ? PageCursor.after(event: Int64(end - 1)) : nil)
    }

    public func stepCounts(sequence: String, version: Int) async throws -> [StepCount] {
        struct Key: Hashable { var step: String?; var status: EnrollmentStatus }
        let counts = state.withLock { state in
            var counts: [Key: Int] = [:]
            for record in state.records.values
            where record.enrollment.sequenceName == sequence && record.enrollment.sequenceVersion == version {
                counts[Key(step: record.enrollment.stepID, status: record.enrollment.status), default: 0] += 1
            }
            return counts
        }
        return counts.map { StepCount(step: $0.key.step, status: $0.key.status, count: $0.value) }
            .sorted { ($0.step ?? "", $0.status.rawValue) < ($1.step ?? "", $1.status.rawValue) }
    }

    public func funnel(sequence: String, version: Int, now: Date) async throws -> FunnelStatistics {
        let hourAgo = now.addingTimeInterval(-3600)
        return state.withLock { state in
            var funnel = FunnelStatistics(sequence: sequence, version: version, at: now)
            var steps: [String?: FunnelStatistics.StepFigures] = [:]
            func touch(_ step: String?) { if steps[step] == nil { steps[step] = .init(step: step) } }
            for (key, count) in state.reached where key.sequence == sequence && key.version == version {
                touch(key.step)
                steps[key.step]!.reached += count
            }
            let versionKey = FunnelKey(sequence: sequence, version: version, step: nil)
            funnel.enrolled = state.enrolled[versionKey] ?? 0
            funnel.goalsReached = state.goals[versionKey] ?? 0
            for record in state.records.values
            where record.enrollment.sequenceName == sequence && record.enrollment.sequenceVersion == version {
                let e = record.enrollment
                touch(e.stepID)
                steps[e.stepID]!.now[e.status, default: 0] += 1
                if e.status == .active, let due = e.nextRunAt, due <= now {
                    funnel.dueNow += 1
                    funnel.oldestDueAt = min(funnel.oldestDueAt ?? due, due)
                }
                for event in state.events[e.id] ?? [] where event.at > hourAgo && event.at <= now {
                    if event.kind == .failed { funnel.failedLastHour += 1 }
                    if event.kind == .retrying { funnel.retriesLastHour += 1 }
                }
            }
            funnel.steps = steps.values.sorted { ($0.step ?? "") < ($1.step ?? "") }
            return funnel
        }
    }

    /// Every enrollment, for tests and demos.
    public func allEnrollments() -> [Enrollment] {
        state.withLock { $0.records.values.map(\.enrollment) }
    }

    private static func key(_ sequence: String, _ key: String) -> String { sequence + "\u{0}" + key }

    private static func alreadyEnrolled(_ e: Enrollment) -> SequencerError {
        SequencerError(.alreadyEnrolled, "'\(Limits.excerpt(e.subject))' already has an active or paused enrollment in "
                       + "'\(e.sequenceName)', which allows one per subject", sequence: e.sequenceName, field: "subject")
    }
}

/// A binary min-heap of (due time, id). Entries are never removed in place: a claim pops
/// entries and skips the ones that no longer match their record.
struct DueHeap {
    private var items: [(Date, UUID)] = []

    mutating func push(_ date: Date, _ id: UUID) {
        items.append((date, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].0 < items[parent].0 else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popIfDue(_ now: Date) -> (Date, UUID)? {
        guard let top = items.first, top.0 <= now else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count, items[left].0 < items[smallest].0 { smallest = left }
                if right < items.count, items[right].0 < items[smallest].0 { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
