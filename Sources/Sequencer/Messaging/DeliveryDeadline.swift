/// The instant after which a transport hands no further message of the batch it is sending to
/// its provider.
///
/// ``EmailRunner`` and ``SMSRunner`` reserve each message in the ``DeliveryLedger`` before the
/// transport sends it. A reservation older than the runner's in-flight timeout may be taken over
/// by another ticker, which then sends the message itself; so a message the transport would hand
/// over later than that would go out twice. A batch can be held up after its reservation for that
/// long: the ledger write for its first messages waits out a database outage while the
/// connections that carried them wait for it before their next message.
///
/// So the runner sets a deadline, nine tenths of the in-flight timeout after it asked for the
/// reservations, for the duration of its call to the transport (a task-local value: the
/// transport's child tasks see it too). A message not handed over by then is not sent in this
/// visit: its reservation stays as it is (not marked failed, since another ticker may own it by
/// now), the step waits until the reservation is stale, and whoever runs the visit then sends it,
/// alone.
///
/// `SMTPTransport`, `WebhookTransport`, `HTTPSMSTransport` and the transport protocols' default
/// implementations check the deadline before each message. A transport that implements
/// ``EmailTransport/send(_:reporting:)`` or ``EmailTransport/send(_:reportingInGroups:)``
/// itself checks ``hasPassed`` before it hands a message over, and reports a message it did not
/// hand over as ``notHandedOver``. A transport that keeps one provider session for the batch:
///
/// ```swift
/// struct SessionTransport: EmailTransport {
///     let client: MailSessionClient
///     func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
///         var outcomes: [DeliveryOutcome] = []
///         try await send(messages) { _, outcome in outcomes.append(outcome) }
///         return outcomes
///     }
///     func send(_ messages: [EmailMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws {
///         let session = try await client.openSession()
///         for (index, message) in messages.enumerated() {
///             if DeliveryDeadline.hasPassed {
///                 await report(index, DeliveryDeadline.notHandedOver)
///                 continue
///             }
///             await report(index, await session.deliver(message))
///         }
///     }
/// }
/// ```
public enum DeliveryDeadline {
    /// The deadline of the batch being sent, or `nil` outside a runner's call to its transport.
    @TaskLocal public static var current: ContinuousClock.Instant?

    /// Whether the current batch's deadline has passed: hand no further message over.
    public static var hasPassed: Bool {
        guard let current else { return false }
        return ContinuousClock.now >= current
    }

    /// The outcome to report for a message not handed over because the deadline had passed.
    public static var notHandedOver: DeliveryOutcome {
        .temporaryFailure("not handed over: the batch's delivery deadline had passed")
    }
}
