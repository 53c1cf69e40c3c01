import Foundation
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import Testing

/// Hostile strings in every name, subject, key, event and context the store writes, with the
/// server logging every statement (`log_statement = all`): no hostile text ever reaches the SQL
/// of a statement (it travels as bind parameters), and a hostile schema name is refused before
/// any statement.
@Suite("Hostile strings never become SQL, on PostgreSQL")
struct HostileStatementTests {
    /// Strings that would change a statement if they were pasted into it.
    static let hostile = [
        "'; DROP TABLE enrollments; --", "\" OR 1=1 --", "x'); DELETE FROM events; --", "$1", "$$; SELECT pg_sleep(10); $$",
        "\\'; TRUNCATE definitions; --", "🦀'🦀", "a\u{0}b", "{s}.enrollments", "E'\\x00'", "/* */ UNION SELECT 1 --",
    ]
    /// Text that appears in a statement only if a hostile string was pasted into it.
    static let markers = ["DROP TABLE enrollments", "OR 1=1", "DELETE FROM events", "pg_sleep(10)", "TRUNCATE definitions",
                          "UNION SELECT 1", "🦀"]

    @Test(.timeLimit(.minutes(3)))
    func hostileStringsTravelAsParametersNeverAsSQL() async throws {
        let cluster = try await ThrowawayPostgres.start()
        defer { Task { try? await cluster.stop() } }
        let client = PostgresClient(configuration: try DatabaseURL(cluster.url).clientConfiguration(),
                                    backgroundLogger: TestPostgres.quietLogger)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query("ALTER SYSTEM SET log_statement = 'all'", logger: testLogger)
            try await client.query("SELECT pg_reload_conf()", logger: testLogger)

            // A hostile schema is refused before anything is sent.
            for schema in Self.hostile + ["x\"; DROP SCHEMA public; --", "Sequencer", "pg_catalog"] {
                #expect(throws: SequencerError.self) {
                    try PostgresStore(client: client, configuration: .init(schema: schema), logger: testLogger)
                }
            }
            let store = try PostgresStore(client: client, configuration: .init(schema: "hostile"), logger: testLogger)
            try await store.migrate()
            let sequencer = Sequencer(store: store, logger: testLogger)
            var accepted = 0, refused = 0
            for (index, text) in Self.hostile.enumerated() {
                // As a sequence name, a step id and a runner name (refused: unknown runner), and in a config.
                do {
                    try await sequencer.register(SequenceDefinition(name: text, version: 1) {
                        Step.waitForDuration("wait", 1, "days")
                        Step.goTo(text, target: Step.end)
                    })
                    accepted += 1
                } catch is SequencerError { refused += 1 }
                do {
                    try await sequencer.register(SequenceDefinition(name: "s\(index)", version: 1) { Step(id: "a", runner: text) })
                    accepted += 1
                } catch is SequencerError { refused += 1 }
                do {   // (a NUL cannot be stored in a config: refused, documented)
                    try await sequencer.register(SequenceDefinition(name: "plain\(index)", version: 1) {
                        Step.waitForDuration("wait", 1, "days")
                        Step(id: "check", runner: "Conditional", config: [
                            "lodashCommand": "eq", "value": ["type": "get", "value": .string(text)],
                            "compareTo": ["type": "raw", "value": .string(text)],
                        ])
                    })
                    accepted += 1
                } catch is SequencerError {
                    refused += 1
                    try await sequencer.register(SequenceDefinition(name: "plain\(index)", version: 1) {
                        Step.waitForDuration("wait", 1, "days")
                    })
                }
                // As a subject, an idempotency key, context keys and values, an event, a lookup.
                do {
                    let id = try await sequencer.enroll(text, in: "plain\(index)", context: [text: .string(text)],
                                                        idempotencyKey: text)
                    _ = try await sequencer.updateContext(id, merging: [text: .string(text + text)])
                    _ = try await sequencer.enrollment(sequence: "plain\(index)", idempotencyKey: text)
                    _ = try await sequencer.enrollments(subject: text)
                    _ = try await sequencer.history(of: id)
                    accepted += 1
                } catch is SequencerError { refused += 1 }
                _ = try? await sequencer.definition(text)
            }
            _ = try await sequencer.tick(now: Date().addingTimeInterval(2 * 86_400))

            // Every statement the server logged.
            let log = try String(contentsOfFile: cluster.directory + "/server.log", encoding: .utf8)
            let statements = log.split(separator: "\n").filter { $0.contains("LOG:  statement:") || $0.contains("LOG:  execute") }
            #expect(statements.count > 50, "the server logged \(statements.count) statements")
            for line in statements {
                for marker in Self.markers where line.contains(marker) {
                    Issue.record("hostile text in a statement: \(line.prefix(300))")
                }
            }
            print("hostile statements: \(statements.count) statements logged, \(accepted) hostile writes accepted, "
                  + "\(refused) refused, no hostile text in any statement")
        }
    }
}
