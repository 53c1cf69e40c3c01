/// Why an SMTP session failed, as `SMTPTransport.checkConnection()` throws it and as the
/// history of a retried step quotes it.
///
/// A struct with an extensible ``Code``, like `SequencerError`. Message-level refusals (a `5xx`
/// reply to `MAIL`, `RCPT` or `DATA`) are not errors: they become a permanent
/// ``Sequencer/DeliveryOutcome`` for that message.
public struct SMTPTransportError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name.
        public let rawValue: String
        init(_ rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// The server did not answer in time (``SMTPTransport/Configuration/Timeouts``).
        public static let timeout = Code("timeout")
        /// The server closed the connection.
        public static let connectionClosed = Code("connectionClosed")
        /// The server answered a session command (greeting, `EHLO`, `STARTTLS`, `AUTH`, `RSET`)
        /// with an error, or `421` (closing) at any point.
        public static let unexpectedReply = Code("unexpectedReply")
        /// The configuration asks for STARTTLS and the server does not offer it.
        public static let startTLSUnavailable = Code("startTLSUnavailable")
        /// Credentials are configured and the server offers no mechanism the transport can use.
        public static let authenticationUnavailable = Code("authenticationUnavailable")
        /// The server rejected the credentials.
        public static let authenticationFailed = Code("authenticationFailed")
        /// Credentials would cross an unencrypted connection; see
        /// ``SMTPTransport/Configuration/allowsAuthenticationWithoutTLS``.
        public static let insecureAuthentication = Code("insecureAuthentication")
        /// The server sent something that is not SMTP.
        public static let protocolViolation = Code("protocolViolation")
        /// An `smtp://` URL that cannot be read.
        public static let invalidURL = Code("invalidURL")
    }

    /// What kind of problem this is.
    public var code: Code
    /// What went wrong, quoting the server's reply when there is one.
    public var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
