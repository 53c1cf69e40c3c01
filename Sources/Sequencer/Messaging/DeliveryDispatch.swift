import Foundation
import Logging

/// The send path ``EmailRunner`` and ``SMSRunner`` share: reserve in the ledger, send what was
/// reserved, record each outcome as it comes, and turn outcomes into step actions.
struct DeliveryDispatch: Sendable {
    let channel: String
    let ledger: any DeliveryLedger
    let staleAfter: Duration
    /// The runner's cap on sends per subject (``FrequencyCap``), or `nil`.
    let frequencyCap: FrequencyCap?
    let logger: Logger

    /// Runs the batch; one result per input, in order. `build` makes an input's message from its
    /// rendered config; a config error fails that input's step alone. `send` hands the messages
    /// to the transport, which reports outcomes in groups as they come: a group's accepted
    /// messages are recorded in the ledger (one write) before the transport goes on, so a crash
    /// repeats at most the messages in flight. Throws only when the ledger cannot reserve, before anything is sent (the engine
    /// then retries the batch).
    func run<Message: Sendable>(
        _ batch: [RunnerInput],
        build: (RunnerInput) throws(SequencerError) -> Message,
        send: ([Message], ([(index: Int, outcome: DeliveryOutcome)]) async -> Void) async throws -> Void,
        describe: (Message) -> String
    ) async throws -> [RunnerResult] {
        var results: [UUID: RunnerResult] = [:]
        var candidates: [(input: RunnerInput, key: DeliveryKey, message: Message)] = []
        var requests: [DeliveryRequest] = []
        var skipOverCap = Set<UUID>()
        for input in batch {
            do throws(SequencerError) {
                let message = try build(input)
                var limits: [SendLimit] = []
                if let frequencyCap {
                    let policy = try FrequencyCapPolicy.read(input.config, site: ConfigReader.Site(input))
                    if policy != .ignore { limits = frequencyCap.limits(at: input.now, in: input.timeZone) }
                    if policy == .skip { skipOverCap.insert(input.id) }
                }
                candidates.append((input, input.visitKey, message))
                requests.append(DeliveryRequest(key: input.visitKey, subject: input.subject, limits: limits))
            } catch {
                results[input.id] = input.result(.fail(error.description))
            }
        }
        // Reservations are recorded at the tick's clock now (`RunnerInput.currentTime`), so their
        // in-flight timeout counts from when they are made, however long the tick has run.
        guard let now = candidates.first?.input.currentTime else { return batch.map { results[$0.id]! } }

        // A reservation older than the in-flight timeout may be taken over by a ticker that claimed
        // the enrollment meanwhile (this one's lease ran out while it waited out a database outage,
        // say), which then sends. Reservations are recorded at `now`, as they are asked for; so no
        // message is handed over later than nine tenths of the timeout after that: none on
        // reservations the ledger answered that late, none by the transport (`DeliveryDeadline`).
        // What is not handed over keeps its reservation, and whoever runs the visit once it is
        // stale sends, alone.
        let clock = ContinuousClock()
        let asked = clock.now
        let deadline = asked + staleAfter * 0.9
        let stale = now.addingTimeInterval(staleAfter.timeInterval)
        let reservations = try await ledger.reserve(requests, channel: channel, now: now, staleAfter: staleAfter)
        let answeredAfter = clock.now - asked
        let answeredTooLate = clock.now >= deadline
        var toSend: [(input: RunnerInput, key: DeliveryKey, message: Message)] = []
        // Not sent in this visit's run: the reservation stays as it is, and the step looks again
        // once it is stale.
        var keptReserved: [DeliveryKey] = []
        func keepReserved(_ input: RunnerInput, _ key: DeliveryKey, because reason: String) {
            keptReserved.append(key)
            results[input.id] = input.result(
                .noop(until: stale), message: "\(reason) (another ticker may take it over); looking again at \(ConfigReader.format(stale))")
        }
        for candidate in candidates {
            let input = candidate.input
            switch reservations[candidate.key] {
            case .send? where answeredTooLate:
                keepReserved(input, candidate.key, because: "reserved but not sent: the ledger took \(Self.seconds(answeredAfter)) "
                                 + "to answer, too near the reservation's in-flight timeout")
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
            case .limited(let until, let limit)?:
                let cap = "frequency cap: \(channel) to this subject at most \(limit.maximum) a \(limit.period) "
                    + "(\(input.timeZone.identifier)), reached"
                if skipOverCap.contains(input.id) {
                    results[input.id] = input.result(.next, message: "not sent: \(cap) (frequencyCap: skip)")
                } else {
                    results[input.id] = input.result(
                        .noop(until: until), message: "\(cap); waits until \(ConfigReader.format(until))")
                }
            case nil:
                results[input.id] = input.result(.retry("the delivery ledger returned no reservation for \(candidate.key)"))
            }
        }

        if !toSend.isEmpty {
            var failed: [DeliveryKey: String] = [:]
            var reported = [Bool](repeating: false, count: toSend.count)
            let descriptions = toSend.map { describe($0.message) }
            func record(_ group: [(index: Int, outcome: DeliveryOutcome)]) async {
                var sent: [DeliveryKey: String?] = [:]
                // Past the deadline the reservations may be another ticker's: a failure leaves them
                // as they are (a failed mark would free a key that ticker is sending on).
                let pastDeadline = clock.now >= deadline
                for (index, outcome) in group {
                    guard toSend.indices.contains(index), !reported[index] else { continue }
                    reported[index] = true
                    let (input, key, _) = toSend[index]
                    switch outcome {
                    case .sent(let providerID):
                        results[input.id] = input.result(.next, message: "sent \(descriptions[index])\(Self.idSuffix(providerID))")
                        sent[key] = providerID
                    case .permanentFailure(let reason):
                        if !pastDeadline { failed[key] = reason }
                        results[input.id] = input.result(.fail("\(channel) rejected: \(reason)"))
                    case .temporaryFailure(let reason) where pastDeadline:
                        keepReserved(input, key, because: "\(channel) not sent: \(reason); past the batch's delivery "
                                         + "deadline its reservation is left to go stale")
                    case .temporaryFailure(let reason):
                        failed[key] = reason
                        results[input.id] = input.result(.retry("\(channel) not sent: \(reason)"))
                    }
                    logger.debug("delivery", metadata: ["sequencer.delivery": "\(key)", "sequencer.outcome": "\(outcome)"])
                }
                guard !sent.isEmpty else { return }
                // Recorded before the transport hands over another message on these connections,
                // so a crash can repeat at most the ones in flight. The messages are out: a ledger
                // error must not turn into a retry of the step, which would send them again.
                do { try await ledger.markSent(sent, now: now) } catch {
                    logger.warning("could not record sent deliveries", metadata: [
                        "sequencer.channel": "\(channel)", "sequencer.count": "\(sent.count)",
                        "sequencer.deliveries": "\(sent.keys.map(\.description).sorted().joined(separator: " "))",
                        "sequencer.error": "\(error)",
                    ])
                }
            }
            var stopped: String?
            do {
                let messages = toSend.map(\.message)
                try await DeliveryDeadline.$current.withValue(deadline) { try await send(messages, record) }
            } catch {
                stopped = "\(error)"
            }
            let unreported = toSend.indices.filter { !reported[$0] }
            if !unreported.isEmpty {
                let reason = stopped ?? "the transport reported no outcome for this message"
                await record(unreported.map { ($0, .temporaryFailure(reason)) })
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
        if !keptReserved.isEmpty {
            logger.warning("reserved deliveries not sent: too near their in-flight timeout; they are sent once stale", metadata: [
                "sequencer.channel": "\(channel)", "sequencer.count": "\(keptReserved.count)",
                "sequencer.elapsed": "\(Self.seconds(clock.now - asked))",
                "sequencer.deliveries": "\(keptReserved.map(\.description).sorted().joined(separator: " "))",
            ])
        }
        return batch.map { results[$0.id] ?? $0.result(.retry("no outcome")) }
    }

    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f s", duration.timeInterval)
    }

    private static func idSuffix(_ providerID: String?) -> String {
        providerID.map { " (id \($0))" } ?? ""
    }
}
