// INTERFACE STUB: replaced by the full implementation.
public struct WaitForDateComparisonRunner: TaskRunner {
    public let name = "WaitForDateComparison"
    public init() {}
    public func run(_ batch: [RunnerInput]) async throws -> [RunnerResult] { batch.map { $0.result(.next) } }
}
