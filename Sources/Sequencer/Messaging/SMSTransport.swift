/// Hands text messages to an SMS provider. ``SMSRunner`` calls it once per batch.
///
/// The contract is ``EmailTransport``'s: one ``DeliveryOutcome`` per message, in order; throw
/// only when no message of the batch was handed over; ``send(_:reporting:)`` reports each
/// outcome as soon as it is known, so a crash repeats at most the message in flight.
///
/// The package ships `HTTPSMSTransport` (Twilio-style REST APIs) and `WebhookTransport`
/// (product `SequencerTransports`). Your own provider:
///
/// ```swift
/// struct MySMS: SMSTransport {
///     let api: MyProviderClient
///     func send(_ messages: [SMSMessage]) async throws -> [DeliveryOutcome] {
///         try await api.sendMany(messages.map { ($0.to.e164, $0.body, $0.idempotencyKey) })
///             .map { $0.accepted ? .sent(providerID: $0.id) : .permanentFailure($0.error) }
///     }
/// }
/// ```
public protocol SMSTransport: Sendable {
    /// Sends a batch; one outcome per message, in order.
    func send(_ messages: [SMSMessage]) async throws -> [DeliveryOutcome]

    /// Sends a batch, reporting each outcome as soon as it is known; see
    /// ``EmailTransport/send(_:reporting:)``.
    func send(_ messages: [SMSMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws

    /// Sends a batch, reporting outcomes in groups; see ``EmailTransport/send(_:reportingInGroups:)``.
    func send(_ messages: [SMSMessage], reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void)
        async throws
}

extension SMSTransport {
    /// Sends each message with its own ``send(_:)`` call and reports its outcome before the next;
    /// once the batch's ``DeliveryDeadline`` has passed, reports the rest as not handed over.
    public func send(_ messages: [SMSMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws {
        for (index, message) in messages.enumerated() {
            await report(index, await DeliveryOutcome.ofOne { try await send([message]) })
        }
    }

    /// Reports ``send(_:reporting:)``'s outcomes one by one, each a group of its own.
    public func send(
        _ messages: [SMSMessage], reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void
    ) async throws {
        try await send(messages) { index, outcome in await report([(index, outcome)]) }
    }
}
