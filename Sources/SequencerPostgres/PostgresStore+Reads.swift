public import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// The database server's clock (`clock_timestamp()`); see ``Sequencer/SequenceStore/storeTime()``.
    public func storeTime() async throws -> Date? {
        try await withStoreErrors("read the database's clock") {
            try await queryRows("SELECT clock_timestamp()").first?.decode(Date.self)
        }
    }

    /// One enrollment, or `nil`.
    public func enrollment(_ id: UUID) async throws -> Enrollment? {
        try await withStoreErrors("read enrollment \(id)") {
            let rows = try await queryRows(
                "SELECT \(unescaped: EnrollmentTable.selectList()) FROM \(unescaped: tables.enrollments) WHERE id = \(id)")
            return try EnrollmentTable.decodeAll(rows).first?.enrollment
        }
    }

    /// The key callback tokens are made with: the 32 bytes migration 7 stored in the schema's
    /// `secrets` table, shared by every process on this schema.
    public func callbackSecret() async throws -> [UInt8] {
        try await withStoreErrors("read the callback secret") {
            let rows = try await queryRows("SELECT value FROM \(unescaped: tables.secrets) WHERE name = 'callback'")
            var hex: String?
            for row in rows { hex = try row.decode(String.self) }
            guard let hex, hex.utf8.count == 64 else {
                throw SequencerError(.storeFailure, "the schema has no callback secret; run the migrations (sequencer migrate)")
            }
            guard let bytes = [UInt8](hexadecimal: hex) else {
                throw SequencerError(.storeFailure, "the schema's callback secret is not hexadecimal")
            }
            return bytes
        }
    }

    /// The enrollment for an idempotency key, or `nil`.
    public func enrollment(sequence: String, idempotencyKey: String) async throws -> Enrollment? {
        try await withStoreErrors("read enrollment by key in '\(sequence)'") {
            let rows = try await queryRows("""
                SELECT \(unescaped: EnrollmentTable.selectList()) FROM \(unescaped: tables.enrollments)
                WHERE sequence_name = \(sequence) AND idempotency_key = \(idempotencyKey)
                """)
            return try EnrollmentTable.decodeAll(rows).first?.enrollment
        }
    }

    /// A subject's enrollments in every sequence, newest first; uses the `enrollments_subject` index.
    public func enrollments(subject: String, limit: Int) async throws -> [Enrollment] {
        try await withStoreErrors("read the enrollments of a subject") {
            let rows = try await queryRows("""
                SELECT \(unescaped: EnrollmentTable.selectList()) FROM \(unescaped: tables.enrollments)
                WHERE subject = \(subject) ORDER BY created_at DESC, id DESC LIMIT \(max(0, limit))
                """)
            return try EnrollmentTable.decodeAll(rows).map(\.enrollment)
        }
    }

    /// An enrollment's history, oldest first (in the order events were written).
    public func history(of id: UUID) async throws -> [HistoryEvent] {
        try await withStoreErrors("read history of \(id)") {
            let rows = try await queryRows("""
                SELECT \(unescaped: EventTable.columnNames) FROM \(unescaped: tables.events)
                WHERE enrollment_id = \(id) ORDER BY id
                """)
            var events: [HistoryEvent] = []
            for row in rows { events.append(try EventTable.decode(row)) }
            return events
        }
    }
}
