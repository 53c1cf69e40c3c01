/// Hands emails to a mail provider. ``EmailRunner`` calls it once per batch.
///
/// Return one ``DeliveryOutcome`` per message, in the order of `messages`. Throw only when no
/// message of the batch was handed over (the provider is unreachable, say): a thrown error
/// retries every message of the batch. An outcome missing at the end of the array counts as a
/// temporary failure.
///
/// The package ships `SMTPTransport` and `WebhookTransport` (product `SequencerTransports`).
/// Plugging in a provider's API takes a few lines:
///
/// ```swift
/// struct PostmarkTransport: EmailTransport {
///     let client: PostmarkClient
///     func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
///         var outcomes: [DeliveryOutcome] = []
///         for message in messages {
///             do {
///                 let id = try await client.send(to: message.to.map(\.address), subject: message.subject,
///                                                text: message.text, html: message.html,
///                                                idempotencyKey: message.idempotencyKey)
///                 outcomes.append(.sent(providerID: id))
///             } catch let error as PostmarkError where error.isPermanent {
///                 outcomes.append(.permanentFailure("\(error)"))
///             } catch {
///                 outcomes.append(.temporaryFailure("\(error)"))
///             }
///         }
///         return outcomes
///     }
/// }
/// ```
///
/// A repeated send is possible only in the window described in ``DeliveryLedger``; pass
/// ``EmailMessage/idempotencyKey`` to a provider that deduplicates, and that window closes too.
public protocol EmailTransport: Sendable {
    /// Sends a batch; one outcome per message, in order.
    func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome]
}
