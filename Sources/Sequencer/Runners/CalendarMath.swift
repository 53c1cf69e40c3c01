import Foundation

/// Wall-clock arithmetic in a time zone, shared by the wait runners.
///
/// A *wall-clock time* (what a clock on the wall in the zone shows) is
/// represented as a `Date` read in ``wallCalendar``, a Gregorian calendar in
/// UTC: `2026-03-08 09:00` in New York is the `Date` that UTC calls
/// `2026-03-08T09:00:00Z`. Calendar arithmetic happens there, where no day is
/// 23 or 25 hours long, and ``instants(atWallClock:in:)`` maps the result back
/// to real instants with one rule for every runner:
///
/// - a wall-clock time that occurs once maps to that instant;
/// - one that occurs twice (the repeated hour when clocks fall back) maps to
///   both, and the runners use the first;
/// - one that never occurs (skipped when clocks spring forward) maps to the
///   first instant on or after it: the end of the gap (02:30 on the US
///   spring-forward day in New York is 03:00 EDT).
enum CalendarMath {
    /// A Gregorian calendar in UTC, in which wall-clock times are read and added.
    static let wallCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        calendar.locale = Locale(identifier: "en_US_POSIX")
        return calendar
    }()

    /// The wall-clock time `instant` shows in `timeZone`.
    static func wallClock(of instant: Date, in timeZone: TimeZone) -> Date {
        instant.addingTimeInterval(TimeInterval(timeZone.secondsFromGMT(for: instant)))
    }

    /// The first instant whose wall-clock time in `timeZone` is `wall` or later.
    ///
    /// The earliest occurrence of a repeated time; the end of the gap for a skipped one.
    static func instant(atWallClock wall: Date, in timeZone: TimeZone) -> Date {
        instants(atWallClock: wall, in: timeZone)[0]
    }

    /// Every instant showing `wall` in `timeZone`, earliest first; never empty.
    ///
    /// Two instants for a time in a repeated hour; for a time skipped by a gap, the single
    /// instant that ends the gap.
    static func instants(atWallClock wall: Date, in timeZone: TimeZone) -> [Date] {
        // Offsets run from -12h to +14h, so every instant showing `wall` lies in
        // [wall - 14h, wall + 12h]; sampling a little beyond both ends finds every
        // offset in force there unless two transitions fall within one day.
        let offsets = Set(
            [-15 * 3600.0, 0, 13 * 3600.0].map { timeZone.secondsFromGMT(for: wall.addingTimeInterval($0)) })
        let found = offsets.compactMap { offset -> Date? in
            let candidate = wall.addingTimeInterval(-TimeInterval(offset))
            return timeZone.secondsFromGMT(for: candidate) == offset ? candidate : nil
        }
        if !found.isEmpty { return found.sorted() }
        return [gapEnd(skipping: wall, offsets: offsets, in: timeZone)]
    }

    /// The transition that skips `wall`: the first instant showing a later wall-clock time.
    private static func gapEnd(skipping wall: Date, offsets: Set<Int>, in timeZone: TimeZone) -> Date {
        let target = wall.timeIntervalSince1970
        // Before the transition clocks show less than `wall`, after it more; search whole
        // seconds, as time zone transitions fall on them.
        var low = (target - TimeInterval(offsets.max() ?? 0)).rounded(.down)
        var high = (target - TimeInterval(offsets.min() ?? 0)).rounded(.up)
        func showsAtLeastWall(_ seconds: TimeInterval) -> Bool {
            seconds + TimeInterval(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: seconds))) >= target
        }
        while high - low > 1 {
            let middle = ((low + high) / 2).rounded(.down)
            if showsAtLeastWall(middle) { high = middle } else { low = middle }
        }
        return Date(timeIntervalSince1970: high)
    }

    /// Adds `value` of a calendar `component` to a wall-clock time, clamping the day of month
    /// (January 31 + 1 month is February 28 or 29).
    static func adding(_ component: Calendar.Component, _ value: Int, toWallClock wall: Date) -> Date? {
        wallCalendar.date(byAdding: component, value: value, to: wall)
    }

    /// The start of the `component` period (year, month, day, hour, minute) containing a wall-clock time.
    static func start(of component: Calendar.Component, containing wall: Date) -> Date {
        wallCalendar.dateInterval(of: component, for: wall)?.start ?? wall
    }

    /// A wall-clock time from its fields, or `nil` when they name no real date (February 30).
    static func wallClock(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, nanosecond: Int = 0
    ) -> Date? {
        guard (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day),
            (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute,
                                        second: second)
        return wallCalendar.date(from: components)?.addingTimeInterval(TimeInterval(nanosecond) / 1e9)
    }

    /// The number of days in a month of the proleptic Gregorian calendar (`month` 1–12).
    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
