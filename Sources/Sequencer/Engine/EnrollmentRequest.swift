public import Foundation

/// One subject to enroll (see ``Sequencer/enroll(_:in:version:now:within:)``).
public struct EnrollmentRequest: Sendable, Hashable {
    /// The host's id for the person or thing.
    public var subject: String
    /// A JSON object that templates and conditions read.
    public var context: JSONValue
    /// Makes enrolling safe to repeat: the same key in the same sequence gives back the same enrollment.
    public var idempotencyKey: String?

    public init(subject: String, context: JSONValue = [:], idempotencyKey: String? = nil) {
        self.subject = subject
        self.context = context
        self.idempotencyKey = idempotencyKey
    }
}

extension EnrollmentRequest {
    /// Checks the request and builds the enrollment it asks for: active at the definition's
    /// first step, due `now`.
    ///
    /// Every store takes what passes, so the in-memory store and PostgreSQL agree: the context
    /// must be an object, and no text may hold what a PostgreSQL `text` or `jsonb` value cannot
    /// (a NUL character) nor a number JSON cannot (NaN, infinity).
    ///
    /// - Throws: ``SequencerError/Code/invalidContext`` naming the sequence and the field
    ///   (`context.plan`, `subject`, `idempotencyKey`).
    package func enrollment(in definition: SequenceDefinition, now: Date) throws(SequencerError) -> Enrollment {
        func invalid(_ message: String, field: String) -> SequencerError {
            SequencerError(.invalidContext, message, sequence: definition.name, version: definition.version, field: field)
        }
        guard context.objectValue != nil else {
            throw invalid("the context of '\(subject)' must be a JSON object, not \(context.typeName)", field: "context")
        }
        if let (path, problem) = context.firstUnstorableValue(at: "context") {
            throw invalid("the context of '\(subject)' has \(problem) at \(path)", field: path)
        }
        if subject.utf8.contains(0) {
            throw invalid("the subject '\(subject.debugDescription)' contains a NUL character", field: "subject")
        }
        if let idempotencyKey, idempotencyKey.utf8.contains(0) {
            throw invalid("the idempotency key of '\(subject)' contains a NUL character", field: "idempotencyKey")
        }
        return Enrollment(
            sequenceName: definition.name, sequenceVersion: definition.version, subject: subject,
            idempotencyKey: idempotencyKey, context: context, stepID: definition.steps.first?.id,
            status: .active, nextRunAt: now, stepEnteredAt: now, createdAt: now, updatedAt: now)
    }
}
