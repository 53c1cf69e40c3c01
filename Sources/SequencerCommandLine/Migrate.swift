import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer migrate [--status]`
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the schema (safe to run again), or show where it stands.")

    @OptionGroup var options: ConnectionOptions

    @Flag(help: "Show applied and pending migrations; change nothing.")
    var status = false

    func run() async throws {
        try await withStore(options) { store, _ in
            if !status {
                let before = try await store.migrationStatus()
                try await store.migrate()
                let applied = before.pending.map { String(format: "%04d_%@", $0.version, $0.name) }
                if options.json {
                    Console.json(["schema": .string(options.schema), "applied": .array(applied.map(JSONValue.string)),
                                  "version": .number(Double(PostgresStore.schemaVersion))])
                } else {
                    Console.print(applied.isEmpty
                        ? "schema \(options.schema) is up to date (version \(PostgresStore.schemaVersion))"
                        : "schema \(options.schema): applied \(applied.joined(separator: ", "))")
                }
                return
            }
            let state = try await store.migrationStatus()
            if options.json {
                Console.json([
                    "schema": .string(options.schema), "exists": .bool(state.schemaExists),
                    "applied": .array(state.applied.map { ["version": .number(Double($0.version)), "name": .string($0.name),
                                                            "appliedAt": .string($0.appliedAt.iso)] }),
                    "pending": .array(state.pending.map { ["version": .number(Double($0.version)), "name": .string($0.name)] }),
                ])
                return
            }
            Console.table(["version", "name", "applied"],
                          state.applied.map { [String($0.version), $0.name, $0.appliedAt.iso] }
                              + state.pending.map { [String($0.version), $0.name, "pending"] })
            if !state.pending.isEmpty { Console.note("run `sequencer migrate` to apply the pending migrations") }
        }
    }
}
