import Foundation
import PostgresNIO

/// A `timestamptz` bind or column, rounded to PostgreSQL's microseconds.
///
/// PostgresNIO's own `Date` encoding truncates, so a date a hair under a whole
/// microsecond would come back one microsecond early; this type rounds to the
/// nearest microsecond and decodes with a single rounding step, so any date with
/// microsecond precision (every date the engine writes for whole-second or
/// millisecond clocks) survives a round trip unchanged.
struct SQLTimestamp: PostgresNonThrowingEncodable, PostgresDecodable {
    var date: Date

    init(_ date: Date) { self.date = date }

    /// Seconds from PostgreSQL's epoch (2000-01-01) to Foundation's reference date (2001-01-01).
    private static let epochOffset: Int64 = 31_622_400

    /// Microseconds since 2000-01-01 00:00 UTC, rounded to the nearest.
    ///
    /// Stores check every date against `Limits.dates` before they write it; a date outside them
    /// (or NaN) that reached here anyway is clamped to PostgreSQL's own range rather than trap.
    var microseconds: Int64 {
        let raw = date.timeIntervalSinceReferenceDate
        // PostgreSQL's timestamptz range: 4713 BC to 294276 AD, about ±9.2e12 s around 2000.
        let seconds = raw.isNaN ? 0 : min(max(raw, -210_000_000_000), 9_200_000_000_000)
        let whole = seconds.rounded(.down)
        let fraction = seconds - whole  // x - floor(x) is exact for every finite double
        return (Int64(whole) + Self.epochOffset) * 1_000_000 + Int64((fraction * 1_000_000).rounded())
    }

    init(microseconds: Int64) {
        let sinceReference = microseconds - Self.epochOffset * 1_000_000
        self.date = Date(timeIntervalSinceReferenceDate: Double(sinceReference) / 1_000_000)
    }

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer,
                                                   context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger(microseconds)
    }

    init<JSONDecoder: PostgresJSONDecoder>(from buffer: inout ByteBuffer, type: PostgresDataType,
                                           format: PostgresFormat, context: PostgresDecodingContext<JSONDecoder>) throws {
        guard format == .binary, type == .timestamptz || type == .timestamp, buffer.readableBytes == 8,
              let microseconds = buffer.readInteger(as: Int64.self)
        else { throw PostgresDecodingError.Code.typeMismatch }
        self.init(microseconds: microseconds)
    }
}

/// A one-dimensional array bind whose elements may be NULL, in PostgreSQL's binary array format.
///
/// PostgresNIO encodes `[T]` but not `[T?]`; batch statements need nullable
/// columns (`step_id`, `next_run_at`, …) passed as arrays to `unnest`, so this
/// writes the format itself: header, then each element as a length (-1 for NULL)
/// and its bytes.
struct SQLArray: PostgresDynamicTypeEncodable {
    let psqlType: PostgresDataType
    var psqlFormat: PostgresFormat { .binary }
    private let elementType: PostgresDataType
    private var count: Int32 = 0
    private var hasNulls = false
    private var elements = ByteBuffer()

    private init(elementType: PostgresDataType, arrayType: PostgresDataType) {
        self.elementType = elementType
        self.psqlType = arrayType
    }

    private mutating func append(_ value: (some PostgresNonThrowingEncodable)?) {
        count += 1
        guard let value else {
            hasNulls = true
            elements.writeInteger(-1, as: Int32.self)
            return
        }
        let lengthIndex = elements.writerIndex
        elements.writeInteger(0, as: Int32.self)
        let start = elements.writerIndex
        value.encode(into: &elements, context: .default)
        elements.setInteger(Int32(elements.writerIndex - start), at: lengthIndex)
    }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer,
                                                   context: PostgresEncodingContext<JSONEncoder>) {
        buffer.writeInteger(count == 0 ? 0 : 1, as: Int32.self)  // dimensions
        buffer.writeInteger(hasNulls ? 1 : 0, as: Int32.self)
        buffer.writeInteger(elementType.rawValue)
        guard count > 0 else { return }
        buffer.writeInteger(count)  // length of the one dimension
        buffer.writeInteger(1, as: Int32.self)  // its lower bound
        buffer.writeImmutableBuffer(elements)
    }

    static func uuids(_ values: some Sequence<UUID>) -> SQLArray {
        var array = SQLArray(elementType: .uuid, arrayType: .uuidArray)
        for value in values { array.append(value) }
        return array
    }

    static func texts(_ values: some Sequence<String?>) -> SQLArray {
        var array = SQLArray(elementType: .text, arrayType: .textArray)
        for value in values { array.append(value) }
        return array
    }

    static func int64s(_ values: some Sequence<Int64>) -> SQLArray {
        var array = SQLArray(elementType: .int8, arrayType: .int8Array)
        for value in values { array.append(value) }
        return array
    }

    static func timestamps(_ values: some Sequence<Date?>) -> SQLArray {
        var array = SQLArray(elementType: .timestamptz, arrayType: .timestamptzArray)
        for value in values { array.append(value.map(SQLTimestamp.init)) }
        return array
    }
}
