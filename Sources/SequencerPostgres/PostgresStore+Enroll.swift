import Foundation
public import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Creates enrollments, idempotent per `(sequenceName, idempotencyKey)`; see ``Sequencer/SequenceStore/enroll(_:)``.
    ///
    /// Any number of requests: they are written in batches of ``Configuration/enrollBatchSize``.
    /// Each batch is atomic: its enrollments, their `enrolled` history events, the funnel's
    /// counts and one `pg_notify` telling running services that work is due are written
    /// together. A failure part-way leaves earlier batches stored, and repeating the call with
    /// the same keys finishes the job without duplicates.
    ///
    /// How a batch is written depends on the call's size (``Configuration/enrollCopyThreshold``)
    /// and on what could conflict:
    /// - in a large call, a batch with no idempotency key and no sequence with one enrollment per
    ///   subject (nothing can conflict): its own transaction of two `COPY … FROM STDIN`, straight
    ///   into `enrollments` and `events`, and one statement for the funnel and the wake-up;
    /// - any other batch: one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`; requests
    ///   that were not created (a known key, a held subject) are then looked up by one `SELECT`
    ///   each kind.
    public func enroll(_ enrollments: [Enrollment]) async throws -> [EnrollResult] {
        guard !enrollments.isEmpty else { return [] }
        for e in enrollments { try e.checkDates() }
        return try await withStoreErrors("enroll \(enrollments.count) subject(s)") {
            try await withConnection { [self] connection in
                try await self.enrollBatches(enrollments, on: connection, ownsTransactions: true)
            }
        }
    }

    /// Creates enrollments on a connection, inside whatever transaction the caller holds there
    /// (see ``transaction(on:)``).
    func enroll(_ enrollments: [Enrollment], on connection: PostgresConnection) async throws -> [EnrollResult] {
        guard !enrollments.isEmpty else { return [] }
        for e in enrollments { try e.checkDates() }
        return try await withStoreErrors("enroll \(enrollments.count) subject(s)") {
            try await enrollBatches(enrollments, on: connection, ownsTransactions: false)
        }
    }

    /// `ownsTransactions`: the connection is the store's own, outside any transaction, so a batch
    /// may be written as a transaction of its own (`COPY`); on a host's connection every batch
    /// is one statement, atomic inside or outside the host's transaction.
    private func enrollBatches(_ enrollments: [Enrollment], on connection: PostgresConnection,
                               ownsTransactions: Bool) async throws -> [EnrollResult]
    {
        let size = max(1, configuration.enrollBatchSize)
        let copying = ownsTransactions && enrollments.count >= configuration.enrollCopyThreshold
        var results: [EnrollResult] = []
        results.reserveCapacity(enrollments.count)
        var start = enrollments.startIndex
        while start < enrollments.endIndex {
            let end = min(start + size, enrollments.endIndex)
            let batch = Array(enrollments[start..<end])
            start = end
            if copying && !batch.contains(where: { $0.idempotencyKey != nil || $0.uniqueSubject != nil }) {
                try await copyDirectly(batch, on: connection)
                results += batch.map { EnrollResult(enrollment: $0, created: true) }
            } else {
                results += try await enrollBatch(batch, on: connection)
            }
        }
        return results
    }

    /// Writes a batch that nothing can conflict with in a transaction of its own: `COPY` of the
    /// rows into `enrollments` and of their `enrolled` events into `events`, then one statement
    /// adding the funnel's counts (counted here, as a commit counts them) and notifying when an
    /// enrollment is due.
    private func copyDirectly(_ batch: [Enrollment], on connection: PostgresConnection) async throws {
        let inserted = EnrollmentTable.written(by: .insert)
        let entries = FunnelEntries(enrolledEvents(batch), of: batch)
        var counts = [Int64](repeating: 0, count: entries.keys.count)
        for index in entries.keyIndexes { counts[Int(index) - 1] += 1 }
        let due = batch.contains { $0.status == .active }
        try await connection.withTransaction(logger: logger) { connection in
            // COPY names its table unquoted by schema: find the store's tables through the search path.
            try await connection.query("SET LOCAL search_path TO \(unescaped: tables.schema)", logger: logger)
            try await connection.copyRows(of: batch, into: "enrollments", columns: inserted.map(\.name)) { e, buffer in
                for (index, column) in inserted.enumerated() {
                    if index > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
                    column.copy.write(e, &buffer)
                }
            }
            try await connection.copyRows(
                of: batch, into: "events", columns: ["enrollment_id", "kind", "to_step", "visit", "at"]
            ) { e, buffer in
                buffer.writeCopyUUID(e.id)
                buffer.writeString("\tenrolled\t")
                buffer.writeCopyText(e.stepID)
                buffer.writeInteger(UInt8(ascii: "\t"))
                buffer.writeCopyInteger(Int64(e.visit))
                buffer.writeInteger(UInt8(ascii: "\t"))
                buffer.writeCopyTimestamp(e.createdAt)
            }
            try await connection.query("""
                WITH entries AS (
                    INSERT INTO \(unescaped: tables.funnelDeltas) (sequence_name, sequence_version, step_id, metric, delta)
                    SELECT * FROM unnest(\(SQLArray.texts(entries.keys.map(\.sequence))),
                                         \(SQLArray.int64s(entries.keys.map { Int64($0.version) })),
                                         \(SQLArray.texts(entries.keys.map(\.step))), \(SQLArray.texts(entries.keys.map(\.metric))),
                                         \(SQLArray.int64s(counts)))
                )
                SELECT pg_notify(\(tables.channel), '') WHERE \(due)
                """, logger: logger)
        }
    }

    private struct KeyRef: Hashable {
        let sequence: String
        let key: String
    }

    /// The `enrolled` history event of each enrollment of a batch.
    private func enrolledEvents(_ batch: [Enrollment]) -> [HistoryEvent] {
        batch.map { e in
            HistoryEvent(enrollmentID: e.id, kind: .enrolled, fromStep: nil, toStep: e.stepID, visit: e.visit, at: e.createdAt)
        }
    }

    private func enrollBatch(_ batch: [Enrollment], on connection: PostgresConnection) async throws -> [EnrollResult] {
        let inserted = EnrollmentTable.written(by: .insert)
        let names = EnrollmentTable.names(inserted)
        let enrolled = enrolledEvents(batch)
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
