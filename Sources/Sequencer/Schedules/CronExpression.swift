import Foundation

/// A five-field cron expression: minute, hour, day of month, month, day of week.
///
/// ```
/// 0 9 * * 1-5        09:00 Monday to Friday
/// */15 * * * *       every quarter hour
/// 30 2 1,15 * *      02:30 on the 1st and 15th
/// 0 0 * JAN,JUL SUN  midnight on Sundays in January and July
/// @daily             the same as 0 0 * * *
/// ```
///
/// Each field is `*`, a number, a range `a-b`, a list `a,b,c`, or any of them with a step
/// (`*/5`, `10-50/10`, `5/15` = from 5 to the end in steps of 15). Months take `JAN`–`DEC`,
/// days of the week `SUN`–`SAT` (0 and 7 are both Sunday), in any case. The macros `@yearly`
/// (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for their
/// usual expressions. As in Vixie cron, when both the day of month and the day of week are
/// restricted (neither starts with `*`) a day matches when *either* does; otherwise both must.
///
/// The expression matches wall-clock times of a time zone; ``Recurrence`` maps them to instants
/// (see its DST rules).
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The expression as written (trimmed), which ``init(_:)`` reads back to an equal value.
    public let description: String
    let minutes: BitSet
    let hours: BitSet
    let daysOfMonth: BitSet
    let months: BitSet
    /// 0 = Sunday … 6 = Saturday.
    let daysOfWeek: BitSet
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    /// A set of small integers (0…63) as bits.
    struct BitSet: Sendable, Hashable {
        var bits: UInt64 = 0
        func contains(_ value: Int) -> Bool { value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0 }
        mutating func insert(_ value: Int) { bits |= 1 << UInt64(value) }
        /// The least member at or above `value`, or `nil`.
        func first(atOrAbove value: Int) -> Int? {
            guard value < 64 else { return nil }
            let above = bits & (value <= 0 ? ~0 : ~((1 << UInt64(value)) - 1))
            return above == 0 ? nil : above.trailingZeroBitCount
        }
        var min: Int? { first(atOrAbove: 0) }
    }

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    private static let dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

    /// Parses an expression. Errors (``SequencerError/Code/invalidConfig``) name the field
    /// (`cron.minute`, `cron.hour`, `cron.dayOfMonth`, `cron.month`, `cron.dayOfWeek`) and the part
    /// that is wrong; an expression that can never match (`0 0 30 2 *`) is refused too.
    public init(_ text: String) throws(SequencerError) {
        try self.init(text, field: "cron")
    }

    package init(_ text: String, field: String, schedule: String? = nil) throws(SequencerError) {
        func invalid(_ message: String, _ part: String? = nil) -> SequencerError {
            var error = SequencerError(.invalidConfig, message, field: part.map { "\(field).\($0)" } ?? field)
            if let schedule { error.message = "schedule '\(Limits.excerpt(schedule))': " + error.message }
            return error
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 200 else { throw invalid("a cron expression is at most 200 bytes long") }
        let expanded = Self.macros[trimmed.lowercased()] ?? trimmed
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw invalid("a cron expression has five fields (minute hour day-of-month month day-of-week) "
                          + "or is one of @yearly, @monthly, @weekly, @daily, @hourly; \"\(Limits.excerpt(trimmed))\" has \(fields.count)")
        }
        let specs: [(name: String, range: ClosedRange<Int>, names: [String], offset: Int)] = [
            ("minute", 0...59, [], 0), ("hour", 0...23, [], 0), ("dayOfMonth", 1...31, [], 0),
            ("month", 1...12, Self.monthNames, 1), ("dayOfWeek", 0...7, Self.dayNames, 0),
        ]
        var sets: [BitSet] = []
        for (spec, text) in zip(specs, fields) {
            sets.append(try Self.parseField(text, range: spec.range, names: spec.names, nameOffset: spec.offset) {
                invalid("\(spec.name) \"\(Limits.excerpt(text))\": \($0)", spec.name)
            })
        }
        var weekdays = sets[4]
        if weekdays.contains(7) { weekdays.insert(0) }
        weekdays.bits &= 0x7F
        self.description = trimmed
        self.minutes = sets[0]
        self.hours = sets[1]
        self.daysOfMonth = sets[2]
        self.months = sets[3]
        self.daysOfWeek = weekdays
        self.dayOfMonthRestricted = !fields[2].hasPrefix("*")
        self.dayOfWeekRestricted = !fields[4].hasPrefix("*")
        // A day of the month that no month of the expression has (February 30) never comes,
        // unless the day of the week may match instead.
        if dayOfMonthRestricted && !dayOfWeekRestricted {
            let longest = (1...12).filter(months.contains).map { Self.daysIn(month: $0, leap: true) }.max() ?? 0
            guard let first = daysOfMonth.min, first <= longest else {
                throw invalid("\"\(Limits.excerpt(trimmed))\" never matches: no month it names has that day", "dayOfMonth")
            }
        }
    }

    private static func parseField(
        _ text: String, range: ClosedRange<Int>, names: [String], nameOffset: Int,
        invalid: (String) -> SequencerError
    ) throws(SequencerError) -> BitSet {
        func value(_ token: Substring) throws(SequencerError) -> Int {
            if let index = names.firstIndex(of: token.uppercased()) { return index + nameOffset }
            guard !token.isEmpty, token.count <= 4, token.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(token) else {
                throw invalid(token.isEmpty ? "an empty value" : "'\(Limits.excerpt(String(token)))' is not a number"
                              + (names.isEmpty ? "" : " or a name (\(names.joined(separator: ", ")))"))
            }
            guard range.contains(number) else {
                throw invalid("\(number) is outside \(range.lowerBound)–\(range.upperBound)")
            }
            return number
        }
        var set = BitSet()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw invalid("'\(part)' has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard pieces[1].count <= 4, pieces[1].allSatisfy({ $0.isASCII && $0.isNumber }), let s = Int(pieces[1]),
                      s >= 1, s <= range.upperBound
                else { throw invalid("the step '\(Limits.excerpt(String(pieces[1])))' must be a number from 1 to \(range.upperBound)") }
                step = s
            }
            let base = pieces[0]
            let low: Int, high: Int
            if base == "*" {
                (low, high) = (range.lowerBound, range.upperBound)
            } else if let dash = base.firstIndex(of: "-") {
                low = try value(base[..<dash])
                high = try value(base[base.index(after: dash)...])
                guard low <= high else { throw invalid("the range \(base) runs backwards") }
            } else {
                low = try value(base)
                high = pieces.count == 2 ? range.upperBound : low
            }
            var v = low
            while v <= high {
                set.insert(v)
                v += step
            }
        }
        return set
    }

    static func daysIn(month: Int, leap: Bool) -> Int {
        switch month {
        case 2: leap ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Whether a civil day matches the day-of-month, month and day-of-week fields.
    func matches(day: CivilDay) -> Bool {
        guard months.contains(day.month) else { return false }
        let dom = daysOfMonth.contains(day.day), dow = daysOfWeek.contains(day.weekday)
        if dayOfMonthRestricted && dayOfWeekRestricted { return dom || dow }
        return dom && dow
    }

    /// The first wall-clock minute that matches, strictly after `wall` (a wall-clock time, see
    /// `CalendarMath`); `nil` when none within about eight years (only Feb 29 rules come near).
    func nextMatch(after wall: Date) -> Date? {
        let seconds = wall.timeIntervalSince1970
        // The next whole minute after `wall`.
        var minuteIndex = Int64((seconds / 60).rounded(.down)) + 1
        var dayNumber = Int(floorDiv(minuteIndex, 1440))
        var minuteOfDay = Int(minuteIndex - Int64(dayNumber) * 1440)
        for _ in 0..<(366 * 8 + 2) {
            let day = CivilDay(daysSinceEpoch: dayNumber)
            if matches(day: day) {
                var hour = minuteOfDay / 60, minute = minuteOfDay % 60
                while let h = hours.first(atOrAbove: hour) {
                    if h > hour { minute = 0 }
                    if let m = minutes.first(atOrAbove: minute) {
                        minuteIndex = Int64(dayNumber) * 1440 + Int64(h * 60 + m)
                        return Date(timeIntervalSince1970: TimeInterval(minuteIndex * 60))
                    }
                    hour = h + 1
                    minute = 0
                }
            }
            dayNumber += 1
            minuteOfDay = 0
        }
        return nil
    }

    private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}

/// A day of the proleptic Gregorian calendar, from its number of days since 1970-01-01.
struct CivilDay: Hashable {
    let year: Int
    let month: Int
    let day: Int
    /// 0 = Sunday … 6 = Saturday.
    let weekday: Int

    init(daysSinceEpoch days: Int) {
        (year, month, day) = ISO8601Timestamp.civilFromDays(days)
        weekday = ((days % 7) + 11) % 7   // 1970-01-01 was a Thursday (4)
    }
}
