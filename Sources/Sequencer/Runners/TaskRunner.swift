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

    /// The keys a step's config may have; `nil` (the default) accepts any.
    ///
    /// Declare them and a typo is caught at register: `{"unti": "days"}` is an error naming the
    /// sequence, the step and `config.unti`, suggesting `unit`. Keys nested deeper are the
    /// runner's to check in ``validate(_:in:)``.
    var configKeys: [String]? { get }

    /// Whether the runner sends messages to people, so the sequence's
    /// ``SequenceDefinition/sendWindow`` (quiet hours) applies to its steps. Default `false`;
    /// ``EmailRunner`` and ``SMSRunner`` say `true`.
    var sendsMessages: Bool { get }

    /// Whether the runner starts work elsewhere and answers ``RunnerAction/awaitCallback(_:)``,
    /// so its inputs carry a ``RunnerInput/callbackToken``. Default `false`.
    var awaitsCallbacks: Bool { get }
}

extension TaskRunner {
    public func validate(_ step: Step, in definition: SequenceDefinition) throws {}
    public func referencedSteps(_ step: Step) -> [String] { [] }
    public var rendersTemplates: Bool { true }
    public var configKeys: [String]? { nil }
    public var sendsMessages: Bool { false }
    public var awaitsCallbacks: Bool { false }
}
