public import Foundation
import Logging
import PostgresNIO
public import Sequencer

/// One numbered schema migration: a file `Migrations/NNNN_name.sql`, embedded in the library.
///
/// The SQL files in the repository are the single source of the schema;
/// `scripts/embed-migrations.sh` copies them into the library so ``PostgresStore/migrate()``
/// needs no files at run time. Hosts that manage their schema with their own
/// tool can read the SQL from ``PostgresStore/migrations`` (each file expects
/// `search_path` to be set to the target schema).
public struct PostgresMigration: Sendable, Hashable {
    /// The number from the file name (`0001_initial.sql` is version 1).
    public let version: Int
    /// The name from the file name (`initial`).
    public let name: String
    /// The file's exact contents.
    public let sql: String

    /// A migration. The library's own come from ``PostgresStore/migrations``.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

extension SequencerError.Code {
    /// The database schema was migrated by a newer release of the library than the one running:
    /// upgrade the library, or point it at another schema.
    public static let schemaTooNew = Self("schemaTooNew")
    /// The schema's tables do not exist: run ``PostgresStore/migrate()`` (or `sequencer migrate`).
    public static let notMigrated = Self("notMigrated")
}

extension PostgresStore {
    /// The migrations this library applies, in version order.
    public static var migrations: [PostgresMigration] { PostgresMigration.embedded }

    /// The schema version this library writes and reads: the last migration's version.
    public static var schemaVersion: Int { migrations.last?.version ?? 0 }

    /// Creates or upgrades the schema. Safe to call at every start, from every process.
    ///
    /// In one transaction, holding a transaction-scoped advisory lock derived from
    /// the schema name (so two processes migrating at once apply each migration once:
    /// the second waits, then finds nothing to do):
    /// 1. creates the schema if it does not exist, and the `schema_migrations` table
    ///    that records applied versions;
    /// 2. refuses (``Sequencer/SequencerError/Code/schemaTooNew``) a database migrated by a
    ///    newer library, rather than run against tables it does not know;
    /// 3. applies every migration not yet recorded, in order, with `search_path` set to
    ///    the schema, and records it with the MD5 of its SQL.
    ///
    /// Everything rolls back if any step fails. A recorded migration whose SQL has changed
    /// since it was applied is reported in a `.warning` log and not applied again.
    public func migrate() async throws {
        try await migrate(through: Self.schemaVersion)
    }

    /// ``migrate()``, applying only the migrations up to `version` (tests of a migration's
    /// upgrade path start from the schema before it).
    package func migrate(through version: Int) async throws {
        let schema = configuration.schema
        let lockKey = "sequencer.migrate:\(schema)"
        try await withStoreErrors("migrate schema '\(schema)'") {
            try await withTransaction { [self] connection in
                try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(lockKey), 0))", logger: logger)
                let exists = try await connection.query(
                    "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = \(schema))", logger: logger
                ).collect()[0].decode(Bool.self)
                if !exists {
                    // Only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even then.
                    try await connection.query("CREATE SCHEMA \(unescaped: tables.schema)", logger: logger)
                }
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS \(unescaped: tables.migrations) (
                        version    integer     PRIMARY KEY,
                        name       text        NOT NULL,
                        checksum   text        NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """, logger: logger)
                var applied: [Int: String] = [:]
                for try await (version, checksum) in try await connection.query(
                    "SELECT version, checksum FROM \(unescaped: tables.migrations)", logger: logger
                ).decode((Int, String).self) {
                    applied[version] = checksum
                }
                if let newest = applied.keys.max(), newest > Self.schemaVersion {
                    throw SequencerError(
                        .schemaTooNew,
                        "schema '\(schema)' is at version \(newest), newer than this library's \(Self.schemaVersion); "
                            + "upgrade the library or use another schema",
                        field: "schema")
                }
                try await warnAboutChangedMigrations(applied, on: connection)
                for migration in Self.migrations where applied[migration.version] == nil && migration.version <= version {
                    try await apply(migration, on: connection)
                }
            }
        }
    }

    private func apply(_ migration: PostgresMigration, on connection: PostgresConnection) async throws {
        let label = String(format: "%04d_%@", migration.version, migration.name)
        do {
            try await connection.query("SET LOCAL search_path TO \(unescaped: tables.schema)", logger: logger)
            // A migration file holds many statements; the extended protocol runs one per query,
            // so the file runs as one dynamic EXECUTE (which accepts several) inside a DO block.
            let outer = Self.dollarTag("sequencer_migration", avoiding: migration.sql)
            let inner = Self.dollarTag("sequencer_sql", avoiding: migration.sql)
            try await connection.query(
                "DO \(unescaped: outer) BEGIN EXECUTE \(unescaped: inner)\(unescaped: migration.sql)\(unescaped: inner); END \(unescaped: outer)",
                logger: logger)
            try await connection.query("""
                INSERT INTO \(unescaped: tables.migrations) (version, name, checksum)
                VALUES (\(migration.version), \(migration.name), md5(\(migration.sql)))
                """, logger: logger)
        } catch let error as SequencerError {
            throw error
        } catch {
            let failure = Self.storeFailure("migration \(label)", error)
            throw SequencerError(.storeFailure, failure.message, field: "schema", underlying: error)
        }
        logger.info("applied migration", metadata: [
            "sequencer.schema": "\(configuration.schema)", "sequencer.migration": "\(label)",
        ])
    }

    private func warnAboutChangedMigrations(_ applied: [Int: String], on connection: PostgresConnection) async throws {
        let known = Self.migrations.filter { applied[$0.version] != nil }
        guard !known.isEmpty else { return }
        let rows = try await connection.query(
            "SELECT md5(sql) FROM unnest(\(SQLArray.texts(known.map(\.sql)))) WITH ORDINALITY AS m(sql, ord) ORDER BY ord",
            logger: logger)
        var index = 0
        for try await checksum in rows.decode(String.self) {
            let migration = known[index]
            index += 1
            if applied[migration.version] != checksum {
                logger.warning("an applied migration has changed since it was applied; it is not applied again", metadata: [
                    "sequencer.schema": "\(configuration.schema)", "sequencer.migration": "\(migration.version)_\(migration.name)",
                ])
            }
        }
    }

    /// A dollar-quote tag (`$name$`, `$name_1$`, …) that does not occur in `sql`.
    static func dollarTag(_ name: String, avoiding sql: String) -> String {
        var tag = "$\(name)$"
        var counter = 0
        while sql.contains(tag) {
            counter += 1
            tag = "$\(name)_\(counter)$"
        }
        return tag
    }
}

/// Where a schema stands: ``PostgresStore/migrationStatus()``.
public struct MigrationStatus: Sendable, Hashable {
    /// A migration recorded as applied.
    public struct Applied: Sendable, Hashable {
        public var version: Int
        public var name: String
        public var appliedAt: Date
    }

    /// Whether the schema exists at all.
    public var schemaExists: Bool
    /// Applied migrations, in version order.
    public var applied: [Applied]
    /// The library's migrations not applied yet, in version order.
    public var pending: [PostgresMigration]
}

extension PostgresStore {
    /// Which of the library's migrations the schema has, and which it still needs; reads only.
    public func migrationStatus() async throws -> MigrationStatus {
        try await withStoreErrors("read the migration status of schema '\(configuration.schema)'") {
            let schema = configuration.schema
            let exists = try await queryRows("""
                SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = \(schema) AND tablename = 'schema_migrations')
                """)[0].decode(Bool.self)
            guard exists else { return MigrationStatus(schemaExists: false, applied: [], pending: Self.migrations) }
            var applied: [MigrationStatus.Applied] = []
            for (version, name, at) in try await queryRows(
                "SELECT version, name, applied_at FROM \(unescaped: tables.migrations) ORDER BY version"
            ).decodeEach((Int, String, Date).self) {
                applied.append(MigrationStatus.Applied(version: version, name: name, appliedAt: at))
            }
            let done = Set(applied.map(\.version))
            return MigrationStatus(schemaExists: true, applied: applied,
                                   pending: Self.migrations.filter { !done.contains($0.version) })
        }
    }
}
