import Foundation
import Logging

/// The send path ``EmailRunner`` and ``SMSRunner`` share: reserve in the ledger, send what was
/// reserved, record the outcome, and turn outcomes into step actions.
struct DeliveryDispatch: Sendable {
    let channel: String
    let ledger: any DeliveryLedger
    let staleAfter: Duration
    let logger: Logger

    /// Runs the batch; one result per input, in order. `build` makes an input's message from its
    /// rendered config; a config error fails that input's step alone. Throws only when the ledger
    /// cannot reserve, before anything is sent (the engine then retries the batch).
    func run<Message: Sendable>(
        _ batch: [RunnerInput],
        build: (RunnerInput) throws(SequencerError) -> Message,
        send: ([Message]) async throws -> [DeliveryOutcome],
        describe: (Message) -> String
    ) async throws -> [RunnerResult] {
        var results: [UUID: RunnerResult] = [:]
        var candidates: [(input: RunnerInput, key: DeliveryKey, message: Message)] = []
        for input in batch {
            do throws(SequencerError) {
                candidates.append((input, input.visitKey, try build(input)))
            } catch {
                results[input.id] = input.result(.fail(error.description))
            }
        }
        guard let now = candidates.first?.input.now else { return batch.map { results[$0.id]! } }

        let reservations = try await ledger.reserve(candidates.map(\.key), channel: channel, now: now,
                                                    staleAfter: staleAfter)
        var toSend: [(input: RunnerInput, key: DeliveryKey, message: Message)] = []
        for candidate in candidates {
            let input = candidate.input
            switch reservations[candidate.key] {
            case .send?:
                toSend.append(candidate)
            case .alreadySent(let providerID)?:
                results[input.id] = input.result(
                    .next, message: "already sent for this visit\(Self.idSuffix(providerID)); not sent again")
                logger.debug("skipped: already sent", metadata: ["sequencer.delivery": "\(candidate.key)"])
            case .inFlight(let since)?:
                let stale = since.addingTimeInterval(staleAfter.timeInterval)
                results[input.id] = input.result(
                    .noop(until: stale),
                    message: "a send of this visit started at \(ConfigReader.format(since)) has not reported back; "
                        + "looking again at \(ConfigReader.format(stale))")
            case nil:
                results[input.id] = input.result(.retry("the delivery ledger returned no reservation for \(candidate.key)"))
            }
        }

        if !toSend.isEmpty {
            var outcomes: [DeliveryOutcome]
            do {
                outcomes = try await send(toSend.map(\.message))
            } catch {
                outcomes = Array(repeating: .temporaryFailure("\(error)"), count: toSend.count)
            }
            if outcomes.count < toSend.count {
                outcomes += Array(repeating: .temporaryFailure("the transport returned no outcome for this message"),
                                  count: toSend.count - outcomes.count)
            }
            var sent: [DeliveryKey: String?] = [:]
            var failed: [DeliveryKey: String] = [:]
            for (candidate, outcome) in zip(toSend, outcomes) {
                let input = candidate.input
                switch outcome {
                case .sent(let providerID):
                    sent[candidate.key] = providerID
                    results[input.id] = input.result(
                        .next, message: "sent \(describe(candidate.message))\(Self.idSuffix(providerID))")
                case .permanentFailure(let reason):
                    failed[candidate.key] = reason
                    results[input.id] = input.result(.fail("\(channel) rejected: \(reason)"))
                case .temporaryFailure(let reason):
                    failed[candidate.key] = reason
                    results[input.id] = input.result(.retry("\(channel) not sent: \(reason)"))
                }
                logger.debug("delivery", metadata: [
                    "sequencer.delivery": "\(candidate.key)", "sequencer.outcome": "\(outcome)",
                ])
            }
            // The messages are out: a ledger error here must not turn into a retry of the batch,
            // which would send them again once the reservations go stale. The step moves on; only
            // a failed commit of this tick on top of it reopens the duplicate window.
            if !sent.isEmpty {
                do { try await ledger.markSent(sent, now: now) } catch {
                    logger.warning("could not record sent deliveries", metadata: [
                        "sequencer.channel": "\(channel)", "sequencer.count": "\(sent.count)",
                        "sequencer.error": "\(error)",
                    ])
                }
            }
            if !failed.isEmpty {
                do { try await ledger.markFailed(failed, now: now) } catch {
                    logger.warning("could not record failed deliveries", metadata: [
                        "sequencer.channel": "\(channel)", "sequencer.count": "\(failed.count)",
                        "sequencer.error": "\(error)",
                    ])
                }
            }
        }
        return batch.map { results[$0.id] ?? $0.result(.retry("no outcome")) }
    }

    private static func idSuffix(_ providerID: String?) -> String {
        providerID.map { " (id \($0))" } ?? ""
    }
}
