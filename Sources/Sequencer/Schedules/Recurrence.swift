public import Foundation

/// When a ``Schedule`` fires: a cron expression read on the wall clock of a time zone, or a
/// fixed rate.
///
/// Written as a string: a cron expression (`"0 9 * * 1"`, `"@daily"`, see ``CronExpression``)
/// or a rate, `"every N minutes"`, `"every N hours"`, `"every N days"`, `"every N weeks"`
/// (`"every hour"` for one; at least one minute).
///
/// **Cron and DST.** A cron expression matches wall-clock times in the schedule's zone, mapped to
/// instants with the rule the wait runners use:
/// - a wall-clock time that occurs once fires at that instant;
/// - one that a spring-forward gap skips fires at the first instant after the gap (a daily 02:30
///   in America/New_York fires at 03:00 EDT on that day: once);
/// - one that occurs twice when clocks fall back fires at its first occurrence only (once).
///
/// So a daily or weekly expression fires exactly once on every day it names, and an expression
/// that matches many times an hour follows the wall clock: on the spring-forward day the matches
/// inside the gap fire once, together, at its end; on the fall-back day the repeated hour does
/// not fire a second time. Work that must run at an even pace through DST changes takes a rate
/// (`every 5 minutes`) or a cron expression in UTC.
///
/// **Rates** are fixed elapsed times from the schedule's anchor (the time it was created, or its
/// recurrence last changed): occurrences at anchor + k × interval, k ≥ 1; the zone plays no part.
public enum Recurrence: Sendable, Hashable, CustomStringConvertible {
    case cron(CronExpression)
    /// A fixed interval of at least one minute.
    case every(Duration)

    /// Parses a cron expression or a rate; errors (``SequencerError/Code/invalidConfig``) name
    /// `field` and what is wrong.
    public init(_ text: String) throws(SequencerError) {
        try self.init(text, field: "recurrence")
    }

    package init(_ text: String, field: String, schedule: String? = nil) throws(SequencerError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let words = trimmed.lowercased().split(separator: " ", omittingEmptySubsequences: true)
        guard words.first == "every" else {
            self = .cron(try CronExpression(trimmed, field: field, schedule: schedule))
            return
        }
        func invalid(_ message: String) -> SequencerError {
            SequencerError(.invalidConfig, (schedule.map { "schedule '\(Limits.excerpt($0))': " } ?? "") + message,
                           field: field)
        }
        let amount: Int
        let unit: Substring
        switch words.count {
        case 2:
            (amount, unit) = (1, words[1])
        case 3:
            guard words[1].count <= 9, let n = Int(words[1]), n >= 1 else {
                throw invalid("a rate is \"every N minutes|hours|days|weeks\" with N a whole number from 1; "
                              + "'\(Limits.excerpt(String(words[1])))' is not one")
            }
            (amount, unit) = (n, words[2])
        default:
            throw invalid("a rate is \"every N minutes|hours|days|weeks\" (\"every 6 hours\"), not \"\(Limits.excerpt(trimmed))\"")
        }
        let seconds: Int
        switch unit {
        case "minute", "minutes": seconds = 60
        case "hour", "hours": seconds = 3600
        case "day", "days": seconds = 86400
        case "week", "weeks": seconds = 604_800
        default:
            throw invalid("the unit of a rate is minutes, hours, days or weeks (at least one minute), not '\(Limits.excerpt(String(unit)))'")
        }
        guard amount <= 100 * 366 * 86400 / seconds else {
            throw invalid("a rate of more than 100 years never fires within the dates the library accepts")
        }
        self = .every(.seconds(amount * seconds))
    }

    /// The text ``init(_:)`` reads back to an equal recurrence.
    public var description: String {
        switch self {
        case .cron(let expression):
            return expression.description
        case .every(let interval):
            let seconds = Int(interval.components.seconds)
            for (size, unit) in [(604_800, "week"), (86400, "day"), (3600, "hour"), (60, "minute")] where seconds % size == 0 {
                let n = seconds / size
                return n == 1 ? "every \(unit)" : "every \(n) \(unit)s"
            }
            return "every \(seconds / 60) minutes"
        }
    }

    /// The first occurrence strictly after `instant`, or `nil` when there is none within
    /// about eight years (a cron rule naming only February 29 comes close).
    ///
    /// - Parameters:
    ///   - timeZone: the zone whose wall clock a cron expression reads.
    ///   - anchor: where a rate counts from.
    public func occurrence(after instant: Date, in timeZone: TimeZone, anchor: Date) -> Date? {
        switch self {
        case .every(let interval):
            let step = interval.timeInterval
            guard instant >= anchor else { return anchor.addingTimeInterval(step) }
            let k = ((instant.timeIntervalSince(anchor)) / step).rounded(.down) + 1
            var next = anchor.addingTimeInterval(k * step)
            if next <= instant { next = next.addingTimeInterval(step) }   // rounding
            return next
        case .cron(let expression):
            // The first matching wall-clock time that no instant up to `instant` has shown yet:
            // CalendarMath maps each to the first instant showing it or a later time, so such a
            // time's instant is after `instant`, and each wall-clock time fires once.
            guard let wall = expression.nextMatch(after: Self.latestWallClock(shownBy: instant, in: timeZone)) else {
                return nil
            }
            return CalendarMath.instant(atWallClock: wall, in: timeZone)
        }
    }

    /// The latest wall-clock time shown at or before `instant`: the wall clock of `instant`,
    /// unless clocks fell back within the few hours before it, when the time shown just before
    /// the fall was later.
    static func latestWallClock(shownBy instant: Date, in timeZone: TimeZone) -> Date {
        let now = CalendarMath.wallClock(of: instant, in: timeZone)
        let window: TimeInterval = 4 * 3600
        let earlierOffset = timeZone.secondsFromGMT(for: instant.addingTimeInterval(-window))
        guard earlierOffset > timeZone.secondsFromGMT(for: instant) else { return now }
        // Find the last instant before `instant` that still had an offset of at least `earlierOffset`
        // (the moment before the fall), by bisection on whole seconds.
        var low = (instant.timeIntervalSince1970 - window).rounded(.down)
        var high = instant.timeIntervalSince1970.rounded(.up)
        while high - low > 1 {
            let middle = ((low + high) / 2).rounded(.down)
            if timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: middle)) >= earlierOffset { low = middle } else { high = middle }
        }
        let beforeFall = CalendarMath.wallClock(of: Date(timeIntervalSince1970: low), in: timeZone)
        return max(now, beforeFall)
    }
}
