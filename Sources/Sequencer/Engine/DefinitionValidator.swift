import Foundation

/// Checks a definition against the registered runners before anything is stored.
struct DefinitionValidator {
    let runners: [String: any TaskRunner]

    func validate(_ d: SequenceDefinition) throws {
        func fail(_ code: SequencerError.Code, _ message: String, step: String? = nil, field: String?) -> SequencerError {
            SequencerError(code, message, sequence: d.name, version: d.version, step: step, field: field)
        }
        guard !d.name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw fail(.invalidIdentifier, "the sequence name is empty", field: "name")
        }
        guard d.version >= 1 else { throw fail(.invalidIdentifier, "the version must be 1 or greater", field: "version") }
        guard !d.steps.isEmpty else { throw fail(.noSteps, "a sequence needs at least one step", field: "steps") }
        if let zone = d.timeZone, TimeZone(identifier: zone) == nil {
            throw fail(.invalidConfig, "'\(zone)' is not a known time zone identifier", field: "timeZone")
        }

        var ids = Set<String>()
        for step in d.steps {
            guard !step.id.isEmpty, step.id != Step.end else {
                throw fail(.invalidIdentifier, "a step id must be non-empty and not '\(Step.end)'", step: step.id, field: "id")
            }
            guard ids.insert(step.id).inserted else {
                throw fail(.duplicateStepID, "another step already has the id '\(step.id)'", step: step.id, field: "id")
            }
        }

        func checkTarget(_ target: String?, step: Step, field: String) throws {
            guard let target, target != Step.end, !ids.contains(target) else { return }
            throw fail(.unknownStepReference, "'\(target)' is not a step of this sequence (nor '\(Step.end)')",
                       step: step.id, field: field)
        }

        for step in d.steps {
            guard let runner = runners[step.runner] else {
                let known = runners.keys.sorted().joined(separator: ", ")
                throw fail(.unknownRunner, "no runner named '\(step.runner)' is registered (known: \(known))",
                           step: step.id, field: "runner")
            }
            try checkTarget(step.next, step: step, field: "next")
            try checkTarget(step.altNext, step: step, field: "altNext")
            guard let config = step.config.objectValue else {
                throw fail(.invalidConfig, "config must be a JSON object, not \(step.config.typeName)",
                           step: step.id, field: "config")
            }
            if let known = runner.configKeys, let (key, suggestion) = KnownKeys.firstUnknown(in: config, known: known) {
                throw fail(.invalidConfig, KnownKeys.message(key, suggestion: suggestion, known: known,
                                                             what: "a \(step.runner) config"),
                           step: step.id, field: "config.\(key)")
            }
            if runner.rendersTemplates {
                try TemplateRenderer.validate(config: step.config, sequence: d.name, version: d.version, step: step.id)
            }
            try runner.validate(step, in: d)
            for target in runner.referencedSteps(step) {
                try checkTarget(target, step: step, field: "config.target")
            }
        }
        try checkGoToCycles(d)
    }

    /// A cycle made only of GoTo steps never reaches a runner that could wait or branch: reject it.
    private func checkGoToCycles(_ d: SequenceDefinition) throws {
        guard let goTo = runners["GoTo"] else { return }
        var target: [String: String] = [:]
        for step in d.steps where step.runner == "GoTo" {
            if let t = goTo.referencedSteps(step).first, t != Step.end { target[step.id] = t }
        }
        for start in target.keys.sorted() {
            var seen: [String] = [start]
            var current = start
            while let t = target[current] {
                if t == start {
                    throw SequencerError(
                        .goToCycle, "GoTo cycle with no other step in it: \((seen + [start]).joined(separator: " -> "))",
                        sequence: d.name, version: d.version, step: start, field: "config.target")
                }
                if seen.contains(t) { break }
                seen.append(t)
                current = t
            }
        }
    }
}
