import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import Testing

@Suite("Migrations")
struct MigrationTests {
    /// The package root, from this file's path (Tests/SequencerPostgresTests/MigrationTests.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func embeddedMigrationsEqualTheFilesByteForByte() throws {
        let directory = Self.packageRoot.appendingPathComponent("Migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        #expect(files.count == PostgresStore.migrations.count, "run scripts/embed-migrations.sh")
        for (file, migration) in zip(files, PostgresStore.migrations) {
            #expect(file == String(format: "%04d_%@.sql", migration.version, migration.name))
            let bytes = try Data(contentsOf: directory.appendingPathComponent(file))
            #expect(bytes == Data(migration.sql.utf8), "\(file) differs from its embedded copy: run scripts/embed-migrations.sh")
        }
        #expect(PostgresStore.migrations.map(\.version) == Array(1...PostgresStore.migrations.count))
        #expect(PostgresStore.schemaVersion == PostgresStore.migrations.count)
    }

    @Test func migrateCreatesTheSchemaAndIsIdempotent() async throws {
        try await withStore(migrate: false) { store in
            try await store.migrate()
            try await store.migrate()
            let recorded: Int = try await store.scalar("SELECT count(*) FROM {s}.schema_migrations")
            #expect(recorded == PostgresStore.migrations.count)
            let tables: Int = try await store.scalar("""
                SELECT count(*) FROM pg_tables WHERE schemaname = '\(store.configuration.schema)'
                  AND tablename IN ('definitions', 'enrollments', 'events', 'deliveries')
                """)
            #expect(tables == 4)
            let dueIndex: String = try await store.scalar(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = '\(store.configuration.schema)' AND indexname = 'enrollments_due'",
                as: String.self)
            #expect(dueIndex.contains("(next_run_at) WHERE (status = 'active'::text)"))
        }
    }

    @Test func concurrentMigrationsApplyEachVersionOnce() async throws {
        let client = try await TestPostgres.shared.client()
        let schema = TestPostgres.uniqueSchema("migrate")
        let stores = try (0..<4).map { _ in
            try PostgresStore(client: client, configuration: .init(schema: schema), logger: testLogger)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores { group.addTask { try await store.migrate() } }
            try await group.waitForAll()
        }
        let recorded: Int = try await stores[0].scalar("SELECT count(*) FROM {s}.schema_migrations")
        #expect(recorded == PostgresStore.migrations.count)
        try await dropSchema(of: stores[0])
    }

    @Test func aDatabaseNewerThanTheLibraryIsRefused() async throws {
        try await withStore { store in
            try await store.execute("INSERT INTO {s}.schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')")
            await #expect {
                try await store.migrate()
            } throws: { error in
                (error as? SequencerError)?.code == .schemaTooNew && (error as? SequencerError)?.field == "schema"
            }
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        // The schema exists with a table in the way: migration 1 fails, and its transaction rolls back whole.
        try await withStore(migrate: false) { store in
            try await store.execute("CREATE SCHEMA {s}")
            try await store.execute("CREATE TABLE {s}.events (x int)")
            await #expect {
                try await store.migrate()
            } throws: { error in
                guard let error = error as? SequencerError else { return false }
                return error.code == .storeFailure && error.message.contains("0001_initial")
                    && error.message.contains("already exists")
            }
            let leftovers: Int = try await store.scalar("""
                SELECT count(*) FROM pg_tables WHERE schemaname = '\(store.configuration.schema)' AND tablename <> 'events'
                """)
            #expect(leftovers == 0)
        }
    }

    @Test(arguments: ["", "Sequencer", "1abc", "a-b", "a b", "a\"b", "x; DROP TABLE t", "pg_toast", "ä",
                      String(repeating: "a", count: 64)])
    func invalidSchemaNamesAreRejected(_ schema: String) async throws {
        let client = try await TestPostgres.shared.client()
        #expect {
            _ = try PostgresStore(client: client, configuration: .init(schema: schema), logger: testLogger)
        } throws: { error in
            (error as? SequencerError)?.code == .invalidIdentifier && (error as? SequencerError)?.field == "schema"
        }
    }

    /// On the throwaway cluster, reserved words and the longest name are used exactly (quoting must
    /// cope); on a server from DATABASE_URL every name gets a unique suffix, so no test ever drops a
    /// schema it did not create.
    @Test(arguments: ["select", "user", String(repeating: "a", count: 63), "sequencer", "_x", "a1_b2"])
    func validSchemaNamesWorkQuoted(_ schema: String) async throws {
        let server = try await TestPostgres.shared.server()
        let exact = server.cluster != nil && (["select", "user"].contains(schema) || schema.count == 63)
        let name = exact ? schema : TestPostgres.uniqueSchema(String(schema.prefix(20)))
        let store = try PostgresStore(client: server.client, configuration: .init(schema: name), logger: testLogger)
        try await store.migrate()
        #expect(try await store.saveDefinition(threeSteps))
        #expect(try await store.definition(named: threeSteps.name, version: nil) == threeSteps)
        try await dropSchema(of: store)
    }
}
