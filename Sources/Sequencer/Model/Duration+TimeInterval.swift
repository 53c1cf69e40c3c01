public import Foundation

extension Duration {
    /// The duration in seconds, as a `TimeInterval` (for `Date` arithmetic and SQL intervals).
    package var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
