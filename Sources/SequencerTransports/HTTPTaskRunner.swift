public import AsyncHTTPClient
import Foundation
public import Logging
public import Sequencer

/// `HTTPTask`: starts a job in another service with one `POST`, then waits for the service to
/// call back (``Sequencer/complete(token:outcome:now:)``), reporting progress on the way
/// (``Sequencer/heartbeat(token:progress:now:)``).
///
/// ```swift
/// let tasks = HTTPTaskRunner(configuration: .init(callbackURL: "https://app.example.com/sequencer/callbacks/"))
/// let sequencer = Sequencer(store: store, runners: .builtIn + [tasks])
/// ```
///
/// ```json
/// {"id": "deploy", "runner": "HTTPTask", "altNext": "rollback",
///  "config": {"url": "https://deployer.internal/jobs", "payload": {"service": "{{service}}", "sha": "{{sha}}"},
///             "timeout": {"amount": 30, "unit": "minutes"}, "heartbeat": {"amount": 1, "unit": "minutes"},
///             "resultKey": "deploy"}}
/// ```
///
/// | key | |
/// |---|---|
/// | `url` | the `http` or `https` URL to POST to (templated) |
/// | `payload` | any JSON, templated against the context, sent as `payload` |
/// | `timeout`, `heartbeat`, `resultKey` | the callback keys of ``CallbackStepConfig`` |
///
/// The request is `Content-Type: application/json`, with the step's visit key in
/// ``Configuration/idempotencyHeader`` (the same on every retry and after a crash, as is the
/// callback URL) and this body:
///
/// ```json
/// {"callback_url": "https://app.example.com/sequencer/callbacks/cb1_…", "heartbeat_interval_seconds": 60,
///  "payload": {"service": "api", "sha": "4f2a…"}, "scheduled_time": "2026-01-08T14:00:00Z",
///  "idempotency_key": "…/deploy/3", "subject": "release-118", "sequence": "release", "step": "deploy"}
/// ```
///
/// `heartbeat_interval_seconds` is `null` without a heartbeat; `scheduled_time` is when the
/// enrollment reached the step. A 2xx answer means the job started: the step waits for its
/// callback. Any other answer, or no answer, is retried with the sequencer's backoff and fails the
/// enrollment after the last attempt (its reason quotes the service's message).
public struct HTTPTaskRunner: TaskRunner {
    /// Where the service calls back, and how requests are made.
    public struct Configuration: Sendable {
        /// The runner's name in step definitions. Default `HTTPTask`.
        public var name = "HTTPTask"
        /// The host's callback endpoint, to which the token is appended: a URL ending in `/` or
        /// `=`, served by a route that passes the token to ``Sequencer/complete(token:outcome:now:)``.
        public var callbackURL: String
        /// Extra headers sent with every request, e.g. `Authorization`.
        public var headers: [String: String] = [:]
        /// The header that carries the visit key. Default `Idempotency-Key`.
        public var idempotencyHeader = "Idempotency-Key"
        /// How long one request may take. Default 30 s.
        public var requestTimeout: Duration = .seconds(30)
        /// Requests in flight at once. Default 8.
        public var maxConcurrentRequests = 8

        /// Creates a configuration with the host's callback endpoint.
        public init(callbackURL: String) {
            self.callbackURL = callbackURL
        }
    }

    public let configuration: Configuration
    private let client: HTTPClient
    private let logger: Logger

    /// Creates the runner.
    ///
    /// - Parameters:
    ///   - httpClient: the client to use; AsyncHTTPClient's shared one by default.
    ///   - logger: `.debug` per request.
    public init(configuration: Configuration, httpClient: HTTPClient = .shared,
                logger: Logger = Logger(label: "sequencer.http-task")) {
        self.configuration = configuration
        self.client = httpClient
        self.logger = logger
    }

    public var name: String { configuration.name }
    /// `true`: its inputs carry callback tokens.
    public var awaitsCallbacks: Bool { true }
    /// `url`, `payload` and ``CallbackStepConfig/keys``.
    public var configKeys: [String]? { ["url", "payload"] + CallbackStepConfig.keys }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try CallbackStepConfig(step, in: definition)
        let url = step.config["url"]
        guard let text = url?.stringValue, !text.isEmpty else {
            throw SequencerError(.invalidConfig, "missing required key 'url' (the http or https URL that starts the job)",
                                 sequence: definition.name, version: definition.version, step: step.id, field: "config.url")
        }
        guard text.contains("{{") || Self.isHTTP(text) else {
            throw SequencerError(.invalidConfig, "url must be an http or https URL; got '\(text.prefix(200))'",
                                 sequence: definition.name, version: definition.version, step: step.id, field: "config.url")
        }
    }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        var results = [RunnerResult?](repeating: nil, count: batch.count)
        var requests: [(index: Int, request: HTTPDelivery.Request, wait: CallbackWait)] = []
        for (index, input) in batch.enumerated() {
            do {
                let step = try CallbackStepConfig(input)
                guard let url = input.config["url"]?.stringValue, Self.isHTTP(url) else {
                    results[index] = input.result(.fail("url must be an http or https URL; it rendered to "
                                                        + (input.config["url"]?.jsonString().prefix(200) ?? "nothing")))
                    continue
                }
                guard let token = input.callbackToken else {
                    results[index] = input.result(.fail("the sequencer gave no callback token"))
                    continue
                }
                requests.append((index, request(for: input, url: url, token: token, wait: step.wait), step.wait))
            } catch {
                results[index] = input.result(.fail((error as? SequencerError)?.message ?? "\(error)"))
            }
        }
        let client = self.client
        let logger = self.logger
        let timeout = configuration.requestTimeout
        await HTTPDelivery.forEach(requests, limit: configuration.maxConcurrentRequests, reportingInGroups: { group in
            for (position, outcome) in group {
                let (index, request, wait) = requests[position]
                let input = batch[index]
                switch outcome {
                case .sent:
                    results[index] = input.result(.awaitCallback(wait), message: "started at \(HTTPDelivery.host(request.url)); "
                                                      + "waiting for its callback")
                case .temporaryFailure(let reason), .permanentFailure(let reason):
                    results[index] = input.result(.retry("could not start the job: \(reason)"))
                }
            }
        }) { item in
            await HTTPDelivery.post(item.request, client: client, timeout: timeout, idField: "id", logger: logger)
        }
        return zip(batch, results).map { input, result in result ?? input.result(.retry("not attempted")) }
    }

    private func request(for input: RunnerInput, url: String, token: String, wait: CallbackWait) -> HTTPDelivery.Request {
        let body: JSONValue = [
            "callback_url": .string(configuration.callbackURL + token),
            "heartbeat_interval_seconds": wait.heartbeat.map { .number(Double($0.components.seconds)) } ?? .null,
            "payload": input.config["payload"] ?? .null,
            "scheduled_time": .string(ISO8601Timestamp.string(from: input.stepEnteredAt, withMilliseconds: false)),
            "idempotency_key": .string("\(input.visitKey)"),
            "subject": .string(input.subject),
            "sequence": .string(input.sequence),
            "step": .string(input.step.id),
        ]
        var headers = configuration.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        headers.append((configuration.idempotencyHeader, "\(input.visitKey)"))
        return HTTPDelivery.Request(url: url, headers: headers, contentType: "application/json", body: Array(body.jsonString().utf8))
    }

    private static func isHTTP(_ text: String) -> Bool {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else { return false }
        return scheme == "http" || scheme == "https"
    }
}
