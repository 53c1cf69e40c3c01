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
    ]

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

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String, file: String = #fileID,
                       line: Int = #line) throws {
        if !condition { throw ConformanceFailure(message: message(), file: file, line: line) }
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
}

/// A failed ``StoreConformance`` or ``LedgerConformance`` check.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let message: String
    /// The check's source file (`#fileID`), e.g. `SequencerTesting/LedgerConformance.swift`.
    public let file: String
    public let line: Int
    public var description: String { "conformance check failed (\(file):\(line)): \(message)" }
}
