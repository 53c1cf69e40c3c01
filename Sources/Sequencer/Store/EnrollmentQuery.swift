public import Foundation

/// Which enrollments a list or a bulk action covers. Every field left `nil` matches everything.
///
/// ```swift
/// let stuck = EnrollmentFilter(sequence: "onboarding", step: "verify-email", status: .active)
/// let page = try await sequencer.enrollments(matching: stuck, limit: 50)
/// ```
public struct EnrollmentFilter: Sendable, Hashable {
    public var sequence: String?
    /// Only with ``sequence``.
    public var version: Int?
    public var step: String?
    public var status: EnrollmentStatus?
    public var subject: String?
    /// Changed (by a tick or the host) at or after this time.
    public var updatedSince: Date?

    public init(sequence: String? = nil, version: Int? = nil, step: String? = nil, status: EnrollmentStatus? = nil,
                subject: String? = nil, updatedSince: Date? = nil) {
        self.sequence = sequence
        self.version = version
        self.step = step
        self.status = status
        self.subject = subject
        self.updatedSince = updatedSince
    }

    /// Refuses a filter that is not one: a version without a sequence (versions are per sequence)
    /// is ``SequencerError/Code/invalidState`` naming field `version`.
    package func check() throws(SequencerError) {
        if let version, sequence == nil {
            throw SequencerError(.invalidState, "a filter by version \(version) needs a sequence: versions are per sequence",
                                 version: version, field: "version")
        }
        if let updatedSince { try Limits.check(updatedSince, field: "updatedSince") }
    }

    /// Whether an enrollment matches (what every store's query must agree with).
    public func matches(_ e: Enrollment) -> Bool {
        (sequence.map { $0 == e.sequenceName } ?? true)
            && (version.map { $0 == e.sequenceVersion } ?? true)
            && (step.map { $0 == e.stepID } ?? true)
            && (status.map { $0 == e.status } ?? true)
            && (subject.map { $0 == e.subject } ?? true)
            && (updatedSince.map { e.updatedAt >= $0 } ?? true)
    }
}

/// Where a page ends, to ask for the next: opaque to callers (pass ``description`` along in a
/// URL or a command line, and read it back with ``init(_:)``).
///
/// Lists are in id order, newest first (ids are time-ordered, ``Foundation/UUID/version7(at:)``),
/// and a cursor is the last id seen, so a page never repeats or skips an enrollment when others
/// are created meanwhile (those are newer and come before the first page), and no store counts
/// through the rows before it (no `OFFSET`).
public struct PageCursor: Sendable, Hashable, CustomStringConvertible {
    /// The last enrollment id of the page (for lists) or the last event position (for history).
    public let position: String

    package init(position: String) { self.position = position }

    /// Reads a cursor a previous page returned.
    ///
    /// - Throws: ``SequencerError/Code/invalidIdentifier`` (field `cursor`) for text no page returned.
    public init(_ text: String) throws {
        let body = text.hasPrefix("c1.") ? String(text.dropFirst(3)) : ""
        guard !body.isEmpty, body.count <= 64,
              body.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == "-") }) else {
            throw SequencerError(.invalidIdentifier, "'\(text.prefix(80))' is not a page cursor", field: "cursor")
        }
        position = body
    }

    public var description: String { "c1." + position }

    /// The enrollment id of a list cursor.
    package var enrollmentID: UUID? { UUID(uuidString: position) }
    /// The event position of a history cursor.
    package var eventPosition: Int64? { Int64(position, radix: 16) }

    package static func after(_ id: UUID) -> PageCursor { PageCursor(position: id.uuidString.lowercased()) }
    package static func after(event position: Int64) -> PageCursor { PageCursor(position: String(position, radix: 16)) }
}

/// One page of a list of enrollments.
public struct EnrollmentPage: Sendable, Hashable {
    /// Newest first.
    public var enrollments: [Enrollment]
    /// Pass it to get the next page; `nil` on the last page.
    public var next: PageCursor?

    public init(enrollments: [Enrollment], next: PageCursor?) {
        self.enrollments = enrollments
        self.next = next
    }
}

/// One page of an enrollment's history.
public struct HistoryPage: Sendable, Hashable {
    /// Oldest first.
    public var events: [HistoryEvent]
    /// Pass it to get the next page; `nil` on the last page.
    public var next: PageCursor?

    public init(events: [HistoryEvent], next: PageCursor?) {
        self.events = events
        self.next = next
    }
}

/// How many enrollments of one sequence version are at one step in one status.
public struct StepCount: Sendable, Hashable {
    /// `nil` for completed enrollments (they are past the last step).
    public var step: String?
    public var status: EnrollmentStatus
    public var count: Int

    public init(step: String?, status: EnrollmentStatus, count: Int) {
        self.step = step
        self.status = status
        self.count = count
    }
}
