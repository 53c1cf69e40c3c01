import Foundation
import PostgresNIO
import Sequencer

/// A copy of this executable running the hidden `worker` subcommand, its stdout captured.
///
/// The child inherits stderr (its progress shows up with ours) and prints exactly one JSON line
/// on stdout, read once it has exited (one short line never fills the pipe, so it cannot block).
final class ChildProcess: Sendable {
    private let process = Process()
    private let output = Pipe()
    private let exited: AsyncStream<Int32>
    let name: String

    /// Starts `sequencer-bench ARGUMENTS…` with `DATABASE_URL` set to `databaseURL`.
    init(_ name: String, arguments: [String], databaseURL: String) throws {
        self.name = name
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        exited = stream
        process.executableURL = URL(fileURLWithPath: Self.executablePath)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        process.terminationHandler = { process in
            continuation.yield(process.terminationStatus)
            continuation.finish()
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    /// Waits for the child to exit and returns the JSON object it printed.
    func result() async throws -> [String: JSONValue] {
        var status: Int32 = -1
        for await code in exited { status = code }
        let data = try output.fileHandleForReading.readToEnd() ?? Data()
        guard status == 0 else { throw BenchError("\(name) exited with status \(status)") }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let object = try? JSONValue(json: text).objectValue else {
            throw BenchError("\(name) printed no JSON object: '\(text)'")
        }
        return object
    }

    /// Stops the child if it still runs (after a failure elsewhere).
    func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// This executable: `/proc/self/exe` on Linux, else `argv[0]`.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// A start line for worker processes, made of a PostgreSQL advisory lock, so that process start-up
/// and connecting stay out of the timed region.
///
/// The parent takes the lock (``open(_:on:children:)`` spawns the children while holding it); each
/// worker, once connected and warmed up, asks for a shared transaction lock on the same key
/// (``pass(_:client:)``) and blocks; when `pg_locks` shows every worker waiting, the parent notes
/// the time and releases the lock, and all workers start at once.
enum StartLine {
    /// A key for one run (low 31 bits, so `pg_locks.classid` is 0 and `objid` is the key).
    static func newKey() -> Int64 { Int64.random(in: 1..<Int64(Int32.max)) }

    /// Holds the line closed while `spawn` starts the workers, waits until `count` of them wait at it,
    /// then opens it. Returns the workers, and the wall-clock time and CPU times when the line opened.
    static func run(
        key: Int64, count: Int, client: PostgresClient, spawn: () throws -> [ChildProcess]
    ) async throws -> (children: [ChildProcess], openedAt: Date, cpuAtOpen: CPUSample) {
        var children: [ChildProcess] = []
        var openedAt = Date()
        var cpuAtOpen = CPUSample(process: 0, server: nil)
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(key))", logger: benchLogger)
            do {
                children = try spawn()
                try await waitForWaiters(key: key, count: count, children: children, connection: connection)
            } catch {
                for child in children { child.terminate() }
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(key))", logger: benchLogger)
                throw error
            }
            cpuAtOpen = await CPUSample.now(client)
            openedAt = Date()
            try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: benchLogger)
        }
        return (children, openedAt, cpuAtOpen)
    }

    private static func waitForWaiters(key: Int64, count: Int, children: [ChildProcess],
                                       connection: PostgresConnection) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            let rows = try await connection.query("""
                SELECT count(*) FROM pg_locks
                WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid::int8 = \(key)
                """, logger: benchLogger).collect()
            if try rows[0].decode(Int.self) >= count { return }
            if let dead = children.first(where: { !$0.isRunning }) {
                throw BenchError("\(dead.name) exited before the start")
            }
            guard ContinuousClock.now < deadline else { throw BenchError("workers not ready after 120 s") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Worker side: blocks until the parent opens the line.
    static func pass(_ key: Int64, client: PostgresClient) async throws {
        // A transaction-scoped lock is released as soon as this one statement ends.
        try await client.query("SELECT pg_advisory_xact_lock_shared(\(key))", logger: benchLogger)
    }
}
