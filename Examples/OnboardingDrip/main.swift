// An onboarding drip on the in-memory store with a simulated clock: two weeks pass in well under a second.
//
//   swift run OnboardingDrip                                   # prints the emails
//   SMTP_URL=smtp://127.0.0.1:2525 swift run OnboardingDrip    # sends them to that SMTP server
//
// Three users walk the same sequence and take three paths: one uses the product and gets tips,
// one never does and takes the alternate branch (a nudge, then a goodbye), and one upgrades on
// day one, meeting the goal early and jumping straight to the thank-you.
//
// With SMTP_URL set (smtp://, smtp+starttls:// or smtps://, with user:password@ if the server
// wants them), the Email steps run the real EmailRunner over SMTPTransport. A local server to
// look at them: `python3 -m aiosmtpd -n -l 127.0.0.1:2525` prints every message it receives.

import Foundation
import Logging
import Sequencer
import SequencerTransports

/// A host runner: prints each email instead of sending it, when no SMTP server is configured.
struct ConsoleEmail: TaskRunner {
    let name = "Email"
    let clock: SimulatedClock

    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        for input in batch {
            let to = input.config["to"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? "?"
            let subject = input.config["subject"]?.stringValue ?? ""
            print("  \(clock.label(input.now))  email to \(to): \(subject)")
        }
        return batch.map { $0.result(.next, message: "printed") }
    }
}

/// Wraps the real Email runner and prints what it did with each email.
struct PrintingEmail: TaskRunner {
    let runner: EmailRunner
    let clock: SimulatedClock
    var name: String { runner.name }

    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        let results = try await runner.run(batch)
        for (input, result) in zip(batch, results) {
            let subject = input.config["subject"]?.stringValue ?? ""
            let what: String
            switch result.action {
            case .next: what = result.message ?? "sent"
            case .retry(let reason): what = "not sent, will retry: \(reason)"
            case .fail(let reason): what = "failed: \(reason)"
            default: what = result.message ?? "\(result.action)"
            }
            print("  \(clock.label(input.now))  \(what): \(subject)")
        }
        return results
    }

    func validate(_ step: Step, in definition: SequenceDefinition) throws {
        try runner.validate(step, in: definition)
    }
}

/// Formats simulated times as "day N hh:mm" from the start.
struct SimulatedClock: Sendable {
    let start: Date
    func label(_ date: Date) -> String {
        let minutes = Int(date.timeIntervalSince(start) / 60)
        return String(format: "day %2d %02d:%02d", minutes / 1440, minutes / 60 % 24, minutes % 60)
    }
}

let onboarding = """
{
  "name": "trial-onboarding",
  "version": 1,
  "timeZone": "America/New_York",
  "steps": [
    {"id": "welcome",  "runner": "Email", "config": {"from": "hi@example.com", "to": ["{{email}}"], "subject": "Welcome, {{name}}", "text": "Glad you're here."}},
    {"id": "wait-2d",  "runner": "WaitForDuration", "config": {"amount": 2, "unit": "days"}},
    {"id": "weekday",  "runner": "WaitForDateComparison", "config": {"attribute": "day", "values": [1, 2, 3, 4, 5]}},
    {"id": "has-used", "runner": "Conditional", "config": {"lodashCommand": "gt", "value": {"type": "get", "value": "usage.projects"}, "compareTo": {"type": "raw", "value": 0}}, "altNext": "nudge"},
    {"id": "tips",     "runner": "Email", "config": {"from": "hi@example.com", "to": ["{{email}}"], "subject": "{{name}}, three tips for your {{usage.projects}} projects", "text": "..."}},
    {"id": "done",     "runner": "GoTo", "config": {"target": "$end"}},
    {"id": "nudge",    "runner": "Email", "config": {"from": "hi@example.com", "to": ["{{email}}"], "subject": "Need a hand, {{name}}?", "text": "..."}},
    {"id": "wait-3d",  "runner": "WaitForDuration", "config": {"amount": 3, "unit": "days"}},
    {"id": "paid",     "runner": "Goal", "config": {"lodashCommand": "eq", "value": {"type": "get", "value": "plan"}, "compareTo": {"type": "raw", "value": "pro"}}, "altNext": "goodbye"},
    {"id": "thanks",   "runner": "Email", "config": {"from": "hi@example.com", "to": ["{{email}}"], "subject": "Thank you for upgrading, {{name}}!", "text": "..."}, "next": "$end"},
    {"id": "goodbye",  "runner": "Email", "config": {"from": "hi@example.com", "to": ["{{email}}"], "subject": "Your trial has ended", "text": "..."}}
  ]
}
"""

var logger = Logger(label: "onboarding-drip")
logger.logLevel = .warning

// Thursday 2026-01-08 09:00 in New York.
let start = ISO8601DateFormatter().date(from: "2026-01-08T14:00:00Z")!
let clock = SimulatedClock(start: start)
let email: any TaskRunner
if let smtpURL = ProcessInfo.processInfo.environment["SMTP_URL"], !smtpURL.isEmpty {
    var configuration = try SMTPTransport.Configuration(url: smtpURL)
    configuration.allowsAuthenticationWithoutTLS = configuration.security == .plain   // a local test server
    let smtp = SMTPTransport(configuration: configuration)
    do {
        try await smtp.checkConnection()
    } catch {
        print("Cannot use the SMTP server at \(smtpURL): \(error)")
        exit(1)
    }
    print("Sending the emails to \(configuration.host):\(configuration.port) (\(configuration.security)).")
    email = PrintingEmail(runner: EmailRunner(transport: smtp, logger: logger), clock: clock)
} else {
    email = ConsoleEmail(clock: clock)
}
let sequencer = Sequencer(store: InMemoryStore(), runners: .builtIn + [email], logger: logger)
try await sequencer.register(json: onboarding)

let users: [(subject: String, story: String, context: JSONValue)] = [
    ("ada", "uses the product on day 1", ["name": "Ada", "email": "ada@example.com", "plan": "trial", "usage": ["projects": 0]]),
    ("bob", "never comes back", ["name": "Bob", "email": "bob@example.com", "plan": "trial", "usage": ["projects": 0]]),
    ("cy", "upgrades to pro on day 1", ["name": "Cy", "email": "cy@example.com", "plan": "trial", "usage": ["projects": 0]]),
]
var ids: [String: UUID] = [:]
for user in users {
    ids[user.subject] = try await sequencer.enroll(user.subject, in: "trial-onboarding", context: user.context,
                                                   idempotencyKey: "signup-\(user.subject)", now: start)
}

print("Simulating two weeks, one tick every simulated 15 minutes:")
let wallClock = ContinuousClock().now
var now = start
while now <= start.addingTimeInterval(14 * 86_400) {
    if now == start.addingTimeInterval(86_400) {
        print("  \(clock.label(now))  ada creates 3 projects; cy upgrades to pro")
        try await sequencer.updateContext(ids["ada"]!, merging: ["usage": ["projects": 3]], now: now)
        try await sequencer.updateContext(ids["cy"]!, merging: ["plan": "pro"], now: now)
    }
    try await sequencer.tick(now: now)
    now = now.addingTimeInterval(15 * 60)
}

print("\nPaths:")
for user in users {
    let id = ids[user.subject]!
    let enrollment = try await sequencer.enrollment(id)
    var path: [String] = []
    for event in try await sequencer.history(of: id) {
        switch event.kind {
        case .enrolled: path.append(event.toStep ?? "?")
        case .advanced: path.append(event.toStep ?? "?")
        case .altAdvanced: path.append("(alt) " + (event.toStep ?? "?"))
        case .goalReached: path.append("(goal met) " + (event.toStep ?? "?"))
        default: break
        }
    }
    print("  \(user.subject.padding(toLength: 4, withPad: " ", startingAt: 0)) \(user.story.padding(toLength: 26, withPad: " ", startingAt: 0)) \(enrollment.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(path.joined(separator: " → "))")
}
print("\nTwo simulated weeks took \(ContinuousClock().now - wallClock) of wall time.")
