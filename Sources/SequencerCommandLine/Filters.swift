import ArgumentParser
import Foundation
import Sequencer

/// The query API's filters as options (`list` and the bulk actions).
struct FilterOptions: ParsableArguments {
    @Option(help: "Sequence name.") var sequence: String?
    @Option(help: "Sequence version (with --sequence).") var version: Int?
    @Option(help: "Step id.") var step: String?
    @Option(help: "active, paused, completed, failed or cancelled.") var status: String?
    @Option(help: "Subject.") var subject: String?
    @Option(name: .customLong("updated-since"), help: "ISO 8601 time, e.g. 2026-12-01T00:00:00Z.") var updatedSince: String?

    var isEmpty: Bool {
        sequence == nil && version == nil && step == nil && status == nil && subject == nil && updatedSince == nil
    }

    func filter() throws -> EnrollmentFilter {
        var filter = EnrollmentFilter(sequence: sequence, version: version, step: step, subject: subject)
        if let status {
            guard let parsed = EnrollmentStatus(rawValue: status) else {
                throw CommandFailure.badInput("--status '\(status)' is not one of "
                                              + EnrollmentStatus.allCases.map(\.rawValue).joined(separator: ", "))
            }
            filter.status = parsed
        }
        if let updatedSince {
            guard let date = ISO8601DateFormatter().date(from: updatedSince) else {
                throw CommandFailure.badInput("--updated-since '\(updatedSince)' is not an ISO 8601 time (2026-12-01T00:00:00Z)")
            }
            filter.updatedSince = date
        }
        if version != nil && sequence == nil { throw CommandFailure.badInput("--version needs --sequence") }
        return filter
    }
}

/// `sequencer list`
struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Enrollments matching filters, newest first, a page at a time.")

    @OptionGroup var options: ConnectionOptions
    @OptionGroup var filters: FilterOptions
    @Option(help: "Enrollments per page.") var limit = 50
    @Option(help: "The cursor a previous page printed.") var cursor: String?

    func run() async throws {
        try await withStore(options) { _, sequencer in
            let filter = try filters.filter()
            let after = try cursor.map { text in
                do { return try PageCursor(text) } catch { throw CommandFailure.badInput("--cursor '\(text)' is not a page cursor") }
            }
            let page = try await sequencer.enrollments(matching: filter, after: after, limit: limit)
            if options.json {
                Console.json(["enrollments": .array(page.enrollments.map(\.json)),
                              "next": page.next.map { .string($0.description) } ?? .null])
                return
            }
            Console.table(["id", "sequence", "subject", "status", "step", "next run", "updated"], page.enrollments.map {
                [$0.id.uuidString.lowercased(), "\($0.sequenceName) v\($0.sequenceVersion)", $0.subject, $0.status.rawValue,
                 $0.stepID ?? "-", $0.nextRunAt?.iso ?? "-", $0.updatedAt.iso]
            }, empty: "no enrollments match")
            if let next = page.next { Console.note("more: --cursor \(next)") }
        }
    }
}

/// `sequencer stats SEQUENCE`
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The funnel of a sequence version: entries and enrollments per step and status, due work, failures.",
        discussion: """
            Each step's "reached" counts entries into it (kept after retention deletes enrollments); \
            "share" is reached / enrolled. The figures come from counters, not from reading every enrollment.
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The sequence name.") var sequence: String
    @Option(help: "A version (default: the latest).") var version: Int?

    func run() async throws {
        try await withStore(options) { _, sequencer in
            let funnel = try await sequencer.funnel(sequence: sequence, version: version)
            let statuses = EnrollmentStatus.allCases
            if options.json {
                Console.json(Self.json(funnel))
                return
            }
            Console.print("\(sequence) v\(funnel.version): \(funnel.enrolled) enrolled, \(funnel.goalsReached) goals reached")
            Console.table(["step", "reached", "share"] + statuses.map(\.rawValue), funnel.steps.map { step in
                [step.step ?? "(done)", String(step.reached), String(format: "%.1f%%", funnel.share(reaching: step.step) * 100)]
                    + statuses.map { String(step.now[$0] ?? 0) }
            })
            let lag = funnel.oldestDueAt.map { _ in " (oldest waiting \(ConsoleDuration(funnel.oldestDueLag)))" } ?? ""
            Console.print("due now: \(funnel.dueNow)\(lag); last hour: \(funnel.failedLastHour) failed, \(funnel.retriesLastHour) retries")
        }
    }

    static func json(_ funnel: FunnelStatistics) -> JSONValue {
        func number(_ n: Int) -> JSONValue { .number(Double(n)) }
        return [
            "sequence": .string(funnel.sequence), "version": number(funnel.version), "at": .string(funnel.at.iso),
            "enrolled": number(funnel.enrolled), "goalsReached": number(funnel.goalsReached),
            "dueNow": number(funnel.dueNow), "oldestDueAt": funnel.oldestDueAt.map { .string($0.iso) } ?? .null,
            "failedLastHour": number(funnel.failedLastHour), "retriesLastHour": number(funnel.retriesLastHour),
            "steps": .array(funnel.steps.map { step in
                var now: [String: JSONValue] = [:]
                for status in EnrollmentStatus.allCases { now[status.rawValue] = number(step.now[status] ?? 0) }
                return ["step": step.step.map(JSONValue.string) ?? .null, "reached": number(step.reached),
                        "share": .number(funnel.share(reaching: step.step)), "now": .object(now)]
            }),
        ]
    }
}

/// A duration for people: "42 ms", "3.2 s", "5 min", "2.5 h", "3 d".
struct ConsoleDuration: CustomStringConvertible {
    let seconds: Double
    init(_ duration: Duration) { seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
    var description: String {
        switch seconds {
        case ..<1: String(format: "%.0f ms", seconds * 1000)
        case ..<60: String(format: "%.1f s", seconds)
        case ..<3600: String(format: "%.0f min", seconds / 60)
        case ..<86_400: String(format: "%.1f h", seconds / 3600)
        default: String(format: "%.1f d", seconds / 86_400)
        }
    }
}
