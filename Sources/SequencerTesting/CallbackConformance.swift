import Foundation
public import Sequencer
import Synchronization

// Callback steps through the engine: what a store must keep so a completion, a heartbeat and a
// timeout each act once, whichever comes first.

extension StoreConformance {
    /// The callback checks (part of ``checks``).
    static let callbackChecks: [Check] = [
        Check(name: "a callback step waits; success goes next with its result, failure to altNext, a second completion is refused",
              body: callbackCompletions),
        Check(name: "a callback step times out to altNext, heartbeats move its timeout, and a completion may come first",
              body: callbackTimeouts),
        Check(name: "a callback that comes back while the tick that started the work is still running is taken, "
                  + "also when that tick entered the step",
              body: instantCallbacks),
    ]

    /// A runner whose outside system calls back at once: it completes each token before it
    /// answers (as a job service that finishes quickly does while the tick is still running).
    final class InstantCallbackRunner: TaskRunner {
        let name = "InstantCallback"
        let sequencer = Mutex<Sequencer?>(nil)
        let refusals = Mutex<[String]>([])
        var awaitsCallbacks: Bool { true }

        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            guard let sequencer = self.sequencer.withLock({ $0 }) else { throw ConformanceFailure(message: "the runner has no sequencer", file: #fileID, line: #line) }
            for input in batch {
                do {
                    _ = try await sequencer.complete(token: input.callbackToken ?? "none", outcome: .success(), now: input.now)
                } catch {
                    refusals.withLock { $0.append("\(error)") }
                }
            }
            return batch.map { $0.result(.awaitCallback(CallbackWait(timeout: .seconds(3600)))) }
        }
    }

    static func instantCallbacks(_ store: any SequenceStore) async throws {
        let runner = InstantCallbackRunner()
        let sequencer = Sequencer(store: store, runners: .builtIn + [runner])
        runner.sequencer.withLock { $0 = sequencer }
        try await sequencer.register(SequenceDefinition(name: "instant", version: 1, steps: [
            .goTo("start", target: "run"),
            Step(id: "run", runner: "InstantCallback"),
            Step(id: "done", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"]),
        ]))
        let entered = try await sequencer.enroll("entered-in-the-tick", in: "instant", now: t0)
        for _ in 0..<4 { _ = try await sequencer.tick(now: t0) }
        let refusals = runner.refusals.withLock { $0 }
        try expect(refusals.isEmpty, "no completion refused: \(refusals)")
        let e = try await sequencer.enrollment(entered)
        try expect(e.stepID == "done", "the completion moved it on: at \(e.stepID ?? "none"), due \(String(describing: e.nextRunAt))")
    }

    /// A runner that starts nothing: it keeps the tokens it was given and waits for a callback,
    /// with the config's `timeout` and optional `heartbeat` (seconds).
    final class CallbackTestRunner: TaskRunner {
        let name = "TestCallback"
        let tokens = Mutex<[UUID: [String]]>([:])
        var awaitsCallbacks: Bool { true }

        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { input in
                tokens.withLock { $0[input.id, default: []].append(input.callbackToken ?? "none") }
                let timeout = input.config["timeout"]?.numberValue ?? 3600
                let heartbeat = input.config["heartbeat"]?.numberValue
                return input.result(.awaitCallback(CallbackWait(timeout: .seconds(timeout), heartbeat: heartbeat.map { .seconds($0) })))
            }
        }

        func calls(_ id: UUID) -> [String] { tokens.withLock { $0[id] ?? [] } }
    }

    static func callbackDefinition(_ config: JSONValue) -> SequenceDefinition {
        SequenceDefinition(name: "job", version: 1, steps: [
            Step(id: "run", runner: "TestCallback", config: config, altNext: "recover"),
            Step(id: "done", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"]),
            Step(id: "recover", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"]),
        ])
    }

    static func callbackCompletions(_ store: any SequenceStore) async throws {
        let secret = try await store.callbackSecret()
        let again = try await store.callbackSecret()
        try expect(secret.count >= 32 && secret == again && Set(secret).count > 8,
                   "the callback secret is at least 32 random-looking bytes and never changes: \(secret.count) bytes")
        let runner = CallbackTestRunner()
        let sequencer = Sequencer(store: store, runners: .builtIn + [runner])
        try await sequencer.register(callbackDefinition(["resultKey": "job", "timeout": 3600]))
        let good = try await sequencer.enroll("good", in: "job", now: t0)
        let bad = try await sequencer.enroll("bad", in: "job", now: t0)
        _ = try await sequencer.tick(now: t0)
        let waiting = try await sequencer.enrollment(good)
        try expect(waiting.stepID == "run" && waiting.callback?.startedAt == t0 && waiting.nextRunAt == t0.addingTimeInterval(3600),
                   "waits at its step until the timeout: \(waiting)")
        let token = runner.calls(good).first ?? ""
        let expected = try await sequencer.callbackToken(enrollment: good, visit: waiting.visit)
        try expect(runner.calls(good).count == 1 && token.hasPrefix("cb1_") && token.count == 68 && token == expected,
                   "one run, one token for the visit: \(runner.calls(good))")
        try expect(runner.calls(bad).first != token, "each enrollment its own token")

        // Woken by another change while it waits: the runner is not run again.
        _ = try await sequencer.updateContext(good, merging: ["note": "x"], now: t0.addingTimeInterval(5))
        _ = try await sequencer.tick(now: t0.addingTimeInterval(5))
        try expect(runner.calls(good).count == 1, "not started twice: \(runner.calls(good).count) runs")
        try expect(try await sequencer.enrollment(good).nextRunAt == t0.addingTimeInterval(3600), "still due at its timeout")

        let completed = try await sequencer.complete(token: token, outcome: .success(["url": "https://example.com/42"]),
                                                     now: t0.addingTimeInterval(10))
        try expect(completed.context["job"]?["url"] == "https://example.com/42" && completed.nextRunAt == t0.addingTimeInterval(10)
                   && completed.callback?.outcome == .succeeded, "result kept under resultKey, due at once: \(completed)")
        try await RobustnessChecks.expectError(.invalidState, field: nil, "a second completion") {
            _ = try await sequencer.complete(token: token, outcome: .failure("late"), now: t0.addingTimeInterval(11))
        }
        _ = try await sequencer.tick(now: t0.addingTimeInterval(10))
        let done = try await sequencer.enrollment(good)
        let lines = try await sequencer.history(of: good).map { "\($0.kind.rawValue) \($0.message ?? "")" }
        try expect(done.stepID == "done" && done.callback == nil && runner.calls(good).count == 1,
                   "success goes next: \(done.stepID ?? "-"), \(lines)")
        try expect(lines.contains("callbackCompleted callback succeeded (result in job)") && lines.contains("advanced callback succeeded"),
                   "history: \(lines)")
        try await RobustnessChecks.expectError(.invalidState, field: nil, "a completion after the step moved on") {
            _ = try await sequencer.complete(token: token, outcome: .success(), now: t0.addingTimeInterval(12))
        }

        var forged = Array(runner.calls(bad)[0])
        forged[20] = forged[20] == "A" ? "B" : "A"
        for wrong in [String(forged), "cb1_x", "", String(repeating: "A", count: 68), token.replacingOccurrences(of: "cb1_", with: "cb2_")] {
            try await RobustnessChecks.expectError(.unknownCallback, field: "token", "token '\(wrong)'") {
                _ = try await sequencer.complete(token: wrong, outcome: .success(), now: t0.addingTimeInterval(12))
            }
        }
        try await RobustnessChecks.expectError(.outOfRange, field: "reason", "a reason with a NUL") {
            _ = try await sequencer.complete(token: runner.calls(bad)[0], outcome: .failure("a\u{0}b"), now: t0.addingTimeInterval(12))
        }
        try await RobustnessChecks.expectError(.outOfRange, field: "progress", "progress 101") {
            _ = try await sequencer.heartbeat(token: runner.calls(bad)[0], progress: 101, now: t0.addingTimeInterval(12))
        }
        try expect(try await sequencer.history(of: bad).count == 2, "refused calls changed nothing")

        _ = try await sequencer.complete(token: runner.calls(bad)[0], outcome: .failure("exit 2"), now: t0.addingTimeInterval(20))
        _ = try await sequencer.tick(now: t0.addingTimeInterval(20))
        let recovered = try await sequencer.history(of: bad).last { $0.fromStep == "run" && $0.toStep != "run" }
        try expect(recovered?.kind == .altAdvanced && recovered?.toStep == "recover" && recovered?.message == "callback failed: exit 2",
                   "failure goes to altNext: \(String(describing: recovered))")
    }

    static func callbackTimeouts(_ store: any SequenceStore) async throws {
        let runner = CallbackTestRunner()
        let sequencer = Sequencer(store: store, runners: .builtIn + [runner])
        try await sequencer.register(callbackDefinition(["timeout": 3600, "heartbeat": 60]))
        let silent = try await sequencer.enroll("silent", in: "job", now: t0)
        let beating = try await sequencer.enroll("beating", in: "job", now: t0)
        let quick = try await sequencer.enroll("quick", in: "job", now: t0)
        let paused = try await sequencer.enroll("paused", in: "job", now: t0)

        // A completion before the step even ran (an outside system faster than the commit).
        let early = try await sequencer.callbackToken(enrollment: quick, visit: 1)
        _ = try await sequencer.complete(token: early, outcome: .success(), now: t0)
        _ = try await sequencer.tick(now: t0)
        let quickStep = try await sequencer.enrollment(quick).stepID
        try expect(quickStep == "done" && runner.calls(quick).isEmpty,
                   "a completion that came first is acted on without starting the work again")
        try expect(try await sequencer.enrollment(beating).nextRunAt == t0.addingTimeInterval(60), "due at the first heartbeat's deadline")

        try await sequencer.pause(paused, now: t0.addingTimeInterval(30))
        let beat = try await sequencer.heartbeat(token: runner.calls(beating)[0], progress: 40, now: t0.addingTimeInterval(50))
        try expect(beat.callback?.progress == 40 && beat.nextRunAt == t0.addingTimeInterval(110), "a heartbeat moves the timeout: \(beat)")
        _ = try await sequencer.tick(now: t0.addingTimeInterval(60))
        try expect(try await sequencer.enrollment(silent).stepID == "recover", "no heartbeat: timed out to altNext")
        let message = try await sequencer.history(of: silent).last { $0.kind == .altAdvanced }?.message ?? ""
        try expect(message.contains("no heartbeat since") && message.contains("timed out"), "says why: \(message)")
        try expect(try await sequencer.enrollment(beating).stepID == "run", "the beating one still waits")
        try await RobustnessChecks.expectError(.invalidState, field: nil, "a completion after the timeout") {
            _ = try await sequencer.complete(token: runner.calls(silent)[0], outcome: .success(), now: t0.addingTimeInterval(61))
        }

        // Paused while it waits (since t0 + 30): the completion is kept and acted on when resumed.
        _ = try await sequencer.complete(token: runner.calls(paused)[0], outcome: .success(), now: t0.addingTimeInterval(80))
        try expect(try await sequencer.enrollment(paused).status == .paused, "stays paused")
        try await sequencer.resume(paused, now: t0.addingTimeInterval(90))
        _ = try await sequencer.tick(now: t0.addingTimeInterval(110))
        try expect(try await sequencer.enrollment(paused).stepID == "done", "resumed, the completion counts")
        try expect(try await sequencer.enrollment(beating).stepID == "recover", "a missed second heartbeat times out too")
    }
}
