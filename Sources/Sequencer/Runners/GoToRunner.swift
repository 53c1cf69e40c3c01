/// `GoTo`: jumps to `config.target`, a step id or `"$end"`.
///
/// ```json
/// {"id": "again", "runner": "GoTo", "config": {"target": "wait-2d"}}
/// ```
/// A GoTo loop with no wait in it is cut by the per-tick step budget
/// (``Sequencer/Configuration/stepBudget``); a cycle made only of GoTo steps is
/// rejected at register.
public struct GoToRunner: TaskRunner {
    public let name = "GoTo"
    public init() {}

    struct Config: Decodable { var target: String }

    public var rendersTemplates: Bool { false }

    /// The config keys it reads: `target`.
    public var configKeys: [String]? { ["target"] }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        batch.map { input in
            guard let target = input.config["target"]?.stringValue else {
                return input.result(.fail("GoTo step '\(input.step.id)' has no string field 'target'"))
            }
            return input.result(.goTo(target))
        }
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try ConfigDecoding.decode(Config.self, from: step.config, sequence: definition.name,
                                      version: definition.version, step: step.id)
    }

    public func referencedSteps(_ step: Step) -> [String] {
        step.config["target"]?.stringValue.map { [$0] } ?? []
    }
}
