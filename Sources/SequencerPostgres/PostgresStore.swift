public import Foundation
public import Logging
public import PostgresNIO
public import Sequencer

/// A ``Sequencer/SequenceStore`` in PostgreSQL, on a `PostgresClient` the host already owns.
///
/// Definitions, enrollment cursors, history and the deliveries ledger live in
/// one schema (``Configuration/schema``, default `sequencer`) created by
/// ``migrate()``. Ticks lease due enrollments in one statement
/// (`FOR UPDATE SKIP LOCKED`) and write each batch back in one statement fenced
/// by the lease's token, so any number of processes may tick against the same
/// database; see ``claimDue(_:)`` and ``commit(_:)``.
///
/// ## Running the client
///
/// The store does not open connections of its own: it leases them from the
/// `PostgresClient` you pass in. Like every `PostgresClient` user, the host must
/// keep the client's `run()` method running in a long-lived task (or hand the
/// client to a ServiceLifecycle `ServiceGroup`); while `run()` is not active,
/// every store call waits for a connection that never comes, and once `run()` is
/// cancelled store calls fail.
///
/// ```swift
/// let client = PostgresClient(configuration: config, backgroundLogger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { await client.run() }       // must run while the store is used
///
///     let store = try PostgresStore(client: client, logger: logger)
///     try await store.migrate()                   // idempotent; safe from many processes
///     let sequencer = Sequencer(store: store, logger: logger)
///     try await sequencer.register(definition)
///     try await sequencer.tick()
///
///     group.cancelAll()
/// }
/// ```
///
/// Enrolling inside the host's own transaction, so a rollback leaves no
/// enrollment behind, goes through ``enroll(_:on:)`` (or
/// `Sequencer.enroll(_:in:version:context:idempotencyKey:now:on:)`).
///
/// **Time.** Due-ness compares `next_run_at` with the `now` each tick passes
/// (which may be simulated); leases are measured with the database clock
/// (`now()`), so tickers on machines with skewed clocks still agree on them.
/// Timestamps are stored with microsecond precision.
///
/// Errors from the database are ``Sequencer/SequencerError`` values with code
/// ``Sequencer/SequencerError/Code/storeFailure`` whose `underlying` is the
/// PostgresNIO error.
public final class PostgresStore: SequenceStore {
    /// Where the store keeps its tables and how it writes them. Every field has a default.
    public struct Configuration: Sendable {
        /// The schema holding Sequencer's tables. Default `sequencer`.
        ///
        /// Must match `^[a-z_][a-z0-9_]{0,62}$` and not start with `pg_`; it is
        /// validated when the store is created and always used quoted. Give each
        /// environment (or each test) its own schema to keep them apart in one database.
        public var schema: String = "sequencer"

        /// Enrollments written per `INSERT` when enrolling many subjects in one call. Default 5,000.
        public var enrollBatchSize: Int = 5_000

        /// The defaults.
        public init() {}

        /// The defaults, in the given schema.
        public init(schema: String) {
            self.schema = schema
        }
    }

    /// The client queries run on. The host owns it and keeps its `run()` going.
    public let client: PostgresClient
    /// The configuration the store was created with.
    public let configuration: Configuration
    let logger: Logger
    let tables: Tables

    /// Creates a store on the host's client. Call ``migrate()`` once before first use.
    ///
    /// - Parameters:
    ///   - client: a `PostgresClient` whose `run()` the host keeps running (see the type's documentation).
    ///   - configuration: the schema name and batching; the defaults suit most hosts.
    ///   - logger: `.debug` per statement batch, `.info` per applied migration.
    /// - Throws: ``Sequencer/SequencerError/Code/invalidIdentifier`` (field `schema`) for a schema
    ///   name outside `^[a-z_][a-z0-9_]{0,62}$`.
    public init(client: PostgresClient, configuration: Configuration = .init(), logger: Logger) throws {
        try Self.validate(schema: configuration.schema)
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.tables = Tables(schema: configuration.schema)
    }

    /// Checks a schema name against `^[a-z_][a-z0-9_]{0,62}$` (and rejects the reserved `pg_` prefix).
    ///
    /// - Throws: ``Sequencer/SequencerError/Code/invalidIdentifier`` with field `schema`.
    public static func validate(schema: String) throws {
        let bytes = Array(schema.utf8)
        func isLetter(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || b == UInt8(ascii: "_") }
        func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        let valid = (1...63).contains(bytes.count) && isLetter(bytes[0]) && bytes.allSatisfy { isLetter($0) || isDigit($0) }
        guard valid, !schema.hasPrefix("pg_") else {
            throw SequencerError(
                .invalidIdentifier,
                "schema name '\(schema)' must match ^[a-z_][a-z0-9_]{0,62}$ and not start with pg_",
                field: "schema")
        }
    }

    /// Fully qualified, quoted table names (the schema is validated, so quoting is plain).
    struct Tables: Sendable {
        let schema: String
        let definitions: String
        let enrollments: String
        let events: String
        let deliveries: String
        let migrations: String

        init(schema: String) {
            self.schema = "\"\(schema)\""
            definitions = "\"\(schema)\".definitions"
            enrollments = "\"\(schema)\".enrollments"
            events = "\"\(schema)\".events"
            deliveries = "\"\(schema)\".deliveries"
            migrations = "\"\(schema)\".schema_migrations"
        }
    }

    // MARK: Definitions

    /// Stores a definition unless an equal one is stored; see ``Sequencer/SequenceStore/saveDefinition(_:)``.
    ///
    /// Runs in a transaction holding an advisory lock on the sequence name, so two
    /// processes registering versions of one sequence at once cannot both pass the version check.
    public func saveDefinition(_ definition: SequenceDefinition) async throws -> Bool {
        let body = String(decoding: try definition.jsonData(), as: UTF8.self)
        let name = definition.name
        let lockKey = "sequencer.definition:\(configuration.schema):\(name)"
        return try await withStoreErrors("save definition '\(name)' v\(definition.version)") {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(lockKey), 0))", logger: logger)
                let rows = try await connection.query("""
                    SELECT (SELECT body FROM \(unescaped: tables.definitions) WHERE name = \(name) AND version = \(definition.version)),
                           (SELECT max(version) FROM \(unescaped: tables.definitions) WHERE name = \(name))
                    """, logger: logger).collect()
                let (existingBody, latest) = try rows[0].decode((String?, Int?).self)
                let existing = try existingBody.map { try SequenceDefinition(json: $0) }
                guard try DefinitionVersioning.check(definition, existing: existing, latestVersion: latest) else { return false }
                try await connection.query("""
                    INSERT INTO \(unescaped: tables.definitions) (name, version, body)
                    VALUES (\(name), \(definition.version), \(body)::jsonb)
                    """, logger: logger)
                logger.debug("stored definition", metadata: ["sequencer.sequence": "\(name)", "sequencer.version": "\(definition.version)"])
                return true
            }
        }
    }

    /// The stored definition with this name and version; the greatest version when `version` is `nil`.
    public func definition(named name: String, version: Int?) async throws -> SequenceDefinition? {
        let query: PostgresQuery =
            if let version {
                "SELECT body FROM \(unescaped: tables.definitions) WHERE name = \(name) AND version = \(version)"
            } else {
                "SELECT body FROM \(unescaped: tables.definitions) WHERE name = \(name) ORDER BY version DESC LIMIT 1"
            }
        return try await withStoreErrors("read definition '\(name)'") {
            let rows = try await client.query(query, logger: logger).collect()
            return try rows.first.map { try SequenceDefinition(json: $0.decode(String.self)) }
        }
    }

    // MARK: Reading enrollments

    /// One enrollment, or `nil`.
    public func enrollment(_ id: UUID) async throws -> Enrollment? {
        try await withStoreErrors("read enrollment \(id)") {
            let rows = try await client.query(
                "SELECT \(unescaped: PostgresRows.enrollmentColumns()) FROM \(unescaped: tables.enrollments) WHERE id = \(id)",
                logger: logger)
            return try await PostgresRows.enrollments(rows).first?.0
        }
    }

    /// The enrollment for an idempotency key, or `nil`.
    public func enrollment(sequence: String, idempotencyKey: String) async throws -> Enrollment? {
        try await withStoreErrors("read enrollment by key in '\(sequence)'") {
            let rows = try await client.query("""
                SELECT \(unescaped: PostgresRows.enrollmentColumns()) FROM \(unescaped: tables.enrollments)
                WHERE sequence_name = \(sequence) AND idempotency_key = \(idempotencyKey)
                """, logger: logger)
            return try await PostgresRows.enrollments(rows).first?.0
        }
    }

    /// An enrollment's history, oldest first (in the order events were written).
    public func history(of id: UUID) async throws -> [HistoryEvent] {
        try await withStoreErrors("read history of \(id)") {
            let rows = try await client.query("""
                SELECT \(unescaped: PostgresRows.eventColumns) FROM \(unescaped: tables.events)
                WHERE enrollment_id = \(id) ORDER BY id
                """, logger: logger)
            var events: [HistoryEvent] = []
            for try await row in rows { events.append(try PostgresRows.event(row)) }
            return events
        }
    }

    // MARK: Host changes

    /// Applies a host change under a row lock; see ``Sequencer/SequenceStore/change(_:_:now:)``.
    ///
    /// In one transaction: `SELECT … FOR UPDATE`, ``Sequencer/EnrollmentChange/apply(to:now:)``,
    /// an update that bumps the fencing token and releases the lease, and the history event.
    public func change(_ id: UUID, _ change: EnrollmentChange, now: Date) async throws -> Enrollment {
        try await withStoreErrors("change enrollment \(id)") {
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    SELECT \(unescaped: PostgresRows.enrollmentColumns()) FROM \(unescaped: tables.enrollments)
                    WHERE id = \(id) FOR UPDATE
                    """, logger: logger)
                guard var enrollment = try await PostgresRows.enrollments(rows).first?.0 else {
                    throw SequencerError(.unknownEnrollment, "no enrollment with id \(id)")
                }
                let event = try change.apply(to: &enrollment, now: now)
                try await connection.query("""
                    UPDATE \(unescaped: tables.enrollments)
                    SET context = \(JSONText.write(enrollment.context))::jsonb, status = \(enrollment.status.rawValue),
                        step_id = \(enrollment.stepID), next_run_at = \(enrollment.nextRunAt.map(SQLTimestamp.init)),
                        step_entered_at = \(SQLTimestamp(enrollment.stepEnteredAt)), attempts = \(enrollment.attempts),
                        visit = \(enrollment.visit), last_error = \(enrollment.lastError),
                        updated_at = \(SQLTimestamp(enrollment.updatedAt)),
                        fence = fence + 1, lease_owner = NULL, lease_expires_at = NULL
                    WHERE id = \(id)
                    """, logger: logger)
                try await connection.query("""
                    INSERT INTO \(unescaped: tables.events) (\(unescaped: PostgresRows.eventColumns))
                    VALUES (\(event.enrollmentID), \(event.kind.rawValue), \(event.fromStep), \(event.toStep),
                            \(event.message), \(event.visit), \(SQLTimestamp(event.at)))
                    """, logger: logger)
                logger.debug("changed enrollment", metadata: [
                    "sequencer.enrollment": "\(id)", "sequencer.event": "\(event.kind.rawValue)",
                ])
                return enrollment
            }
        }
    }

    // MARK: Errors

    /// Runs `body`, passing ``Sequencer/SequencerError``s through (also from inside a rolled-back
    /// transaction) and wrapping every other error as ``Sequencer/SequencerError/Code/storeFailure``.
    func withStoreErrors<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SequencerError {
            throw error
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? SequencerError { throw inner }
            let cause = error.closureError ?? error.commitError ?? error.beginError ?? error
            throw Self.storeFailure(operation, cause)
        } catch {
            throw Self.storeFailure(operation, error)
        }
    }

    static func storeFailure(_ operation: String, _ error: any Error) -> SequencerError {
        var reason = "\(error)"
        if let psql = error as? PSQLError {
            // PSQLError's description hides details; the server's message and SQLSTATE carry no bind values.
            if let message = psql.serverInfo?[.message] {
                reason = message + (psql.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            } else {
                reason = "\(psql.code)"
            }
        }
        return SequencerError(.storeFailure, "\(operation) failed: \(reason)", underlying: error)
    }
}
