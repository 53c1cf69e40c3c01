public import AsyncHTTPClient
public import Logging
public import Sequencer

/// Sends text messages through a provider's REST API in the common shape: one form-encoded POST
/// per message with basic auth, as Twilio's Messages API takes it.
///
/// ```swift
/// let sms = HTTPSMSTransport(configuration: .twilio(accountSID: sid, authToken: token))
/// let sequencer = Sequencer(store: store, runners: .builtIn + [SMSRunner(transport: sms, ledger: ledger,
///                                                                        defaultFrom: "+15555550100")])
/// ```
///
/// Each request carries ``Sequencer/SMSMessage/idempotencyKey`` in ``Configuration/idempotencyHeader``,
/// so a provider that honours it drops a repeated send of the same visit. The provider's message id
/// is read from the JSON response (``Configuration/responseIDField``, `sid` by default). A 2xx answer
/// is sent; 408, 429, 5xx and network errors are temporary (the step retries); other 4xx answers are
/// permanent and quote the provider's error message. Requests of a batch run concurrently, at most
/// ``Configuration/maxConcurrentRequests`` at a time.
public struct HTTPSMSTransport: SMSTransport {
    /// The endpoint, credentials and field names.
    public struct Configuration: Sendable {
        /// The endpoint messages are POSTed to.
        public var url: String
        /// Basic-auth user name (Twilio: the account SID), or `nil` for no `Authorization` header.
        public var username: String?
        /// Basic-auth password (Twilio: the auth token).
        public var password: String?
        /// The form field for the recipient. Default `To`.
        public var toField = "To"
        /// The form field for the sender. Default `From`.
        public var fromField = "From"
        /// The form field for the text. Default `Body`.
        public var bodyField = "Body"
        /// Extra form fields sent with every message, e.g. `["StatusCallback": "https://…"]`.
        public var extraFields: [String: String] = [:]
        /// Extra headers sent with every request.
        public var headers: [String: String] = [:]
        /// The header that carries the idempotency key; `nil` to send none. Default `Idempotency-Key`.
        public var idempotencyHeader: String? = "Idempotency-Key"
        /// Where the provider's message id is in the JSON response (a dotted path). Default `sid`.
        public var responseIDField = "sid"
        /// How long one request may take. Default 30 s.
        public var timeout: Duration = .seconds(30)
        /// Requests in flight at once. Default 8.
        public var maxConcurrentRequests = 8

        /// Creates a configuration for an endpoint; the field names default to Twilio's.
        public init(url: String, username: String? = nil, password: String? = nil) {
            self.url = url
            self.username = username
            self.password = password
        }

        /// Twilio's Messages API for an account: `POST {baseURL}/2010-04-01/Accounts/{sid}/Messages.json`.
        ///
        /// - Parameter baseURL: `https://api.twilio.com`; a test points it at a local server.
        public static func twilio(accountSID: String, authToken: String, baseURL: String = "https://api.twilio.com")
            -> Configuration
        {
            Configuration(url: "\(baseURL)/2010-04-01/Accounts/\(accountSID)/Messages.json", username: accountSID,
                          password: authToken)
        }
    }

    /// The endpoint, credentials and field names.
    public let configuration: Configuration
    private let client: HTTPClient
    private let logger: Logger

    /// Creates a transport.
    ///
    /// - Parameters:
    ///   - configuration: the endpoint and how to talk to it.
    ///   - httpClient: the client to use; AsyncHTTPClient's shared one by default.
    ///   - logger: `.debug` per request.
    public init(configuration: Configuration, httpClient: HTTPClient = .shared,
                logger: Logger = Logger(label: "sequencer.sms.http")) {
        self.configuration = configuration
        self.client = httpClient
        self.logger = logger
    }

    /// Sends each message in its own request; one outcome per message, in order.
    public func send(_ messages: [SMSMessage]) async throws -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: messages.count)
        try await send(messages) { index, outcome in outcomes[index] = outcome }
        return outcomes.map { $0 ?? .temporaryFailure("not attempted") }
    }

    /// Sends each message in its own request, up to ``Configuration/maxConcurrentRequests`` at
    /// once, reporting each outcome as its answer arrives.
    public func send(_ messages: [SMSMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws {
        try await send(messages) { group in
            for (index, outcome) in group { await report(index, outcome) }
        }
    }

    /// Sends each message in its own request, up to ``Configuration/maxConcurrentRequests`` at
    /// once, reporting the answers that have arrived together.
    public func send(
        _ messages: [SMSMessage], reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void
    ) async throws {
        let configuration = self.configuration
        let client = self.client
        let logger = self.logger
        await HTTPDelivery.forEach(messages, limit: configuration.maxConcurrentRequests, reportingInGroups: report) { message in
            await HTTPDelivery.post(Self.request(for: message, configuration), client: client,
                                    timeout: configuration.timeout, idField: configuration.responseIDField,
                                    logger: logger)
        }
    }

    static func request(for message: SMSMessage, _ configuration: Configuration) -> HTTPDelivery.Request {
        var fields = [(configuration.toField, message.to.e164), (configuration.fromField, message.from),
                      (configuration.bodyField, message.body)]
        fields += configuration.extraFields.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        var headers = configuration.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let username = configuration.username {
            headers.append(("Authorization", HTTPDelivery.basicAuthorization(username: username,
                                                                             password: configuration.password ?? "")))
        }
        if let header = configuration.idempotencyHeader { headers.append((header, message.idempotencyKey)) }
        return HTTPDelivery.Request(url: configuration.url, headers: headers,
                                    contentType: "application/x-www-form-urlencoded",
                                    body: HTTPDelivery.formEncoded(fields))
    }
}
