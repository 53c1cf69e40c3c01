import Foundation
public import NIOSSL

extension SMTPTransport {
    /// Where and how to connect. Every field but ``host`` has a default.
    ///
    /// ```swift
    /// var configuration = SMTPTransport.Configuration(host: "smtp.example.com", security: .startTLS,
    ///                                                 credentials: .init(username: "apikey", password: secret))
    /// configuration.timeouts.command = .seconds(20)
    /// // or from a URL, e.g. an environment variable:
    /// let local = try SMTPTransport.Configuration(url: "smtp://127.0.0.1:2525")
    /// ```
    public struct Configuration: Sendable {
        /// How the connection is protected.
        public enum Security: String, Sendable, Hashable {
            /// No TLS: a local relay or a test server. Credentials are refused unless
            /// ``Configuration/allowsAuthenticationWithoutTLS`` is set.
            case plain
            /// Connect in the clear, then upgrade with `STARTTLS` (usually port 587). A server that
            /// does not offer `STARTTLS` is an error, never a silent downgrade.
            case startTLS
            /// TLS from the first byte (usually port 465).
            case implicitTLS

            /// The usual port: 25, 587, 465.
            public var defaultPort: Int {
                switch self {
                case .plain: 25
                case .startTLS: 587
                case .implicitTLS: 465
                }
            }
        }

        /// A user name and password for `AUTH`.
        public struct Credentials: Sendable, Hashable {
            /// The user name.
            public var username: String
            /// The password (or API key).
            public var password: String

            /// Creates credentials.
            public init(username: String, password: String) {
                self.username = username
                self.password = password
            }
        }

        /// Which `AUTH` mechanism to use.
        public enum AuthenticationMethod: String, Sendable, Hashable {
            /// `PLAIN` when the server offers it, else `LOGIN`.
            case automatic
            /// `AUTH PLAIN` (RFC 4616).
            case plain
            /// `AUTH LOGIN`, for servers that offer nothing else.
            case login
        }

        /// How long to wait for the server.
        public struct Timeouts: Sendable, Hashable {
            /// TCP connect, then the TLS handshake and greeting. Default 10 s.
            public var connect: Duration = .seconds(10)
            /// Each reply to a command, including the final one after a message's data. Default 60 s.
            public var command: Duration = .seconds(60)

            /// The defaults.
            public init() {}
        }

        /// The server's host name or IP address.
        public var host: String
        /// The server's port; ``Security/defaultPort`` by default.
        public var port: Int
        /// Plain, STARTTLS or implicit TLS.
        public var security: Security
        /// Credentials for `AUTH`; `nil` sends without authenticating.
        public var credentials: Credentials?
        /// Which `AUTH` mechanism to use. Default ``AuthenticationMethod/automatic``.
        public var authenticationMethod: AuthenticationMethod = .automatic
        /// TLS settings for STARTTLS and implicit TLS. The default verifies the server's
        /// certificate against the system trust store and ``host``; a test can trust a self-signed
        /// certificate with `trustRoots = .certificates([certificate])`.
        public var tlsConfiguration: TLSConfiguration = .makeClientConfiguration()
        /// Timeouts; see ``Timeouts``.
        public var timeouts = Timeouts()
        /// The name this client gives in `EHLO`. Default `localhost`.
        public var clientHostname: String = "localhost"
        /// Messages sent over one connection before it is closed and a new one opened (servers
        /// often cap this). Default 100.
        public var maxMessagesPerConnection: Int = 100
        /// Connections one batch sends over at once, and open connections kept between batches.
        /// Messages on one connection go one after another; a batch spreads over up to this many.
        /// Default 4; 1 sends a batch in order over one connection.
        public var maxConcurrentConnections: Int = 4
        /// How long an open connection is kept for the next batch; `.zero` closes every
        /// connection at the end of its batch. Default 30 s (servers commonly drop idle clients
        /// after a few minutes; a dropped one is replaced without failing a message).
        public var idleTimeout: Duration = .seconds(30)
        /// Whether to pipeline commands (RFC 2920) when the server offers `PIPELINING`: the
        /// envelope (`MAIL`, `RCPT`, and `DATA` for a single recipient) in one write. Default `true`.
        public var usesPipelining = true
        /// Whether credentials may be sent over a connection without TLS. Default `false`: a
        /// ``Security/plain`` configuration with credentials fails rather than leak the password.
        public var allowsAuthenticationWithoutTLS = false

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - host: the server.
        ///   - port: the port; `nil` for the usual one for `security` (25, 587, 465).
        ///   - security: plain, STARTTLS (the default) or implicit TLS.
        ///   - credentials: for `AUTH`, or `nil`.
        public init(host: String, port: Int? = nil, security: Security = .startTLS, credentials: Credentials? = nil) {
            self.host = host
            self.port = port ?? security.defaultPort
            self.security = security
            self.credentials = credentials
        }

        /// Reads a URL: `smtp://` (plain), `smtp+starttls://` (STARTTLS) or `smtps://` (implicit
        /// TLS), with optional percent-encoded credentials and port, and an optional `auth`
        /// query item (`plain` or `login`):
        ///
        /// - `smtp://127.0.0.1:2525`
        /// - `smtp+starttls://apikey:s3cr%40t@smtp.example.com:587`
        /// - `smtps://user:pass@smtp.example.com?auth=login`
        public init(url text: String) throws {
            guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
                  let host = components.host, !host.isEmpty
            else {
                throw SMTPTransportError(.invalidURL, "'\(text)' is not a URL like smtp://host:port")
            }
            let security: Security
            switch scheme {
            case "smtp": security = .plain
            case "smtp+starttls": security = .startTLS
            case "smtps": security = .implicitTLS
            default:
                throw SMTPTransportError(.invalidURL,
                                         "unknown scheme '\(scheme)' (use smtp, smtp+starttls or smtps)")
            }
            var credentials: Credentials?
            if let user = components.user {
                credentials = Credentials(username: user, password: components.password ?? "")
            }
            self.init(host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: components.port,
                      security: security, credentials: credentials)
            for item in components.queryItems ?? [] {
                switch (item.name, item.value?.lowercased()) {
                case ("auth", let value?):
                    guard let method = AuthenticationMethod(rawValue: value) else {
                        throw SMTPTransportError(.invalidURL, "unknown auth '\(value)' (use plain or login)")
                    }
                    authenticationMethod = method
                default:
                    throw SMTPTransportError(.invalidURL, "unknown query item '\(item.name)' (known: auth)")
                }
            }
        }
    }
}
