import Foundation
import NIOCore
import PostgresNIO
import Sequencer

/// How enroll's `COPY` path stages one column of `enrollments`: the staging column's type and
/// a writer of the column's value in `COPY`'s text format.
///
/// The same writer serves the direct `COPY` into `enrollments`, so a staging column has the
/// column's own type, bar `jsonb` (staged as text and cast when moved).
struct StagedField: Sendable {
    enum Kind: Sendable {
        case uuid, text, integer, timestamp

        /// The staging table's column type.
        var sqlType: String {
            switch self {
            case .uuid: "uuid"
            case .text: "text"
            case .integer: "int8"
            case .timestamp: "timestamptz"
            }
        }
    }

    let kind: Kind
    /// Appends the field of one enrollment (no delimiter).
    let write: @Sendable (Enrollment, inout ByteBuffer) -> Void

    static func uuid(_ value: @escaping @Sendable (Enrollment) -> UUID) -> StagedField {
        StagedField(kind: .uuid) { e, buffer in buffer.writeCopyUUID(value(e)) }
    }

    static func text(_ value: @escaping @Sendable (Enrollment) -> String?) -> StagedField {
        StagedField(kind: .text) { e, buffer in buffer.writeCopyText(value(e)) }
    }

    static func integer(_ value: @escaping @Sendable (Enrollment) -> Int64) -> StagedField {
        StagedField(kind: .integer) { e, buffer in buffer.writeCopyInteger(value(e)) }
    }

    static func timestamp(_ value: @escaping @Sendable (Enrollment) -> Date?) -> StagedField {
        StagedField(kind: .timestamp) { e, buffer in buffer.writeCopyTimestamp(value(e)) }
    }
}

extension PostgresConnection {
    /// `COPY table (columns) FROM STDIN` of one row per element, each row's fields written by
    /// `row` (tab-separated, COPY's text format), sent in chunks of 256 KiB.
    func copyRows<Element>(of elements: [Element], into table: String, columns: [String],
                           row: (Element, inout ByteBuffer) -> Void) async throws {
        try await copyFrom(table: table, columns: columns, logger: logger) { writer in
            var buffer = ByteBuffer()
            buffer.reserveCapacity(1 << 18)
            for element in elements {
                row(element, &buffer)
                buffer.writeInteger(UInt8(ascii: "\n"))
                if buffer.readableBytes >= 1 << 18 {
                    try await writer.write(buffer)
                    buffer.clear()
                }
            }
            if buffer.readableBytes > 0 { try await writer.write(buffer) }
        }
    }
}

extension ByteBuffer {
    /// `\N`, COPY's NULL.
    mutating func writeCopyNull() {
        writeInteger(UInt8(ascii: "\\"))
        writeInteger(UInt8(ascii: "N"))
    }

    /// A text field: backslash, tab, newline and carriage return escaped; `nil` as `\N`.
    ///
    /// Every other byte, UTF-8 included, is written as is (COPY's text format reads the
    /// connection's encoding, UTF-8). A NUL, which `text` cannot hold, is written escaped as `\0`
    /// (an octal escape), so the server refuses it as it refuses it in a bind.
    mutating func writeCopyText(_ value: String?) {
        guard var value else { return writeCopyNull() }
        value.withUTF8 { bytes in
            var start = 0
            for (index, byte) in bytes.enumerated() {
                let escape: UInt8
                switch byte {
                case UInt8(ascii: "\\"): escape = UInt8(ascii: "\\")
                case UInt8(ascii: "\t"): escape = UInt8(ascii: "t")
                case UInt8(ascii: "\n"): escape = UInt8(ascii: "n")
                case UInt8(ascii: "\r"): escape = UInt8(ascii: "r")
                case 0: escape = UInt8(ascii: "0")
                default: continue
                }
                writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start..<index]))
                writeInteger(UInt8(ascii: "\\"))
                writeInteger(escape)
                start = index + 1
            }
            writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start...]))
        }
    }

    /// A `timestamptz` as text, `YYYY-MM-DD HH:MM:SS.ffffff+00`, rounded to the microsecond as
    /// ``SQLTimestamp`` rounds a bind, and written without a date formatter.
    mutating func writeCopyTimestamp(_ date: Date?) {
        guard let date else { return writeCopyNull() }
        // Days from 2000-01-01, then the civil date (Howard Hinnant's days_from_civil inverse).
        let micros = SQLTimestamp(date).microseconds
        let perDay: Int64 = 86_400_000_000
        let dayNumber = micros >= 0 ? micros / perDay : (micros - perDay + 1) / perDay
        var ofDay = micros - dayNumber * perDay
        let z = dayNumber + 10_957 + 719_468  // days since 0000-03-01
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        guard (1...9_999).contains(year) else {
            // Stores refuse dates outside Limits.dates (years 1 to 9999) before they write; should
            // one reach here, the server refuses this field rather than store another date.
            writeString("out of range")
            return
        }
        func two(_ value: Int64) {
            writeInteger(UInt8(ascii: "0") + UInt8(value / 10))
            writeInteger(UInt8(ascii: "0") + UInt8(value % 10))
        }
        two(year / 100); two(year % 100)
        writeInteger(UInt8(ascii: "-")); two(month)
        writeInteger(UInt8(ascii: "-")); two(day)
        writeInteger(UInt8(ascii: " "))
        let fraction = ofDay % 1_000_000
        ofDay /= 1_000_000
        two(ofDay / 3_600)
        writeInteger(UInt8(ascii: ":")); two(ofDay / 60 % 60)
        writeInteger(UInt8(ascii: ":")); two(ofDay % 60)
        writeInteger(UInt8(ascii: "."))
        var digits = fraction
        var place: Int64 = 100_000
        while place > 0 {
            writeInteger(UInt8(ascii: "0") + UInt8(digits / place))
            digits %= place
            place /= 10
        }
        writeString("+00")
    }

    /// A decimal integer.
    mutating func writeCopyInteger(_ value: Int64) {
        if value < 0 { writeInteger(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits, written from the end
        withUnsafeMutableBytes(of: &digits) { raw in
            var index = raw.count
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            writeBytes(UnsafeRawBufferPointer(rebasing: raw[index...]))
        }
    }

    /// A UUID in its canonical 36-character form.
    mutating func writeCopyUUID(_ uuid: UUID) {
        let hex: StaticString = "0123456789abcdef"
        withUnsafeBytes(of: uuid.uuid) { bytes in
            hex.withUTF8Buffer { digits in
                for (index, byte) in bytes.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 { writeInteger(UInt8(ascii: "-")) }
                    writeInteger(digits[Int(byte >> 4)])
                    writeInteger(digits[Int(byte & 0x0f)])
                }
            }
        }
    }
}
