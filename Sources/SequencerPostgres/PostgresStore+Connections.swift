import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// How the store uses the pool: every operation leases a connection through these helpers, never
/// through `PostgresClient.query` / `withConnection` directly.
///
/// PostgresNIO 1.33 writes a query to its connection without waiting for the write: when the
/// server has just closed that connection (a restart, `pg_terminate_backend`, a failover), the
/// write fails, the query's promise is dropped unfulfilled and the caller waits forever, holding
/// its lease (vapor/postgres-nio#487, reverted in #501). A ticker that hit it stopped ticking and
/// could not shut down; the restart fault test found it. So the store runs each operation's body
/// in a task of its own and, when the connection closes under a body that has not finished
/// ``closedConnectionGrace`` later, stops waiting for it: the operation fails as a store failure
/// (the caller retries, as after any lost connection), the lease goes back to the pool, and the
/// abandoned task stays suspended on a promise nothing can complete (a few hundred bytes, once
/// per connection lost mid-operation).
extension PostgresStore {
    /// How long a body may still run after its connection closed before it is given up on:
    /// a query that was in flight fails on its own within milliseconds (the connection fails
    /// what it was doing when it closes), so only a write lost to a closed connection waits this long.
    static let closedConnectionGrace: Duration = .seconds(2)

    /// Runs `body` on a pooled connection (see the extension's notes).
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        try await client.withConnection { connection in
            try await connection.abandoningWhenClosed(grace: Self.closedConnectionGrace, body)
        }
    }

    /// Runs `body` in a transaction on a pooled connection: `BEGIN`, then `COMMIT` when `body`
    /// returns, `ROLLBACK` when it throws (PostgresNIO's `withTransaction`).
    func withTransaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws -> T
    {
        let logger = self.logger
        return try await withConnection { connection in
            try await connection.withTransaction(logger: logger) { try await body($0) }
        }
    }

    /// Runs one statement on a pooled connection and returns all its rows.
    func queryRows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let logger = self.logger
        return try await withConnection { connection in
            try await connection.query(query, logger: logger).collect()
        }
    }
}

extension Array where Element == PostgresRow {
    /// Every row decoded as the given columns.
    func decodeEach<each Column: PostgresDecodable>(_ columns: (repeat each Column).Type) throws -> [(repeat each Column)] {
        try map { try $0.decode(columns) }
    }
}

extension PostgresConnection {
    /// Runs `body(self)` in a task of its own and returns its result, or throws
    /// ``ConnectionClosedError`` when this connection closes and `body` has not finished
    /// `grace` later. Cancelling the caller cancels `body`.
    func abandoningWhenClosed<T: Sendable>(
        grace: Duration, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let outcome = OnceContinuation<T>()
        let work = Task { outcome.resume(with: await Result(catching: { try await body(self) })) }
        let connectionID = id
        let eventLoop = self.eventLoop
        let watch = ClosedConnectionWatch.of(self)
        let registration = watch.register {
            eventLoop.scheduleTask(in: TimeAmount(grace)) {
                outcome.resume(with: .failure(ConnectionClosedError(connectionID: connectionID, grace: grace)))
                work.cancel()
            }
        }
        defer { watch.unregister(registration) }
        return try await withTaskCancellationHandler {
            try await outcome.value()
        } onCancel: {
            work.cancel()
        }
    }
}

/// The operations running on one connection, told when it closes. One `closeFuture` callback
/// per connection, not one per operation: a pooled connection lives for millions of operations.
private final class ClosedConnectionWatch: Sendable {
    private static let watches = Mutex<[ObjectIdentifier: ClosedConnectionWatch]>([:])

    private struct State {
        var closed = false
        var next = 0
        var waiting: [Int: @Sendable () -> Void] = [:]
    }

    private let state = Mutex(State())

    /// The watch of `connection`, created (and hooked to its `closeFuture`) on first use.
    static func of(_ connection: PostgresConnection) -> ClosedConnectionWatch {
        let key = ObjectIdentifier(connection)
        let (watch, created) = watches.withLock { watches in
            if let watch = watches[key] { return (watch, false) }
            let watch = ClosedConnectionWatch()
            watches[key] = watch
            return (watch, true)
        }
        if created {
            // Outside the lock: on a closed connection the callback may run at once, on this thread.
            connection.closeFuture.whenComplete { _ in
                watches.withLock { watches in
                    if watches[key] === watch { watches[key] = nil }
                }
                watch.close()
            }
        }
        return watch
    }

    /// Calls `onClose` when the connection closes (at once when it already has); returns the
    /// registration to ``unregister(_:)``.
    func register(_ onClose: @escaping @Sendable () -> Void) -> Int? {
        let registration = state.withLock { state -> Int? in
            guard !state.closed else { return nil }
            state.next += 1
            state.waiting[state.next] = onClose
            return state.next
        }
        if registration == nil { onClose() }
        return registration
    }

    func unregister(_ registration: Int?) {
        guard let registration else { return }
        _ = state.withLock { $0.waiting.removeValue(forKey: registration) }
    }

    private func close() {
        let waiting = state.withLock { state in
            state.closed = true
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for onClose in waiting { onClose() }
    }
}

/// A connection closed under a store operation that then did not finish: the operation's outcome
/// is unknown (as when any connection is lost mid-statement) and the store reports it as failed.
struct ConnectionClosedError: Error, CustomStringConvertible {
    let connectionID: Int
    let grace: Duration
    var description: String {
        "connection \(connectionID) closed and the operation on it did not finish within \(grace)"
    }
}

/// A continuation resumed by whichever comes first, the operation's result or the closed
/// connection's verdict; it may be resumed before it is awaited.
private final class OnceContinuation<T: Sendable>: Sendable {
    private enum State {
        case waiting
        case awaiting(CheckedContinuation<T, any Error>)
        case done(Result<T, any Error>)
        case delivered
    }

    private let state = Mutex(State.waiting)

    func resume(with result: Result<T, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
            switch state {
            case .waiting:
                state = .done(result)
                return nil
            case .awaiting(let continuation):
                state = .delivered
                return continuation
            case .done, .delivered:
                return nil
            }
        }
        continuation?.resume(with: result)
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<T, any Error>? in
                switch state {
                case .waiting:
                    state = .awaiting(continuation)
                    return nil
                case .done(let result):
                    state = .delivered
                    return result
                case .awaiting, .delivered:
                    preconditionFailure("OnceContinuation awaited twice")
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

extension Result where Failure == any Error {
    /// The result of an async throwing body.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
