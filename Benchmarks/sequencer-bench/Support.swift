import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting

/// The database every scenario of one run works in: the server `DATABASE_URL` names, or a
/// throwaway cluster started from the local PostgreSQL binaries (and removed when the process exits).
///
/// Each scenario gives itself a fresh schema (``withFreshSchema(_:_:)``) and drops it afterwards,
/// so scenarios and runs never see each other's rows.
struct BenchDatabase: Sendable {
    /// The server's URL; child processes get it as `DATABASE_URL`.
    let url: String
    /// A running client, shared by everything in this process.
    let client: PostgresClient
    /// `DATABASE_URL` or `throwaway`.
    let origin: String

    /// Connects (starting a throwaway cluster when `DATABASE_URL` is unset).
    static func connect() async throws -> BenchDatabase {
        let given = ProcessInfo.processInfo.environment["DATABASE_URL"].map { !$0.isEmpty } ?? false
        if !given { progress("DATABASE_URL is not set: starting a throwaway PostgreSQL cluster") }
        let server = try await TestPostgres.shared.server()
        return BenchDatabase(url: server.url, client: server.client, origin: given ? "DATABASE_URL" : "throwaway")
    }

    /// A store in a schema no other scenario uses, migrated, dropped after `body` (even when it throws).
    func withFreshSchema<T>(_ prefix: String, configure: (inout PostgresStore.Configuration) -> Void = { _ in },
                            _ body: (PostgresStore) async throws -> T) async throws -> T {
        let schema = TestPostgres.uniqueSchema("bench_\(prefix.replacingOccurrences(of: "-", with: "_"))")
        var configuration = PostgresStore.Configuration(schema: schema)
        configure(&configuration)
        let store = try PostgresStore(client: client, configuration: configuration, logger: benchLogger)
        try await store.migrate()
        do {
            let result = try await body(store)
            try await store.dropSchema()
            return result
        } catch {
            try? await store.dropSchema()
            throw error
        }
    }

    /// `SHOW server_version`.
    func serverVersion() async throws -> String {
        let rows = try await client.query("SHOW server_version", logger: benchLogger).collect()
        return try rows[0].decode(String.self)
    }
}

extension PostgresStore {
    /// The quoted schema name, for hand-written SQL.
    var quotedSchema: String { "\"\(configuration.schema)\"" }

    /// Runs a statement with `{s}` standing for the quoted schema. Only for fixed SQL written in
    /// this executable: it binds nothing (the schema name was validated by `PostgresStore`).
    func execute(_ sql: String) async throws {
        let text = sql.replacingOccurrences(of: "{s}", with: quotedSchema)
        try await client.query(PostgresQuery(unsafeSQL: text), logger: benchLogger)
    }

    /// The first column of the first row of a query with `{s}` standing for the quoted schema.
    func scalar<T: PostgresDecodable>(_ sql: String, as type: T.Type = Int.self) async throws -> T {
        let text = sql.replacingOccurrences(of: "{s}", with: quotedSchema)
        let rows = try await client.query(PostgresQuery(unsafeSQL: text), logger: benchLogger).collect()
        return try rows[0].decode(T.self)
    }

    func dropSchema() async throws {
        try await execute("DROP SCHEMA IF EXISTS {s} CASCADE")
    }

    /// Refreshes the planner statistics of the enrollments table (a steady state, as autovacuum leaves it).
    func analyze() async throws {
        try await execute("ANALYZE {s}.enrollments")
    }

    /// Whether exactly `count` enrollments exist and all are completed (one SQL count).
    func allCompleted(_ count: Int) async throws -> Bool {
        let completed = try await scalar("SELECT count(*) FILTER (WHERE status = 'completed') FROM {s}.enrollments")
        let total = try await scalar("SELECT count(*) FROM {s}.enrollments")
        return completed == count && total == count
    }

    /// Inserts `count` active enrollments of ``BenchSequence/definition`` at its first step, due at
    /// `due`, with one `INSERT … SELECT FROM generate_series` (no history events): the fast way to
    /// make a million rows. Ids are random UUIDs, as the engine makes them.
    func insertGenerated(_ count: Int, due: Date, now: Date) async throws {
        let definition = BenchSequence.definition
        try await client.query("""
            INSERT INTO \(unescaped: quotedSchema).enrollments
                (id, sequence_name, sequence_version, subject, context, step_id, status, next_run_at,
                 step_entered_at, created_at, updated_at)
            SELECT gen_random_uuid(), \(definition.name), \(definition.version), 'subject-' || g,
                   '{"plan": "trial"}'::jsonb, \(definition.steps[0].id), 'active', \(due), \(now), \(now), \(now)
            FROM generate_series(1, \(count)) AS g
            """, logger: benchLogger)
    }
}

/// The sequence every drain uses: three steps that all finish at once with built-in runners, so each
/// enrollment takes exactly three steps in one tick and completes.
///
/// `check-plan` (Conditional on the context's `plan`) → `jump` (GoTo `finish`) → `finish`
/// (Conditional) → end. Every enrollment's context is `{"plan": "trial"}`, so both conditions hold.
/// The engine writes four history events per enrollment: three `advanced` and one `completed`.
enum BenchSequence {
    static let definition = SequenceDefinition(name: "bench-three-steps", version: 1, steps: [
        .conditional("check-plan", .compare(.eq, .get("plan"), .raw("trial")), altNext: "finish"),
        .goTo("jump", target: "finish"),
        .conditional("finish", .compare(.ne, .get("plan"), .raw("churned"))),
    ])

    /// Steps each enrollment takes.
    static let stepsPerEnrollment = 3

    /// `count` enrollment requests, each with the context the conditions read.
    static func requests(_ count: Int, prefix: String = "user") -> [EnrollmentRequest] {
        (0..<count).map { EnrollmentRequest(subject: "\(prefix)-\($0)", context: ["plan": "trial"]) }
    }
}

/// Builds a sequencer configuration for a benchmark ticker.
func tickerConfiguration(owner: String, batchSize: Int, batchesInFlight: Int = 1) -> Sequencer.Configuration {
    var configuration = Sequencer.Configuration()
    configuration.batchesInFlight = batchesInFlight
    configuration.owner = owner
    configuration.batchSize = batchSize
    return configuration
}

/// What a ticker loop did, summed over its ticks: the `TickReport` counts the benchmark reports,
/// plus the number of ticks, in a shape that crosses the worker processes' JSON.
struct TickTotals: Sendable {
    var ticks = 0
    var claimed = 0
    var steps = 0
    var completed = 0
    var batches = 0
    var fencedOut = 0

    mutating func add(_ report: TickReport) {
        ticks += 1
        claimed += report.claimed
        steps += report.steps
        completed += report.completed
        batches += report.batches
        fencedOut += report.fencedOut
    }

    static func + (a: TickTotals, b: TickTotals) -> TickTotals {
        TickTotals(ticks: a.ticks + b.ticks, claimed: a.claimed + b.claimed, steps: a.steps + b.steps,
                   completed: a.completed + b.completed, batches: a.batches + b.batches,
                   fencedOut: a.fencedOut + b.fencedOut)
    }
}

/// Ticks (with the wall clock as `now`, or a simulated `now`) until a tick claims nothing.
func tickUntilEmpty(_ sequencer: Sequencer, now simulated: Date? = nil) async throws -> TickTotals {
    var totals = TickTotals()
    while true {
        let report = try await sequencer.tick(now: simulated ?? Date())
        totals.add(report)
        if report.claimed == 0 { return totals }
    }
}

/// Runs the sequencer's ``SequencerService`` (polling every millisecond, so the run's end is not
/// an interval late) until one of its ticks claims nothing.
func serviceUntilEmpty(_ sequencer: Sequencer) async throws -> TickTotals {
    var configuration = SequencerService.Configuration()
    configuration.interval = .milliseconds(1)
    configuration.wakeUps = .pollOnly
    configuration.retention = nil   // the drain alone is measured
    let service = SequencerService(sequencer, configuration: configuration, logger: benchLogger)
    let events = service.events()
    return try await withThrowingTaskGroup(of: TickTotals?.self) { group in
        group.addTask {
            try await service.run()
            return nil
        }
        group.addTask {
            var totals = TickTotals()
            for await event in events {
                switch event {
                case .ticked(let report):
                    totals.add(report)
                    if report.claimed == 0 { return totals }
                case .failed(let error):
                    throw BenchError("a tick failed: \(error)")
                case .woken, .pruned:
                    break
                }
            }
            return totals
        }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let totals = result { return totals }
        }
        throw BenchError("the service stopped before the work was done")
    }
}

// MARK: Output

/// One scenario's result: the JSON object printed as one line on stdout.
typealias Figures = [String: JSONValue]

enum Output {
    /// Prints `figures` as one line of JSON with sorted keys on stdout, and flushes.
    static func emit(_ figures: Figures) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(JSONValue.object(figures))) ?? Data(#"{"error":"unencodable result"}"#.utf8)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}

/// Progress for humans, on stderr (stdout carries only the JSON lines).
func progress(_ message: String) {
    FileHandle.standardError.write(Data("sequencer-bench: \(message)\n".utf8))
}

/// Engine and driver logs go to stderr, warnings and worse unless `SEQUENCER_BENCH_LOG` names a level.
let benchLogger: Logger = {
    var logger = Logger(label: "sequencer-bench") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = ProcessInfo.processInfo.environment["SEQUENCER_BENCH_LOG"].flatMap { Logger.Level($0) } ?? .warning
    return logger
}()

extension JSONValue {
    /// An integer figure.
    static func int(_ value: Int) -> JSONValue { .number(Double(value)) }

    /// A number rounded to `places` decimals, so lines stay readable.
    static func rounded(_ value: Double, _ places: Int = 3) -> JSONValue {
        guard value.isFinite else { return .null }
        let scale = pow(10, Double(places))
        return .number((value * scale).rounded() / scale)
    }
}

/// Reads a `kB` field (`VmHWM`, `VmRSS`) of `/proc/self/status`, in kB; `nil` off Linux.
func processStatus(_ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
    }
    return nil
}

/// CPU time used so far by this process (user + system) and by the PostgreSQL server, when it
/// runs on this host: every process `pg_stat_activity` lists (backends and background processes),
/// plus the postmaster itself and the children it has already reaped (so a backend that exits in
/// the meantime still counts), read from `/proc/PID/stat`. Differences over a timed region show
/// where the time went, the engine's process or the database, whatever else the machine runs.
struct CPUSample: Sendable {
    var process: Double
    var server: Double?

    static func now(_ client: PostgresClient) async -> CPUSample {
        CPUSample(process: processSeconds(), server: await serverSeconds(client))
    }

    /// This process's CPU time (user + system) so far.
    static func processSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// `client_cpu_seconds` and `server_cpu_seconds` from `start` to `end`.
    static func figures(from start: CPUSample, to end: CPUSample) -> Figures {
        var figures: Figures = ["client_cpu_seconds": .rounded(end.process - start.process, 2)]
        if let before = start.server, let after = end.server {
            figures["server_cpu_seconds"] = .rounded(after - before, 2)
        }
        return figures
    }

    private static func serverSeconds(_ client: PostgresClient) async -> Double? {
        guard let rows = try? await client.query("SELECT pid FROM pg_stat_activity", logger: benchLogger).collect()
        else { return nil }
        var total = 0.0
        var parents: [Int: Int] = [:]
        for row in rows {
            guard let pid = try? row.decode(Int32.self), let fields = stat(Int(pid)), fields.count > 12 else { continue }
            total += fields[11] + fields[12]  // utime, stime
            parents[Int(fields[1]), default: 0] += 1
        }
        // The postmaster: the parent of (nearly) every listed process; with the time of its reaped children.
        guard let postmaster = parents.max(by: { $0.value < $1.value })?.key, let fields = stat(postmaster),
              fields.count > 14
        else { return nil }
        total += fields[11] + fields[12] + fields[13] + fields[14]  // utime, stime, cutime, cstime
        return total / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The numeric fields of `/proc/PID/stat` from field 3 (state, as NaN) on: index 1 is the
    /// parent pid, 11…14 utime, stime, cutime, cstime in clock ticks.
    private static func stat(_ pid: Int) -> [Double]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ").map { Double($0) ?? .nan }
    }
}

/// A benchmark that could not run as asked.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
