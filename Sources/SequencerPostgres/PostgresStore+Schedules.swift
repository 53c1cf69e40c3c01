public import Foundation
import Logging
import PostgresNIO
public import Sequencer

extension PostgresStore {
    private static let scheduleColumns = """
        name, definition::text, anchor, next_fire_at, last_fired_at, last_enrollment_id, fired, skipped, last_skip_at,
        last_skip_reason, previous_run_id, previous_run_completed_at, previous_run_context::text, created_at, updated_at
        """

    /// Every stored schedule, by name; see ``Sequencer/SequenceStore/schedules()``.
    public func schedules() async throws -> [ScheduleState] {
        try await withStoreErrors("list schedules") {
            let rows = try await queryRows(
                "SELECT \(unescaped: Self.scheduleColumns) FROM \(unescaped: tables.schedules) ORDER BY name")
            var states: [ScheduleState] = []
            for row in rows { states.append(try Self.decodeSchedule(row)) }
            return states
        }
    }

    /// One stored schedule; see ``Sequencer/SequenceStore/schedule(named:)``.
    public func schedule(named name: String) async throws -> ScheduleState? {
        try await withStoreErrors("read schedule '\(name)'") {
            let rows = try await queryRows(
                "SELECT \(unescaped: Self.scheduleColumns) FROM \(unescaped: tables.schedules) WHERE name = \(name)")
            return try rows.first.map(Self.decodeSchedule)
        }
    }

    /// Reads the schedule's row `FOR UPDATE` (waiting for a fire that holds it), applies `change`
    /// and writes the result, in one transaction; see ``Sequencer/SequenceStore/modifySchedule(named:_:)``.
    /// Two processes creating the same name at once: the second's insert finds the first's row and
    /// runs again, reading it.
    public func modifySchedule(named name: String, _ change: @escaping @Sendable (ScheduleState?) throws -> ScheduleState?)
        async throws -> ScheduleState?
    {
        for _ in 1...3 {
            let (createdConcurrently, stored) = try await withStoreErrors("change schedule '\(name)'") {
                try await withTransaction { [self] connection -> (Bool, ScheduleState?) in
                    let rows = try await connection.query("""
                        SELECT \(unescaped: Self.scheduleColumns) FROM \(unescaped: tables.schedules)
                        WHERE name = \(name) FOR UPDATE
                        """, logger: logger).collect()
                    let existing = try rows.first.map(Self.decodeSchedule)
                    let changed = try change(existing)
                    switch (existing, changed) {
                    case (nil, nil):
                        return (false, nil)
                    case (_?, nil):
                        try await connection.query("DELETE FROM \(unescaped: tables.schedules) WHERE name = \(name)",
                                                   logger: logger)
                        return (false, nil)
                    case (nil, let new?):
                        let inserted = try await connection.query("""
                            INSERT INTO \(unescaped: tables.schedules) (name, definition, enabled, anchor, created_at, updated_at)
                            VALUES (\(name), '{}', false, \(new.anchor), \(new.createdAt), \(new.updatedAt))
                            ON CONFLICT (name) DO NOTHING RETURNING 1
                            """, logger: logger).collect()
                        guard !inserted.isEmpty else { return (true, nil) }
                        try await write(new, on: connection)
                        return (false, new)
                    case (let old?, let new?):
                        if old != new { try await write(new, on: connection) }
                        return (false, new)
                    }
                }
            }
            if !createdConcurrently { return stored }
        }
        throw SequencerError(.storeFailure, "schedule '\(name)' kept changing under this call; try again", field: "name")
    }

    /// Fires the due schedules no other process holds; see
    /// ``Sequencer/SequenceStore/fireSchedules(now:limit:plan:)``.
    ///
    /// One indexed `SELECT EXISTS` when nothing is due (every tick asks). Otherwise one
    /// transaction: the due rows `FOR UPDATE SKIP LOCKED`, the enrollments their last fires created,
    /// then per schedule its plan, its enrollments under a savepoint (a refused enroll rolls back
    /// to it and is recorded as a skip), and its row's new state.
    public func fireSchedules(
        now: Date, limit: Int,
        plan: @escaping @Sendable (ScheduleState, _ lastEnrollment: Enrollment?, any EnrollmentWriter) async throws -> ScheduleFiring
    ) async throws -> [ScheduleFiring] {
        guard limit > 0 else { return [] }
        return try await withStoreErrors("fire schedules") {
            let due = try await queryRows("""
                SELECT EXISTS (SELECT 1 FROM \(unescaped: tables.schedules) WHERE enabled AND next_fire_at <= \(now))
                """)
            guard try due.first?.decode(Bool.self) == true else { return [] }
            return try await withTransaction { [self] connection in
                let rows = try await connection.query("""
                    SELECT \(unescaped: Self.scheduleColumns) FROM \(unescaped: tables.schedules)
                    WHERE enabled AND next_fire_at <= \(now)
                    ORDER BY next_fire_at, name LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                    """, logger: logger)
                var states: [ScheduleState] = []
                for try await row in rows { states.append(try Self.decodeSchedule(row)) }
                let lastIDs = states.compactMap(\.lastEnrollmentID)
                var last: [UUID: Enrollment] = [:]
                if !lastIDs.isEmpty {
                    let found = try await connection.query("""
                        SELECT \(unescaped: EnrollmentTable.selectList()) FROM \(unescaped: tables.enrollments)
                        WHERE id = ANY(\(lastIDs))
                        """, logger: logger)
                    for row in try await EnrollmentTable.decodeAll(found) { last[row.enrollment.id] = row.enrollment }
                }
                let writer = transaction(on: connection)
                var firings: [ScheduleFiring] = []
                for state in states {
                    var firing = try await plan(state, state.lastEnrollmentID.flatMap { last[$0] }, writer)
                    if !firing.enrollments.isEmpty {
                        try await connection.query("SAVEPOINT sequencer_schedule_fire", logger: logger)
                        do {
                            let results = try await enroll(firing.enrollments, on: connection)
                            try await connection.query("RELEASE SAVEPOINT sequencer_schedule_fire", logger: logger)
                            firing = firing.recording(results)
                        } catch let error as SequencerError where error.code != .storeFailure {
                            try await connection.query("ROLLBACK TO SAVEPOINT sequencer_schedule_fire", logger: logger)
                            firing = firing.refused(error)
                        }
                    }
                    try await write(firing.state, on: connection)
                    firings.append(firing)
                }
                return firings
            }
        }
    }

    private func write(_ state: ScheduleState, on connection: PostgresConnection) async throws {
        let definition = JSONText.write(state.schedule.jsonValue)
        let previousContext = state.previousRun.map { JSONText.write($0.context) }
        try await connection.query("""
            UPDATE \(unescaped: tables.schedules) SET
                definition = \(definition)::jsonb, enabled = \(state.schedule.enabled), anchor = \(state.anchor),
                next_fire_at = \(state.nextFireAt), last_fired_at = \(state.lastFiredAt),
                last_enrollment_id = \(state.lastEnrollmentID), fired = \(state.fired), skipped = \(state.skipped),
                last_skip_at = \(state.lastSkip?.occurrence), last_skip_reason = \(state.lastSkip?.reason),
                previous_run_id = \(state.previousRun?.enrollmentID),
                previous_run_completed_at = \(state.previousRun?.completedAt),
                previous_run_context = \(previousContext)::jsonb,
                created_at = \(state.createdAt), updated_at = \(state.updatedAt)
            WHERE name = \(state.schedule.name)
            """, logger: logger)
    }

    private static func decodeSchedule(_ row: PostgresRow) throws -> ScheduleState {
        let cells = row.makeRandomAccess()
        let definition = try JSONText.parse(cells[1].decode(String.self))
        let schedule: Schedule
        do {
            schedule = try Schedule(json: definition)
        } catch {
            throw SequencerError(.storeFailure, "a stored schedule does not read back: \(error.message)", field: "schedule",
                                 underlying: error)
        }
        var previousRun: PreviousRun?
        if let id = try cells[10].decode(UUID?.self), let at = try cells[11].decode(Date?.self),
           let context = try cells[12].decode(String?.self)
        {
            previousRun = PreviousRun(enrollmentID: id, completedAt: at, context: try JSONText.parse(context))
        }
        var lastSkip: ScheduleSkip?
        if let at = try cells[8].decode(Date?.self), let reason = try cells[9].decode(String?.self) {
            lastSkip = ScheduleSkip(occurrence: at, reason: reason)
        }
        return ScheduleState(
            schedule: schedule, anchor: try cells[2].decode(Date.self), nextFireAt: try cells[3].decode(Date?.self),
            lastFiredAt: try cells[4].decode(Date?.self), lastEnrollmentID: try cells[5].decode(UUID?.self),
            fired: try cells[6].decode(Int.self), skipped: try cells[7].decode(Int.self), lastSkip: lastSkip,
            previousRun: previousRun, createdAt: try cells[13].decode(Date.self), updatedAt: try cells[14].decode(Date.self))
    }
}
