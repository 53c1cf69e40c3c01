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
/// database; see ``claim(_:)`` and ``commit(_:)``.
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
}
