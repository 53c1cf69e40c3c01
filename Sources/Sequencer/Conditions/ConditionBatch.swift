/// Evaluates the condition in each input's config, parsing each distinct step's condition once per batch.
///
/// Shared by ``ConditionalRunner`` and ``GoalRunner``: both read their config raw, so every input
/// at the same step carries the same condition.
enum ConditionBatch {
    static func run(_ batch: [RunnerInput], holds: String, fails: String) -> [RunnerResult] {
        var parsed: [String: Result<Condition, any Error>] = [:]
        return batch.map { input in
            let key = "\(input.sequence)\u{0}\(input.version)\u{0}\(input.step.id)"
            let condition: Result<Condition, any Error>
            if let cached = parsed[key] {
                condition = cached
            } else {
                condition = Result {
                    try Condition.parse(input.config, sequence: input.sequence, version: input.version, step: input.step.id)
                }
                parsed[key] = condition
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
