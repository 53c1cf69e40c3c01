import Foundation
public import Logging

/// `Email`: sends one email per enrollment through an ``EmailTransport``, at most once per visit.
///
/// ```json
/// {"id": "welcome", "runner": "Email", "config": {
///   "from": "Acme <hi@acme.example>", "to": ["{{email}}"], "cc": ["{{manager.email}}"],
///   "subject": "Welcome, {{name}}", "text": "Hi {{name}}, …", "html": "<p>Hi {{name}}, …</p>"}}
/// ```
///
/// | key | |
/// |---|---|
/// | `from` | `"addr"` or `"Name <addr>"`; optional (or rendering empty) when the runner has a `defaultFrom` |
/// | `to` | a list of addresses (or one, as a string); at least one |
/// | `cc`, `bcc`, `replyTo` | optional lists (or strings); Bcc recipients never appear in the headers |
/// | `subject` | required; line breaks become spaces |
/// | `text`, `html` | at least one; both make a `multipart/alternative` message |
/// | `headers` | optional object of extra headers, e.g. `{"List-Unsubscribe": "<{{unsubscribeURL}}>"}` |
///
/// Every string is a Mustache template rendered against the enrollment's context; values under
/// `html` are HTML-escaped. Literal addresses are checked at register (the error names the field,
/// `config.to.0`); rendered ones when the step runs, where an invalid one fails that enrollment's
/// step with the same kind of message and leaves the rest of the batch alone. An entry that renders
/// empty is dropped (`"cc": ["{{manager.email}}"]` without a manager sends no copy); a `to` left
/// empty fails the step.
///
/// The message's `Date` is the tick's time (``RunnerInput/now``) and its `Message-ID` is derived
/// from the visit, so a repeated send carries the same id. The whole batch goes to the transport
/// in one call. Each send is keyed by (enrollment, step,
/// visit) in the ``DeliveryLedger`` before it is made and marked sent after, so a re-run of the
/// same visit skips it; see ``DeliveryLedger`` for the one window in which a duplicate remains
/// possible. Outcomes: sent moves on; a permanent failure (SMTP 5xx) fails the enrollment with the
/// provider's reply; a temporary one (4xx, network) retries the step with backoff.
///
/// ```swift
/// let smtp = SMTPTransport(configuration: .init(host: "smtp.example.com", security: .startTLS,
///                                               credentials: .init(username: "apikey", password: secret)))
/// let sequencer = Sequencer(store: store, runners: .builtIn + [
///     EmailRunner(transport: smtp, ledger: postgresStore, defaultFrom: try EmailAddress("Acme <hi@acme.example>")),
/// ])
/// ```
public struct EmailRunner: TaskRunner {
    /// The runner name steps use, `"Email"` by default.
    public let name: String
    /// Where messages go.
    public let transport: any EmailTransport
    /// `true`: the sequence's ``SequenceDefinition/sendWindow`` applies to Email steps.
    public var sendsMessages: Bool { true }
    /// Where sends are recorded by visit.
    public let ledger: any DeliveryLedger
    /// The sender for steps whose config has no `from`.
    public let defaultFrom: EmailAddress?
    /// How long a reservation whose send never reported back (its process died) blocks another
    /// send of the same visit. Keep it above the longest a batch can take to send, and above the
    /// lease duration. No message is handed over later than nine tenths of it after its
    /// reservation was asked for (``DeliveryDeadline``); the step waits until such a reservation
    /// is stale, then sends. Default 5 minutes.
    public let inFlightTimeout: Duration
    /// How many messages of this runner's channel a subject may receive per day and per week,
    /// across every sequence (see ``FrequencyCap``); `nil` for no cap. A step's config may say
    /// `"frequencyCap": "wait"` (the default), `"skip"` or `"ignore"`.
    public let frequencyCap: FrequencyCap?
    private let logger: Logger

    /// The config keys this runner reads.
    public var configKeys: [String]? {
        ["from", "to", "cc", "bcc", "replyTo", "subject", "text", "html", "headers", "frequencyCap"]
    }

    /// Creates the runner.
    ///
    /// - Parameters:
    ///   - name: the runner name steps use; change it to run two email runners side by side.
    ///   - transport: the provider, e.g. `SMTPTransport` or `WebhookTransport`.
    ///   - ledger: where sends are recorded; the default, in memory, forgets on restart: pass the
    ///     durable store's ledger in production.
    ///   - defaultFrom: the sender when a step's config has no `from`.
    ///   - inFlightTimeout: see ``inFlightTimeout``.
    ///   - frequencyCap: see ``frequencyCap``.
    ///   - logger: `.debug` per message, `.warning` when the ledger cannot record an outcome.
    public init(
        name: String = "Email", transport: any EmailTransport, ledger: any DeliveryLedger = InMemoryDeliveryLedger(),
        defaultFrom: EmailAddress? = nil, inFlightTimeout: Duration = .seconds(300),
        frequencyCap: FrequencyCap? = nil, logger: Logger = Logger(label: "sequencer.email")
    ) {
        self.name = name
        self.transport = transport
        self.ledger = ledger
        self.defaultFrom = defaultFrom
        self.inFlightTimeout = inFlightTimeout
        self.frequencyCap = frequencyCap
        self.logger = logger
    }

    /// Builds every message, sends the valid ones in one transport call, and records each send.
    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        let dispatch = DeliveryDispatch(channel: "email", ledger: ledger, staleAfter: inFlightTimeout,
                                        frequencyCap: frequencyCap, logger: logger)
        return try await dispatch.run(batch, build: message(for:), send: { try await transport.send($0, reportingInGroups: $1) }, describe: { message in
            "email to " + message.to.map(\.address).joined(separator: ", ")
        })
    }

    /// Checks keys, types and every literal address and header; templated values are checked when rendered.
    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        let site = ConfigReader.Site(step, in: definition)
        _ = try parse(step.config, site: site)
        _ = try FrequencyCapPolicy.read(step.config, site: site)
    }

    /// The message for one input's rendered config.
    func message(for input: RunnerInput) throws(SequencerError) -> EmailMessage {
        let parsed = try MessageConfig.message(for: input) { config, site in try parse(config, site: site) }
        return EmailMessage(
            from: parsed.from, to: parsed.to, cc: parsed.cc, bcc: parsed.bcc, replyTo: parsed.replyTo,
            subject: parsed.subject, text: parsed.text, html: parsed.html, headers: parsed.headers,
            date: input.now, idempotencyKey: input.visitKey.description)
    }

    /// A config's fields, read and checked. (Not an `EmailMessage` built in `parse` itself: Swift
    /// 6.3.1's optimizer crashes on that function in release builds, in SILCombine.)
    private struct Parsed {
        var from: EmailAddress
        var to, cc, bcc, replyTo: [EmailAddress]
        var subject: String
        var text, html: String?
        var headers: [String: String]
    }

    /// Reads a config; `nil` at register, where templated values are left for run time.
    private func parse(_ config: JSONValue, site: ConfigReader.Site) throws -> Parsed? {
        guard config.objectValue != nil else { throw site.invalid("config must be an object", field: "config") }
        var from = defaultFrom
        if let value = config["from"], !value.isNull {
            // A `from` that renders empty falls back to the runner's defaultFrom.
            from = try MessageConfig.address(value, field: "config.from", site: site) ?? defaultFrom
            if from == nil && !site.registering {
                throw site.invalid("from rendered empty and the runner has no defaultFrom", field: "config.from")
            }
        } else if defaultFrom == nil {
            throw site.invalid("missing required key 'from' (the sender's address), and the runner has no defaultFrom",
                               field: "config.from")
        }
        guard !(config["to"] ?? .null).isNull else {
            throw site.invalid("missing required key 'to' (a list of email addresses)", field: "config.to")
        }
        if config["to"]?.arrayValue?.isEmpty == true {
            throw site.invalid("'to' needs at least one email address", field: "config.to")
        }
        let to = try MessageConfig.addresses(config, "to", site: site)
        let cc = try MessageConfig.addresses(config, "cc", site: site)
        let bcc = try MessageConfig.addresses(config, "bcc", site: site)
        let replyTo = try MessageConfig.addresses(config, "replyTo", site: site)
        let subject = try MessageConfig.string(config, "subject", required: true, what: "the subject line", site: site)
        let text = try MessageConfig.string(config, "text", required: false, what: "the plain-text body", site: site)
        let html = try MessageConfig.string(config, "html", required: false, what: "the HTML body", site: site)
        guard text != nil || html != nil else {
            throw site.invalid("an email needs a body: give 'text', 'html', or both", field: "config.text")
        }
        let headers = try MessageConfig.headers(config, site: site)
        if site.registering { return nil }
        guard !to.isEmpty else {
            throw site.invalid("no recipient: every entry of 'to' rendered empty", field: "config.to")
        }
        guard let from, let subject else { return nil }
        let oneLineSubject = subject.split(whereSeparator: \.isNewline).joined(separator: " ")
        return Parsed(from: from, to: to, cc: cc, bcc: bcc, replyTo: replyTo, subject: oneLineSubject, text: text,
                      html: html, headers: headers)
    }
}
