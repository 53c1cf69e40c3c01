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
/// **Reporting as you go.** ``EmailRunner`` calls ``send(_:reporting:)``, which reports each
/// message's outcome as soon as the provider answers, and records an accepted message in the
/// ``DeliveryLedger`` before the next one is handed over; so a crash in the middle of a batch
/// repeats at most the message in flight, not the whole batch. Its default implementation
/// calls ``send(_:)`` once per message, which is right for a transport that makes one request
/// per message anyway; a transport with a batch API implements ``send(_:reporting:)`` itself
/// (the package's SMTP and HTTP transports do) and reports each outcome as soon as it has it.
///
/// **Reporting in groups.** ``EmailRunner`` actually calls ``send(_:reportingInGroups:)``: a
/// transport that sends over several connections at once reports every outcome it has at that
/// moment together (at most one per connection), and the runner records the group's accepted
/// messages with one ledger write instead of one each. Its default implementation reports
/// ``send(_:reporting:)``'s outcomes one by one; `SMTPTransport` implements it.
///
/// **The delivery deadline.** A message handed over long after its reservation may be sent by
/// another ticker too; a transport that implements ``send(_:reporting:)`` or
/// ``send(_:reportingInGroups:)`` itself hands no message over once ``DeliveryDeadline/hasPassed``
/// (see ``DeliveryDeadline``). The defaults and the package's transports do.
///
/// A repeated send is possible only in the window described in ``DeliveryLedger``; pass
/// ``EmailMessage/idempotencyKey`` to a provider that deduplicates, and that window closes too.
public protocol EmailTransport: Sendable {
    /// Sends a batch; one outcome per message, in order.
    func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome]

    /// Sends a batch, calling `report` with each message's index and outcome as soon as it is
    /// known, and awaiting it before handing over another message on the same connection.
    ///
    /// Report every message once. Throw only when the rest of the batch cannot be handed over;
    /// messages not reported by then count as temporary failures.
    func send(_ messages: [EmailMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws

    /// Sends a batch like ``send(_:reporting:)``, but calls `report` with every outcome known at
    /// the time (indices and outcomes, at least one), awaiting it before any connection whose
    /// outcome it carries hands over another message.
    ///
    /// Report every message once. Throw only when the rest of the batch cannot be handed over.
    func send(_ messages: [EmailMessage], reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void)
        async throws
}

extension EmailTransport {
    /// Sends each message with its own ``send(_:)`` call and reports its outcome before the next;
    /// once the batch's ``DeliveryDeadline`` has passed, reports the rest as not handed over.
    public func send(_ messages: [EmailMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws {
        for (index, message) in messages.enumerated() {
            await report(index, await DeliveryOutcome.ofOne { try await send([message]) })
        }
    }

    /// Reports ``send(_:reporting:)``'s outcomes one by one, each a group of its own.
    public func send(
        _ messages: [EmailMessage], reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void
    ) async throws {
        try await send(messages) { index, outcome in await report([(index, outcome)]) }
    }
}
