public import Foundation

/// The lifecycle state of an enrollment.
public enum EnrollmentStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Walking its steps; picked up by ticks when due.
    case active
    /// Held by ``Sequencer/pause(_:now:within:)``; not picked up until resumed.
    case paused
    /// Ran off the end of its sequence or reached `$end`.
    case completed
    /// A runner failed it, or a thrown error used up its retries.
    case failed
    /// Stopped by ``Sequencer/cancel(_:now:within:)``.
    case cancelled

    /// `completed`, `failed` and `cancelled` are final.
    public var isFinal: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// One subject's walk through one version of a sequence: the durable cursor.
public struct Enrollment: Sendable, Hashable, Codable, Identifiable {
    public var id: UUID
    public var sequenceName: String
    public var sequenceVersion: Int
    /// The host's id for the person or thing enrolled.
    public var subject: String
    /// When set, enrolling again with the same key in the same sequence returns this enrollment.
    public var idempotencyKey: String?
    /// A JSON object that templates and conditions read.
    public var context: JSONValue
    /// The current step; `nil` once the enrollment is completed.
    public var stepID: String?
    public var status: EnrollmentStatus
    /// When a tick should look at it next; `nil` when it is not active.
    public var nextRunAt: Date?
    /// When it entered the current step; waits count from here.
    public var stepEnteredAt: Date
    /// Thrown errors at the current step so far; reset when the step changes.
    public var attempts: Int
    /// Counts every step entry, so `(id, stepID, visit)` names one visit of one step (the deliveries key).
    public var visit: Int
    /// The reason of the last failure or retry, if any.
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// Set from the sequence's ``SequenceDefinition/uniqueSubject`` when it was enrolled: while
    /// this enrollment is active or paused, the store refuses another of its subject in its sequence.
    public var uniqueSubject: SequenceDefinition.UniqueSubject?
    /// The callback its current step waits for (``RunnerAction/awaitCallback(_:)``), or one whose
    /// completion came first; `nil` otherwise. A state whose ``CallbackState/visit`` is not
    /// ``visit`` is stale and ignored.
    public var callback: CallbackState?

    public init(
        id: UUID = .version7(), sequenceName: String, sequenceVersion: Int, subject: String, idempotencyKey: String? = nil,
        context: JSONValue = [:], stepID: String?, status: EnrollmentStatus = .active, nextRunAt: Date?,
        stepEnteredAt: Date, attempts: Int = 0, visit: Int = 1, lastError: String? = nil, createdAt: Date, updatedAt: Date,
        uniqueSubject: SequenceDefinition.UniqueSubject? = nil, callback: CallbackState? = nil
    ) {
        self.uniqueSubject = uniqueSubject
        self.callback = callback
        self.id = id
        self.sequenceName = sequenceName
        self.sequenceVersion = sequenceVersion
        self.subject = subject
        self.idempotencyKey = idempotencyKey
        self.context = context
        self.stepID = stepID
        self.status = status
        self.nextRunAt = nextRunAt
        self.stepEnteredAt = stepEnteredAt
        self.attempts = attempts
        self.visit = visit
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension Enrollment {
    /// Refuses an enrollment whose dates fall outside ``Limits/dates`` (or are NaN), naming the
    /// field: what stores check before writing, so a cursor built by hand cannot trap a conversion.
    package func checkDates() throws(SequencerError) {
        for (field, date) in [("nextRunAt", nextRunAt), ("stepEnteredAt", stepEnteredAt), ("createdAt", createdAt),
                              ("updatedAt", updatedAt)] {
            if let date { try Limits.check(date, field: field, sequence: sequenceName) }
        }
    }
}

/// One line of an enrollment's history. Events are append-only.
public struct HistoryEvent: Sendable, Hashable, Codable {
    /// What happened.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        case enrolled, advanced, altAdvanced, goalReached, waiting, retrying, failed, completed
        case budgetExhausted, contextUpdated, paused, resumed, cancelled
        /// The host retried a failed enrollment from its failed step (``Sequencer/retry(_:by:now:within:)``).
        case retried
        /// The host moved the enrollment to another step (``Sequencer/move(_:to:by:now:within:)``).
        case moved
        /// The host moved the enrollment to another version of its sequence
        /// (``Sequencer/migrateEnrollments(of:from:to:stepMap:by:now:)``).
        case migrated
        /// An event reached the enrollment (``Sequencer/send(event:data:to:now:)``); the
        /// message names it.
        case eventReceived
        /// The outside system completed the step's callback (``Sequencer/complete(token:outcome:now:)``);
        /// the message says how.
        case callbackCompleted
        /// The outside system reported it is still working (``Sequencer/heartbeat(token:progress:now:)``).
        case heartbeat
        /// A notification of the sequence (``SequenceNotification``) was sent, or could not be; the
        /// message says which and why.
        case notified
    }

    public var enrollmentID: UUID
    public var kind: Kind
    /// The step the enrollment was at.
    public var fromStep: String?
    /// The step it moved to, if it moved.
    public var toStep: String?
    /// The runner's message, or the reason of a failure.
    public var message: String?
    /// The visit number of `fromStep` (see ``Enrollment/visit``).
    public var visit: Int
    public var at: Date

    public init(
        enrollmentID: UUID, kind: Kind, fromStep: String?, toStep: String?, message: String? = nil, visit: Int, at: Date
    ) {
        self.enrollmentID = enrollmentID
        self.kind = kind
        self.fromStep = fromStep
        self.toStep = toStep
        self.message = message
        self.visit = visit
        self.at = at
    }
}
