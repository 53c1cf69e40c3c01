public import AsyncHTTPClient
import Foundation
public import Logging
public import Sequencer

/// Posts each email or text message as JSON to a URL: for a host with its own mail or SMS service.
///
/// ```swift
/// var configuration = WebhookTransport.Configuration(url: "https://notify.internal/send")
/// configuration.headers["Authorization"] = "Bearer \(token)"
/// let webhook = WebhookTransport(configuration: configuration)
/// let sequencer = Sequencer(store: store, runners: .builtIn + [
///     EmailRunner(transport: webhook, ledger: ledger), SMSRunner(transport: webhook, ledger: ledger),
/// ])
/// ```
///
/// One `POST` per message, `Content-Type: application/json`, the key in
/// ``Configuration/idempotencyHeader`` (and in the body). An email:
///
/// ```json
/// {"channel": "email", "idempotencyKey": "…/welcome/1", "messageID": "<…@acme.example>",
///  "date": "2026-01-08T14:00:00Z", "from": {"address": "hi@acme.example", "name": "Acme"},
///  "to": [{"address": "ada@example.com"}], "cc": [], "bcc": [], "replyTo": [],
///  "subject": "Welcome, Ada", "text": "…", "html": "…", "headers": {}}
/// ```
///
/// A text message:
///
/// ```json
/// {"channel": "sms", "idempotencyKey": "…/nudge/4", "from": "+15555550100", "to": "+15555550123",
///  "message": "Need a hand?"}
/// ```
///
/// Answer 2xx when the message is accepted, optionally with `{"id": "…"}` (the provider id kept in
/// the ledger); 4xx (other than 408 and 429) to refuse it for good, with `{"message": "…"}` to say
/// why; 5xx, 408 or 429 to have it retried later. Treat a repeated idempotency key as the same message.
public struct WebhookTransport: EmailTransport, SMSTransport {
    /// The endpoint and how to call it.
    public struct Configuration: Sendable {
        /// The URL messages are POSTed to.
        public var url: String
        /// Extra headers sent with every request, e.g. `Authorization`.
        public var headers: [String: String] = [:]
        /// The header that carries the idempotency key. Default `Idempotency-Key`.
        public var idempotencyHeader = "Idempotency-Key"
        /// Where the id is in the JSON response (a dotted path). Default `id`.
        public var responseIDField = "id"
        /// How long one request may take. Default 30 s.
        public var timeout: Duration = .seconds(30)
        /// Requests in flight at once. Default 8.
        public var maxConcurrentRequests = 8

        /// Creates a configuration for a URL.
        public init(url: String) {
            self.url = url
        }
    }

    /// The endpoint and how to call it.
    public let configuration: Configuration
    private let client: HTTPClient
    private let logger: Logger

    /// Creates a transport.
    ///
    /// - Parameters:
    ///   - configuration: the URL and headers.
    ///   - httpClient: the client to use; AsyncHTTPClient's shared one by default.
    ///   - logger: `.debug` per request.
    public init(configuration: Configuration, httpClient: HTTPClient = .shared,
                logger: Logger = Logger(label: "sequencer.webhook")) {
        self.configuration = configuration
        self.client = httpClient
        self.logger = logger
    }

    /// Posts each email; one outcome per message, in order.
    public func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: messages.count)
        try await send(messages) { index, outcome in outcomes[index] = outcome }
        return outcomes.map { $0 ?? .temporaryFailure("not attempted") }
    }

    /// Posts each email, up to ``Configuration/maxConcurrentRequests`` at once, reporting each
    /// outcome as its answer arrives.
    public func send(_ messages: [EmailMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws {
        try await send(messages) { group in
            for (index, outcome) in group { await report(index, outcome) }
        }
    }

    /// Posts each email, up to ``Configuration/maxConcurrentRequests`` at once, reporting the
    /// answers that have arrived together.
    public func send(
        _ messages: [EmailMessage], reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void
    ) async throws {
        await post(try messages.map { ($0.idempotencyKey, try Self.encoder.encode(EmailPayload($0))) }, reporting: report)
    }

    /// Posts each text message; one outcome per message, in order.
    public func send(_ messages: [SMSMessage]) async throws -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: messages.count)
        try await send(messages) { index, outcome in outcomes[index] = outcome }
        return outcomes.map { $0 ?? .temporaryFailure("not attempted") }
    }

    /// Posts each text message, up to ``Configuration/maxConcurrentRequests`` at once, reporting
    /// each outcome as its answer arrives.
    public func send(_ messages: [SMSMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws {
        try await send(messages) { group in
            for (index, outcome) in group { await report(index, outcome) }
        }
    }

    /// Posts each text message, up to ``Configuration/maxConcurrentRequests`` at once, reporting
    /// the answers that have arrived together.
    public func send(
        _ messages: [SMSMessage], reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void
    ) async throws {
        await post(try messages.map { ($0.idempotencyKey, try Self.encoder.encode(SMSPayload($0))) }, reporting: report)
    }

    private func post(
        _ bodies: [(key: String, body: Data)], reporting report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void
    ) async {
        let configuration = self.configuration
        let client = self.client
        let logger = self.logger
        await HTTPDelivery.forEach(bodies, limit: configuration.maxConcurrentRequests, reportingInGroups: report) { item in
            var headers = configuration.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            headers.append((configuration.idempotencyHeader, item.key))
            let request = HTTPDelivery.Request(url: configuration.url, headers: headers,
                                               contentType: "application/json", body: Array(item.body))
            return await HTTPDelivery.post(request, client: client, timeout: configuration.timeout,
                                           idField: configuration.responseIDField, logger: logger)
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(ISO8601Timestamp.string(from: date, withMilliseconds: false))
        }
        return encoder
    }()

    struct Mailbox: Encodable {
        var address: String
        var name: String?
        init(_ address: EmailAddress) {
            self.address = address.address
            self.name = address.displayName
        }
    }

    struct EmailPayload: Encodable {
        var channel = "email"
        var idempotencyKey, messageID: String
        var date: Date
        var from: Mailbox
        var to, cc, bcc, replyTo: [Mailbox]
        var subject: String
        var text, html: String?
        var headers: [String: String]

        init(_ message: EmailMessage) {
            idempotencyKey = message.idempotencyKey
            messageID = message.messageID
            date = message.date
            from = Mailbox(message.from)
            to = message.to.map(Mailbox.init)
            cc = message.cc.map(Mailbox.init)
            bcc = message.bcc.map(Mailbox.init)
            replyTo = message.replyTo.map(Mailbox.init)
            subject = message.subject
            text = message.text
            html = message.html
            headers = message.headers
        }
    }

    struct SMSPayload: Encodable {
        var channel = "sms"
        var idempotencyKey, from, to, message: String

        init(_ message: SMSMessage) {
            idempotencyKey = message.idempotencyKey
            from = message.from
            to = message.to.e164
            self.message = message.body
        }
    }
}
