import Foundation

/// `WaitForDuration`: waits a fixed amount of time after the enrollment entered the step.
///
/// ```json
/// {"id": "wait-2d", "runner": "WaitForDuration", "config": {"amount": 2, "unit": "days"}}
/// ```
///
/// The wake time is the step's ``RunnerInput/stepEnteredAt`` plus `amount`
/// `unit`s; until then the step answers `.noop(until: wake)`, so the store
/// looks again exactly then, and from then on `.next`.
///
/// | unit (or singular) | how it is added |
/// |---|---|
/// | `years`, `quarters` (3 months), `months` | on the local calendar, clamping the day (Jan 31 + 1 month = Feb 28) |
/// | `weeks` (7 days), `days` | on the local calendar |
/// | `hours`, `minutes`, `seconds`, `milliseconds` | exact elapsed time |
///
/// **Time zones and DST.** Calendar units are added in the enrollment's
/// ``RunnerInput/timeZone`` and keep the local wall-clock time: 2026-03-07
/// 09:00 in America/New_York + 1 day is 2026-03-08 09:00 EDT, only 23 hours
/// later, and + 1 day across the autumn change is 25 hours. A result that falls
/// in a DST gap becomes the first instant after the gap (02:30 on a
/// spring-forward day is 03:00); one that falls in the repeated hour is its
/// first occurrence. Hours and smaller are physical time: + 24 hours is always
/// 86,400 seconds.
///
/// **Amounts.** `amount` is a non-negative number, or a string of one (so
/// `"amount": "{{trialDays}}"` works). Calendar units (days and longer) need a
/// whole number; hours, minutes, seconds and milliseconds may be fractional
/// (`1.5` hours). The wait may be at most 10,000 years. Register rejects a
/// missing, mistyped, negative or fractional-where-whole amount and an unknown
/// unit; a templated value is checked once rendered, and a bad one fails that
/// enrollment with a message naming the field.
public struct WaitForDurationRunner: TaskRunner {
    /// `"WaitForDuration"`.
    public let name = "WaitForDuration"
    /// Creates the runner; it has no settings.
    public init() {}

    /// The config keys it reads: `amount`, `unit`.
    public var configKeys: [String]? { ["amount", "unit"] }

    /// A unit of `config.unit`; the raw value is the JSON spelling (the singular is accepted too).
    enum Unit: String, Sendable, Hashable, CaseIterable {
        /// Calendar years; February 29 + 1 year is February 28.
        case years
        /// Three calendar months.
        case quarters
        /// Calendar months, clamping the day to the month's length.
        case months
        /// Seven calendar days.
        case weeks
        /// Calendar days, keeping the local time of day across DST changes.
        case days
        /// Exactly 3,600 seconds.
        case hours
        /// Exactly 60 seconds.
        case minutes
        /// Seconds.
        case seconds
        /// Thousandths of a second.
        case milliseconds

        /// Parses a unit, plural or singular, in any letter case: `"days"`, `"day"`, `"Days"`.
        init?(parsing text: String) {
            let lowered = text.lowercased()
            guard let unit = Unit(rawValue: lowered) ?? Unit(rawValue: lowered + "s") else { return nil }
            self = unit
        }

        /// Whether the unit is added on the local calendar (days and longer) rather than as elapsed time.
        var isCalendarUnit: Bool {
            switch self {
            case .years, .quarters, .months, .weeks, .days: true
            case .hours, .minutes, .seconds, .milliseconds: false
            }
        }

        /// Roughly how long one unit is, for the upper bound on amounts.
        var approximateSeconds: Double {
            switch self {
            case .years: 365.25 * 86_400
            case .quarters: 365.25 * 86_400 / 4
            case .months: 365.25 * 86_400 / 12
            case .weeks: 7 * 86_400
            case .days: 86_400
            case .hours: 3_600
            case .minutes: 60
            case .seconds: 1
            case .milliseconds: 0.001
            }
        }

        static let validList = allCases.map(\.rawValue).joined(separator: ", ")
    }

    /// The longest wait accepted, in years.
    static let maximumYears = 10_000.0

    struct Config: Sendable, Hashable {
        var amount: Double
        var unit: Unit
    }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        batch.map { input in
            do {
                guard let config = try Self.parse(input.config, site: ConfigReader.Site(input)) else {
                    return input.result(.fail("WaitForDuration step '\(input.step.id)' has an unrendered config"))
                }
                let wake = Self.wakeTime(config, enteredAt: input.stepEnteredAt, timeZone: input.timeZone)
                return input.waitResult(until: wake)
            } catch {
                return input.result(.fail("\(error)"))
            }
        }
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try Self.parse(step.config, site: ConfigReader.Site(step, in: definition))
    }

    /// Reads and checks a config; `nil` when a templated value leaves it to be checked at run time.
    static func parse(_ config: JSONValue, site: ConfigReader.Site) throws -> Config? {
        guard config.objectValue != nil else {
            throw site.invalid("config must be an object like {\"amount\": 2, \"unit\": \"days\"}", field: "config")
        }
        var amount: Double?
        switch config["amount"] {
        case nil:
            throw site.invalid("missing required key 'amount' (a non-negative number)", field: "config.amount")
        case let value? where site.isDeferred(value):
            break
        case let value?:
            guard let number = ConfigReader.number(value) else {
                throw site.invalid(
                    "amount must be a number, or a string holding one; got \(ConfigReader.describe(value))",
                    field: "config.amount")
            }
            guard number >= 0 else {
                throw site.invalid("amount must not be negative; got \(ConfigReader.format(number))",
                                   field: "config.amount")
            }
            amount = number
        }

        var unit: Unit?
        switch config["unit"] {
        case nil:
            throw site.invalid("missing required key 'unit' (one of \(Unit.validList))", field: "config.unit")
        case let value? where site.isDeferred(value):
            break
        case let value?:
            guard let text = value.stringValue, let parsed = Unit(parsing: text) else {
                throw site.invalid("unknown unit \(ConfigReader.describe(value)); valid units: \(Unit.validList) "
                                   + "(or the singular)", field: "config.unit")
            }
            unit = parsed
        }

        guard let amount, let unit else { return nil }
        if unit.isCalendarUnit && amount.rounded() != amount {
            throw site.invalid("amount must be a whole number of \(unit.rawValue); got \(ConfigReader.format(amount)) "
                               + "(use hours or smaller for fractions)", field: "config.amount")
        }
        guard amount * unit.approximateSeconds <= maximumYears * Unit.years.approximateSeconds else {
            throw site.invalid("amount is too large: a wait may last at most \(Int(maximumYears)) years",
                               field: "config.amount")
        }
        return Config(amount: amount, unit: unit)
    }

    /// Zones that are UTC under another name.
    private static let utcIdentifiers: Set<String> = ["GMT", "UTC", "Etc/UTC", "Etc/GMT", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu"]

    /// When a wait of `config` that started at `enteredAt` ends, adding calendar units in `timeZone`.
    static func wakeTime(_ config: Config, enteredAt: Date, timeZone: TimeZone) -> Date {
        let calendarStep: (Calendar.Component, Int)
        switch config.unit {
        case .hours, .minutes, .seconds, .milliseconds:
            return enteredAt.addingTimeInterval(config.amount * config.unit.approximateSeconds)
        case .years: calendarStep = (.year, 1)
        case .quarters: calendarStep = (.month, 3)
        case .months: calendarStep = (.month, 1)
        case .weeks: calendarStep = (.day, 7)
        case .days: calendarStep = (.day, 1)
        }
        // `parse` bounds the amount, so the product fits an Int.
        let count = Int(config.amount) * calendarStep.1
        if count == 0 { return enteredAt }
        // In UTC every day has 86,400 seconds: no calendar needed (the common zone, and the
        // calendar is most of a wait's cost).
        if calendarStep.0 == .day, Self.utcIdentifiers.contains(timeZone.identifier) {
            return enteredAt.addingTimeInterval(Double(count) * 86_400)
        }
        let wall = CalendarMath.wallClock(of: enteredAt, in: timeZone)
        guard let target = CalendarMath.adding(calendarStep.0, count, toWallClock: wall) else {
            return enteredAt.addingTimeInterval(config.amount * config.unit.approximateSeconds)
        }
        return CalendarMath.instant(atWallClock: target, in: timeZone)
    }
}
