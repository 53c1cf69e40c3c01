import Foundation
public import Sequencer

// Schedules through the engine: what a store must do for them to fire each occurrence once,
// keep their state, and refuse cleanly. Expected instants are written out by hand.

extension StoreConformance {
    /// The schedule checks (part of ``checks``).
    static let scheduleChecks: [Check] = [
        Check(name: "schedules are created, replaced, listed, paused, resumed and deleted", body: scheduleLifecycle),
        Check(name: "a schedule fires each occurrence once, with its subject template, context and key",
              body: scheduleFiresEachOccurrenceOnce),
        Check(name: "missed occurrences follow the policy: skip, once, or all up to a cap", body: missedFirePolicies),
        Check(name: "an exclusive schedule skips while its previous run is active and hands on the last completed run",
              body: exclusiveScheduleAndPreviousRun),
        Check(name: "a fire the sequence refuses is recorded as a skip and the schedule moves on", body: refusedFireIsSkipped),
        Check(name: "a daily 02:30 schedule in New York fires once on each DST day", body: dailyScheduleAcrossDSTDays),
    ]

    /// 2030-03-18T00:00:00Z, a Monday.
    static let midnight = Date(timeIntervalSince1970: 1_900_022_400)

    static func minutes(_ n: Double, after date: Date = midnight) -> Date { date.addingTimeInterval(n * 60) }

    static let runDefinition = SequenceDefinition(name: "scheduled-run", version: 1, steps: [
        Step(id: "work", runner: "WaitForDuration", config: ["amount": 90, "unit": "minutes"]),
        Step(id: "done", runner: "GoTo", config: ["target": "$end"]),
    ])

    static func scheduler(_ store: any SequenceStore) async throws -> Sequencer {
        let sequencer = Sequencer(store: store)
        try await sequencer.register(runDefinition)
        return sequencer
    }

    static func hourly(_ name: String = "hourly", _ cron: String = "0 * * * *", exclusive: Bool = false) throws -> Schedule {
        Schedule(name: name, recurrence: try Recurrence(cron), sequence: runDefinition.name,
                 subject: "report-{{date}}-{{time}}", context: ["format": "pdf"], exclusive: exclusive)
    }

    static func scheduleLifecycle(_ store: any SequenceStore) async throws {
        let sequencer = try await scheduler(store)
        let created = try await sequencer.schedule(try hourly(), now: minutes(10))
        try expect(created.nextFireAt == minutes(60) && created.anchor == minutes(10) && created.fired == 0,
                   "created: next fire at 01:00, got \(String(describing: created.nextFireAt))")
        let same = try await sequencer.schedule(try hourly(), now: minutes(20))
        try expect(same == created, "saving an equal schedule changes nothing (not even updatedAt)")
        var renamedSubject = try hourly()
        renamedSubject.subject = "weekly-{{date}}"
        let replaced = try await sequencer.schedule(renamedSubject, now: minutes(30))
        try expect(replaced.nextFireAt == minutes(60) && replaced.schedule.subject == "weekly-{{date}}"
                   && replaced.createdAt == minutes(10) && replaced.updatedAt == minutes(30),
                   "a new subject keeps the next occurrence and the creation time")
        let moved = try await sequencer.schedule(try hourly("hourly", "15 * * * *"), now: minutes(30))
        try expect(moved.nextFireAt == minutes(75) && moved.anchor == minutes(30), "a new recurrence counts from now")
        _ = try await sequencer.schedule(try hourly("another", "every 6 hours"), now: minutes(30))
        try expect(try await sequencer.schedules().map(\.schedule.name) == ["another", "hourly"], "listed by name")
        try expect(try await sequencer.schedule(named: "another").nextFireAt == minutes(390), "a rate fires 6 h after its anchor")

        let paused = try await sequencer.pauseSchedule("hourly", now: minutes(40))
        try expect(!paused.schedule.enabled, "paused")
        let whilePaused = try await sequencer.fireSchedules(now: minutes(300))
        try expect(whilePaused.fired == 0 && whilePaused.skipped == 0, "a paused schedule does not fire: \(whilePaused)")
        let resumed = try await sequencer.resumeSchedule("hourly", now: minutes(300))
        try expect(resumed.schedule.enabled && resumed.nextFireAt == minutes(315),
                   "resuming fires next after now, not the occurrences missed while paused")
        try expect(try await sequencer.deleteSchedule("hourly"), "deleted")
        try expect(try await !sequencer.deleteSchedule("hourly"), "deleting again finds nothing")
        try expect(try await sequencer.schedules().map(\.schedule.name) == ["another"], "one left")
        do {
            _ = try await sequencer.schedule(named: "hourly")
            throw ConformanceFailure("reading a deleted schedule must fail")
        } catch let error as SequencerError where error.code == .unknownSchedule {}
        do {
            _ = try await sequencer.pauseSchedule("nope")
            throw ConformanceFailure("pausing an unknown schedule must fail")
        } catch let error as SequencerError where error.code == .unknownSchedule {}

        // Refused before anything is stored, naming the field.
        var unknownSequence = try hourly("bad")
        unknownSequence.sequence = "no-such-sequence"
        var badSubject = try hourly("bad")
        badSubject.subject = "{{#open}}"
        var nul = try hourly("bad\u{0}name")
        nul.subject = "x"
        var bigCap = try hourly("bad")
        bigCap.missedFires = .all(max: 5000)
        for (schedule, code, field) in [
            (unknownSequence, SequencerError.Code.unknownSequence, nil as String?),
            (badSubject, .invalidConfig, "subject"), (nul, .invalidConfig, "name"), (bigCap, .invalidConfig, "maxMissedFires"),
        ] {
            do {
                _ = try await sequencer.schedule(schedule, now: minutes(300))
                throw ConformanceFailure("\(schedule.name.debugDescription) must be refused")
            } catch let error as SequencerError {
                try expect(error.code == code && (field == nil || error.field == field), "refused with \(code) \(field ?? ""): \(error)")
            }
        }
        try expect(try await sequencer.schedules().map(\.schedule.name) == ["another"], "nothing half-stored")
    }

    static func scheduleFiresEachOccurrenceOnce(_ store: any SequenceStore) async throws {
        let sequencer = try await scheduler(store)
        _ = try await sequencer.schedule(try hourly(), now: midnight)
        var fired = 0
        for step in stride(from: 0.0, through: 6 * 60, by: 20) {
            let report = try await sequencer.fireSchedules(now: minutes(step))
            fired += report.fired
            try expect(report.skipped == 0, "nothing skipped at \(step) min")
            let again = try await sequencer.fireSchedules(now: minutes(step))
            try expect(again.fired == 0, "firing again at the same time fires nothing")
        }
        try expect(fired == 6, "six occurrences in six hours, got \(fired)")
        let state = try await sequencer.schedule(named: "hourly")
        try expect(state.fired == 6 && state.lastFiredAt == minutes(360) && state.nextFireAt == minutes(420),
                   "state after six fires: \(state.fired), \(String(describing: state.lastFiredAt))")
        for hour in 1...6 {
            let occurrence = minutes(Double(hour * 60))
            let key = "schedule:hourly:\(ISO8601Timestamp.string(from: occurrence))"
            guard let e = try await store.enrollment(sequence: runDefinition.name, idempotencyKey: key) else {
                throw ConformanceFailure("no enrollment for \(key)")
            }
            try expect(e.subject == String(format: "report-2030-03-18-%02d:00", hour), "subject \(e.subject)")
            try expect(e.context["format"] == "pdf" && e.context["schedule"]?["name"] == "hourly"
                       && e.context["schedule"]?["occurrence"] == .string(ISO8601Timestamp.string(from: occurrence)),
                       "context \(e.context)")
            try expect(e.id == state.lastEnrollmentID || hour < 6, "the last run is the 06:00 one")
        }
    }

    static func missedFirePolicies(_ store: any SequenceStore) async throws {
        let sequencer = try await scheduler(store)
        for (name, policy) in [("skip", MissedFirePolicy.skip), ("once", .once), ("all", .all(max: 5))] {
            var schedule = try hourly(name, "* * * * *")
            schedule.subject = "\(name)-{{time}}"
            schedule.missedFires = policy
            _ = try await sequencer.schedule(schedule, now: midnight)
        }
        // Nothing fired for half an hour: 30 occurrences are due, the latest 10 s late.
        let report = try await sequencer.fireSchedules(now: minutes(30, after: midnight.addingTimeInterval(10)))
        try expect(report.fired == 1 + 1 + 5 && report.skipped == 29 + 29 + 25, "fired and skipped: \(report)")
        for (name, fired, skipped, subjects) in [
            ("skip", 1, 29, ["00:30"]), ("once", 1, 29, ["00:30"]), ("all", 5, 25, ["00:26", "00:27", "00:28", "00:29", "00:30"]),
        ] {
            let state = try await sequencer.schedule(named: name)
            try expect(state.fired == fired && state.skipped == skipped && state.nextFireAt == minutes(31),
                       "\(name): fired \(state.fired), skipped \(state.skipped), next \(String(describing: state.nextFireAt))")
            try expect(state.lastSkip?.reason.contains("missedFires: \(name)") == true,
                       "\(name): the skip says why: \(String(describing: state.lastSkip))")
            let made = try await sequencer.enrollments(subject: "\(name)-00:30")
            try expect(made.count == 1, "\(name) fired the latest occurrence once")
            for subject in subjects {
                try expect(try await sequencer.enrollments(subject: "\(name)-\(subject)").count == 1, "\(name) fired \(subject)")
            }
        }
        try expect(try await sequencer.enrollments(subject: "skip-00:29").isEmpty, "skip: 70 s late is missed")
    }

    static func exclusiveScheduleAndPreviousRun(_ store: any SequenceStore) async throws {
        let sequencer = try await scheduler(store)
        _ = try await sequencer.schedule(try hourly("job", exclusive: true), now: midnight)
        var runs: [UUID] = []
        for step in stride(from: 30.0, through: 330, by: 30) {
            let now = minutes(step)
            _ = try await sequencer.tick(now: now)
            let state = try await sequencer.schedule(named: "job")
            if let last = state.lastEnrollmentID, runs.last != last {
                runs.append(last)
                // Each run records a result the next one receives.
                _ = try await sequencer.updateContext(last, merging: ["result": .number(Double(runs.count))], now: now)
            }
        }
        // 01:00 fires; 02:00 skipped (the first run waits until 02:30); 03:00 fires; 04:00 skipped; 05:00 fires.
        let state = try await sequencer.schedule(named: "job")
        try expect(runs.count == 3 && state.fired == 3 && state.skipped == 2,
                   "three runs, two skips: runs \(runs.count), fired \(state.fired), skipped \(state.skipped)")
        try expect(state.lastSkip?.occurrence == minutes(240) && state.lastSkip?.reason.contains("still active") == true,
                   "the last skip names the active run: \(String(describing: state.lastSkip))")
        let first = try await sequencer.enrollment(runs[0])
        let second = try await sequencer.enrollment(runs[1])
        let third = try await sequencer.enrollment(runs[2])
        try expect(first.status == .completed && second.status == .completed, "the first two runs completed")
        try expect(first.context["schedule"]?["previousRun"] == nil, "the first run has no previous run")
        let previous = second.context["schedule"]?["previousRun"]
        try expect(previous?["enrollment"] == .string(runs[0].uuidString.lowercased())
                   && previous?["context"]?["result"] == 1, "the second run receives the first's final context: \(String(describing: previous))")
        let handedOn = third.context["schedule"]?["previousRun"]
        try expect(handedOn?["context"]?["result"] == 2 && handedOn?["context"]?["schedule"]?["previousRun"] == nil,
                   "the third receives the second's context, without the second's own previous run")
        try expect(state.previousRun?.enrollmentID == runs[1], "the state names the last completed run")
    }

    static func refusedFireIsSkipped(_ store: any SequenceStore) async throws {
        var definition = runDefinition
        definition.name = "one-per-subject"
        definition.uniqueSubject = .reject
        let sequencer = try await scheduler(store)
        try await sequencer.register(definition)
        var schedule = try hourly("single")
        schedule.sequence = definition.name
        schedule.subject = "the-subject"
        _ = try await sequencer.schedule(schedule, now: midnight)
        let holder = try await sequencer.enroll("the-subject", in: definition.name, now: midnight)
        let report = try await sequencer.fireSchedules(now: minutes(60))
        try expect(report.fired == 0 && report.skipped == 1, "refused: \(report)")
        let state = try await sequencer.schedule(named: "single")
        try expect(state.skipped == 1 && state.fired == 0 && state.nextFireAt == minutes(120)
                   && state.lastSkip?.occurrence == minutes(60), "recorded and moved on: \(state)")
        try expect(try await sequencer.enrollments(subject: "the-subject").map(\.id) == [holder], "nothing enrolled")
        // Once the holder ends, the next occurrence enrolls.
        _ = try await sequencer.cancel(holder, now: minutes(90))
        let next = try await sequencer.fireSchedules(now: minutes(120))
        try expect(next.fired == 1 && next.enrolled == 1, "fires once the subject is free: \(next)")
    }

    static func dailyScheduleAcrossDSTDays(_ store: any SequenceStore) async throws {
        let sequencer = try await scheduler(store)
        // March 7 02:30 EST = 07:30Z; March 8 02:30 does not exist: 03:00 EDT = 07:00Z; March 9 02:30 EDT = 06:30Z.
        try await firesOnceADay(sequencer, "nightly", cron: "30 2 * * *", from: Date(timeIntervalSince1970: 1_772_841_600), [
            ("2026-03-07", "2026-03-07T07:30:00.000Z"), ("2026-03-08", "2026-03-08T07:00:00.000Z"),
            ("2026-03-09", "2026-03-09T06:30:00.000Z"),
        ])
        try await sequencer.deleteSchedule("nightly")
        // Fall back: 01:30 comes twice on November 1; it fires at the first (EDT) only.
        try await firesOnceADay(sequencer, "fall", cron: "30 1 * * *", from: Date(timeIntervalSince1970: 1_793_404_800), [
            ("2026-10-31", "2026-10-31T05:30:00.000Z"), ("2026-11-01", "2026-11-01T05:30:00.000Z"),
            ("2026-11-02", "2026-11-02T06:30:00.000Z"),
        ])
    }

    /// Schedules `cron` in New York at `start` (a UTC midnight), fires every 10 minutes for three
    /// days, and checks one fire per day at the expected instants (`date`, ISO 8601 occurrence).
    private static func firesOnceADay(_ sequencer: Sequencer, _ name: String, cron: String, from start: Date,
                                      _ expected: [(date: String, occurrence: String)]) async throws
    {
        _ = try await sequencer.schedule(Schedule(name: name, recurrence: try Recurrence(cron),
                                                  timeZone: TimeZone(identifier: "America/New_York")!,
                                                  sequence: runDefinition.name, subject: "\(name)-{{date}}"), now: start)
        var fired = 0
        for step in stride(from: 0.0, through: 3 * 24 * 60, by: 10) {
            fired += try await sequencer.fireSchedules(now: minutes(step, after: start)).fired
        }
        try expect(fired == 3, "\(name): one fire a day for three days, got \(fired)")
        for (date, occurrence) in expected {
            let found = try await sequencer.enrollments(subject: "\(name)-\(date)")
            try expect(found.count == 1 && found[0].context["schedule"]?["occurrence"] == .string(occurrence),
                       "\(name) fired once on \(date) at \(occurrence): \(found.map(\.context))")
        }
    }
}
