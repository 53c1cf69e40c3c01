import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerTesting
@testable import SequencerPostgres
import SequencerPostgresTesting
import Testing

/// Quiet unless `SEQUENCER_TEST_LOG=debug` (or another level) is set.
let testLogger: Logger = {
    var logger = Logger(label: "sequencer.postgres-tests")
    logger.logLevel = ProcessInfo.processInfo.environment["SEQUENCER_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
    return logger
}()

/// A PostgresStore in a fresh schema of the shared test server, dropped afterwards.
func withStore<T>(
    migrate: Bool = true, configure: (inout PostgresStore.Configuration) -> Void = { _ in },
    _ body: (PostgresStore) async throws -> T
) async throws -> T {
    let client = try await TestPostgres.shared.client()
    var configuration = PostgresStore.Configuration(schema: TestPostgres.uniqueSchema())
    configure(&configuration)
    let store = try PostgresStore(client: client, configuration: configuration, logger: testLogger)
    if migrate { try await store.migrate() }
    do {
        let result = try await body(store)
        try await dropSchema(of: store)
        return result
    } catch {
        try? await dropSchema(of: store)
        throw error
    }
}

/// The two ways `PostgresStore.enroll` writes a batch: arrays bound to `INSERT … unnest`, or
/// (a batch without keys, on the store's own connection) `COPY` in a transaction of its own.
enum EnrollPath: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case unnest, copy

    var testDescription: String { rawValue }

    /// Sends every enroll call that can take this path down it, whatever its size.
    func configure(_ configuration: inout PostgresStore.Configuration) {
        configuration.enrollCopyThreshold = self == .copy ? 1 : .max
    }
}

func dropSchema(of store: PostgresStore) async throws {
    try await store.client.query("DROP SCHEMA IF EXISTS \(unescaped: "\"\(store.configuration.schema)\"") CASCADE",
                                 logger: testLogger)
}

extension PostgresStore {
    /// Runs a query with `{s}` standing for the quoted schema, returning the first column of the first row.
    func scalar<T: PostgresDecodable>(_ sql: String, as type: T.Type = Int.self) async throws -> T {
        let text = sql.replacingOccurrences(of: "{s}", with: "\"\(configuration.schema)\"")
        // Through the store's guard: a query written to a connection that has just closed fails instead of hanging.
        let rows = try await queryRows(PostgresQuery(unsafeSQL: text))
        return try rows[0].decode(T.self)
    }

    /// Runs a statement with `{s}` standing for the quoted schema.
    func execute(_ sql: String) async throws {
        let text = sql.replacingOccurrences(of: "{s}", with: "\"\(configuration.schema)\"")
        try await client.query(PostgresQuery(unsafeSQL: text), logger: testLogger)
    }
}

/// Three steps that all finish at once (GoTo, Conditional, GoTo): one tick drains an enrollment,
/// or three with a step budget of 1.
let threeSteps = SequenceDefinition(name: "three-steps", version: 1, steps: [
    .goTo("a", target: "b"),
    .conditional("b", .compare(.eq, .raw(1), .raw(1)), altNext: "c"),
    .goTo("c", target: Step.end),
])

func newEnrollment(_ subject: String, in definition: SequenceDefinition = threeSteps, key: String? = nil,
                   due: Date = t0, context: JSONValue = [:]) -> Enrollment {
    Enrollment(
        sequenceName: definition.name, sequenceVersion: definition.version, subject: subject, idempotencyKey: key,
        context: context, stepID: definition.steps[0].id, nextRunAt: due, stepEnteredAt: t0, createdAt: t0, updatedAt: t0)
}

extension HistoryInvariants {
    /// The invariants of a drained run of ``threeSteps`` in `store`'s schema.
    static func read(_ store: PostgresStore) async throws -> HistoryInvariants {
        try await read(client: store.client, schema: store.configuration.schema, paths: ["a>b,b>c,c>$end"])
    }
}
