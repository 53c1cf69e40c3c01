public import Foundation

/// Reads and writes ISO-8601 timestamps: the one parser conditions (chronological comparison)
/// and `WaitForDate` share, and the one writer of every timestamp the package prints (history
/// messages, the `now` operand, webhook payloads).
///
/// Accepted forms (years 0000–9999, calendar dates validated, leap years included):
/// - `2025-03-01` — midnight UTC;
/// - `2025-03-01T09:30`, `2025-03-01T09:30:15`, `2025-03-01T09:30:15.250` — no zone: ``date(from:)``
///   reads them as UTC, ``parse(_:)`` leaves the zone to the caller;
/// - any of those followed by `Z`, `+02:00`, `-0500` or `+02`.
///
/// `T` may also be written `t` or a space (PostgreSQL's text form), and the fraction may use
/// `.` or `,`. Anything else (`2025`, `2025-13-01`, `tomorrow`) is not a timestamp.
/// Hand-written rather than `ISO8601DateFormatter` so one parser accepts every form above
/// and runs without allocation or locale on each comparison.
package enum ISO8601Timestamp {
    /// The instant `text` names (UTC when it has no offset), or `nil` if it is not one of the accepted forms.
    package static func date(from text: String) -> Date? {
        guard let parsed = parse(text) else { return nil }
        return parsed.wallClock.addingTimeInterval(-TimeInterval(parsed.offset ?? 0))
    }

    /// The wall-clock time `text` shows (as a `Date` read in UTC) and its UTC offset in seconds,
    /// `nil` when it names none; `nil` altogether if `text` is not one of the accepted forms.
    static func parse(_ text: String) -> (wallClock: Date, offset: Int?)? {
        var reader = Reader(bytes: Array(text.utf8))
        guard let year = reader.digits(4), reader.take("-"), let month = reader.digits(2), reader.take("-"),
            let day = reader.digits(2), (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        let midnight = Double(daysFromCivil(year: year, month: month, day: day)) * 86_400
        if reader.atEnd { return (Date(timeIntervalSince1970: midnight), nil) }

        guard reader.take("T") || reader.take("t") || reader.take(" "),
            let hour = reader.digits(2), reader.take(":"), let minute = reader.digits(2), hour < 24, minute < 60
        else { return nil }
        var second = 0.0
        if reader.take(":") {
            guard let whole = reader.digits(2), whole < 60 else { return nil }
            second = Double(whole)
            if reader.take(".") || reader.take(",") {
                guard let fraction = reader.fraction() else { return nil }
                second += fraction
            }
        }

        var offset: Int?
        if reader.take("Z") || reader.take("z") {
            offset = 0
        } else if let sign = reader.take("+") ? 1 : (reader.take("-") ? -1 : nil) {
            guard let hours = reader.digits(2), hours < 24 else { return nil }
            var minutes = 0
            if reader.take(":") {
                guard let m = reader.digits(2) else { return nil }
                minutes = m
            } else if let m = reader.digits(2) {
                minutes = m
            }
            guard minutes < 60 else { return nil }
            offset = sign * (hours * 3_600 + minutes * 60)
        }
        guard reader.atEnd else { return nil }
        return (Date(timeIntervalSince1970: midnight + Double(hour * 3_600 + minute * 60) + second), offset)
    }

    /// `date` in UTC with milliseconds, `2025-03-01T09:30:15.250Z`, or without them, `2025-03-01T09:30:15Z`.
    /// Clamped to years 0000–9999.
    package static func string(from date: Date, withMilliseconds: Bool = true) -> String {
        let lowest = -62_167_219_200_000.0  // 0000-01-01T00:00:00.000Z
        let highest = 253_402_300_799_999.0  // 9999-12-31T23:59:59.999Z
        let raw = (date.timeIntervalSince1970 * 1_000).rounded()
        let milliseconds = Int64(raw.isNaN ? 0 : min(max(raw, lowest), highest))
        let dayLength: Int64 = 86_400_000
        let days = milliseconds >= 0 ? milliseconds / dayLength : (milliseconds - dayLength + 1) / dayLength
        let inDay = Int(milliseconds - days * dayLength)
        let (year, month, day) = civilFromDays(Int(days))
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(inDay / 3_600_000, 2) + ":"
            + pad(inDay / 60_000 % 60, 2) + ":" + pad(inDay / 1_000 % 60, 2)
            + (withMilliseconds ? "." + pad(inDay % 1_000, 3) : "") + "Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of ``daysFromCivil(year:month:day:)``.
    package static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// A cursor over ASCII bytes.
    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }

        /// Consumes `character` if it is next.
        mutating func take(_ character: Unicode.Scalar) -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
            index += 1
            return true
        }

        /// Consumes exactly `count` decimal digits; consumes nothing if they are not all there.
        mutating func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            index += count
            return value
        }

        /// Consumes one or more digits after a decimal separator, as a fraction in [0, 1).
        mutating func fraction() -> Double? {
            var value = 0.0
            var scale = 0.1
            let start = index
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                value += Double(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            return index > start ? value : nil
        }
    }
}
