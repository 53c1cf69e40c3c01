public import Foundation
public import Sequencer

/// A store that passes every call to another one: declare the calls you want to watch or break
/// and leave the rest to the defaults, for fault injection and spies in tests.
///
/// ```swift
/// final class SlowCommits: ForwardingStore {
///     let inner: any SequenceStore
///     init(_ inner: any SequenceStore) { self.inner = inner }
///     func commit(_ request: CommitRequest) async throws -> CommitResult {
///         try await Task.sleep(for: .seconds(1))
///         return try await inner.commit(request)
///     }
/// }
/// ```
public protocol ForwardingStore: SequenceStore {
    /// The store every call goes to.
    var inner: any SequenceStore { get }
}

extension ForwardingStore {
    public var wakeUps: (any WakeUpSource)? { inner.wakeUps }
    public func saveDefinition(_ definition: SequenceDefinition) async throws -> Bool {
        try await inner.saveDefinition(definition)
    }
    public func definitionVersions() async throws -> [DefinitionVersion] {
        try await inner.definitionVersions()
    }
    public func definition(named name: String, version: Int?) async throws -> SequenceDefinition? {
        try await inner.definition(named: name, version: version)
    }
    public func enroll(_ enrollments: [Enrollment]) async throws -> [EnrollResult] { try await inner.enroll(enrollments) }
    public func claim(_ request: ClaimRequest) async throws -> [ClaimedEnrollment] { try await inner.claim(request) }
    public func commit(_ request: CommitRequest) async throws -> CommitResult { try await inner.commit(request) }
    public func renew(_ request: RenewRequest) async throws -> RenewResult { try await inner.renew(request) }
    public func release(_ request: ReleaseRequest) async throws -> Int { try await inner.release(request) }
    public func change(_ id: UUID, _ change: EnrollmentChange, now: Date) async throws -> Enrollment {
        try await inner.change(id, change, now: now)
    }
    public func enrollment(_ id: UUID) async throws -> Enrollment? { try await inner.enrollment(id) }
    public func callbackSecret() async throws -> [UInt8] { try await inner.callbackSecret() }
    public func enrollment(sequence: String, idempotencyKey: String) async throws -> Enrollment? {
        try await inner.enrollment(sequence: sequence, idempotencyKey: idempotencyKey)
    }
    public func history(of id: UUID) async throws -> [HistoryEvent] { try await inner.history(of: id) }
    public func enrollments(subject: String, limit: Int) async throws -> [Enrollment] {
        try await inner.enrollments(subject: subject, limit: limit)
    }
    public func prune(_ request: PruneRequest) async throws -> PruneReport { try await inner.prune(request) }
    public func enrollments(matching filter: EnrollmentFilter, after cursor: PageCursor?, limit: Int) async throws
        -> EnrollmentPage
    {
        try await inner.enrollments(matching: filter, after: cursor, limit: limit)
    }
    public func history(of id: UUID, after cursor: PageCursor?, limit: Int) async throws -> HistoryPage {
        try await inner.history(of: id, after: cursor, limit: limit)
    }
    public func stepCounts(sequence: String, version: Int) async throws -> [StepCount] {
        try await inner.stepCounts(sequence: sequence, version: version)
    }
    public func funnel(sequence: String, version: Int, now: Date) async throws -> FunnelStatistics {
        try await inner.funnel(sequence: sequence, version: version, now: now)
    }
    public func foldStatistics() async throws -> Int { try await inner.foldStatistics() }
    public func storeTime() async throws -> Date? { try await inner.storeTime() }
    public func change(subject: String, _ change: EnrollmentChange, now: Date) async throws -> [Enrollment] {
        try await inner.change(subject: subject, change, now: now)
    }
    public func schedules() async throws -> [ScheduleState] { try await inner.schedules() }
    public func schedule(named name: String) async throws -> ScheduleState? { try await inner.schedule(named: name) }
    public func modifySchedule(named name: String, _ change: @escaping @Sendable (ScheduleState?) throws -> ScheduleState?)
        async throws -> ScheduleState?
    {
        try await inner.modifySchedule(named: name, change)
    }
    public func fireSchedules(
        now: Date, limit: Int,
        plan: @escaping @Sendable (ScheduleState, _ lastEnrollment: Enrollment?, any EnrollmentWriter) async throws -> ScheduleFiring
    ) async throws -> [ScheduleFiring] {
        try await inner.fireSchedules(now: now, limit: limit, plan: plan)
    }
}
