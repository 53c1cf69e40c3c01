import Foundation
import Sequencer
import SequencerTesting
import SequencerTransports
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
}
