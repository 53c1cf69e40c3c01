import Foundation
import Logging
import Synchronization
@testable import Sequencer
import SequencerTesting

/// A runner that records every batch it gets and answers with a fixed action per subject (default `.next`).
final class RecordingRunner: TaskRunner {
    let name: String
    private let state = Mutex<(batches: [[RunnerInput]], actions: [String: RunnerAction])>(([], [:]))

    init(name: String = "Record", actions: [String: RunnerAction] = [:]) {
        self.name = name
        state.withLock { $0.actions = actions }
    }

    var batches: [[RunnerInput]] { state.withLock { $0.batches } }

    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        let actions = state.withLock { s in
            s.batches.append(batch)
            return s.actions
        }
        return batch.map { $0.result(actions[$0.subject] ?? .next, message: "recorded") }
    }
}

/// A runner that throws on every call.
struct ThrowingRunner: TaskRunner {
    struct Boom: Error, CustomStringConvertible { var description: String { "provider unavailable" } }
    let name = "Throw"
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { throw Boom() }
}

func makeSequencer(_ extra: [any TaskRunner] = [], store: any SequenceStore = InMemoryStore(),
                   configure: (inout Sequencer.Configuration) -> Void = { _ in }) -> Sequencer
{
    var configuration = Sequencer.Configuration()
    configuration.retry.jitter = 0
    configure(&configuration)
    var logger = Logger(label: "sequencer-tests")
    logger.logLevel = .warning
    return Sequencer(store: store, runners: .builtIn + extra, configuration: configuration, logger: logger)
}

extension Sequencer {
    /// The step path an enrollment took, from its history.
    func path(of id: UUID) async throws -> [String] {
        var path: [String] = []
        for event in try await history(of: id) {
            switch event.kind {
            case .enrolled: path.append(event.toStep ?? "?")
            case .advanced, .altAdvanced, .goalReached: path.append(event.toStep ?? "?")
            default: break
            }
        }
        return path
    }
}
