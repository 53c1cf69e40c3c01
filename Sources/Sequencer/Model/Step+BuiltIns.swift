/// Swift constructors for the built-in steps. Each produces exactly the ``Step`` its JSON form decodes to.
extension Step {
    /// A `GoTo` step jumping to `target` (a step id, or ``Step/end``).
    public static func goTo(_ id: String, target: String) -> Step {
        Step(id: id, runner: "GoTo", config: ["target": .string(target)])
    }

    /// A `Conditional` step: on to `next` when `condition` holds, else to `altNext`.
    public static func conditional(_ id: String, _ condition: Condition, next: String? = nil, altNext: String? = nil) -> Step {
        Step(id: id, runner: "Conditional", config: condition.jsonValue, next: next, altNext: altNext)
    }

    /// A `Goal` step (see ``GoalRunner``).
    public static func goal(_ id: String, _ condition: Condition, next: String? = nil, altNext: String? = nil) -> Step {
        Step(id: id, runner: "Goal", config: condition.jsonValue, next: next, altNext: altNext)
    }

    /// A `WaitForDate` step waiting until `date` (ISO 8601, or a template such as `"{{trialEndsAt}}"`).
    public static func waitForDate(_ id: String, _ date: String) -> Step {
        Step(id: id, runner: "WaitForDate", config: ["date": .string(date)])
    }

    /// A `WaitForDuration` step: `unit` is one of years, quarters, months, weeks, days, hours,
    /// minutes, seconds, milliseconds.
    public static func waitForDuration(_ id: String, _ amount: Int, _ unit: String) -> Step {
        Step(id: id, runner: "WaitForDuration", config: ["amount": .number(Double(amount)), "unit": .string(unit)])
    }

    /// A `WaitForDateComparison` step: waits until the local `attribute` (year, month, date, day,
    /// hour, minute; see ``WaitForDateComparisonRunner`` for the numbering) is one of `values`.
    public static func waitUntil(_ id: String, _ attribute: String, in values: [Int]) -> Step {
        Step(id: id, runner: "WaitForDateComparison",
             config: ["attribute": .string(attribute), "values": .array(values.map { .number(Double($0)) })])
    }
}
