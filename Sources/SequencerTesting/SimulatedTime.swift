public import Foundation
public import Sequencer

/// A fixed start for simulated clocks in this package's own tests: 2030-03-17T17:46:40Z.
///
/// Whole seconds, so stores with microsecond precision keep it exactly.
package let t0 = Date(timeIntervalSince1970: 1_900_000_000)

extension Sequencer {
    /// Ticks at every `step` seconds of simulated time from `start` through `end`, and returns
    /// the ticks' reports added up.
    ///
    /// Time in a sequence is the `now` each tick passes, so a test walks a drip of days or
    /// weeks in milliseconds, with no sleeping and no real clock:
    ///
    /// ```swift
    /// let start = Date(timeIntervalSince1970: 1_900_000_000)
    /// let id = try await sequencer.enroll("user-42", in: "trial-onboarding", now: start)
    /// try await sequencer.run(from: start, to: start.addingTimeInterval(14 * 86_400), every: 3_600)
    /// #expect(try await sequencer.enrollment(id).status == .completed)
    /// ```
    ///
    /// Each tick sees what became due at or before its `now`; a wait that ends between two ticks
    /// is seen at the next one, so pick a `step` as fine as the waits you test (an hour for
    /// daily drips). Enroll with `now:` at or after `start` so enrollments are due on the first tick.
    @discardableResult
    public func run(from start: Date, to end: Date, every step: TimeInterval) async throws -> TickReport {
        precondition(step > 0, "run(from:to:every:) needs a positive step")
        var report = TickReport()
        var now = start
        while now <= end {
            report.add(try await tick(now: now))
            now = now.addingTimeInterval(step)
        }
        return report
    }
}
