public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
public import Sequencer

/// Sends email over SMTP, on SwiftNIO and NIOSSL: plain, STARTTLS or implicit TLS; `AUTH PLAIN`
/// or `LOGIN`; one connection for a whole batch.
///
/// ```swift
/// let smtp = SMTPTransport(configuration: .init(
///     host: "smtp.example.com", security: .startTLS,
///     credentials: .init(username: "apikey", password: secret)))
/// let sequencer = Sequencer(store: store, runners: .builtIn + [EmailRunner(transport: smtp, ledger: ledger)])
/// try await smtp.checkConnection()     // optional: fail fast at startup on a wrong host or password
/// ```
///
/// **A batch** opens one connection (a new one every
/// ``Configuration/maxMessagesPerConnection`` messages), says `EHLO`, upgrades and authenticates
/// as configured, then sends each message (`MAIL FROM`, `RCPT TO` for every `to`, `cc` and `bcc`
/// address, `DATA` with the dot-stuffed ``Sequencer/EmailMessage/rfc5322Text(boundary:)``) and
/// says `QUIT`.
///
/// **Outcomes**, per message:
/// - the server accepts the data: sent, with the `Message-ID` as the provider id;
/// - a `5xx` reply to `MAIL`, `RCPT` or `DATA`: a permanent failure quoting the reply (the step fails);
/// - a `4xx` reply: a temporary failure (the step is retried with backoff);
/// - a recipient refused: the transaction is reset and **nothing** is sent to the others either, so a
///   retry never repeats the message for them; permanent if any refusal was `5xx`;
/// - a network error, a timeout, `421`, or a failure before the first message (greeting, `EHLO`,
///   `STARTTLS`, TLS handshake, `AUTH`): a temporary failure for every message not yet decided,
///   since a retry may succeed once the server or the configuration is fixed.
///
/// The transport holds no connection between batches and is safe to share; concurrent batches
/// use separate connections.
public struct SMTPTransport: EmailTransport {
    /// Where and how to connect.
    public let configuration: Configuration
    /// Built once (it loads the trust roots), shared by every connection; `nil` for `.plain`.
    private let tlsContext: Result<NIOSSLContext, any Error>?
    private let group: any EventLoopGroup
    private let logger: Logger

    /// Creates a transport.
    ///
    /// - Parameters:
    ///   - configuration: host, port, security, credentials, TLS settings, timeouts.
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
    }

    /// Sends the batch over as few connections as ``Configuration/maxMessagesPerConnection`` allows;
    /// one outcome per message, in order. Never throws: connection problems are temporary failures.
    public func send(_ messages: [EmailMessage]) async throws -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: messages.count)
        try await send(messages) { index, outcome in outcomes[index] = outcome }
        return outcomes.map { $0 ?? .temporaryFailure("not attempted") }
    }

    /// Sends the batch message by message, reporting each outcome as soon as the server answers
    /// the message's data and before sending the next, so the runner can record it first. Never
    /// throws: connection problems are reported as temporary failures of every message not yet
    /// decided.
    public func send(_ messages: [EmailMessage], reporting report: (Int, DeliveryOutcome) async -> Void) async throws {
        let chunkSize = max(1, configuration.maxMessagesPerConnection)
        for start in stride(from: 0, to: messages.count, by: chunkSize) {
            let indices = Array(start..<min(start + chunkSize, messages.count))
            var decided = start
            var handedOver = false
            do {
                try await withSession { session in
                    for index in indices {
                        handedOver = false
                        let data = Self.dataBuffer(messages[index].rfc5322Text())
                        let outcome = try await session.deliver(messages[index], data: data, handedOver: &handedOver)
                        decided = index + 1
                        await report(index, outcome)
                    }
                }
            } catch {
                var reason = "\(error)"
                if handedOver {
                    reason += " (after the message data was sent: the server may have accepted it)"
                }
                logger.debug("smtp session failed", metadata: ["sequencer.error": "\(reason)"])
                for index in indices where index >= decided {
                    await report(index, .temporaryFailure(reason))
                }
            }
        }
    }

    /// Connects, says `EHLO`, upgrades and authenticates as configured, then says `QUIT`; throws
    /// an ``SMTPTransportError`` (or the network or TLS error) that says what failed.
    public func checkConnection() async throws {
        try await withSession { _ in }
    }

    /// Opens a connection, runs `start()`, the body and `QUIT`, and closes it.
    private func withSession(_ body: (inout SMTPSession) async throws -> Void) async throws {
        let channel = try await SMTPSession.connect(configuration, tlsContext: tlsContext, group: group)
        let configuration = self.configuration
        let tlsContext = self.tlsContext
        let logger = self.logger
        try await channel.executeThenClose { inbound, outbound in
            var session = SMTPSession(channel: channel.channel, inbound: inbound, outbound: outbound,
                                      configuration: configuration, tlsContext: tlsContext, logger: logger)
            try await session.start()
            logger.debug("smtp session started", metadata: [
                "sequencer.smtp.host": "\(configuration.host)", "sequencer.smtp.tls": "\(session.isTLS)",
            ])
            try await body(&session)
            await session.quit()
        }
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
