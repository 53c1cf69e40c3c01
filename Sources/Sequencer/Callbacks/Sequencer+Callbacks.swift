public import Foundation
import Crypto
import Logging
import Synchronization

extension Sequencer {
    /// Completes the callback a step waits for: the outside system's work succeeded or failed.
    ///
    /// The token is the one the step's runner handed out (``RunnerInput/callbackToken``). The
    /// outcome is recorded with the enrollment at once (a new fencing token, a `callbackCompleted`
    /// history event, due now); the next tick moves it: success to `next`, failure to `altNext`,
    /// or failing the enrollment when the step has none. A completion that arrives before the
    /// step's wait was even committed (a fast outside system) counts the same way.
    ///
    /// ```swift
    /// try await sequencer.complete(token: token, outcome: .success(["url": "https://example.com/build/42"]))
    /// ```
    ///
    /// Exactly one of a completion and the step's timeout wins: a completion recorded before the
    /// tick that would time the step out commits makes that tick's outcome stale (it is fenced
    /// out, and the next tick applies the completion); a completion after it is refused, because
    /// the enrollment has left the visit.
    ///
    /// - Parameter outcome: ``CallbackOutcome/success(_:)`` with an optional result, merged into
    ///   the context under the key the step's config names in `resultKey` (kept nowhere without
    ///   one), or ``CallbackOutcome/failure(_:)`` with a reason (at most 10,000 bytes, no NUL).
    /// - Returns: the enrollment as changed.
    /// - Throws: ``SequencerError/Code/unknownCallback`` for a token this store did not make
    ///   (mistyped, forged, or of another store); ``SequencerError/Code/invalidState`` when the
    ///   enrollment has left that visit (the step moved on, timed out, or the host moved it), is no
    ///   longer active or paused, or the callback was already completed: nothing changes then;
    ///   ``SequencerError/Code/outOfRange`` (field `reason`) for a reason that cannot be kept; the
    ///   context errors of ``updateContext(_:merging:now:within:)`` for a result that would not fit.
    @discardableResult
    public func complete(token: String, outcome: CallbackOutcome, now: Date = Date()) async throws -> Enrollment {
        let (id, visit) = try await callbackVisit(of: token)
        let report: EnrollmentChange.CallbackReport
        switch outcome {
        case .success(let result):
            report = .succeeded(result: result, resultKey: result == nil ? nil : try await resultKey(of: id, visit: visit))
        case .failure(let reason):
            guard reason.utf8.count <= 10_000, !reason.utf8.contains(0) else {
                throw SequencerError(.outOfRange, "a callback's failure reason is at most 10,000 bytes without NUL characters; got "
                                         + "\(reason.utf8.count) bytes starting '\(Limits.excerpt(reason))'", field: "reason")
            }
            report = .failed(reason: reason.isEmpty ? "no reason given" : reason)
        }
        let changed = try await store.change(id, callbackChange(visit, report), now: now)
        observability.count("sequencer_callbacks_total", 1, [("outcome", outcome.isSuccess ? "succeeded" : "failed")])
        logger.debug("callback completed", metadata: ["sequencer.enrollment": "\(id)", "sequencer.visit": "\(visit)"])
        return changed
    }

    /// Records that the outside system is still working on a callback step, and how far it got.
    ///
    /// When the step's wait has a heartbeat interval (``CallbackWait/heartbeat``), the wait now
    /// times out one interval from now (never after its overall timeout); without one, a heartbeat
    /// only records progress. Each heartbeat is a `heartbeat` history event.
    ///
    /// A heartbeat that arrives before the step's wait is recorded (an outside system that
    /// reports faster than the tick that started its work commits) changes nothing and is not
    /// an error: there is no timeout to move yet, and recording it would fence that tick's
    /// commit out and start the work a second time.
    ///
    /// - Parameter progress: 0 to 100 when known.
    /// - Returns: the enrollment as changed; its ``Enrollment/callback`` shows the new timeout.
    /// - Throws: as ``complete(token:outcome:now:)`` (a completed callback takes no more
    ///   heartbeats); ``SequencerError/Code/outOfRange`` (field `progress`) for progress outside 0…100.
    @discardableResult
    public func heartbeat(token: String, progress: Double? = nil, now: Date = Date()) async throws -> Enrollment {
        if let progress, !(0...100).contains(progress) {
            throw SequencerError(.outOfRange, "progress is 0 to 100; got \(progress)", field: "progress")
        }
        let (id, visit) = try await callbackVisit(of: token)
        if let e = try await store.enrollment(id), e.visit <= visit, e.callback?.visit != visit,
           e.status == .active || e.status == .paused {
            return e
        }
        return try await store.change(id, callbackChange(visit, .heartbeat(progress: progress)), now: now)
    }

    /// The token of `visit` of enrollment `id`: what ``RunnerInput/callbackToken`` holds for it.
    /// For tests and for hosts that hand tokens out themselves.
    public func callbackToken(enrollment id: UUID, visit: Int) async throws -> String {
        CallbackToken.make(enrollment: id, visit: visit, key: try await callbackKey())
    }

    /// The key tokens are made with, from the store's secret (read once).
    func callbackKey() async throws -> SymmetricKey {
        if let secret = callbackSecret.withLock({ $0 }) { return SymmetricKey(data: secret) }
        let secret = try await store.callbackSecret()
        guard secret.count >= 16 else {
            throw SequencerError(.storeFailure, "the store's callback secret has \(secret.count) bytes; at least 16 are needed")
        }
        callbackSecret.withLock { $0 = secret }
        return SymmetricKey(data: secret)
    }

    private func callbackVisit(of token: String) async throws -> (UUID, Int) {
        guard let named = CallbackToken.verify(token, key: try await callbackKey()) else {
            throw SequencerError(.unknownCallback, "no callback has the token '\(Limits.excerpt(token))'", field: "token")
        }
        return named
    }

    private func callbackChange(_ visit: Int, _ report: EnrollmentChange.CallbackReport) -> EnrollmentChange {
        EnrollmentChange(.callback(visit: visit, report), maximumContextBytes: configuration.limits.maximumContextBytes)
    }

    /// The `resultKey` of the step the enrollment is at, when it is still at `visit`.
    private func resultKey(of id: UUID, visit: Int) async throws -> String? {
        guard let e = try await store.enrollment(id), e.visit == visit, let stepID = e.stepID,
              let definition = try await preparedDefinition(e.sequenceName, version: e.sequenceVersion)
        else { return nil }
        return definition.step(stepID)?.config["resultKey"]?.stringValue
    }
}

extension CallbackOutcome {
    var isSuccess: Bool { if case .success = self { true } else { false } }
}
