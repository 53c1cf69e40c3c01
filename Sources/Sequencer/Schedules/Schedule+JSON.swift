import Foundation

extension Schedule {
    static let jsonKeys = ["name", "recurrence", "timeZone", "sequence", "version", "subject", "context",
                           "missedFires", "maxMissedFires", "missedAfterSeconds", "exclusive", "enabled"]

    /// Reads the JSON form (see ``Schedule``). `missedFires` is `"skip"`, `"once"` (default) or
    /// `"all"`, with `maxMissedFires` (default 10) for `"all"`; `missedAfterSeconds` defaults to 60.
    ///
    /// - Throws: ``SequencerError/Code/invalidConfig`` naming the field (`timeZone`,
    ///   `recurrence`, `cron.hour`, …) and the schedule.
    public init(json: JSONValue) throws(SequencerError) {
        let name = json.objectValue?["name"]?.stringValue
        func invalid(_ message: String, _ field: String) -> SequencerError {
            SequencerError(.invalidConfig, (name.map { "schedule '\(Limits.excerpt($0))': " } ?? "") + message,
                           sequence: json.objectValue?["sequence"]?.stringValue, field: field)
        }
        guard case .object(let members) = json else {
            throw invalid("a schedule must be a JSON object, not \(json.typeName)", "schedule")
        }
        if let (key, suggestion) = KnownKeys.firstUnknown(in: members, known: Self.jsonKeys) {
            throw invalid(KnownKeys.message(key, suggestion: suggestion, known: Self.jsonKeys, what: "a schedule"), key)
        }
        func string(_ key: String, required: Bool) throws(SequencerError) -> String? {
            switch members[key] {
            case nil, .null?:
                if required { throw invalid("missing '\(key)'", key) }
                return nil
            case .string(let s)?:
                return s
            case let other?:
                throw invalid("'\(key)' must be a string, not \(other.typeName)", key)
            }
        }
        func integer(_ key: String, in range: ClosedRange<Int>) throws(SequencerError) -> Int? {
            switch members[key] {
            case nil, .null?:
                return nil
            case .number(let n)? where n.rounded() == n && n >= Double(range.lowerBound) && n <= Double(range.upperBound):
                return Int(n)
            case let other?:
                throw invalid("'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound), "
                              + "not \(ConfigReader.describe(other))", key)
            }
        }
        func bool(_ key: String, default value: Bool) throws(SequencerError) -> Bool {
            switch members[key] {
            case nil, .null?: return value
            case .bool(let b)?: return b
            case let other?: throw invalid("'\(key)' must be true or false, not \(other.typeName)", key)
            }
        }
        let scheduleName = try string("name", required: true)!
        let zoneName = try string("timeZone", required: false) ?? "UTC"
        guard let zone = TimeZone(identifier: zoneName) else {
            throw invalid("'\(Limits.excerpt(zoneName))' is not a known IANA time zone (e.g. \"Europe/Paris\")", "timeZone")
        }
        let recurrence = try Recurrence(try string("recurrence", required: true)!, field: "recurrence", schedule: scheduleName)
        let policy: MissedFirePolicy
        let cap = try integer("maxMissedFires", in: 1...1000)
        switch try string("missedFires", required: false) ?? "once" {
        case "skip": policy = .skip
        case "once": policy = .once
        case "all": policy = .all(max: cap ?? 10)
        case let other:
            throw invalid("'missedFires' is \"skip\", \"once\" or \"all\", not \"\(Limits.excerpt(other))\"", "missedFires")
        }
        if cap != nil, policy == .skip || policy == .once {
            throw invalid("'maxMissedFires' applies only with \"missedFires\": \"all\"", "maxMissedFires")
        }
        let context = members["context"] ?? [:]
        guard case .object = context else {
            throw invalid("'context' must be a JSON object, not \(context.typeName)", "context")
        }
        self.init(
            name: scheduleName, recurrence: recurrence, timeZone: zone, sequence: try string("sequence", required: true)!,
            version: try integer("version", in: 1...Int(Int32.max)), subject: try string("subject", required: false),
            context: context, missedFires: policy,
            missedAfter: .seconds(try integer("missedAfterSeconds", in: 1...(366 * 86400)) ?? 60),
            exclusive: try bool("exclusive", default: false), enabled: try bool("enabled", default: true))
    }

    /// The JSON form, which ``init(json:)`` reads back to an equal schedule.
    public var jsonValue: JSONValue {
        var members: [String: JSONValue] = [
            "name": .string(name), "recurrence": .string(recurrence.description), "timeZone": .string(timeZone.identifier),
            "sequence": .string(sequence), "subject": .string(subject), "context": context,
            "missedAfterSeconds": .number(Double(missedAfter.components.seconds)), "exclusive": .bool(exclusive),
            "enabled": .bool(enabled),
        ]
        if let version { members["version"] = .number(Double(version)) }
        switch missedFires {
        case .skip: members["missedFires"] = "skip"
        case .once: members["missedFires"] = "once"
        case .all(let max):
            members["missedFires"] = "all"
            members["maxMissedFires"] = .number(Double(max))
        }
        return .object(members)
    }
}

extension ScheduleState {
    /// The JSON `sequencer schedules` prints: the schedule's own form under `schedule`, and its state.
    public var jsonValue: JSONValue {
        func date(_ d: Date?) -> JSONValue { d.map { .string(ISO8601Timestamp.string(from: $0)) } ?? .null }
        var members: [String: JSONValue] = [
            "schedule": schedule.jsonValue, "anchor": date(anchor), "nextFireAt": date(nextFireAt),
            "lastFiredAt": date(lastFiredAt), "fired": .number(Double(fired)), "skipped": .number(Double(skipped)),
            "createdAt": date(createdAt), "updatedAt": date(updatedAt),
            "lastEnrollment": lastEnrollmentID.map { .string($0.uuidString.lowercased()) } ?? .null,
        ]
        if let lastSkip {
            members["lastSkip"] = ["occurrence": date(lastSkip.occurrence), "reason": .string(lastSkip.reason)]
        }
        if let previousRun { members["previousRun"] = previousRun.jsonValue }
        return .object(members)
    }
}
