import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Sequencer

/// One SMTP conversation over one connection: greeting, `EHLO`, `STARTTLS`, `AUTH`, then any number
/// of messages, then `QUIT`. Used from a single task inside `NIOAsyncChannel.executeThenClose`.
///
/// Message-level replies become ``DeliveryOutcome`` values; anything that makes the connection
/// unusable (a timeout, a closed connection, `421`, a failed session command) is thrown.
struct SMTPSession {
    typealias Configuration = SMTPTransport.Configuration

    let channel: any Channel
    let configuration: Configuration
    /// The transport's TLS context (built once per transport), or why it could not be built.
    let tlsContext: Result<NIOSSLContext, any Error>?
    let logger: Logger
    private var replies: NIOAsyncChannelInboundStream<SMTPReply>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    /// `EHLO` keywords (upper-cased) and their parameters, e.g. `AUTH` → `PLAIN LOGIN`.
    private(set) var extensions: [String: String] = [:]
    private(set) var isTLS: Bool

    /// Connects and sets up the pipeline: TLS first for implicit TLS, then the reply decoder.
    static func connect(
        _ configuration: Configuration, tlsContext: Result<NIOSSLContext, any Error>?, group: any EventLoopGroup
    ) async throws -> NIOAsyncChannel<SMTPReply, ByteBuffer> {
        let tlsContext = configuration.security == .implicitTLS ? try Self.context(tlsContext) : nil
        let serverName = serverName(configuration.host)
        return try await ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(configuration.timeouts.connect))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let tls = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPReplyDecoder()))
                    return try NIOAsyncChannel<SMTPReply, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
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

    init(channel: any Channel, inbound: NIOAsyncChannelInboundStream<SMTPReply>,
         outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, configuration: Configuration,
         tlsContext: Result<NIOSSLContext, any Error>?, logger: Logger) {
        self.channel = channel
        self.tlsContext = tlsContext
        self.replies = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.configuration = configuration
        self.logger = logger
        self.isTLS = configuration.security == .implicitTLS
    }

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
        let channel = self.channel
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
    /// - Parameter handedOver: set once the message's data is written; an error after that leaves
    ///   the server's decision unknown.
    mutating func deliver(_ message: EmailMessage, data: ByteBuffer, handedOver: inout Bool) async throws
        -> DeliveryOutcome
    {
        var mail = "MAIL FROM:<\(message.from.address)>"
        if extensions["SIZE"] != nil { mail += " SIZE=\(data.readableBytes)" }
        let mailReply = try await command(mail)
        guard mailReply.isSuccess else { return try await refused(mailReply, what: "sender <\(message.from.address)>") }

        var refusals: [(address: String, reply: SMTPReply)] = []
        for recipient in message.recipients {
            let reply = try await command("RCPT TO:<\(recipient.address)>")
            if reply.code == 421 { throw unexpected(reply, after: "RCPT TO") }
            if !reply.isSuccess { refusals.append((recipient.address, reply)) }
        }
        if !refusals.isEmpty {
            try await reset()
            let reason = refusals.map { "recipient <\($0.address)> refused: \($0.reply)" }.joined(separator: "; ")
            return refusals.contains(where: { $0.reply.isPermanent }) ? .permanentFailure(reason) : .temporaryFailure(reason)
        }

        let dataReply = try await command("DATA")
        guard dataReply.code == 354 else { return try await refused(dataReply, what: "DATA") }
        handedOver = true
        try await outbound.write(data)
        let final = try await read(timeout: configuration.timeouts.command, waitingFor: "the reply to the message data")
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
        logger.trace("smtp >", metadata: ["sequencer.smtp": "\(redacted ?? line)"])
        do {
            try await outbound.write(ByteBuffer(string: line + "\r\n"))
        } catch {
            // The connection is gone; the inbound side holds the reason (a failed TLS handshake, say).
            do {
                _ = try await read(timeout: .seconds(1), waitingFor: "the connection to close")
            } catch let cause as SMTPTransportError where cause.code == .connectionClosed || cause.code == .timeout {
                throw error
            }
            throw error
        }
        let verb = redacted ?? String(line.prefix(while: { $0 != " " && $0 != ":" }))
        return try await read(timeout: timeout ?? configuration.timeouts.command, waitingFor: "the reply to \(verb)")
    }

    /// Reads one reply, closing the connection with a timeout error if none comes in time.
    mutating func read(timeout: Duration, waitingFor what: String) async throws -> SMTPReply {
        let channel = self.channel
        let host = configuration.host
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            let error = SMTPTransportError(.timeout, "\(host) did not send \(what) within \(timeout)")
            channel.pipeline.fireErrorCaught(error)
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        guard let reply = try await replies.next() else {
            throw SMTPTransportError(.connectionClosed, "\(host) closed the connection while we waited for \(what)")
        }
        logger.trace("smtp <", metadata: ["sequencer.smtp": "\(reply)"])
        return reply
    }

    private func unexpected(_ reply: SMTPReply, after what: String) -> SMTPTransportError {
        SMTPTransportError(.unexpectedReply, "\(configuration.host) answered \(what) with \(reply)")
    }
}
