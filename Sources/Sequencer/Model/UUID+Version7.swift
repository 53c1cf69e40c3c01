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
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let high = random.next() as UInt64
        let low = random.next() as UInt64
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for shift in stride(from: 40, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: millis >> UInt64(shift))) }
        bytes.append(0x70 | UInt8(truncatingIfNeeded: high & 0x0F))          // version 7
        bytes.append(UInt8(truncatingIfNeeded: high >> 8))
        bytes.append(0x80 | UInt8(truncatingIfNeeded: (high >> 16) & 0x3F))  // variant 10
        for shift in stride(from: 0, through: 48, by: 8) { bytes.append(UInt8(truncatingIfNeeded: low >> UInt64(shift))) }
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
