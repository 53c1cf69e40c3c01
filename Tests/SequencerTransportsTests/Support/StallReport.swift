import Dispatch
import Foundation
import Synchronization

/// Says where a long test is when it has run past the time it should take: a hung test otherwise
/// says nothing until CI's watchdog stops the whole run. It prints from a Dispatch thread, outside
/// Swift's cooperative pool (two threads on a two-core machine, which blocked threads can starve),
/// once a minute from `after` on, until ``finish()``.
final class StallReport: Sendable {
    private struct State {
        var phase = "starting"
        var since = Date()
        var finished = false
    }

    private let test: String
    private let started = Date()
    private let state = Mutex(State())

    init(_ test: String, after seconds: Double) {
        self.test = test
        schedule(in: seconds)
    }

    /// Records what the test is doing now.
    func at(_ phase: String) {
        state.withLock { $0 = State(phase: phase, since: Date(), finished: $0.finished) }
    }

    /// Stops the reports.
    func finish() {
        state.withLock { $0.finished = true }
    }

    private func schedule(in seconds: Double) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            let (phase, since, finished) = state.withLock { ($0.phase, $0.since, $0.finished) }
            guard !finished else { return }
            print("\(test): still running after \(Int(Date().timeIntervalSince(started))) s, "
                  + "\(Int(Date().timeIntervalSince(since))) s of them at: \(phase)")
            fflush(nil)   // every stream: the report must show even when the run is killed next
            schedule(in: 60)
        }
    }
}
