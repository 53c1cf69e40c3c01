import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Sequencer

/// One SMTP conversation over one connection: greeting, `EHLO`, `STARTTLS`, `AUTH`, then any number
/// of messages, then `QUIT`. A value that one task at a time holds: ``SMTPTransport`` hands it from
/// message to message and ``SMTPConnectionPool`` keeps it between batches.
///
/// Message-level replies become ``DeliveryOutcome`` values; anything that makes the connection
/// unusable (a timeout, a closed connection, `421`, a failed session command) is thrown.
struct SMTPSession: Sendable {
    typealias Configuration = SMTPTransport.Configuration

    let connection: SMTPConnection
    let configuration: Configuration
    /// The transport's TLS context (built once per transport), or why it could not be built.
    let tlsContext: Result<NIOSSLContext, any Error>?
    let logger: Logger
    /// `EHLO` keywords (upper-cased) and their parameters, e.g. `AUTH` → `PLAIN LOGIN`.
    private(set) var extensions: [String: String] = [:]
    private(set) var isTLS: Bool
    /// Mail transactions begun on this connection, for ``Configuration/maxMessagesPerConnection``.
    private(set) var transactions = 0

    /// Connects and starts a session (greeting, `EHLO`, `STARTTLS`, `AUTH` as configured); closes
    /// the connection and rethrows when any of it fails.
    static func open(
        _ configuration: Configuration, tlsContext: Result<NIOSSLContext, any Error>?, group: any EventLoopGroup,
        logger: Logger
    ) async throws -> SMTPSession {
        let connection = try await SMTPConnection.connect(
            host: configuration.host, port: configuration.port, timeout: configuration.timeouts.connect,
            tlsContext: configuration.security == .implicitTLS ? try Self.context(tlsContext) : nil,
            serverName: serverName(configuration.host), group: group)
        var session = SMTPSession(connection: connection, configuration: configuration, tlsContext: tlsContext,
                                  logger: logger)
        do {
            try await session.start()
        } catch {
            connection.close()
            throw error
        }
        logger.debug("smtp session started", metadata: [
            "sequencer.smtp.host": "\(configuration.host)", "sequencer.smtp.tls": "\(session.isTLS)",
            "sequencer.smtp.pipelining": "\(session.pipelines)",
        ])
        return session
    }

    /// The name for SNI and certificate checks: `nil` for an IP address, which NIOSSL checks
    /// against the certificate's IP entries instead.
    static func serverName(_ host: String) -> String? {
        host.contains(":") || host.split(separator: ".").allSatisfy({ Int($0) != nil }) ? nil : host
    }

    /// The TLS context to use; throws what building it threw.
    private static func context(_ tlsContext: Result<NIOSSLContext, any Error>?) throws -> NIOSSLContext {
        guard let tlsContext else { preconditionFailure("a TLS context is built for every security but plain") }
        return try tlsContext.get()
    }

    private init(connection: SMTPConnection, configuration: Configuration,
                 tlsContext: Result<NIOSSLContext, any Error>?, logger: Logger) {
        self.connection = connection
        self.tlsContext = tlsContext
        self.configuration = configuration
        self.logger = logger
        self.isTLS = configuration.security == .implicitTLS
    }

    /// Whether commands are pipelined (RFC 2920): the server offers `PIPELINING` and
    /// ``Configuration/usesPipelining`` allows it.
    var pipelines: Bool { configuration.usesPipelining && extensions["PIPELINING"] != nil }

    // MARK: Session setup

    /// Reads the greeting, says `EHLO`, upgrades with `STARTTLS` and authenticates, as configured.
    mutating func start() async throws {
        let greeting = try await read(timeout: configuration.timeouts.connect, waitingFor: "the greeting")
        guard greeting.code == 220 else { throw unexpected(greeting, after: "connecting") }
        try await hello()
        if configuration.security == .startTLS {
            guard extensions["STARTTLS"] != nil else {
                throw SMTPTransportError(.startTLSUnavailable,
                                         "\(configuration.host) does not offer STARTTLS; refusing to send in the clear")
            }
            let reply = try await command("STARTTLS")
            guard reply.code == 220 else { throw unexpected(reply, after: "STARTTLS") }
            try await startTLS()
            try await hello()
        }
        if let credentials = configuration.credentials {
            try await authenticate(credentials)
        }
    }

    /// `EHLO`, falling back to `HELO` for a server that does not know it.
    private mutating func hello() async throws {
        let reply = try await command("EHLO \(configuration.clientHostname)")
        if reply.isSuccess {
            extensions = [:]
            for line in reply.lines.dropFirst() {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard let keyword = parts.first else { continue }
                extensions[keyword.uppercased()] = parts.count > 1 ? String(parts[1]) : ""
            }
            return
        }
        guard reply.isPermanent else { throw unexpected(reply, after: "EHLO") }
        let helo = try await command("HELO \(configuration.clientHostname)")
        guard helo.isSuccess else { throw unexpected(helo, after: "HELO") }
        extensions = [:]
    }

    /// Puts a TLS handler in front of the pipeline; the handshake runs with the next command.
    private mutating func startTLS() async throws {
        let context = try Self.context(tlsContext)
        let serverName = Self.serverName(configuration.host)
        let channel = connection.channel
        try await channel.eventLoop.submit {
            let tls = try NIOSSLClientHandler(context: context, serverHostname: serverName)
            try channel.pipeline.syncOperations.addHandler(tls, position: .first)
        }.get()
        isTLS = true
    }

    private mutating func authenticate(_ credentials: Configuration.Credentials) async throws {
        guard isTLS || configuration.allowsAuthenticationWithoutTLS else {
            throw SMTPTransportError(.insecureAuthentication,
                                     "refusing to send credentials without TLS; use .startTLS or .implicitTLS, or set "
                                         + "allowsAuthenticationWithoutTLS")
        }
        let offered = Set((extensions["AUTH"] ?? "").uppercased().split(separator: " ").map(String.init))
        let method: Configuration.AuthenticationMethod
        switch configuration.authenticationMethod {
        case .automatic where offered.contains("PLAIN"): method = .plain
        case .automatic where offered.contains("LOGIN"): method = .login
        case .automatic:
            throw SMTPTransportError(.authenticationUnavailable,
                                     "\(configuration.host) offers no AUTH PLAIN or LOGIN (offered: "
                                         + "\(offered.isEmpty ? "none" : offered.sorted().joined(separator: " ")))")
        case let chosen:
            method = chosen
        }
        let reply: SMTPReply
        switch method {
        case .plain, .automatic:
            let token = Data("\0\(credentials.username)\0\(credentials.password)".utf8).base64EncodedString()
            reply = try await command("AUTH PLAIN \(token)", redacted: "AUTH PLAIN <credentials>")
        case .login:
            let start = try await command("AUTH LOGIN")
            guard start.code == 334 else { throw authenticationFailed(start) }
            let user = try await command(Data(credentials.username.utf8).base64EncodedString(), redacted: "<username>")
            guard user.code == 334 else { throw authenticationFailed(user) }
            reply = try await command(Data(credentials.password.utf8).base64EncodedString(), redacted: "<password>")
        }
        guard reply.code == 235 else { throw authenticationFailed(reply) }
    }

    private func authenticationFailed(_ reply: SMTPReply) -> SMTPTransportError {
        SMTPTransportError(.authenticationFailed, "\(configuration.host) refused the credentials: \(reply)")
    }

    // MARK: Messages

    /// Sends one message: `MAIL FROM`, `RCPT TO` for every recipient, `DATA`. All or nothing: when
    /// a recipient is refused the transaction is reset and nothing is sent, so a retry cannot
    /// repeat a message for the recipients that were accepted.
    ///
    /// When the session ``pipelines``, the envelope goes in one write and its replies are read
    /// after it; `DATA` joins it when the message has one recipient (a `354` then implies that the
    /// recipient was accepted). With several recipients `DATA` waits for their replies, since a
    /// `354` after a refusal could not be taken back.
    ///
    /// - Parameter handedOver: set once the message's data is written; an error after that leaves
    ///   the server's decision unknown.
    mutating func deliver(_ message: EmailMessage, data: ByteBuffer, handedOver: inout Bool) async throws
        -> DeliveryOutcome
    {
        transactions += 1
        var mail = "MAIL FROM:<\(message.from.address)>"
        if extensions["SIZE"] != nil { mail += " SIZE=\(data.readableBytes)" }
        let recipients = message.recipients
        let dataInEnvelope = pipelines && recipients.count == 1
        let envelope = [mail] + recipients.map { "RCPT TO:<\($0.address)>" } + (dataInEnvelope ? ["DATA"] : [])
        let replies: [SMTPReply]
        if pipelines {
            replies = try await pipeline(envelope)
        } else {
            var sequential: [SMTPReply] = []
            for line in envelope {
                let reply = try await command(line)
                sequential.append(reply)
                if !reply.isSuccess && sequential.count == 1 { break }  // the sender refused: no RCPT
            }
            replies = sequential
        }
        if let closing = replies.first(where: { $0.code == 421 }) { throw unexpected(closing, after: "the envelope") }
        // Only possible with DATA pipelined: the server would take data we must not send.
        let dataAccepted = dataInEnvelope && replies.last?.code == 354

        let mailReply = replies[0]
        guard mailReply.isSuccess else {
            if dataAccepted { throw unexpected(replies[replies.count - 1], after: "a refused sender") }
            return try await refused(mailReply, what: "sender <\(message.from.address)>")
        }
        var refusals: [(address: String, reply: SMTPReply)] = []
        for (recipient, reply) in zip(recipients, replies.dropFirst()) where !reply.isSuccess {
            refusals.append((recipient.address, reply))
        }
        if !refusals.isEmpty {
            if dataAccepted { throw unexpected(replies[replies.count - 1], after: "a refused recipient") }
            try await reset()
            let reason = refusals.map { "recipient <\($0.address)> refused: \($0.reply)" }.joined(separator: "; ")
            return refusals.contains(where: { $0.reply.isPermanent }) ? .permanentFailure(reason) : .temporaryFailure(reason)
        }

        let dataReply = dataInEnvelope ? replies[replies.count - 1] : try await command("DATA")
        guard dataReply.code == 354 else { return try await refused(dataReply, what: "DATA") }
        handedOver = true
        let final = try await sendData(data)
        if final.isSuccess { return .sent(providerID: message.messageID) }
        if final.code == 421 { throw unexpected(final, after: "the message data") }
        return final.isPermanent ? .permanentFailure("message refused: \(final)") : .temporaryFailure("message deferred: \(final)")
    }

    /// The outcome for a refused `MAIL` or `DATA`, after resetting the transaction.
    private mutating func refused(_ reply: SMTPReply, what: String) async throws -> DeliveryOutcome {
        if reply.code == 421 { throw unexpected(reply, after: what) }
        try await reset()
        let reason = "\(what) refused: \(reply)"
        return reply.isPermanent ? .permanentFailure(reason) : .temporaryFailure(reason)
    }

    private mutating func reset() async throws {
        let reply = try await command("RSET")
        guard reply.isSuccess else { throw unexpected(reply, after: "RSET") }
    }

    /// `QUIT`, ignoring what happens: the messages are already decided.
    mutating func quit() async {
        _ = try? await command("QUIT", timeout: .seconds(5))
    }

    // MARK: Wire

    /// Writes a command line and reads its reply.
    mutating func command(_ line: String, redacted: String? = nil, timeout: Duration? = nil) async throws -> SMTPReply {
        let verb = redacted ?? Self.verb(line)
        return try await exchange(commandBuffer([line], redacted: redacted), replies: 1,
                                  timeout: timeout ?? configuration.timeouts.command,
                                  waitingFor: "the reply to \(verb)")[0]
    }

    /// Writes command lines in one write, then reads their replies in order (RFC 2920).
    private mutating func pipeline(_ lines: [String]) async throws -> [SMTPReply] {
        try await exchange(commandBuffer(lines, redacted: nil), replies: lines.count, timeout: configuration.timeouts.command,
                           waitingFor: "the replies to \(lines.map(Self.verb).joined(separator: ", ")) (pipelined)")
    }

    /// Writes the message's data and reads the reply to it.
    private mutating func sendData(_ data: ByteBuffer) async throws -> SMTPReply {
        try await exchange(data, replies: 1, timeout: configuration.timeouts.command,
                           waitingFor: "the reply to the message data")[0]
    }

    /// `MAIL`, `RCPT`, `DATA`: a command line's verb, for messages.
    private static func verb(_ line: String) -> String {
        String(line.prefix(while: { $0 != " " && $0 != ":" }))
    }

    /// Command lines as one buffer, each ended by CRLF.
    private func commandBuffer(_ lines: [String], redacted: String?) -> ByteBuffer {
        var buffer = ByteBuffer()
        for line in lines {
            logger.trace("smtp >", metadata: ["sequencer.smtp": "\(redacted ?? line)"])
            buffer.writeString(line)
            buffer.writeString("\r\n")
        }
        return buffer
    }

    /// Reads one reply (the greeting), closing the connection with a timeout error if none comes in time.
    mutating func read(timeout: Duration, waitingFor what: String) async throws -> SMTPReply {
        try await exchange(nil, replies: 1, timeout: timeout, waitingFor: what)[0]
    }

    /// Writes `buffer` (if any) and reads `count` replies; a connection that closes before they
    /// all came is an error that says what we waited for.
    private mutating func exchange(_ buffer: ByteBuffer?, replies count: Int, timeout: Duration, waitingFor what: String)
        async throws -> [SMTPReply]
    {
        let host = configuration.host
        let replies = try await connection.exchange(
            buffer, replies: count, timeout: timeout,
            timeoutError: SMTPTransportError(.timeout, "\(host) did not send \(what) within \(timeout)"))
        guard replies.count == count else {
            throw SMTPTransportError(.connectionClosed, "\(host) closed the connection while we waited for \(what)")
        }
        for reply in replies { logger.trace("smtp <", metadata: ["sequencer.smtp": "\(reply)"]) }
        return replies
    }

    private func unexpected(_ reply: SMTPReply, after what: String) -> SMTPTransportError {
        SMTPTransportError(.unexpectedReply, "\(configuration.host) answered \(what) with \(reply)")
    }
}
