import Foundation

/// `WaitForDate`: waits until a given date and time.
///
/// ```json
/// {"id": "trial-ends", "runner": "WaitForDate", "config": {"date": "{{trialEndsAt}}"}}
/// ```
///
/// Until the date the step answers `.noop(until: date)`, so the store looks
/// again exactly then; from then on, and at once for a date already past, `.next`.
///
/// `config.date` is an ISO 8601 string in one of these forms:
///
/// | form | example | meaning |
/// |---|---|---|
/// | date, time and offset | `2026-12-01T09:00:00Z`, `2026-12-01T09:00:00.250+01:00` | that instant |
/// | date and time, no offset | `2026-12-01T09:00`, `2026-12-01T09:00:00` | that local time in the enrollment's zone |
/// | date only | `2026-12-01` | midnight starting that day in the enrollment's time zone |
///
/// The offset may be `Z`, `±HH:MM`, `±HHMM` or `±HH`; seconds may carry up
/// to nine fractional digits; a space may stand for the `T`. The enrollment's
/// time zone is ``RunnerInput/timeZone`` (the context's `timeZone`, else the
/// sequence's, else UTC).
///
/// **DST.** A local time that a DST gap skips becomes the first instant after
/// the gap (`2026-03-08T02:30` in America/New_York is 03:00 EDT); one in the
/// repeated hour is its first occurrence.
///
/// **Templates.** The date is usually a template, so register checks it only
/// when it contains no `{{`; a rendered value that does not parse fails that
/// enrollment with a message naming `config.date`.
public struct WaitForDateRunner: TaskRunner {
    /// `"WaitForDate"`.
    public let name = "WaitForDate"
    /// Creates the runner; it has no settings.
    public init() {}

    /// A parsed `config.date`.
    enum Target: Sendable, Hashable {
        /// A string with an offset: one instant everywhere.
        case instant(Date)
        /// A string without one: a wall-clock time (see ``CalendarMath``) read in the enrollment's zone.
        case wallClock(Date)

        /// The instant this target names for an enrollment in `timeZone`.
        func resolved(in timeZone: TimeZone) -> Date {
            switch self {
            case .instant(let date): date
            case .wallClock(let wall): CalendarMath.instant(atWallClock: wall, in: timeZone)
            }
        }
    }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        batch.map { input in
            do {
                guard let target = try Self.parse(input.config, site: WaitConfig.Site(input)) else {
                    return input.result(.fail("WaitForDate step '\(input.step.id)' has an unrendered config"))
                }
                let wake = target.resolved(in: input.timeZone)
                if input.now >= wake { return input.result(.next) }
                return input.result(.noop(until: wake), message: "waiting until \(WaitConfig.format(wake))")
            } catch {
                return input.result(.fail("\(error)"))
            }
        }
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try Self.parse(step.config, site: WaitConfig.Site(step, in: definition))
    }

    static let formats = "2026-12-01T09:00:00Z, 2026-12-01T09:00:00+01:00, 2026-12-01T09:00 or 2026-12-01"

    /// Reads and checks a config; `nil` when the date is a template left to run time.
    static func parse(_ config: JSONValue, site: WaitConfig.Site) throws -> Target? {
        guard config.objectValue != nil else {
            throw site.invalid("config must be an object like {\"date\": \"2026-12-01T09:00:00Z\"}", field: "config")
        }
        guard let value = config["date"] else {
            throw site.invalid("missing required key 'date' (an ISO 8601 date such as \(formats))",
                               field: "config.date")
        }
        if site.isDeferred(value) { return nil }
        guard let text = value.stringValue, let target = parseDate(text) else {
            throw site.invalid("\(WaitConfig.describe(value)) is not a date; expected ISO 8601 such as \(formats)",
                               field: "config.date")
        }
        return target
    }

    /// Parses `YYYY-MM-DD[(T| )hh:mm[:ss[.fff]][Z|±hh[:mm]]]`; `nil` for anything else or an impossible date.
    static func parseDate(_ text: String) -> Target? {
        var scanner = Scanner(Array(text.trimmingCharacters(in: .whitespaces).utf8))
        guard let year = scanner.digits(exactly: 4), scanner.skip("-"), let month = scanner.digits(exactly: 2),
            scanner.skip("-"), let day = scanner.digits(exactly: 2)
        else { return nil }
        if scanner.atEnd {
            return CalendarMath.wallClock(year: year, month: month, day: day).map(Target.wallClock)
        }
        guard scanner.skip("T") || scanner.skip("t") || scanner.skip(" "), let hour = scanner.digits(exactly: 2),
            scanner.skip(":"), let minute = scanner.digits(exactly: 2)
        else { return nil }
        var second = 0
        var nanosecond = 0
        if scanner.skip(":") {
            guard let s = scanner.digits(exactly: 2) else { return nil }
            second = s
            if scanner.skip(".") || scanner.skip(",") {
                guard var (fraction, count) = scanner.digits(upTo: 9) else { return nil }
                while count < 9 {
                    fraction *= 10
                    count += 1
                }
                nanosecond = fraction
                _ = scanner.digits(upTo: .max)  // digits past nanoseconds are dropped
            }
        }
        guard let wall = CalendarMath.wallClock(year: year, month: month, day: day, hour: hour, minute: minute,
                                                second: second, nanosecond: nanosecond)
        else { return nil }
        if scanner.atEnd { return .wallClock(wall) }

        let offset: Int
        if scanner.skip("Z") || scanner.skip("z") {
            offset = 0
        } else {
            let sign: Int
            if scanner.skip("+") { sign = 1 } else if scanner.skip("-") { sign = -1 } else { return nil }
            guard let hours = scanner.digits(exactly: 2), hours <= 18 else { return nil }
            var minutes = 0
            if !scanner.atEnd {
                _ = scanner.skip(":")
                guard let m = scanner.digits(exactly: 2), m <= 59 else { return nil }
                minutes = m
            }
            offset = sign * (hours * 3600 + minutes * 60)
        }
        guard scanner.atEnd else { return nil }
        return .instant(wall.addingTimeInterval(-TimeInterval(offset)))
    }

    /// A cursor over ASCII bytes.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index == bytes.count }

        mutating func skip(_ character: Unicode.Scalar) -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
            index += 1
            return true
        }

        /// Exactly `count` decimal digits as a number.
        mutating func digits(exactly count: Int) -> Int? {
            guard let (value, read) = digits(upTo: count), read == count else { return nil }
            return value
        }

        /// One to `limit` decimal digits: their value and how many were read.
        mutating func digits(upTo limit: Int) -> (Int, Int)? {
            var value = 0
            var read = 0
            while read < limit, index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
                read += 1
            }
            return read == 0 ? nil : (value, read)
        }
    }
}
