import Foundation
import Testing

@testable import Sequencer

extension WaitRunnerTests {
    @Suite("WaitForDateComparison")
    struct DateComparisonRunner {
        let runner = WaitForDateComparisonRunner()

        struct Case: Sendable, CustomTestStringConvertible {
            var note: String
            var config: JSONValue
            var now: String
            var timeZone: String
            /// `nil`: the attribute matches now, so the step goes on.
            var wake: String?
            var testDescription: String { note }
        }

        static let cases: [Case] = [
            // Weekdays are local: Friday 20:00 UTC is already Saturday 05:00 in Tokyo…
            Case(note: "Saturday in Tokyo while Friday in UTC", config: ["attribute": "day", "values": [1, 2, 3, 4, 5]],
                 now: "2026-03-06T20:00:00Z", timeZone: "Asia/Tokyo", wake: "2026-03-08T15:00:00Z"),
            Case(note: "Friday in UTC matches", config: ["attribute": "day", "values": [1, 2, 3, 4, 5]],
                 now: "2026-03-06T20:00:00Z", timeZone: "UTC", wake: nil),
            // …and Saturday 03:00 UTC is still Friday 19:00 in Los Angeles.
            Case(note: "Friday in Los Angeles while Saturday in UTC", config: ["attribute": "day", "values": [5]],
                 now: "2026-03-07T03:00:00Z", timeZone: "America/Los_Angeles", wake: nil),
            Case(note: "Saturday starts at local midnight", config: ["attribute": "day", "values": [6]],
                 now: "2026-03-07T03:00:00Z", timeZone: "America/Los_Angeles", wake: "2026-03-07T08:00:00Z"),
            // Saturday 15:00 PST waits for Monday 00:00, which is PDT after the Sunday change.
            Case(note: "weekend to Monday across spring-forward",
                 config: ["attribute": "day", "values": [1, 2, 3, 4, 5]],
                 now: "2026-03-07T23:00:00Z", timeZone: "America/Los_Angeles", wake: "2026-03-09T07:00:00Z"),
            Case(note: "Sunday 0 from Wednesday", config: ["attribute": "day", "value": 0],
                 now: "2026-05-13T12:00:00Z", timeZone: "UTC", wake: "2026-05-17T00:00:00Z"),
            // Hours.
            Case(note: "hour 9 at 14:30 Tokyo is tomorrow 09:00", config: ["attribute": "hour", "values": [9]],
                 now: "2026-05-12T05:30:00Z", timeZone: "Asia/Tokyo", wake: "2026-05-13T00:00:00Z"),
            Case(note: "hour 9 at 08:15 New York is today 09:00", config: ["attribute": "hour", "value": 9],
                 now: "2026-05-12T12:15:00Z", timeZone: "America/New_York", wake: "2026-05-12T13:00:00Z"),
            Case(note: "business hours at 10:59 Tokyo", config: ["attribute": "hour", "values": [9, 10, 11]],
                 now: "2026-05-12T01:59:00Z", timeZone: "Asia/Tokyo", wake: nil),
            Case(note: "hour 23 at 23:00 exactly", config: ["attribute": "hour", "values": [23]],
                 now: "2026-05-12T23:00:00Z", timeZone: "UTC", wake: nil),
            Case(note: "hours given as strings", config: ["attribute": "hour", "values": ["9", "17"]],
                 now: "2026-05-12T12:00:00Z", timeZone: "UTC", wake: "2026-05-12T17:00:00Z"),
            // Minutes, including a zone whose offset is not whole hours.
            Case(note: "minute 0 or 30 at 10:10", config: ["attribute": "minute", "values": [0, 30]],
                 now: "2026-05-12T10:10:00Z", timeZone: "UTC", wake: "2026-05-12T10:30:00Z"),
            Case(note: "minute 0 at 10:10 Kathmandu (+05:45)", config: ["attribute": "minute", "values": [0]],
                 now: "2026-05-12T04:25:00Z", timeZone: "Asia/Kathmandu", wake: "2026-05-12T05:15:00Z"),
            // Months: 0 is January.
            Case(note: "January from June is next year", config: ["attribute": "month", "values": [0]],
                 now: "2026-06-15T10:00:00Z", timeZone: "Europe/Paris", wake: "2026-12-31T23:00:00Z"),
            Case(note: "June is month 5", config: ["attribute": "month", "values": [5]],
                 now: "2026-06-15T10:00:00Z", timeZone: "Europe/Paris", wake: nil),
            Case(note: "December from January", config: ["attribute": "month", "values": [11]],
                 now: "2026-01-15T10:00:00Z", timeZone: "UTC", wake: "2026-12-01T00:00:00Z"),
            Case(note: "May 31 23:30 UTC is already June in Paris", config: ["attribute": "month", "values": [4]],
                 now: "2026-05-31T23:30:00Z", timeZone: "Europe/Paris", wake: "2027-04-30T22:00:00Z"),
            // Dates skip months that are too short.
            Case(note: "the 31st from April is May 31", config: ["attribute": "date", "values": [31]],
                 now: "2026-04-10T14:00:00Z", timeZone: "America/New_York", wake: "2026-05-31T04:00:00Z"),
            Case(note: "the 29th from February 2027 is in March", config: ["attribute": "date", "values": [29]],
                 now: "2027-02-10T00:00:00Z", timeZone: "UTC", wake: "2027-03-29T00:00:00Z"),
            Case(note: "the 29th in leap February", config: ["attribute": "date", "values": [29]],
                 now: "2028-02-10T00:00:00Z", timeZone: "UTC", wake: "2028-02-29T00:00:00Z"),
            Case(note: "the 1st in Tokyo while April 30 in UTC", config: ["attribute": "date", "values": [1]],
                 now: "2026-04-30T16:00:00Z", timeZone: "Asia/Tokyo", wake: nil),
            Case(note: "the 1st or 15th from the 2nd", config: ["attribute": "date", "values": [15, 1]],
                 now: "2026-04-02T00:00:00Z", timeZone: "UTC", wake: "2026-04-15T00:00:00Z"),
            // Years.
            Case(note: "this year", config: ["attribute": "year", "values": [2026]],
                 now: "2026-06-15T10:00:00Z", timeZone: "UTC", wake: nil),
            Case(note: "a later year starts at local midnight", config: ["attribute": "year", "values": [2025, 2028]],
                 now: "2026-06-15T10:00:00Z", timeZone: "Europe/Paris", wake: "2027-12-31T23:00:00Z"),
            // DST gap: 02:00-02:59 does not exist on 2026-03-08 in New York; hour 2 starts at 03:00 EDT.
            Case(note: "hour 2 on spring-forward day", config: ["attribute": "hour", "values": [2]],
                 now: "2026-03-08T05:30:00Z", timeZone: "America/New_York", wake: "2026-03-08T07:00:00Z"),
            Case(note: "at the end of the gap hour 2 has come", config: ["attribute": "hour", "values": [2]],
                 now: "2026-03-08T07:00:00Z", timeZone: "America/New_York", wake: nil),
            Case(note: "a late tick in the hour after the gap", config: ["attribute": "hour", "values": [2]],
                 now: "2026-03-08T07:45:00Z", timeZone: "America/New_York", wake: nil),
            Case(note: "after that, tomorrow's 02:00 EDT", config: ["attribute": "hour", "values": [2]],
                 now: "2026-03-08T08:00:00Z", timeZone: "America/New_York", wake: "2026-03-09T06:00:00Z"),
            Case(note: "minute 30 inside the gap", config: ["attribute": "minute", "values": [30]],
                 now: "2026-03-08T06:45:00Z", timeZone: "America/New_York", wake: "2026-03-08T07:00:00Z"),
            Case(note: "the gap's minute 30 is matched at 03:00", config: ["attribute": "minute", "values": [30]],
                 now: "2026-03-08T07:00:20Z", timeZone: "America/New_York", wake: nil),
            // Fall-back: 01:00-01:59 happens twice on 2026-11-01 in New York.
            Case(note: "01:05 comes again at 01:05 EST", config: ["attribute": "minute", "values": [5]],
                 now: "2026-11-01T05:50:00Z", timeZone: "America/New_York", wake: "2026-11-01T06:05:00Z"),
            Case(note: "hour 1 matches in its second occurrence", config: ["attribute": "hour", "values": [1]],
                 now: "2026-11-01T06:30:00Z", timeZone: "America/New_York", wake: nil),
            Case(note: "hour 2 after the repeated hour", config: ["attribute": "hour", "values": [2]],
                 now: "2026-11-01T05:30:00Z", timeZone: "America/New_York", wake: "2026-11-01T07:00:00Z"),
            // Antarctica/Troll falls back two hours (03:00 +02 → 01:00 +00): at 02:50 the next minute 5 is
            // 01:05 in the repeated stretch, 15 minutes away, not 03:05.
            Case(note: "a two-hour fall-back repeats an earlier hour", config: ["attribute": "minute", "values": [5]],
                 now: "2026-10-25T00:50:00Z", timeZone: "Antarctica/Troll", wake: "2026-10-25T01:05:00Z"),
            // Pacific/Chatham falls back 03:45 → 02:45, re-entering hour 2 part-way through.
            Case(note: "falling back into a matching hour", config: ["attribute": "hour", "values": [2]],
                 now: "2026-04-04T13:40:00Z", timeZone: "Pacific/Chatham", wake: "2026-04-04T14:00:00Z"),
            Case(note: "hour 9 the day after fall-back", config: ["attribute": "hour", "values": [9]],
                 now: "2026-10-31T14:00:00Z", timeZone: "America/New_York", wake: "2026-11-01T14:00:00Z"),
        ]

        @Test("evaluates in the enrollment's time zone", arguments: cases)
        func evaluates(_ c: Case) async throws {
            #expect(validationError(runner, config: c.config) == nil)
            let now = at(c.now)
            let result = try await action(runner, config: c.config, now: now, timeZone: c.timeZone)
            guard let wakeText = c.wake else {
                #expect(result == .next)
                return
            }
            let wake = at(wakeText)
            #expect(result == .noop(until: wake))
            // Woken at the wake time, the step goes on.
            #expect(try await action(runner, config: c.config, now: wake, timeZone: c.timeZone) == .next)
            #expect(try await action(runner, config: c.config, now: wake.addingTimeInterval(-1), timeZone: c.timeZone)
                    == .noop(until: wake))
        }

        @Test func aPastYearFailsTheEnrollment() async throws {
            let result = try await action(runner, config: ["attribute": "year", "values": [2024, 2025]],
                                          now: at("2026-06-15T10:00:00Z"), timeZone: "Europe/Paris")
            let reason = try #require(failure(result))
            #expect(reason.contains("2026"))
            #expect(reason.contains("2024, 2025"))
        }

        @Test func aYearEndingInUTCButNotLocally() async throws {
            // 2027-01-01T02:00Z is still 2026 in Los Angeles.
            let config: JSONValue = ["attribute": "year", "values": [2026]]
            #expect(try await action(runner, config: config, now: at("2027-01-01T02:00:00Z"),
                                     timeZone: "America/Los_Angeles") == .next)
            #expect(failure(try await action(runner, config: config, now: at("2027-01-01T02:00:00Z"))) != nil)
        }

        @Test func templatedValuesAreCheckedOnceRendered() async throws {
            #expect(validationError(runner, config: ["attribute": "{{unit}}", "values": [1]]) == nil)
            #expect(validationError(runner, config: ["attribute": "hour", "values": ["{{start}}", 17]]) == nil)
            let reason = failure(try await action(runner, config: ["attribute": "hour", "values": ["", 17]],
                                                  now: at("2026-05-12T12:00:00Z")))
            #expect(reason?.contains("config.values.0") == true)
        }
    }

    @Suite("Register-time validation")
    struct Validation {
        struct Case: Sendable, CustomTestStringConvertible {
            var runner: String
            var config: JSONValue
            var field: String
            var mentions: String = ""
            var testDescription: String { "\(runner) \(config) → \(field)" }
        }

        static let runners: [String: any TaskRunner] = [
            "WaitForDuration": WaitForDurationRunner(), "WaitForDate": WaitForDateRunner(),
            "WaitForDateComparison": WaitForDateComparisonRunner(),
        ]

        static let cases: [Case] = [
            Case(runner: "WaitForDuration", config: "2 days", field: "config", mentions: "object"),
            Case(runner: "WaitForDuration", config: ["unit": "days"], field: "config.amount", mentions: "missing"),
            Case(runner: "WaitForDuration", config: ["amount": nil, "unit": "days"], field: "config.amount"),
            Case(runner: "WaitForDuration", config: ["amount": true, "unit": "days"], field: "config.amount",
                 mentions: "must be a number"),
            Case(runner: "WaitForDuration", config: ["amount": "soon", "unit": "days"], field: "config.amount"),
            Case(runner: "WaitForDuration", config: ["amount": [2], "unit": "days"], field: "config.amount"),
            Case(runner: "WaitForDuration", config: ["amount": -1, "unit": "days"], field: "config.amount",
                 mentions: "negative"),
            Case(runner: "WaitForDuration", config: ["amount": 1.5, "unit": "days"], field: "config.amount",
                 mentions: "whole number"),
            Case(runner: "WaitForDuration", config: ["amount": 20_000, "unit": "years"], field: "config.amount",
                 mentions: "too large"),
            Case(runner: "WaitForDuration", config: ["amount": 1e300, "unit": "milliseconds"], field: "config.amount"),
            Case(runner: "WaitForDuration", config: ["amount": 2], field: "config.unit", mentions: "missing"),
            Case(runner: "WaitForDuration", config: ["amount": 2, "unit": "fortnights"], field: "config.unit",
                 mentions: "years, quarters, months, weeks, days, hours, minutes, seconds, milliseconds"),
            Case(runner: "WaitForDuration", config: ["amount": 2, "unit": 3], field: "config.unit",
                 mentions: "valid units"),
            Case(runner: "WaitForDate", config: [:], field: "config.date", mentions: "missing"),
            Case(runner: "WaitForDate", config: ["date": 5], field: "config.date"),
            Case(runner: "WaitForDate", config: ["date": "2026-02-30"], field: "config.date", mentions: "ISO 8601"),
            Case(runner: "WaitForDate", config: ["date": "tomorrow"], field: "config.date"),
            Case(runner: "WaitForDateComparison", config: ["values": [1]], field: "config.attribute",
                 mentions: "missing"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "weekday", "values": [1]],
                 field: "config.attribute", mentions: "year, month, date, day (weekday), hour, minute"),
            Case(runner: "WaitForDateComparison", config: ["attribute": 3, "values": [1]], field: "config.attribute"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "day"], field: "config.values",
                 mentions: "missing"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "day", "values": 3], field: "config.values",
                 mentions: "array"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "day", "values": []], field: "config.values",
                 mentions: "empty"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "day", "values": [1, "x"]],
                 field: "config.values.1", mentions: "integer"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "day", "values": [1.5]],
                 field: "config.values.0", mentions: "integer"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "day", "values": [1, 7]],
                 field: "config.values.1", mentions: "0 (Sunday) to 6 (Saturday)"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "day", "values": [-1]],
                 field: "config.values.0"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "month", "values": [12]],
                 field: "config.values.0", mentions: "0 (January) to 11 (December)"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "date", "values": [0]],
                 field: "config.values.0"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "date", "values": [32]],
                 field: "config.values.0"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "hour", "values": [24]],
                 field: "config.values.0",
                 mentions: "hour 24 is out of range"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "minute", "values": [60]],
                 field: "config.values.0"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "year", "values": [0]],
                 field: "config.values.0"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "hour", "value": 24], field: "config.value",
                 mentions: "out of range"),
            Case(runner: "WaitForDateComparison", config: ["attribute": "hour", "value": 1, "values": [1]],
                 field: "config.value", mentions: "not both"),
        ]

        @Test("rejects the config, naming sequence, step and field", arguments: cases)
        func rejects(_ c: Case) throws {
            let runner = try #require(Self.runners[c.runner])
            let error = try #require(validationError(runner, config: c.config))
            #expect(error.code == .invalidConfig)
            #expect(error.sequence == "drip")
            #expect(error.version == 3)
            #expect(error.step == "wait")
            #expect(error.field == c.field)
            #expect(c.mentions.isEmpty || error.message.contains(c.mentions), "\(error.message)")
            #expect("\(error)".contains("step 'wait'"))
        }

        static let accepted: [Case] = [
            Case(runner: "WaitForDuration", config: ["amount": "{{trialDays}}", "unit": "days"], field: ""),
            Case(runner: "WaitForDuration", config: ["amount": "2", "unit": "DAY"], field: ""),
            Case(runner: "WaitForDuration", config: ["amount": 0.5, "unit": "hours"], field: ""),
            Case(runner: "WaitForDate", config: ["date": "{{trialEndsAt}}"], field: ""),
            Case(runner: "WaitForDate", config: ["date": "2026-12-01"], field: ""),
            Case(runner: "WaitForDateComparison", config: ["attribute": "day", "values": [0, 6]], field: ""),
            Case(runner: "WaitForDateComparison", config: ["attribute": "year", "value": 2030], field: ""),
            Case(runner: "WaitForDateComparison", config: ["attribute": "minute", "values": ["{{m}}"]], field: ""),
        ]

        @Test("accepts valid and templated configs", arguments: accepted)
        func accepts(_ c: Case) throws {
            let runner = try #require(Self.runners[c.runner])
            #expect(validationError(runner, config: c.config) == nil)
        }
    }
}
