import Foundation
import PostgresNIO
import Sequencer
import SequencerTesting
import SequencerPostgres
import Testing

@Suite("PostgresStore enroll")
struct EnrollTests {
    struct HostRollback: Error {}

    @Test func enrollOnTheHostsConnectionRollsBackWithTheHost() async throws {
        try await withStore { store in
            _ = try await store.saveDefinition(threeSteps)
            let request = newEnrollment("rolled-back", key: "k-1")
            await #expect {
                try await store.client.withTransaction(logger: testLogger) { connection in
                    let results = try await store.transaction(on: connection).enroll([request])
                    #expect(results.map(\.created) == [true])
                    // Visible inside the host's transaction…
                    let inside = try await connection.query(
                        "SELECT count(*) FROM \(unescaped: "\"\(store.configuration.schema)\"").enrollments", logger: testLogger
                    ).collect()[0].decode(Int.self)
                    #expect(inside == 1)
                    throw HostRollback()
                }
            } throws: { error in
                (error as? PostgresTransactionError)?.closureError is HostRollback
            }
            // …and gone with it, events included.
            #expect(try await store.enrollment(request.id) == nil)
            #expect(try await store.enrollment(sequence: threeSteps.name, idempotencyKey: "k-1") == nil)
            #expect(try await store.history(of: request.id).isEmpty)

            let committed = newEnrollment("committed", key: "k-1")
            try await store.client.withTransaction(logger: testLogger) { connection in
                _ = try await store.transaction(on: connection).enroll([committed])
            }
            #expect(try await store.enrollment(committed.id)?.subject == "committed")
            #expect(try await store.history(of: committed.id).map(\.kind) == [.enrolled])
        }
    }

    @Test func sequencerEnrollsInsideTheHostsTransaction() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(threeSteps)
            let client = store.client
            let schema = "\"\(store.configuration.schema)\""
            try await store.execute("CREATE TABLE {s}.users (id text PRIMARY KEY)")

            // The host's row and the enrollment commit together…
            let id = try await client.withTransaction(logger: testLogger) { connection in
                try await connection.query("INSERT INTO \(unescaped: schema).users (id) VALUES (\("user-1"))", logger: testLogger)
                return try await sequencer.enroll("user-1", in: threeSteps.name, context: ["plan": "trial"],
                                                  idempotencyKey: "signup-1", now: t0, within: store.transaction(on: connection))
            }
            #expect(try await sequencer.enrollment(id).context == ["plan": "trial"])

            // …or roll back together (here the host's insert fails after the enrollment was written).
            await #expect(throws: (any Error).self) {
                try await client.withTransaction(logger: testLogger) { connection in
                    _ = try await sequencer.enroll("user-2", in: threeSteps.name, now: t0, within: store.transaction(on: connection))
                    try await connection.query("INSERT INTO \(unescaped: schema).users (id) VALUES (\("user-1"))", logger: testLogger)
                }
            }
            let subjects: Int = try await store.scalar("SELECT count(*) FROM {s}.enrollments WHERE subject = 'user-2'")
            #expect(subjects == 0)

            // Validation happens before anything is written.
            await #expect {
                try await client.withTransaction(logger: testLogger) { connection in
                    try await sequencer.enroll("user-3", in: threeSteps.name, context: [1, 2], within: store.transaction(on: connection))
                }
            } throws: { error in
                ((error as? PostgresTransactionError)?.closureError as? SequencerError)?.code == .invalidContext
            }
        }
    }

    /// The engine refuses NUL characters and non-finite numbers before they reach a store
    /// (see `EnrollmentRequest.enrollment(in:now:)`). This proves the rule matches PostgreSQL:
    /// the server itself refuses them, so the in-memory store's answer is PostgreSQL's answer.
    @Test func postgresRefusesWhatTheEngineRefuses() async throws {
        try await withStore { store in
            let client = store.client
            await #expect(throws: (any Error).self) {
                try await client.query("SELECT \("a\u{0}b")::text", logger: testLogger).collect()
            }
            await #expect(throws: (any Error).self) {
                try await client.query(#"SELECT '{"a": "x\u0000y"}'::jsonb"#, logger: testLogger).collect()
            }
            await #expect(throws: (any Error).self) {
                try await client.query(#"SELECT '{"a": NaN}'::jsonb"#, logger: testLogger).collect()
            }
        }
    }

    @Test func aBulkEnrollWithOneUnstorableContextStoresNothing() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(threeSteps)
            var requests = (0..<3_000).map { EnrollmentRequest(subject: "user-\($0)") }
            requests[2_500].context = ["note": "a\u{0}b"]
            let error = try await #require(throws: SequencerError.self) {
                try await sequencer.enroll(requests, in: threeSteps.name)
            }
            #expect(error.code == .invalidContext && error.field == "context.note", "\(error)")
            #expect(try await store.scalar("SELECT count(*) FROM {s}.enrollments") == 0)

            // The same rule holds for a context update, inside the store's transaction.
            let id = try await sequencer.enroll("user-ok", in: threeSteps.name, context: ["note": "fine"])
            let update = try await #require(throws: SequencerError.self) {
                try await sequencer.updateContext(id, merging: ["note": "a\u{0}b"])
            }
            #expect(update.code == .invalidContext && update.field == "context.note" && update.sequence == threeSteps.name)
            #expect(try await sequencer.enrollment(id).context == ["note": "fine"])
        }
    }

    /// A 50 MB context (the limit is 1 MiB) read from JSON text and given to enroll, a bulk
    /// enroll, a context update and an event: each is refused with `limitExceeded` naming the
    /// context, before anything is written, and nothing is stored. Prints how long each took.
    @Test func fiftyMegabyteContextsAreRefusedAndStoreNothing() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(threeSteps)
            let clock = ContinuousClock()
            var timings: [String] = []
            func timed<T>(_ what: String, _ body: () async throws -> T) async rethrows -> T {
                let start = clock.now
                defer { timings.append("\(what) \(clock.now - start)") }
                return try await body()
            }
            let text = #"{"plan": "pro", "notes": [""# + String(repeating: "x", count: 1_000) + #"""#
                + String(repeating: #", ""# + String(repeating: "x", count: 1_000) + #"""#, count: 49_999) + "]}"
            #expect(text.utf8.count > 50_000_000)
            let context = try await timed("read 50 MB of JSON text") { try JSONValue(json: text) }

            let one = try await timed("enroll") {
                try await #require(throws: SequencerError.self) {
                    try await sequencer.enroll("big", in: threeSteps.name, context: context)
                }
            }
            #expect(one.code == .limitExceeded && one.field == "context" && one.sequence == threeSteps.name, "\(one)")
            var requests = (0..<100).map { EnrollmentRequest(subject: "user-\($0)") }
            requests[50].context = context
            let bulk = try await timed("bulk enroll") {
                try await #require(throws: SequencerError.self) { try await sequencer.enroll(requests, in: threeSteps.name) }
            }
            #expect(bulk.code == .limitExceeded && bulk.field == "context", "\(bulk)")
            #expect(try await store.scalar("SELECT count(*) FROM {s}.enrollments") == 0)

            let id = try await sequencer.enroll("small", in: threeSteps.name, context: ["plan": "basic"])
            let update = try await timed("update the context") {
                try await #require(throws: SequencerError.self) { try await sequencer.updateContext(id, merging: context.objectValue ?? [:]) }
            }
            #expect(update.code == .limitExceeded && (update.field ?? "").hasPrefix("context"), "\(update)")
            let event = try await timed("send an event") {
                try await #require(throws: SequencerError.self) {
                    try await sequencer.send(event: "big", data: context.objectValue ?? [:], to: .enrollment(id))
                }
            }
            #expect(event.code == .limitExceeded && (event.field ?? "").hasPrefix("context"), "\(event)")
            #expect(try await sequencer.enrollment(id).context == ["plan": "basic"])
            #expect(try await store.scalar("SELECT count(*) FROM {s}.enrollments") == 1)
            print("50 MB contexts: \(timings.joined(separator: ", "))")
        }
    }

    /// Both calls carry idempotency keys, so every batch is an `INSERT … unnest` however large
    /// the call: the first creates 100,000; the second (1,500 requests, 1,000 of them known)
    /// creates 500 and returns the known ones' ids.
    @Test func aHundredThousandSubjectsInOneCallIdempotently() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(threeSteps)
            let segment = (0..<100_000).map {
                EnrollmentRequest(subject: "user-\($0)", context: ["n": .number(Double($0))], idempotencyKey: "signup-\($0)")
            }
            let clock = ContinuousClock()
            let start = clock.now
            let ids = try await sequencer.enroll(segment, in: threeSteps.name, now: t0)
            let firstCall = clock.now - start
            #expect(ids.count == 100_000)
            #expect(Set(ids).count == 100_000)

            // The same segment again (say, a retried job), plus new subjects: only those are created.
            let again = segment[99_000...] + (100_000..<100_500).map {
                EnrollmentRequest(subject: "user-\($0)", idempotencyKey: "signup-\($0)")
            }
            let secondIDs = try await sequencer.enroll(Array(again), in: threeSteps.name, now: t0)
            #expect(Array(secondIDs.prefix(1_000)) == Array(ids[99_000...]))
            let total: Int = try await store.scalar("SELECT count(*) FROM {s}.enrollments")
            let enrolledEvents: Int = try await store.scalar("SELECT count(*) FROM {s}.events WHERE kind = 'enrolled'")
            #expect(total == 100_500)
            #expect(enrolledEvents == 100_500)
            print("bulk enroll: 100,000 subjects in \(firstCall)")
        }
    }

    @Test func duplicateKeysInOneBatchCreateOnce() async throws {
        try await withStore { store in
            _ = try await store.saveDefinition(threeSteps)
            let requests = [newEnrollment("first", key: "same"), newEnrollment("other"), newEnrollment("second", key: "same")]
            let results = try await store.enroll(requests)
            #expect(results.map(\.created) == [true, true, false])
            #expect(results[2].enrollment.id == results[0].enrollment.id)
            #expect(results[2].enrollment.subject == "first")
        }
    }

    @Test(arguments: EnrollPath.allCases)
    func storedEnrollmentsReadBackEqual(_ path: EnrollPath) async throws {
        try await withStore(configure: path.configure) { store in
            _ = try await store.saveDefinition(threeSteps)
            // COPY takes batches without keys only.
            var enrollment = newEnrollment("u", key: path == .unnest ? "k" : nil, context: [
                "name": "Zoë\t\\N\n", "n": 1.5, "big": 12_345_678_901, "flags": [true, false, nil], "nested": ["a": ["b": "c"]],
            ])
            enrollment.nextRunAt = t0.addingTimeInterval(0.123_456)  // microseconds survive
            enrollment.stepEnteredAt = t0.addingTimeInterval(-0.5)
            enrollment.lastError = "it's \"quoted\" \\ and ; safe,\ttabbed\r\nover lines \\N \\t"
            enrollment.attempts = 2
            enrollment.visit = 7
            _ = try await store.enroll([enrollment])
            #expect(try await store.enrollment(enrollment.id) == enrollment)
            if path == .unnest {
                #expect(try await store.enrollment(sequence: threeSteps.name, idempotencyKey: "k") == enrollment)
            }
        }
    }
}

/// `COPY` and `unnest` are two ways to write the same thing.
@Suite("PostgresStore enroll through COPY")
struct CopyEnrollTests {
    @Test func copyAndUnnestStoreTheSameRowsEventsAndFunnelCounts() async throws {
        // Batches of 100: three without keys (COPY), then one with keys (always unnest), one
        // of which repeats a key of that batch.
        var requests = (0..<300).map { n in
            newEnrollment("user-\(n)", context: ["n": .number(Double(n)), "s": "\\\t\n"])
        }
        requests += (0..<99).map { n in newEnrollment("keyed-\(n)", key: "key-\(n)") }
        requests.append(newEnrollment("repeat", key: "key-0"))  // not created
        requests[10].nextRunAt = nil
        requests[11].lastError = "tab\there"
        func stored(_ path: EnrollPath) async throws -> ([EnrollResult], [Enrollment?], [[HistoryEvent]], FunnelStatistics) {
            try await withStore(configure: { path.configure(&$0); $0.enrollBatchSize = 100 }) { store in
                _ = try await store.saveDefinition(threeSteps)
                let results = try await store.enroll(requests)
                _ = try await store.foldStatistics()
                var rows: [Enrollment?] = [], histories: [[HistoryEvent]] = []
                for request in requests.prefix(20) + requests.suffix(2) {
                    rows.append(try await store.enrollment(request.id))
                    histories.append(try await store.history(of: request.id))
                }
                var funnel = try await store.funnel(sequence: threeSteps.name, version: threeSteps.version, now: t0)
                funnel.steps.sort { ($0.step ?? "") < ($1.step ?? "") }
                return (results, rows, histories, funnel)
            }
        }
        let unnest = try await stored(.unnest), copy = try await stored(.copy)
        #expect(copy.0.map(\.created) == unnest.0.map(\.created))
        #expect(copy.0.map(\.enrollment) == unnest.0.map(\.enrollment))
        #expect(copy.0.filter(\.created).count == 399)
        #expect(copy.1 == unnest.1)
        #expect(copy.1[10]?.nextRunAt == nil && copy.1[11]?.lastError == "tab\there")
        #expect(copy.2 == unnest.2)
        #expect(copy.2[0].map(\.kind) == [.enrolled])
        #expect(copy.3 == unnest.3)
        #expect(copy.3.enrolled == 399)
    }

    /// COPY writes dates as text, formatted by hand; binds write them as binary microseconds.
    /// Dates over the whole accepted range (years 1 to 9999, leap days, before and after 2000,
    /// fractions of a microsecond) read back the same either way.
    @Test func datesWrittenAsTextReadBackAsTheirBinaryBind() async throws {
        var generator = SystemRandomNumberGenerator()
        let range = Limits.dates.lowerBound.timeIntervalSince1970...Limits.dates.upperBound.timeIntervalSince1970
        var dates = (0..<400).map { _ in Date(timeIntervalSince1970: Double.random(in: range, using: &generator)) }
        dates += [Limits.dates.lowerBound, Limits.dates.upperBound, Date(timeIntervalSince1970: 951_782_400),  // 2000-02-29
                  Date(timeIntervalSince1970: 946_684_799.999_999_6), Date(timeIntervalSince1970: -0.000_000_4),
                  Date(timeIntervalSinceReferenceDate: -31_622_400.5)]
        let requests = dates.enumerated().map { index, date in
            var e = newEnrollment("dated-\(index)")
            e.nextRunAt = date
            e.createdAt = dates[(index + 1) % dates.count]
            e.stepEnteredAt = dates[(index + 2) % dates.count]
            e.updatedAt = date
            return e
        }
        func readBack(_ path: EnrollPath) async throws -> [Enrollment?] {
            try await withStore(configure: path.configure) { store in
                _ = try await store.saveDefinition(threeSteps)
                _ = try await store.enroll(requests)
                var rows: [Enrollment?] = []
                for request in requests { rows.append(try await store.enrollment(request.id)) }
                return rows
            }
        }
        let bound = try await readBack(.unnest)
        #expect(bound.allSatisfy { $0 != nil })
        let copied = try await readBack(.copy)
        for index in requests.indices {
            #expect(copied[index] == bound[index], "date \(dates[index].timeIntervalSince1970)")
        }
    }
}

/// One enrollment per subject, enforced by the database.
@Suite("PostgresStore one enrollment per subject")
struct UniqueSubjectTests {
    static let definition: SequenceDefinition = {
        var definition = SequenceDefinition(name: "exclusive", version: 1, steps: [.waitForDuration("wait", 1, "days")])
        definition.uniqueSubject = .returnExisting
        return definition
    }()

    @Test func fiftyConcurrentHostTransactionsWithRandomRollbacksLeaveExactlyOne() async throws {
        try await withStore { store in
            let sequencer = Sequencer(store: store, logger: testLogger)
            try await sequencer.register(Self.definition)
            struct Rollback: Error {}
            for round in 0..<3 {
                let subject = "racer-\(round)"
                // Each host transaction enrolls the subject, waits a little, then commits or rolls back.
                let outcomes = await withTaskGroup(of: (UUID, committed: Bool)?.self) { group in
                    for n in 0..<50 {
                        group.addTask {
                            let rollBack = Bool.random()
                            var enrolled: UUID?
                            do {
                                try await store.client.withTransaction(logger: testLogger) { connection in
                                    enrolled = try await sequencer.enroll(subject, in: "exclusive", now: t0,
                                                                          within: store.transaction(on: connection))
                                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...5)))
                                    if rollBack { throw Rollback() }
                                }
                            } catch {
                                return enrolled.map { ($0, committed: false) }
                            }
                            _ = n
                            return enrolled.map { ($0, committed: true) }
                        }
                    }
                    var all: [(UUID, committed: Bool)] = []
                    for await outcome in group { if let outcome { all.append(outcome) } }
                    return all
                }
                let committed = Set(outcomes.filter(\.committed).map(\.0))
                let survivors: Int = try await store.scalar(
                    "SELECT count(*) FROM {s}.enrollments WHERE subject = '\(subject)' AND status = 'active'")
                #expect(survivors == (committed.isEmpty ? 0 : 1), "round \(round): \(survivors) active, \(committed.count) ids committed")
                #expect(committed.count <= 1, "every committed transaction got the same enrollment: \(committed)")
                if let id = committed.first {
                    #expect(try await sequencer.enrollment(id).status == .active)
                }
            }
            // A rejected enroll names the sequence and the subject.
            var reject = Self.definition
            reject.name = "exclusive-reject"
            reject.uniqueSubject = .reject
            try await sequencer.register(reject)
            try await sequencer.enroll("held", in: "exclusive-reject", now: t0)
            await #expect {
                try await sequencer.enroll("held", in: "exclusive-reject", now: t0)
            } throws: { error in
                let error = error as! SequencerError
                return error.code == .alreadyEnrolled && error.field == "subject"
                    && error.message.contains("(exclusive-reject, held)")
            }
        }
    }
}
