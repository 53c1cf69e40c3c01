import Foundation
import Logging
import PostgresNIO
public import Sequencer
import Synchronization

/// `LISTEN` for the notifications a ``PostgresStore``'s statements send when they make an
/// enrollment due now, so a ``Sequencer/SequencerService`` ticks at once.
///
/// It holds one connection of the store's `PostgresClient` for as long as the service runs
/// (so the pool has one fewer for queries), listens on the store's channel, and checks the
/// connection every ``healthCheckInterval`` with a `SELECT 1`. When the connection breaks (the
/// server restarted, the backend was terminated) it logs one warning, reconnects with
/// exponential backoff (100 ms doubling to 30 s), and wakes the service once it is back, since
/// notifications sent meanwhile are lost. Where `LISTEN` cannot work at all (PgBouncer in
/// transaction mode) it keeps failing quietly while the service polls; configure the service
/// with `.pollOnly` there.
public struct PostgresWakeUps: WakeUpSource {
    /// The store whose channel is listened on.
    public let store: PostgresStore
    /// How often the listening connection is checked. Default 15 s.
    public var healthCheckInterval: Duration = .seconds(15)
    /// How long to wait for a connection to listen on before warning that wake-ups are not
    /// working (the pool keeps trying meanwhile). Default 10 s.
    public var connectionWarningDelay: Duration = .seconds(10)

    public init(store: PostgresStore) {
        self.store = store
    }

    public func listen(_ wake: @escaping @Sendable () -> Void) async {
        let logger = store.logger
        let channel = store.tables.channel
        let client = store.client
        let healthCheckInterval = self.healthCheckInterval
        let warningDelay = connectionWarningDelay
        let warned = Flag()
        @Sendable func warn(_ reason: String) {
            let already = warned.value.withLock { state -> Bool in
                let was = state
                state = true
                return was
            }
            guard !already else { return }
            logger.warning("cannot listen for due work; polling until it works", metadata: [
                "sequencer.channel": "\(channel)", "sequencer.error": "\(reason)",
            ])
        }
        var failures = 0
        while !Task.isCancelled {
            let connected = Flag()
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await store.withConnection { connection in
                            try await connection.listen(on: channel) { notifications in
                                connected.value.withLock { $0 = true }
                                let hadWarned = warned.value.withLock { state -> Bool in
                                    let was = state
                                    state = false
                                    return was
                                }
                                if hadWarned {
                                    logger.info("listening for due work again", metadata: ["sequencer.channel": "\(channel)"])
                                }
                                wake()  // what was notified before (or while the connection was down) is lost
                                try await withThrowingTaskGroup(of: Void.self) { inner in
                                    inner.addTask {
                                        for try await _ in notifications { wake() }
                                        throw SequencerError(.storeFailure, "the notification stream ended")
                                    }
                                    inner.addTask {
                                        while true {
                                            try await Task.sleep(for: healthCheckInterval)
                                            _ = try await connection.query("SELECT 1", logger: logger).collect()
                                        }
                                    }
                                    try await inner.next()
                                    inner.cancelAll()
                                }
                            }
                        }
                    }
                    // The pool waits (and retries) for a connection as long as it takes: warn once if it takes too long.
                    group.addTask {
                        try await Task.sleep(for: warningDelay)
                        if !connected.value.withLock({ $0 }) { warn("no connection to listen on after \(warningDelay)") }
                        try await Task.sleep(for: .seconds(86_400 * 365))
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                if Task.isCancelled { return }
                warn(PostgresStore.storeFailure("listen", error).message)
                failures = connected.value.withLock { $0 } ? 1 : failures + 1
            }
            if Task.isCancelled { return }
            let exponent = min(max(0, failures - 1), 9)
            let delay = min(0.1 * Double(1 << exponent), 30) * Double.random(in: 0.8...1.2)
            try? await Task.sleep(for: .seconds(delay))
        }
    }
}

/// A Boolean shared with the listener's child tasks.
private final class Flag: Sendable {
    let value = Mutex(false)
}

extension PostgresStore {
    /// `LISTEN`s on this store's channel (see ``PostgresWakeUps``).
    public var wakeUps: (any WakeUpSource)? { PostgresWakeUps(store: self) }
}
