import ArgumentParser
import Foundation
import Sequencer
import SequencerPostgres

/// `sequencer enroll SEQUENCE SUBJECT` or `sequencer enroll SEQUENCE --file people.csv`
struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enroll one subject, or many from a CSV or JSON-lines file.",
        discussion: """
            CSV: a header row naming `subject` (required), optionally `idempotency_key`; every other column \
            becomes a context string. JSON lines: one object per line, {"subject": …, "context": {…}, \
            "idempotencyKey": …}. The file is read and checked whole before anything is enrolled; an error \
            names the line and the field.
            """)

    @OptionGroup var options: ConnectionOptions
    @Argument(help: "The sequence name.") var sequence: String
    @Argument(help: "One subject to enroll (or use --file).") var subject: String?
    @Option(help: "The context, a JSON object (one subject).") var context: String?
    @Option(name: .customLong("key"), help: "An idempotency key (one subject).") var idempotencyKey: String?
    @Option(help: "A .csv or .jsonl file of subjects.") var file: String?
    @Option(help: "A registered version (default: the latest).") var version: Int?

    func validate() throws {
        guard (subject == nil) != (file == nil) else {
            throw ValidationError("give one subject or --file, not both or neither")
        }
        if file != nil, context != nil || idempotencyKey != nil {
            throw ValidationError("--context and --key apply to one subject; put them in the file's rows instead")
        }
    }

    func run() async throws {
        try await withStore(options) { _, sequencer in
            let requests: [EnrollmentRequest]
            if let file {
                requests = try SubjectFile.read(file)
            } else {
                var parsed: JSONValue = [:]
                if let context {
                    do { parsed = try JSONValue(json: context) } catch let error as SequencerError {
                        throw CommandFailure.badInput("--context is not a JSON object: \(error.message)")
                    }
                }
                requests = [EnrollmentRequest(subject: subject!, context: parsed, idempotencyKey: idempotencyKey)]
            }
            var ids: [UUID] = []
            let progress = Progress(total: requests.count, label: "enrolled")
            for start in stride(from: 0, to: requests.count, by: 5_000) {
                let chunk = Array(requests[start..<min(requests.count, start + 5_000)])
                ids += try await sequencer.enroll(chunk, in: sequence, version: version)
                progress.update(ids.count)
            }
            progress.finish()
            if options.json {
                Console.json(["sequence": .string(sequence), "enrolled": .number(Double(ids.count)),
                              "ids": .array(ids.prefix(1_000).map { .string($0.uuidString.lowercased()) })])
            } else if ids.count == 1 {
                Console.print(ids[0].uuidString.lowercased())
            } else {
                Console.print("enrolled \(ids.count) subjects in \(sequence)")
            }
        }
    }
}

/// Shows how far a long command is: a bar redrawn in place on a terminal, a line every 10 % otherwise.
final class Progress: @unchecked Sendable {
    let total: Int
    let label: String
    private var lastTenth = 0

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    func update(_ done: Int) {
        guard total > 5_000 else { return }
        if Console.isTerminal {
            let width = 30, filled = width * done / max(1, total)
            FileHandle.standardError.write(Data(
                "\r[\(String(repeating: "#", count: filled))\(String(repeating: " ", count: width - filled))] \(done)/\(total) \(label)".utf8))
        } else {
            let tenth = 10 * done / max(1, total)
            if tenth > lastTenth {
                lastTenth = tenth
                Console.note("\(label) \(done)/\(total)")
            }
        }
    }

    func finish() {
        if total > 5_000 && Console.isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Reads the subjects of a CSV or JSON-lines file, checking every line before any is enrolled.
enum SubjectFile {
    static func read(_ path: String) throws -> [EnrollmentRequest] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure.notFound("cannot read \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CommandFailure.badInput("\(path) is not UTF-8 text")
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        let requests = path.lowercased().hasSuffix(".csv") ? try csv(lines, path: path) : try jsonLines(lines, path: path)
        guard !requests.isEmpty else { throw CommandFailure.badInput("\(path) has no subjects") }
        return requests
    }

    static func jsonLines(_ lines: [String], path: String) throws -> [EnrollmentRequest] {
        var requests: [EnrollmentRequest] = []
        for (index, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let where_ = "\(path):\(index + 1)"
            let value: JSONValue
            do { value = try JSONValue(json: line) } catch let error as SequencerError {
                throw CommandFailure.badInput("\(where_): \(error.message)")
            }
            guard case .object(let object) = value else { throw CommandFailure.badInput("\(where_): not a JSON object") }
            guard case .string(let subject)? = object["subject"], !subject.isEmpty else {
                throw CommandFailure.badInput("\(where_): field 'subject' must be a non-empty string")
            }
            var key: String?
            switch object["idempotencyKey"] {
            case .string(let text)?: key = text
            case nil, .null?: key = nil
            default: throw CommandFailure.badInput("\(where_): field 'idempotencyKey' must be a string")
            }
            let context = object["context"] ?? [:]
            guard case .object = context else { throw CommandFailure.badInput("\(where_): field 'context' must be an object") }
            if let unknown = object.keys.first(where: { !["subject", "idempotencyKey", "context"].contains($0) }) {
                throw CommandFailure.badInput("\(where_): unknown field '\(unknown)' (subject, idempotencyKey, context)")
            }
            requests.append(EnrollmentRequest(subject: subject, context: context, idempotencyKey: key))
        }
        return requests
    }

    static func csv(_ lines: [String], path: String) throws -> [EnrollmentRequest] {
        guard let headerLine = lines.first else { return [] }
        let header = try fields(headerLine, at: "\(path):1")
        guard let subjectColumn = header.firstIndex(of: "subject") else {
            throw CommandFailure.badInput("\(path):1: the header has no 'subject' column (got \(header.joined(separator: ",")))")
        }
        let keyColumn = header.firstIndex(of: "idempotency_key")
        var requests: [EnrollmentRequest] = []
        for (index, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let where_ = "\(path):\(index + 1)"
            let row = try fields(line, at: where_)
            guard row.count == header.count else {
                throw CommandFailure.badInput("\(where_): \(row.count) fields, the header has \(header.count)")
            }
            guard !row[subjectColumn].isEmpty else { throw CommandFailure.badInput("\(where_): field 'subject' is empty") }
            var context: [String: JSONValue] = [:]
            for (column, name) in header.enumerated() where column != subjectColumn && column != keyColumn {
                context[name] = .string(row[column])
            }
            requests.append(EnrollmentRequest(subject: row[subjectColumn], context: .object(context),
                                              idempotencyKey: keyColumn.map { row[$0] }.flatMap { $0.isEmpty ? nil : $0 }))
        }
        return requests
    }

    /// One CSV line (RFC 4180 quoting: "a ""quoted"" field", commas inside quotes).
    static func fields(_ line: String, at location: String) throws -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var iterator = Array(line).makeIterator()
        var pending: Character? = nil
        while let c = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { current.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(c)
                }
            } else if c == "\"" && current.isEmpty {
                quoted = true
            } else if c == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        guard !quoted else { throw CommandFailure.badInput("\(location): a quoted field is not closed") }
        fields.append(current)
        return fields
    }
}
