import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer definitions list|show|validate|register`
struct Definitions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show, validate and register sequence definitions.",
        subcommands: [ListDefinitions.self, Show.self, Validate.self, Register.self])

    struct ListDefinitions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every registered version.")
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            try await withStore(options) { store, _ in
                let versions = try await store.definitionVersions()
                if options.json {
                    Console.json(.array(versions.map {
                        ["name": .string($0.name), "version": .number(Double($0.version)), "steps": .number(Double($0.steps)),
                         "registeredAt": .string($0.registeredAt.iso)]
                    }))
                } else {
                    Console.table(["name", "version", "steps", "registered"],
                                  versions.map { [$0.name, String($0.version), String($0.steps), $0.registeredAt.iso] },
                                  empty: "no definitions registered: `sequencer definitions register FILE`")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a definition's JSON.")
        @OptionGroup var options: ConnectionOptions
        @Argument(help: "The sequence name.") var name: String
        @Option(help: "A version (default: the latest).") var version: Int?

        func run() async throws {
            try await withStore(options) { _, sequencer in
                let definition = try await sequencer.definition(name, version: version)
                Console.print(try JSONValue(encoding: definition).prettyJSON)
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a definition file with the built-in runners; register nothing, need no database.")
        @Argument(help: "A definition's JSON file.") var file: String
        @Option(name: .customLong("runner"), help: "A custom runner name to accept (repeatable).") var runners: [String] = []

        func run() async throws {
            do {
                let definition = try SequenceDefinition(contentsOf: URL(fileURLWithPath: file))
                let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + runners.map(NamedRunner.init))
                try await sequencer.register(definition)
                Console.print("\(file): \(definition.name) v\(definition.version), \(definition.steps.count) steps: valid")
            } catch let error as SequencerError {
                Console.error(Self.explain(error))
                throw ExitCode(4)
            }
        }
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate and store a definition file (an equal version again is a no-op).")
        @OptionGroup var options: ConnectionOptions
        @Argument(help: "A definition's JSON file.") var file: String
        @Option(name: .customLong("runner"), help: "A custom runner name the hosts provide (repeatable).")
        var runners: [String] = []

        func run() async throws {
            try await withStore(options) { store, _ in
                let definition = try SequenceDefinition(contentsOf: URL(fileURLWithPath: file))
                let sequencer = Sequencer(store: store, runners: .builtIn + runners.map(NamedRunner.init))
                try await sequencer.register(definition)
                Console.print("registered \(definition.name) v\(definition.version) (\(definition.steps.count) steps)")
            }
        }
    }
}

/// A runner known only by name: lets the command line validate and register definitions that use
/// the host's own runners. It never runs (the CLI's ticks leave such steps to the host).
struct NamedRunner: TaskRunner {
    let name: String
    init(_ name: String) { self.name = name }
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        batch.map { $0.result(.noop(until: nil)) }
    }
}
