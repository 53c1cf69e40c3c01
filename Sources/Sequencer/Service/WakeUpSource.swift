import Synchronization

/// Tells a running ``SequencerService`` that an enrollment became due now (enrolled, resumed,
/// its context updated), so it ticks at once instead of waiting for its next poll.
///
/// A store hands one out as ``SequenceStore/wakeUps``: ``InMemoryStore`` signals in process;
/// `PostgresStore` listens (`LISTEN`) for the `NOTIFY` its own statements send. Wake-ups only
/// make ticks earlier: a service also polls every `interval`, so a lost notification delays
/// work by at most one interval, never loses it.
public protocol WakeUpSource: Sendable {
    /// Calls `wake` for every wake-up until the task is cancelled.
    ///
    /// Returns only when cancelled. A source whose connection breaks reconnects by itself (and
    /// wakes once it is back, since notifications sent meanwhile are lost); one that cannot work
    /// at all (a connection pooler that drops `LISTEN`) logs why and keeps trying in the
    /// background while the service polls.
    func listen(_ wake: @escaping @Sendable () -> Void) async
}

/// Wake-ups within one process: ``InMemoryStore``'s, and a source a host can signal itself.
public final class InMemoryWakeUps: WakeUpSource {
    private let listeners = Mutex<[Int: @Sendable () -> Void]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    /// Wakes every listener.
    public func wake() {
        for listener in listeners.withLock({ Array($0.values) }) { listener() }
    }

    public func listen(_ wake: @escaping @Sendable () -> Void) async {
        let id = nextID.add(1, ordering: .relaxed).newValue
        listeners.withLock { $0[id] = wake }
        defer { _ = listeners.withLock { $0.removeValue(forKey: id) } }
        // Until cancelled.
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(3_600))
        }
    }
}
