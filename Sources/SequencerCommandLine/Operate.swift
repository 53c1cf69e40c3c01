import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres
import ServiceLifecycle
import UnixSignals
import Logging

/// `sequencer migrate-enrollments SEQUENCE --from 1 --to 2 --map old=new`
struct MigrateEnrollments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-enrollments",
        abstract: "Move active and paused enrollments of one version to another, through a step map.")

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The sequence name.") var sequence: String
    @Option(help: "The version they are on.") var from: Int
    @Option(help: "The version to move them to.") var to: Int
    @Option(name: .customLong("map"), help: "old-step=new-step (repeatable); unmapped steps keep their id.")
    var mappings: [String] = []
    @Flag(name: .shortAndLong, help: "Do not ask for confirmation.") var yes = false

    func run() async throws {
        try await withStore(options) { _, sequencer in
            var stepMap: [String: String] = [:]
            for mapping in mappings {
                let parts = mapping.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw CommandFailure.badInput("--map '\(mapping)' is not old-step=new-step")
                }
                stepMap[parts[0]] = parts[1]
            }
            let counts = try await sequencer.stepCounts(sequence: sequence, version: from)
            let moving = counts.filter { $0.status == .active || $0.status == .paused }.map(\.count).reduce(0, +)
            if moving > 0 && !yes {
                guard Console.confirm("move \(moving) enrollments of \(sequence) from version \(from) to \(to)?") else {
                    throw CommandFailure(message: "not confirmed; nothing changed (pass --yes to skip the question)", code: 6)
                }
            }
            let result = try await sequencer.migrateEnrollments(
                of: sequence, from: from, to: to, stepMap: stepMap,
                by: ProcessInfo.processInfo.environment["USER"] ?? "sequencer-cli")
            if options.json {
                Console.json(["migrated": .number(Double(result.changed)), "skipped": .number(Double(result.skipped))])
            } else {
                Console.print("migrated \(result.changed) enrollments of \(sequence) from version \(from) to \(to)"
                              + (result.skipped > 0 ? " (\(result.skipped) changed meanwhile and were skipped)" : ""))
            }
        }
    }
}

/// The runners this command line can run: the built-in ones without transports. A store whose
/// definitions use others (Email, SMS, the host's own) must be ticked by the host's service.
func checkRunnable(_ store: PostgresStore, _ sequencer: Sequencer) async throws {
    let known = Set([any TaskRunner].builtIn.map(\.name))
    for version in try await store.definitionVersions() {
        let definition = try await sequencer.definition(version.name, version: version.version)
        if let step = definition.steps.first(where: { !known.contains($0.runner) }) {
            throw CommandFailure.badInput(
                "\(version.name) v\(version.version) step '\(step.id)' uses the runner '\(step.runner)', which this command "
                + "line does not have; tick this schema from your service (SequencerService), which has your runners and transports")
        }
    }
}

/// `sequencer tick --once`
struct Tick: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one tick now (schemas whose sequences use only the built-in runners).")
    @OptionGroup var options: ConnectionOptions
    @Flag(help: "One tick (the default, and the only mode: use `run` to keep ticking).") var once = false

    func run() async throws {
        try await withStore(options) { store, sequencer in
            try await checkRunnable(store, sequencer)
            let report = try await sequencer.tick()
            if options.json {
                Console.json(try JSONValue(encoding: [
                    "claimed": report.claimed, "steps": report.steps, "completed": report.completed, "failed": report.failed,
                    "waiting": report.waiting, "retried": report.retried, "fencedOut": report.fencedOut,
                ]))
            } else {
                Console.print("claimed \(report.claimed), steps \(report.steps), completed \(report.completed), "
                              + "failed \(report.failed), waiting \(report.waiting), retried \(report.retried)")
            }
        }
    }
}

/// `sequencer run`
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the service (ticks, wake-ups, retention) until interrupted (built-in runners only).")
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        try await withStore(options) { store, sequencer in
            try await checkRunnable(store, sequencer)
            let service = SequencerService(sequencer)
            Console.note("running; Ctrl-C stops")
            let events = service.events()
            // SIGINT or SIGTERM: a graceful shutdown (the batch in flight commits, the rest is released).
            let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigint, .sigterm],
                                     logger: Logger(label: "sequencer.run"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    for await event in events {
                        if case .ticked(let report) = event, report.claimed > 0 {
                            Console.print("claimed \(report.claimed), steps \(report.steps), completed \(report.completed)")
                        }
                    }
                }
                try await group.run()
                tasks.cancelAll()
            }
        }
    }
}

/// `sequencer prune [--dry-run]`
struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete finished enrollments past retention, with their history and deliveries (see README).")
    @OptionGroup var options: ConnectionOptions
    @Flag(name: .customLong("dry-run"), help: "Count what would be deleted; delete nothing.") var dryRun = false
    @Option(help: "Days to keep completed enrollments (0 or more; 'forever' keeps them).") var completed = "30"
    @Option(help: "Days to keep cancelled enrollments.") var cancelled = "30"
    @Option(help: "Days to keep failed enrollments.") var failed = "30"

    func run() async throws {
        try await withStore(options) { _, sequencer in
            var policy = RetentionPolicy()
            policy.completed = try Self.keep(completed, "--completed")
            policy.cancelled = try Self.keep(cancelled, "--cancelled")
            policy.failed = try Self.keep(failed, "--failed")
            let report = try await sequencer.prune(policy, dryRun: dryRun)
            if options.json {
                Console.json(try JSONValue(encoding: [
                    "enrollments": report.enrollments, "events": report.events, "deliveries": report.deliveries,
                ]).merging(["dryRun": .bool(dryRun), "skipped": .bool(report.skipped)]))
            } else {
                Console.print("\(report)")
            }
        }
    }

    static func keep(_ text: String, _ option: String) throws -> RetentionPolicy.Keep {
        if text == "forever" { return .forever }
        guard let days = Int(text), days >= 0, days <= 100_000 else {
            throw CommandFailure.badInput("\(option) '\(text)' is not a number of days or 'forever'")
        }
        return .days(days)
    }
}
