/// `Goal`: a condition that, once met, pulls the enrollment forward to this step.
///
/// Whenever an enrollment is processed (every tick that claims it, and after
/// ``Sequencer/updateContext(_:merging:now:within:)``), the engine checks the Goal steps
/// that come *after* its current step; the first one met moves the cursor to
/// that goal step and on past it, skipping what lies between. Reached in
/// normal order, a Goal step acts like a ``ConditionalRunner``: met goes on to
/// `next`; not met goes to `altNext` if it has one, else on.
public struct GoalRunner: TaskRunner {
    public let name = "Goal"
    public init() {}

    public var rendersTemplates: Bool { false }

    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        ConditionBatch.run(batch, holds: "goal met", fails: "goal not met")
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try Condition.parse(step.config, sequence: definition.name, version: definition.version, step: step.id)
    }
}
