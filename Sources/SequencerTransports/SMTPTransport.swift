public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
public import Sequencer

/// Sends email over SMTP, on SwiftNIO and NIOSSL: plain, STARTTLS or implicit TLS; `AUTH PLAIN`
/// or `LOGIN`; connections kept open between batches; commands pipelined where the server allows.
///
/// ```swift
/// let smtp = SMTPTransport(configuration: .init(
///     host: "smtp.example.com", security: .startTLS,
///     credentials: .init(username: "apikey", password: secret)))
/// let sequencer = Sequencer(store: store, runners: .builtIn + [EmailRunner(transport: smtp, ledger: ledger)])
/// try await smtp.checkConnection()     // optional: fail fast at startup on a wrong host or password
/// ```
///
/// **A batch** goes over up to ``Configuration/maxConcurrentConnections`` connections at once,
/// messages on each one after another. A connection says `EHLO`, upgrades and authenticates as
/// configured, then sends each message (`MAIL FROM`, `RCPT TO` for every `to`, `cc` and `bcc`
/// address, `DATA` with the dot-stuffed ``Sequencer/EmailMessage/rfc5322Text(boundary:)``). With
/// `PIPELINING` offered (``Configuration/usesPipelining``) a message's envelope goes in one write,
/// so a one-recipient message costs two round trips instead of four.
///
/// **Connections** are kept for the next batch (a pool of up to
/// ``Configuration/maxConcurrentConnections``, each closed after ``Configuration/idleTimeout``
/// idle, or after ``Configuration/maxMessagesPerConnection`` messages). A kept connection that
/// fails before a message's data was handed over (the server dropped it while idle) is replaced
/// and the message sent on the new one; nothing is sent twice by this.
///
/// **Outcomes**, per message:
/// - the server accepts the data: sent, with the `Message-ID` as the provider id;
/// - a `5xx` reply to `MAIL`, `RCPT` or `DATA`: a permanent failure quoting the reply (the step fails);
/// - a `4xx` reply: a temporary failure (the step is retried with backoff);
/// - a recipient refused: the transaction is reset and **nothing** is sent to the others either, so a
///   retry never repeats the message for them; permanent if any refusal was `5xx`;
/// - a network error, a timeout or `421`: a temporary failure of the message in flight on that
///   connection; the next message opens a new one;
/// - a failure to open a session (connect, greeting, `EHLO`, `STARTTLS`, TLS handshake, `AUTH`): a
///   temporary failure of every message not yet handed to a connection, since a retry may succeed
///   once the server or the configuration is fixed.
///
/// The transport is safe to share; copies share the pool. Concurrent batches use separate
/// connections. ``closeIdleConnections()`` closes the kept ones at shutdown (otherwise they
/// close themselves after ``Configuration/idleTimeout``).
public struct SMTPTransport: EmailTransport {
    /// Where and how to connect.
    public let configuration: Configuration
    /// Built once (it loads the trust roots), shared by every connection; `nil` for `.plain`.
    private let tlsContext: Result<NIOSSLContext, any Error>?
    private let group: any EventLoopGroup
    private let logger: Logger
    private let pool: SMTPConnectionPool

    /// Creates a transport.
    ///
    /// - Parameters:
    ///   - configuration: host, port, security, credentials, TLS settings, timeouts, connections.
    ///   - eventLoopGroup: where connections run; NIO's shared singleton by default.
    ///   - logger: `.debug` per session, `.trace` for the SMTP dialogue (credentials redacted).
    public init(
        configuration: Configuration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "sequencer.smtp")
    ) {
        self.configuration = configuration
        self.tlsContext = configuration.security == .plain
            ? nil : Result { try NIOSSLContext(configuration: configuration.tlsConfiguration) }
        self.group = eventLoopGroup
        self.logger = logger
        self.pool = SMTPConnectionPool(capacity: max(1, configuration.maxConcurrentConnections),
                                       idleTimeout: configuration.idleTimeout)
    }

    /// Sends the batch; one outcome per message, in order. Never throws: connection problems are
    /// temporary failures.
    public func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: messages.count)
        try await send(messages) { index, outcome in outcomes[index] = outcome }
        return outcomes.map { $0 ?? .temporaryFailure("not attempted") }
    }

    /// Sends the batch over up to ``Configuration/maxConcurrentConnections`` connections,
    /// reporting each outcome as soon as the server answers the message's data and before that
    /// connection carries another message, so the runner can record it first. Never throws:
    /// connection problems are reported as temporary failures.
    public func send(_ messages: [EmailMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws {
        try await send(messages) { group in
            for (index, outcome) in group { await report(index, outcome) }
        }
    }

    /// Sends the batch over up to ``Configuration/maxConcurrentConnections`` connections; every
    /// outcome that has come in while the last group was being reported is reported together,
    /// and those connections carry their next messages once `report` returns. Never throws:
    /// connection problems are reported as temporary failures. Once the batch's
    /// ``Sequencer/DeliveryDeadline`` has passed, no further message is handed over (each is
    /// reported as ``Sequencer/DeliveryDeadline/notHandedOver``).
    public func send(
        _ messages: [EmailMessage], reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void
    ) async throws {
        let lanes = min(max(1, configuration.maxConcurrentConnections), messages.count)
        let outbox = Outbox<Delivered>()
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            var inFlight = 0
            func launch(_ session: SMTPSession?) {
                let index = next
                next += 1
                inFlight += 1
                group.addTask { outbox.put(await self.deliver(messages[index], index: index, over: session)) }
            }
            for _ in 0..<lanes { launch(pool.take()) }
            // Once a session cannot be opened, the messages not yet launched are not tried.
            var sessionFailure: String?
            while inFlight > 0 {
                let delivered = await outbox.takeAll()
                inFlight -= delivered.count
                await report(delivered.map { ($0.index, $0.outcome) })
                for item in delivered {
                    sessionFailure = sessionFailure ?? item.sessionFailure
                    if sessionFailure == nil, next < messages.count {
                        launch(item.session)
                    } else if let session = item.session {
                        pool.give(session)
                    }
                }
            }
            if let sessionFailure, next < messages.count {
                await report((next..<messages.count).map { ($0, .temporaryFailure(sessionFailure)) })
            }
        }
    }

    /// Connects, says `EHLO`, upgrades and authenticates as configured, then says `QUIT`; throws
    /// an ``SMTPTransportError`` (or the network or TLS error) that says what failed.
    public func checkConnection() async throws {
        var session = try await openSession()
        await session.quit()
        session.connection.close()
    }

    /// Closes the connections kept for the next batch (say, at shutdown). Safe to call at any
    /// time: a later batch opens new ones.
    public func closeIdleConnections() {
        pool.closeIdle()
    }

    /// One message's outcome, and the session to send the next one over (`nil` when it broke).
    private struct Delivered: Sendable {
        var index: Int
        var outcome: DeliveryOutcome
        var session: SMTPSession?
        /// Why a session could not be opened, when that is what failed the message.
        var sessionFailure: String?
    }

    /// Sends one message over `session`, or over a new one when it is `nil`; a kept session that
    /// fails before the data was handed over is replaced once. Past the batch's
    /// `DeliveryDeadline`, sends nothing and gives the session back for the next message.
    private func deliver(_ message: EmailMessage, index: Int, over session: SMTPSession?) async -> Delivered {
        var session = session
        var reused = session != nil
        // Built once: a replaced connection sends the same bytes.
        let data = Self.dataBuffer(message.rfc5322Text())
        while true {
            if session == nil {
                do {
                    session = try await openSession()
                } catch {
                    let reason = "\(error)"
                    logger.debug("smtp session failed", metadata: ["sequencer.error": "\(reason)"])
                    return Delivered(index: index, outcome: .temporaryFailure(reason), sessionFailure: reason)
                }
            }
            // Checked once the session is open, just before the message's envelope: past the
            // batch's deadline its reservation may be another ticker's (`DeliveryDeadline`).
            if DeliveryDeadline.hasPassed {
                return Delivered(index: index, outcome: DeliveryDeadline.notHandedOver, session: session)
            }
            var handedOver = false
            do {
                let outcome = try await session!.deliver(message, data: data, handedOver: &handedOver)
                if session!.transactions >= max(1, configuration.maxMessagesPerConnection) {
                    SMTPConnectionPool.close(session!)
                    session = nil
                }
                return Delivered(index: index, outcome: outcome, session: session)
            } catch {
                session!.connection.close()
                session = nil
                if reused && !handedOver {
                    logger.debug("smtp: a kept connection failed; sending on a new one",
                                 metadata: ["sequencer.error": "\(error)"])
                    reused = false
                    continue
                }
                var reason = "\(error)"
                if handedOver { reason += " (after the message data was sent: the server may have accepted it)" }
                logger.debug("smtp session failed", metadata: ["sequencer.error": "\(reason)"])
                return Delivered(index: index, outcome: .temporaryFailure(reason))
            }
        }
    }

    private func openSession() async throws -> SMTPSession {
        try await SMTPSession.open(configuration, tlsContext: tlsContext, group: group, logger: logger)
    }

    /// The message as sent after `DATA`: lines starting with `.` get another `.` (RFC 5321
    /// §4.5.2), then the `CRLF.CRLF` terminator.
    static func dataBuffer(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(text.utf8.count + 64)
        var atLineStart = true
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if atLineStart && byte == UInt8(ascii: ".") { buffer.writeInteger(UInt8(ascii: ".")) }
            buffer.writeInteger(byte)
            atLineStart = previous == 13 && byte == 10
            previous = byte
        }
        buffer.writeString(atLineStart ? ".\r\n" : "\r\n.\r\n")
        return buffer
    }
}
