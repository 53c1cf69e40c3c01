import Foundation
import NIOCore
import PostgresNIO
import Sequencer

/// How enroll's `COPY` writes one column of `enrollments`: a writer of the column's value in
/// `COPY`'s text format (``EnrollmentTable/columns`` gives each column one).
struct CopyField: Sendable {
    /// Appends the field of one enrollment (no delimiter).
    let write: @Sendable (Enrollment, inout ByteBuffer) -> Void

    static func uuid(_ value: @escaping @Sendable (Enrollment) -> UUID) -> CopyField {
        CopyField { e, buffer in buffer.writeCopyUUID(value(e)) }
    }

    static func text(_ value: @escaping @Sendable (Enrollment) -> String?) -> CopyField {
        CopyField { e, buffer in buffer.writeCopyText(value(e)) }
    }

    static func integer(_ value: @escaping @Sendable (Enrollment) -> Int64) -> CopyField {
        CopyField { e, buffer in buffer.writeCopyInteger(value(e)) }
    }

    static func timestamp(_ value: @escaping @Sendable (Enrollment) -> Date?) -> CopyField {
        CopyField { e, buffer in buffer.writeCopyTimestamp(value(e)) }
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
            guard let base = bytes.baseAddress else { return }
            // Most strings need no escape: find out with libc's memchr, then write them whole
            // (a byte loop costs a hundred times more in debug builds, where tests run).
            if memchr(base, 0x5C, bytes.count) == nil && memchr(base, 0x09, bytes.count) == nil
                && memchr(base, 0x0A, bytes.count) == nil && memchr(base, 0x0D, bytes.count) == nil
                && memchr(base, 0x00, bytes.count) == nil {
                writeBytes(UnsafeRawBufferPointer(bytes))
                return
            }
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
        // Whole days from 2000-01-01 (rounded down) and the time of day, then the civil date.
        let micros = SQLTimestamp(date).microseconds
        let perDay: Int64 = 86_400_000_000
        let dayNumber = micros >= 0 ? micros / perDay : (micros - perDay + 1) / perDay
        var ofDay = micros - dayNumber * perDay
        let civil = ISO8601Timestamp.civilFromDays(Int(dayNumber) + 10_957)  // days since 1970-01-01
        let (year, month, day) = (Int64(civil.year), Int64(civil.month), Int64(civil.day))
        guard (1...9_999).contains(year) else {
            // Stores refuse dates outside Limits.dates (years 1 to 9999) before they write; should
            // one reach here, the server refuses this field rather than store another date.
            writeString("out of range")
            return
        }
        // "YYYY-MM-DD HH:MM:SS.ffffff+00": 29 bytes, composed on the stack and written at once.
        let fraction = ofDay % 1_000_000
        ofDay /= 1_000_000
        var text: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &text) { out in
            var at = 0
            func put(_ value: Int64, digits: Int) {
                var rest = value, place = digits
                while place > 0 {
                    place -= 1
                    out[at + place] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                at += digits
            }
            func put(_ byte: Unicode.Scalar) {
                out[at] = UInt8(ascii: byte)
                at += 1
            }
            put(year, digits: 4); put("-"); put(month, digits: 2); put("-"); put(day, digits: 2); put(" ")
            put(ofDay / 3_600, digits: 2); put(":"); put(ofDay / 60 % 60, digits: 2); put(":"); put(ofDay % 60, digits: 2)
            put("."); put(fraction, digits: 6); put("+"); put(0, digits: 2)
            writeBytes(UnsafeRawBufferPointer(rebasing: out[..<at]))
        }
    }

    /// A decimal integer.
    mutating func writeCopyInteger(_ value: Int64) {
        writeString(String(value))
    }

    /// A UUID in its canonical form.
    mutating func writeCopyUUID(_ uuid: UUID) {
        writeString(uuid.uuidString)
    }
}
