public import Foundation
import Synchronization

/// The in-memory store's schedules.
struct ScheduleTable {
    var states: [String: ScheduleState] = [:]
    /// Schedules a fire is working on: the in-memory form of a row lock. Fires skip them;
    /// changes wait for them.
    var busy: Set<String> = []
}

extension InMemoryStore {
    public func schedules() async throws -> [ScheduleState] {
        scheduleTable.withLock { table in table.states.values.sorted { $0.schedule.name < $1.schedule.name } }
    }

    public func schedule(named name: String) async throws -> ScheduleState? {
        scheduleTable.withLock { $0.states[name] }
    }

    public func modifySchedule(named name: String, _ change: @escaping @Sendable (ScheduleState?) throws -> ScheduleState?)
        async throws -> ScheduleState?
    {
        while true {
            // Waits while a fire holds the schedule, as a row lock would.
            let outcome: (done: Bool, state: ScheduleState?) = try scheduleTable.withLock { table in
                guard !table.busy.contains(name) else { return (false, nil) }
                let changed = try change(table.states[name])
                table.states[name] = changed
                return (true, changed)
            }
            if outcome.done { return outcome.state }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    public func fireSchedules(
        now: Date, limit: Int,
        plan: @escaping @Sendable (ScheduleState, _ lastEnrollment: Enrollment?, any EnrollmentWriter) async throws -> ScheduleFiring
    ) async throws -> [ScheduleFiring] {
        let picked: [ScheduleState] = scheduleTable.withLock { table in
            let due = table.states.values
                .filter { $0.schedule.enabled && !table.busy.contains($0.schedule.name) && ($0.nextFireAt.map { $0 <= now } ?? false) }
                .sorted { ($0.nextFireAt!, $0.schedule.name) < ($1.nextFireAt!, $1.schedule.name) }
                .prefix(max(0, limit))
            for state in due { table.busy.insert(state.schedule.name) }
            return Array(due)
        }
        var firings: [ScheduleFiring] = []
        var remaining = picked[...]
        defer {
            let names = remaining.map(\.schedule.name)
            scheduleTable.withLock { table in for name in names { table.busy.remove(name) } }
        }
        while let state = remaining.first {
            var last: Enrollment?
            if let id = state.lastEnrollmentID { last = try await enrollment(id) }
            var firing = try await plan(state, last, self)
            if !firing.enrollments.isEmpty {
                do {
                    firing = firing.recording(try await enroll(firing.enrollments))
                } catch let error as SequencerError where error.code != .storeFailure {
                    firing = firing.refused(error)
                }
            }
            let written = firing.state
            scheduleTable.withLock { table in
                table.states[state.schedule.name] = written
                table.busy.remove(state.schedule.name)
            }
            remaining = remaining.dropFirst()
            firings.append(firing)
        }
        return firings
    }
}
