public import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    /// Stores a definition unless an equal one is stored; see ``Sequencer/SequenceStore/saveDefinition(_:)``.
    ///
    /// Runs in a transaction holding an advisory lock on the sequence name, so two
    /// processes registering versions of one sequence at once cannot both pass the version check.
    public func saveDefinition(_ definition: SequenceDefinition) async throws -> Bool {
        let body = String(decoding: try definition.jsonData(), as: UTF8.self)
        let name = definition.name
        let lockKey = "sequencer.definition:\(configuration.schema):\(name)"
        return try await withStoreErrors("save definition '\(name)' v\(definition.version)") {
            try await withTransaction { [self] connection in
                try await connection.query("SELECT pg_advisory_xact_lock(hashtextextended(\(lockKey), 0))", logger: logger)
                let rows = try await connection.query("""
                    SELECT (SELECT body FROM \(unescaped: tables.definitions) WHERE name = \(name) AND version = \(definition.version)),
                           (SELECT max(version) FROM \(unescaped: tables.definitions) WHERE name = \(name))
                    """, logger: logger).collect()
                let (existingBody, latest) = try rows[0].decode((String?, Int?).self)
                let existing = try existingBody.map { try SequenceDefinition(json: $0) }
                guard try DefinitionVersioning.check(definition, existing: existing, latestVersion: latest) else { return false }
                try await connection.query("""
                    INSERT INTO \(unescaped: tables.definitions) (name, version, body)
                    VALUES (\(name), \(definition.version), \(body)::jsonb)
                    """, logger: logger)
                logger.debug("stored definition", metadata: ["sequencer.sequence": "\(name)", "sequencer.version": "\(definition.version)"])
                return true
            }
        }
    }

    /// The stored definition with this name and version; the greatest version when `version` is `nil`.
    public func definition(named name: String, version: Int?) async throws -> SequenceDefinition? {
        try await withStoreErrors("read definition '\(name)'") {
            try await withConnection { [self] connection in
                try await definition(named: name, version: version, on: connection)
            }
        }
    }

    /// ``definition(named:version:)`` on a connection (inside whatever transaction it holds).
    func definition(named name: String, version: Int?, on connection: PostgresConnection) async throws
        -> SequenceDefinition?
    {
        let query: PostgresQuery =
            if let version {
                "SELECT body FROM \(unescaped: tables.definitions) WHERE name = \(name) AND version = \(version)"
            } else {
                "SELECT body FROM \(unescaped: tables.definitions) WHERE name = \(name) ORDER BY version DESC LIMIT 1"
            }
        let rows = try await connection.query(query, logger: logger).collect()
        return try rows.first.map { try SequenceDefinition(json: $0.decode(String.self)) }
    }
}

extension PostgresStore {
    /// Every registered definition version, by name then version: one statement over the
    /// `definitions` table (see ``Sequencer/SequenceStore/definitionVersions()``).
    public func definitionVersions() async throws -> [DefinitionVersion] {
        try await withStoreErrors("list definitions") {
            var versions: [DefinitionVersion] = []
            for (name, version, steps, at) in try await queryRows("""
                SELECT name, version, jsonb_array_length(body -> 'steps'), created_at
                FROM \(unescaped: tables.definitions) ORDER BY name, version
                """).decodeEach((String, Int, Int, Date).self) {
                versions.append(DefinitionVersion(name: name, version: version, steps: steps, registeredAt: at))
            }
            return versions
        }
    }
}
