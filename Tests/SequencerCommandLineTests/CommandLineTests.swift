import Foundation
import Sequencer
import SequencerPostgres
import SequencerPostgresTesting
import Testing

/// Runs the built `sequencer` binary against the real PostgreSQL, each test in its own schema,
/// and checks what it prints and how it exits.
@Suite("sequencer command line", .serialized)   // one binary at a time: the other suites keep their CPU
struct CommandLineTests {
    struct Result: CustomStringConvertible {
        var status: Int32
        var out: String
        var err: String
        var description: String { "exit \(status)\nstdout: \(out)\nstderr: \(err)" }
    }

    /// One run of the binary with `--database-url` and `--schema` appended to the subcommand.
    final class CLI: Sendable {
        let url: String
        let schema: String
        let directory: URL

        init() async throws {
            url = try await TestPostgres.shared.url()
            schema = TestPostgres.uniqueSchema("cli")
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }

        /// Writes a file in the test's directory and returns its path.
        func file(_ name: String, _ text: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func run(_ arguments: [String], stdin: String? = nil, connect: Bool = true) async throws -> Result {
            let process = Process()
            process.executableURL = try BuiltExecutable.url(named: "sequencer", override: "SEQUENCER_CLI")
            process.arguments = arguments + (connect ? ["--database-url", url, "--schema", schema] : [])
            var environment = ProcessInfo.processInfo.environment
            environment["DATABASE_URL"] = nil
            process.environment = environment
            // Files, not pipes: a process started meanwhile by another test (a PostgreSQL server)
            // can inherit a pipe's write end and hold it open, so a read to end of file never ends.
            let base = directory.appendingPathComponent(UUID().uuidString)
            let paths = (input: base.path + ".in", out: base.path + ".out", err: base.path + ".err")
            FileManager.default.createFile(atPath: paths.input, contents: Data((stdin ?? "").utf8))
            FileManager.default.createFile(atPath: paths.out, contents: nil)
            FileManager.default.createFile(atPath: paths.err, contents: nil)
            let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: paths.input))
            let out = try FileHandle(forWritingTo: URL(fileURLWithPath: paths.out))
            let err = try FileHandle(forWritingTo: URL(fileURLWithPath: paths.err))
            defer { try? input.close(); try? out.close(); try? err.close() }
            process.standardInput = input
            process.standardOutput = out
            process.standardError = err
            try process.run()
            // Poll instead of blocking a thread in waitUntilExit.
            while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
            func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
            return Result(status: process.terminationStatus, out: read(paths.out), err: read(paths.err))
        }

        func json(_ arguments: [String]) async throws -> JSONValue {
            let result = try await run(arguments + ["--json"])
            #expect(result.status == 0, "\(result)")
            return try JSONValue(json: result.out)
        }
    }

    static let drip = """
        {"name": "drip", "version": 1, "steps": [
          {"id": "welcome", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "days"}},
          {"id": "nudge", "runner": "WaitForDuration", "config": {"amount": 2, "unit": "days"}}
        ]}
        """

    static let dripV2 = """
        {"name": "drip", "version": 2, "steps": [
          {"id": "hello", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "days"}},
          {"id": "nudge", "runner": "WaitForDuration", "config": {"amount": 3, "unit": "days"}}
        ]}
        """

    @Test func migrateRegisterAndListDefinitions() async throws {
        let cli = try await CLI()
        let unmigrated = try await cli.run(["list"])
        #expect(unmigrated.status == 5 && unmigrated.err.contains("sequencer migrate"), "\(unmigrated)")
        let status = try await cli.run(["migrate", "--status"])
        #expect(status.status == 0 && status.out.contains("pending"), "\(status)")

        let migrated = try await cli.run(["migrate"])
        #expect(migrated.status == 0 && migrated.out.contains("0001_initial") && migrated.out.contains("0002_retention"), "\(migrated)")
        let again = try await cli.run(["migrate"])
        #expect(again.status == 0 && again.out.contains("up to date"), "\(again)")

        let file = try cli.file("drip.json", Self.drip)
        let registered = try await cli.run(["definitions", "register", file])
        #expect(registered.status == 0 && registered.out.contains("registered drip v1 (2 steps)"), "\(registered)")
        let list = try await cli.run(["definitions", "list"])
        #expect(list.out.contains("drip") && list.out.contains("registered"), "\(list)")
        let shown = try await cli.run(["definitions", "show", "drip"])
        #expect(try SequenceDefinition(json: shown.out).steps.count == 2, "\(shown)")

        let typo = try cli.file("typo.json", Self.drip.replacingOccurrences(of: "\"unit\"", with: "\"unti\""))
        let invalid = try await cli.run(["definitions", "validate", typo], connect: false)
        #expect(invalid.status == 4 && invalid.err.contains("unti") && invalid.err.contains("unit"), "\(invalid)")
        let broken = try cli.file("broken.json", "{\"name\": \"drip\",\n  \"version\": 1,\n  \"steps\": [}")
        let syntax = try await cli.run(["definitions", "register", broken])
        #expect(syntax.status == 4 && syntax.err.contains("line 3"), "\(syntax)")
    }

    @Test func schedulesAreSavedListedShownPausedResumedAndDeleted() async throws {
        let cli = try await CLI()
        #expect(try await cli.run(["migrate"]).status == 0)
        #expect(try await cli.run(["definitions", "register", try cli.file("drip.json", Self.drip)]).status == 0)
        let schedule = try cli.file("weekly.json", """
            {"name": "weekly", "recurrence": "0 9 * * MON", "timeZone": "Europe/Paris", "sequence": "drip",
             "subject": "report-{{date}}", "exclusive": true}
            """)
        let saved = try await cli.json(["schedules", "save", schedule])
        #expect(saved["schedule"]?["recurrence"] == "0 9 * * MON" && saved["nextFireAt"]?.stringValue != nil, "\(saved)")
        let list = try await cli.run(["schedules"])
        #expect(list.status == 0 && list.out.contains("weekly") && list.out.contains("Europe/Paris"), "\(list)")
        let paused = try await cli.json(["schedules", "pause", "weekly"])
        #expect(paused["schedule"]?["enabled"] == false)
        let shown = try await cli.run(["schedules", "show", "weekly"])
        #expect(shown.out.contains("enabled") && shown.out.contains("false"), "\(shown)")
        #expect(try await cli.json(["schedules", "resume", "weekly"])["schedule"]?["enabled"] == true)
        let bad = try await cli.run(["schedules", "save", try cli.file("bad.json", #"{"name": "x", "recurrence": "0 25 * * *", "sequence": "drip"}"#)])
        #expect(bad.status == 4 && bad.err.contains("recurrence.hour") && bad.err.contains("outside 0–23"), "\(bad)")
        let unknown = try await cli.run(["schedules", "show", "nope"])
        #expect(unknown.status == 3 && unknown.err.contains("sequencer schedules list"), "\(unknown)")
        #expect(try await cli.run(["schedules", "delete", "weekly"]).status == 0)
        #expect(try await cli.run(["schedules", "delete", "weekly"]).status == 3)
    }

    @Test func badURLsAndUnknownIdsSayWhatIsWrong() async throws {
        let cli = try await CLI()
        let scheme = try await cli.run(["list", "--database-url", "mysql://u:hunter2@localhost/x"], connect: false)
        #expect(scheme.status == 4 && scheme.err.contains("scheme") && !scheme.err.contains("hunter2"), "\(scheme)")
        let port = try ThrowawayPostgres.freePort()
        let down = try await cli.run(["list", "--database-url", "postgres://u:hunter2@127.0.0.1:\(port)/x?sslmode=disable",
                                      "--connect-timeout", "2"], connect: false)
        #expect(down.status == 1 && down.err.contains("cannot connect") && !down.err.contains("hunter2"), "\(down)")
        _ = try await cli.run(["migrate"])
        let unknown = try await cli.run(["inspect", UUID().uuidString])
        #expect(unknown.status == 3 && unknown.err.contains("sequencer list"), "\(unknown)")
        let notAnID = try await cli.run(["inspect", "user-42"])
        #expect(notAnID.status == 4, "\(notAnID)")
        let usage = try await cli.run(["list", "--frobnicate"])
        #expect(usage.status == 64, "\(usage)")
    }

    @Test func enrollFromFilesInspectListAndStats() async throws {
        let cli = try await CLI()
        _ = try await cli.run(["migrate"])
        _ = try await cli.run(["definitions", "register", try cli.file("drip.json", Self.drip)])

        let badCSV = try cli.file("bad.csv", "subject,idempotency_key,plan\nada,k1,pro\nbob,k2\n")
        let refused = try await cli.run(["enroll", "drip", "--file", badCSV])
        #expect(refused.status == 4 && refused.err.contains("bad.csv:3") && refused.err.contains("2 fields"), "\(refused)")
        let badLines = try cli.file("bad.jsonl", "{\"subject\": \"ada\"}\n{\"subject\": 42}\n")
        let refusedLines = try await cli.run(["enroll", "drip", "--file", badLines])
        #expect(refusedLines.status == 4 && refusedLines.err.contains("bad.jsonl:2") && refusedLines.err.contains("subject"),
                "\(refusedLines)")
        let nothing = try await cli.json(["list"])
        #expect(nothing["enrollments"]?.arrayValue?.isEmpty == true, "a refused file enrolls nothing")

        let csv = try cli.file("people.csv", "subject,idempotency_key,plan\nada,k1,pro\n\"bob, jr\",k2,\"free \"\"trial\"\"\"\ncy,,free\n")
        let enrolled = try await cli.run(["enroll", "drip", "--file", csv])
        #expect(enrolled.status == 0 && enrolled.out.contains("enrolled 3 subjects"), "\(enrolled)")
        let repeated = try await cli.run(["enroll", "drip", "--file", csv])
        #expect(repeated.status == 0, "keys make a repeat safe: \(repeated)")
        let lines = try cli.file("more.jsonl", "{\"subject\": \"dee\", \"context\": {\"plan\": \"pro\"}}\n\n{\"subject\": \"eve\"}\n")
        #expect(try await cli.run(["enroll", "drip", "--file", lines]).status == 0)
        let one = try await cli.run(["enroll", "drip", "fay", "--context", "{\"plan\": \"team\"}", "--key", "fay-1"])
        #expect(one.status == 0, "\(one)")
        let id = one.out.trimmingCharacters(in: .whitespacesAndNewlines)

        let listed = try await cli.json(["list", "--sequence", "drip", "--status", "active"])
        // ada, bob, cy (once: the repeat had keys for two, and cy's empty key is none: cy twice), dee, eve, fay.
        #expect(listed["enrollments"]?.arrayValue?.count == 7, "\(listed)")
        let bob = try await cli.json(["list", "--subject", "bob, jr"])
        #expect(bob["enrollments"]?.arrayValue?.first?["context"]?["plan"] == "free \"trial\"", "\(bob)")
        let paged = try await cli.json(["list", "--limit", "4"])
        let cursor = try #require(paged["next"]?.stringValue)
        let rest = try await cli.json(["list", "--limit", "4", "--cursor", cursor])
        #expect(rest["enrollments"]?.arrayValue?.count == 3 && rest["next"] == .null, "\(rest)")
        let badCursor = try await cli.run(["list", "--cursor", "page-2"])
        #expect(badCursor.status == 4, "\(badCursor)")
        let badStatus = try await cli.run(["list", "--status", "done"])
        #expect(badStatus.status == 4 && badStatus.err.contains("active"), "\(badStatus)")

        let inspected = try await cli.run(["inspect", id])
        #expect(inspected.status == 0 && inspected.out.contains("fay") && inspected.out.contains("\"plan\" : \"team\"")
                    && inspected.out.contains("enrolled"), "\(inspected)")
        let stats = try await cli.run(["stats", "drip"])
        #expect(stats.status == 0 && stats.out.contains("welcome") && stats.out.contains("7 enrolled")
                    && stats.out.contains("100.0%"), "\(stats)")
        let funnel = try await cli.json(["stats", "drip"])
        #expect(funnel["enrolled"] == 7 && funnel["steps"]?.arrayValue?.first?["step"] == "welcome"
                    && funnel["steps"]?.arrayValue?.first?["reached"] == 7 && funnel["dueNow"] == 7, "\(funnel)")
        let unknownSequence = try await cli.run(["stats", "nope"])
        #expect(unknownSequence.status == 3 && unknownSequence.err.contains("definitions list"), "\(unknownSequence)")
    }

    @Test func bulkActionsAskFirstAndCount() async throws {
        let cli = try await CLI()
        _ = try await cli.run(["migrate"])
        _ = try await cli.run(["definitions", "register", try cli.file("drip.json", Self.drip)])
        for n in 0..<5 { _ = try await cli.run(["enroll", "drip", "u\(n)"]) }

        let declined = try await cli.run(["pause", "--sequence", "drip"], stdin: "n\n")
        #expect(declined.status == 6 && declined.err.contains("pause 5 enrollments"), "\(declined)")
        let paused = try await cli.run(["pause", "--sequence", "drip"], stdin: "y\n")
        #expect(paused.status == 0 && paused.out.contains("paused 5 enrollments"), "\(paused)")
        let none = try await cli.run(["cancel", "--sequence", "nothing-here", "--yes"])
        #expect(none.status == 0 && none.out.contains("no enrollments match"), "\(none)")
        let resumed = try await cli.json(["resume", "--subject", "u1", "--yes"])
        #expect(resumed["changed"] == 1, "\(resumed)")
        let notFailed = try await cli.run(["retry", "--sequence", "drip", "--yes"])
        #expect(notFailed.status == 0 && notFailed.out.contains("none can be retried"), "\(notFailed)")
        let both = try await cli.run(["cancel", UUID().uuidString, "--sequence", "drip"])
        #expect(both.status == 64, "\(both)")
        let history = try await cli.json(["list", "--subject", "u2"])
        let id = try #require(history["enrollments"]?.arrayValue?.first?["id"]?.stringValue)
        let cancelled = try await cli.run(["cancel", id])
        #expect(cancelled.status == 0 && cancelled.out.contains("cancelled"), "\(cancelled)")
        let twice = try await cli.run(["cancel", id])
        #expect(twice.status == 4 && twice.err.contains("cannot cancel"), "\(twice)")
    }

    @Test func migratingEnrollmentsRefusesUnmappedStepsThenMoves() async throws {
        let cli = try await CLI()
        _ = try await cli.run(["migrate"])
        _ = try await cli.run(["definitions", "register", try cli.file("v1.json", Self.drip)])
        _ = try await cli.run(["enroll", "drip", "ada"])
        _ = try await cli.run(["definitions", "register", try cli.file("v2.json", Self.dripV2)])

        let refused = try await cli.run(["migrate-enrollments", "drip", "--from", "1", "--to", "2", "--yes"])
        #expect(refused.status == 4 && refused.err.contains("\"welcome\"") && refused.err.contains("nothing was migrated"),
                "\(refused)")
        let badMap = try await cli.run(["migrate-enrollments", "drip", "--from", "1", "--to", "2", "--map", "welcome", "--yes"])
        #expect(badMap.status == 4, "\(badMap)")
        let moved = try await cli.run(["migrate-enrollments", "drip", "--from", "1", "--to", "2", "--map", "welcome=hello", "--yes"])
        #expect(moved.status == 0 && moved.out.contains("migrated 1 enrollments"), "\(moved)")
        let listed = try await cli.json(["list", "--sequence", "drip", "--version", "2"])
        #expect(listed["enrollments"]?.arrayValue?.first?["step"] == "hello", "\(listed)")
    }

    @Test func tickPruneAndWhatTheCommandLineCannotRun() async throws {
        let cli = try await CLI()
        _ = try await cli.run(["migrate"])
        _ = try await cli.run(["definitions", "register", try cli.file("drip.json", Self.drip)])
        _ = try await cli.run(["enroll", "drip", "ada"])
        let tick = try await cli.run(["tick", "--once"])
        #expect(tick.status == 0 && tick.out.contains("claimed 1") && tick.out.contains("waiting 1"), "\(tick)")
        let dry = try await cli.run(["prune", "--dry-run", "--completed", "0"])
        #expect(dry.status == 0 && dry.out.contains("would delete 0 enrollments"), "\(dry)")
        let badDays = try await cli.run(["prune", "--failed", "soon"])
        #expect(badDays.status == 4 && badDays.err.contains("--failed"), "\(badDays)")

        let email = """
            {"name": "mail", "version": 1, "steps": [{"id": "send", "runner": "Email",
              "config": {"from": "a@example.com", "to": ["{{email}}"], "subject": "Hi", "text": "Hello"}}]}
            """
        _ = try await cli.run(["definitions", "register", try cli.file("mail.json", email), "--runner", "Email"])
        let cannot = try await cli.run(["tick", "--once"])
        #expect(cannot.status == 4 && cannot.err.contains("'Email'") && cannot.err.contains("SequencerService"), "\(cannot)")
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? { if case .array(let array) = self { array } else { nil } }
    var stringValue: String? { if case .string(let text) = self { text } else { nil } }
}
