public import Foundation

/// The writes a host makes to enrollments: create them, and change them.
///
/// Every ``SequenceStore`` is one. A database store can also hand out one bound to a
/// transaction the host opened itself, so an enrollment is written (or cancelled, paused,
/// updated) atomically with the host's own rows, and vanishes if the host rolls back;
/// `PostgresStore.transaction(on:)` does. Pass it to the ``Sequencer`` calls that take
/// `within:`, which check the request exactly as they do without one:
///
/// ```swift
/// try await client.withTransaction(logger: logger) { connection in
///     try await connection.query("INSERT INTO users (id) VALUES (\(userID))", logger: logger)
///     try await sequencer.enroll("\(userID)", in: "onboarding", within: store.transaction(on: connection))
/// }
/// ```
public protocol EnrollmentWriter: Sendable {
    /// Creates enrollments, idempotent per `(sequenceName, idempotencyKey)`; see ``SequenceStore/enroll(_:)``.
    func enroll(_ enrollments: [Enrollment]) async throws -> [EnrollResult]

    /// Applies a host change (context merge, pause, resume, cancel) atomically, bumps the
    /// fencing token, releases any lease and appends the history event.
    func change(_ id: UUID, _ change: EnrollmentChange, now: Date) async throws -> Enrollment

    /// A stored definition, the latest version when `version` is `nil`; see
    /// ``SequenceStore/definition(named:version:)``. A writer bound to a host's transaction reads
    /// it on that transaction's connection: an enroll inside many concurrent host transactions
    /// never waits for a second connection from a pool those transactions hold.
    func definition(named name: String, version: Int?) async throws -> SequenceDefinition?
}
