public import Foundation
public import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Creates enrollments, idempotent per `(sequenceName, idempotencyKey)`; see ``Sequencer/SequenceStore/enroll(_:)``.
    ///
    /// Any number of requests: they are written in batches of ``Configuration/enrollBatchSize``,
    /// each one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` (with its `enrolled`
    /// history events, and one `pg_notify` telling running services that work is due) plus one
    /// `SELECT` for keys that already existed. Each batch is atomic;
    /// a failure part-way leaves earlier batches stored, and repeating the call with the same
    /// keys finishes the job without duplicates.
    public func enroll(_ enrollments: [Enrollment]) async throws -> [EnrollResult] {
        guard !enrollments.isEmpty else { return [] }
        for e in enrollments { try e.checkDates() }
        return try await withStoreErrors("enroll \(enrollments.count) subject(s)") {
            try await client.withConnection { connection in
                try await self.enrollBatches(enrollments, on: connection)
            }
        }
    }

    /// Creates enrollments on a connection, inside whatever transaction the caller holds there
    /// (see ``transaction(on:)``).
    func enroll(_ enrollments: [Enrollment], on connection: PostgresConnection) async throws -> [EnrollResult] {
        guard !enrollments.isEmpty else { return [] }
        for e in enrollments { try e.checkDates() }
        return try await withStoreErrors("enroll \(enrollments.count) subject(s)") {
            try await enrollBatches(enrollments, on: connection)
        }
    }

    private func enrollBatches(_ enrollments: [Enrollment], on connection: PostgresConnection) async throws
        -> [EnrollResult]
    {
        let size = max(1, configuration.enrollBatchSize)
        var results: [EnrollResult] = []
        results.reserveCapacity(enrollments.count)
        var start = enrollments.startIndex
        while start < enrollments.endIndex {
            let end = min(start + size, enrollments.endIndex)
            results += try await enrollBatch(Array(enrollments[start..<end]), on: connection)
            start = end
        }
        return results
    }

    private struct KeyRef: Hashable {
        let sequence: String
        let key: String
    }

    private func enrollBatch(_ batch: [Enrollment], on connection: PostgresConnection) async throws -> [EnrollResult] {
        let inserted = EnrollmentTable.written(by: .insert)
        let names = EnrollmentTable.names(inserted)
        let enrolled = batch.map { e in
            HistoryEvent(enrollmentID: e.id, kind: .enrolled, fromStep: nil, toStep: e.stepID, visit: e.visit, at: e.createdAt)
        }
        // A subject refused by its sequence fails the statement (nothing of the batch is stored);
        // otherwise a held subject, like a known key, is not inserted and its holder is returned.
        let conflicts = batch.contains { $0.uniqueSubject == .reject }
            ? "(sequence_name, idempotency_key) WHERE idempotency_key IS NOT NULL" : ""
        let insert: PostgresQuery = """
            WITH created AS (
                INSERT INTO \(unescaped: tables.enrollments) (\(unescaped: names))
                SELECT \(unescaped: inserted.map { $0.value(from: "u") }.joined(separator: ", "))
                FROM \(unnest: inserted, of: batch) WITH ORDINALITY AS u(\(unescaped: names), ord)
                ORDER BY u.ord
                ON CONFLICT \(unescaped: conflicts) DO NOTHING
                RETURNING id, status
            ),
            \(history: enrolled, of: batch, in: tables, onlyFor: "created"),
            woken AS (
                SELECT pg_notify(\(tables.channel), '') FROM (SELECT 1 FROM created WHERE status = 'active' LIMIT 1) AS due
            )
            SELECT id FROM created, (SELECT count(*) FROM woken) AS notified
            """
        var created = Set<UUID>()
        created.reserveCapacity(batch.count)
        for try await row in try await connection.query(insert, logger: logger) {
            created.insert(try row.decode(UUID.self))
        }

        // Requests that were not inserted hit an existing key, or a subject held in a sequence that
        // allows one per subject (stored earlier, or earlier in this batch).
        var existing: [KeyRef: Enrollment] = [:], holders: [KeyRef: Enrollment] = [:]
        let conflicting = batch.filter { !created.contains($0.id) }
        let held = conflicting.filter { $0.uniqueSubject != nil }
        if !held.isEmpty {
            let rows = try await connection.query("""
                SELECT \(unescaped: EnrollmentTable.selectList("e")) FROM \(unescaped: tables.enrollments) AS e
                JOIN unnest(\(SQLArray.texts(held.map(\.sequenceName))), \(SQLArray.texts(held.map(\.subject)))) AS k(sequence_name, subject)
                  ON e.sequence_name = k.sequence_name AND e.subject = k.subject
                WHERE e.unique_subject IS NOT NULL AND e.status IN ('active', 'paused')
                """, logger: logger)
            for row in try await EnrollmentTable.decodeAll(rows) {
                holders[KeyRef(sequence: row.enrollment.sequenceName, key: row.enrollment.subject)] = row.enrollment
            }
        }
        if conflicting.contains(where: { $0.idempotencyKey != nil }) {
            let keys = conflicting.compactMap { e in e.idempotencyKey.map { KeyRef(sequence: e.sequenceName, key: $0) } }
            let rows = try await connection.query("""
                SELECT \(unescaped: EnrollmentTable.selectList("e")) FROM \(unescaped: tables.enrollments) AS e
                JOIN unnest(\(SQLArray.texts(keys.map(\.sequence))), \(SQLArray.texts(keys.map(\.key)))) AS k(sequence_name, idempotency_key)
                  ON e.sequence_name = k.sequence_name AND e.idempotency_key = k.idempotency_key
                """, logger: logger)
            for row in try await EnrollmentTable.decodeAll(rows) {
                let enrollment = row.enrollment
                if let key = enrollment.idempotencyKey {
                    existing[KeyRef(sequence: enrollment.sequenceName, key: key)] = enrollment
                }
            }
        }
        logger.debug("enrolled batch", metadata: [
            "sequencer.requested": "\(batch.count)", "sequencer.created": "\(created.count)",
        ])
        return try batch.map { e in
            if created.contains(e.id) { return EnrollResult(enrollment: e, created: true) }
            if let key = e.idempotencyKey, let found = existing[KeyRef(sequence: e.sequenceName, key: key)] {
                return EnrollResult(enrollment: found, created: false)
            }
            guard let found = holders[KeyRef(sequence: e.sequenceName, key: e.subject)] else {
                throw SequencerError(
                    .storeFailure, "enrollment \(e.id) was neither created nor found by its idempotency key or subject; retry the call",
                    sequence: e.sequenceName, version: e.sequenceVersion)
            }
            return EnrollResult(enrollment: found, created: false)
        }
    }
}
