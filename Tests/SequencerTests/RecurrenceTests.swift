import Foundation
import Sequencer
import Testing

// Expected instants are written out in UTC by hand (2026: March 8 and November 1 are the US DST
// days; New York is UTC-5 in winter, UTC-4 in summer; Paris UTC+1 until March 29), never
// computed with the code under test.

/// Cron expressions and rates: parsing, the next occurrence, and DST days.
@Suite("Recurrence")
struct RecurrenceTests {
    static func at(_ iso: String) -> Date { ISO8601DateFormatter().date(from: iso)! }
    static let utc = TimeZone(identifier: "UTC")!
    static let newYork = TimeZone(identifier: "America/New_York")!

    @Test(arguments: [
        // expression, after (UTC), expected next (UTC)
        ("* * * * *", "2026-03-10T10:00:30Z", "2026-03-10T10:01:00Z"),
        ("* * * * *", "2026-03-10T10:00:00Z", "2026-03-10T10:01:00Z"),
        ("*/15 * * * *", "2026-03-10T10:07:00Z", "2026-03-10T10:15:00Z"),
        ("*/15 * * * *", "2026-03-10T10:45:00Z", "2026-03-10T11:00:00Z"),
        ("5/20 * * * *", "2026-03-10T10:26:00Z", "2026-03-10T10:45:00Z"),
        ("10-50/20 * * * *", "2026-03-10T10:31:00Z", "2026-03-10T10:50:00Z"),
        ("0 9 * * 1-5", "2026-03-06T09:00:00Z", "2026-03-09T09:00:00Z"),   // Friday 09:00 → Monday
        ("0 9 * * MON-FRI", "2026-03-09T08:59:59Z", "2026-03-09T09:00:00Z"),
        ("30 2 1,15 * *", "2026-03-02T00:00:00Z", "2026-03-15T02:30:00Z"),
        ("0 0 * JAN,jul SUN", "2026-03-10T00:00:00Z", "2026-07-05T00:00:00Z"),
        ("0 0 * * 7", "2026-03-10T00:00:00Z", "2026-03-15T00:00:00Z"),     // 7 is Sunday too
        ("0 0 13 * 5", "2026-03-10T00:00:00Z", "2026-03-13T00:00:00Z"),    // the 13th or a Friday: Friday 13th
        ("0 0 20 * 5", "2026-03-10T00:00:00Z", "2026-03-13T00:00:00Z"),    // either: Friday the 13th comes first
        ("0 0 29 2 *", "2026-03-10T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z"),
        ("59 23 31 12 *", "2026-03-10T00:00:00Z", "2026-12-31T23:59:00Z"),
        ("@hourly", "2026-03-10T10:00:00Z", "2026-03-10T11:00:00Z"),
        ("@daily", "2026-03-10T10:00:00Z", "2026-03-11T00:00:00Z"),
        ("@weekly", "2026-03-10T10:00:00Z", "2026-03-15T00:00:00Z"),
        ("@monthly", "2026-03-10T10:00:00Z", "2026-04-01T00:00:00Z"),
        ("@yearly", "2026-03-10T10:00:00Z", "2027-01-01T00:00:00Z"),
        ("  0   12 * * *  ", "2026-03-10T10:00:00Z", "2026-03-10T12:00:00Z"),
    ])
    func cronNextOccurrenceInUTC(_ expression: String, _ after: String, _ expected: String) throws {
        let recurrence = try Recurrence(expression)
        #expect(recurrence.occurrence(after: Self.at(after), in: Self.utc, anchor: Self.at(after)) == Self.at(expected))
    }

    @Test(arguments: [
        ("", "recurrence", "five fields"),
        ("* * * *", "recurrence", "has 4"),
        ("60 * * * *", "recurrence.minute", "outside 0–59"),
        ("* 24 * * *", "recurrence.hour", "outside 0–23"),
        ("* * 0 * *", "recurrence.dayOfMonth", "outside 1–31"),
        ("* * * 13 *", "recurrence.month", "outside 1–12"),
        ("* * * * 8", "recurrence.dayOfWeek", "outside 0–7"),
        ("* * * FOO *", "recurrence.month", "not a number or a name"),
        ("*/0 * * * *", "recurrence.minute", "step"),
        ("5-1 * * * *", "recurrence.minute", "runs backwards"),
        ("1,,2 * * * *", "recurrence.minute", "an empty value"),
        ("0 0 30 2 *", "recurrence.dayOfMonth", "never matches"),
        ("'; DROP TABLE x; -- * * * *", "recurrence", "five fields"),
        ("every 0 minutes", "recurrence", "whole number"),
        ("every 5 seconds", "recurrence", "minutes, hours, days or weeks"),
        ("every five minutes", "recurrence", "whole number"),
        ("every 100000000 weeks", "recurrence", "100 years"),
    ])
    func badRecurrencesNameTheField(_ text: String, _ field: String, _ words: String) {
        #expect {
            try Recurrence(text)
        } throws: { error in
            let error = error as! SequencerError
            return error.code == .invalidConfig && error.field == field && error.message.contains(words)
        }
    }

    @Test func ratesCountFromTheAnchorAndPrintBack() throws {
        let anchor = Self.at("2026-03-10T10:00:00Z")
        let sixHours = try Recurrence("every 6 hours")
        #expect(sixHours == .every(.seconds(6 * 3600)))
        #expect(sixHours.occurrence(after: anchor, in: Self.newYork, anchor: anchor) == Self.at("2026-03-10T16:00:00Z"))
        #expect(sixHours.occurrence(after: Self.at("2026-03-11T03:59:59Z"), in: Self.newYork, anchor: anchor)
                == Self.at("2026-03-11T04:00:00Z"))
        #expect(sixHours.occurrence(after: Self.at("2026-03-11T04:00:00Z"), in: Self.newYork, anchor: anchor)
                == Self.at("2026-03-11T10:00:00Z"))
        #expect(sixHours.occurrence(after: Self.at("2026-03-01T00:00:00Z"), in: Self.newYork, anchor: anchor)
                == Self.at("2026-03-10T16:00:00Z"))
        for text in ["every 6 hours", "every minute", "every 90 minutes", "every 2 weeks", "every day", "0 9 * * 1-5"] {
            #expect(try Recurrence(try Recurrence(text).description) == Recurrence(text))
        }
        #expect(try Recurrence("every 1 hour").description == "every hour")
    }

    /// Every occurrence of `recurrence` in [from, to), by repeated `occurrence(after:)`.
    static func occurrences(_ recurrence: Recurrence, in zone: TimeZone, from: Date, to: Date) -> [Date] {
        var found: [Date] = []
        var cursor = from
        while let next = recurrence.occurrence(after: cursor, in: zone, anchor: from), next < to {
            found.append(next)
            cursor = next
        }
        return found
    }

    @Test func aDaily0230InNewYorkFiresOnceOnTheSpringForwardDayAtTheFirstValidInstant() throws {
        let fires = Self.occurrences(try Recurrence("30 2 * * *"), in: Self.newYork,
                                     from: Self.at("2026-03-07T00:00:00Z"), to: Self.at("2026-03-10T00:00:00Z"))
        // March 7 02:30 EST, March 8 03:00 EDT (02:30 does not exist), March 9 02:30 EDT.
        #expect(fires == [Self.at("2026-03-07T07:30:00Z"), Self.at("2026-03-08T07:00:00Z"), Self.at("2026-03-09T06:30:00Z")])
    }

    @Test func aDaily0130InNewYorkFiresOnceOnTheFallBackDayAtTheFirstOccurrence() throws {
        let fires = Self.occurrences(try Recurrence("30 1 * * *"), in: Self.newYork,
                                     from: Self.at("2026-10-31T00:00:00Z"), to: Self.at("2026-11-03T00:00:00Z"))
        // October 31 01:30 EDT, November 1 01:30 EDT (not again at 01:30 EST), November 2 01:30 EST.
        #expect(fires == [Self.at("2026-10-31T05:30:00Z"), Self.at("2026-11-01T05:30:00Z"), Self.at("2026-11-02T06:30:00Z")])
    }

    @Test func aQuarterHourlyCronFollowsTheWallClockThroughBothDSTDays() throws {
        let cron = try Recurrence("*/15 * * * *")
        // Spring forward: 01:45 EST, then 02:00–02:45 do not exist and fire once at 03:00 EDT, then 03:15.
        let spring = Self.occurrences(cron, in: Self.newYork, from: Self.at("2026-03-08T06:40:00Z"),
                                      to: Self.at("2026-03-08T07:20:00Z"))
        #expect(spring == [Self.at("2026-03-08T06:45:00Z"), Self.at("2026-03-08T07:00:00Z"), Self.at("2026-03-08T07:15:00Z")])
        // Fall back: 01:00–01:45 EDT fire, the repeated 01:00–01:45 EST do not, then 02:00 EST.
        let fall = Self.occurrences(cron, in: Self.newYork, from: Self.at("2026-11-01T04:50:00Z"),
                                    to: Self.at("2026-11-01T07:10:00Z"))
        #expect(fall == ["05:00", "05:15", "05:30", "05:45", "07:00"].map { Self.at("2026-11-01T\($0):00Z") })
        // Asked from inside the repeated hour (01:10 EST), the next is 02:00 EST, not 01:15 again.
        #expect(cron.occurrence(after: Self.at("2026-11-01T06:10:00Z"), in: Self.newYork, anchor: .distantPast)
                == Self.at("2026-11-01T07:00:00Z"))
    }

    @Test func weekdayCronInParisAcrossTheEuropeanSpringForward() throws {
        let paris = TimeZone(identifier: "Europe/Paris")!
        let fires = Self.occurrences(try Recurrence("0 9 * * MON"), in: paris,
                                     from: Self.at("2026-03-20T00:00:00Z"), to: Self.at("2026-04-07T00:00:00Z"))
        // March 23 09:00 CET, March 30 09:00 CEST (clocks changed on the 29th), April 6 09:00 CEST.
        #expect(fires == [Self.at("2026-03-23T08:00:00Z"), Self.at("2026-03-30T07:00:00Z"), Self.at("2026-04-06T07:00:00Z")])
    }

    @Test func scheduleJSONRoundTripsAndErrorsNameTheField() throws {
        let json = try JSONValue(json: """
            {"name": "weekly", "recurrence": "0 9 * * 1", "timeZone": "Europe/Paris", "sequence": "report",
             "version": 2, "subject": "report-{{date}}", "context": {"format": "pdf"}, "missedFires": "all",
             "maxMissedFires": 3, "missedAfterSeconds": 120, "exclusive": true, "enabled": false}
            """)
        let schedule = try Schedule(json: json)
        #expect(schedule.missedFires == .all(max: 3))
        #expect(schedule.timeZone.identifier == "Europe/Paris")
        #expect(try Schedule(json: schedule.jsonValue) == schedule)
        for (bad, field) in [
            (#"{"name": "x", "recurrence": "@daily", "sequence": "s", "timeZone": "Mars/Olympus"}"#, "timeZone"),
            (#"{"name": "x", "recurrence": "@daily", "sequence": "s", "missedFires": "sometimes"}"#, "missedFires"),
            (#"{"name": "x", "recurrence": "@daily", "sequence": "s", "maxMissedFires": 3}"#, "maxMissedFires"),
            (#"{"name": "x", "recurrence": "@daily", "sequence": "s", "exclusiv": true}"#, "exclusiv"),
            (#"{"name": "x", "recurrence": "61 * * * *", "sequence": "s"}"#, "recurrence.minute"),
            (#"{"name": "x", "recurrence": "@daily"}"#, "sequence"),
            (#"{"name": "x", "recurrence": "@daily", "sequence": "s", "context": [1]}"#, "context"),
        ] {
            #expect(throws: SequencerError.self) { try Schedule(json: try JSONValue(json: bad)) }
            do { _ = try Schedule(json: try JSONValue(json: bad)) } catch let error as SequencerError {
                #expect(error.field == field, "\(bad): \(error)")
                #expect(error.message.contains("schedule 'x'"), "\(error)")
            }
        }
    }
}
