import Foundation
import PropertyBased
import Synchronization
import Sequencer
import SequencerTesting
import Testing

/// Generated hostile input against the whole path a host exposes: a definition read from JSON
/// bytes and registered, a context read from JSON bytes and enrolled, a tick over the result.
///
/// Each case starts from a valid definition and context and applies one mutation: truncated
/// bytes, a wrong type at a config field, an unknown key, random bytes (NUL, invalid UTF-8),
/// huge and negative numbers and durations, nesting thousands deep, names made of quotes, SQL
/// metacharacters and odd Unicode, thousands of steps, dates far in the past and future, and
/// patterns built to backtrack in `matches`. Pass, for every case: a ``SequencerError`` (never
/// another error, never a crash) or a documented result; a refused definition or enrollment
/// leaves the store as it was; whatever is stored reads back as it was given; no case hangs
/// (over 60 s fails the test: inside `swift test`, suites run side by side on two cores and a
/// 10 ms case was seen taking 6 s; the slowest case is printed, and the full run on a quiet
/// machine reports it against the issue's 1 s). The
/// first run found a quadratic JSON reader: a 10,000-step definition took 1.4 s to read, 0.09 s
/// now. The PostgreSQL store gets hostile strings in `HostileStatementTests` and `RobustnessChecks`.
///
/// Cases: `SEQUENCER_HOSTILE_CASES` (default 3,000; `scripts/fault-suite.sh` runs 1,000,000).
@Suite("Hostile input, generated")
struct HostileInputPropertyTests {
    static let cases = ProcessInfo.processInfo.environment["SEQUENCER_HOSTILE_CASES"].flatMap(Int.init) ?? 3_000

    /// Pieces of names and strings: quotes, SQL and JSON metacharacters, NUL, controls, RTL and
    /// combining marks, emoji, a lone surrogate's replacement.
    static let pieces = ["a", "Z", "0", "'", "\"", "\\", ";", "--", "/*", "*/", "$1", "%s", "{{x}}", "\u{0}", "\u{7}",
                         "\n", "\t", " ", "é", "e\u{301}", "\u{202E}", "🦀", "\u{FFFD}", "DROP TABLE x;", "' OR 1=1 --",
                         "$end", "{s}", "\u{FEFF}", String(repeating: "x", count: 300)]

    struct Case: Sendable, CustomStringConvertible {
        var mutation: Int
        var number: Int
        var bytes: [UInt8]
        var name: String
        var description: String { "mutation \(mutation), number \(number), bytes \(bytes), name \(name.debugDescription)" }
    }

    static let generator = zip(
        Gen.int(in: 0...13), Gen.int(), Gen<UInt8>.value(in: 0...255).array(of: 0...12),
        Gen<String?>.element(of: pieces).map { $0 ?? "" }.array(of: 1...4)
    ).map { Case(mutation: $0, number: $1, bytes: $2, name: $3.joined()) }

    @Test func everyGeneratedHostileInputIsAClearErrorOrAStoredResult() async throws {
        let slowest = Mutex<(Duration, String)>((.zero, ""))
        let outcomes = Mutex([String: Int]())
        await propertyCheck(count: Self.cases, input: Self.generator) { hostile in
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = try await Self.check(hostile)
            let took = clock.now - started
            outcomes.withLock { $0[outcome, default: 0] += 1 }
            slowest.withLock { if took > $0.0 { $0 = (took, "\(hostile)") } }
            #expect(took < .seconds(60), "took \(took): \(hostile)")
        }
        let (took, which) = slowest.withLock { $0 }
        print("hostile input: \(Self.cases) generated cases, outcomes \(outcomes.withLock { $0 }.sorted { $0.key < $1.key }), "
              + "slowest \(took) (\(which.prefix(120)))")
    }

    /// Runs one case; returns what happened ("refused definition", "stored", …) for the tally.
    static func check(_ hostile: Case) async throws -> String {
        let store = InMemoryStore()
        let sequencer = makeSequencer(store: store)
        let definitionBytes = definitionJSON(hostile)
        let definition: SequenceDefinition
        do {
            definition = try SequenceDefinition(jsonData: Data(definitionBytes))
        } catch let error as SequencerError {
            #expect(!error.message.isEmpty)
            return "refused reading: \(error.code)"
        } catch {
            Issue.record("reading a definition threw \(type(of: error)), not a SequencerError: \(error)")
            return "wrong error"
        }
        do {
            try await sequencer.register(definition)
        } catch let error as SequencerError {
            #expect(try await store.definitionVersions().isEmpty, "a refused definition left something stored")
            return "refused at register: \(error.code)"
        } catch {
            Issue.record("register threw \(type(of: error)), not a SequencerError: \(error)")
            return "wrong error"
        }
        let stored = try await store.definition(named: definition.name, version: definition.version)
        #expect(stored == definition, "the stored definition differs from the one registered")

        // A context from (possibly hostile) bytes, enrolled; then one tick over it.
        let context: JSONValue
        do {
            context = try JSONValue(jsonData: Data(contextJSON(hostile)))
        } catch is SequencerError {
            return "registered; context refused reading"
        } catch {
            Issue.record("reading a context threw \(type(of: error)), not a SequencerError: \(error)")
            return "wrong error"
        }
        let id: UUID
        do {
            id = try await sequencer.enroll("subject", in: definition.name, context: context)
        } catch is SequencerError {
            #expect(try await store.enrollments(subject: "subject", limit: 10).isEmpty, "a refused enroll left an enrollment")
            return "registered; enroll refused"
        }
        #expect(try await sequencer.enrollment(id).context == context, "the stored context differs")
        _ = try await sequencer.tick(now: Date().addingTimeInterval(86_400 * 400))
        let status = try await sequencer.enrollment(id).status
        return "enrolled and ticked: \(status)"
    }

    /// The definition's JSON after the case's mutation.
    static func definitionJSON(_ hostile: Case) -> [UInt8] {
        let n = hostile.number
        let name = jsonString(hostile.name)
        var version = "1"
        var amount = "2", unit = "\"days\"", date = "\"2026-12-01T09:00:00Z\"", pattern = jsonString("^[a-z]+@example\\.com$")
        var extraStep = "", extraKey = "", config = ""
        switch hostile.mutation {
        case 1: version = ["1e300", "-1", "0", "2147483648", "1.5", "\"1\"", "null", "9223372036854775807", "-9223372036854775808"][abs(n % 9)]
        case 2: amount = ["-1", "1e308", "-1e308", "\"2\"", "true", "null", "[]", "{}", "9223372036854775807", "0.000001"][abs(n % 10)]
        case 3: unit = ["\"fortnights\"", "2", "\"\"", "null", "\"DAYS\"", "[\"days\"]", "\"days\\u0000\""][abs(n % 7)]
        case 4: date = ["\"0001-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59Z\"", "\"-271821-04-20T00:00:00Z\"", "\"2026-02-30T00:00:00Z\"",
                        "\"yesterday\"", "1e300", "\"2026-13-01T00:00:00Z\"", "\"\""][abs(n % 8)]
        case 5: pattern = jsonString(["(a+)+$", "(a|a)*b", "(a*)*$", "((a+)+)+b", "(x+x+)+y", String(repeating: "(", count: 2_000),
                                      "[", "\\", "(?<=a)b", String(repeating: "a?", count: 500) + String(repeating: "a", count: 500)][abs(n % 10)])
        case 6: extraKey = ", " + jsonString(["nxt", "altnext", "steps", "", "\u{0}", "name"][abs(n % 6)]) + ": 1"
        case 7:   // a few cases 10,000 deep, most shallower (the limit is 256)
            let depth = n.isMultiple(of: 50) ? 10_000 : abs(n % 400) + 1
            config = ", \"x\": " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        case 8:   // a few cases with 10,000 steps, most with up to 200 (a full run stays in minutes)
            let count = n.isMultiple(of: 100) ? 9_996 : abs(n % 200) + 1
            extraStep = (0..<count).map { #", {"id": "s\#($0)", "runner": "GoTo", "config": {"target": "$end"}}"# }.joined()
        case 9: extraStep = #", {"id": \#(name), "runner": \#(name), "config": {"target": \#(name)}, "next": \#(name)}"#
        default: break
        }
        var text = """
            {"name": \(name), "version": \(version)\(extraKey), "steps": [
              {"id": "first", "runner": "WaitForDuration", "config": {"amount": \(amount), "unit": \(unit)\(config)}},
              {"id": "check", "runner": "Conditional", "config": {"lodashCommand": "matches", "value": {"type": "get", "value": "email"}, "compareTo": {"type": "raw", "value": \(pattern)}}, "altNext": "date"},
              {"id": "date", "runner": "WaitForDate", "config": {"date": \(date)}},
              {"id": "done", "runner": "GoTo", "config": {"target": "$end"}}\(extraStep)
            ]}
            """
        var bytes = Array(text.utf8)
        switch hostile.mutation {
        case 10: bytes = Array(bytes.prefix(abs(n % max(1, bytes.count))))   // truncated
        case 11:   // random bytes (NUL, invalid UTF-8) spliced in
            let at = abs(n % max(1, bytes.count))
            bytes.insert(contentsOf: hostile.bytes, at: at)
        case 12:   // a byte flipped
            if !bytes.isEmpty { bytes[abs(n % bytes.count)] ^= UInt8(truncatingIfNeeded: n >> 8) | 1 }
        case 13:   // wrapped thousands deep
            let depth = n.isMultiple(of: 50) ? 10_000 : abs(n % 400) + 1
            text = String(repeating: "{\"a\": ", count: depth) + text + String(repeating: "}", count: depth)
            bytes = Array(text.utf8)
        default: break
        }
        return bytes
    }

    /// The context's JSON: an email the `matches` step reads, and the case's hostile part.
    static func contextJSON(_ hostile: Case) -> [UInt8] {
        let n = hostile.number
        let email = jsonString(String(repeating: "a", count: abs(n % 5_000)) + (n.isMultiple(of: 2) ? "!" : "@example.com"))
        switch abs(n / 7 % 6) {
        case 0: return Array(#"{"email": \#(email)}"#.utf8)
        case 1: return Array(#"{"email": \#(email), "n": \#(["1e308", "-1e308", "1e-400", "123456789012345678901234567890"][abs(n % 4)])}"#.utf8)
        case 2:
            let depth = n.isMultiple(of: 50) ? 10_000 : abs(n % 400) + 1
            return Array((#"{"email": \#(email), "deep": "# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}").utf8)
        case 3: return Array(#"{"email": \#(email), "name": \#(jsonString(hostile.name))}"#.utf8) + hostile.bytes
        case 4:   // now and then just over the 1 MiB limit, else up to 4 KiB
            let size = n.isMultiple(of: 100) ? (1 << 20) - 40 + abs(n % 80) : abs(n % 4_096)
            return Array(#"{"email": \#(email), "big": "\#(String(repeating: "x", count: size))"}"#.utf8)
        default: return Array(#"{"email": \#(email), "#.utf8) + hostile.bytes
        }
    }

    /// `value` as a JSON string literal.
    static func jsonString(_ value: String) -> String {
        String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
    }
}
