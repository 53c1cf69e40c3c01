public import Foundation

/// How many messages of one channel a subject may receive per calendar day and per calendar
/// week, across every sequence: the runner's `frequencyCap` (``EmailRunner``, ``SMSRunner``).
///
/// Counted from the deliveries ledger (sends recorded and sends in flight; failed ones do not
/// count) in the enrollment's own time zone (``RunnerInput/timeZone``): a day runs from local
/// midnight to midnight, a week from Monday 00:00 to the next Monday. The ledger checks and
/// reserves under a lock per subject and channel, so concurrent tickers cannot together exceed a cap.
///
/// A send over a cap does not happen; what the step does then is its config's `frequencyCap`:
/// `"wait"` (the default: the step waits, without running, until the window that is full
/// ends, at local midnight or on Monday, and tries again), `"skip"` (the step moves on to `next`
/// without sending) or `"ignore"` (the cap does not apply: receipts, password resets). Either
/// way the history says which cap was full.
///
/// ```swift
/// EmailRunner(transport: smtp, ledger: store, frequencyCap: FrequencyCap(perDay: 2, perWeek: 5))
/// ```
public struct FrequencyCap: Sendable, Hashable {
    /// At most this many messages per local calendar day; `nil` for no daily cap.
    public var perDay: Int?
    /// At most this many per local calendar week, Monday to Sunday; `nil` for no weekly cap.
    public var perWeek: Int?

    /// A cap; a value below zero counts as zero (nothing may be sent).
    public init(perDay: Int? = nil, perWeek: Int? = nil) {
        self.perDay = perDay.map { max(0, $0) }
        self.perWeek = perWeek.map { max(0, $0) }
    }

    /// The windows a send at `now` counts against, in `timeZone`: today and this week.
    public func limits(at now: Date, in timeZone: TimeZone) -> [SendLimit] {
        let today = CalendarMath.start(of: .day, containing: CalendarMath.wallClock(of: now, in: timeZone))
        var limits: [SendLimit] = []
        if let perDay, let tomorrow = CalendarMath.adding(.day, 1, toWallClock: today) {
            limits.append(SendLimit(maximum: perDay, period: "day",
                                    from: CalendarMath.instant(atWallClock: today, in: timeZone),
                                    until: CalendarMath.instant(atWallClock: tomorrow, in: timeZone)))
        }
        // Gregorian weekday: 1 = Sunday … 7 = Saturday; days since Monday = (weekday + 5) % 7.
        let sinceMonday = (CalendarMath.wallCalendar.component(.weekday, from: today) + 5) % 7
        if let perWeek, let monday = CalendarMath.adding(.day, -sinceMonday, toWallClock: today),
           let nextMonday = CalendarMath.adding(.day, 7, toWallClock: monday)
        {
            limits.append(SendLimit(maximum: perWeek, period: "week",
                                    from: CalendarMath.instant(atWallClock: monday, in: timeZone),
                                    until: CalendarMath.instant(atWallClock: nextMonday, in: timeZone)))
        }
        return limits
    }
}

/// One window a send counts against: at most `maximum` sends of the channel to the subject with
/// a time in `from..<until` (see ``DeliveryRequest``).
public struct SendLimit: Sendable, Hashable {
    public var maximum: Int
    /// `"day"` or `"week"`, for messages.
    public var period: String
    public var from: Date
    public var until: Date

    public init(maximum: Int, period: String, from: Date, until: Date) {
        self.maximum = maximum
        self.period = period
        self.from = from
        self.until = until
    }
}

/// What a step's config says to do with a send over its runner's ``FrequencyCap``.
enum FrequencyCapPolicy: String {
    case wait, skip, ignore

    static let key = "frequencyCap"

    /// Reads `frequencyCap` from a (rendered) config; errors name `config.frequencyCap`.
    static func read(_ config: JSONValue, site: ConfigReader.Site) throws(SequencerError) -> FrequencyCapPolicy {
        switch config[key] {
        case nil, .null?:
            return .wait
        case .string(let text)? where FrequencyCapPolicy(rawValue: text) != nil:
            return FrequencyCapPolicy(rawValue: text)!
        case .string(let text)? where site.isDeferred(.string(text)):
            return .wait
        case let other?:
            throw site.invalid("frequencyCap must be \"wait\", \"skip\" or \"ignore\"; got \(ConfigReader.describe(other))",
                               field: "config.\(key)")
        }
    }
}
