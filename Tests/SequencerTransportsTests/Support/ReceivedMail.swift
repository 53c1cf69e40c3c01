import Foundation
import NIOSSL
import Sequencer
import SequencerTransports

/// One message as the aiosmtpd test server received it (see `Servers/smtp_server.py`).
struct ReceivedMail: Decodable {
    struct Part: Decodable {
        var contentType: String
        var charset: String
        var transferEncoding: String?
        var body: String
    }

    struct Parsed: Decodable {
        var headers: [[String]]
        var contentType: String
        var isMultipart: Bool
        var parts: [Part]
    }

    var peer: [JSONValue]?
    var mailFrom: String
    var mailOptions: [String]
    var rcptTos: [String]
    var raw: String
    var tls: Bool
    var tlsVersion: String?
    var authUser: String?
    var authMechanism: String?
    /// With ``SMTPServerOptions/pipelining``: whether `RCPT` had arrived with `MAIL FROM`.
    var pipelined: Bool?
    var parsed: Parsed
    /// When the server had the message's data (seconds since 1970).
    var receivedAt: Double?

    /// The client's port: equal for messages sent over one connection.
    var clientPort: Int? { peer?.last?.numberValue.map(Int.init) }

    /// The first header with this name (case-insensitive), decoded (RFC 2047 words become text).
    func header(_ name: String) -> String? {
        parsed.headers.first { $0[0].lowercased() == name.lowercased() }?[1]
    }

    /// The raw header block (up to the first empty line).
    var rawHeaders: String { raw.components(separatedBy: "\r\n\r\n").first ?? raw }

    /// A decoded body part by type, with CRLF turned back into `\n`.
    func body(_ contentType: String) -> String? {
        parsed.parts.first { $0.contentType == contentType }?.body.replacingOccurrences(of: "\r\n", with: "\n")
    }
}

/// The aiosmtpd server in one of its modes.
struct SMTPServerOptions: Sendable {
    enum Mode: String, Sendable { case plain, starttls, tls, silent }
    var mode: Mode = .plain
    var auth: (user: String, password: String)?
    var rejects: [String: Int] = [:]
    /// Offer `PIPELINING`; records then say whether the client pipelined (``ReceivedMail/pipelined``).
    var pipelining = false
    /// Drop a connection, without a reply, at the first `MAIL FROM` after this many messages on it.
    var dropAfter: Int?
    /// Record each message, then wait this long (seconds) before accepting it.
    var dataDelay: Double?

    var arguments: [String] {
        var arguments = ["--mode", mode.rawValue] + (pipelining ? ["--pipelining"] : [])
        if let dropAfter { arguments += ["--drop-after", "\(dropAfter)"] }
        if let dataDelay { arguments += ["--data-delay", "\(dataDelay)"] }
        if let auth { arguments += ["--auth", "\(auth.user):\(auth.password)"] }
        for (address, code) in rejects.sorted(by: { $0.key < $1.key }) { arguments += ["--reject", "\(address)=\(code)"] }
        return arguments
    }
}

extension TestServer {
    /// Starts the aiosmtpd server; TLS modes use the shared self-signed certificate.
    static func smtp(_ options: SMTPServerOptions = .init()) async throws -> TestServer {
        var arguments = options.arguments
        let paths = try await TestCertificate.paths()   // made once; `smtpConfiguration` reads it
        if options.mode == .starttls || options.mode == .tls {
            arguments += ["--cert", paths.certificate, "--key", paths.key]
        }
        return try await start(script: "smtp_server.py", arguments: arguments)
    }

    /// Starts the HTTP stand-in; `rules` map a body substring to `(status, body)`. Calling back,
    /// it sends each report `callbackDelay` seconds after the one before (the first after its answer).
    static func http(rules: [(match: String, status: Int, body: String)] = [], callingBack: Bool = false,
                     callbackDelay: Double = 0.05) async throws -> TestServer {
        try await start(script: "http_server.py",
                        arguments: rules.flatMap { ["--rule", $0.match, "\($0.status)", $0.body] }
                            + (callingBack ? ["--callback", "--callback-delay", "\(callbackDelay)"] : []))
    }

    /// Messages received so far.
    func mail() throws -> [ReceivedMail] { try records(ReceivedMail.self) }

    /// An SMTP configuration for this server, trusting the test certificate for TLS modes.
    func smtpConfiguration(_ security: SMTPTransport.Configuration.Security = .plain,
                           credentials: SMTPTransport.Configuration.Credentials? = nil) throws
        -> SMTPTransport.Configuration
    {
        var configuration = SMTPTransport.Configuration(host: "127.0.0.1", port: port, security: security,
                                                        credentials: credentials)
        if security != .plain {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(TestCertificate.madePaths().certificate))
            configuration.tlsConfiguration = tls
        }
        configuration.timeouts.connect = .seconds(10)
        configuration.timeouts.command = .seconds(10)
        return configuration
    }
}

/// One request as the HTTP stand-in received it (see `Servers/http_server.py`).
struct ReceivedRequest: Decodable {
    var method: String
    var path: String
    var headers: [String: String]
    var body: String
    /// When the server had the request (seconds since 1970).
    var receivedAt: Double?

    /// The body read as `application/x-www-form-urlencoded`.
    var form: [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            fields[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return fields
    }

    /// The body read as JSON.
    var json: JSONValue? { try? JSONValue(json: body) }
}
