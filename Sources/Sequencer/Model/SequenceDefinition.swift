public import Foundation

/// A sequence: a named, versioned list of steps.
///
/// A definition is data. It decodes from the JSON format in the README and can
/// be built in Swift; both give the same value:
///
/// ```swift
/// let drip = SequenceDefinition(name: "trial-onboarding", version: 1) {
///     Step(id: "welcome", runner: "Email", config: ["to": ["{{email}}"], "subject": "Welcome"])
///     Step.waitForDuration(id: "wait-2d", amount: 2, unit: .days)
///     Step.goTo(id: "done", target: Step.end)
/// }
/// ```
///
/// A definition is stored by `(name, version)` and never changed in place; an
/// enrollment stays on the version it started with.
public struct SequenceDefinition: Sendable, Hashable, Codable {
    /// The sequence name enrollments refer to.
    public var name: String
    /// Starts at 1; a new version must be greater than every stored one.
    public var version: Int
    /// The time zone (IANA identifier, e.g. `"Europe/Paris"`) used when an enrollment's context has no `timeZone`.
    public var timeZone: String?
    /// The steps, in order. Execution starts at the first.
    public var steps: [Step]

    public init(name: String, version: Int = 1, timeZone: String? = nil, steps: [Step]) {
        self.name = name
        self.version = version
        self.timeZone = timeZone
        self.steps = steps
    }

    /// Builds a definition from a list of steps.
    public init(name: String, version: Int = 1, timeZone: String? = nil, @StepsBuilder steps: () -> [Step]) {
        self.init(name: name, version: version, timeZone: timeZone, steps: steps())
    }

    /// Decodes a definition from its JSON form.
    ///
    /// Malformed JSON throws a ``SequencerError`` with code ``SequencerError/Code/malformedDefinition``
    /// that names the field where decoding stopped.
    public init(json: String) throws {
        try self.init(jsonData: Data(json.utf8))
    }

    /// Decodes a definition from its JSON form.
    public init(jsonData: Data) throws {
        do {
            self = try JSONDecoder().decode(SequenceDefinition.self, from: jsonData)
        } catch let error as DecodingError {
            throw SequencerError.decoding(error, data: jsonData)
        }
    }

    /// The JSON form, with sorted keys.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// The step with this id.
    public func step(_ id: String) -> Step? {
        steps.first { $0.id == id }
    }

    /// The index of the step with this id.
    public func index(of id: String) -> Int? {
        steps.firstIndex { $0.id == id }
    }

    /// Where `next` from `stepID` goes: its explicit `next`, else the following step; `nil` means the end.
    public func successor(of stepID: String) -> String? {
        guard let index = index(of: stepID) else { return nil }
        return resolve(steps[index].next, after: index)
    }

    /// Where `altNext` from `stepID` goes: its `altNext`, else its `next`.
    public func alternative(of stepID: String) -> String? {
        guard let index = index(of: stepID) else { return nil }
        if let alt = steps[index].altNext { return alt == Step.end ? nil : alt }
        return resolve(steps[index].next, after: index)
    }

    private func resolve(_ explicit: String?, after index: Int) -> String? {
        if let explicit { return explicit == Step.end ? nil : explicit }
        let following = index + 1
        return following < steps.count ? steps[following].id : nil
    }
}

/// Collects ``Step`` values for ``SequenceDefinition/init(name:version:timeZone:steps:)-builder``.
@resultBuilder
public enum StepsBuilder {
    public static func buildExpression(_ step: Step) -> [Step] { [step] }
    public static func buildExpression(_ steps: [Step]) -> [Step] { steps }
    public static func buildBlock(_ parts: [Step]...) -> [Step] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [Step]?) -> [Step] { part ?? [] }
    public static func buildEither(first: [Step]) -> [Step] { first }
    public static func buildEither(second: [Step]) -> [Step] { second }
    public static func buildArray(_ parts: [[Step]]) -> [Step] { parts.flatMap { $0 } }
}
