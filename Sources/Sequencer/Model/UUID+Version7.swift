public import Foundation

extension UUID {
    /// A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, then 74 random bits.
    ///
    /// Enrollment ids use it for two reasons: ids created together sort together, so a database
    /// primary-key index takes bulk inserts at its right edge instead of at random pages; and it
    /// draws from `SystemRandomNumberGenerator` (one `getrandom` call) where `UUID()` on Linux
    /// opens `/dev/urandom` for every id.
    public static func version7(at date: Date = Date()) -> UUID {
        var random = SystemRandomNumberGenerator()
        // 48 bits of milliseconds reach the year 10889; a date outside them (or NaN) is clamped.
        let raw = date.timeIntervalSince1970 * 1000
        let millis = raw.isNaN ? 0 : UInt64(min(max(0, raw), 281_474_976_710_655))
        let high = random.next() as UInt64
        let low = random.next() as UInt64
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { bytes in
            for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> UInt64(40 - 8 * index)) }
            bytes[6] = 0x70 | UInt8(truncatingIfNeeded: high & 0x0F)           // version 7
            bytes[7] = UInt8(truncatingIfNeeded: high >> 8)
            bytes[8] = 0x80 | UInt8(truncatingIfNeeded: (high >> 16) & 0x3F)   // variant 10
            for index in 0..<7 { bytes[9 + index] = UInt8(truncatingIfNeeded: low >> UInt64(8 * index)) }
        }
        return UUID(uuid: uuid)
    }
}
