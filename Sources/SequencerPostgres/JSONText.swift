import Sequencer

/// JSON text for `jsonb` columns, through the package's one JSON reader and writer.
///
/// Every claimed enrollment carries its context, so a claim of 500 rows parses 500
/// documents; the core's reader does that without Foundation (`JSONDecoder` costs ~20 µs
/// even for `{}`). Written objects are not sorted: `jsonb` orders members itself.
enum JSONText {
    /// Parses a JSON document read from the database.
    static func parse(_ text: String) throws -> JSONValue {
        do {
            return try JSONReader.parse(text)
        } catch {
            throw SequencerError(.storeFailure, "a stored JSON value does not parse: \(error.message)",
                                 line: error.line, column: error.column)
        }
    }

    /// Writes compact JSON, members unsorted.
    static func write(_ value: JSONValue) -> String {
        JSONWriter(sortedKeys: false).write(value)
    }
}
