import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import Testing

@Suite("DatabaseURL")
struct DatabaseURLTests {
    struct Case: Sendable, CustomStringConvertible {
        var url: String
        var user: String
        var password: String?
        var host: String?
        var socket: String?
        var port: Int
        var database: String
        var mode: DatabaseURL.SSLMode
        var description: String { url }
    }

    static let readable: [Case] = [
        Case(url: "postgres://localhost", user: "postgres", host: "localhost", port: 5432, database: "postgres", mode: .prefer),
        Case(url: "postgresql://app:s3cr%40t@db.internal:6543/sales?sslmode=require",
             user: "app", password: "s3cr@t", host: "db.internal", port: 6543, database: "sales", mode: .require),
        Case(url: "postgres://ops@10.0.0.5/ops_db?sslmode=verify-full", user: "ops", host: "10.0.0.5", port: 5432,
             database: "ops_db", mode: .verifyFull),
        Case(url: "postgres://app@[::1]:5433/app?sslmode=disable", user: "app", host: "::1", port: 5433, database: "app",
             mode: .disable),
        Case(url: "postgres://app@%2Fvar%2Frun%2Fpostgresql/app", user: "app", socket: "/var/run/postgresql", port: 5432,
             database: "app", mode: .prefer),
        Case(url: "postgres://app@localhost:5444/app?host=/tmp/pg&sslmode=verify-ca", user: "app", socket: "/tmp/pg",
             port: 5444, database: "app", mode: .verifyCA),
        Case(url: "postgres://me@h/my%20db?application_name=x", user: "me", host: "h", port: 5432, database: "my db",
             mode: .prefer),
    ]

    @Test(arguments: readable)
    func readsEachPartOfAURL(_ c: Case) throws {
        let url = try DatabaseURL(c.url)
        #expect(url.user == c.user && url.password == c.password && url.host == c.host && url.socketDirectory == c.socket)
        #expect(url.port == c.port && url.database == c.database && url.sslMode == c.mode)
        #expect(!url.description.contains("s3cr"), "no password in \(url.description)")
    }

    static let refused: [(String, String)] = [
        ("mysql://app@localhost/app", "scheme"),
        ("postgres:///app", "host"),
        ("postgres://app@localhost:70000/app", "port"),
        ("postgres://app:hunter2@localhost/app?sslmode=sometimes", "sslmode"),
        ("postgres://app:hunter2@localhost/app?pool=5", "pool"),
        ("not a url at all", "url"),
    ]

    @Test(arguments: refused)
    func refusesWhatItCannotUseNamingThePartAndHidingThePassword(_ url: String, _ field: String) throws {
        let error = #expect(throws: SequencerError.self) { try DatabaseURL(url) }
        #expect(error?.code == .invalidURL && error?.field == field, "\(String(describing: error))")
        #expect(error?.message.contains("hunter2") == false, "\(String(describing: error?.message))")
    }

    @Test func aSocketDirectoryBecomesTheSocketFileAndNoTLS() throws {
        let url = try DatabaseURL("postgres://app:pw@%2Fvar%2Frun%2Fpostgresql:5433/app?sslmode=require")
        #expect(url.socketPath == "/var/run/postgresql/.s.PGSQL.5433")
        let configuration = url.clientConfiguration()
        #expect(configuration.unixSocketPath == "/var/run/postgresql/.s.PGSQL.5433" && configuration.host == nil)
        #expect(configuration.username == "app" && configuration.password == "pw" && configuration.database == "app")
    }

    /// The same server through TCP and through its Unix socket, from URLs alone (the shared
    /// throwaway cluster's socket; with `DATABASE_URL` set, TCP only).
    @Test func connectsOverTCPAndOverTheUnixSocket() async throws {
        let server = try await TestPostgres.shared.server()
        var urls = [server.url.contains("?") ? server.url : server.url + "?sslmode=disable"]
        if let cluster = server.cluster {
            let directory = cluster.directory.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            urls.append("postgres://postgres@\(directory):\(cluster.port)/postgres")
        }
        for text in urls {
            let client = PostgresClient(configuration: try DatabaseURL(text).clientConfiguration(),
                                        backgroundLogger: TestPostgres.quietLogger)
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await client.run() }
                let rows = try await client.query("SELECT 41 + 1", logger: TestPostgres.quietLogger).collect()
                #expect(try rows.first?.decode(Int.self) == 42, "\(text)")
                group.cancelAll()
            }
        }
    }
}
