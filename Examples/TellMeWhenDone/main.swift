// "Tell me when it's done": runs a command, times it, and tells you how it went by email and SMS.
//
//   swift run TellMeWhenDone -- make test                       # prints the email and the SMS
//   SMTP_URL=smtp://127.0.0.1:2525 NOTIFY_EMAIL=me@example.com \
//   SMS_URL=http://127.0.0.1:8080/sms NOTIFY_PHONE=+15555550123 \
//   DATABASE_URL=postgres://app@localhost/app swift run TellMeWhenDone -- ./deploy.sh
//
// The command's result is enrolled in a sequence that branches on the exit code: "`make test`
// succeeded in 3 m 12 s" or "`./deploy.sh` failed with exit 2 after 41 s", by email then SMS.
// SMTP_URL sends the email through SMTPTransport (smtp://, smtp+starttls://, smtps://); SMS_URL
// POSTs the text message as JSON to that URL (WebhookTransport); without them both are printed.
// NOTIFY_FROM sets the sender (default sequencer@example.com). On the in-memory store by default; with DATABASE_URL on PostgreSQL (migrated on start, the
// deliveries ledger there too; DATABASE_SCHEMA names the schema, default `sequencer`), so every
// run is kept with its history. The example exits with
// the command's exit code, or 70 when the messages could not be sent.

import Foundation
import Logging
import PostgresNIO
import Sequencer
import SequencerPostgres
import SequencerTransports

/// Prints each message instead of sending it, when no server is configured.
struct Console: TaskRunner {
    let name: String
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        for input in batch {
            if name == "Email" {
                let to = input.config["to"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? "?"
                print("email to \(to): \(input.config["subject"]?.stringValue ?? "")")
            } else {
                print("SMS to \(input.config["to"]?.stringValue ?? "?"): \(input.config["message"]?.stringValue ?? "")")
            }
        }
        return batch.map { $0.result(.next, message: "printed") }
    }
}

let tellMe = """
{"name": "tell-me-when-done", "version": 1, "steps": [
  {"id": "check", "runner": "Conditional", "altNext": "email-failed",
   "config": {"lodashCommand": "eq", "value": {"type": "get", "value": "exitCode"}, "compareTo": {"type": "raw", "value": 0}}},
  {"id": "email-succeeded", "runner": "Email", "config": {"from": "{{from}}", "to": ["{{email}}"],
   "subject": "`{{command}}` succeeded in {{duration}}", "text": "`{{command}}` on {{host}} succeeded in {{duration}}."}},
  {"id": "sms-succeeded", "runner": "SMS", "next": "$end",
   "config": {"from": "+15555550100", "to": "{{phone}}", "message": "`{{command}}` succeeded in {{duration}}"}},
  {"id": "email-failed", "runner": "Email", "config": {"from": "{{from}}", "to": ["{{email}}"],
   "subject": "`{{command}}` failed with exit {{exitCode}} after {{duration}}",
   "text": "`{{command}}` on {{host}} failed with exit {{exitCode}} after {{duration}}."}},
  {"id": "sms-failed", "runner": "SMS",
   "config": {"from": "+15555550100", "to": "{{phone}}", "message": "`{{command}}` failed with exit {{exitCode}} after {{duration}}"}}
]}
"""

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--" { arguments.removeFirst() }
guard !arguments.isEmpty else {
    print("usage: swift run TellMeWhenDone -- COMMAND [ARGUMENT…]")
    exit(64)
}
let environment = ProcessInfo.processInfo.environment
var logger = Logger(label: "tell-me-when-done")
logger.logLevel = .warning

// Run the command with this terminal, and time it.
let command = Process()
command.executableURL = URL(fileURLWithPath: "/usr/bin/env")
command.arguments = arguments
let clock = ContinuousClock()
let started = clock.now
do {
    try command.run()
} catch {
    print("cannot run \(arguments[0]): \(error)")
    exit(127)
}
command.waitUntilExit()
let elapsed = clock.now - started
let exitCode = command.terminationReason == .uncaughtSignal ? 128 + Int(command.terminationStatus) : Int(command.terminationStatus)

/// Enrolls the result and ticks until the messages are out; the example's exit code.
func tell(_ arguments: [String], exitCode: Int, elapsed: Duration, environment: [String: String], logger: Logger) async throws
    -> Int32
{
// The store: PostgreSQL with DATABASE_URL, else in memory.
var postgres: (client: PostgresClient, store: PostgresStore, task: Task<Void, Never>)?
if let url = environment["DATABASE_URL"], !url.isEmpty {
    let client = PostgresClient(configuration: try DatabaseURL(url).clientConfiguration(), backgroundLogger: logger)
    let task = Task { await client.run() }
    let store = try PostgresStore(client: client, configuration: .init(schema: environment["DATABASE_SCHEMA"] ?? "sequencer"),
                                  logger: logger)
    try await store.migrate()
    postgres = (client, store, task)
}
let store: any SequenceStore = postgres?.store ?? InMemoryStore()
let ledger: any DeliveryLedger = postgres?.store ?? InMemoryDeliveryLedger()

var runners: [any TaskRunner] = .builtIn
if let url = environment["SMTP_URL"], !url.isEmpty {
    var configuration = try SMTPTransport.Configuration(url: url)
    configuration.allowsAuthenticationWithoutTLS = configuration.security == .plain   // a local test server
    runners.append(EmailRunner(transport: SMTPTransport(configuration: configuration), ledger: ledger, logger: logger))
} else {
    runners.append(Console(name: "Email"))
}
if let url = environment["SMS_URL"], !url.isEmpty {
    runners.append(SMSRunner(transport: WebhookTransport(configuration: .init(url: url)), ledger: ledger, logger: logger))
} else {
    runners.append(Console(name: "SMS"))
}

let sequencer = Sequencer(store: store, runners: runners, logger: logger)
try await sequencer.register(json: tellMe)
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
// Shown as typed: an argument with spaces or quotes in single quotes.
let shown = arguments.map { $0.contains(where: { " '\"$`\\".contains($0) }) ? "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" : $0 }
    .joined(separator: " ")
let id = try await sequencer.enroll(
    "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)", in: "tell-me-when-done",
    context: ["command": .string(shown.count > 200 ? String(shown.prefix(200)) + "…" : shown),
              "exitCode": .number(Double(exitCode)), "duration": .string(SequenceNotification.spoken(seconds)),
              "seconds": .number(Double(elapsed.components.seconds)), "host": .string(ProcessInfo.processInfo.hostName),
              "email": .string(environment["NOTIFY_EMAIL"] ?? "me@example.com"),
              "from": .string(environment["NOTIFY_FROM"] ?? "sequencer@example.com"),
              "phone": .string(environment["NOTIFY_PHONE"] ?? "+15555550123")])

// Tick until the messages are out (a send that fails is retried with backoff, up to a minute here).
let deadline = clock.now + .seconds(60)
var enrollment = try await sequencer.enrollment(id)
while enrollment.status == .active, clock.now < deadline {
    try await sequencer.tick()
    enrollment = try await sequencer.enrollment(id)
    if enrollment.status == .active { try await Task.sleep(for: .milliseconds(200)) }
}
let path = try await sequencer.history(of: id).compactMap { event -> String? in
    event.kind == .advanced || event.kind == .altAdvanced ? event.toStep : nil
}
print("tell-me-when-done: \(enrollment.status.rawValue) (\(path.joined(separator: " → ")))"
      + (enrollment.lastError.map { ": \($0)" } ?? ""))
if let postgres {
    postgres.task.cancel()
    _ = await postgres.task.value
}
return enrollment.status == .completed ? Int32(truncatingIfNeeded: exitCode) : 70
}

do {
    exit(try await tell(arguments, exitCode: exitCode, elapsed: elapsed, environment: environment, logger: logger))
} catch {
    print("tell-me-when-done: could not send the result: \(error)")
    exit(70)
}
