public import Foundation

/// When messages may go out, in the enrollment's own time zone: weekdays and a local time range.
///
/// ```json
/// {"days": [1, 2, 3, 4, 5], "from": "09:00", "to": "17:30"}
/// {"from": "22:00", "to": "06:00"}
/// ```
///
/// `days` uses the numbering of ``WaitForDateComparisonRunner``'s `day` (JavaScript's
/// `getDay`): `0` = Sunday, `1` = Monday … `6` = Saturday; absent means every day. `from` and
/// `to` are local `HH:MM` times (`to` may be `"24:00"`); the window is open from `from` up to,
/// not including, `to`. When `to` is earlier than `from` the window runs past midnight and
/// belongs to the day it opens: `{"days": [5], "from": "22:00", "to": "06:00"}` is Friday 22:00
/// to Saturday 06:00.
///
/// Three places use it: a step's own `window` (any step: it does not run outside it), a
/// sequence's `sendWindow` (every step whose runner sends messages: Email, SMS, and runners whose
/// ``TaskRunner/sendsMessages`` is `true`), and the `WaitForWindow` step. A step that comes due
/// outside its window waits, without running, until the window next opens; its history says so.
///
/// **DST.** Window edges are local wall-clock times mapped to instants with the rule of the wait
/// runners: a time a spring-forward gap skips opens (or closes) at the first instant after the gap
/// (02:30 on the US spring-forward day in New York is 03:00 EDT); a time that occurs twice when
/// clocks fall back uses its first occurrence.
public struct SendWindow: Sendable, Hashable, CustomStringConvertible {
    /// Days the window opens on: `0` = Sunday … `6` = Saturday.
    public var days: Set<Int>
    /// Minutes after local midnight the window opens (0…1439).
    public var from: Int
    /// Minutes after local midnight it closes (1…1440); earlier than `from` for a window that
    /// runs past midnight.
    public var to: Int

    /// A window; `from` and `to` are `HH:MM`. Throws ``SequencerError/Code/invalidConfig`` for
    /// days outside 0…6, no days, a time that is not `HH:MM`, or `from` equal to `to`.
    public init(days: Set<Int> = Set(0...6), from: String, to: String) throws(SequencerError) {
        try self.init(.object([
            "days": .array(days.sorted().map { .number(Double($0)) }), "from": .string(from), "to": .string(to),
        ]))
    }

    /// Reads the JSON form; errors name `field` (and `sequence`, `step`) and the part that is wrong.
    package init(_ json: JSONValue, sequence: String? = nil, version: Int? = nil, step: String? = nil,
                 field: String = "window") throws(SequencerError)
    {
        func invalid(_ message: String, _ part: String? = nil) -> SequencerError {
            SequencerError(.invalidConfig, message, sequence: sequence, version: version, step: step,
                           field: part.map { "\(field).\($0)" } ?? field)
        }
        guard case .object(let members) = json else {
            throw invalid("a window must be an object like {\"days\": [1,2,3,4,5], \"from\": \"09:00\", \"to\": \"17:30\"}, "
                          + "not \(json.typeName)")
        }
        let known = ["days", "from", "to"]
        if let (key, suggestion) = KnownKeys.firstUnknown(in: members, known: known) {
            throw invalid(KnownKeys.message(key, suggestion: suggestion, known: known, what: "a window"), key)
        }
        func time(_ key: String, allowMidnightEnd: Bool) throws(SequencerError) -> Int {
            guard let text = members[key]?.stringValue else {
                throw invalid(members[key] == nil ? "missing '\(key)' (a local time, \"HH:MM\")"
                                                  : "'\(key)' must be a string \"HH:MM\", not \(members[key]!.typeName)", key)
            }
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
                  let hours = Int(parts[0]), let minutes = Int(parts[1]), minutes < 60,
                  hours < 24 || (allowMidnightEnd && hours == 24 && minutes == 0)
            else {
                throw invalid("'\(key)' must be a local time \"HH:MM\" from 00:00 to \(allowMidnightEnd ? "24:00" : "23:59"), "
                              + "not \"\(Limits.excerpt(text))\"", key)
            }
            return hours * 60 + minutes
        }
        let from = try time("from", allowMidnightEnd: false)
        let to = try time("to", allowMidnightEnd: true)
        guard from != to else {
            throw invalid("'from' and 'to' are both \(Self.format(from)): the window would never open (use \"00:00\" to \"24:00\" for all day)")
        }
        var days = Set(0...6)
        switch members["days"] {
        case nil, .null?:
            break
        case .array(let values)?:
            days = []
            for value in values {
                guard case .number(let number) = value, let day = Int(exactly: number), (0...6).contains(day) else {
                    let shown = if case .number(let n) = value { ConfigReader.format(n) } else { "a \(value.typeName)" }
                    throw invalid("'days' holds days of the week, 0 (Sunday) to 6 (Saturday); \(shown) is not one", "days")
                }
                days.insert(day)
            }
            guard !days.isEmpty else { throw invalid("'days' is empty: the window would never open", "days") }
        case let other?:
            throw invalid("'days' must be an array of days of the week, 0 (Sunday) to 6 (Saturday), not \(other.typeName)", "days")
        }
        self.days = days
        self.from = from
        self.to = to
    }

    /// The JSON form, which ``init(_:sequence:version:step:field:)`` reads back to an equal window.
    public var jsonValue: JSONValue {
        ["days": .array(days.sorted().map { .number(Double($0)) }), "from": .string(Self.format(from)),
         "to": .string(Self.format(to))]
    }

    /// `Mon–Fri 09:00–17:30`, `every day 22:00–06:00`.
    public var description: String {
        let names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let sorted = days.sorted()
        let dayText: String
        if sorted.count == 7 {
            dayText = "every day"
        } else if sorted.count > 2, sorted.last! - sorted.first! == sorted.count - 1 {
            dayText = "\(names[sorted.first!])–\(names[sorted.last!])"
        } else {
            dayText = sorted.map { names[$0] }.joined(separator: ",")
        }
        return "\(dayText) \(Self.format(from))–\(Self.format(to))"
    }

    /// Whether the window is open at `instant`, in `timeZone`.
    public func isOpen(at instant: Date, in timeZone: TimeZone) -> Bool {
        nextOpening(atOrAfter: instant, in: timeZone) == instant
    }

    /// `instant` itself when the window is open then; otherwise the instant it next opens.
    public func nextOpening(atOrAfter instant: Date, in timeZone: TimeZone) -> Date {
        // The intervals of the local days around `instant`: the day before (a window past midnight
        // may still be open) through eight days on (every weekday comes once).
        let today = CalendarMath.start(of: .day, containing: CalendarMath.wallClock(of: instant, in: timeZone))
        var earliest: Date?
        for offset in -1...8 {
            guard let day = CalendarMath.adding(.day, offset, toWallClock: today) else { continue }
            let weekday = CalendarMath.wallCalendar.component(.weekday, from: day) - 1
            guard days.contains(weekday) else { continue }
            let startWall = day.addingTimeInterval(TimeInterval(from * 60))
            let endWall = day.addingTimeInterval(TimeInterval((to > from ? to : to + 1440) * 60))
            let start = CalendarMath.instant(atWallClock: startWall, in: timeZone)
            let end = CalendarMath.instant(atWallClock: endWall, in: timeZone)
            guard start < end else { continue }   // a window inside a DST gap never opens that day
            if start <= instant && instant < end { return instant }
            if start > instant, earliest.map({ start < $0 }) ?? true { earliest = start }
        }
        // Unreachable with a non-empty `days`: some weekday opens within the next eight days.
        return earliest ?? instant
    }

    static func format(_ minutes: Int) -> String {
        String(format: "%02d:%02d", minutes / 60, minutes % 60)
    }
}
