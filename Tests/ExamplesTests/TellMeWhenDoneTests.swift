import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Sequencer
import SequencerPostgresTesting
import Synchronization
import Testing

/// The "tell me when it's done" example, run as its built binary.
@Suite("TellMeWhenDone example")
struct TellMeWhenDoneTests {
    struct Run { var status: Int32; var out: String }

    func run(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> Run {
        let process = Process()
        process.executableURL = try BuiltExecutable.url(named: "TellMeWhenDone")
        process.arguments = ["--"] + arguments
        var environment = ProcessInfo.processInfo.environment
        for key in ["SMTP_URL", "SMS_URL", "DATABASE_URL", "NOTIFY_EMAIL", "NOTIFY_PHONE"] { environment[key] = nil }
        process.environment = environment.merging(extra) { _, new in new }
        // A file, not a pipe: a process started meanwhile by another test can inherit a pipe's write end.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tell-\(UUID().uuidString).out").path
        FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? out.close() }
        process.standardOutput = out
        process.standardError = out
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        return Run(status: process.terminationStatus, out: (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    @Test func aFailedCommandIsReportedWithItsExitCodeAndDurationAndItsCodeIsKept() async throws {
        let result = try await run(["sh", "-c", "sleep 0.2; exit 2"], environment: ["NOTIFY_EMAIL": "ops@example.com"])
        #expect(result.status == 2, "\(result.out)")
        #expect(result.out.contains("email to ops@example.com: `sh -c 'sleep 0.2; exit 2'` failed with exit 2 after 0."), "\(result.out)")
        #expect(result.out.contains("SMS to +15555550123: `sh -c 'sleep 0.2; exit 2'` failed with exit 2 after 0."), "\(result.out)")
        #expect(result.out.contains("tell-me-when-done: completed (email-failed → sms-failed → $end)"), "\(result.out)")
    }

    /// On PostgreSQL, the text message POSTed to a real HTTP server (this process, on loopback).
    @Test func onPostgreSQLASuccessIsTextedAndKeptWithItsHistory() async throws {
        let received = Mutex<[String]>([])
        let router = Router()
        router.post("sms") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 16)
            received.withLock { $0.append(String(buffer: body)) }
            return .created
        }
        let port = Mutex<Int?>(nil)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
                              logger: Logger(label: "sms") { _ in SwiftLogNoOpLogHandler() })
        let server = try await TestPostgres.shared.server()
        let schema = TestPostgres.uniqueSchema("tell")
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            defer { group.cancelAll() }
            var bound: Int?
            for _ in 0..<500 where bound == nil {
                bound = port.withLock { $0 }
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let smsPort = try #require(bound)
            let result = try await run(["true"], environment: [
                "DATABASE_URL": server.url, "DATABASE_SCHEMA": schema, "SMS_URL": "http://127.0.0.1:\(smsPort)/sms",
            ])
            #expect(result.status == 0, "\(result.out)")
            let texts = received.withLock { $0 }
            #expect(texts.count == 1 && texts.first?.contains(#""message":"`true` succeeded in 0."#) == true, "\(texts)")
            let rows = try await server.client.query(
                "SELECT status FROM \(unescaped: "\"\(schema)\"").enrollments WHERE sequence_name = 'tell-me-when-done'",
                logger: Logger(label: "q")).collect()
            #expect(try rows.map { try $0.decode(String.self) } == ["completed"])
        }
        try await server.client.query("DROP SCHEMA \(unescaped: "\"\(schema)\"") CASCADE", logger: Logger(label: "q"))
    }
}
