import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import SequencerTesting
import SequencerTransports
import Synchronization
import Testing

@Suite("HTTP task runner against a local server")
struct HTTPTaskRunnerTests {
    static let release = """
        {"name": "release", "version": 1, "steps": [
          {"id": "deploy", "runner": "HTTPTask", "altNext": "rollback",
           "config": {"url": "http://127.0.0.1:PORT/jobs", "payload": {"service": "{{service}}", "note": "{{note}}"},
                      "timeout": {"amount": 30, "unit": "minutes"}, "heartbeat": {"amount": 1, "unit": "minutes"},
                      "resultKey": "deploy"}},
          {"id": "verify", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "days"}},
          {"id": "rollback", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "days"}}
        ]}
        """

    @Test("a 2xx starts the job: one POST with the callback URL, the visit key and the rendered payload; the callback moves it on")
    func startsTheJobAndWaitsForItsCallback() async throws {
        let server = try await TestServer.http()
        defer { server.stop() }
        let tasks = HTTPTaskRunner(configuration: .init(callbackURL: "https://app.example.com/callbacks/"))
        let sequencer = makeSequencer([tasks])
        try await sequencer.register(json: Self.release.replacingOccurrences(of: "PORT", with: "\(server.port)"))
        let id = try await sequencer.enroll("release-118", in: "release",
                                            context: ["service": "api", "note": "<\"quoted\"> & ✨"], now: t0)
        try await sequencer.tick(now: t0)

        let request = try #require(try server.records(ReceivedRequest.self).first)
        #expect(request.method == "POST" && request.path == "/jobs")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["idempotency-key"] == "\(id.uuidString.lowercased())/deploy/1")
        let body = try JSONValue(json: request.body)
        let token = try await sequencer.callbackToken(enrollment: id, visit: 1)
        #expect(body["callback_url"] == .string("https://app.example.com/callbacks/" + token))
        #expect(body["heartbeat_interval_seconds"] == 60)
        #expect(body["payload"] == ["service": "api", "note": "<\"quoted\"> & ✨"])
        #expect(body["scheduled_time"] == .string(ISO8601Timestamp.string(from: t0, withMilliseconds: false)))
        #expect(body["subject"] == "release-118" && body["sequence"] == "release" && body["step"] == "deploy")
        let waiting = try await sequencer.enrollment(id)
        #expect(waiting.stepID == "deploy" && waiting.nextRunAt == t0.addingTimeInterval(60))
        #expect(try await sequencer.messages(of: id, .waiting).first == "started at 127.0.0.1; waiting for its callback")

        // The service reports progress, then success, through the callback URL's token.
        _ = try await sequencer.heartbeat(token: token, progress: 50, now: t0.addingTimeInterval(30))
        _ = try await sequencer.complete(token: token, outcome: .success(["version": "1.2"]), now: t0.addingTimeInterval(45))
        try await sequencer.tick(now: t0.addingTimeInterval(45))
        let done = try await sequencer.enrollment(id)
        #expect(done.stepID == "verify" && done.context["deploy"] == ["version": "1.2"])
        #expect(try server.records(ReceivedRequest.self).count == 1, "started once")
    }

    @Test("another answer retries with backoff, the same callback URL and key; the reason quotes the service")
    func failedStartsAreRetriedWithTheSameCallback() async throws {
        let server = try await TestServer.http(rules: [("flaky", 503, #"{"message": "deployer is restarting"}"#)])
        defer { server.stop() }
        let tasks = HTTPTaskRunner(configuration: .init(callbackURL: "https://app.example.com/callbacks?token="))
        let sequencer = makeSequencer([tasks])
        try await sequencer.register(json: Self.release.replacingOccurrences(of: "PORT", with: "\(server.port)"))
        let id = try await sequencer.enroll("release-119", in: "release", context: ["service": "flaky", "note": ""], now: t0)
        try await sequencer.tick(now: t0)
        let retrying = try await sequencer.enrollment(id)
        #expect(retrying.stepID == "deploy" && retrying.attempts == 1 && retrying.callback == nil)
        let reason = try #require(try await sequencer.messages(of: id, .retrying).first)
        #expect(reason.contains("could not start the job: HTTP 503 from 127.0.0.1: deployer is restarting"), "\(reason)")
        try await sequencer.tick(now: try #require(retrying.nextRunAt))
        let requests = try server.records(ReceivedRequest.self)
        #expect(requests.count == 2)
        let bodies = try requests.map { try JSONValue(json: $0.body) }
        #expect(bodies[0]["callback_url"] == bodies[1]["callback_url"] && requests[0].headers["idempotency-key"] == requests[1].headers["idempotency-key"])
        #expect(bodies[0]["callback_url"]?.stringValue?.hasPrefix("https://app.example.com/callbacks?token=cb1_") == true)
    }

    @Test("configs are checked at register, naming the step and field", arguments: [
        (#"{"timeout": {"amount": 1, "unit": "hours"}}"#, "config.url"),
        (#"{"url": "ftp://x/y", "timeout": {"amount": 1, "unit": "hours"}}"#, "config.url"),
        (#"{"url": "http://x/y"}"#, "config.timeout"),
        (#"{"url": "http://x/y", "timeout": {"amount": 1, "unit": "months"}}"#, "config.timeout.unit"),
        (#"{"url": "http://x/y", "timeout": {"amount": 0, "unit": "hours"}}"#, "config.timeout.amount"),
        (#"{"url": "http://x/y", "timeout": {"amount": "{{t}}", "unit": "hours"}}"#, "config.timeout.amount"),
        (#"{"url": "http://x/y", "timeout": {"amount": 1, "unit": "hours"}, "heartbeat": {"amount": -1, "unit": "seconds"}}"#, "config.heartbeat.amount"),
        (#"{"url": "http://x/y", "timeout": {"amount": 1, "unit": "hours"}, "resultKey": 3}"#, "config.resultKey"),
        (#"{"url": "http://x/y", "timeout": {"amount": 1, "unit": "hours"}, "callback": "x"}"#, "config.callback"),
    ])
    func configsAreChecked(config: String, field: String) async throws {
        let sequencer = makeSequencer([HTTPTaskRunner(configuration: .init(callbackURL: "https://app.example.com/cb/"))])
        let json = #"{"name": "bad", "version": 1, "steps": [{"id": "start", "runner": "HTTPTask", "config": CONFIG}]}"#
        let error = await #expect(throws: SequencerError.self) {
            try await sequencer.register(json: json.replacingOccurrences(of: "CONFIG", with: config))
        }
        #expect(error?.code == .invalidConfig && error?.field == field && error?.step == "start" && error?.sequence == "bad",
                "\(String(describing: error))")
    }

    /// The whole loop on PostgreSQL: the runner starts two jobs at a local service, which calls
    /// the host's callback route (Hummingbird, on loopback) with a heartbeat and then its outcome;
    /// the route hands each report to the sequencer, and the ticks move the enrollments on.
    @Test func onPostgreSQLTheServiceCallsBackThroughTheHostsRoute() async throws {
        let endpoint = CallbackEndpoint()
        // Its heartbeat comes 0.5 s after the job started, usually once the wait is recorded (the
        // chaos tests call back within 0.1 s).
        let jobs = try await TestServer.http(callingBack: true, callbackDelay: 0.5)
        defer { jobs.stop() }
        let client = try await TestPostgres.shared.client()
        let store = try PostgresStore(client: client, configuration: .init(schema: TestPostgres.uniqueSchema("tasks")),
                                      logger: TestPostgres.quietLogger)
        try await store.migrate()
        try await endpoint.serve { callbackURL in
            let tasks = HTTPTaskRunner(configuration: .init(callbackURL: callbackURL))
            let sequencer = makeSequencer(store: store, [tasks])
            endpoint.route(to: sequencer)
            try await sequencer.register(json: Self.release.replacingOccurrences(of: "PORT", with: "\(jobs.port)"))
            let ok = try await sequencer.enroll("release-1", in: "release", context: ["service": "api", "note": ""])
            let bad = try await sequencer.enroll("release-2", in: "release", context: ["service": "web", "note": "please-fail"])
            var steps: [String?] = []
            for _ in 0..<200 {
                try await sequencer.tick()
                steps = [try await sequencer.enrollment(ok).stepID, try await sequencer.enrollment(bad).stepID]
                if steps == ["verify", "rollback"] { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(steps == ["verify", "rollback"])
            let done = try await sequencer.enrollment(ok)
            #expect(done.context["deploy"]?["job"]?.numberValue != nil, "\(done.context)")
            let okHistory = try await sequencer.history(of: ok).map { "\($0.kind.rawValue) \($0.message ?? "")" }
            #expect(okHistory.contains("callbackCompleted callback succeeded (result in deploy)"), "\(okHistory)")
            // The heartbeat is recorded when it comes after the wait (usually: 0.5 s after the job
            // started); one that beats the tick's commit changes nothing, and under a loaded test run
            // it may. The conformance checks record heartbeats deterministically, on both stores.
            #expect(okHistory.filter { $0.hasPrefix("heartbeat") }.allSatisfy { $0 == "heartbeat heartbeat at 50%" }, "\(okHistory)")
            let failed = try await sequencer.history(of: bad).last { $0.fromStep == "deploy" && $0.toStep == "rollback" }
            #expect(failed?.kind == .altAdvanced && failed?.message == "callback failed: tests failed")
            #expect(try jobs.records(ReceivedRequest.self).count == 2, "each job started once")
        }
        try await client.query("DROP SCHEMA \(unescaped: "\"\(store.configuration.schema)\"") CASCADE",
                               logger: TestPostgres.quietLogger)
    }
}
