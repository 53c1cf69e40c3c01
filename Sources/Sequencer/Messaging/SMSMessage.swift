/// One text message, ready for a transport: numbers validated, templates rendered.
public struct SMSMessage: Sendable, Hashable {
    /// The sender: an E.164 number, or an alphanumeric sender ID where the provider allows one.
    public var from: String
    /// The recipient.
    public var to: PhoneNumber
    /// The text. Providers split long texts into segments; nothing is cut here.
    public var body: String
    /// Names this send: ``RunnerInput/visitKey``, `"<enrollment>/<step>/<visit>"`. HTTP transports
    /// send it as an idempotency header so a provider can drop a repeat.
    public var idempotencyKey: String

    /// Creates a message.
    public init(from: String, to: PhoneNumber, body: String, idempotencyKey: String) {
        self.from = from
        self.to = to
        self.body = body
        self.idempotencyKey = idempotencyKey
    }
}
