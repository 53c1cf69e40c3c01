public import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres

/// `sequencer`: see and steer what Sequencer runs in a PostgreSQL database, without writing Swift.
///
/// The executable is a thin `main` over this command, so each command can be run and tested as a
/// library call. Every command connects with `DATABASE_URL` (or `--database-url`) and works in
/// one schema (`--schema`, default `sequencer`). Tables go to standard output, `--json` prints
/// JSON for scripts instead, and errors go to standard error with what to do next.
///
/// Exit codes: 0 success; 1 a database or store failure; 3 something named does not exist (an
/// enrollment id, a sequence); 4 bad input (a malformed file, definition or filter); 5 the schema
/// is not migrated; 6 a bulk action not confirmed; 64 a usage error (unknown option, missing
/// argument).
public struct SequencerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "sequencer",
        abstract: "See and steer Sequencer's sequences and enrollments in PostgreSQL.",
        discussion: """
            Connects with DATABASE_URL (postgres://user:password@host:port/database?sslmode=…) or --database-url.
            Exit codes: 0 ok, 1 database failure, 3 not found, 4 bad input, 5 not migrated, 6 not confirmed, 64 usage.
            """,
        subcommands: [
            Migrate.self, Definitions.self, Enroll.self, Inspect.self, List.self, Stats.self,
            Cancel.self, Pause.self, Resume.self, Retry.self, MigrateEnrollments.self, Tick.self, Run.self, Prune.self,
            Schedules.self,
        ])

    public init() {}
}

/// The options every command takes.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "postgres:// URL (default: $DATABASE_URL).")
    var databaseURL: String?

    @Option(help: "The schema holding Sequencer's tables.")
    var schema = "sequencer"

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log what the library does to standard error.")
    var verbose = false

    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for the database before giving up.")
    var connectTimeout = 10
}

/// Why a command failed, with the exit code that says so; printed as `error: …` on standard error.
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var code: Int32

    static func notFound(_ message: String) -> CommandFailure { CommandFailure(message: message, code: 3) }
    static func badInput(_ message: String) -> CommandFailure { CommandFailure(message: message, code: 4) }

    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body` with a store on the configured database, and turns every error into a
    /// message on standard error and an exit code.
    func withStore(_ options: ConnectionOptions, _ body: @Sendable (PostgresStore, Sequencer) async throws -> Void)
        async throws
    {
        do {
            guard let text = options.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !text.isEmpty else {
                throw CommandFailure(message: "no database: set DATABASE_URL or pass --database-url postgres://user@host/database",
                                     code: 64)
            }
            let url = try DatabaseURL(text)
            var logger = Logger(label: "sequencer") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = options.verbose ? .debug : .error
            var configuration = url.clientConfiguration()
            configuration.options.connectTimeout = .seconds(5)
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                // Fail fast, with the URL (no password), when the server is not there: the pool
                // itself retries a refused connection for as long as a query waits.
                let timeout = options.connectTimeout
                let probeLogger = logger
                do {
                    try await withThrowingTaskGroup(of: Bool.self) { probe in
                        probe.addTask {
                            _ = try await client.query("SELECT 1", logger: probeLogger).collect()
                            return true
                        }
                        probe.addTask {
                            try await Task.sleep(for: .seconds(timeout))
                            return false
                        }
                        let answered = try await probe.next() ?? false
                        probe.cancelAll()
                        if !answered { throw CommandFailure(message: "no answer within \(timeout) s", code: 1) }
                    }
                } catch let failure as CommandFailure {
                    throw CommandFailure(message: "cannot connect to \(url): \(failure.message)", code: 1)
                } catch {
                    throw CommandFailure(message: "cannot connect to \(url): \(Self.reason(error))", code: 1)
                }
                let store = try PostgresStore(client: client, configuration: .init(schema: options.schema), logger: logger)
                let sequencer = Sequencer(store: store, configuration: .init(), logger: logger)
                try await body(store, sequencer)
            }
        } catch let failure as CommandFailure {
            Console.error(failure.message)
            throw ExitCode(failure.code)
        } catch let error as SequencerError {
            Console.error(Self.explain(error))
            throw ExitCode(Self.exitCode(for: error))
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Console.error(Self.reason(error))
            throw ExitCode(1)
        }
    }

    static func exitCode(for error: SequencerError) -> Int32 {
        switch error.code {
        case .notMigrated: 5
        case .unknownEnrollment, .unknownSequence, .unknownSchedule: 3
        case .storeFailure, .schemaTooNew: 1
        default: 4
        }
    }

    /// The error's message, with the next step where there is an obvious one.
    static func explain(_ error: SequencerError) -> String {
        var text = error.description
        switch error.code {
        case .unknownEnrollment: text += "\n  find ids with `sequencer list`"
        case .unknownSequence: text += "\n  see what is registered with `sequencer definitions list`"
        case .unknownSchedule: text += "\n  see the schedules with `sequencer schedules list`"
        default: break
        }
        return text
    }

    static func reason(_ error: any Error) -> String {
        if let psql = error as? PSQLError {
            return psql.serverInfo?[.message] ?? "\(psql.code)"
        }
        return "\(error)"
    }
}
