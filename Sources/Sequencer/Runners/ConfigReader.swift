import Foundation

/// The toolkit every built-in runner (and the messaging code) reads step configs with: where an
/// error points (``Site``), templated values left to run time, numbers, and how values are
/// described and formatted in messages.
enum ConfigReader {
    /// The step a config belongs to, so every error names the sequence, version, step and field.
    struct Site: Sendable {
        var sequence: String
        var version: Int
        var step: String
        /// At register the raw config is read and templated values (`"{{days}}"`) are skipped;
        /// at run time they have been rendered and are read like any other value.
        var registering: Bool

        init(_ input: RunnerInput) {
            self.init(sequence: input.sequence, version: input.version, step: input.step.id, registering: false)
        }

        init(_ step: Step, in definition: SequenceDefinition) {
            self.init(sequence: definition.name, version: definition.version, step: step.id, registering: true)
        }

        init(sequence: String, version: Int, step: String, registering: Bool) {
            self.sequence = sequence
            self.version = version
            self.step = step
            self.registering = registering
        }

        /// An ``SequencerError/Code/invalidConfig`` error about `field` (e.g. `"config.amount"`).
        func invalid(_ message: String, field: String) -> SequencerError {
            SequencerError(.invalidConfig, message, sequence: sequence, version: version, step: step, field: field)
        }

        /// Whether `value` is a template left to be rendered at run time, and so is not checked now.
        func isDeferred(_ value: JSONValue) -> Bool {
            registering && (value.stringValue.map(TemplateRenderer.isTemplate) ?? false)
        }
    }

    /// A number, or a string holding one in decimal notation (what a template such as `"{{days}}"`
    /// renders to). `nil` for anything else, including `"inf"`, `"nan"` and hexadecimal.
    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let n):
            return n.isFinite ? n : nil
        case .string(let s):
            let trimmed = s.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
                let n = Double(trimmed), n.isFinite
            else { return nil }
            return n
        default:
            return nil
        }
    }

    /// How a value that should have been a number or string is described in an error.
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .string(let s) where s.isEmpty: "an empty string (did a template render nothing?)"
        case .string(let s): "'\(s)'"
        case .null: "null"
        case .array, .object: "an \(value.typeName) (\(value.jsonString()))"
        default: "a \(value.typeName) (\(value.jsonString()))"
        }
    }
}

extension ConfigReader {
    /// A number as a person would write it: `2`, `1.5`, never `2.0`.
    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    /// An instant in ISO 8601 (`2026-03-08T14:00:00Z`), for history messages.
    static func format(_ date: Date) -> String {
        ISO8601Timestamp.string(from: date, withMilliseconds: false)
    }
}

extension RunnerInput {
    /// The result of a wait whose wake time is known: `next` once `now` has reached it, else
    /// `noop(until:)` that exact time (never a poll), with a history message that says when.
    func waitResult(until wake: Date) -> RunnerResult {
        if now >= wake { return result(.next) }
        return result(.noop(until: wake), message: "waiting until \(ConfigReader.format(wake))")
    }
}
