import Foundation
import Sequencer
import SequencerTesting
import Testing

@Suite("Lifecycle events")
struct LifecycleEventTests {
    /// Fails subject "bad", retries "slow", cancels "cancelled-meanwhile" through the store while
    /// it runs (so its outcome is fenced out), and passes the others.
    struct Flaky: TaskRunner {
        let name = "Flaky"
        let store: any SequenceStore
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            var results: [RunnerResult] = []
            for input in batch {
                switch input.subject {
                case "bad": results.append(input.result(.fail("the card was declined")))
                case "slow": results.append(input.result(.retry("the API timed out")))
                case "cancelled-meanwhile":
                    _ = try await store.change(input.id, .cancel, now: input.now)
                    results.append(input.result(.next))
                default: results.append(input.result(.next))
                }
            }
            return results
        }
    }

    /// The first `count` elements of a stream; none when fewer came within `timeout`.
    static func collect<T: Sendable>(_ stream: AsyncStream<T>, count: Int, within timeout: Duration) async -> [T] {
        await withTaskGroup(of: [T]?.self) { group in
            group.addTask {
                var found: [T] = []
                for await element in stream {
                    found.append(element)
                    if found.count == count { break }
                }
                return found
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? []
        }
    }

    @Test func committedCompletionsFailuresAndRetriesAreStreamedAndFencedOutOnesAreNot() async throws {
        let store = InMemoryStore()
        let sequencer = Sequencer(store: store, runners: .builtIn + [Flaky(store: store)])
        try await sequencer.register(SequenceDefinition(name: "charge", version: 1, steps: [
            Step(id: "charge", runner: "Flaky", config: [:]),
        ]))
        let events = sequencer.lifecycleEvents()
        let start = Date(timeIntervalSince1970: 1_900_000_000)
        var ids: [String: UUID] = [:]
        for subject in ["good", "bad", "slow", "cancelled-meanwhile"] {
            ids[subject] = try await sequencer.enroll(subject, in: "charge", now: start)
        }
        _ = try await sequencer.tick(now: start)
        let seen = await Self.collect(events, count: 3, within: .seconds(5))
        // Published before the tick returned: nothing else is on its way.
        let more = await Self.collect(events, count: 1, within: .milliseconds(300))
        #expect(more.isEmpty, "nothing for the fenced-out one: \(more.map(\.enrollment.subject))")
        let bySubject = Dictionary(seen.map { ($0.enrollment.subject, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(seen.count == 3, "three events, none for the fenced-out one: \(seen.map(\.kind))")
        #expect(bySubject["good"]?.kind == .completed && bySubject["good"]?.step == "charge")
        #expect(bySubject["good"]?.enrollment.status == .completed)
        #expect(bySubject["bad"]?.kind == .failed && bySubject["bad"]?.message?.contains("the card was declined") == true)
        #expect(bySubject["slow"]?.kind == .retrying && bySubject["slow"]?.message?.contains("the API timed out") == true)
        #expect(bySubject["cancelled-meanwhile"] == nil)
        #expect(try await sequencer.enrollment(ids["cancelled-meanwhile"]!).status == .cancelled)
    }

    /// Waits 10 minutes for a callback that never comes.
    struct Starter: TaskRunner {
        let name = "Start"
        var awaitsCallbacks: Bool { true }
        func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
            batch.map { $0.result(.awaitCallback(CallbackWait(timeout: .seconds(600)))) }
        }
    }

    @Test func aCallbackTimeoutIsStreamedAsTimedOutThenFailedWithoutAnAltNext() async throws {
        let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + [Starter()])
        try await sequencer.register(SequenceDefinition(name: "job", version: 1, steps: [Step(id: "start", runner: "Start")]))
        let start = Date(timeIntervalSince1970: 1_900_000_000)
        let id = try await sequencer.enroll("job-1", in: "job", now: start)
        _ = try await sequencer.tick(now: start)
        let events = sequencer.lifecycleEvents()
        _ = try await sequencer.tick(now: start.addingTimeInterval(600))
        let seen = await Self.collect(events, count: 2, within: .seconds(5))
        #expect(seen.map(\.kind) == [.timedOut, .failed], "\(seen.map(\.kind))")
        #expect(seen.first?.step == "start" && seen.first?.enrollment.id == id)
        #expect(seen.first?.message?.hasPrefix("no callback by") == true && seen.first?.message?.hasSuffix("(timed out)") == true,
                "\(seen.first?.message ?? "")")
    }
}
