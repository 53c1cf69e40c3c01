import ArgumentParser
import Foundation
import NIOCore
import PostgresNIO
import Sequencer
import SequencerPostgres

/// `sequencer-bench enroll`: how fast `Sequencer.enroll(_:in:now:)` writes a segment.
struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bulk-enroll N subjects in one call; report rows per second.")

    @Option(help: "Subjects to enroll.") var n = 100_000
    @Option(help: "How the store writes: copy (COPY into a staging table) or unnest (INSERT … unnest, the path before COPY).")
    var path: EnrollScenario.Path = .copy
    @Option(help: "Enrollments per batch (PostgresStore.Configuration.enrollBatchSize).") var batchSize = 5_000
    @Flag(help: "Give every request an idempotency key (COPY then goes through the staging table).") var keys = false

    func validate() throws {
        guard n > 0, batchSize > 0 else { throw ValidationError("n and batch-size must be positive") }
    }

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await EnrollScenario(n: n, path: path, batchSize: batchSize, keys: keys).run(database))
    }
}

/// `sequencer-bench enroll-floor`: the same rows and events written by hand-written COPY alone.
struct EnrollFloor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll-floor",
        abstract: "Write N enrollments and their enrolled events with two hand-written COPY statements; report rows per second.")

    @Option(help: "Rows to write.") var n = 100_000

    func validate() throws {
        guard n > 0 else { throw ValidationError("n must be positive") }
    }

    func run() async throws {
        let database = try await BenchDatabase.connect()
        Output.emit(try await EnrollFloorScenario(n: n).run(database))
    }
}

/// Times one `sequencer.enroll(requests, in:)` call of N subjects (each with a small context, no
/// idempotency key), the requests built beforehand. The store writes batches of `batchSize`:
/// through `COPY` into its staging table and one statement moving each batch (`copy`, the
/// default for calls of 1,000 or more), or one `INSERT … SELECT FROM unnest(…)` per batch
/// (`unnest`, every call before `COPY`). A count then checks that all N rows and their
/// `enrolled` events exist.
struct EnrollScenario {
    enum Path: String, ExpressibleByArgument, Sendable {
        case copy, unnest
    }

    var n: Int
    var path: Path = .copy
    var batchSize = 5_000
    /// Every request has an idempotency key.
    var keys = false

    var name: String { (path == .copy ? "enroll" : "enroll-unnest") + (keys ? "-keys" : "") }

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema(name, configure: { configuration in
            configuration.enrollBatchSize = batchSize
            configuration.enrollCopyThreshold = path == .copy ? 1 : .max
        }) { store in
            let sequencer = Sequencer(store: store, logger: benchLogger)
            try await sequencer.register(BenchSequence.definition)
            // Warm the pool's connection, the staging table and the definition cache outside the timing.
            _ = try await sequencer.enroll(BenchSequence.requests(1, prefix: "warm-up"), in: BenchSequence.definition.name)
            var requests = BenchSequence.requests(n)
            if keys {
                for index in requests.indices { requests[index].idempotencyKey = "key-\(index)" }
            }
            progress("\(name): enrolling \(n)")
            let clock = ContinuousClock()
            let cpu = await CPUSample.now(store.client)
            let start = clock.now
            let ids = try await sequencer.enroll(requests, in: BenchSequence.definition.name, now: Date())
            let seconds = (clock.now - start).timeInterval
            let cpuFigures = CPUSample.figures(from: cpu, to: await CPUSample.now(store.client))
            let stored = try await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE subject NOT LIKE 'warm-up-%'")
            let events = try await store.scalar("SELECT count(*) FROM {s}.events WHERE kind = 'enrolled'")
            let figures: Figures = [
                "scenario": .string(name), "n": .int(n), "seconds": .rounded(seconds),
                "rows_per_second": .rounded(Double(n) / seconds, 0), "batch_size": .int(batchSize),
                "verified": .bool(ids.count == n && stored == n && events == n + 1),
            ]
            return figures.merging(cpuFigures) { first, _ in first }
        }
    }
}

/// The floor of enroll: the rows `enroll` writes for the same N requests (every column, the same
/// context, all due now) and one `enrolled` event each, streamed by two `COPY … FROM STDIN` in
/// one transaction, plus the one funnel-delta row per counter the engine adds.
///
/// What it does not do: check requests against the definition, build `Enrollment` values, look
/// for idempotency keys or held subjects, stage rows, return ids, or notify. Every row shares
/// one timestamp, written once as text.
struct EnrollFloorScenario {
    var n: Int

    func run(_ database: BenchDatabase) async throws -> Figures {
        try await database.withFreshSchema("enroll-floor") { store in
            _ = try await store.saveDefinition(BenchSequence.definition)
            let definition = BenchSequence.definition
            let first = definition.steps[0].id
            progress("enroll-floor: writing \(n)")
            let clock = ContinuousClock()
            let cpu = await CPUSample.now(store.client)
            let start = clock.now
            try await store.client.withTransaction(logger: benchLogger) { connection in
                // COPY names its table unqualified: find it through the search path.
                try await connection.query("SET LOCAL search_path TO \(unescaped: store.quotedSchema)", logger: benchLogger)
                let now = ISO8601DateFormatter.string(from: Date(), timeZone: .gmt,
                                                      formatOptions: [.withInternetDateTime, .withFractionalSeconds])
                let ids = (0..<n).map { _ in UUID().uuidString }
                let enrollmentColumns = ["id", "sequence_name", "sequence_version", "subject", "context", "step_id", "status",
                                         "next_run_at", "step_entered_at", "attempts", "visit", "created_at", "updated_at"]
                try await connection.copyFrom(table: "enrollments", columns: enrollmentColumns, logger: benchLogger) { writer in
                    let fixed = "\t\(definition.name)\t\(definition.version)\t"
                    let rest = "\t{\"plan\": \"trial\"}\t\(first)\tactive\t\(now)\t\(now)\t0\t0\t\(now)\t\(now)\n"
                    var buffer = ByteBuffer()
                    for (index, id) in ids.enumerated() {
                        buffer.writeString(id)
                        buffer.writeString(fixed)
                        buffer.writeString("user-\(index)")
                        buffer.writeString(rest)
                        if buffer.readableBytes >= 1 << 18 {
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                    }
                    try await writer.write(buffer)
                }
                try await connection.copyFrom(
                    table: "events", columns: ["enrollment_id", "kind", "to_step", "visit", "at"], logger: benchLogger
                ) { writer in
                    let rest = "\tenrolled\t\(first)\t0\t\(now)\n"
                    var buffer = ByteBuffer()
                    for id in ids {
                        buffer.writeString(id)
                        buffer.writeString(rest)
                        if buffer.readableBytes >= 1 << 18 {
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                    }
                    try await writer.write(buffer)
                }
                try await connection.query("""
                    INSERT INTO funnel_deltas (sequence_name, sequence_version, step_id, metric, delta)
                    VALUES (\(definition.name), \(definition.version), \(first), 'reached', \(n)),
                           (\(definition.name), \(definition.version), '', 'enrolled', \(n))
                    """, logger: benchLogger)
            }
            let seconds = (clock.now - start).timeInterval
            let cpuFigures = CPUSample.figures(from: cpu, to: await CPUSample.now(store.client))
            let stored = try await store.scalar("SELECT count(*) FROM {s}.enrollments")
            let events = try await store.scalar("SELECT count(*) FROM {s}.events WHERE kind = 'enrolled'")
            let figures: Figures = [
                "scenario": "enroll-floor", "n": .int(n), "seconds": .rounded(seconds),
                "rows_per_second": .rounded(Double(n) / seconds, 0),
                "verified": .bool(stored == n && events == n),
            ]
            return figures.merging(cpuFigures) { first, _ in first }
        }
    }
}
