import Foundation
public import Sequencer

/// The behaviour every ``SequenceStore`` owes the engine, as checks any store can run.
///
/// Run each check against a fresh, empty store:
///
/// ```swift
/// @Test(arguments: StoreConformance.checks)
/// func conformance(_ check: StoreConformance.Check) async throws {
///     try await check.run(MyStore())
/// }
/// ```
/// A failing check throws a ``ConformanceFailure`` that says what differed.
public enum StoreConformance {
    /// One named check.
    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        let body: @Sendable (any SequenceStore) async throws -> Void

        /// Runs the check against an empty store.
        public func run(_ store: any SequenceStore) async throws { try await body(store) }
        public var description: String { name }
    }

    /// Every check.
    public static let checks: [Check] = [
        Check(name: "definitions are stored by name and version", body: definitionsByVersion),
        Check(name: "an equal definition registers twice, a changed one conflicts", body: definitionConflicts),
        Check(name: "enroll is idempotent per sequence and key", body: idempotentEnroll),
        Check(name: "claim leases only due active enrollments, up to the limit", body: claimDueOnly),
        Check(name: "a leased enrollment is not claimed again while the lease lives", body: leaseExcludes),
        Check(name: "commit applies outcomes and history, releasing the lease", body: commitApplies),
        Check(name: "commit with a stale fence is dropped with its events", body: staleFenceDropped),
        Check(name: "a host change fences out an in-flight commit", body: changeFencesOut),
        Check(name: "pause, resume and cancel follow the status rules", body: statusRules),
        Check(name: "context merges deeply, makes the enrollment due, and survives commits", body: contextMerge),
        Check(name: "bulk enroll keeps request order and reports existing keys", body: bulkEnroll),
        Check(name: "renew extends live leases only, and a renewed lease is not claimed", body: renewExtendsLiveLeases),
        Check(name: "dates outside the calendar are refused by enroll and commit", body: datesOutOfRange),
        Check(name: "release gives up live leases only, leaving the cursor as it was", body: releaseGivesUpLeases),
        Check(name: "retry brings a failed enrollment back at its step, in the same visit", body: retryFailed),
        Check(name: "move starts a new visit of a step of the same version, or changes nothing", body: moveToStep),
        Check(name: "a subject's enrollments are found across sequences, newest first", body: enrollmentsBySubject),
        Check(name: "prune deletes whole final enrollments older than their status's cutoff, and a dry run nothing",
              body: pruneDeletesOnlyOldFinalEnrollments),
        Check(name: "list pages are newest first, filtered, and never repeat or skip while others enroll",
              body: listPagesAreStable),
        Check(name: "history pages concatenate to the history; step counts add up", body: historyPagesAndStepCounts),
        Check(name: "migrate moves an enrollment to another version through the step map, or changes nothing",
              body: migrateChange),
        Check(name: "the funnel counts each step's entries, statuses, goals, due work and the last hour's failures",
              body: funnelFigures),
        Check(name: "a sequence with one enrollment per subject returns the holder or refuses, and frees the subject when it ends",
              body: uniqueSubject),
        Check(name: "a claim of an enrollment whose lease expired counts an attempt; a crash loop fails after the last",
              body: crashLoopsEnd),
    ] + scheduleChecks + eventChecks + callbackChecks + notificationChecks

    // MARK: Fixtures


    static let definition = SequenceDefinition(name: "conformance", version: 1, steps: [
        Step(id: "a", runner: "GoTo", config: ["target": "b"]),
        Step(id: "b", runner: "WaitForDuration", config: ["amount": 1, "unit": "days"]),
    ])

    static func newEnrollment(_ subject: String, key: String? = nil, due: Date = t0, context: JSONValue = [:]) -> Enrollment {
        Enrollment(
            sequenceName: definition.name, sequenceVersion: 1, subject: subject, idempotencyKey: key, context: context,
            stepID: "a", nextRunAt: due, stepEnteredAt: t0, createdAt: t0, updatedAt: t0)
    }

    static func claim(_ store: any SequenceStore, now: Date = t0, limit: Int = 100, owner: String = "owner-1") async throws
        -> [ClaimedEnrollment]
    {
        try await store.claim(ClaimRequest(now: now, limit: limit, owner: owner, leaseDuration: .seconds(60)))
    }

    // MARK: Checks

    static func definitionsByVersion(_ store: any SequenceStore) async throws {
        var v2 = definition
        v2.version = 2
        v2.steps.append(Step(id: "c", runner: "GoTo", config: ["target": "$end"]))
        try expect(try await store.saveDefinition(definition), "first save stores")
        try expect(try await store.saveDefinition(v2), "a greater version stores")
        try expect(try await store.definition(named: "conformance", version: 1) == definition, "v1 reads back equal")
        try expect(try await store.definition(named: "conformance", version: nil) == v2, "latest is v2")
        try expect(try await store.definition(named: "conformance", version: 3) == nil, "v3 is absent")
        try expect(try await store.definition(named: "missing", version: nil) == nil, "unknown name is absent")
        let listed = try await store.definitionVersions().filter { $0.name == "conformance" }
        try expect(listed.map(\.version) == [1, 2] && listed.map(\.steps) == [definition.steps.count, v2.steps.count],
                   "definitionVersions lists both versions in order with their step counts, got \(listed)")
    }

    static func definitionConflicts(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        try expect(try await store.saveDefinition(definition) == false, "saving an equal definition again is a no-op")
        var changed = definition
        changed.steps[1].config = ["amount": 2, "unit": "days"]
        do {
            _ = try await store.saveDefinition(changed)
            try expect(false, "changed content under the same version must conflict")
        } catch let error as SequencerError {
            try expect(error.code == .versionConflict, "conflict code, got \(error.code)")
        }
        var v3 = definition
        v3.version = 3
        _ = try await store.saveDefinition(v3)
        var v2 = definition
        v2.version = 2
        do {
            _ = try await store.saveDefinition(v2)
            try expect(false, "a version below the latest must conflict")
        } catch let error as SequencerError {
            try expect(error.code == .versionConflict && error.field == "version", "conflict on field version")
        }
        try expect(try await store.definition(named: "conformance", version: 1) == definition, "nothing overwritten")
    }

    static func idempotentEnroll(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let first = try await store.enroll([newEnrollment("u1", key: "k1")])
        let again = try await store.enroll([newEnrollment("u1-other", key: "k1")])
        try expect(first[0].created && !again[0].created, "second enroll with the key is not created")
        try expect(again[0].enrollment.id == first[0].enrollment.id, "same key gives the same enrollment")
        try expect(again[0].enrollment.subject == "u1", "the existing enrollment is returned unchanged")
        let byKey = try await store.enrollment(sequence: "conformance", idempotencyKey: "k1")
        try expect(byKey?.id == first[0].enrollment.id, "lookup by key")
        let history = try await store.history(of: first[0].enrollment.id)
        try expect(history.map(\.kind) == [.enrolled], "one enrolled event, got \(history.map(\.kind))")
        let noKey = try await store.enroll([newEnrollment("u2"), newEnrollment("u2")])
        try expect(noKey[0].enrollment.id != noKey[1].enrollment.id && noKey.allSatisfy(\.created),
                   "without a key every request creates")
    }

    static func claimDueOnly(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let due = try await store.enroll((0..<5).map { newEnrollment("due-\($0)") })
        _ = try await store.enroll([newEnrollment("later", due: t0.addingTimeInterval(30))])
        let paused = try await store.enroll([newEnrollment("paused")])
        _ = try await store.change(paused[0].enrollment.id, .pause, now: t0)
        let firstThree = try await claim(store, limit: 3)
        try expect(firstThree.count == 3, "limit respected, got \(firstThree.count)")
        let rest = try await claim(store, limit: 100)
        let all = Set((firstThree + rest).map(\.enrollment.id))
        try expect(all == Set(due.map(\.enrollment.id)), "exactly the due active enrollments are claimed")
        try expect(try await claim(store, limit: 100).isEmpty, "nothing left to claim")
        // Still inside the first claims' 60 s leases, so only the newly due one comes back.
        let later = try await claim(store, now: t0.addingTimeInterval(30))
        try expect(later.map(\.enrollment.subject) == ["later"], "a future enrollment is claimed once due")
    }

    static func leaseExcludes(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        _ = try await store.enroll([newEnrollment("u")])
        let a = try await claim(store, owner: "a")
        let b = try await claim(store, owner: "b")
        try expect(a.count == 1 && b.isEmpty, "a live lease excludes other claimers")
    }

    static func commitApplies(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let created = try await store.enroll([newEnrollment("u")])
        let claimed = try await claim(store)
        var e = claimed[0].enrollment
        let t1 = t0.addingTimeInterval(86_400)
        e.stepID = "b"
        e.visit = 2
        e.stepEnteredAt = t0
        e.nextRunAt = t1
        e.updatedAt = t0
        let event = HistoryEvent(enrollmentID: e.id, kind: .advanced, fromStep: "a", toStep: "b", message: "hi", visit: 1, at: t0)
        let result = try await store.commit(CommitRequest(owner: "owner-1", outcomes: [CommitRequest.Outcome(enrollment: e, fence: claimed[0].fence)],
                                                        events: [event]))
        try expect(result.applied == 1 && result.fencedOut.isEmpty, "outcome applied")
        let stored = try await store.enrollment(created[0].enrollment.id)
        try expect(stored?.stepID == "b" && stored?.visit == 2 && stored?.nextRunAt == t1, "cursor written: \(String(describing: stored))")
        let history = try await store.history(of: e.id)
        try expect(history.map(\.kind) == [.enrolled, .advanced] && history.last?.message == "hi", "history appended in order")
        try expect(try await claim(store, now: t1).count == 1, "lease released: due again at its next run time")
    }

    static func staleFenceDropped(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        _ = try await store.enroll([newEnrollment("u")])
        let claimed = try await claim(store)
        var e = claimed[0].enrollment
        e.status = .completed
        e.stepID = nil
        e.nextRunAt = nil
        let event = HistoryEvent(enrollmentID: e.id, kind: .completed, fromStep: "a", toStep: nil, visit: 1, at: t0)
        let result = try await store.commit(CommitRequest(owner: "owner-1", outcomes: [CommitRequest.Outcome(enrollment: e, fence: claimed[0].fence - 1)],
                                                        events: [event]))
        try expect(result.applied == 0 && result.fencedOut == [e.id], "stale fence is fenced out")
        let stored = try await store.enrollment(e.id)
        try expect(stored?.status == .active && stored?.stepID == "a", "row unchanged")
        try expect(try await store.history(of: e.id).map(\.kind) == [.enrolled], "its events are dropped")
    }

    static func renewExtendsLiveLeases(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        _ = try await store.enroll([newEnrollment("kept"), newEnrollment("changed"), newEnrollment("taken")])
        // A lease of zero seconds is expired at once (on either clock): without a renewal, the next
        // claim takes it.
        let claimed = try await store.claim(ClaimRequest(now: t0, limit: 10, owner: "slow", leaseDuration: .zero))
        try expect(claimed.count == 3, "three claimed")
        let byName = Dictionary(uniqueKeysWithValues: claimed.map { ($0.enrollment.subject, $0) })
        _ = try await store.change(byName["changed"]!.enrollment.id, .pause, now: t0)
        let stolen = [Lease(id: byName["taken"]!.enrollment.id, fence: byName["taken"]!.fence - 1)]

        let result = try await store.renew(RenewRequest(
            owner: "slow", leases: [Lease(id: byName["kept"]!.enrollment.id, fence: byName["kept"]!.fence),
                                    Lease(id: byName["changed"]!.enrollment.id, fence: byName["changed"]!.fence)] + stolen,
            leaseDuration: .seconds(3_600), now: t0))
        try expect(result.renewed == 1, "only the live lease is renewed, got \(result.renewed)")
        try expect(Set(result.lost) == [byName["changed"]!.enrollment.id, byName["taken"]!.enrollment.id],
                   "the paused enrollment and the stale fence are lost")
        let wrongOwner = try await store.renew(RenewRequest(
            owner: "someone-else", leases: [Lease(id: byName["kept"]!.enrollment.id, fence: byName["kept"]!.fence)],
            leaseDuration: .seconds(3_600), now: t0))
        try expect(wrongOwner.renewed == 0, "another owner cannot renew it")

        let again = try await store.claim(ClaimRequest(now: t0.addingTimeInterval(60), limit: 10, owner: "fast",
                                                       leaseDuration: .seconds(60)))
        try expect(again.map(\.enrollment.subject) == ["taken"],
                   "the renewed lease is kept; the unrenewed one is taken, got \(again.map(\.enrollment.subject))")
        var done = byName["kept"]!.enrollment
        done.nextRunAt = t0.addingTimeInterval(86_400)
        let commit = try await store.commit(CommitRequest(
            owner: "slow", outcomes: [CommitRequest.Outcome(enrollment: done, fence: byName["kept"]!.fence)], events: []))
        try expect(commit.applied == 1, "the renewed batch commits")
    }

    static func releaseGivesUpLeases(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        _ = try await store.enroll([newEnrollment("a"), newEnrollment("b"), newEnrollment("c")])
        let claimed = try await store.claim(ClaimRequest(now: t0, limit: 10, owner: "leaving", leaseDuration: .seconds(3_600)))
        try expect(claimed.count == 3, "three claimed")
        let bySubject = Dictionary(uniqueKeysWithValues: claimed.map { ($0.enrollment.subject, $0) })
        let released = try await store.release(ReleaseRequest(owner: "leaving", leases: [
            Lease(id: bySubject["a"]!.enrollment.id, fence: bySubject["a"]!.fence),
            Lease(id: bySubject["b"]!.enrollment.id, fence: bySubject["b"]!.fence - 1),  // stale
        ]))
        try expect(released == 1, "only the live lease is released, got \(released)")
        let notMine = try await store.release(ReleaseRequest(
            owner: "someone-else", leases: [Lease(id: bySubject["c"]!.enrollment.id, fence: bySubject["c"]!.fence)]))
        try expect(notMine == 0, "another owner cannot release it")
        let again = try await store.claim(ClaimRequest(now: t0, limit: 10, owner: "next", leaseDuration: .seconds(60)))
        try expect(again.map(\.enrollment.subject) == ["a"], "the released enrollment is claimed at once; got \(again.map(\.enrollment.subject))")
        try expect(again[0].enrollment == bySubject["a"]!.enrollment, "its cursor is unchanged")
        try expect(try await store.history(of: again[0].enrollment.id).map(\.kind) == [.enrolled], "release writes no history")
    }

    static func datesOutOfRange(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        for bad in [Date(timeIntervalSince1970: .nan), Date(timeIntervalSince1970: 1e13), Date(timeIntervalSince1970: -1e13)] {
            var e = newEnrollment("bad")
            e.nextRunAt = bad
            do {
                _ = try await store.enroll([newEnrollment("good"), e])
                throw ConformanceFailure("an enrollment due at \(bad.timeIntervalSince1970) was stored")
            } catch let error as SequencerError {
                try expect(error.code == .outOfRange && error.field == "nextRunAt", "enroll: \(error)")
            }
        }
        try expect(try await claim(store).isEmpty, "nothing of the refused calls was stored")
        _ = try await store.enroll([newEnrollment("u")])
        let claimed = try await claim(store)
        var e = claimed[0].enrollment
        e.nextRunAt = Date(timeIntervalSince1970: .infinity)
        do {
            _ = try await store.commit(CommitRequest(owner: "owner-1", outcomes: [.init(enrollment: e, fence: claimed[0].fence)],
                                                     events: []))
            throw ConformanceFailure("a commit with an infinite due time was stored")
        } catch let error as SequencerError {
            try expect(error.code == .outOfRange && error.field == "nextRunAt", "commit: \(error)")
        }
    }

    static func changeFencesOut(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        _ = try await store.enroll([newEnrollment("u")])
        let claimed = try await claim(store)
        _ = try await store.change(claimed[0].enrollment.id, .cancel, now: t0)
        var e = claimed[0].enrollment
        e.stepID = "b"
        let result = try await store.commit(CommitRequest(owner: "owner-1", outcomes: [CommitRequest.Outcome(enrollment: e, fence: claimed[0].fence)],
                                                        events: []))
        try expect(result.fencedOut == [e.id], "cancel during a lease fences out the commit")
        let stored = try await store.enrollment(e.id)
        try expect(stored?.status == .cancelled && stored?.stepID == "a", "cancellation stands")
    }

    static func statusRules(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let id = try await store.enroll([newEnrollment("u")])[0].enrollment.id
        let paused = try await store.change(id, .pause, now: t0)
        try expect(paused.status == .paused && paused.nextRunAt == nil, "paused has no due time")
        try expect(try await claim(store).isEmpty, "paused is not claimed")
        let t1 = t0.addingTimeInterval(10)
        let resumed = try await store.change(id, .resume, now: t1)
        try expect(resumed.status == .active && resumed.nextRunAt == t1, "resume makes it due now")
        _ = try await store.change(id, .cancel, now: t1)
        for change in [EnrollmentChange.pause, .resume, .cancel, .mergeContext(["a": 1])] {
            do {
                _ = try await store.change(id, change, now: t1)
                try expect(false, "\(change) on a cancelled enrollment must fail")
            } catch let error as SequencerError {
                try expect(error.code == .invalidState, "invalidState, got \(error.code)")
            }
        }
        do {
            _ = try await store.change(UUID(), .pause, now: t1)
            try expect(false, "unknown id must fail")
        } catch let error as SequencerError {
            try expect(error.code == .unknownEnrollment, "unknownEnrollment, got \(error.code)")
        }
        let kinds = try await store.history(of: id).map(\.kind)
        try expect(kinds == [.enrolled, .paused, .resumed, .cancelled], "history of changes, got \(kinds)")
    }

    static func contextMerge(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let later = t0.addingTimeInterval(3600)
        let id = try await store.enroll([newEnrollment("u", due: later, context: ["user": ["name": "Ada", "plan": "free"], "n": 1])])[0].enrollment.id
        let t1 = t0.addingTimeInterval(5)
        let updated = try await store.change(id, .mergeContext(["user": ["plan": "pro"], "m": true]), now: t1)
        let expected: JSONValue = ["user": ["name": "Ada", "plan": "pro"], "n": 1, "m": true]
        try expect(updated.context == expected, "deep merge, got \(updated.context)")
        try expect(updated.nextRunAt == t1, "an updated active enrollment is due at once")
        let claimed = try await claim(store, now: t1)
        var e = claimed[0].enrollment
        e.context = ["overwritten": true]
        e.nextRunAt = later
        _ = try await store.commit(CommitRequest(owner: "owner-1", outcomes: [CommitRequest.Outcome(enrollment: e, fence: claimed[0].fence)], events: []))
        try expect(try await store.enrollment(id)?.context == expected, "a commit never writes the context")
    }

    static func bulkEnroll(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        _ = try await store.enroll([newEnrollment("existing", key: "k-5")])
        let requests = (0..<1000).map { newEnrollment("s\($0)", key: "k-\($0)") }
        let results = try await store.enroll(requests)
        try expect(results.count == 1000, "one result per request")
        try expect(results.map(\.created).filter { !$0 }.count == 1 && !results[5].created, "only k-5 existed")
        try expect(results[5].enrollment.subject == "existing", "the existing enrollment is returned")
        try expect(zip(results, requests).allSatisfy { $0.0.enrollment.idempotencyKey == $0.1.idempotencyKey },
                   "results are in request order")
        try expect(try await claim(store, limit: 2000).count == 1000, "every enrollment is due")
    }

    static func retryFailed(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let id = try await store.enroll([newEnrollment("u")])[0].enrollment.id
        let claimed = try await claim(store)
        var failed = claimed[0].enrollment
        failed.status = .failed
        failed.nextRunAt = nil
        failed.attempts = 3
        failed.lastError = "provider said no"
        _ = try await store.commit(CommitRequest(owner: "owner-1", outcomes: [CommitRequest.Outcome(enrollment: failed, fence: claimed[0].fence)],
                                                 events: []))
        let t1 = t0.addingTimeInterval(60)
        let retried = try await store.change(id, .retry(by: "ops@example.com"), now: t1)
        try expect(retried.status == .active && retried.nextRunAt == t1, "active and due now, got \(retried)")
        try expect(retried.stepID == "a" && retried.visit == failed.visit, "the same step and visit, got \(retried)")
        try expect(retried.attempts == 0 && retried.lastError == nil, "attempts reset, got \(retried)")
        try expect(try await store.enrollment(id) == retried, "stored as returned")
        try expect(try await claim(store, now: t1).map(\.enrollment.id) == [id], "claimable again")
        let event = try await store.history(of: id).last
        try expect(event?.kind == .retried && event?.message?.contains("ops@example.com") == true
                       && event?.message?.contains("provider said no") == true,
                   "the history says who retried what, got \(String(describing: event))")
        do {
            _ = try await store.change(id, .retry(), now: t1)
            try expect(false, "retrying an active enrollment must fail")
        } catch let error as SequencerError {
            try expect(error.code == .invalidState, "invalidState, got \(error.code)")
        }
    }

    static func moveToStep(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let id = try await store.enroll([newEnrollment("u", due: t0.addingTimeInterval(3600))])[0].enrollment.id
        let before = try await store.enrollment(id)
        let t1 = t0.addingTimeInterval(5)
        for (change, code) in [(EnrollmentChange.move(to: "zz", in: definition), SequencerError.Code.unknownStepReference),
                               (.move(to: "b", in: SequenceDefinition(name: definition.name, version: 2, steps: definition.steps)),
                                .invalidState)] {
            do {
                _ = try await store.change(id, change, now: t1)
                try expect(false, "\(change) must fail")
            } catch let error as SequencerError {
                try expect(error.code == code, "\(code), got \(error.code): \(error)")
            }
        }
        try expect(try await store.enrollment(id) == before, "a refused move changes nothing")
        let moved = try await store.change(id, .move(to: "b", in: definition, by: "ops"), now: t1)
        try expect(moved.stepID == "b" && moved.visit == 2 && moved.stepEnteredAt == t1 && moved.nextRunAt == t1,
                   "a new visit of b, due now, got \(moved)")
        let event = try await store.history(of: id).last
        try expect(event?.kind == .moved && event?.fromStep == "a" && event?.toStep == "b" && event?.visit == 1,
                   "a moved event from a to b, got \(String(describing: event))")
        _ = try await store.change(id, .pause, now: t1)
        let pausedMove = try await store.change(id, .move(to: "a", in: definition), now: t1)
        try expect(pausedMove.status == .paused && pausedMove.nextRunAt == nil && pausedMove.stepID == "a",
                   "a paused enrollment moves and stays paused, got \(pausedMove)")
        _ = try await store.change(id, .cancel, now: t1)
        do {
            _ = try await store.change(id, .move(to: "b", in: definition), now: t1)
            try expect(false, "moving a cancelled enrollment must fail")
        } catch let error as SequencerError {
            try expect(error.code == .invalidState, "invalidState, got \(error.code)")
        }
    }

    static func enrollmentsBySubject(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let other = SequenceDefinition(name: "conformance-other", version: 1, steps: definition.steps)
        _ = try await store.saveDefinition(other)
        var older = newEnrollment("user-42")
        older.createdAt = t0.addingTimeInterval(-60)
        var newer = newEnrollment("user-42")
        newer.sequenceName = other.name
        newer.createdAt = t0.addingTimeInterval(60)
        let results = try await store.enroll([older, newEnrollment("user-7"), newer, newEnrollment("user-420")])
        let found = try await store.enrollments(subject: "user-42", limit: 10)
        try expect(found.map(\.id) == [results[2].enrollment.id, results[0].enrollment.id],
                   "both of user-42's enrollments, newest first, got \(found.map(\.sequenceName))")
        try expect(try await store.enrollments(subject: "user-42", limit: 1).map(\.id) == [results[2].enrollment.id], "limited")
        try expect(try await store.enrollments(subject: "nobody", limit: 10).isEmpty, "none for an unknown subject")
    }

    static func pruneDeletesOnlyOldFinalEnrollments(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let day: TimeInterval = 86_400
        let old = t0, recent = t0.addingTimeInterval(40 * day), now = t0.addingTimeInterval(45 * day)
        let cutoff = t0.addingTimeInterval(30 * day)
        let subjects = ["old-completed", "recent-completed", "old-failed", "old-cancelled", "old-active"]
        let ids = try await store.enroll(subjects.map { newEnrollment($0, key: "key-\($0)") }).map(\.enrollment.id)
        // Finish three by commit (their updatedAt is when they became final), cancel one.
        let claimed = try await claim(store)
        var outcomes: [CommitRequest.Outcome] = []
        for item in claimed {
            var e = item.enrollment
            switch e.subject {
            case "old-completed", "recent-completed":
                e.status = .completed
                e.stepID = nil
            case "old-failed":
                e.status = .failed
                e.lastError = "gave up"
            default:
                continue
            }
            e.nextRunAt = nil
            e.updatedAt = e.subject == "recent-completed" ? recent : old
            outcomes.append(CommitRequest.Outcome(enrollment: e, fence: item.fence))
        }
        let events = outcomes.map {
            HistoryEvent(enrollmentID: $0.enrollment.id, kind: $0.enrollment.status == .failed ? .failed : .completed,
                         fromStep: "a", toStep: nil, visit: 1, at: $0.enrollment.updatedAt)
        }
        _ = try await store.commit(CommitRequest(owner: "owner-1", outcomes: outcomes, events: events))
        _ = try await store.release(ReleaseRequest(owner: "owner-1", leases: claimed.map { Lease(id: $0.enrollment.id, fence: $0.fence) }))
        _ = try await store.change(ids[3], .cancel, now: old)

        // Completed and failed go after 30 days; cancelled is kept forever.
        let request = PruneRequest(olderThan: [.completed: cutoff, .failed: cutoff, .active: now], batchSize: 1,
                                   pause: .zero)
        var dry = request
        dry.dryRun = true
        let wouldDelete = try await store.prune(dry)
        try expect(wouldDelete.enrollments == 2 && wouldDelete.events == 4 && wouldDelete.dryRun,
                   "a dry run counts two enrollments and their four events, got \(wouldDelete)")
        try expect(try await store.enrollment(ids[0]) != nil, "a dry run deletes nothing")

        let report = try await store.prune(request)
        try expect(report.enrollments == 2 && report.events == 4 && report.batches == 2 && !report.skipped,
                   "two enrollments in batches of one, with their events, got \(report)")
        for (index, subject) in subjects.enumerated() {
            let gone = subject == "old-completed" || subject == "old-failed"
            let stored = try await store.enrollment(ids[index])
            let history = try await store.history(of: ids[index])
            try expect(gone ? stored == nil && history.isEmpty : stored != nil && !history.isEmpty,
                       "\(subject): \(gone ? "deleted with its history" : "kept with its history")")
        }
        try expect(try await store.enrollments(subject: "old-completed", limit: 10).isEmpty, "gone from subject lookups")
        try expect(try await store.enrollment(sequence: definition.name, idempotencyKey: "key-old-completed") == nil,
                   "its idempotency key is free")
        let again = try await store.enroll([newEnrollment("old-completed", key: "key-old-completed")])[0]
        try expect(again.created && again.enrollment.id != ids[0], "enrolling with a freed key creates a new enrollment")
        try expect(try await store.prune(request).enrollments == 0, "a second pass finds nothing")
    }

    static func listPagesAreStable(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        // Ids are time-ordered: one second apart, so the order is known.
        func enrollment(_ n: Int, at offset: TimeInterval) -> Enrollment {
            var e = newEnrollment("s\(n)")
            e.id = .version7(at: t0.addingTimeInterval(offset))
            return e
        }
        let first = try await store.enroll((0..<25).map { enrollment($0, at: TimeInterval($0)) }).map(\.enrollment)
        // Every third one paused: the filter keeps the others.
        for e in first.enumerated() where e.offset % 3 == 0 { _ = try await store.change(e.element.id, .pause, now: t0) }
        let expected = first.enumerated().filter { $0.offset % 3 != 0 }.map(\.element.id).reversed()
        var seen: [UUID] = []
        var cursor: PageCursor?
        var pages = 0
        repeat {
            let page = try await store.enrollments(matching: EnrollmentFilter(sequence: definition.name, status: .active),
                                                   after: cursor, limit: 4)
            try expect(page.enrollments.count <= 4, "a page holds at most the limit")
            seen += page.enrollments.map(\.id)
            cursor = try page.next.map { try PageCursor($0.description) }   // as a caller would carry it
            // Others enroll between pages (newer ids): they must not appear in later pages.
            _ = try await store.enroll([enrollment(100 + pages, at: 1_000 + TimeInterval(pages))])
            pages += 1
        } while cursor != nil && pages < 20
        try expect(seen == Array(expected), "every active enrollment once, newest first: got \(seen.count) of \(expected.count)")
        let bySubject = try await store.enrollments(matching: EnrollmentFilter(subject: "s1"), after: nil, limit: 10)
        try expect(bySubject.enrollments.map(\.id) == [first[1].id] && bySubject.next == nil, "by subject")
        let byStep = try await store.enrollments(matching: EnrollmentFilter(step: "b"), after: nil, limit: 10)
        try expect(byStep.enrollments.isEmpty, "no enrollment at step b")
        let none = try await store.enrollments(matching: EnrollmentFilter(updatedSince: t0.addingTimeInterval(86_400)),
                                               after: nil, limit: 10)
        try expect(none.enrollments.isEmpty, "nothing updated after a day")
    }

    static func historyPagesAndStepCounts(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let ids = try await store.enroll((0..<3).map { newEnrollment("h\($0)") }).map(\.enrollment.id)
        for n in 0..<7 { _ = try await store.change(ids[0], .mergeContext(["n": .number(Double(n))]), now: t0) }
        _ = try await store.change(ids[1], .pause, now: t0)
        _ = try await store.change(ids[2], .cancel, now: t0)
        let whole = try await store.history(of: ids[0])
        var pages: [HistoryEvent] = []
        var cursor: PageCursor?
        repeat {
            let page = try await store.history(of: ids[0], after: cursor, limit: 3)
            pages += page.events
            cursor = page.next
        } while cursor != nil && pages.count < 100
        try expect(whole.count == 8 && pages == whole, "three pages of the eight events, in order: got \(pages.count)")
        let counts = try await store.stepCounts(sequence: definition.name, version: 1)
        let expected: Set<StepCount> = [StepCount(step: "a", status: .active, count: 1), StepCount(step: "a", status: .paused, count: 1),
                                        StepCount(step: "a", status: .cancelled, count: 1)]
        try expect(Set(counts) == expected, "one per status at a, got \(counts)")
        try expect(try await store.stepCounts(sequence: definition.name, version: 9).isEmpty, "none for another version")
    }

    static func migrateChange(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let next = SequenceDefinition(name: definition.name, version: 2, steps: [
            Step(id: "a2", runner: "GoTo", config: ["target": "b"]),
            Step(id: "b", runner: "WaitForDuration", config: ["amount": 2, "unit": "days"]),
        ])
        _ = try await store.saveDefinition(next)
        let ids = try await store.enroll([newEnrollment("m1"), newEnrollment("m2")]).map(\.enrollment.id)
        let t1 = t0.addingTimeInterval(30)
        let change = EnrollmentChange(.migrate(from: 1, to: 2, steps: ["a": "a2", "b": "b"], by: "ops"))
        let migrated = try await store.change(ids[0], change, now: t1)
        try expect(migrated.sequenceVersion == 2 && migrated.stepID == "a2" && migrated.visit == 2 && migrated.nextRunAt == t1,
                   "on version 2 at a2, a new visit, due now: got \(migrated)")
        try expect(try await store.enrollment(ids[0]) == migrated, "stored as returned")
        try expect(try await store.history(of: ids[0]).last?.kind == .migrated, "a migrated event")
        do {
            _ = try await store.change(ids[0], change, now: t1)
            try expect(false, "migrating from a version it is no longer on must fail")
        } catch let error as SequencerError {
            try expect(error.code == .invalidState, "invalidState, got \(error.code)")
        }
        do {
            _ = try await store.change(ids[1], EnrollmentChange(.migrate(from: 1, to: 2, steps: ["b": "b"], by: nil)), now: t1)
            try expect(false, "a step the map does not cover must fail")
        } catch let error as SequencerError {
            try expect(error.code == .invalidState && error.field == "stepMap", "invalidState on stepMap, got \(error)")
        }
        try expect(try await store.enrollment(ids[1])?.sequenceVersion == 1, "a refused migration changes nothing")
    }

    static func funnelFigures(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let ids = try await store.enroll(["advance", "goal", "fail", "retry"].map { newEnrollment($0) }).map(\.enrollment.id)
        let later = try await store.enroll([newEnrollment("tomorrow", due: t0.addingTimeInterval(86_400))])[0].enrollment.id
        let claimed = try await claim(store)
        try expect(claimed.count == 4, "the four due ones are claimed")
        var outcomes: [CommitRequest.Outcome] = [], events: [HistoryEvent] = []
        for item in claimed {
            var e = item.enrollment
            e.updatedAt = t0
            switch e.subject {
            case "advance":
                e.stepID = "b"
                e.visit = 2
                e.nextRunAt = t0.addingTimeInterval(86_400)
                events.append(HistoryEvent(enrollmentID: e.id, kind: .advanced, fromStep: "a", toStep: "b", visit: 1, at: t0))
            case "goal":
                e.stepID = nil
                e.status = .completed
                e.visit = 2
                e.nextRunAt = nil
                events.append(HistoryEvent(enrollmentID: e.id, kind: .goalReached, fromStep: "a", toStep: Step.end, visit: 1, at: t0))
                events.append(HistoryEvent(enrollmentID: e.id, kind: .completed, fromStep: "a", toStep: nil, visit: 2, at: t0))
            case "fail":
                e.status = .failed
                e.nextRunAt = nil
                events.append(HistoryEvent(enrollmentID: e.id, kind: .failed, fromStep: "a", toStep: nil, visit: 1, at: t0))
            default:
                e.attempts = 1
                e.nextRunAt = t0.addingTimeInterval(60)
                events.append(HistoryEvent(enrollmentID: e.id, kind: .retrying, fromStep: "a", toStep: nil, visit: 1, at: t0))
            }
            outcomes.append(CommitRequest.Outcome(enrollment: e, fence: item.fence))
        }
        // A stale outcome (a fence the row no longer carries) counts nothing.
        let advance = outcomes.first { $0.enrollment.subject == "advance" }!
        let stale = try await store.commit(CommitRequest(
            owner: "owner-1", outcomes: [CommitRequest.Outcome(enrollment: advance.enrollment, fence: advance.fence - 1)],
            events: events.filter { $0.enrollmentID == advance.enrollment.id }))
        _ = try await store.commit(CommitRequest(owner: "owner-1", outcomes: outcomes, events: events))
        try expect(stale.applied == 0, "the stale outcome is fenced out")
        _ = try await store.change(later, .pause, now: t0)
        _ = try await store.enroll([newEnrollment("late", due: t0.addingTimeInterval(10))])

        let at = t0.addingTimeInterval(1_800)
        let funnel = try await store.funnel(sequence: definition.name, version: 1, now: at)
        func step(_ id: String?) -> FunnelStatistics.StepFigures { funnel.figures(for: id) }
        try expect(funnel.enrolled == 6, "six enrolled, got \(funnel.enrolled)")
        try expect(step("a").reached == 6 && step("b").reached == 1 && step(nil).reached == 1,
                   "entries: a 6, b 1, the end 1; got \(funnel.steps)")
        try expect(step("a").now == [.active: 2, .failed: 1, .paused: 1] && step("b").now == [.active: 1]
                   && step(nil).now == [.completed: 1], "where they are now, got \(funnel.steps)")
        try expect(funnel.goalsReached == 1, "one goal; got \(funnel.goalsReached)")
        try expect(funnel.dueNow == 2 && funnel.oldestDueAt == t0.addingTimeInterval(10),
                   "\"late\" and the retry are due, the oldest since t0+10s; got \(funnel.dueNow), \(String(describing: funnel.oldestDueAt))")
        try expect(funnel.failedLastHour == 1 && funnel.retriesLastHour == 1, "one failure and one retry in the last hour")
        try expect(funnel.count(.active) == 3 && funnel.share(reaching: "b") == 1.0 / 6, "totals and shares")
        let nextDay = try await store.funnel(sequence: definition.name, version: 1, now: t0.addingTimeInterval(7_200))
        try expect(nextDay.failedLastHour == 0 && nextDay.retriesLastHour == 0, "two hours on, nothing in the last hour")
        let other = try await store.funnel(sequence: definition.name, version: 2, now: at)
        try expect(other.enrolled == 0 && other.steps.isEmpty && other.dueNow == 0, "nothing for another version")

        // Folding changes no figure; retention removes the deleted from "now", never from "reached".
        _ = try await store.foldStatistics()
        try expect(try await store.funnel(sequence: definition.name, version: 1, now: at) == funnel, "folding changes nothing")
        let pruned = try await store.prune(PruneRequest(olderThan: [.completed: at], batchSize: 10, pause: .zero))
        try expect(pruned.enrollments == 1, "the completed one is pruned")
        let after = try await store.funnel(sequence: definition.name, version: 1, now: at)
        try expect(after.figures(for: nil).now[.completed, default: 0] == 0 && after.figures(for: nil).reached == 1
                   && after.enrolled == 6 && after.goalsReached == 1, "pruned: gone from now, kept in reached; got \(after.steps)")
        _ = ids
    }

    static func uniqueSubject(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        func unique(_ subject: String, _ policy: SequenceDefinition.UniqueSubject = .returnExisting, key: String? = nil)
            -> Enrollment
        {
            var e = newEnrollment(subject, key: key)
            e.uniqueSubject = policy
            return e
        }
        let first = try await store.enroll([unique("u"), unique("u"), unique("v")])
        try expect(first.map(\.created) == [true, false, true] && first[1].enrollment.id == first[0].enrollment.id,
                   "the second request for u returns the first: got \(first.map(\.created))")
        let again = try await store.enroll([unique("u", key: "k1")])
        try expect(!again[0].created && again[0].enrollment.id == first[0].enrollment.id
                   && again[0].enrollment.uniqueSubject == .returnExisting, "u is held: its holder is returned")
        // Without the option, the same subject enrolls any number of times.
        let free = try await store.enroll([newEnrollment("u"), newEnrollment("u")])
        try expect(free.allSatisfy(\.created), "enrollments without the option are not held")

        // Paused still holds; cancelled frees.
        _ = try await store.change(first[0].enrollment.id, .pause, now: t0)
        try expect(try await store.enroll([unique("u")])[0].enrollment.id == first[0].enrollment.id, "paused holds")
        _ = try await store.change(first[0].enrollment.id, .cancel, now: t0)
        let second = try await store.enroll([unique("u")])[0]
        try expect(second.created && second.enrollment.id != first[0].enrollment.id, "a cancelled one frees the subject")

        // A failed one frees it too, and cannot come back while another holds it.
        let claimed = try await claim(store).filter { $0.enrollment.id == second.enrollment.id }
        try expect(claimed.count == 1, "the new enrollment is due")
        var failed = claimed[0].enrollment
        failed.status = .failed
        failed.nextRunAt = nil
        failed.lastError = "gave up"
        _ = try await store.commit(CommitRequest(owner: "owner-1", outcomes: [.init(enrollment: failed, fence: claimed[0].fence)],
                                                 events: []))
        let third = try await store.enroll([unique("u")])[0]
        try expect(third.created, "a failed one frees the subject")
        do {
            _ = try await store.change(second.enrollment.id, .retry(by: "ops"), now: t0)
            throw ConformanceFailure("retrying the failed one while another holds the subject must be refused")
        } catch let error as SequencerError where error.code == .alreadyEnrolled {}
        try expect(try await store.enrollment(second.enrollment.id)?.status == .failed, "the refused retry changed nothing")

        // Reject: the whole call is refused and nothing of it stored.
        _ = try await store.enroll([unique("r", .reject)])
        do {
            _ = try await store.enroll([unique("s", .reject), unique("r", .reject)])
            throw ConformanceFailure("enrolling a held subject with the reject policy must throw alreadyEnrolled")
        } catch let error as SequencerError where error.code == .alreadyEnrolled {}
        try expect(try await store.enrollments(subject: "s", limit: 10).isEmpty, "nothing of the refused call is stored")
        // An idempotent repeat is not a conflict.
        let keyed = try await store.enroll([unique("w", .reject, key: "w1")])[0]
        let repeated = try await store.enroll([unique("w", .reject, key: "w1")])[0]
        try expect(keyed.created && !repeated.created && repeated.enrollment.id == keyed.enrollment.id,
                   "the same key again returns the enrollment, even under reject")
    }

    static func crashLoopsEnd(_ store: any SequenceStore) async throws {
        _ = try await store.saveDefinition(definition)
        let id = try await store.enroll([newEnrollment("crasher")])[0].enrollment.id
        // Three tickers claim it and die (never commit, never release); leases of 50 ms, measured
        // on the database's clock by a database store and on the claim's `now` by the in-memory one.
        for k in 0..<3 {
            let claimed = try await store.claim(ClaimRequest(now: t0.addingTimeInterval(Double(k) * 60), limit: 10,
                                                             owner: "dying-\(k)", leaseDuration: .milliseconds(50)))
            let e = try requireOne(claimed, id)
            try expect(e.attempts == k, "claim \(k): \(k) expired lease(s) counted, got \(e.attempts)")
            if k > 0 {
                try expect(e.lastError == Lease.expiryMessage(owner: "dying-\(k - 1)", step: "a"), "why: \(e.lastError ?? "-")")
            }
            try await Task.sleep(for: .milliseconds(120))
        }
        var configuration = Sequencer.Configuration()
        configuration.retry.maxAttempts = 3
        let sequencer = Sequencer(store: store, configuration: configuration)
        _ = try await sequencer.tick(now: t0.addingTimeInterval(240))
        let failed = try await sequencer.enrollment(id)
        try expect(failed.status == .failed
                   && failed.lastError == "gave up after 3 attempts: " + Lease.expiryMessage(owner: "dying-2", step: "a"),
                   "the fourth claim fails it, saying why: \(failed.status) \(failed.lastError ?? "-")")
        // A lease that ended in a commit or a release is not an attempt.
        let other = try await store.enroll([newEnrollment("fine", due: t0.addingTimeInterval(300))])[0].enrollment.id
        let first = try await store.claim(ClaimRequest(now: t0.addingTimeInterval(300), limit: 10, owner: "o",
                                                       leaseDuration: .seconds(60)))
        _ = try await store.release(ReleaseRequest(owner: "o", leases: first.map { Lease(id: $0.enrollment.id, fence: $0.fence) }))
        let again = try await store.claim(ClaimRequest(now: t0.addingTimeInterval(301), limit: 10, owner: "o2",
                                                       leaseDuration: .seconds(60)))
        try expect(try requireOne(again, other).attempts == 0, "a released lease is not an attempt")
    }

    private static func requireOne(_ claimed: [ClaimedEnrollment], _ id: UUID) throws -> Enrollment {
        guard let e = claimed.first(where: { $0.enrollment.id == id })?.enrollment else {
            throw ConformanceFailure("enrollment \(id) was not claimed")
        }
        return e
    }
}
