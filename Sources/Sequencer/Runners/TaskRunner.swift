public import Foundation

/// Runs one kind of step for a batch of enrollments.
///
/// A tick groups every claimed enrollment by the step it is at and calls the
/// step's runner once per group, outside any database transaction. The runner
/// returns one ``RunnerResult`` per input, matched by ``RunnerInput/id``.
///
/// ```swift
/// struct SlackRunner: TaskRunner {
///     let name = "Slack"
///     func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
///         try await slack.post(batch.map { $0.config["text"]?.stringValue ?? "" })
///         return batch.map { $0.result(.next, message: "posted") }
///     }
/// }
/// ```
///
/// Throwing from `run` retries the whole batch with backoff (see
/// ``Sequencer/Configuration/retry``); to retry or fail a single input, return
/// ``RunnerAction/retry(_:)`` or ``RunnerAction/fail(_:)`` for it instead. A
/// runner that works on one input at a time with a decoded config is simpler to
/// write as a ``TypedTaskRunner``.
public protocol TaskRunner: Sendable {
    /// The name steps use in their `runner` field, e.g. `"WaitForDuration"`.
    var name: String { get }

    /// Runs a batch. Return exactly one result per input.
    func run(_ batch: [RunnerInput]) async throws -> [RunnerResult]

    /// Checks a step's config when its sequence is registered. Throw a ``SequencerError``
    /// (``SequencerError/Code/invalidConfig``) naming the field; the default accepts anything.
    func validate(_ step: Step, in definition: SequenceDefinition) throws

    /// Step ids this step may jump to (besides `next`/`altNext`), checked to exist at register.
    /// The default is none; ``GoToRunner`` returns its `target`.
    func referencedSteps(_ step: Step) -> [String]

    /// Whether string values of the config are rendered as Mustache templates before the runner
    /// sees them. Default `true`; condition runners read their operands raw.
    var rendersTemplates: Bool { get }
}

extension TaskRunner {
    public func validate(_ step: Step, in definition: SequenceDefinition) throws {}
    public func referencedSteps(_ step: Step) -> [String] { [] }
    public var rendersTemplates: Bool { true }
}

/// What a runner decided for one enrollment.
public enum RunnerAction: Sendable, Hashable {
    /// Go to the step's `next` (the following step by default).
    case next
    /// Go to the step's `altNext` (its `next` when it has none).
    case altNext
    /// Stay on this step. With a date, look again exactly then; without one, after
    /// ``Sequencer/Configuration/noopInterval``.
    case noop(until: Date?)
    /// Jump to a step by id, or ``Step/end`` to complete.
    case goTo(String)
    /// Retry this step later with backoff, counting toward the retry limit, as a thrown error would.
    case retry(String)
    /// Fail the enrollment with a reason kept in its history.
    case fail(String)

    /// Stay on this step and look again after ``Sequencer/Configuration/noopInterval``.
    public static var noop: RunnerAction { .noop(until: nil) }
}

/// One runner's answer for one input.
public struct RunnerResult: Sendable, Hashable {
    /// The ``RunnerInput/id`` this result answers.
    public var id: UUID
    public var action: RunnerAction
    /// Kept in the enrollment's history.
    public var message: String?

    public init(id: UUID, action: RunnerAction, message: String? = nil) {
        self.id = id
        self.action = action
        self.message = message
    }
}

/// One enrollment at one step, as a runner sees it.
public struct RunnerInput: Sendable {
    /// The enrollment id.
    public var id: UUID
    /// The host's id for the enrolled person or thing.
    public var subject: String
    public var sequence: String
    public var version: Int
    /// The step being run, with its config as written (unrendered).
    public var step: Step
    /// The step's config with templates rendered against ``context`` (the raw config when the
    /// runner does not render templates).
    public var config: JSONValue
    /// The enrollment's context (a JSON object).
    public var context: JSONValue
    /// The tick's time. Use this, never `Date()`, so simulated clocks work.
    public var now: Date
    /// When the enrollment entered this step; waits count from here.
    public var stepEnteredAt: Date
    /// 1 on the first try of this step, 2 after one retry, and so on.
    public var attempt: Int
    /// The visit number of this step for this enrollment (see ``Enrollment/visit``).
    public var visit: Int
    /// The enrollment's time zone: the context's `timeZone`, else the sequence's, else UTC.
    public var timeZone: TimeZone

    public init(
        id: UUID, subject: String, sequence: String, version: Int, step: Step, config: JSONValue, context: JSONValue,
        now: Date, stepEnteredAt: Date, attempt: Int, visit: Int, timeZone: TimeZone
    ) {
        self.id = id
        self.subject = subject
        self.sequence = sequence
        self.version = version
        self.step = step
        self.config = config
        self.context = context
        self.now = now
        self.stepEnteredAt = stepEnteredAt
        self.attempt = attempt
        self.visit = visit
        self.timeZone = timeZone
    }

    /// Names this visit of this step: `"<enrollment>/<step>/<visit>"`. Side-effecting runners use it
    /// as an idempotency key so a re-run of the same visit does not act twice.
    public var visitKey: String { DeliveryKey(self).description }

    /// A result for this input.
    public func result(_ action: RunnerAction, message: String? = nil) -> RunnerResult {
        RunnerResult(id: id, action: action, message: message)
    }
}

/// A runner that works on one input at a time with a decoded config.
///
/// The config is decoded from the rendered JSON for each input; at register the
/// raw config is decoded once so a wrong type is caught early. A decoding
/// failure fails that input (never the batch); an error thrown for one input
/// retries that input alone.
///
/// ```swift
/// struct Webhook: TypedTaskRunner {
///     struct Config: Decodable { var url: String }
///     let name = "Webhook"
///     func run(_ input: RunnerInput, config: Config) async throws -> RunnerResult {
///         try await post(config.url, input.context)
///         return input.result(.next)
///     }
/// }
/// ```
public protocol TypedTaskRunner: TaskRunner {
    associatedtype Config: Decodable & Sendable
    /// Runs one input.
    func run(_ input: RunnerInput, config: Config) async throws -> RunnerResult
}

extension TypedTaskRunner {
    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] {
        var results: [RunnerResult] = []
        results.reserveCapacity(batch.count)
        for input in batch {
            let config: Config
            do {
                config = try ConfigDecoding.decode(Config.self, from: input.config, sequence: input.sequence,
                                                   version: input.version, step: input.step.id)
            } catch {
                results.append(input.result(.fail("\(error)")))
                continue
            }
            do {
                results.append(try await run(input, config: config))
            } catch {
                results.append(input.result(.retry("\(error)")))
            }
        }
        return results
    }

    public func validate(_ step: Step, in definition: SequenceDefinition) throws {
        _ = try ConfigDecoding.decode(Config.self, from: step.config, sequence: definition.name,
                                      version: definition.version, step: step.id)
    }
}

/// Decodes configs, turning `DecodingError` into a ``SequencerError`` that names the field.
public enum ConfigDecoding {
    /// Decodes `config` as `T`; a failure names the sequence, step and field.
    public static func decode<T: Decodable>(
        _ type: T.Type, from config: JSONValue, sequence: String, version: Int, step: String
    ) throws -> T {
        do {
            return try config.decode(T.self)
        } catch let error as DecodingError {
            let (path, reason): ([any CodingKey], String) =
                switch error {
                case .typeMismatch(let type, let ctx): (ctx.codingPath, "expected \(type)")
                case .valueNotFound(let type, let ctx): (ctx.codingPath, "missing \(type) value")
                case .keyNotFound(let key, let ctx): (ctx.codingPath + [key], "missing required key")
                case .dataCorrupted(let ctx): (ctx.codingPath, ctx.debugDescription)
                @unknown default: ([], "\(error)")
                }
            let field = path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            throw SequencerError(
                .invalidConfig, reason, sequence: sequence, version: version, step: step,
                field: field.isEmpty ? "config" : "config.\(field)", underlying: error)
        }
    }
}

extension Array where Element == any TaskRunner {
    /// The runners that ship with Sequencer: GoTo, Conditional, Goal, WaitForDate,
    /// WaitForDuration and WaitForDateComparison.
    ///
    /// Email and SMS runners need a transport, so the host adds them:
    /// `runners: .builtIn + [EmailRunner(transport: smtp)]`.
    public static var builtIn: [any TaskRunner] {
        [GoToRunner(), ConditionalRunner(), GoalRunner(), WaitForDateRunner(), WaitForDurationRunner(),
         WaitForDateComparisonRunner()]
    }
}
