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
/// time zone is ``RunnerInput/timeZone`` (the zone its context names, else the
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

    /// The config keys it reads: `date`.
    public var configKeys: [String]? { ["date"] }

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
                guard let target = try Self.parse(input.config, site: ConfigReader.Site(input)) else {
                    return input.result(.fail("WaitForDate step '\(input.step.id)' has an unrendered config"))
                }
                let wake = target.resolved(in: input.timeZone)
                return input.waitResult(until: wake)
            } catch {
                return input.result(.fail("\(error)"))
            }
        }
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try Self.parse(step.config, site: ConfigReader.Site(step, in: definition))
    }

    static let formats = "2026-12-01T09:00:00Z, 2026-12-01T09:00:00+01:00, 2026-12-01T09:00 or 2026-12-01"

    /// Reads and checks a config; `nil` when the date is a template left to run time.
    static func parse(_ config: JSONValue, site: ConfigReader.Site) throws -> Target? {
        guard config.objectValue != nil else {
            throw site.invalid("config must be an object like {\"date\": \"2026-12-01T09:00:00Z\"}", field: "config")
        }
        guard let value = config["date"] else {
            throw site.invalid("missing required key 'date' (an ISO 8601 date such as \(formats))",
                               field: "config.date")
        }
        if site.isDeferred(value) { return nil }
        guard let text = value.stringValue, let target = parseDate(text) else {
            throw site.invalid("\(ConfigReader.describe(value)) is not a date; expected ISO 8601 such as \(formats)",
                               field: "config.date")
        }
        return target
    }

    /// Parses `YYYY-MM-DD[(T| )hh:mm[:ss[.fff]][Z|±hh[:mm]]]` with the shared ``ISO8601Timestamp``
    /// parser; `nil` for anything else or an impossible date.
    static func parseDate(_ text: String) -> Target? {
        guard let parsed = ISO8601Timestamp.parse(text.trimmingCharacters(in: .whitespaces)) else { return nil }
        guard let offset = parsed.offset else { return .wallClock(parsed.wallClock) }
        return .instant(parsed.wallClock.addingTimeInterval(-TimeInterval(offset)))
    }
}
