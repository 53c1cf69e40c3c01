import Foundation

/// Checks a definition against the registered runners and the limits before anything is stored.
///
/// Runs in time linear in the size of the definition (steps, references and config bytes), so
/// registering a 10,000-step sequence is as quick as reading it. The bounds (sizes, depth,
/// lengths) are checked first, without recursion, so nothing after them (templates, conditions,
/// runners' own checks) ever meets a value too deep or too large.
struct DefinitionValidator {
    let runners: [String: any TaskRunner]
    let limits: Limits

    func validate(_ d: SequenceDefinition) throws {
        let name = Limits.excerpt(d.name)
        func fail(_ code: SequencerError.Code, _ message: String, step: String? = nil, field: String?) -> SequencerError {
            SequencerError(code, message, sequence: name, version: d.version, step: step.map(Limits.excerpt), field: field)
        }
        guard !d.name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw fail(.invalidIdentifier, "the sequence name is empty", field: "name")
        }
        try Limits.check(length: d.name, maximum: Limits.maximumNameBytes, what: "the sequence name", field: "name",
                         sequence: name, version: d.version)
        guard !d.name.utf8.contains(0) else { throw fail(.invalidIdentifier, "the sequence name contains a NUL character", field: "name") }
        guard d.version >= 1 else { throw fail(.invalidIdentifier, "the version must be 1 or greater", field: "version") }
        guard d.version <= Int(Int32.max) else {
            throw fail(.outOfRange, "the version must be at most 2147483647", field: "version")
        }
        guard !d.steps.isEmpty else { throw fail(.noSteps, "a sequence needs at least one step", field: "steps") }
        guard d.steps.count <= limits.maximumSteps else {
            throw fail(.limitExceeded, "\(d.steps.count) steps; the limit is \(limits.maximumSteps)", field: "steps")
        }
        if let zone = d.timeZone {
            try Limits.check(length: zone, maximum: Limits.maximumNameBytes, what: "the time zone name",
                             field: "timeZone", sequence: name, version: d.version)
            guard TimeZone(identifier: zone) != nil else {
                throw fail(.invalidConfig, "'\(zone)' is not a known time zone identifier", field: "timeZone")
            }
        }

        // Bounds first: names, ids and every config's depth and size, without recursion.
        var ids = Set<String>()
        ids.reserveCapacity(d.steps.count)
        var totalBytes = d.name.utf8.count + 64
        for step in d.steps {
            try Limits.check(length: step.id, maximum: Limits.maximumNameBytes, what: "the step id", field: "id",
                             sequence: name, version: d.version, step: Limits.excerpt(step.id))
            guard !step.id.isEmpty, step.id != Step.end, !step.id.utf8.contains(0), !step.id.hasPrefix("$notify.") else {
                throw fail(.invalidIdentifier,
                           "a step id must be non-empty, free of NUL characters, not '\(Step.end)' and not start with '$notify.'",
                           step: step.id, field: "id")
            }
            guard ids.insert(step.id).inserted else {
                throw fail(.duplicateStepID, "another step already has the id '\(step.id)'", step: step.id, field: "id")
            }
            try Limits.check(length: step.runner, maximum: Limits.maximumNameBytes, what: "the runner name",
                             field: "runner", sequence: name, version: d.version, step: step.id)
            for (field, target) in [("next", step.next), ("altNext", step.altNext)] {
                if let target {
                    try Limits.check(length: target, maximum: Limits.maximumNameBytes, what: "the step id", field: field,
                                     sequence: name, version: d.version, step: step.id)
                }
            }
            if let problem = step.config.inspect(at: "config", maximumBytes: limits.maximumConfigBytes) {
                throw fail(problem.kind == .unstorable ? .invalidConfig : .limitExceeded,
                           "the config has \(problem.description) at \(problem.path)", step: step.id, field: problem.path)
            }
            totalBytes += step.id.utf8.count + step.runner.utf8.count + (step.next?.utf8.count ?? 0)
                + (step.altNext?.utf8.count ?? 0) + 48
            totalBytes += step.config.compactSize() ?? 0
            guard totalBytes <= limits.maximumDefinitionBytes else {
                throw fail(.limitExceeded, "the definition is larger than \(limits.maximumDefinitionBytes) bytes as JSON",
                           step: step.id, field: "steps")
            }
        }

        func checkTarget(_ target: String?, step: Step, field: String) throws {
            guard let target, target != Step.end, !ids.contains(target) else { return }
            throw fail(.unknownStepReference, "'\(Limits.excerpt(target))' is not a step of this sequence (nor '\(Step.end)')",
                       step: step.id, field: field)
        }

        for step in d.steps {
            let runner = try runner(for: step, field: "runner", fail: fail)
            try checkTarget(step.next, step: step, field: "next")
            try checkTarget(step.altNext, step: step, field: "altNext")
            try checkConfig(of: step, runner: runner, in: d, fieldPrefix: "", fail: fail)
            for target in runner.referencedSteps(step) {
                try checkTarget(target, step: step, field: "config.target")
            }
        }
        for (index, notification) in d.notifications.enumerated() {
            try validate(notification, at: "notifications[\(index)]", in: d, fail: fail)
        }
        try checkGoToCycles(d, fail: fail)
    }

    /// A notification's runner and config, checked as a step's are; errors name the step
    /// `$notify.<kind>` and the field under `notifications[index]`.
    private func validate(_ notification: SequenceNotification, at prefix: String, in d: SequenceDefinition,
                          fail: (SequencerError.Code, String, String?, String?) -> SequencerError) throws {
        let step = notification.step
        let runner = try runner(for: step, field: "\(prefix).runner", fail: fail)
        if let problem = step.config.inspect(at: "config", maximumBytes: limits.maximumConfigBytes) {
            throw fail(problem.kind == .unstorable ? .invalidConfig : .limitExceeded,
                       "the config has \(problem.description) at \(problem.path)", step.id, "\(prefix).\(problem.path)")
        }
        try checkConfig(of: step, runner: runner, in: d, fieldPrefix: "\(prefix).", fail: fail)
    }

    /// The registered runner a step names; an ``SequencerError/Code/unknownRunner`` error at `field` otherwise.
    private func runner(for step: Step, field: String,
                        fail: (SequencerError.Code, String, String?, String?) -> SequencerError) throws -> any TaskRunner {
        guard let runner = runners[step.runner] else {
            let known = runners.keys.sorted().joined(separator: ", ")
            throw fail(.unknownRunner, "no runner named '\(Limits.excerpt(step.runner))' is registered (known: \(known))",
                       step.id, field)
        }
        return runner
    }

    /// A step's config: an object of the keys its runner declares, templates that parse, and the
    /// runner's own checks. `fieldPrefix` goes before every field an error names.
    private func checkConfig(of step: Step, runner: any TaskRunner, in d: SequenceDefinition, fieldPrefix prefix: String,
                             fail: (SequencerError.Code, String, String?, String?) -> SequencerError) throws {
        guard let config = step.config.objectValue else {
            throw fail(.invalidConfig, "config must be a JSON object, not \(step.config.typeName)", step.id, "\(prefix)config")
        }
        if let known = runner.configKeys, let (key, suggestion) = KnownKeys.firstUnknown(in: config, known: known) {
            throw fail(.invalidConfig, KnownKeys.message(Limits.excerpt(key), suggestion: suggestion, known: known,
                                                         what: "a \(step.runner) config"),
                       step.id, "\(prefix)config.\(key)")
        }
        do {
            if runner.rendersTemplates {
                try TemplateRenderer.validate(config: step.config, sequence: Limits.excerpt(d.name), version: d.version, step: step.id)
            }
            try runner.validate(step, in: d)
        } catch var error as SequencerError where !prefix.isEmpty {
            error.field = error.field.map { prefix + $0 } ?? String(prefix.dropLast())
            throw error
        }
    }

    /// A cycle made only of GoTo steps never reaches a runner that could wait or branch: reject it.
    ///
    /// Each GoTo step has exactly one target, so the GoTo steps form chains; one walk colours each
    /// step (unvisited, on the current walk, done) and finds every cycle in linear time.
    private func checkGoToCycles(
        _ d: SequenceDefinition, fail: (SequencerError.Code, String, String?, String?) -> SequencerError
    ) throws {
        guard let goTo = runners["GoTo"] else { return }
        var target: [String: String] = [:]
        for step in d.steps where step.runner == "GoTo" {
            if let t = goTo.referencedSteps(step).first, t != Step.end { target[step.id] = t }
        }
        enum Mark { case onWalk(Int), done }
        var marks: [String: Mark] = [:]
        marks.reserveCapacity(target.count)
        for start in target.keys.sorted() where marks[start] == nil {
            var walk: [String] = []
            var current: String? = start
            while let step = current, target[step] != nil {
                switch marks[step] {
                case .done?:
                    current = nil
                case .onWalk(let position)?:
                    let cycle = Array(walk[position...]) + [step]
                    let shown = cycle.count > 12 ? Array(cycle.prefix(5)) + ["…"] + Array(cycle.suffix(5)) : cycle
                    throw fail(.goToCycle, "GoTo cycle with no other step in it: \(shown.joined(separator: " -> "))",
                               cycle[0], "config.target")
                case nil:
                    marks[step] = .onWalk(walk.count)
                    walk.append(step)
                    current = target[step]
                }
            }
            for step in walk { marks[step] = .done }
        }
    }
}
