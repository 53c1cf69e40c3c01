// INTERFACE STUB: replaced by the full implementation.
public struct WaitForDurationRunner: TaskRunner {
    public let name = "WaitForDuration"
    public init() {}
    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
}
