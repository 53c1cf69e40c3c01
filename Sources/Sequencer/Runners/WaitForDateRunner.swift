// INTERFACE STUB: replaced by the full implementation.
public struct WaitForDateRunner: TaskRunner {
    public let name = "WaitForDate"
    public init() {}
    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
}
