import Foundation

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
            // Cancelled (the host shuts down): the inputs not yet run get no result, and the engine
            // leaves them where they are, without counting an attempt.
            if Task.isCancelled { break }
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
                if Task.isCancelled || error is CancellationError { break }
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
