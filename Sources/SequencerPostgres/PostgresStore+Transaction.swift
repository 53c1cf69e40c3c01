public import Foundation
public import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// The store's writes on the host's connection, inside the host's own transaction.
    ///
    /// Nothing here begins or commits a transaction: what it writes (enrollments, changes and
    /// their history events) becomes visible when the host commits, and vanishes if it rolls
    /// back. Hand it to the ``Sequencer/Sequencer`` calls that take `within:`:
    ///
    /// ```swift
    /// try await client.withTransaction(logger: logger) { connection in
    ///     try await connection.query("INSERT INTO users (id, email) VALUES (\(userID), \(email))", logger: logger)
    ///     try await sequencer.enroll("\(userID)", in: "onboarding", context: ["email": .string(email)],
    ///                                within: store.transaction(on: connection))
    /// }
    /// ```
    ///
    /// Under `READ COMMITTED` (PostgreSQL's default) an idempotency key inserted concurrently by
    /// another transaction is waited for and then returned as existing; under stricter isolation
    /// that case fails with a serialization error the host retries. A change locks the row until
    /// the host's transaction ends, so keep such transactions short.
    public struct Transaction: EnrollmentWriter {
        /// The store whose schema the writes go to.
        public let store: PostgresStore
        /// The host's connection, inside a transaction the host began.
        public let connection: PostgresConnection

        /// Creates enrollments on the connection; see ``PostgresStore/enroll(_:)``.
        public func enroll(_ enrollments: [Enrollment]) async throws -> [EnrollResult] {
            try await store.enroll(enrollments, on: connection)
        }

        /// Reads a definition on the connection; see ``PostgresStore/definition(named:version:)``.
        public func definition(named name: String, version: Int?) async throws -> SequenceDefinition? {
            try await store.withStoreErrors("read definition '\(name)'") {
                try await store.definition(named: name, version: version, on: connection)
            }
        }

        /// Applies a host change on the connection; see ``PostgresStore/change(_:_:now:)``.
        public func change(_ id: UUID, _ change: EnrollmentChange, now: Date) async throws -> Enrollment {
            try await store.withStoreErrors("change enrollment \(id)") {
                try await store.change(id, change, now: now, on: connection)
            }
        }
    }

    /// Writes on `connection`, inside the transaction the host holds there (see ``Transaction``).
    public func transaction(on connection: PostgresConnection) -> Transaction {
        Transaction(store: self, connection: connection)
    }
}
