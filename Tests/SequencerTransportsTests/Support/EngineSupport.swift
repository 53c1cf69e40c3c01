import Foundation
import Logging
import Sequencer
import SequencerTesting
import Synchronization
import Testing

/// A sequencer on `store` with the built-in runners plus `runners`; no retry jitter.
func makeSequencer(store: any SequenceStore = InMemoryStore(), _ runners: [any TaskRunner]) -> Sequencer {
    var configuration = Sequencer.Configuration()
    configuration.retry.jitter = 0
    var logger = Logger(label: "sequencer-transport-tests")
    logger.logLevel = .warning
    return Sequencer(store: store, runners: .builtIn + runners, configuration: configuration, logger: logger)
}

extension Sequencer {
    /// The messages of an enrollment's history events of one kind.
    func messages(of id: UUID, _ kind: HistoryEvent.Kind) async throws -> [String] {
        try await history(of: id).filter { $0.kind == kind }.map { $0.message ?? "" }
    }
}

/// An `InMemoryStore` whose next commit can be made to fail, as if the process died between the
/// runners' side effects and the commit of their outcomes.
final class CrashingStore: ForwardingStore {
    struct SimulatedCrash: Error, CustomStringConvertible {
        var description: String { "simulated crash before commit" }
    }

    let inner: any SequenceStore = InMemoryStore()
    private let failNextCommit = Mutex(false)

    /// Makes the next `commit` throw without writing anything.
    func crashAtNextCommit() { failNextCommit.withLock { $0 = true } }

    func commit(_ batch: CommitRequest) async throws -> CommitResult {
        if failNextCommit.withLock({ flag in defer { flag = false }; return flag }) { throw SimulatedCrash() }
        return try await inner.commit(batch)
    }

}

/// A ledger that forgets to record sends: as if the process died right after the provider
/// accepted the message and before `markSent` was written.
final class ForgetfulLedger: ForwardingLedger {
    let inner: any DeliveryLedger = InMemoryDeliveryLedger()
    private let forget = Mutex(false)

    func forgetNextSends() { forget.withLock { $0 = true } }

    func markSent(_ sent: [DeliveryKey: String?], now: Date) async throws {
        if forget.withLock({ flag in defer { flag = false }; return flag }) { throw CrashingStore.SimulatedCrash() }
        try await inner.markSent(sent, now: now)
    }
}

/// A transport that records what it is handed and answers with fixed outcomes (default: sent).
final class RecordingTransport: EmailTransport, SMSTransport {
    private let state = Mutex<(emails: [[EmailMessage]], texts: [[SMSMessage]])>(([], []))
    let outcome: @Sendable (String) -> DeliveryOutcome

    init(outcome: @escaping @Sendable (String) -> DeliveryOutcome = { .sent(providerID: "id-" + $0) }) {
        self.outcome = outcome
    }

    var emailBatches: [[EmailMessage]] { state.withLock { $0.emails } }
    var textBatches: [[SMSMessage]] { state.withLock { $0.texts } }

    func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
        state.withLock { $0.emails.append(messages) }
        return messages.map { outcome($0.to[0].address) }
    }

    func send(_ messages: [SMSMessage]) async throws -> [DeliveryOutcome] {
        state.withLock { $0.texts.append(messages) }
        return messages.map { outcome($0.to.e164) }
    }
}
