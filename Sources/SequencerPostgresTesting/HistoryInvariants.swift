import Foundation
public import Logging
public import PostgresNIO

/// What a drained run left in a schema's history, read in SQL: the invariants the fault tests
/// check after crashes, kills and restarts.
///
/// ```swift
/// let invariants = try await HistoryInvariants.read(client: client, schema: "chaos",
///                                                   paths: ["a>b,b>c,c>$end"])
/// #expect(invariants == .clean(10_000), "\(invariants)")
/// ```
///
/// Read it once the run is over (it queries through `client` directly, with no retries).
public struct HistoryInvariants: Equatable, Sendable, CustomStringConvertible {
    /// Enrollments in the schema.
    public var enrollments = 0
    /// Enrollments not `completed`: lost or stuck work.
    public var notCompleted = 0
    /// (enrollment, step, visit) transitions recorded more than once: a step applied twice.
    public var duplicateTransitions = 0
    /// Enrollments whose transitions, in order, are none of the expected paths.
    public var wrongPaths = 0
    /// Enrollments without exactly one `completed` event.
    public var wrongCompletions = 0

    public init(enrollments: Int = 0, notCompleted: Int = 0, duplicateTransitions: Int = 0, wrongPaths: Int = 0,
                wrongCompletions: Int = 0) {
        self.enrollments = enrollments
        self.notCompleted = notCompleted
        self.duplicateTransitions = duplicateTransitions
        self.wrongPaths = wrongPaths
        self.wrongCompletions = wrongCompletions
    }

    public var description: String {
        "enrollments=\(enrollments) notCompleted=\(notCompleted) duplicateTransitions=\(duplicateTransitions) "
            + "wrongPaths=\(wrongPaths) wrongCompletions=\(wrongCompletions)"
    }

    /// A run of `count` enrollments with nothing wrong.
    public static func clean(_ count: Int) -> HistoryInvariants { HistoryInvariants(enrollments: count) }

    /// Reads the invariants of `schema`.
    ///
    /// - Parameter paths: the allowed paths, each the enrollment's transitions (`advanced`,
    ///   `altAdvanced`, `goalReached`) in order, as `from>to` joined by commas: `"a>b,b>$end"`.
    public static func read(client: PostgresClient, schema: String, paths: Set<String>,
                            logger: Logger = TestPostgres.quietLogger) async throws -> HistoryInvariants {
        let s = "\"\(schema.replacingOccurrences(of: "\"", with: "\"\""))\""
        func count(_ sql: String, _ bindings: PostgresBindings = .init()) async throws -> Int {
            try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).collect()[0].decode(Int.self)
        }
        var result = HistoryInvariants()
        result.enrollments = try await count("SELECT count(*) FROM \(s).enrollments")
        result.notCompleted = try await count("SELECT count(*) FROM \(s).enrollments WHERE status <> 'completed'")
        result.duplicateTransitions = try await count("""
            SELECT count(*) FROM (
                SELECT 1 FROM \(s).events WHERE kind IN ('advanced', 'altAdvanced', 'goalReached')
                GROUP BY enrollment_id, from_step, visit HAVING count(*) > 1) AS d
            """)
        var bindings = PostgresBindings()
        bindings.append(paths.sorted())
        result.wrongPaths = try await count("""
            SELECT count(*) FROM \(s).enrollments e WHERE coalesce((
                SELECT string_agg(from_step || '>' || to_step, ',' ORDER BY id) FROM \(s).events
                WHERE enrollment_id = e.id AND kind IN ('advanced', 'altAdvanced', 'goalReached')
            ) <> ALL ($1::text[]), true)
            """, bindings)
        result.wrongCompletions = try await count("""
            SELECT count(*) FROM \(s).enrollments e
            WHERE (SELECT count(*) FROM \(s).events WHERE enrollment_id = e.id AND kind = 'completed') <> 1
            """)
        return result
    }
}
