import Foundation

/// `WaitForDateComparison`: waits until the local date or time has one of some values —
/// a weekday, business hours, a month.
///
/// ```json
/// {"id": "weekday", "runner": "WaitForDateComparison", "config": {"attribute": "day", "values": [1, 2, 3, 4, 5]}}
/// {"id": "at-nine", "runner": "WaitForDateComparison", "config": {"attribute": "hour", "value": 9}}
/// ```
///
/// If the attribute of the current time (``RunnerInput/now``), read in the
/// enrollment's ``RunnerInput/timeZone``, is one of `values`, the step answers
/// `.next`. Otherwise it answers `.noop(until:)` the exact start of the next
/// local period whose attribute is one of them: on Saturday 15:00,
/// `day` in `[1…5]` wakes on Monday 00:00 local; at 14:30, `hour` `[9]` wakes
/// tomorrow at 09:00; in April, `date` `[31]` wakes on May 31. A `year` that is
/// already past can never come, and fails the enrollment.
///
/// The numbering is JavaScript `Date`'s (`getFullYear`, `getMonth`,
/// `getDate`, `getDay`, `getHours`, `getMinutes`), which users of the JSON
/// format expect. Mind the two zero-based ones, `month` and `day`:
///
/// | attribute | meaning | values |
/// |---|---|---|
/// | `year` | full year | e.g. `2026` (1–9999) |
/// | `month` | month | `0` = January … `11` = December |
/// | `date` | day of the month | `1` … `31` |
/// | `day` | day of the week | `0` = Sunday, `1` = Monday … `6` = Saturday |
/// | `hour` | hour of the day, 24-hour clock | `0` … `23` |
/// | `minute` | minute of the hour | `0` … `59` |
///
/// `values` is an array of integers; a single `"value": 3` works too.
/// Integral strings are accepted, so elements may be templates (`"{{quietHoursEnd}}"`).
/// Register rejects an unknown attribute, an empty or non-array `values`,
/// fractional and out-of-range values (`day` 7, `month` 12, `hour` 24).
///
/// **DST.** Periods are local wall-clock periods, so a day may last 23 or 25
/// hours. When a value does not exist on a day because the clocks spring
/// forward over it (`hour` 2 on the US spring-forward day), the wait ends at
/// the first instant after the gap (03:00 EDT), and the local period that
/// begins there counts as matching (a late tick at 03:40 EDT that day still goes on).
/// When clocks fall back, either occurrence of the repeated time matches; a
/// period start that recurs (01:05 comes twice) wakes at its next occurrence,
/// and falling back into a matching period wakes at the moment of the change.
public struct WaitForDateComparisonRunner: TaskRunner {
    /// `"WaitForDateComparison"`.
    public let name = "WaitForDateComparison"
    /// Creates the runner; it has no settings.
    public init() {}

    /// The config keys it reads: `attribute`, `values`, `value`.
    public var configKeys: [String]? { ["attribute", "values", "value"] }

    /// What part of the local date or time is compared: the values of `config.attribute`.
    ///
    /// See ``WaitForDateComparisonRunner`` for the numbering, which follows JavaScript's `Date`.
    enum Attribute: String, Sendable, Hashable, CaseIterable {
        /// The full year, e.g. 2026.
        case year
        /// The month, 0 = January … 11 = December.
        case month
        /// The day of the month, 1–31.
        case date
        /// The day of the week, 0 = Sunday … 6 = Saturday.
        case day
        /// The hour, 0–23.
        case hour
        /// The minute, 0–59.
        case minute

        /// The values this attribute can take.
        var validValues: ClosedRange<Int> {
            switch self {
            case .year: 1...9999
            case .month: 0...11
            case .date: 1...31
            case .day: 0...6
            case .hour: 0...23
            case .minute: 0...59
            }
        }

        var rangeDescription: String {
            switch self {
            case .year: "1 to 9999"
            case .month: "0 (January) to 11 (December)"
            case .date: "1 to 31"
            case .day: "0 (Sunday) to 6 (Saturday)"
            case .hour: "0 to 23"
            case .minute: "0 to 59"
            }
        }

        static let validList = "year, month, date, day (weekday), hour, minute"

        /// The calendar period one value covers.
        var granularity: Calendar.Component {
            switch self {
            case .year: .year
            case .month: .month
            case .date, .day: .day
            case .hour: .hour
            case .minute: .minute
            }
        }

        /// This attribute of a wall-clock time (see ``CalendarMath``), JavaScript-numbered.
        func value(ofWallClock wall: Date) -> Int {
            let calendar = CalendarMath.wallCalendar
            return switch self {
            case .year: calendar.component(.year, from: wall)
            case .month: calendar.component(.month, from: wall) - 1
            case .date: calendar.component(.day, from: wall)
            case .day: calendar.component(.weekday, from: wall) - 1
            case .hour: calendar.component(.hour, from: wall)
            case .minute: calendar.component(.minute, from: wall)
            }
        }

        /// Wall-clock starts of the periods with one of `values`, from the enclosing period
        /// (hour for minutes, day for hours and weekdays, month for dates, year for months)
        /// containing `wall`, over enough enclosing periods to find the next one.
        func matchingStarts(from wall: Date, values: Set<Int>) -> [Date] {
            let sorted = values.sorted()
            switch self {
            case .year:
                let current = CalendarMath.wallCalendar.component(.year, from: wall)
                return sorted.filter { $0 >= current }.compactMap { CalendarMath.wallClock(year: $0, month: 1, day: 1) }
            case .month:
                let year = CalendarMath.start(of: .year, containing: wall)
                return (0..<3).flatMap { i in
                    sorted.compactMap { CalendarMath.adding(.month, 12 * i + $0, toWallClock: year) }
                }
            case .date:
                let month = CalendarMath.start(of: .month, containing: wall)
                return (0..<5).flatMap { i -> [Date] in
                    guard let start = CalendarMath.adding(.month, i, toWallClock: month) else { return [] }
                    let calendar = CalendarMath.wallCalendar
                    let length = CalendarMath.daysInMonth(year: calendar.component(.year, from: start),
                                                          month: calendar.component(.month, from: start))
                    return sorted.filter { $0 <= length }.map { start.addingTimeInterval(Double($0 - 1) * 86_400) }
                }
            case .day:
                let day = CalendarMath.start(of: .day, containing: wall)
                return (0..<10).map { day.addingTimeInterval(Double($0) * 86_400) }
                    .filter { values.contains(value(ofWallClock: $0)) }
            case .hour:
                let day = CalendarMath.start(of: .day, containing: wall)
                return (0..<4).flatMap { i in sorted.map { day.addingTimeInterval(Double(i * 86_400 + $0 * 3_600)) } }
            case .minute:
                let hour = CalendarMath.start(of: .hour, containing: wall)
                return (0..<6).flatMap { i in sorted.map { hour.addingTimeInterval(Double(i * 3_600 + $0 * 60)) } }
            }
        }
    }

    struct Config: Sendable, Hashable {
        var attribute: Attribute
        var values: Set<Int>
    }

    /// What the comparison says at one instant.
    enum Evaluation: Sendable, Hashable {
        /// The attribute has one of the values now.
        case matched(current: Int)
        /// It gets one at this instant.
        case wait(until: Date, current: Int)
        /// It never will (a past year).
        case never(current: Int)
    }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        batch.map { input in
            do {
                guard let config = try Self.parse(input.config, site: ConfigReader.Site(input)) else {
                    return input.result(.fail("WaitForDateComparison step '\(input.step.id)' has an unrendered config"))
                }
                let attribute = config.attribute.rawValue
                let wanted = config.values.sorted().map(String.init).joined(separator: ", ")
                switch Self.evaluate(config, now: input.now, timeZone: input.timeZone) {
                case .matched(let current):
                    return input.result(.next, message: "\(attribute) is \(current), one of [\(wanted)]")
                case .wait(let wake, let current):
                    return input.result(.noop(until: wake), message: "\(attribute) is \(current), not one of "
                                        + "[\(wanted)]; waiting until \(ConfigReader.format(wake))")
                case .never(let current):
                    return input.result(.fail("\(attribute) is \(current) in \(input.timeZone.identifier) and none "
                                              + "of [\(wanted)] is still to come"))
                }
            } catch {
                return input.result(.fail("\(error)"))
            }
        }
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try Self.parse(step.config, site: ConfigReader.Site(step, in: definition))
    }

    /// Compares `now`, read in `timeZone`, with `config`.
    static func evaluate(_ config: Config, now: Date, timeZone: TimeZone) -> Evaluation {
        let attribute = config.attribute
        let wallNow = CalendarMath.wallClock(of: now, in: timeZone)
        let period = CalendarMath.start(of: attribute.granularity, containing: wallNow)
        let current = attribute.value(ofWallClock: period)
        if config.values.contains(current) { return .matched(current: current) }

        // Periods that a DST gap swallowed whole, right before this one, start (and so match)
        // where this one starts.
        let periodStart = CalendarMath.instant(atWallClock: period, in: timeZone)
        var earlier = period
        for _ in 0..<1_500 {
            guard let previous = CalendarMath.adding(attribute.granularity, -1, toWallClock: earlier),
                CalendarMath.instant(atWallClock: previous, in: timeZone) == periodStart
            else { break }
            if config.values.contains(attribute.value(ofWallClock: previous)) { return .matched(current: current) }
            earlier = previous
        }

        // Start a little before now so that a start repeated later today, after the clocks fall
        // back, is among the candidates; the earliest one still ahead is the answer.
        let candidates = attribute.matchingStarts(from: wallNow.addingTimeInterval(-3 * 3_600), values: config.values)
        let next = candidates.lazy
            .flatMap { CalendarMath.instants(atWallClock: $0, in: timeZone) }
            .filter { $0 > now }
            .min()
        guard var wake = next else { return .never(current: current) }

        // Clocks falling back can also re-enter a matching period part-way through (Chatham's
        // 03:45 → 02:45 re-enters hour 2 at 02:45); the first such transition before `wake` wins.
        var probe = now
        while let transition = timeZone.nextDaylightSavingTimeTransition(after: probe), transition < wake {
            let before = timeZone.secondsFromGMT(for: transition.addingTimeInterval(-1))
            let fallsBack = timeZone.secondsFromGMT(for: transition) < before
            let wall = CalendarMath.wallClock(of: transition, in: timeZone)
            if fallsBack && config.values.contains(attribute.value(ofWallClock: wall)) {
                wake = transition
                break
            }
            probe = transition
        }
        return .wait(until: wake, current: current)
    }

    /// Reads and checks a config; `nil` when a templated value leaves it to be checked at run time.
    static func parse(_ config: JSONValue, site: ConfigReader.Site) throws -> Config? {
        guard config.objectValue != nil else {
            throw site.invalid("config must be an object like {\"attribute\": \"day\", \"values\": [1, 2, 3, 4, 5]}",
                               field: "config")
        }
        var attribute: Attribute?
        switch config["attribute"] {
        case nil:
            throw site.invalid("missing required key 'attribute' (one of \(Attribute.validList))",
                               field: "config.attribute")
        case let value? where site.isDeferred(value):
            break
        case let value?:
            guard let text = value.stringValue, let parsed = Attribute(rawValue: text.lowercased()) else {
                throw site.invalid("unknown attribute \(ConfigReader.describe(value)); valid attributes: "
                                   + "\(Attribute.validList)", field: "config.attribute")
            }
            attribute = parsed
        }

        let elements: [(value: JSONValue, field: String)]
        switch (config["values"], config["value"]) {
        case (nil, nil):
            throw site.invalid("missing required key 'values' (an array of integers), or a single 'value'",
                               field: "config.values")
        case (_?, _?):
            throw site.invalid("give either 'values' or 'value', not both", field: "config.value")
        case (let list?, nil):
            guard let array = list.arrayValue else {
                throw site.invalid("values must be an array of integers; got \(ConfigReader.describe(list))",
                                   field: "config.values")
            }
            guard !array.isEmpty else {
                throw site.invalid("values must not be empty", field: "config.values")
            }
            elements = array.enumerated().map { ($0.element, "config.values.\($0.offset)") }
        case (nil, let single?):
            elements = [(single, "config.value")]
        }

        var values: Set<Int> = []
        var complete = attribute != nil
        for (value, field) in elements {
            if site.isDeferred(value) {
                complete = false
                continue
            }
            guard let number = ConfigReader.number(value), number.rounded() == number, abs(number) <= 1e9 else {
                throw site.invalid("\(ConfigReader.describe(value)) is not an integer", field: field)
            }
            let integer = Int(number)
            if let attribute, !attribute.validValues.contains(integer) {
                throw site.invalid("\(attribute.rawValue) \(integer) is out of range: \(attribute.rawValue) runs "
                                   + "from \(attribute.rangeDescription)", field: field)
            }
            values.insert(integer)
        }
        guard complete, let attribute else { return nil }
        return Config(attribute: attribute, values: values)
    }
}
