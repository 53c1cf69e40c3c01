import NIOCore
import NIOPosix
import NIOSSL

/// One open SMTP connection: the channel and the queue its replies arrive in. It outlives any
/// one task, so ``SMTPConnectionPool`` can keep it between batches; every reply is read in the
/// order the server sent it, by whichever task holds the session at the time.
final class SMTPConnection: Sendable {
    let channel: any Channel
    private let replies: SMTPReplyQueue

    private init(channel: any Channel, replies: SMTPReplyQueue) {
        self.channel = channel
        self.replies = replies
    }

    /// Connects and sets up the pipeline: TLS first for implicit TLS, then the reply decoder and
    /// the reply queue.
    static func connect(
        host: String, port: Int, timeout: Duration, tlsContext: NIOSSLContext?, serverName: String?,
        group: any EventLoopGroup
    ) async throws -> SMTPConnection {
        let replies = SMTPReplyQueue()
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(timeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let tls = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(SMTPReplyDecoder()), replies)
                }
            }
            .connect(host: host, port: port).get()
        return SMTPConnection(channel: channel, replies: replies)
    }

    /// Whether the connection is still open (a pooled one may have been closed by the server).
    var isActive: Bool { channel.isActive }

    /// Writes `buffer` (if any), then collects `count` replies, in one visit to the event loop:
    /// one thread hop per exchange rather than one per write and per reply. After `timeout` the
    /// connection is closed with `timeoutError` as the reason. Returns fewer than `count` replies
    /// when the connection closed cleanly first; throws what broke it otherwise (a TLS error, a
    /// protocol violation, a failed write, the timeout).
    func exchange(_ buffer: ByteBuffer?, replies count: Int, timeout: Duration, timeoutError: SMTPTransportError)
        async throws -> [SMTPReply]
    {
        let channel = self.channel
        let replies = self.replies
        return try await channel.eventLoop.flatSubmit {
            if let buffer {
                channel.writeAndFlush(buffer).whenFailure { error in
                    replies.end(with: error)
                    channel.close(promise: nil)
                }
            }
            let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                replies.end(with: timeoutError)
                channel.close(promise: nil)
            }
            return replies.next(count, on: channel.eventLoop).always { _ in timer.cancel() }
        }.get()
    }

    /// Closes the connection (idempotent).
    func close() {
        channel.close(promise: nil)
    }
}

/// The last handler of an SMTP pipeline: keeps replies until someone asks for them, and the first
/// error (or the close) that ends the connection. Touched only on the channel's event loop.
final class SMTPReplyQueue: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = SMTPReply

    private var buffered = CircularBuffer<SMTPReply>()
    private var waiting = CircularBuffer<EventLoopPromise<SMTPReply?>>()
    /// Set when the connection ends: the error that ended it, or `nil` for a clean close.
    private var ended: (any Error)??

    /// The next `count` replies (fewer if the connection closes cleanly first), or the error that
    /// ended the connection; call on the channel's event loop.
    func next(_ count: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[SMTPReply]> {
        eventLoop.preconditionInEventLoop()
        func collect(_ collected: [SMTPReply]) -> EventLoopFuture<[SMTPReply]> {
            guard collected.count < count else { return eventLoop.makeSucceededFuture(collected) }
            return next(on: eventLoop).flatMap { reply in
                guard let reply else { return eventLoop.makeSucceededFuture(collected) }
                return collect(collected + [reply])
            }
        }
        return collect([])
    }

    /// The next reply, or `nil` after a clean close, or the error that ended the connection.
    private func next(on eventLoop: any EventLoop) -> EventLoopFuture<SMTPReply?> {
        if !buffered.isEmpty { return eventLoop.makeSucceededFuture(buffered.removeFirst()) }
        if let ended {
            if let error = ended { return eventLoop.makeFailedFuture(error) }
            return eventLoop.makeSucceededFuture(nil)
        }
        let promise = eventLoop.makePromise(of: SMTPReply?.self)
        waiting.append(promise)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        if waiting.isEmpty {
            buffered.append(reply)
        } else {
            waiting.removeFirst().succeed(reply)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        end(with: error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(with: nil)
        context.fireChannelInactive()
    }

    /// Ends the connection's replies: the first reason given stands. Call on the event loop.
    func end(with error: (any Error)?) {
        if ended == nil { ended = .some(error) }
        while !waiting.isEmpty {
            let promise = waiting.removeFirst()
            if let error = ended! { promise.fail(error) } else { promise.succeed(nil) }
        }
    }
}
