import Foundation
import NIOSSL
import Sequencer
import SequencerTransports
import Testing

@Suite("SMTP transport failures")
struct SMTPFailureTests {
    struct RefusalCase: Sendable, CustomStringConvertible {
        var code: Int
        var permanent: Bool
        var description: String { "RCPT answered \(code)" }
    }

    @Test("a refused recipient fails that message with the server's reply; the batch goes on",
          arguments: [RefusalCase(code: 550, permanent: true), RefusalCase(code: 451, permanent: false)])
    func refusedRecipient(_ c: RefusalCase) async throws {
        let server = try await TestServer.smtp(.init(rejects: ["bounce@example.com": c.code]))
        defer { server.stop() }
        let refused = try makeEmail(to: ["ok@example.com"], cc: ["bounce@example.com"], subject: "Refused")
        let fine = try makeEmail(to: ["fine@example.com"], subject: "Fine")

        let outcomes = try await SMTPTransport(configuration: try server.smtpConfiguration()).send([refused, fine])

        switch outcomes[0] {
        case .permanentFailure(let reason) where c.permanent, .temporaryFailure(let reason) where !c.permanent:
            #expect(reason.contains("<bounce@example.com>"))
            #expect(reason.contains("\(c.code) \(c.code / 100).1.1 <bounce@example.com>"))
        default:
            Issue.record("unexpected outcome \(outcomes[0])")
        }
        #expect(outcomes[1] == .sent(providerID: fine.messageID))
        // All or nothing: the accepted recipient of the refused message got nothing either.
        let mail = try server.mail()
        #expect(mail.map(\.rcptTos) == [["fine@example.com"]])
        #expect(mail.map { $0.header("Subject") } == ["Fine"])
    }

    @Test("a server that never answers times out as a temporary failure")
    func timeout() async throws {
        let server = try await TestServer.smtp(.init(mode: .silent))
        defer { server.stop() }
        var configuration = try server.smtpConfiguration()
        configuration.timeouts.connect = .milliseconds(300)
        let clock = ContinuousClock()
        let started = clock.now

        let outcomes = try await SMTPTransport(configuration: configuration).send([try makeEmail(), try makeEmail()])

        // The 300 ms timeout applied, not the 60 s default (a loose bound: tests run in parallel on a
        // busy machine, and one second here or there proves nothing).
        #expect(clock.now - started < .seconds(30))
        for outcome in outcomes {
            guard case .temporaryFailure(let reason) = outcome else {
                Issue.record("expected a temporary failure, got \(outcome)")
                continue
            }
            #expect(reason.contains("timeout"))
            #expect(reason.contains("greeting"))
        }
    }

    @Test("a refused connection is a temporary failure")
    func connectionRefused() async throws {
        let server = try await TestServer.smtp()
        let port = server.port
        server.stop()
        var configuration = SMTPTransport.Configuration(host: "127.0.0.1", port: port, security: .plain)
        configuration.timeouts.connect = .seconds(2)
        let outcomes = try await SMTPTransport(configuration: configuration).send([try makeEmail()])
        guard case .temporaryFailure = outcomes.first else {
            Issue.record("expected a temporary failure, got \(outcomes)")
            return
        }
    }

    struct SessionCase: Sendable, CustomStringConvertible {
        var name: String
        var server: SMTPServerOptions.Mode
        var security: SMTPTransport.Configuration.Security
        var credentials: Bool
        var trustTestCertificate: Bool
        var expected: String
        var description: String { name }
    }

    static let sessionCases: [SessionCase] = [
        .init(name: "STARTTLS required but not offered", server: .plain, security: .startTLS, credentials: false,
              trustTestCertificate: true, expected: "startTLSUnavailable"),
        .init(name: "credentials over plain text refused", server: .plain, security: .plain, credentials: true,
              trustTestCertificate: false, expected: "insecureAuthentication"),
        .init(name: "untrusted certificate (STARTTLS)", server: .starttls, security: .startTLS, credentials: false,
              trustTestCertificate: false, expected: "handshake"),
        .init(name: "untrusted certificate (implicit TLS)", server: .tls, security: .implicitTLS, credentials: false,
              trustTestCertificate: false, expected: "handshake"),
    ]

    @Test("session problems fail every message temporarily, naming the problem; nothing is sent",
          arguments: sessionCases)
    func sessionProblems(_ c: SessionCase) async throws {
        let server = try await TestServer.smtp(.init(mode: c.server))
        defer { server.stop() }
        var configuration = try server.smtpConfiguration(
            c.security, credentials: c.credentials ? .init(username: "u", password: "p") : nil)
        if !c.trustTestCertificate { configuration.tlsConfiguration = .makeClientConfiguration() }

        let outcomes = try await SMTPTransport(configuration: configuration).send([try makeEmail(), try makeEmail()])

        #expect(outcomes.count == 2)
        for outcome in outcomes {
            guard case .temporaryFailure(let reason) = outcome else {
                Issue.record("expected a temporary failure, got \(outcome)")
                continue
            }
            #expect(reason.lowercased().contains(c.expected.lowercased()), "\(reason)")
        }
        #expect(try server.mail().isEmpty)
    }

    struct URLCase: Sendable, CustomStringConvertible {
        var url: String
        var host: String
        var port: Int
        var security: SMTPTransport.Configuration.Security
        var username: String?
        var password: String?
        var method: SMTPTransport.Configuration.AuthenticationMethod
        var description: String { url }
    }

    @Test("configurations read from URLs", arguments: [
        URLCase(url: "smtp://127.0.0.1:2525", host: "127.0.0.1", port: 2525, security: .plain, method: .automatic),
        URLCase(url: "smtp+starttls://apikey:s3cr%40t@smtp.example.com", host: "smtp.example.com", port: 587,
                security: .startTLS, username: "apikey", password: "s3cr@t", method: .automatic),
        URLCase(url: "smtps://u:p@mail.example.com?auth=login", host: "mail.example.com", port: 465,
                security: .implicitTLS, username: "u", password: "p", method: .login),
        URLCase(url: "SMTP://[::1]:25", host: "::1", port: 25, security: .plain, method: .automatic),
    ])
    func configurationFromURL(_ c: URLCase) throws {
        let configuration = try SMTPTransport.Configuration(url: c.url)
        #expect(configuration.host == c.host)
        #expect(configuration.port == c.port)
        #expect(configuration.security == c.security)
        #expect(configuration.credentials?.username == c.username)
        #expect(configuration.credentials?.password == c.password)
        #expect(configuration.authenticationMethod == c.method)
    }

    @Test("bad URLs are refused with a reason", arguments: [
        "http://example.com", "smtp://", "not a url", "smtp://host?auth=cram-md5", "smtp://host?tls=1",
    ])
    func badURL(_ url: String) {
        #expect(throws: SMTPTransportError.self) { try SMTPTransport.Configuration(url: url) }
    }
}
