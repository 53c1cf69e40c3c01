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
    static let configuration = CommandConfiguration(abstract: "Enrollments per step and status of a sequence version.")

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The sequence name.") var sequence: String
    @Option(help: "A version (default: the latest).") var version: Int?

    func run() async throws {
        try await withStore(options) { _, sequencer in
            let definition = try await sequencer.definition(sequence, version: version)
            let counts = try await sequencer.stepCounts(sequence: sequence, version: definition.version)
            let statuses = EnrollmentStatus.allCases
            // Steps in definition order, then "(done)" for completed enrollments that have no step.
            var rows: [[String]] = []
            var json: [JSONValue] = []
            let steps: [String?] = definition.steps.map(\.id) + (counts.contains { $0.step == nil } ? [nil] : [])
            for step in steps {
                let row = statuses.map { status in counts.first { $0.step == step && $0.status == status }?.count ?? 0 }
                rows.append([step ?? "(done)"] + row.map(String.init) + [String(row.reduce(0, +))])
                var object: [String: JSONValue] = ["step": step.map(JSONValue.string) ?? .null]
                for (status, count) in zip(statuses, row) { object[status.rawValue] = .number(Double(count)) }
                json.append(.object(object))
            }
            if options.json {
                Console.json(["sequence": .string(sequence), "version": .number(Double(definition.version)), "steps": .array(json)])
            } else {
                Console.print("\(sequence) v\(definition.version)")
                Console.table(["step"] + statuses.map(\.rawValue) + ["total"], rows)
            }
        }
    }
}
