extension PostgresStore {
    /// Fully qualified, quoted table names (the schema is validated, so quoting is plain).
    struct Tables: Sendable {
        let schema: String
        let definitions: String
        let enrollments: String
        let events: String
        let deliveries: String
        let migrations: String

        init(schema: String) {
            self.schema = "\"\(schema)\""
            definitions = "\"\(schema)\".definitions"
            enrollments = "\"\(schema)\".enrollments"
            events = "\"\(schema)\".events"
            deliveries = "\"\(schema)\".deliveries"
            migrations = "\"\(schema)\".schema_migrations"
        }
    }
}
