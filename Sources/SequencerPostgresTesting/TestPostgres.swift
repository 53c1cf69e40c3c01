import Foundation
public import Logging
public import PostgresNIO
import SequencerPostgres

/// The PostgreSQL server a test process shares: the one `DATABASE_URL` names, or a
/// throwaway cluster started on first use.
///
/// Every test asks ``shared`` for a client and gives itself a fresh schema
/// (``uniqueSchema(_:)``), so tests run in parallel against one server and never
/// see each other's rows:
///
/// ```swift
/// @Test func enrollsInsideATransaction() async throws {
///     let client = try await TestPostgres.shared.client()
///     let store = try PostgresStore(client: client, configuration: .init(schema: TestPostgres.uniqueSchema()),
///                                   logger: logger)
///     try await store.migrate()
///     // …
/// }
/// ```
///
/// With `DATABASE_URL` set (`postgres://user:password@host:port/database?sslmode=disable`)
/// that server is used as is. Otherwise a ``ThrowawayPostgres`` is started once,
/// lazily, the first time a test asks, and removed when the process exits. The
/// shared client runs for the life of the process.
public actor TestPostgres {
    /// The process-wide instance.
    public static let shared = TestPostgres()

    /// A server tests can use.
    public struct Server: Sendable {
        /// Its URL (pass it to child processes as `DATABASE_URL`).
        public let url: String
        /// Client settings for it.
        public let configuration: PostgresClient.Configuration
        /// A client whose `run()` is running; shared by every test in the process.
        public let client: PostgresClient
        /// The throwaway cluster, when no `DATABASE_URL` was given.
        public let cluster: ThrowawayPostgres?
    }

    private var starting: Task<Server, any Error>?

    /// Creates an instance with its own server. Most tests use ``shared``.
    public init() {}

    /// The server, started (or connected) on first call; later calls return the same one.
    public func server() async throws -> Server {
        if let starting { return try await starting.value }
        let task = Task { try await Self.makeServer() }
        starting = task
        do {
            return try await task.value
        } catch {
            starting = nil  // let a later test try again (and report its own error)
            throw error
        }
    }

    /// The shared client (see ``Server/client``).
    public func client() async throws -> PostgresClient {
        try await server().client
    }

    /// The server's URL.
    public func url() async throws -> String {
        try await server().url
    }

    /// A schema name no other test of any run uses: `prefix` plus 16 random hex digits.
    public nonisolated static func uniqueSchema(_ prefix: String = "test") -> String {
        let random = UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        return "\(prefix)_\(random)"
    }

    private static func makeServer() async throws -> Server {
        let cluster: ThrowawayPostgres?
        let url: String
        if let given = ProcessInfo.processInfo.environment["DATABASE_URL"], !given.isEmpty {
            cluster = nil
            url = given
        } else {
            let started = try await ThrowawayPostgres.start()
            cluster = started
            url = started.url
        }
        var configuration = try DatabaseURL(url).clientConfiguration()
        configuration.options.maximumConnections = 40
        let client = PostgresClient(configuration: configuration, backgroundLogger: quietLogger)
        // Detached and never cancelled: the client serves every test until the process exits.
        Task.detached { await client.run() }
        _ = try await client.query("SELECT 1", logger: quietLogger).collect()
        return Server(url: url, configuration: configuration, client: client, cluster: cluster)
    }

    /// A logger that drops everything, for PostgresNIO's background logging in tests.
    public static let quietLogger = Logger(label: "sequencer.test-postgres") { _ in SwiftLogNoOpLogHandler() }
}
