extension PostgresStore {
    /// Fully qualified, quoted table names (the schema is validated, so quoting is plain).
    struct Tables: Sendable {
        let schema: String
        let definitions: String
        let enrollments: String
        let events: String
        let deliveries: String
        let migrations: String
        let funnelCounters: String
        let funnelDeltas: String
        let schedules: String
        let secrets: String
        /// The `LISTEN`/`NOTIFY` channel on which statements that make an enrollment due now tell
        /// running services: `<schema>_due`, cut to PostgreSQL's 63-byte identifiers.
        let channel: String

        init(schema: String) {
            channel = String(schema.prefix(59)) + "_due"
            self.schema = "\"\(schema)\""
            definitions = "\"\(schema)\".definitions"
            enrollments = "\"\(schema)\".enrollments"
            events = "\"\(schema)\".events"
            deliveries = "\"\(schema)\".deliveries"
            migrations = "\"\(schema)\".schema_migrations"
            funnelCounters = "\"\(schema)\".funnel_counters"
            funnelDeltas = "\"\(schema)\".funnel_deltas"
            schedules = "\"\(schema)\".schedules"
            secrets = "\"\(schema)\".secrets"
        }
    }
}
