/// How a step whose runner throws (or returns ``RunnerAction/retry(_:)``) is retried.
///
/// The delay before retry *n* (1-based) is `baseDelay * 2^(n-1)`, capped at
/// `maxDelay`, then spread by ±`jitter` so a burst of failures does not retry
/// in lockstep. After `maxAttempts` failed attempts the enrollment fails with
/// the last reason in its history.
public struct RetryPolicy: Sendable, Hashable {
    /// Attempts in all, the first included. Default 5.
    public var maxAttempts: Int
    /// Delay before the first retry. Default 10 seconds.
    public var baseDelay: Duration
    /// Upper bound of a delay. Default 1 hour.
    public var maxDelay: Duration
    /// Fraction of the delay added or removed at random, 0...1. Default 0.2.
    public var jitter: Double

    public init(maxAttempts: Int = 5, baseDelay: Duration = .seconds(10), maxDelay: Duration = .seconds(3600),
                jitter: Double = 0.2) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    /// The delay before retry number `attempt` (1 = the first retry), in seconds.
    public func delay(forRetry attempt: Int, random: Double = Double.random(in: -1...1)) -> Double {
        let base = baseDelay.timeInterval * pow2(max(0, attempt - 1))
        let capped = min(base, maxDelay.timeInterval)
        return max(0, capped * (1 + jitter * random))
    }

    private func pow2(_ n: Int) -> Double { n >= 62 ? .infinity : Double(1 << n) }
}
