import Foundation
import NIOCore
import Sequencer
@testable import SequencerTransports
import Testing

/// A message for transport tests; every address parsed, a fresh idempotency key.
func makeEmail(
    from: String = "Acme <hi@acme.example>", to: [String] = ["Ada Lovelace <ada@example.com>"], cc: [String] = [],
    bcc: [String] = [], replyTo: [String] = [], subject: String = "Hello", text: String? = "Hi there.",
    html: String? = nil, headers: [String: String] = [:]
) throws -> EmailMessage {
    EmailMessage(
        from: try EmailAddress(from), to: try to.map(EmailAddress.init), cc: try cc.map(EmailAddress.init),
        bcc: try bcc.map(EmailAddress.init), replyTo: try replyTo.map(EmailAddress.init), subject: subject, text: text,
        html: html, headers: headers, date: Date(timeIntervalSince1970: 1_900_000_000),
        idempotencyKey: "\(UUID().uuidString.lowercased())/welcome/1")
}

@Suite("SMTP transport against aiosmtpd")
struct SMTPTransportTests {
    struct SecurityCase: Sendable, CustomStringConvertible {
        var server: SMTPServerOptions.Mode
        var security: SMTPTransport.Configuration.Security
        var method: SMTPTransport.Configuration.AuthenticationMethod?
        var expectedMechanism: String?
        var description: String { "\(security) auth \(method.map(\.rawValue) ?? "none")" }
    }

    static let securityCases: [SecurityCase] = [
        .init(server: .plain, security: .plain, method: nil, expectedMechanism: nil),
        .init(server: .plain, security: .plain, method: .plain, expectedMechanism: "PLAIN"),
        .init(server: .starttls, security: .startTLS, method: nil, expectedMechanism: nil),
        .init(server: .starttls, security: .startTLS, method: .automatic, expectedMechanism: "PLAIN"),
        .init(server: .starttls, security: .startTLS, method: .login, expectedMechanism: "LOGIN"),
        .init(server: .tls, security: .implicitTLS, method: .plain, expectedMechanism: "PLAIN"),
        .init(server: .tls, security: .implicitTLS, method: .login, expectedMechanism: "LOGIN"),
    ]

    @Test("delivers over plain, STARTTLS and implicit TLS, with AUTH PLAIN and LOGIN", arguments: securityCases)
    func deliversWithEverySecurityMode(_ c: SecurityCase) async throws {
        let server = try await TestServer.smtp(.init(mode: c.server, auth: c.method == nil ? nil : ("mailer", "s3cret")))
        defer { server.stop() }
        var configuration = try server.smtpConfiguration(
            c.security, credentials: c.method == nil ? nil : .init(username: "mailer", password: "s3cret"))
        configuration.authenticationMethod = c.method ?? .automatic
        configuration.allowsAuthenticationWithoutTLS = c.security == .plain
        let message = try makeEmail()

        let outcomes = try await SMTPTransport(configuration: configuration).send([message])

        #expect(outcomes == [.sent(providerID: message.messageID)])
        let received = try #require(try server.mail().first)
        #expect(received.tls == (c.security != .plain))
        if c.security != .plain { #expect(received.tlsVersion?.hasPrefix("TLSv1.") == true) }
        #expect(received.authMechanism == c.expectedMechanism)
        #expect(received.authUser == (c.method == nil ? nil : "mailer"))
        #expect(received.mailFrom == "hi@acme.example")
        #expect(received.rcptTos == ["ada@example.com"])
    }

    @Test("headers: recipients, Bcc only in the envelope, encoded subject and names, Date, Message-ID, MIME")
    func headers() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let message = try makeEmail(
            from: "Zoë Österberg <zoe@acme.example>",
            to: ["Ada Lovelace <ada@example.com>", "\"Hopper, Grace\" <grace@example.com>"],
            cc: ["Ćelia <celia@example.com>"], bcc: ["secret@example.com"], replyTo: ["support@acme.example"],
            subject: "Willkommen, Zoë — ваш пробный период начался 🎉",
            headers: ["List-Unsubscribe": "<https://acme.example/u/42>", "X-Campaign": "Größe"])

        let outcomes = try await SMTPTransport(configuration: try server.smtpConfiguration()).send([message])

        #expect(outcomes == [.sent(providerID: message.messageID)])
        let mail = try #require(try server.mail().first)
        #expect(mail.rcptTos == ["ada@example.com", "grace@example.com", "celia@example.com", "secret@example.com"])
        #expect(!mail.raw.lowercased().contains("secret@example.com"))
        #expect(mail.header("Bcc") == nil)
        #expect(mail.header("Subject") == "Willkommen, Zoë — ваш пробный период начался 🎉")
        #expect(mail.header("From") == "Zoë Österberg <zoe@acme.example>")
        #expect(mail.header("To") == "Ada Lovelace <ada@example.com>, \"Hopper, Grace\" <grace@example.com>")
        #expect(mail.header("Cc") == "Ćelia <celia@example.com>")
        #expect(mail.header("Reply-To") == "support@acme.example")
        #expect(mail.header("Date") == "Sun, 17 Mar 2030 17:46:40 +0000")
        #expect(mail.header("MIME-Version") == "1.0")
        #expect(mail.header("List-Unsubscribe") == "<https://acme.example/u/42>")
        #expect(mail.header("X-Campaign") == "Größe")
        let messageID = try #require(mail.header("Message-ID"))
        #expect(messageID == message.messageID)
        #expect(messageID.hasPrefix("<") && messageID.hasSuffix("@acme.example>"))
        // Raw form: ASCII only, encoded words for the non-ASCII header text, CRLF everywhere.
        #expect(mail.raw.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(mail.rawHeaders.contains("Subject: =?UTF-8?B?"))
        #expect(!mail.raw.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(mail.raw.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
    }

    @Test("the same visit key gives the same Message-ID; a different key a different one")
    func messageIDFollowsTheKey() throws {
        let a = try makeEmail()
        var b = a
        b.subject = "Changed"
        let c = try makeEmail()
        #expect(EmailMessage(from: a.from, to: a.to, subject: "x", date: a.date, idempotencyKey: a.idempotencyKey)
            .messageID == a.messageID)
        #expect(b.messageID == a.messageID)
        #expect(c.messageID != a.messageID)
    }

    struct BodyCase: Sendable, CustomStringConvertible {
        var name: String
        var text: String?
        var html: String?
        var contentType: String
        var description: String { name }
    }

    static let bodyCases: [BodyCase] = [
        .init(name: "text only", text: "Hello Ada,\nwelcome aboard.\n", html: nil, contentType: "text/plain"),
        .init(name: "html only", text: nil, html: "<p>Hello <b>Ada</b> &amp; co</p>", contentType: "text/html"),
        .init(name: "text and html", text: "Hello", html: "<p>Hello</p>", contentType: "multipart/alternative"),
        .init(name: "dot lines", text: ".\n.hidden\n..two dots\nend.\n.", html: nil, contentType: "text/plain"),
        .init(name: "a 2000-character line", text: String(repeating: "abcdefghij", count: 200), html: nil,
              contentType: "text/plain"),
        .init(name: "mostly non-ASCII", text: "こんにちは、エイダさん。\nようこそ！", html: nil, contentType: "text/plain"),
        .init(name: "trailing spaces, tabs, = and CRLF", text: "a = b  \r\ntab\t\r\nx=3D\n", html: nil,
              contentType: "text/plain"),
        .init(name: "empty text", text: "", html: nil, contentType: "text/plain"),
    ]

    @Test("bodies arrive exactly, whatever they hold", arguments: bodyCases)
    func bodies(_ c: BodyCase) async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let message = try makeEmail(text: c.text, html: c.html)

        let outcomes = try await SMTPTransport(configuration: try server.smtpConfiguration()).send([message])

        #expect(outcomes == [.sent(providerID: message.messageID)])
        let mail = try #require(try server.mail().first)
        #expect(mail.parsed.contentType == c.contentType)
        let crlf = { (s: String) in s.replacingOccurrences(of: "\r\n", with: "\n") }
        if let text = c.text { #expect(mail.body("text/plain") == crlf(text)) }
        if let html = c.html { #expect(mail.body("text/html") == html) }
        if c.text != nil && c.html != nil {
            #expect(mail.parsed.parts.map(\.contentType) == ["text/plain", "text/html"])
        }
        #expect(mail.parsed.parts.allSatisfy { $0.charset == "utf-8" })
        #expect(mail.raw.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
    }

    @Test("lines starting with a dot are stuffed on the wire and arrive intact")
    func dotStuffing() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        let message = try makeEmail(text: ".\n.leading dot\n..")

        _ = try await SMTPTransport(configuration: try server.smtpConfiguration()).send([message])

        let mail = try #require(try server.mail().first)
        #expect(mail.raw.contains("\r\n.\r\n.leading dot\r\n..=\r\n"))
        #expect(mail.body("text/plain") == ".\n.leading dot\n..")
        let wire = String(buffer: SMTPTransport.dataBuffer("a\r\n.b\r\n..c\r\n."))
        #expect(wire == "a\r\n..b\r\n...c\r\n..\r\n.\r\n")
    }

    @Test("one connection carries a batch in order; maxMessagesPerConnection opens another")
    func connectionReuse() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        var configuration = try server.smtpConfiguration()
        configuration.maxConcurrentConnections = 1
        let messages = try (0..<5).map { try makeEmail(to: ["user\($0)@example.com"], subject: "Message \($0)") }

        let outcomes = try await SMTPTransport(configuration: configuration).send(Array(messages.prefix(3)))
        #expect(outcomes == messages.prefix(3).map { .sent(providerID: $0.messageID) })
        #expect(Set(try server.mail().map(\.clientPort)).count == 1)

        configuration.maxMessagesPerConnection = 2
        _ = try await SMTPTransport(configuration: configuration).send(Array(messages.suffix(2)) + [messages[0]])
        let ports = try server.mail().suffix(3).map(\.clientPort)
        #expect(ports[0] == ports[1] && ports[1] != ports[2])
        #expect(try server.mail().map { $0.header("Subject") ?? "" }
            == ["Message 0", "Message 1", "Message 2", "Message 3", "Message 4", "Message 0"])
    }

    @Test("checkConnection succeeds on a good configuration and names a wrong password")
    func checkConnection() async throws {
        let server = try await TestServer.smtp(.init(mode: .starttls, auth: ("mailer", "s3cret")))
        defer { server.stop() }
        try await SMTPTransport(configuration: try server.smtpConfiguration(
            .startTLS, credentials: .init(username: "mailer", password: "s3cret"))).checkConnection()

        let wrong = SMTPTransport(configuration: try server.smtpConfiguration(
            .startTLS, credentials: .init(username: "mailer", password: "nope")))
        let error = await #expect(throws: SMTPTransportError.self) { try await wrong.checkConnection() }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.message.contains("535") == true)
    }
}
