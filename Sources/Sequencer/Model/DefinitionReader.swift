import Foundation

/// Reads a ``SequenceDefinition`` from its JSON form, strictly.
///
/// Every key must be one the format knows: a misspelt `"altnext"` or `"nxt"` would otherwise
/// register without a word and the branch would silently disappear. Each error is a
/// ``SequencerError`` with code ``SequencerError/Code/malformedDefinition`` naming the sequence
/// (when its name could be read), the step (by id, else `#index`) and the field, and suggesting
/// the key meant when one is close.
enum DefinitionReader {
    /// The keys of a definition object.
    static let definitionKeys = ["name", "version", "timeZone", "uniqueSubject", "sendWindow", "notifications", "steps"]
    /// The keys of a step object.
    static let stepKeys = ["id", "runner", "config", "next", "altNext", "window"]

    static func read(_ json: JSONValue) throws(SequencerError) -> SequenceDefinition {
        guard case .object(let root) = json else {
            throw SequencerError(.malformedDefinition, "a definition must be a JSON object, not \(json.typeName)")
        }
        let name = root["name"]?.stringValue
        func failure(_ message: String, step: String? = nil, field: String?, code: SequencerError.Code = .malformedDefinition)
            -> SequencerError
        {
            SequencerError(code, message, sequence: name, version: nil, step: step, field: field)
        }
        if let (key, suggestion) = KnownKeys.firstUnknown(in: root, known: definitionKeys) {
            throw failure(KnownKeys.message(key, suggestion: suggestion, known: definitionKeys, what: "the definition"),
                          field: key)
        }
        guard let name else {
            throw failure(root["name"] == nil ? "missing key 'name' (the sequence name, a string)"
                                              : "'name' must be a string, not \(root["name"]!.typeName)", field: "name")
        }
        let version: Int
        switch root["version"] {
        case nil:
            throw failure("missing key 'version' (a whole number, 1 or greater)", field: "version")
        case .number(let number)?:
            guard let whole = Int(exactly: number), (Int(Int32.min)...Int(Int32.max)).contains(whole) else {
                throw failure("'version' must be a whole number from 1 to 2147483647, not \(ConfigReader.format(number))",
                              field: "version", code: .outOfRange)
            }
            version = whole
        case let other?:
            throw failure("'version' must be a whole number, not \(other.typeName)", field: "version")
        }
        let timeZone: String?
        switch root["timeZone"] {
        case nil, .null?: timeZone = nil
        case .string(let zone)?: timeZone = zone
        case let other?: throw failure("'timeZone' must be an IANA zone name string, not \(other.typeName)", field: "timeZone")
        }
        var uniqueSubject: SequenceDefinition.UniqueSubject?
        switch root["uniqueSubject"] {
        case nil, .null?: uniqueSubject = nil
        case .string(let policy)?:
            guard let known = SequenceDefinition.UniqueSubject(rawValue: policy) else {
                throw failure("'uniqueSubject' must be \"returnExisting\" or \"reject\", not \"\(Limits.excerpt(policy))\"",
                              field: "uniqueSubject")
            }
            uniqueSubject = known
        case let other?:
            throw failure("'uniqueSubject' must be \"returnExisting\" or \"reject\", not \(other.typeName)", field: "uniqueSubject")
        }
        var sendWindow: SendWindow?
        if let window = root["sendWindow"], window != .null {
            do {
                sendWindow = try SendWindow(window, sequence: name, version: version, field: "sendWindow")
            } catch {
                throw SequencerError(.malformedDefinition, error.message, sequence: name, version: version, field: error.field)
            }
        }
        guard case .array(let stepValues)? = root["steps"] else {
            throw failure(root["steps"] == nil ? "missing key 'steps' (an array of steps)"
                                               : "'steps' must be an array, not \(root["steps"]!.typeName)", field: "steps")
        }
        var steps: [Step] = []
        steps.reserveCapacity(stepValues.count)
        for (index, value) in stepValues.enumerated() {
            do {
                steps.append(try readStep(value, index: index))
            } catch {
                var error = error
                error.sequence = name
                error.version = version
                throw error
            }
        }
        var notifications: [SequenceNotification] = []
        switch root["notifications"] {
        case nil, .null?: break
        case .array(let values)?:
            for (index, value) in values.enumerated() {
                notifications.append(try SequenceNotification.read(value, index: index, sequence: name, version: version))
            }
        case let other?:
            throw failure("'notifications' must be an array, not \(other.typeName)", field: "notifications")
        }
        var definition = SequenceDefinition(name: name, version: version, timeZone: timeZone, steps: steps)
        definition.uniqueSubject = uniqueSubject
        definition.sendWindow = sendWindow
        definition.notifications = notifications
        return definition
    }

    static func readStep(_ value: JSONValue, index: Int) throws(SequencerError) -> Step {
        guard case .object(let members) = value else {
            throw SequencerError(.malformedDefinition, "a step must be a JSON object, not \(value.typeName)",
                                 step: "#\(index)", field: nil)
        }
        let label = members["id"]?.stringValue ?? "#\(index)"
        func failure(_ message: String, field: String) -> SequencerError {
            SequencerError(.malformedDefinition, message, step: label, field: field)
        }
        if let (key, suggestion) = KnownKeys.firstUnknown(in: members, known: stepKeys) {
            throw failure(KnownKeys.message(key, suggestion: suggestion, known: stepKeys, what: "a step"), field: key)
        }
        func string(_ key: String, _ what: String) throws(SequencerError) -> String {
            switch members[key] {
            case nil: throw failure("missing key '\(key)' (\(what))", field: key)
            case .string(let text)?: return text
            case let other?: throw failure("'\(key)' must be a string (\(what)), not \(other.typeName)", field: key)
            }
        }
        func optionalString(_ key: String) throws(SequencerError) -> String? {
            switch members[key] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            case let other?: throw failure("'\(key)' must be a step id string, not \(other.typeName)", field: key)
            }
        }
        var step = Step(id: try string("id", "the step id"), runner: try string("runner", "a runner name, e.g. \"GoTo\""),
                        config: members["config"] ?? [:], next: try optionalString("next"),
                        altNext: try optionalString("altNext"))
        if let window = members["window"], window != .null {
            do {
                step.window = try SendWindow(window, step: label, field: "window")
            } catch {
                throw failure(error.message, field: error.field ?? "window")
            }
        }
        return step
    }
}
