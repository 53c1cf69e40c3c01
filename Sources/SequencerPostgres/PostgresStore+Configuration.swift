public import Sequencer

extension PostgresStore {
    /// Where the store keeps its tables and how it writes them. Every field has a default.
    public struct Configuration: Sendable {
        /// The schema holding Sequencer's tables. Default `sequencer`.
        ///
        /// Must match `^[a-z_][a-z0-9_]{0,62}$` and not start with `pg_`; it is
        /// validated when the store is created and always used quoted. Give each
        /// environment (or each test) its own schema to keep them apart in one database.
        public var schema: String = "sequencer"

        /// Enrollments written per statement when enrolling many subjects in one call; each batch
        /// is atomic. Default 5,000.
        public var enrollBatchSize: Int = 5_000

        /// Enroll calls of at least this many enrollments write each batch that nothing can
        /// conflict with (no idempotency key, no sequence with one enrollment per subject) with
        /// `COPY … FROM STDIN`, in a transaction of its own; other batches, smaller calls and
        /// enrolls inside a host's transaction bind each batch as arrays to one
        /// `INSERT … SELECT FROM unnest(…)`. Default 1,000; `Int.max` never uses `COPY`.
        public var enrollCopyThreshold: Int = 1_000

        /// The defaults.
        public init() {}

        /// The defaults, in the given schema.
        public init(schema: String) {
            self.schema = schema
        }
    }

    /// Checks a schema name against `^[a-z_][a-z0-9_]{0,62}$` (and rejects the reserved `pg_` prefix).
    ///
    /// - Throws: ``Sequencer/SequencerError/Code/invalidIdentifier`` with field `schema`.
    public static func validate(schema: String) throws {
        let bytes = Array(schema.utf8)
        func isLetter(_ b: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || b == UInt8(ascii: "_") }
        func isDigit(_ b: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
        let valid = (1...63).contains(bytes.count) && isLetter(bytes[0]) && bytes.allSatisfy { isLetter($0) || isDigit($0) }
        guard valid, !schema.hasPrefix("pg_") else {
            throw SequencerError(
                .invalidIdentifier,
                "schema name '\(schema)' must match ^[a-z_][a-z0-9_]{0,62}$ and not start with pg_",
                field: "schema")
        }
    }
}
