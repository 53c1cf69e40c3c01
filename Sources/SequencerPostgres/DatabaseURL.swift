public import Foundation
public import PostgresNIO
import NIOSSL
public import Sequencer

/// A `postgres://` URL (the `DATABASE_URL` of twelve-factor hosts), read into PostgresNIO's
/// client settings.
///
/// ```swift
/// let url = try DatabaseURL(ProcessInfo.processInfo.environment["DATABASE_URL"] ?? "postgres://localhost/app")
/// let client = PostgresClient(configuration: url.clientConfiguration(), backgroundLogger: logger)
/// ```
///
/// It reads what libpq's URLs carry: `postgres://` or `postgresql://`, a user (default
/// `postgres`) and password (percent-decoded), a host, a port (default 5432), a database (default:
/// the user name) and the query parameters `sslmode` and `host`. A host that is an absolute
/// path, given percent-encoded (`postgres://app@%2Fvar%2Frun%2Fpostgresql/app`) or as
/// `?host=/var/run/postgresql`, is the directory of the server's Unix socket, as with libpq
/// (`/var/run/postgresql/.s.PGSQL.5432`).
///
/// `sslmode`, as libpq spells it: `disable` (plain), `allow` and `prefer` (the default: TLS when the
/// server offers it, without verifying its certificate), `require` (TLS, certificate not
/// verified), `verify-ca` (the chain is verified, not the host name) and `verify-full` (both).
/// Any other value, another scheme, a port outside 1–65535 or a missing host is an error that
/// says which part is wrong; the password never appears in an error or in ``description``.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS (libpq's `sslmode`).
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var user: String
    public var password: String?
    /// A host name or address; `nil` when ``socketDirectory`` is set.
    public var host: String?
    /// The directory of the server's Unix socket, for a host given as an absolute path.
    public var socketDirectory: String?
    public var port: Int
    public var database: String
    public var sslMode: SSLMode

    /// Reads a URL.
    ///
    /// - Throws: ``Sequencer/SequencerError/Code/invalidURL`` naming the part at fault (`scheme`,
    ///   `host`, `port`, `sslmode`, or a query parameter it does not know).
    public init(_ string: String) throws {
        func invalid(_ field: String, _ why: String) -> SequencerError {
            SequencerError(.invalidURL, "\(why) in the database URL \(DatabaseURL.redacting(string)); "
                           + "expected postgres://user:password@host:port/database?sslmode=…", field: field)
        }
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased() else {
            throw invalid("url", "not a URL")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("scheme", "the scheme is '\(scheme)', not postgres or postgresql")
        }
        user = components.user.map { $0.removingPercentEncoding ?? $0 }.flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw invalid("port", "port \(port) is outside 1–65535") }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let databaseName = path.removingPercentEncoding ?? path
        database = databaseName.isEmpty ? user : databaseName

        var mode = SSLMode.prefer
        var queryHost: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let parsed = SSLMode(rawValue: value) else {
                    throw invalid("sslmode", "sslmode '\(item.value ?? "")' is not one of "
                                  + SSLMode.allCases.map(\.rawValue).joined(separator: ", "))
                }
                mode = parsed
            case "host":
                queryHost = item.value
            case "application_name", "connect_timeout":
                continue   // accepted for compatibility with libpq URLs; PostgresNIO sets its own
            default:
                throw invalid(item.name, "the parameter '\(item.name)' is not supported (sslmode, host)")
            }
        }
        sslMode = mode

        var rawHost = queryHost ?? components.percentEncodedHost.map { $0.removingPercentEncoding ?? $0 }
        if let bracketed = rawHost, bracketed.hasPrefix("["), bracketed.hasSuffix("]") {
            rawHost = String(bracketed.dropFirst().dropLast())   // an IPv6 address
        }
        guard let rawHost, !rawHost.isEmpty else { throw invalid("host", "there is no host") }
        if rawHost.hasPrefix("/") {
            socketDirectory = rawHost
            host = nil
        } else {
            host = rawHost
            socketDirectory = nil
        }
    }

    /// The path of the server's socket file, for a socket directory (`<dir>/.s.PGSQL.<port>`).
    public var socketPath: String? {
        socketDirectory.map { ($0.hasSuffix("/") ? String($0.dropLast()) : $0) + "/.s.PGSQL.\(port)" }
    }

    /// PostgresNIO's client settings for this URL.
    public func clientConfiguration() -> PostgresClient.Configuration {
        if let socketPath {
            return PostgresClient.Configuration(unixSocketPath: socketPath, username: user, password: password,
                                                database: database)
        }
        var settings = TLSConfiguration.makeClientConfiguration()
        let tls: PostgresClient.Configuration.TLS
        switch sslMode {
        case .disable:
            tls = .disable
        case .allow, .prefer:
            settings.certificateVerification = .none
            tls = .prefer(settings)
        case .require:
            settings.certificateVerification = .none
            tls = .require(settings)
        case .verifyCA:
            settings.certificateVerification = .noHostnameVerification
            tls = .require(settings)
        case .verifyFull:
            tls = .require(settings)
        }
        return PostgresClient.Configuration(host: host ?? "localhost", port: port, username: user, password: password,
                                            database: database, tls: tls)
    }

    /// The URL with its password replaced by `***`, for logs and errors.
    public var description: String {
        var text = "postgres://\(user)\(password == nil ? "" : ":***")@"
        if let host { text += host.contains(":") ? "[\(host)]" : host } else if let socketDirectory {
            text += socketDirectory.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socketDirectory
        }
        return text + ":\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }

    /// A URL string with any password replaced by `***`.
    static func redacting(_ string: String) -> String {
        // By hand, so a URL that does not parse loses its password too: the user-info part runs
        // from "://" to the last "@" before the path; a ":" in it starts the password.
        guard let start = string.range(of: "://")?.upperBound else { return string }
        let rest = string[start...]
        let authority = rest[..<(rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex)]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return string }
        return String(string[..<authority.index(after: colon)]) + "***" + String(string[at...])
    }
}
