/// Evaluates the condition in each input's config, parsing it once per run of inputs at the same step.
///
/// Shared by ``ConditionalRunner`` and ``GoalRunner``: both read their config raw, so every input
/// at the same step carries the same condition. The engine hands a runner one (sequence, version,
/// step) group per call, so a batch is normally parsed once; a mixed batch is still right.
enum ConditionBatch {
    static func run(_ batch: [RunnerInput], holds: String, fails: String) -> [RunnerResult] {
        var last: (step: (String, Int, String), condition: Result<Condition, any Error>)?
        return batch.map { input in
            let step = (input.sequence, input.version, input.step.id)
            let condition: Result<Condition, any Error>
            if let last, last.step == step {
                condition = last.condition
            } else {
                condition = Result {
                    try Condition.parse(input.config, sequence: input.sequence, version: input.version, step: input.step.id)
                }
                last = (step, condition)
            }
            switch condition {
            case .success(let condition):
                let met = condition.evaluate(context: input.context, now: input.now)
                return input.result(met ? .next : .altNext, message: met ? holds : fails)
            case .failure(let error):
                return input.result(.fail("\(error)"))
            }
        }
    }
}
