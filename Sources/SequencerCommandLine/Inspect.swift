import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer inspect ID`
struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One enrollment: state, context, next run and history.")

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The enrollment id.") var id: String
    @Option(help: "History events to show (the oldest first).") var events = 200

    func run() async throws {
        guard let uuid = UUID(uuidString: id) else {
            Console.error("'\(id)' is not an enrollment id (a UUID); find ids with `sequencer list`")
            throw ExitCode(4)
        }
        try await withStore(options) { _, sequencer in
            let enrollment = try await sequencer.enrollment(uuid)
            let history = try await sequencer.history(of: uuid, after: nil, limit: events)
            if options.json {
                guard case .object(var object) = enrollment.json else { return }
                object["history"] = .array(history.events.map(\.json))
                Console.json(.object(object))
                return
            }
            let e = enrollment
            Console.table(["field", "value"], [
                ["id", e.id.uuidString.lowercased()], ["sequence", "\(e.sequenceName) v\(e.sequenceVersion)"],
                ["subject", e.subject], ["status", e.status.rawValue], ["step", e.stepID ?? "-"],
                ["visit", String(e.visit)], ["attempts", String(e.attempts)], ["next run", e.nextRunAt?.iso ?? "-"],
                ["step entered", e.stepEnteredAt.iso], ["last error", e.lastError ?? "-"],
                ["idempotency key", e.idempotencyKey ?? "-"], ["created", e.createdAt.iso], ["updated", e.updatedAt.iso],
            ])
            Console.print("\ncontext:")
            Console.print(e.context.prettyJSON)
            Console.print("\nhistory:")
            Console.table(["at", "event", "from", "to", "visit", "message"], history.events.map {
                [$0.at.iso, $0.kind.rawValue, $0.fromStep ?? "-", $0.toStep ?? "-", String($0.visit), $0.message ?? ""]
            })
            if history.next != nil { Console.note("(more history: --events \(events * 2))") }
        }
    }
}
