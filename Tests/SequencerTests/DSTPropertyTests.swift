import Foundation
import Sequencer
import Testing

/// Every IANA zone, every UTC-offset transition in a range of years: the waits and schedules that
/// read a wall clock land where an independent oracle (built only on `secondsFromGMT(for:)`)
/// says, exactly once.
///
/// `swift test --filter DSTPropertyTests` checks 2025 and 2026; `SEQUENCER_DST_YEARS=2020-2035
/// swift test --filter DSTPropertyTests` runs the full range (issue 17's figure).
@Suite("DST property: every zone, every transition")
struct DSTPropertyTests {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// The years checked: `SEQUENCER_DST_YEARS` (`2020-2035`), else 2025–2026.
    static let years: ClosedRange<Int> = {
        let text = ProcessInfo.processInfo.environment["SEQUENCER_DST_YEARS"] ?? "2025-2026"
        let parts = text.split(separator: "-").compactMap { Int($0) }
        return parts.count == 2 && parts[0] <= parts[1] ? parts[0]...parts[1] : 2025...2026
    }()

    /// A local calendar day.
    struct Day: Hashable { var year: Int; var month: Int; var day: Int }

    /// The oracle: the instant of wall time `hour:minute` on `day` in `zone`: its first occurrence,
    /// or, when it falls in a gap, the first valid instant after it (the transition).
    static func instant(_ day: Day, _ hour: Int, _ minute: Int, in zone: TimeZone) -> Date {
        let naive = utc.date(from: DateComponents(year: day.year, month: day.month, day: day.day, hour: hour, minute: minute))!
        var offsets = Set<Int>()
        for k in -16...16 { offsets.insert(zone.secondsFromGMT(for: naive.addingTimeInterval(Double(k) * 3 * 3600))) }
        let valid = offsets.map { naive.addingTimeInterval(-Double($0)) }.filter {
            Double(zone.secondsFromGMT(for: $0)) == naive.timeIntervalSince($0)
        }
        if let first = valid.min() { return first }
        // In a gap: the transition lies between the wall time read with the later and the earlier offset.
        var low = naive.addingTimeInterval(-Double(offsets.max()!)), high = naive.addingTimeInterval(-Double(offsets.min()!))
        let before = zone.secondsFromGMT(for: low)
        while high.timeIntervalSince(low) > 0.5 {
            let middle = low.addingTimeInterval(high.timeIntervalSince(low) / 2)
            if zone.secondsFromGMT(for: middle) == before { low = middle } else { high = middle }
        }
        return Date(timeIntervalSince1970: high.timeIntervalSince1970.rounded(.up))
    }

    static func day(of instant: Date, in zone: TimeZone) -> Day {
        let local = utc.dateComponents([.year, .month, .day], from: instant.addingTimeInterval(Double(zone.secondsFromGMT(for: instant))))
        return Day(year: local.year!, month: local.month!, day: local.day!)
    }

    static func adding(_ days: Int, to day: Day) -> Day {
        let date = utc.date(byAdding: .day, value: days, to: utc.date(from: DateComponents(year: day.year, month: day.month, day: day.day))!)!
        let c = utc.dateComponents([.year, .month, .day], from: date)
        return Day(year: c.year!, month: c.month!, day: c.day!)
    }

    /// Every transition of `zone` in the years checked.
    static func transitions(of zone: TimeZone) -> [Date] {
        let start = utc.date(from: DateComponents(year: years.lowerBound, month: 1, day: 1))!
        let end = utc.date(from: DateComponents(year: years.upperBound + 1, month: 1, day: 1))!
        var found: [Date] = []
        var cursor = start
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next < end, found.count < 200 {
            if zone.secondsFromGMT(for: next.addingTimeInterval(-1)) != zone.secondsFromGMT(for: next) { found.append(next) }
            cursor = next
        }
        return found
    }

    static func wake(_ runner: any TaskRunner, _ config: JSONValue, entered: Date, zone: TimeZone) async throws -> Date? {
        let step = Step(id: "wait", runner: runner.name, config: config)
        let input = RunnerInput(id: UUID(), subject: "s", sequence: "dst", version: 1, step: step, config: config, context: [:],
                                now: entered, stepEnteredAt: entered, attempt: 1, visit: 1, timeZone: zone)
        guard case .noop(let until)? = try await runner.run([input]).first?.action else { return nil }
        return until
    }

    static func occurrences(_ recurrence: Recurrence, in zone: TimeZone, from: Date, to: Date) -> [Date] {
        var found: [Date] = []
        var cursor = from.addingTimeInterval(-1)
        while let next = recurrence.occurrence(after: cursor, in: zone, anchor: from), next < to, found.count < 10 {
            found.append(next)
            cursor = next
        }
        return found
    }

    @Test func wallClockWaitsAndSchedulesFireExactlyOnceAcrossEveryTransition() async throws {
        let daily = try Recurrence("0 9 * * *")
        let duration = WaitForDurationRunner(), weekday = WaitForDateComparisonRunner()
        var zonesWithTransitions = 0, checked = 0, gaps = 0, overlaps = 0
        var failures: [String] = []
        func check(_ ok: Bool, _ what: @autoclosure () -> String) {
            checked += 1
            if !ok && failures.count < 20 { failures.append(what()) }
        }
        for identifier in TimeZone.knownTimeZoneIdentifiers {
            guard let zone = TimeZone(identifier: identifier) else { continue }
            let transitions = Self.transitions(of: zone)
            if !transitions.isEmpty { zonesWithTransitions += 1 }
            for t in transitions {
                let d0 = Self.day(of: t, in: zone)
                let label = "\(identifier) \(ISO8601DateFormatter().string(from: t))"
                let nine = { (day: Day) in Self.instant(day, 9, 0, in: zone) }
                let midnight = { (day: Day) in Self.instant(day, 0, 0, in: zone) }

                // A daily 09:00 schedule: once a local day, at 09:00 or the first instant after a gap.
                let days = (-1...1).map { Self.adding($0, to: d0) }
                let fires = Self.occurrences(daily, in: zone, from: midnight(days[0]), to: midnight(Self.adding(2, to: d0)))
                check(fires == days.map(nine), "\(label): daily 09:00 fired \(fires), expected \(days.map(nine))")

                // "1 day" and "1 week" from 09:00 keep 09:00 local.
                for day in [Self.adding(-1, to: d0), d0] {
                    let entered = nine(day)
                    let wake = try await Self.wake(duration, ["amount": 1, "unit": "days"], entered: entered, zone: zone)
                    check(wake == nine(Self.adding(1, to: day)), "\(label): 1 day from \(entered) woke \(String(describing: wake))")
                }
                let weekAgo = Self.adding(-3, to: d0)
                let weekWake = try await Self.wake(duration, ["amount": 1, "unit": "weeks"], entered: nine(weekAgo), zone: zone)
                check(weekWake == nine(Self.adding(4, to: d0)), "\(label): 1 week woke \(String(describing: weekWake))")

                // A weekday wait wakes at the start of the next matching local day.
                let target = Self.adding(1, to: d0)
                let jsDay = Self.utc.component(.weekday, from: Self.utc.date(from: DateComponents(
                    year: target.year, month: target.month, day: target.day))!) - 1
                let dayWake = try await Self.wake(weekday, ["attribute": "day", "values": [.number(Double(jsDay))]],
                                                  entered: Self.instant(Self.adding(-1, to: d0), 12, 0, in: zone), zone: zone)
                check(dayWake == midnight(target), "\(label): weekday wait woke \(String(describing: dayWake)), expected \(midnight(target))")

                // A schedule at a wall time the change skips fires once, at the change; one at a
                // repeated wall time fires once, at its first occurrence.
                let before = zone.secondsFromGMT(for: t.addingTimeInterval(-1)), after = zone.secondsFromGMT(for: t)
                let naiveStart = t.addingTimeInterval(Double(min(before, after))), naiveEnd = t.addingTimeInterval(Double(max(before, after)))
                let aligned = Date(timeIntervalSince1970: (naiveStart.timeIntervalSince1970 / 60).rounded(.up) * 60)
                guard aligned < naiveEnd else { continue }
                let wall = Self.utc.dateComponents([.hour, .minute], from: aligned)
                let cron = try Recurrence("\(wall.minute!) \(wall.hour!) * * *")
                let around = Self.occurrences(cron, in: zone, from: t.addingTimeInterval(-12 * 3600), to: t.addingTimeInterval(12 * 3600))
                if after > before {
                    gaps += 1
                    check(around == [t], "\(label): \(wall.hour!):\(wall.minute!) in the gap fired \(around), expected [\(t)]")
                } else {
                    overlaps += 1
                    let first = aligned.addingTimeInterval(-Double(before))
                    check(around == [first], "\(label): repeated \(wall.hour!):\(wall.minute!) fired \(around), expected [\(first)]")
                }
            }
        }
        print("DST property: years \(Self.years), \(TimeZone.knownTimeZoneIdentifiers.count) zones, \(zonesWithTransitions) with transitions, "
              + "\(gaps) gaps and \(overlaps) repeats, \(checked) checks, \(failures.count) failed")
        #expect(zonesWithTransitions > 50 && gaps > 50 && overlaps > 50)
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }
}
