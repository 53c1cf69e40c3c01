/// What a transport reports for one message.
///
/// The runner turns it into the step's action: ``sent(providerID:)`` moves on,
/// ``permanentFailure(_:)`` fails the enrollment with the reason, ``temporaryFailure(_:)`` retries
/// the step with backoff (and fails it after the retry limit).
public enum DeliveryOutcome: Sendable, Hashable {
    /// The provider accepted the message; its id for it (SMTP: the `Message-ID`), when known.
    case sent(providerID: String?)
    /// The provider refused the message for good (an SMTP 5xx reply, an HTTP 4xx other than 408
    /// and 429). Quote the provider's answer: it ends up in the enrollment's history.
    case permanentFailure(String)
    /// The message may go through later (an SMTP 4xx reply, an HTTP 5xx, 408 or 429, a network
    /// error, a timeout).
    case temporaryFailure(String)
}

extension DeliveryOutcome {
    /// The outcome of a one-message `send`: its only outcome, or a temporary failure when it
    /// threw or returned none; ``DeliveryDeadline/notHandedOver``, without calling it, once the
    /// batch's deadline has passed.
    static func ofOne(_ send: () async throws -> [DeliveryOutcome]) async -> DeliveryOutcome {
        if DeliveryDeadline.hasPassed { return DeliveryDeadline.notHandedOver }
        do {
            return try await send().first ?? .temporaryFailure("the transport returned no outcome for this message")
        } catch {
            return .temporaryFailure("\(error)")
        }
    }
}
