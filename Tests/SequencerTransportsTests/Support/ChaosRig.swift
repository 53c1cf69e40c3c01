import Foundation
import PostgresNIO
import Sequencer
@testable import SequencerPostgres
import SequencerPostgresTesting
import SequencerTransports
import Testing

/// What the chaos tests share: a schema with a mixed sequence (an Email, a wait, a branch, an
/// HTTPTask waiting for its callback, a second Email, a wait), ticker processes running the
/// service (`SequencerStressTicker --serve`), a real SMTP server, a job service that calls back,
/// the host's callback route, a log of every lease change, and the checks of a drained run.
final class ChaosRig {
    static let proPath = "welcome>pause,pause>branch,branch>job,job>after-job,after-job>$end"
    static let basicPath = "welcome>pause,pause>branch,branch>reminder,reminder>last-wait,last-wait>$end"
    static let leaseSeconds = 2.0
    static let intervalMilliseconds = 200.0

    static func sequence(jobsPort: Int) -> String {
        """
        {"name": "chaos", "version": 1, "steps": [
          {"id": "welcome", "runner": "Email", "config": {"from": "Acme <hi@acme.example>", "to": ["{{email}}"],
                                                          "subject": "Welcome", "text": "Hi {{name}}."}},
          {"id": "pause", "runner": "WaitForDuration", "config": {"amount": 2, "unit": "seconds"}},
          {"id": "branch", "runner": "Conditional", "altNext": "reminder",
           "config": {"lodashCommand": "eq", "value": {"type": "get", "value": "plan"}, "compareTo": {"type": "raw", "value": "pro"}}},
          {"id": "job", "runner": "HTTPTask", "config": {"url": "http://127.0.0.1:\(jobsPort)/jobs", "payload": {"subject": "{{name}}"},
                                                        "timeout": {"amount": 10, "unit": "minutes"}}},
          {"id": "after-job", "runner": "GoTo", "config": {"target": "$end"}},
          {"id": "reminder", "runner": "Email", "config": {"from": "Acme <hi@acme.example>", "to": ["{{email}}"],
                                                           "subject": "Still there?", "text": "Hi again {{name}}."}},
          {"id": "last-wait", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "seconds"}}
        ]}
        """
    }

    /// One ticker process; a restarted ticker is a new one, with a new owner name.
    final class Ticker {
        let owner: String
        let process: Process
        let errors: URL
        var killedAt: Date?

        init(owner: String, process: Process, errors: URL) {
            self.owner = owner
            self.process = process
            self.errors = errors
        }

        /// Lines the process wrote to standard error (its warnings and errors).
        var errorLines: [Substring] {
            ((try? String(contentsOf: errors, encoding: .utf8)) ?? "").split(separator: "\n")
        }
    }

    let client: PostgresClient
    let schema: String
    let store: PostgresStore
    let sequencer: Sequencer
    let databaseURL: String
    let smtp: TestServer
    let jobs: TestServer
    let callbackURL: String
    let directory: URL
    let executable: URL
    private(set) var tickers: [Ticker] = []
    /// Every ticker started, killed ones included.
    private(set) var allTickers: [Ticker] = []
    /// When each fault happened: a kill (an instant), a restart (from the stop to the server
    /// accepting connections again), killed connections (the statement that killed them).
    var faults: [ClosedRange<Date>] = []
    /// The owner killed by each kill, by its index in ``faults``.
    private(set) var killedOwners: [Int: String] = [:]
    private var generation = 0
    private(set) var enrolled = 0

    /// Sets the schema up (migrated, the sequence registered, lease changes logged).
    init(client: PostgresClient, databaseURL: String, schema: String, smtp: TestServer, jobs: TestServer,
         callbackURL: String, endpoint: CallbackEndpoint) async throws {
        self.client = client
        self.schema = schema
        self.databaseURL = databaseURL
        self.smtp = smtp
        self.jobs = jobs
        self.callbackURL = callbackURL
        executable = try BuiltExecutable.url(named: "SequencerStressTicker", override: "SEQUENCER_STRESS_TICKER")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try PostgresStore(client: client, configuration: .init(schema: schema), logger: TestPostgres.quietLogger)
        try await store.migrate()
        var configuration = Sequencer.Configuration()
        configuration.owner = "test-host"
        configuration.firesSchedules = false
        sequencer = Sequencer(store: store, runners: .builtIn + [
            EmailRunner(transport: SMTPTransport(configuration: try smtp.smtpConfiguration()), ledger: store),
            HTTPTaskRunner(configuration: .init(callbackURL: callbackURL)),
        ], configuration: configuration, logger: TestPostgres.quietLogger)
        try await sequencer.register(json: Self.sequence(jobsPort: jobs.port))
        endpoint.route(to: sequencer)
        let s = quoted
        for statement in [
            """
            CREATE TABLE \(s).lease_log (id bigserial PRIMARY KEY, enrollment_id uuid NOT NULL, old_owner text,
                                         new_owner text, expires_at timestamptz, at timestamptz NOT NULL DEFAULT clock_timestamp())
            """,
            """
            CREATE FUNCTION \(s).log_lease() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                INSERT INTO \(s).lease_log (enrollment_id, old_owner, new_owner, expires_at)
                VALUES (NEW.id, OLD.lease_owner, NEW.lease_owner, NEW.lease_expires_at);
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER log_lease AFTER UPDATE ON \(s).enrollments FOR EACH ROW
            WHEN (OLD.lease_owner IS DISTINCT FROM NEW.lease_owner OR OLD.lease_expires_at IS DISTINCT FROM NEW.lease_expires_at)
            EXECUTE FUNCTION \(s).log_lease()
            """,
        ] {
            _ = try await query(statement)
        }
    }

    var quoted: String { "\"\(schema)\"" }

    /// Runs `sql` through the store's connection guard (a statement written to a connection that
    /// has just closed fails instead of hanging).
    func query(_ sql: String) async throws -> [PostgresRow] {
        try await store.queryRows(PostgresQuery(unsafeSQL: sql))
    }

    func count(_ sql: String) async throws -> Int {
        try await query(sql)[0].decode(Int.self)
    }

    /// Starts `count` tickers.
    func startTickers(_ count: Int) throws {
        tickers = try (0..<count).map { try startTicker(slot: $0) }
    }

    /// A random ticker among those holding a live lease right now (work in flight), or any when none does.
    func victim() async throws -> Int {
        let holders = Set(try await query("""
            SELECT DISTINCT lease_owner FROM \(quoted).enrollments WHERE lease_owner IS NOT NULL AND lease_expires_at > now()
            """).map { try $0.decode(String.self) })
        let slots = tickers.indices.filter { holders.contains(tickers[$0].owner) }
        return slots.randomElement() ?? Int.random(in: tickers.indices)
    }

    /// Kills the ticker in `slot` (SIGKILL), waits until it is gone, and starts another in its place.
    func killAndRestart(slot: Int) async throws {
        let victim = tickers[slot]
        kill(victim.process.processIdentifier, SIGKILL)
        for _ in 0..<1_000 where victim.process.isRunning { try await Task.sleep(for: .milliseconds(2)) }
        victim.killedAt = Date()
        killedOwners[faults.count] = victim.owner
        faults.append(victim.killedAt!...victim.killedAt!)
        tickers[slot] = try startTicker(slot: slot)
    }

    private func startTicker(slot: Int) throws -> Ticker {
        generation += 1
        let owner = "chaos-\(slot)-\(generation)"
        let errors = directory.appendingPathComponent("\(owner).err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let process = BuiltExecutable.process(executable, arguments: [
            "--serve", "--schema", schema, "--owner", owner, "--lease", "\(Self.leaseSeconds)",
            "--interval", "\(Self.intervalMilliseconds)", "--batch-size", "10", "--max-attempts", "100",
            "--smtp", "smtp://127.0.0.1:\(smtp.port)", "--in-flight-timeout", "3", "--callback-url", callbackURL,
        ], databaseURL: databaseURL, standardError: try FileHandle(forWritingTo: errors))
        try process.run()
        let ticker = Ticker(owner: owner, process: process, errors: errors)
        allTickers.append(ticker)
        return ticker
    }

    /// Tickers that exited without being killed (the service stopped or the process crashed).
    var exitedOnTheirOwn: [String] {
        tickers.filter { !$0.process.isRunning }.map {
            "\($0.owner) exited with \($0.process.terminationStatus): \($0.errorLines.suffix(3).joined(separator: " | "))"
        }
    }

    /// Enrolls subjects `enrolled..<total`.
    func enroll(upTo total: Int) async throws {
        guard total > enrolled else { return }
        _ = try await sequencer.enroll(Self.requests(enrolled..<total), in: "chaos")
        enrolled = total
    }

    /// Subjects `user-N`, even ones on the `pro` branch, each with an idempotency key.
    static func requests(_ numbers: Range<Int>) -> [EnrollmentRequest] {
        numbers.map { n in
            EnrollmentRequest(subject: "user-\(n)", context: [
                "email": .string("user-\(n)@example.com"), "name": .string("User \(n)"),
                "plan": .string(n.isMultiple(of: 2) ? "pro" : "basic"),
            ], idempotencyKey: "chaos-\(n)")
        }
    }

    /// Enrollments stored on each branch: the visits that must have sent a message or started a job.
    func branches() async throws -> (pro: Int, basic: Int) {
        let row = try await query("""
            SELECT count(*) FILTER (WHERE context->>'plan' = 'pro'), count(*) FILTER (WHERE context->>'plan' = 'basic')
            FROM \(quoted).enrollments
            """)[0]
        return try row.decode((Int, Int).self)
    }

    /// Delivery ledger rows not marked sent: `pending` ones whose ledger write a fault cut off
    /// (the provider had the message; the step's commit went through), and any other.
    func unsentDeliveries() async throws -> (pendingAtAFault: Int, other: [String]) {
        let rows = try await query("""
            SELECT status, updated_at, coalesce(last_error, '') FROM \(quoted).deliveries WHERE status <> 'sent'
            """).map { try $0.decode((String, Date, String).self) }
        var pendingAtAFault = 0
        var other: [String] = []
        for (status, updatedAt, error) in rows {
            // Reserved within the in-flight timeout (3 s) and a second's slack before a fault.
            if status == "pending", faults.contains(where: {
                $0.upperBound >= updatedAt && $0.lowerBound.timeIntervalSince(updatedAt) < 5
            }) {
                pendingAtAFault += 1
            } else {
                other.append("\(status) at \(updatedAt): \(error)")
            }
        }
        return (pendingAtAFault, other)
    }

    func activeCount() async throws -> Int {
        try await count("SELECT count(*) FROM \(quoted).enrollments WHERE status = 'active'")
    }

    /// Waits until no enrollment is active, failing after `stall` seconds without progress (a
    /// count that fails, while a restarted server comes back, counts as no progress).
    func drain(stall: Double = 60) async throws {
        var last = Int.max
        var lastProgress = Date()
        while true {
            let active = (try? await activeCount()) ?? last
            if active == 0 { return }
            if active < last {
                last = active
                lastProgress = Date()
            } else if Date().timeIntervalSince(lastProgress) > stall {
                let stuck = try? await query("""
                    SELECT step_id || ' attempts ' || attempts || ' leased by ' || coalesce(lease_owner, 'nobody')
                           || ' due ' || coalesce(to_char(next_run_at - now(), 'HH24:MI:SS'), 'never') || ': ' || coalesce(last_error, '')
                           || ' (' || count(*) || ')'
                    FROM \(quoted).enrollments WHERE status = 'active'
                    GROUP BY step_id, attempts, lease_owner, next_run_at - now(), last_error LIMIT 10
                    """).map { try $0.decode(String.self) }
                let history = try? await history(where: """
                    enrollment_id = (SELECT id FROM \(quoted).enrollments WHERE status = 'active' ORDER BY next_run_at LIMIT 1)
                    """)
                throw TestServerError("\(active) enrollments still active after \(Int(stall)) s without progress: "
                                      + (stuck ?? []).joined(separator: "; ") + "; the history of one: "
                                      + (history ?? []).joined(separator: "; "))
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    func stopTickers() {
        for ticker in tickers where ticker.process.isRunning {
            kill(ticker.process.processIdentifier, SIGKILL)
        }
    }

    func removeFiles() {
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - Checks

    func invariants() async throws -> HistoryInvariants {
        try await HistoryInvariants.read(client: client, schema: schema, paths: [Self.proPath, Self.basicPath])
    }

    /// How orphaned leases (held by a killed ticker) were taken over.
    struct Orphans: CustomStringConvertible {
        var count = 0
        var neverReclaimed = 0
        /// The longest time from a kill to another ticker's claim of one of its leases.
        var slowestAfterKill = 0.0
        /// The longest time from a lease's expiry to its claim by another ticker.
        var slowestAfterExpiry = 0.0
        /// Takeovers of leases whose holder was alive (its lease expired under load).
        var liveTakeovers = 0
        /// Takeovers later than lease + one tick after the kill.
        var late = 0

        var description: String {
            "orphaned leases \(count) (never reclaimed \(neverReclaimed), later than lease + one tick \(late)), "
                + "slowest reclaim \(String(format: "%.2f", slowestAfterKill)) s after the kill, "
                + "\(String(format: "%.2f", slowestAfterExpiry)) s after the lease expired; "
                + "leases taken over from live tickers \(liveTakeovers)"
        }
    }

    /// Reads the lease log: every lease whose next change is another owner's claim was taken over;
    /// it was orphaned when its holder had been killed by then.
    func orphans() async throws -> Orphans {
        let rows = try await query("""
            SELECT new_owner, expires_at, next_new, next_at FROM (
                SELECT new_owner, expires_at, old_owner,
                       lead(old_owner) OVER w AS next_old, lead(new_owner) OVER w AS next_new, lead(at) OVER w AS next_at
                FROM \(quoted).lease_log WINDOW w AS (PARTITION BY enrollment_id ORDER BY id)
            ) AS changes
            WHERE new_owner IS NOT NULL AND (next_at IS NULL OR (next_new IS NOT NULL AND next_new <> new_owner))
            """)
        let killedAt = Dictionary(uniqueKeysWithValues: allTickers.compactMap { ticker in ticker.killedAt.map { (ticker.owner, $0) } })
        let tick = Self.intervalMilliseconds / 1_000
        var result = Orphans()
        for row in rows {
            let (owner, expiresAt, nextOwner, nextAt) = try row.decode((String, Date?, String?, Date?).self)
            guard let killed = killedAt[owner], expiresAt.map({ $0 > killed }) ?? true else {
                // Not a lease a killed ticker held when it died: a live holder's that expired under load.
                if nextOwner != nil { result.liveTakeovers += 1 }
                continue
            }
            result.count += 1
            guard let nextAt, let expiresAt else {
                result.neverReclaimed += 1
                continue
            }
            let afterKill = nextAt.timeIntervalSince(killed)
            result.slowestAfterKill = max(result.slowestAfterKill, afterKill)
            result.slowestAfterExpiry = max(result.slowestAfterExpiry, nextAt.timeIntervalSince(expiresAt))
            if afterKill > Self.leaseSeconds + tick { result.late += 1 }
        }
        return result
    }

    /// The copies of one kind of send (a message, a job) per visit key, and the faults the extra
    /// copies follow.
    struct Copies: CustomStringConvertible {
        /// Copies received.
        var received = 0
        /// Distinct visit keys.
        var visits = 0
        /// Copies beyond the first of a visit.
        var duplicates = 0
        /// Extra copies with fewer faults during or between their copies: not explained by a fault.
        var unexplained = 0
        /// Each unexplained duplicate: its copies' times and the nearest faults before and after.
        var unexplainedDetails: [String] = []
        /// The visit keys (`Message-ID`, `Idempotency-Key`) of the unexplained duplicates.
        var unexplainedKeys: [String] = []
        /// Extra copies counted at the kill of the ticker that sent the first copy, or else at the
        /// first fault during or after their first copy, by fault.
        var afterFault: [Int: Int] = [:]
        /// Visits whose extra copies were counted at the kill of the ticker that sent the first copy.
        var chargedToSendersKill = 0

        /// The most extra copies after one fault: at most what was in flight when it came.
        var mostAfterOneFault: Int { afterFault.values.max() ?? 0 }

        var description: String {
            "\(received) (\(visits) visits, \(duplicates) duplicates after \(afterFault.count) faults, "
                + "at most \(mostAfterOneFault) after one (\(chargedToSendersKill) visits counted at their sender's kill), "
                + "\(unexplained) unexplained"
                + (unexplainedDetails.isEmpty ? "" : ": " + unexplainedDetails.joined(separator: "; ")) + ")"
        }
    }

    /// Messages the SMTP server received (one `Message-ID` per visit), and jobs the job service
    /// was asked to start (one `Idempotency-Key` per visit).
    struct Sends: CustomStringConvertible {
        var messages: Copies
        var jobs: Copies
        var description: String { "messages \(messages), jobs \(jobs)" }
    }

    func sends() async throws -> Sends {
        let mail = try smtp.mail()
        let requests = try jobs.records(ReceivedRequest.self)
        let messages = Dictionary(grouping: mail, by: { $0.header("Message-ID") ?? "" }).mapValues { $0.map { $0.receivedAt ?? 0 } }
        return Sends(
            messages: copies(messages, firstSentBy: try await leaseHolders(atFirstCopyOf: messages)),
            jobs: copies(Dictionary(grouping: requests, by: { $0.headers["idempotency-key"] ?? "" }).mapValues { $0.map { $0.receivedAt ?? 0 } }))
    }

    /// The enrollment, step and visit behind a message's `Message-ID` (`<enrollment-hex>.<visit>.<step>@domain`).
    static func visit(ofMessage messageID: String) -> (enrollment: String, visit: Int, step: String)? {
        let local = messageID.trimmingCharacters(in: CharacterSet(charactersIn: "<> ")).split(separator: "@").first ?? ""
        let parts = local.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0].count == 32, let visit = Int(parts[1]) else { return nil }
        let hex = Array(parts[0])
        let id = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }.joined(separator: "-")
        return (id, visit, parts[2])
    }

    /// For each message sent more than once, the ticker that held its enrollment's lease when the
    /// provider had the first copy (from the lease log): the one that sent it.
    func leaseHolders(atFirstCopyOf copies: [String: [Double]]) async throws -> [String: String] {
        var firstCopies: [String: [(key: String, at: Double)]] = [:]   // by enrollment
        for (key, times) in copies where times.count > 1 {
            if let visit = Self.visit(ofMessage: key) { firstCopies[visit.enrollment.lowercased(), default: []].append((key, times.min()!)) }
        }
        guard !firstCopies.isEmpty else { return [:] }
        let ids = firstCopies.keys.map { "'\($0)'" }.joined(separator: ", ")
        let rows = try await query("""
            SELECT enrollment_id::text, new_owner, at FROM \(quoted).lease_log WHERE enrollment_id IN (\(ids)) ORDER BY id
            """).map { try $0.decode((String, String?, Date).self) }
        var holders: [String: String] = [:]
        for (enrollment, owner, at) in rows {
            for first in firstCopies[enrollment] ?? [] where at.timeIntervalSince1970 <= first.at {
                holders[first.key] = owner
            }
        }
        return holders
    }

    /// The history events matching `condition`, one line each (kind, steps, visit, message, UTC time).
    func history(where condition: String) async throws -> [String] {
        try await query("""
            SELECT kind || ' ' || coalesce(from_step, '') || '>' || coalesce(to_step, '') || ' v' || visit || ' '
                   || coalesce(message, '') || ' @' || to_char(at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS')
            FROM \(quoted).events WHERE \(condition) ORDER BY id
            """).map { try $0.decode(String.self) }
    }

    /// What the database holds of the visit behind a message's `Message-ID`
    /// (`<enrollment-hex>.<visit>.<step>@domain`): the enrollment's lease changes, its history and
    /// the visit's delivery row, to tell how an unexplained duplicate came about.
    func story(ofMessage messageID: String) async throws -> String {
        guard let (id, visit, step) = Self.visit(ofMessage: messageID) else { return "\(messageID): not a visit's Message-ID" }
        let time = "'HH24:MI:SS.MS'"
        let leases = try await query("""
            SELECT coalesce(old_owner, '-') || '>' || coalesce(new_owner, '-') || ' until '
                   || coalesce(to_char(expires_at AT TIME ZONE 'UTC', \(time)), '-') || ' @' || to_char(at AT TIME ZONE 'UTC', \(time))
            FROM \(quoted).lease_log WHERE enrollment_id = '\(id)' ORDER BY id
            """).map { try $0.decode(String.self) }
        let history = try await history(where: "enrollment_id = '\(id)'")
        let delivery = try await query("""
            SELECT status || ', attempts ' || attempts || ', created ' || to_char(created_at AT TIME ZONE 'UTC', \(time)) || ', updated '
                   || to_char(updated_at AT TIME ZONE 'UTC', \(time)) || ', sent ' || coalesce(to_char(sent_at AT TIME ZONE 'UTC', \(time)), '-')
                   || ', error ' || coalesce(last_error, '-')
            FROM \(quoted).deliveries WHERE enrollment_id = '\(id)' AND step_id = '\(step)' AND visit = \(visit)
            """).map { try $0.decode(String.self) }
        return "\(id) \(step) v\(visit): leases [\(leases.joined(separator: "; "))]; history ["
            + history.joined(separator: "; ") + "]; delivery [\(delivery.joined(separator: "; "))]"
    }

    /// Reads the copies' receipt times (seconds since 1970) per visit key against the faults.
    /// Extra copies are charged to the kill of the ticker that sent the first copy
    /// (`firstSentBy`, by key) when that kill lies between the copies, else to the first fault
    /// there.
    func copies(_ byKey: [String: [Double]], firstSentBy: [String: String] = [:]) -> Copies {
        var result = Copies(received: byKey.values.map(\.count).reduce(0, +), visits: byKey.count)
        for (key, times) in byKey where times.count > 1 {
            let sorted = times.sorted()
            let (first, last, extra) = (sorted[0], sorted[sorted.count - 1], sorted.count - 1)
            result.duplicates += extra
            // A fault after the provider had the first copy and before the last, or an outage
            // under way when it had the first (its ledger write could not be made).
            let between = faults.indices.filter {
                faults[$0].upperBound.timeIntervalSince1970 >= first - 0.05 && faults[$0].lowerBound.timeIntervalSince1970 <= last
            }
            let sendersKill = firstSentBy[key].flatMap { owner in between.first { killedOwners[$0] == owner } }
            if sendersKill != nil { result.chargedToSendersKill += 1 }
            if let fault = sendersKill ?? between.first { result.afterFault[fault, default: 0] += extra }
            guard between.count < extra else { continue }
            result.unexplained += extra - between.count
            result.unexplainedKeys.append(key)
            let before = faults.last { $0.upperBound.timeIntervalSince1970 < first - 0.05 }
            let after = faults.first { $0.lowerBound.timeIntervalSince1970 > last }
            result.unexplainedDetails.append(
                "copies at \(sorted.map(Self.clock)) (UTC) with the nearest fault ending "
                    + (before.map { String(format: "%.2f s before", first - $0.upperBound.timeIntervalSince1970) } ?? "never")
                    + ", the next starting "
                    + (after.map { String(format: "%.2f s after the last", $0.lowerBound.timeIntervalSince1970 - last) } ?? "never"))
        }
        return result
    }

    /// A time as `HH:mm:ss.SSS` in UTC, as the stories' database times read.
    static func clock(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss.SSS"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
