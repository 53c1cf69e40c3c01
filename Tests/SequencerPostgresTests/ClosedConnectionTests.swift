import Foundation
import PostgresNIO
import Sequencer
@testable import SequencerPostgres
import SequencerPostgresTesting
import Testing

/// The store's guard against queries lost to a connection the server has just closed
/// (`PostgresStore+Connections.swift`): PostgresNIO 1.33 leaves such a query waiting forever.
@Suite("Connections closed under the store, on PostgreSQL")
struct ClosedConnectionTests {
    /// A query written to a connection the server closed (`pg_terminate_backend`, as a restart
    /// does) ends with an error instead of waiting forever, and gives its lease back.
    @Test(.timeLimit(.minutes(1)))
    func aQueryOnAConnectionTheServerClosedFailsInsteadOfHanging() async throws {
        let server = try await TestPostgres.shared.server()
        let client = PostgresClient(configuration: server.configuration, backgroundLogger: TestPostgres.quietLogger)
        let killer = PostgresClient(configuration: server.configuration, backgroundLogger: TestPostgres.quietLogger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            group.addTask { await killer.run() }
            defer { group.cancelAll() }
            let outcome: Result<[PostgresRow], any Error>
            do { outcome = try await client.withConnection { connection in
                let pid = try await connection.query("SELECT pg_backend_pid()", logger: testLogger).collect()[0].decode(Int.self)
                _ = try await killer.query("SELECT pg_terminate_backend(\(pid)::int)", logger: testLogger).collect()
                try? await connection.closeFuture.get()
                #expect(connection.isClosed)
                return await Result(catching: {
                    try await connection.abandoningWhenClosed(grace: .milliseconds(200)) { connection in
                        try await connection.query("SELECT 1", logger: testLogger).collect()
                    }
                })
            } } catch { Issue.record("\(String(reflecting: error))"); return }
            guard case .failure(let error) = outcome else {
                Issue.record("a query on a closed connection returned rows")
                return
            }
            // Either PostgresNIO failed it (it may, once fixed) or the guard gave up on it.
            #expect(error is ConnectionClosedError || error is PSQLError, "\(error)")
            // The lease went back: the pool serves the next query.
            let rows = try await client.query("SELECT 41 + 1", logger: testLogger).collect()
            #expect(try rows[0].decode(Int.self) == 42)
        }
    }

    /// A body that finishes on its own is not affected by its connection closing afterwards,
    /// and its result (or error) is returned as it is.
    @Test func aBodyThatFinishesReturnsItsOwnResultOrError() async throws {
        let server = try await TestPostgres.shared.server()
        let client = PostgresClient(configuration: server.configuration, backgroundLogger: TestPostgres.quietLogger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let store = try PostgresStore(client: client, configuration: .init(schema: "closed_guard"), logger: testLogger)
            let rows = try await store.queryRows("SELECT 6 * 7")
            #expect(try rows[0].decode(Int.self) == 42)
            await #expect(throws: PSQLError.self) {
                _ = try await store.queryRows("SELECT * FROM no_such_table_here")
            }
        }
    }
}
