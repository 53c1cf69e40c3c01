import Foundation

extension Condition {
    /// Reads the JSON form of a ``Condition``, throwing ``SequencerError``s that name the field.
    ///
    /// Every `at` argument is the dotted path of the value from the step's config, starting
    /// with `config` (`config.all.1.value`), and becomes the error's `field`.
    struct Parser {
        let sequence: String
        let version: Int
        let step: String

        private static let forms = ["lodashCommand", "all", "any", "not"]

        func condition(_ config: JSONValue, at path: String) throws -> Condition {
            guard case .object(let members) = config else {
                throw failure("a condition must be a JSON object, not \(config.typeName)", at: path)
            }
            let present = Self.forms.filter { members[$0] != nil }
            guard present.count <= 1 else {
                throw failure(
                    "a condition has exactly one of 'lodashCommand', 'all', 'any' or 'not', not "
                        + present.map { "'\($0)'" }.joined(separator: " and "), at: path)
            }
            let known = (present.first == "lodashCommand" || present.isEmpty
                ? ["lodashCommand", "value", "compareTo"] : [present.first!]) + ["description"]
            if present.count <= 1, let (key, suggestion) = KnownKeys.firstUnknown(in: members, known: known) {
                throw failure(KnownKeys.message(key, suggestion: suggestion, known: known, what: "a condition"),
                              at: "\(path).\(key)")
            }
            switch (present.first, present.first.flatMap { members[$0] }) {
            case ("all", let list?):
                return .all(try conditions(list, key: "all", at: path))
            case ("any", let list?):
                return .any(try conditions(list, key: "any", at: path))
            case ("not", let inner?):
                return .not(try condition(inner, at: "\(path).not"))
            case ("lodashCommand", _):
                return try comparison(members, at: path)
            default:
                throw failure(
                    "missing 'lodashCommand' (or 'all', 'any', 'not'); known commands: \(ComparisonCommand.knownNames)",
                    at: "\(path).lodashCommand")
            }
        }

        private func conditions(_ list: JSONValue, key: String, at path: String) throws -> [Condition] {
            guard case .array(let elements) = list else {
                throw failure("'\(key)' must be an array of conditions, not \(list.typeName)", at: "\(path).\(key)")
            }
            guard !elements.isEmpty else {
                throw failure("'\(key)' must list at least one condition", at: "\(path).\(key)")
            }
            return try elements.enumerated().map { index, element in
                try condition(element, at: "\(path).\(key).\(index)")
            }
        }

        private func comparison(_ members: [String: JSONValue], at path: String) throws -> Condition {
            let commandField = "\(path).lodashCommand"
            guard case .string(let name) = members["lodashCommand"] else {
                throw failure(
                    "'lodashCommand' must be a string, one of: \(ComparisonCommand.knownNames)", at: commandField)
            }
            guard let command = ComparisonCommand(name: name) else {
                throw failure(
                    "unknown command '\(name)'; known commands: \(ComparisonCommand.knownNames)", at: commandField)
            }
            guard let valueJSON = members["value"] else {
                throw failure(
                    "'\(name)' needs a 'value' operand, e.g. {\"type\": \"get\", \"value\": \"user.plan\"}",
                    at: "\(path).value")
            }
            let value = try operand(valueJSON, at: "\(path).value")

            let compareToField = "\(path).compareTo"
            var compareTo: Operand?
            if let compareToJSON = members["compareTo"], compareToJSON != .null {
                compareTo = try operand(compareToJSON, at: compareToField)
            } else if command.needsCompareTo {
                throw failure(
                    "'\(name)' needs a 'compareTo' operand, e.g. {\"type\": \"raw\", \"value\": 0}", at: compareToField)
            }
            if case .raw(let literal) = compareTo {
                try check(literal, for: command, at: "\(compareToField).value")
            }
            return .compare(command, value, compareTo)
        }

        /// Checks a raw `compareTo` that only some values make sense for.
        private func check(_ literal: JSONValue, for command: ComparisonCommand, at path: String) throws {
            switch command {
            case .matches:
                guard case .string(let pattern) = literal else {
                    throw failure("'matches' needs a regular expression string, not \(literal.typeName)", at: path)
                }
                do {
                    _ = try ComparisonCommand.regex(for: pattern)
                } catch {
                    throw failure("'\(Limits.excerpt(pattern))' is not a valid regular expression: \(error)", at: path, underlying: error)
                }
            case .has:
                guard case .string(let keyPath) = literal, !JSONValue.pathSegments(keyPath).isEmpty else {
                    throw failure("'has' needs a non-empty dotted path string, e.g. \"address.city\"", at: path)
                }
            default:
                break
            }
        }

        func operand(_ json: JSONValue, at path: String) throws -> Operand {
            let known = Operand.typeNames.joined(separator: ", ")
            guard case .object(let members) = json else {
                throw failure(
                    "an operand must be an object like {\"type\": \"get\", \"value\": \"user.plan\"}, not \(json.typeName)",
                    at: path)
            }
            let knownKeys = members["type"]?.stringValue == "now" ? ["type"] : ["type", "value"]
            if let (key, suggestion) = KnownKeys.firstUnknown(in: members, known: knownKeys) {
                throw failure(KnownKeys.message(key, suggestion: suggestion, known: knownKeys, what: "an operand"),
                              at: "\(path).\(key)")
            }
            guard let typeJSON = members["type"] else {
                throw failure("the operand is missing 'type'; known types: \(known)", at: "\(path).type")
            }
            guard case .string(let type) = typeJSON else {
                throw failure("the operand 'type' must be a string, one of: \(known)", at: "\(path).type")
            }
            let valueField = "\(path).value"
            switch type {
            case "get":
                guard case .string(let keyPath) = members["value"], !JSONValue.pathSegments(keyPath).isEmpty else {
                    throw failure(
                        "a 'get' operand needs a non-empty dotted path string in 'value' (e.g. \"usage.projects\"), "
                            + "not \(Self.describe(members["value"]))", at: valueField)
                }
                return .get(keyPath)
            case "raw":
                guard let literal = members["value"] else {
                    throw failure("a 'raw' operand needs a 'value' (any JSON value, null included)", at: valueField)
                }
                return .raw(literal)
            case "template":
                guard case .string(let template) = members["value"] else {
                    throw failure(
                        "a 'template' operand needs a Mustache string in 'value', not \(Self.describe(members["value"]))",
                        at: valueField)
                }
                do {
                    _ = try TemplateRenderer.render(template, context: .object([:]))
                } catch {
                    throw failure("not a valid Mustache template", at: valueField, underlying: error)
                }
                return .template(template)
            case "now":
                return .now
            default:
                throw failure("unknown operand type '\(type)'; known types: \(known)", at: "\(path).type")
            }
        }

        private static func describe(_ value: JSONValue?) -> String {
            value.map { "\($0.typeName) \($0.jsonString())" } ?? "missing"
        }

        private func failure(_ message: String, at field: String, underlying: (any Error)? = nil) -> SequencerError {
            SequencerError(
                .invalidConfig, message, sequence: sequence, version: version, step: step, field: field,
                underlying: underlying)
        }
    }
}
