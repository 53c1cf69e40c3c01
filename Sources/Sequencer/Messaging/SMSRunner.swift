import Foundation
public import Logging

/// `SMS`: sends one text message per enrollment through an ``SMSTransport``, at most once per visit.
///
/// ```json
/// {"id": "nudge", "runner": "SMS", "config": {"from": "+15555550100", "to": "{{phone}}", "message": "Need a hand, {{name}}?"}}
/// ```
///
/// | key | |
/// |---|---|
/// | `from` | an E.164 number or an alphanumeric sender ID (`"Acme"`); optional when the runner has a `defaultFrom` |
/// | `to` | one E.164 number |
/// | `message` | the text; must not be empty |
///
/// Every string is a Mustache template rendered against the enrollment's context. Numbers must be
/// E.164 (`+` and the country code); spaces, hyphens, dots and parentheses are removed, so
/// `"+1 (555) 555-0100"` is sent as `+15555550100`. Literal values are checked at register, rendered
/// ones when the step runs, where an invalid one fails that enrollment's step with a message naming
/// the field. Sending, the ledger and outcomes work as in ``EmailRunner``.
public struct SMSRunner: TaskRunner {
    /// The runner name steps use, `"SMS"` by default.
    public let name: String
    /// Where messages go.
    public let transport: any SMSTransport
    /// `true`: the sequence's ``SequenceDefinition/sendWindow`` applies to SMS steps.
    public var sendsMessages: Bool { true }
    /// Where sends are recorded by visit.
    public let ledger: any DeliveryLedger
    /// The sender for steps whose config has no `from` (an E.164 number or an alphanumeric sender ID).
    public let defaultFrom: String?
    /// How long a reservation whose send never reported back blocks another send of the same visit.
    /// Default 5 minutes (see ``EmailRunner/inFlightTimeout``).
    public let inFlightTimeout: Duration
    /// How many messages of this runner's channel a subject may receive per day and per week,
    /// across every sequence (see ``FrequencyCap``); `nil` for no cap. A step's config may say
    /// `"frequencyCap": "wait"` (the default), `"skip"` or `"ignore"`.
    public let frequencyCap: FrequencyCap?
    private let logger: Logger

    /// The config keys this runner reads.
    public var configKeys: [String]? { ["from", "to", "message", "frequencyCap"] }

    /// Creates the runner.
    ///
    /// - Parameters:
    ///   - name: the runner name steps use.
    ///   - transport: the provider, e.g. `HTTPSMSTransport` or `WebhookTransport`.
    ///   - ledger: where sends are recorded; pass the durable store's ledger in production.
    ///   - defaultFrom: the sender when a step's config has no `from`; not validated until used.
    ///   - inFlightTimeout: see ``inFlightTimeout``.
    ///   - frequencyCap: see ``frequencyCap``.
    ///   - logger: `.debug` per message, `.warning` when the ledger cannot record an outcome.
    public init(
        name: String = "SMS", transport: any SMSTransport, ledger: any DeliveryLedger = InMemoryDeliveryLedger(),
        defaultFrom: String? = nil, inFlightTimeout: Duration = .seconds(300),
        frequencyCap: FrequencyCap? = nil, logger: Logger = Logger(label: "sequencer.sms")
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
        let dispatch = DeliveryDispatch(channel: "sms", ledger: ledger, staleAfter: inFlightTimeout,
                                        frequencyCap: frequencyCap, logger: logger)
        return try await dispatch.run(batch, build: message(for:), send: { try await transport.send($0, reportingInGroups: $1) }, describe: { message in
            "SMS to \(message.to)"
        })
    }

    /// Checks keys, types and literal numbers; templated values are checked when rendered.
    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        let site = ConfigReader.Site(step, in: definition)
        _ = try parse(step.config, site: site)
        _ = try FrequencyCapPolicy.read(step.config, site: site)
    }

    /// The message for one input's rendered config.
    func message(for input: RunnerInput) throws(SequencerError) -> SMSMessage {
        try MessageConfig.message(for: input) { config, site in try parse(config, site: site, key: input.visitKey.description) }
    }

    /// Reads a config; `nil` at register, where templated values are left for run time.
    private func parse(_ config: JSONValue, site: ConfigReader.Site, key: String = "") throws -> SMSMessage? {
        guard config.objectValue != nil else { throw site.invalid("config must be an object", field: "config") }
        var from: String?
        if let text = try MessageConfig.string(config, "from", required: false, what: "the sender", site: site) {
            from = try MessageConfig.phoneNumber(text, field: "config.from", allowSenderID: true, site: site)
        } else if let defaultFrom {
            from = try MessageConfig.phoneNumber(defaultFrom, field: "defaultFrom", allowSenderID: true, site: site)
        } else {
            throw site.invalid("missing required key 'from' (the sender), and the runner has no defaultFrom",
                               field: "config.from")
        }
        let toText = try MessageConfig.string(config, "to", required: true, what: "an E.164 number", site: site)!
        let to = try MessageConfig.phoneNumber(toText, field: "config.to", allowSenderID: false, site: site)
        let body = try MessageConfig.string(config, "message", required: true, what: "the text", site: site)!
        if body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw site.invalid(site.registering ? "message is empty" : "message rendered empty", field: "config.message")
        }
        guard !site.registering, let from, let to, let number = try? PhoneNumber(to) else { return nil }
        return SMSMessage(from: from, to: number, body: body, idempotencyKey: key)
    }
}
