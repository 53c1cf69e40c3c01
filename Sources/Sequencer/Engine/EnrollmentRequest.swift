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
    /// Every store takes what passes, so the in-memory store and PostgreSQL agree: `now` within
    /// ``Limits/dates``; the context a JSON object within the size and depth limits, holding
    /// nothing a PostgreSQL `text` or `jsonb` value cannot (a NUL character) nor a number JSON
    /// cannot (NaN, infinity); the subject and key within ``Limits/maximumSubjectBytes``, without NUL.
    ///
    /// - Throws: ``SequencerError`` naming the sequence and the field (`context.plan`, `subject`,
    ///   `idempotencyKey`, `now`): ``SequencerError/Code/invalidContext`` for what cannot be
    ///   stored, ``SequencerError/Code/limitExceeded`` for what is too large, too deep or too
    ///   long, ``SequencerError/Code/outOfRange`` for a date.
    package func enrollment(in definition: SequenceDefinition, now: Date, limits: Limits) throws(SequencerError)
        -> Enrollment
    {
        func invalid(_ message: String, field: String, code: SequencerError.Code = .invalidContext) -> SequencerError {
            SequencerError(code, message, sequence: definition.name, version: definition.version, field: field)
        }
        let who = Limits.excerpt(subject)
        try Limits.check(now, field: "now", sequence: definition.name)
        try Limits.check(length: subject, maximum: Limits.maximumSubjectBytes, what: "the subject '\(who)'",
                         field: "subject", sequence: definition.name, version: definition.version)
        if subject.utf8.contains(0) {
            throw invalid("the subject '\(subject.debugDescription)' contains a NUL character", field: "subject")
        }
        if let idempotencyKey {
            try Limits.check(length: idempotencyKey, maximum: Limits.maximumSubjectBytes,
                             what: "the idempotency key of '\(who)'", field: "idempotencyKey",
                             sequence: definition.name, version: definition.version)
            if idempotencyKey.utf8.contains(0) {
                throw invalid("the idempotency key of '\(who)' contains a NUL character", field: "idempotencyKey")
            }
        }
        guard context.objectValue != nil else {
            throw invalid("the context of '\(who)' must be a JSON object, not \(context.typeName)", field: "context")
        }
        if let problem = context.inspect(at: "context", maximumBytes: limits.maximumContextBytes) {
            throw invalid("the context of '\(who)' has \(problem.description) at \(problem.path)", field: problem.path,
                          code: problem.kind == .unstorable ? .invalidContext : .limitExceeded)
        }
        return Enrollment(
            sequenceName: definition.name, sequenceVersion: definition.version, subject: subject,
            idempotencyKey: idempotencyKey, context: context, stepID: definition.steps.first?.id,
            status: .active, nextRunAt: now, stepEnteredAt: now, createdAt: now, updatedAt: now,
            uniqueSubject: definition.uniqueSubject)
    }
}
