import Foundation

/// A registered definition with what the engine looks up on every step: where each step is,
/// and the parsed conditions of its Goal steps.
///
/// Built once per definition and cached by the ``Sequencer``, so a tick finds a step, its
/// successor and the goals to check in constant time, however long the sequence is.
struct PreparedDefinition: Sendable {
    struct Goal: Sendable {
        /// The goal step's position in ``SequenceDefinition/steps``.
        let index: Int
        let condition: Condition
    }

    let definition: SequenceDefinition
    /// The Goal steps whose condition parses, in step order.
    let goals: [Goal]
    private let positions: [String: Int]

    init(_ definition: SequenceDefinition) {
        self.definition = definition
        var positions: [String: Int] = [:]
        positions.reserveCapacity(definition.steps.count)
        for (index, step) in definition.steps.enumerated() where positions[step.id] == nil {
            positions[step.id] = index
        }
        self.positions = positions
        self.goals = definition.steps.enumerated().compactMap { index, step in
            guard step.runner == "Goal",
                  let condition = try? Condition.parse(step.config, sequence: definition.name,
                                                       version: definition.version, step: step.id)
            else { return nil }
            return Goal(index: index, condition: condition)
        }
    }

    /// The notification sent when an enrollment fails, completes, or retries (the first of each kind).
    func notification(_ kind: String) -> SequenceNotification? {
        definition.notifications.first { $0.on.kind == kind }
    }

    var name: String { definition.name }
    var version: Int { definition.version }

    /// The position of the step with this id.
    func index(of id: String) -> Int? { positions[id] }

    /// The step with this id.
    func step(_ id: String) -> Step? { positions[id].map { definition.steps[$0] } }

    /// Where `next` from `stepID` goes: its explicit `next`, else the following step; `nil` means the end.
    func successor(of stepID: String) -> String? {
        positions[stepID].flatMap(definition.successor(at:))
    }

    /// Where `altNext` from `stepID` goes: its `altNext`, else its `next`.
    func alternative(of stepID: String) -> String? {
        positions[stepID].flatMap(definition.alternative(at:))
    }

    /// The first Goal step after `currentStep` whose condition holds for `context` at `now`.
    func metGoal(after currentStep: String, context: JSONValue, now: Date) -> String? {
        guard !goals.isEmpty, let current = positions[currentStep] else { return nil }
        for goal in goals where goal.index > current {
            if goal.condition.evaluate(context: context, now: now) { return definition.steps[goal.index].id }
        }
        return nil
    }
}
