/// `Conditional`: goes to `next` when its condition holds, else to `altNext`.
///
/// The config is a ``Condition``:
/// ```json
/// {"id": "has-used", "runner": "Conditional", "altNext": "nudge",
///  "config": {"lodashCommand": "gt", "value": {"type": "get", "value": "usage.projects"},
///             "compareTo": {"type": "raw", "value": 0}}}
/// ```
/// Operands are read raw (use a `template` operand to render one).
public struct ConditionalRunner: TaskRunner {
    public let name = "Conditional"
    public init() {}

    public var rendersTemplates: Bool { false }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        ConditionBatch.run(batch, holds: "condition true", fails: "condition false")
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try Condition.parse(step.config, sequence: definition.name, version: definition.version, step: step.id)
    }
}
