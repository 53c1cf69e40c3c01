import Foundation
import Sequencer

/// Where commands write: tables and JSON to standard output, errors and progress to standard error.
enum Console {
    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("error: " + text + "\n").utf8))
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Whether standard error is a terminal (progress bars) rather than a file or pipe (lines).
    static var isTerminal: Bool { isatty(2) == 1 }

    /// Prints a JSON value, pretty and with sorted keys.
    static func json(_ value: JSONValue) {
        print(value.prettyJSON)
    }

    /// Prints rows under a header, columns padded to their widest cell; a note when empty.
    static func table(_ header: [String], _ rows: [[String]], empty: String = "(none)") {
        guard !rows.isEmpty else {
            print(empty)
            return
        }
        let widths = header.indices.map { column in
            ([header[column]] + rows.map { column < $0.count ? $0[column] : "" }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        print(line(header))
        for row in rows { print(line(row.map { Self.oneLine($0) })) }
    }

    /// A cell on one line: control characters (a newline in a subject) shown escaped.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        return String(text.unicodeScalars.map { scalar in
            scalar.properties.generalCategory == .control ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }.joined())
    }

    /// Asks a yes/no question on standard error; only "y" or "yes" on standard input is yes.
    static func confirm(_ question: String) -> Bool {
        FileHandle.standardError.write(Data("\(question) [y/N] ".utf8))
        guard let answer = readLine() else { return false }
        return ["y", "yes"].contains(answer.trimmingCharacters(in: .whitespaces).lowercased())
    }
}

extension Date {
    /// ISO 8601 with milliseconds, UTC.
    var iso: String { ISO8601Timestamp.string(from: self) }
}

extension Enrollment {
    /// The enrollment as JSON (for `--json` and `inspect`).
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id.uuidString.lowercased()), "sequence": .string(sequenceName),
            "version": .number(Double(sequenceVersion)), "subject": .string(subject), "status": .string(status.rawValue),
            "attempts": .number(Double(attempts)), "visit": .number(Double(visit)), "context": context,
            "stepEnteredAt": .string(stepEnteredAt.iso), "createdAt": .string(createdAt.iso),
            "updatedAt": .string(updatedAt.iso),
        ]
        object["step"] = stepID.map(JSONValue.string) ?? .null
        object["nextRunAt"] = nextRunAt.map { .string($0.iso) } ?? .null
        object["idempotencyKey"] = idempotencyKey.map(JSONValue.string) ?? .null
        object["lastError"] = lastError.map(JSONValue.string) ?? .null
        return .object(object)
    }
}

extension HistoryEvent {
    var json: JSONValue {
        [
            "kind": .string(kind.rawValue), "from": fromStep.map(JSONValue.string) ?? .null,
            "to": toStep.map(JSONValue.string) ?? .null, "message": message.map(JSONValue.string) ?? .null,
            "visit": .number(Double(visit)), "at": .string(at.iso),
        ]
    }
}
