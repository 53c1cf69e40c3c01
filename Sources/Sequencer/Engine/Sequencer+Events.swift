public import Foundation
import Logging

/// Who an event goes to (``Sequencer/send(event:data:to:now:)``).
public enum EventRecipient: Sendable, Hashable {
    /// One enrollment.
    case enrollment(UUID)
    /// Every active or paused enrollment of a subject, in every sequence.
    case subject(String)
}

extension Sequencer {
    /// Tells enrollments that something happened outside: "paid", "deployed", "replied".
    ///
    /// Each enrollment reached gets `data` merged into its context (deeply, like
    /// ``updateContext(_:merging:now:within:)``), the event recorded in its context under
    /// `$events.<event>` (`{"at": ISO 8601, "count": n}`) and in its history (`eventReceived`), a
    /// new fencing token (an in-flight tick's outcome for it is dropped), and, when active, it is
    /// due at once: its goals are checked again and a `WaitForEvent` step for this event moves on
    /// at the next tick (at once under a ``SequencerService``, which the store notifies).
    ///
    /// ```swift
    /// try await sequencer.send(event: "paid", data: ["plan": "pro"], to: .subject("user-42"))
    /// ```
    ///
    /// - Parameter recipient: one enrollment (which must be active or paused:
    ///   ``SequencerError/Code/invalidState`` otherwise, ``SequencerError/Code/unknownEnrollment``
    ///   when there is none), or every active or paused enrollment of a subject, atomically (all or
    ///   none; a subject with none is not an error).
    /// - Returns: the enrollments as changed.
    /// - Throws: ``SequencerError/Code/invalidConfig`` (field `event`) for an empty name, one over
    ///   200 bytes or with a NUL; the context errors of ``updateContext(_:merging:now:within:)``.
    @discardableResult
    public func send(event: String, data: [String: JSONValue] = [:], to recipient: EventRecipient, now: Date = Date())
        async throws -> [Enrollment]
    {
        guard !event.isEmpty, event.utf8.count <= 200, !event.utf8.contains(0) else {
            throw SequencerError(.invalidConfig, "an event name is 1 to 200 bytes without NUL characters; got '\(Limits.excerpt(event))'",
                                 field: "event")
        }
        let change = EnrollmentChange.event(event, data: data, maximumContextBytes: configuration.limits.maximumContextBytes)
        let changed: [Enrollment]
        switch recipient {
        case .enrollment(let id):
            changed = [try await store.change(id, change, now: now)]
        case .subject(let subject):
            changed = try await store.change(subject: subject, change, now: now)
        }
        observability.count("sequencer_events_delivered_total", changed.count)
        logger.debug("sent event", metadata: ["sequencer.event": "\(event)", "sequencer.enrollments": "\(changed.count)"])
        return changed
    }
}
