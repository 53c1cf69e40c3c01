import NIOCore
import Synchronization

/// Open sessions kept between batches: at most `capacity`, each closed (with `QUIT`) once it has
/// been idle for `idleTimeout`. Taking one that the server has closed meanwhile skips it; a
/// session that fails on first use is replaced by the caller (``SMTPTransport``).
final class SMTPConnectionPool: Sendable {
    private struct Idle: Sendable {
        var id: Int
        var session: SMTPSession
        var expiry: Scheduled<Void>?
    }

    private struct State: Sendable {
        var idle: [Idle] = []
        var nextID = 0
    }

    private let state = Mutex(State())
    let capacity: Int
    let idleTimeout: Duration

    init(capacity: Int, idleTimeout: Duration) {
        self.capacity = capacity
        self.idleTimeout = idleTimeout
    }

    /// The most recently used open session, or `nil`.
    func take() -> SMTPSession? {
        while let idle = state.withLock({ $0.idle.popLast() }) {
            idle.expiry?.cancel()
            if idle.session.connection.isActive { return idle.session }
            idle.session.connection.close()
        }
        return nil
    }

    /// Keeps `session` for the next batch, or says goodbye to it when the pool is full, idle
    /// connections are not kept, or the connection is closed.
    func give(_ session: SMTPSession) {
        guard idleTimeout > .zero, session.connection.isActive else { return Self.close(session) }
        let kept: Bool = state.withLock { state in
            guard state.idle.count < capacity else { return false }
            let id = state.nextID
            state.nextID += 1
            let expiry = session.connection.channel.eventLoop.scheduleTask(in: TimeAmount(idleTimeout)) { [weak self] in
                let expired = self?.state.withLock { state -> SMTPSession? in
                    guard let index = state.idle.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.idle.remove(at: index).session
                }
                if let expired { Self.close(expired) }
            }
            state.idle.append(Idle(id: id, session: session, expiry: expiry))
            return true
        }
        if !kept { Self.close(session) }
    }

    /// Closes every idle session now.
    func closeIdle() {
        let idle = state.withLock { state in
            defer { state.idle = [] }
            return state.idle
        }
        for entry in idle {
            entry.expiry?.cancel()
            Self.close(entry.session)
        }
    }

    /// Says `QUIT` without waiting for the answer, then closes.
    static func close(_ session: SMTPSession) {
        let channel = session.connection.channel
        guard channel.isActive else { return }
        channel.writeAndFlush(ByteBuffer(string: "QUIT\r\n")).whenComplete { _ in channel.close(promise: nil) }
    }
}
