import Foundation
import Testing

@testable import Sequencer

// Expected instants are written out in UTC by hand (2026: US DST from March 8 07:00Z to
// November 1 06:00Z; EU DST from March 29 01:00Z), never computed with the code under test.

/// The wait runners, called directly with hand-built inputs. Time is always passed in, never waited for.
@Suite struct WaitRunnerTests {
    /// An instant from ISO 8601 with `Z` or an offset, optionally with fractional seconds.
    static func at(_ iso: String) -> Date {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: iso) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = formatter.date(from: iso) else { preconditionFailure("bad test date \(iso)") }
        return date
    }

    static func zone(_ identifier: String) -> TimeZone {
        guard let timeZone = TimeZone(identifier: identifier) else { preconditionFailure("no zone \(identifier)") }
        return timeZone
    }

    static func input(
        _ runner: any TaskRunner, config: JSONValue, now: Date, enteredAt: Date? = nil, timeZone: String = "UTC"
    ) -> RunnerInput {
        RunnerInput(
            id: UUID(), subject: "user-42", sequence: "drip", version: 3,
            step: Step(id: "wait", runner: runner.name, config: config), config: config, context: [:],
            now: now, stepEnteredAt: enteredAt ?? now, attempt: 1, visit: 1, timeZone: zone(timeZone))
    }

    /// Runs one input through `runner` and returns its action.
    static func action(
        _ runner: any TaskRunner, config: JSONValue, now: Date, enteredAt: Date? = nil, timeZone: String = "UTC"
    ) async throws -> RunnerAction {
        let one = input(runner, config: config, now: now, enteredAt: enteredAt, timeZone: timeZone)
        let results = try await runner.run([one])
        try #require(results.count == 1)
        #expect(results[0].id == one.id)
        return results[0].action
    }

    /// The reason of a `.fail`, or `nil` for any other action.
    static func failure(_ action: RunnerAction) -> String? {
        if case .fail(let reason) = action { reason } else { nil }
    }

    /// The error `validate` throws for a one-step sequence with this config, or `nil` if it accepts it.
    static func validationError(_ runner: any TaskRunner, config: JSONValue) -> SequencerError? {
        let step = Step(id: "wait", runner: runner.name, config: config)
        let definition = SequenceDefinition(name: "drip", version: 3, steps: [step])
        do {
            try runner.validate(step, in: definition)
            return nil
        } catch let error as SequencerError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }
}

extension WaitRunnerTests {
    @Suite("WaitForDuration")
    struct DurationRunner {
        let runner = WaitForDurationRunner()

        struct Case: Sendable, CustomTestStringConvertible {
            var amount: JSONValue
            var unit: String
            var enteredAt: String
            var wake: String
            var timeZone = "UTC"
            var testDescription: String { "\(amount) \(unit) from \(enteredAt) in \(timeZone)" }
        }

        static let units: [Case] = [
            Case(amount: 1, unit: "years", enteredAt: "2026-01-15T10:00:00Z", wake: "2027-01-15T10:00:00Z"),
            Case(amount: 1, unit: "quarters", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-04-15T10:00:00Z"),
            Case(amount: 2, unit: "months", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-03-15T10:00:00Z"),
            Case(amount: 2, unit: "weeks", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-29T10:00:00Z"),
            Case(amount: 3, unit: "days", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-18T10:00:00Z"),
            Case(amount: 5, unit: "hours", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-15T15:00:00Z"),
            Case(amount: 90, unit: "minutes", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-15T11:30:00Z"),
            Case(amount: 45, unit: "seconds", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-15T10:00:45Z"),
            Case(amount: 1500, unit: "milliseconds", enteredAt: "2026-01-15T10:00:00Z",
                 wake: "2026-01-15T10:00:01.500Z"),
            // Singular and capitalised units, fractional small units, and a rendered template ("{{days}}").
            Case(amount: 1, unit: "year", enteredAt: "2026-01-15T10:00:00Z", wake: "2027-01-15T10:00:00Z"),
            Case(amount: 1, unit: "quarter", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-04-15T10:00:00Z"),
            Case(amount: 1, unit: "month", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-02-15T10:00:00Z"),
            Case(amount: 1, unit: "week", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-22T10:00:00Z"),
            Case(amount: 1, unit: "Day", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-16T10:00:00Z"),
            Case(amount: 1.5, unit: "hour", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-15T11:30:00Z"),
            Case(amount: 1, unit: "minute", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-15T10:01:00Z"),
            Case(amount: 1, unit: "second", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-15T10:00:01Z"),
            Case(amount: 250, unit: "millisecond", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-15T10:00:00.250Z"),
            Case(amount: "3", unit: "days", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-18T10:00:00Z"),
            Case(amount: " 2.5 ", unit: "minutes", enteredAt: "2026-01-15T10:00:00Z", wake: "2026-01-15T10:02:30Z"),
        ]

        static let calendar: [Case] = [
            // The day of month is clamped, as Calendar does.
            Case(amount: 1, unit: "months", enteredAt: "2026-01-31T09:00:00Z", wake: "2026-02-28T09:00:00Z"),
            Case(amount: 1, unit: "months", enteredAt: "2028-01-31T09:00:00Z", wake: "2028-02-29T09:00:00Z"),
            Case(amount: 1, unit: "months", enteredAt: "2026-03-31T09:00:00Z", wake: "2026-04-30T09:00:00Z"),
            Case(amount: 1, unit: "quarters", enteredAt: "2025-11-30T09:00:00Z", wake: "2026-02-28T09:00:00Z"),
            Case(amount: 1, unit: "years", enteredAt: "2028-02-29T09:00:00Z", wake: "2029-02-28T09:00:00Z"),
            Case(amount: 1, unit: "months", enteredAt: "2026-01-31T14:00:00Z", wake: "2026-02-28T14:00:00Z",
                 timeZone: "America/New_York"),
            // 2026-03-01 08:00 in Tokyo is still February 28 in UTC: the month is added locally.
            Case(amount: 1, unit: "months", enteredAt: "2026-02-28T23:00:00Z", wake: "2026-03-31T23:00:00Z",
                 timeZone: "Asia/Tokyo"),
            // Calendar units keep the wall clock across DST: 09:00 EST + 1 day = 09:00 EDT, 23 hours later…
            Case(amount: 1, unit: "days", enteredAt: "2026-03-07T14:00:00Z", wake: "2026-03-08T13:00:00Z",
                 timeZone: "America/New_York"),
            Case(amount: 1, unit: "weeks", enteredAt: "2026-03-04T14:00:00Z", wake: "2026-03-11T13:00:00Z",
                 timeZone: "America/New_York"),
            // …and 25 hours across the fall-back.
            Case(amount: 1, unit: "days", enteredAt: "2026-10-31T13:00:00Z", wake: "2026-11-01T14:00:00Z",
                 timeZone: "America/New_York"),
            Case(amount: 1, unit: "days", enteredAt: "2026-03-28T08:00:00Z", wake: "2026-03-29T07:00:00Z",
                 timeZone: "Europe/Paris"),
            // 02:30 EST + 1 day lands in the gap (02:00-03:00 does not exist on March 8): the gap's end, 03:00 EDT.
            Case(amount: 1, unit: "days", enteredAt: "2026-03-07T07:30:00Z", wake: "2026-03-08T07:00:00Z",
                 timeZone: "America/New_York"),
            // 01:30 EDT + 1 day lands in the repeated hour: its first occurrence, 01:30 EDT.
            Case(amount: 1, unit: "days", enteredAt: "2026-10-31T05:30:00Z", wake: "2026-11-01T05:30:00Z",
                 timeZone: "America/New_York"),
            // Hours and smaller are exact elapsed time, whatever the clocks do.
            Case(amount: 24, unit: "hours", enteredAt: "2026-03-07T14:00:00Z", wake: "2026-03-08T14:00:00Z",
                 timeZone: "America/New_York"),
            Case(amount: 1, unit: "hours", enteredAt: "2026-03-08T06:30:00Z", wake: "2026-03-08T07:30:00Z",
                 timeZone: "America/New_York"),
            Case(amount: 1, unit: "hours", enteredAt: "2026-11-01T05:30:00Z", wake: "2026-11-01T06:30:00Z",
                 timeZone: "America/New_York"),
            Case(amount: 1440, unit: "minutes", enteredAt: "2026-10-31T13:00:00Z", wake: "2026-11-01T13:00:00Z",
                 timeZone: "America/New_York"),
        ]

        @Test("waits until entry + amount, then goes on", arguments: units + calendar)
        func wakesAtTheRightInstant(_ c: Case) async throws {
            let config: JSONValue = ["amount": c.amount, "unit": .string(c.unit)]
            let entered = at(c.enteredAt)
            let wake = at(c.wake)
            #expect(validationError(runner, config: config) == nil)
            #expect(try await action(runner, config: config, now: entered, enteredAt: entered, timeZone: c.timeZone)
                    == .noop(until: wake))
            #expect(try await action(runner, config: config, now: wake.addingTimeInterval(-0.001), enteredAt: entered,
                                     timeZone: c.timeZone) == .noop(until: wake))
            #expect(try await action(runner, config: config, now: wake, enteredAt: entered, timeZone: c.timeZone)
                    == .next)
            #expect(try await action(runner, config: config, now: wake.addingTimeInterval(86_400), enteredAt: entered,
                                     timeZone: c.timeZone) == .next)
        }

        @Test func dayAcrossSpringForwardKeepsWallClockAndLasts23Hours() async throws {
            let entered = at("2026-03-07T09:00:00-05:00")
            let result = try await action(runner, config: ["amount": 1, "unit": "days"], now: entered,
                                          enteredAt: entered, timeZone: "America/New_York")
            guard case .noop(let wake?) = result else {
                Issue.record("expected a dated noop, got \(result)")
                return
            }
            #expect(wake == at("2026-03-08T09:00:00-04:00"))
            #expect(wake.timeIntervalSince(entered) == 23 * 3_600)
        }

        @Test func dayAcrossFallBackLasts25Hours() async throws {
            let entered = at("2026-10-31T09:00:00-04:00")
            let result = try await action(runner, config: ["amount": 1, "unit": "days"], now: entered,
                                          enteredAt: entered, timeZone: "America/New_York")
            #expect(result == .noop(until: at("2026-11-01T09:00:00-05:00")))
            #expect(at("2026-11-01T09:00:00-05:00").timeIntervalSince(entered) == 25 * 3_600)
        }

        /// Days and weeks in UTC skip the calendar; they must land where the calendar lands
        /// (Africa/Abidjan, UTC since 1912 but not spelled as UTC, takes the calendar).
        @Test func utcDaysAndWeeksMatchTheCalendar() {
            let calendarUTC = TimeZone(identifier: "Africa/Abidjan")!
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<2_000 {
                let entered = Date(timeIntervalSince1970: Double.random(in: -1_500_000_000...4_000_000_000, using: &generator))
                let config = WaitForDurationRunner.Config(amount: Double(Int.random(in: 1...400, using: &generator)),
                                                          unit: Bool.random(using: &generator) ? .days : .weeks)
                for zone in ["UTC", "GMT", "Etc/UTC"] {
                    #expect(WaitForDurationRunner.wakeTime(config, enteredAt: entered, timeZone: TimeZone(identifier: zone)!)
                            == WaitForDurationRunner.wakeTime(config, enteredAt: entered, timeZone: calendarUTC),
                            "\(config) from \(entered) in \(zone)")
                }
            }
        }

        @Test func zeroAmountGoesOnAtOnce() async throws {
            let now = at("2026-05-01T12:00:00Z")
            #expect(try await action(runner, config: ["amount": 0, "unit": "days"], now: now) == .next)
            #expect(try await action(runner, config: ["amount": 0, "unit": "seconds"], now: now) == .next)
        }

        @Test func aLateTickGoesOn() async throws {
            let entered = at("2026-05-01T12:00:00Z")
            let config: JSONValue = ["amount": 2, "unit": "days"]
            let late = at("2026-06-01T00:00:00Z")
            #expect(try await action(runner, config: config, now: late, enteredAt: entered) == .next)
        }

        @Test func templatedAmountIsCheckedOnceRendered() async throws {
            #expect(validationError(runner, config: ["amount": "{{trialDays}}", "unit": "days"]) == nil)
            #expect(validationError(runner, config: ["amount": 2, "unit": "{{unit}}"]) == nil)
            let now = at("2026-05-01T12:00:00Z")
            let reason = failure(try await action(runner, config: ["amount": "", "unit": "days"], now: now))
            #expect(reason?.contains("config.amount") == true)
            #expect(reason?.contains("empty string") == true)
            let unit = failure(try await action(runner, config: ["amount": 2, "unit": "eons"], now: now))
            #expect(unit?.contains("config.unit") == true)
        }

        @Test func eachInputOfABatchGetsItsOwnResult() async throws {
            let now = at("2026-05-01T12:00:00Z")
            let inputs = [
                input(runner, config: ["amount": 1, "unit": "hours"], now: now),
                input(runner, config: ["amount": 1, "unit": "hours"], now: now,
                      enteredAt: now.addingTimeInterval(-7_200)),
                input(runner, config: ["amount": -1, "unit": "hours"], now: now),
            ]
            let results = try await runner.run(inputs)
            #expect(results.map(\.id) == inputs.map(\.id))
            #expect(results[0].action == .noop(until: now.addingTimeInterval(3_600)))
            #expect(results[1].action == .next)
            #expect(failure(results[2].action)?.contains("config.amount") == true)
        }
    }
}

extension WaitRunnerTests {
    @Suite("WaitForDate")
    struct DateRunner {
        let runner = WaitForDateRunner()

        struct Case: Sendable, CustomTestStringConvertible {
            var date: String
            var timeZone: String
            var wake: String
            var testDescription: String { "\(date) in \(timeZone)" }
        }

        static let dates: [Case] = [
            Case(date: "2026-12-01T09:00:00Z", timeZone: "UTC", wake: "2026-12-01T09:00:00Z"),
            Case(date: "2026-12-01T09:00:00Z", timeZone: "Asia/Tokyo", wake: "2026-12-01T09:00:00Z"),
            Case(date: "2026-12-01T09:00:00+01:00", timeZone: "UTC", wake: "2026-12-01T08:00:00Z"),
            Case(date: "2026-12-01T09:00:00.250-0500", timeZone: "UTC", wake: "2026-12-01T14:00:00.250Z"),
            Case(date: "2026-12-01T09:00+05", timeZone: "UTC", wake: "2026-12-01T04:00:00Z"),
            Case(date: "2026-12-01 09:00:00z", timeZone: "Europe/Paris", wake: "2026-12-01T09:00:00Z"),
            Case(date: "2026-12-01T09:00:00.123456789Z", timeZone: "UTC", wake: "2026-12-01T09:00:00.123Z"),
            // A date alone is midnight in the enrollment's zone.
            Case(date: "2026-12-01", timeZone: "UTC", wake: "2026-12-01T00:00:00Z"),
            Case(date: "2026-12-01", timeZone: "Asia/Tokyo", wake: "2026-11-30T15:00:00Z"),
            Case(date: "2026-12-01", timeZone: "America/Los_Angeles", wake: "2026-12-01T08:00:00Z"),
            Case(date: "2026-07-01", timeZone: "America/Los_Angeles", wake: "2026-07-01T07:00:00Z"),
            // A date-time without offset is a wall-clock time in the enrollment's zone.
            Case(date: "2026-12-01T09:00", timeZone: "Europe/Paris", wake: "2026-12-01T08:00:00Z"),
            Case(date: "2026-07-01T09:00:00", timeZone: "Europe/Paris", wake: "2026-07-01T07:00:00Z"),
            Case(date: "2026-03-08T02:30", timeZone: "America/New_York", wake: "2026-03-08T07:00:00Z"),
            Case(date: "2026-11-01T01:30", timeZone: "America/New_York", wake: "2026-11-01T05:30:00Z"),
        ]

        @Test("waits until the date", arguments: dates)
        func waitsUntilTheDate(_ c: Case) async throws {
            let config: JSONValue = ["date": .string(c.date)]
            let wake = at(c.wake)
            let now = at("2026-01-10T12:00:00Z")
            #expect(validationError(runner, config: config) == nil)
            let result = try await action(runner, config: config, now: now, timeZone: c.timeZone)
            guard case .noop(let until?) = result else {
                Issue.record("expected a dated noop, got \(result)")
                return
            }
            // Fractional seconds beyond the millisecond are kept, so compare to the microsecond.
            #expect(abs(until.timeIntervalSince(wake)) < 0.001)
            #expect(try await action(runner, config: config, now: until, timeZone: c.timeZone) == .next)
        }

        @Test func aPastDateGoesOn() async throws {
            let now = at("2026-03-01T00:00:00Z")
            #expect(try await action(runner, config: ["date": "2026-01-01T00:00:00Z"], now: now) == .next)
            #expect(try await action(runner, config: ["date": "2026-02-28"], now: now, timeZone: "Asia/Tokyo") == .next)
            // 2026-03-01 is still February 28 in Los Angeles, so its midnight is ahead.
            #expect(try await action(runner, config: ["date": "2026-03-01"], now: now, timeZone: "America/Los_Angeles")
                    == .noop(until: at("2026-03-01T08:00:00Z")))
        }

        static let badDates: [JSONValue] = [
            "not a date", "2026-02-30", "2026-13-01", "2026-12-01T25:00", "2026-12-01T09:60",
            "2026-12-01T09:00:00+25:00",
            "2026-12-01T09:00:00Zjunk", "12/01/2026", "2026-12-1", "", 20_261_201, true, ["2026-12-01"],
        ]

        @Test("an unparseable date fails the enrollment and is rejected at register", arguments: badDates)
        func badDate(_ date: JSONValue) async throws {
            let reason = failure(try await action(runner, config: ["date": date], now: at("2026-01-01T00:00:00Z")))
            #expect(reason?.contains("config.date") == true)
            let error = try #require(validationError(runner, config: ["date": date]))
            #expect(error.code == .invalidConfig)
            #expect(error.field == "config.date")
            #expect(error.step == "wait")
            #expect(error.sequence == "drip")
            #expect(error.version == 3)
        }

        @Test func aTemplatedDateIsCheckedOnceRendered() async throws {
            #expect(validationError(runner, config: ["date": "{{trialEndsAt}}"]) == nil)
            let now = at("2026-01-01T00:00:00Z")
            #expect(try await action(runner, config: ["date": "2026-02-01T00:00:00Z"], now: now)
                    == .noop(until: at("2026-02-01T00:00:00Z")))
            let reason = failure(try await action(runner, config: ["date": ""], now: now))
            #expect(reason?.contains("config.date") == true)
        }
    }
}
