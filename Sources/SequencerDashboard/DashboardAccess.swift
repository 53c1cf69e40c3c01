import Crypto
import HTTPTypes
import Sequencer
import Foundation
public import Hummingbird

/// Who may open a ``SequencerDashboard``. There is no default: a host either checks each request
/// or says, by name, that it serves the dashboard without authentication for local use.
public struct DashboardAccess<Context: RequestContext>: Sendable {
    enum Decision: Sendable {
        case allowed(operatorName: String?)
        case refused(String)
    }

    let authorize: @Sendable (Request, Context) async throws -> Decision

    /// Serves a request when `check` returns the operator's name (shown in the header and
    /// recorded as the actor of the retries they start); `nil` answers 403 Forbidden. To ask for
    /// credentials instead, throw an `HTTPError` (401 with a `WWW-Authenticate` header). Runs for
    /// every page and every form, after the host's own middleware: a check can read what an
    /// authentication middleware put in the context.
    ///
    /// ```swift
    /// let access = DashboardAccess<BasicRequestContext>.authorized { request, _ in
    ///     request.headers[.authorization] == "Bearer \(token)" ? "ops" : nil
    /// }
    /// ```
    public static func authorized(by check: @escaping @Sendable (Request, Context) async throws -> String?) -> Self {
        Self { request, context in
            if let name = try await check(request, context) { return .allowed(operatorName: name) }
            return .refused("You are not allowed to open this dashboard.")
        }
    }

    /// No authentication, for a dashboard on a developer's machine: it answers only requests
    /// addressed to `localhost`, `127.0.0.1` or `[::1]` (by their `Host` header), so a service that
    /// is reachable from elsewhere by mistake does not hand its dashboard out. Never use it behind
    /// a proxy that rewrites `Host`.
    public static var noAuthenticationForLocalUse: Self {
        Self { request, _ in
            // HTTP/1: the Host header becomes the authority; a Host field still present (a test client) comes first.
            let host = request.headers[HTTPField.Name("Host")!] ?? request.head.authority ?? ""
            return Self.isLoopback(host)
                ? .allowed(operatorName: nil)
                : .refused("This dashboard runs without authentication and answers only on localhost.")
        }
    }

    /// Whether an authority (`host[:port]`) names this machine's loopback interface.
    static func isLoopback(_ authority: String) -> Bool {
        var host = authority.lowercased()
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        return host == "localhost" || host == "127.0.0.1" || host == "::1"
    }
}

/// The tokens the dashboard's forms carry against cross-site request forgery: an issue time and
/// an HMAC-SHA256 of it and the operator's name under the dashboard's key. A form is accepted by
/// the operator it was rendered for, within the lifetime, without any state on the server.
struct CSRFTokens: Sendable {
    let key: SymmetricKey
    let lifetime: TimeInterval

    init(key: [UInt8]?, lifetime: Duration) {
        self.key = key.map { SymmetricKey(data: $0) } ?? SymmetricKey(size: .bits256)
        self.lifetime = lifetime.timeInterval
    }

    func token(for operatorName: String?, now: Date) -> String {
        let issued = String(Int64(now.timeIntervalSince1970))
        return issued + "." + mac(issued, operatorName).map { String(format: "%02x", $0) }.joined()
    }

    func verify(_ token: String?, for operatorName: String?, now: Date) -> Bool {
        guard let token, token.utf8.count <= 100 else { return false }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let issued = Int64(parts[0]), let code = [UInt8](hexadecimal: parts[1]), code.count == 32 else {
            return false
        }
        let age = now.timeIntervalSince1970 - TimeInterval(issued)
        guard age >= -300, age <= lifetime else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: message(String(parts[0]), operatorName), using: key)
    }

    private func message(_ issued: String, _ operatorName: String?) -> Data {
        Data("sequencer-dashboard-csrf\u{0}\(issued)\u{0}\(operatorName ?? "")".utf8)
    }

    private func mac(_ issued: String, _ operatorName: String?) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message(issued, operatorName), using: key))
    }
}
