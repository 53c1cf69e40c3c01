import ArgumentParser
import Foundation
import Sequencer

/// What `cancel`, `pause`, `resume` and `retry` share: one id, or every enrollment a filter
/// matches after showing the count and asking (unless `--yes`).
struct ActionOptions: ParsableArguments {
    @Argument(help: "One enrollment id (or use filters).") var id: String?
    @OptionGroup var filters: FilterOptions
    @Flag(name: .shortAndLong, help: "Do not ask for confirmation.") var yes = false
    @Option(name: .customLong("by"), help: "Who is acting, for the history (default: $USER).") var actor: String?

    func validate() throws {
        guard (id == nil) != filters.isEmpty else {
            throw ValidationError("give one enrollment id or filters (--sequence, --status, …), not both or neither")
        }
    }

    var who: String { actor ?? ProcessInfo.processInfo.environment["USER"] ?? "sequencer-cli" }
}

extension AsyncParsableCommand {
    func perform(_ action: BulkAction, _ actions: ActionOptions, _ options: ConnectionOptions) async throws {
        try await withStore(options) { _, sequencer in
            if let id = actions.id {
                guard let uuid = UUID(uuidString: id) else {
                    throw CommandFailure.badInput("'\(id)' is not an enrollment id (a UUID); find ids with `sequencer list`")
                }
                let changed = try await sequencer.apply(action, to: uuid, by: actions.who)
                if options.json { Console.json(changed.json) } else { Console.print("\(uuid.uuidString.lowercased()): \(changed.status.rawValue)") }
                return
            }
            let filter = try actions.filters.filter()
            // Count what the action would change first.
            let count = try await sequencer.count(action, matching: filter)
            let matching = count.matching, applicable = count.applicable
            guard applicable > 0 else {
                if options.json {
                    Console.json(["action": .string(action.rawValue), "matched": .number(Double(matching)), "changed": 0, "skipped": 0])
                } else {
                    Console.print(matching == 0 ? "no enrollments match" : "\(matching) match, none can be \(action.pastTense)")
                }
                return
            }
            if !actions.yes {
                guard Console.confirm("\(action.rawValue) \(applicable) enrollments (of \(matching) matching)?") else {
                    throw CommandFailure(message: "not confirmed; nothing changed (pass --yes to skip the question)", code: 6)
                }
            }
            let result = try await sequencer.apply(action, toEnrollmentsMatching: filter, by: actions.who)
            if options.json {
                Console.json(["action": .string(action.rawValue), "matched": .number(Double(matching)),
                              "changed": .number(Double(result.changed)), "skipped": .number(Double(result.skipped))])
            } else {
                Console.print("\(action.pastTense) \(result.changed) enrollments (\(result.skipped) skipped)")
            }
        }
    }
}

extension BulkAction {
    var pastTense: String {
        switch self {
        case .cancel: "cancelled"
        case .pause: "paused"
        case .resume: "resumed"
        case .retry: "retried"
        }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel an enrollment, or every one a filter matches.")
    @OptionGroup var options: ConnectionOptions
    @OptionGroup var actions: ActionOptions
    func run() async throws { try await perform(.cancel, actions, options) }
}

struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pause an active enrollment, or every one a filter matches.")
    @OptionGroup var options: ConnectionOptions
    @OptionGroup var actions: ActionOptions
    func run() async throws { try await perform(.pause, actions, options) }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a paused enrollment, or every one a filter matches.")
    @OptionGroup var options: ConnectionOptions
    @OptionGroup var actions: ActionOptions
    func run() async throws { try await perform(.resume, actions, options) }
}

struct Retry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Retry a failed enrollment from its failed step, or every failed one a filter matches.")
    @OptionGroup var options: ConnectionOptions
    @OptionGroup var actions: ActionOptions
    func run() async throws { try await perform(.retry, actions, options) }
}
