public import Foundation

/// The bounds Sequencer enforces on what it accepts, checked before anything is stored.
///
/// Sequencer runs inside the host's process, so no input may take that process down or stall
/// its ticks: every value a host or a definition hands in is checked against these bounds, and
/// what does not fit is a ``SequencerError`` naming the field, with nothing stored. Sizes are
/// configurable per ``Sequencer`` (``Sequencer/Configuration/limits``); lengths and ranges that
/// come from the database's own limits are fixed.
///
/// | what | bound | error code |
/// |---|---|---|
/// | a context (enroll, `updateContext`) | ``maximumContextBytes``, 1 MiB as compact JSON | ``SequencerError/Code/limitExceeded`` |
/// | a definition (register) | ``maximumDefinitionBytes``, 4 MiB as compact JSON | ``SequencerError/Code/limitExceeded`` |
/// | one step's config | ``maximumConfigBytes``, 256 KiB as compact JSON | ``SequencerError/Code/limitExceeded`` |
/// | steps in a definition | ``maximumSteps``, 10,000 | ``SequencerError/Code/limitExceeded`` |
/// | nesting of arrays and objects | ``JSONValue/maximumDepth``, 256 levels | ``SequencerError/Code/limitExceeded`` |
/// | nested template sections | ``maximumTemplateDepth``, 32 | ``SequencerError/Code/invalidConfig`` |
/// | sequence names, step ids, runner names | ``maximumNameBytes``, 200 bytes of UTF-8 | ``SequencerError/Code/limitExceeded`` |
/// | subjects, idempotency keys | ``maximumSubjectBytes``, 1,000 bytes of UTF-8 | ``SequencerError/Code/limitExceeded`` |
/// | dates (`now:` arguments, wake times) | ``dates``: 0001-01-01 to 9999-12-31 UTC | ``SequencerError/Code/outOfRange`` |
/// | versions | 1 to 2,147,483,647 | ``SequencerError/Code/outOfRange`` |
/// | `matches` patterns | ``maximumPatternBytes``, 1,000 bytes; linear-time matching | ``SequencerError/Code/invalidConfig`` |
///
/// The name and subject lengths keep every indexed value well under PostgreSQL's B-tree entry
/// limit (about 2.7 KB), so a long string is refused up front, naming the field, instead of by
/// the index in the middle of a bulk enroll.
public struct Limits: Sendable, Hashable {
    /// The largest context an enrollment may have, as compact JSON in UTF-8 bytes. Default 1 MiB.
    ///
    /// Every tick that claims an enrollment carries its context through the batch, so a ticker's
    /// memory grows with it.
    public var maximumContextBytes = 1 << 20
    /// The largest definition, as compact JSON in UTF-8 bytes. Default 4 MiB.
    public var maximumDefinitionBytes = 4 << 20
    /// The largest config of one step, as compact JSON in UTF-8 bytes. Default 256 KiB.
    public var maximumConfigBytes = 256 << 10
    /// The most steps a definition may have. Default 10,000.
    public var maximumSteps = 10_000

    /// The defaults.
    public init() {}

    /// The longest sequence name, step id or runner name, in UTF-8 bytes: 200.
    public static let maximumNameBytes = 200
    /// The longest subject or idempotency key, in UTF-8 bytes: 1,000.
    public static let maximumSubjectBytes = 1_000
    /// The deepest nesting of template sections (`{{#a}}{{#b}}…{{/b}}{{/a}}`) in a config string: 32.
    public static let maximumTemplateDepth = 32
    /// The longest regular expression a `matches` condition may use, in UTF-8 bytes: 1,000.
    public static let maximumPatternBytes = 1_000

    /// The instants Sequencer accepts and stores: 0001-01-01T00:00:00Z through
    /// 9999-12-31T23:59:59.999Z.
    ///
    /// Inside PostgreSQL's `timestamptz` range (4713 BC to 294276 AD) and within the four-digit
    /// years of ISO 8601, which history messages, the `now` operand and `WaitForDate` use. A
    /// `now:` argument outside it (or NaN) is refused; a wait whose wake time falls after it fails
    /// its step, saying so.
    public static let dates: ClosedRange<Date> =
        Date(timeIntervalSince1970: -62_135_596_800)...Date(timeIntervalSince1970: 253_402_300_799.999)

    /// Refuses a date outside ``dates`` (NaN included), naming the argument or field.
    package static func check(_ date: Date, field: String, sequence: String? = nil) throws(SequencerError) {
        guard accepts(date) else {
            throw SequencerError(
                .outOfRange, "\(describe(date)) is outside the dates Sequencer accepts (0001-01-01 to 9999-12-31 UTC)",
                sequence: sequence, field: field)
        }
    }

    /// Whether `date` is inside ``dates``. (`ClosedRange.contains` alone lets NaN through: every
    /// comparison with NaN is false, so `lowerBound <= nan`, written as `!(nan < lowerBound)`, holds.)
    static func accepts(_ date: Date) -> Bool {
        date.timeIntervalSinceReferenceDate.isFinite && dates.contains(date)
    }

    /// A date as a person can read it, even one outside the accepted range.
    static func describe(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite else { return "\(seconds) seconds since 1970" }
        if accepts(date) { return ISO8601Timestamp.string(from: date) }
        return "\(seconds) seconds since 1970"
    }

    /// The start of a string that may be very long, for an error message: at most 60 characters.
    package static func excerpt(_ text: String) -> String {
        text.count <= 60 ? text : String(text.prefix(57)) + "…"
    }

    /// Refuses a name, id or key longer than `maximum` UTF-8 bytes.
    static func check(length text: String, maximum: Int, what: String, field: String, sequence: String? = nil,
                      version: Int? = nil, step: String? = nil) throws(SequencerError) {
        let count = text.utf8.count
        guard count <= maximum else {
            throw SequencerError(.limitExceeded, "\(what) is \(count) bytes long; the limit is \(maximum)",
                                 sequence: sequence, version: version, step: step, field: field)
        }
    }
}
