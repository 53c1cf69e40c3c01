public import Foundation
public import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Creates enrollments, idempotent per `(sequenceName, idempotencyKey)`; see ``Sequencer/SequenceStore/enroll(_:)``.
    ///
    /// Any number of requests: they are written in batches of ``Configuration/enrollBatchSize``,
    /// each one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` (with its `enrolled`
    /// history events) plus one `SELECT` for keys that already existed. Each batch is atomic;
    /// a failure part-way leaves earlier batches stored, and repeating the call with the same
    /// keys finishes the job without duplicates.
    public func enroll(_ requests: [NewEnrollment]) async throws -> [EnrollmentResult] {
        guard !requests.isEmpty else { return [] }
        return try await withStoreErrors("enroll \(requests.count) subject(s)") {
            try await client.withConnection { connection in
                try await self.enrollBatches(requests, on: connection)
            }
        }
    }

    /// Creates enrollments on the host's connection, inside the host's own transaction.
    ///
    /// Nothing here begins or commits a transaction: the enrollments (and their `enrolled`
    /// events) become visible when the host commits, and vanish if it rolls back, so an
    /// enrollment can be written atomically with the host's own rows:
    ///
    /// ```swift
    /// try await client.withTransaction(logger: logger) { connection in
    ///     try await connection.query("INSERT INTO users (id, email) VALUES (\(userID), \(email))", logger: logger)
    ///     _ = try await store.enroll([NewEnrollment(enrollment)], on: connection)
    /// }
    /// ```
    /// `Sequencer.enroll(_:in:version:context:idempotencyKey:now:on:)` builds the enrollment from
    /// the sequence's definition for you.
    ///
    /// Under `READ COMMITTED` (PostgreSQL's default) a key inserted concurrently by another
    /// transaction is waited for and then returned as existing; under stricter isolation that
    /// case fails with a serialization error the host retries.
    public func enroll(_ requests: [NewEnrollment], on connection: PostgresConnection) async throws -> [EnrollmentResult] {
        guard !requests.isEmpty else { return [] }
        return try await withStoreErrors("enroll \(requests.count) subject(s)") {
            try await enrollBatches(requests, on: connection)
        }
    }

    private func enrollBatches(_ requests: [NewEnrollment], on connection: PostgresConnection) async throws
        -> [EnrollmentResult]
    {
        let size = max(1, configuration.enrollBatchSize)
        var results: [EnrollmentResult] = []
        results.reserveCapacity(requests.count)
        var start = requests.startIndex
        while start < requests.endIndex {
            let end = min(start + size, requests.endIndex)
            results += try await enrollBatch(requests[start..<end].map(\.enrollment), on: connection)
            start = end
        }
        return results
    }

    private struct KeyRef: Hashable {
        let sequence: String
        let key: String
    }

    private func enrollBatch(_ batch: [Enrollment], on connection: PostgresConnection) async throws -> [EnrollmentResult] {
        let insert: PostgresQuery = """
            WITH input AS (
                SELECT * FROM unnest(
                    \(SQLArray.uuids(batch.map(\.id))), \(SQLArray.texts(batch.map(\.sequenceName))),
                    \(SQLArray.int64s(batch.map { Int64($0.sequenceVersion) })), \(SQLArray.texts(batch.map(\.subject))),
                    \(SQLArray.texts(batch.map(\.idempotencyKey))), \(SQLArray.texts(batch.map { JSONText.write($0.context) })),
                    \(SQLArray.texts(batch.map(\.stepID))), \(SQLArray.texts(batch.map(\.status.rawValue))),
                    \(SQLArray.timestamps(batch.map(\.nextRunAt))), \(SQLArray.timestamps(batch.map(\.stepEnteredAt))),
                    \(SQLArray.int64s(batch.map { Int64($0.attempts) })), \(SQLArray.int64s(batch.map { Int64($0.visit) })),
                    \(SQLArray.texts(batch.map(\.lastError))), \(SQLArray.timestamps(batch.map(\.createdAt))),
                    \(SQLArray.timestamps(batch.map(\.updatedAt)))
                ) WITH ORDINALITY AS u(id, sequence_name, sequence_version, subject, idempotency_key, context, step_id,
                                       status, next_run_at, step_entered_at, attempts, visit, last_error, created_at,
                                       updated_at, ord)
            ),
            created AS (
                INSERT INTO \(unescaped: tables.enrollments)
                    (id, sequence_name, sequence_version, subject, idempotency_key, context, step_id, status,
                     next_run_at, step_entered_at, attempts, visit, last_error, created_at, updated_at)
                SELECT id, sequence_name, sequence_version, subject, idempotency_key, context::jsonb, step_id, status,
                       next_run_at, step_entered_at, attempts, visit, last_error, created_at, updated_at
                FROM input ORDER BY ord
                ON CONFLICT (sequence_name, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING id
            ),
            history AS (
                INSERT INTO \(unescaped: tables.events) (enrollment_id, kind, from_step, to_step, visit, at)
                SELECT i.id, 'enrolled', NULL, i.step_id, i.visit, i.created_at
                FROM input AS i JOIN created AS c ON c.id = i.id
                ORDER BY i.ord
            )
            SELECT id FROM created
            """
        var created = Set<UUID>()
        created.reserveCapacity(batch.count)
        for try await row in try await connection.query(insert, logger: logger) {
            created.insert(try row.decode(UUID.self))
        }

        // Requests that were not inserted hit an existing key (stored earlier, or earlier in this batch).
        var existing: [KeyRef: Enrollment] = [:]
        let conflicting = batch.filter { !created.contains($0.id) }
        if !conflicting.isEmpty {
            let keys = conflicting.compactMap { e in e.idempotencyKey.map { KeyRef(sequence: e.sequenceName, key: $0) } }
            let rows = try await connection.query("""
                SELECT \(unescaped: PostgresRows.enrollmentColumns("e")) FROM \(unescaped: tables.enrollments) AS e
                JOIN unnest(\(SQLArray.texts(keys.map(\.sequence))), \(SQLArray.texts(keys.map(\.key)))) AS k(sequence_name, idempotency_key)
                  ON e.sequence_name = k.sequence_name AND e.idempotency_key = k.idempotency_key
                """, logger: logger)
            for (enrollment, _) in try await PostgresRows.enrollments(rows) {
                if let key = enrollment.idempotencyKey {
                    existing[KeyRef(sequence: enrollment.sequenceName, key: key)] = enrollment
                }
            }
        }
        logger.debug("enrolled batch", metadata: [
            "sequencer.requested": "\(batch.count)", "sequencer.created": "\(created.count)",
        ])
        return try batch.map { e in
            if created.contains(e.id) { return EnrollmentResult(enrollment: e, created: true) }
            guard let key = e.idempotencyKey, let found = existing[KeyRef(sequence: e.sequenceName, key: key)] else {
                throw SequencerError(
                    .storeFailure, "enrollment \(e.id) was neither created nor found by its idempotency key; retry the call",
                    sequence: e.sequenceName, version: e.sequenceVersion)
            }
            return EnrollmentResult(enrollment: found, created: false)
        }
    }
}

extension Sequencer {
    /// Enrolls subjects on the host's connection, inside the host's own transaction.
    ///
    /// Works like ``Sequencer/Sequencer/enroll(_:in:version:now:)`` (same validation, same
    /// idempotency), but writes through ``PostgresStore/enroll(_:on:)``: if the host rolls the
    /// transaction back, no enrollment exists.
    ///
    /// ```swift
    /// try await client.withTransaction(logger: logger) { connection in
    ///     try await connection.query("INSERT INTO users (id) VALUES (\(userID))", logger: logger)
    ///     try await sequencer.enroll([EnrollmentRequest(subject: "\(userID)")], in: "onboarding", on: connection)
    /// }
    /// ```
    /// - Returns: the enrollment ids, in request order.
    /// - Throws: ``Sequencer/SequencerError/Code/storeFailure`` when the sequencer's store is not a ``PostgresStore``.
    @discardableResult
    public func enroll(
        _ requests: [EnrollmentRequest], in sequence: String, version: Int? = nil, now: Date = Date(),
        on connection: PostgresConnection
    ) async throws -> [UUID] {
        guard let postgres = store as? PostgresStore else {
            throw SequencerError(.storeFailure, "enrolling on a PostgresConnection needs a PostgresStore, not \(type(of: store))",
                                 sequence: sequence)
        }
        // No `sequencer_enrollments_created_total` here: the host's transaction may still roll back.
        let enrollments = try await newEnrollments(requests, in: sequence, version: version, now: now)
        return try await postgres.enroll(enrollments, on: connection).map(\.enrollment.id)
    }

    /// Enrolls one subject on the host's connection, inside the host's own transaction
    /// (see ``enroll(_:in:version:now:on:)``).
    @discardableResult
    public func enroll(
        _ subject: String, in sequence: String, version: Int? = nil, context: JSONValue = [:],
        idempotencyKey: String? = nil, now: Date = Date(), on connection: PostgresConnection
    ) async throws -> UUID {
        try await enroll([EnrollmentRequest(subject: subject, context: context, idempotencyKey: idempotencyKey)],
                         in: sequence, version: version, now: now, on: connection)[0]
    }
}
