import Foundation
import Sequencer
import SequencerTransports
import Testing

@Suite("SMTP connections: kept between batches, pipelined, several at once")
struct SMTPConnectionTests {
    @Test("a connection is kept for the next batch; idleTimeout zero and closeIdleConnections close it")
    func keptBetweenBatches() async throws {
        let server = try await TestServer.smtp()
        defer { server.stop() }
        var configuration = try server.smtpConfiguration()
        configuration.maxConcurrentConnections = 1
        let transport = SMTPTransport(configuration: configuration)

        _ = try await transport.send([try makeEmail(subject: "1")])
        _ = try await transport.send([try makeEmail(subject: "2")])
        transport.closeIdleConnections()
        _ = try await transport.send([try makeEmail(subject: "3")])
        var ports = try server.mail().map(\.clientPort)
        #expect(ports.count == 3)
        #expect(ports[0] == ports[1] && ports[1] != ports[2])

        configuration.idleTimeout = .zero
        let unkept = SMTPTransport(configuration: configuration)
        _ = try await unkept.send([try makeEmail(subject: "4")])
        _ = try await unkept.send([try makeEmail(subject: "5")])
        ports = try server.mail().map(\.clientPort)
        #expect(ports.count == 5 && ports[3] != ports[4])
        transport.closeIdleConnections()
    }

    @Test("a kept connection the server dropped unseen is replaced; no message fails or arrives twice")
    func droppedConnectionReplaced() async throws {
        let server = try await TestServer.smtp(.init(dropAfter: 1))
        defer { server.stop() }
        var configuration = try server.smtpConfiguration()
        configuration.maxConcurrentConnections = 1
        let transport = SMTPTransport(configuration: configuration)
        let first = try makeEmail(subject: "before")
        let second = try makeEmail(subject: "after")

        #expect(try await transport.send([first]) == [.sent(providerID: first.messageID)])
        // The kept connection looks open; the server drops it at the next MAIL FROM.
        #expect(try await transport.send([second]) == [.sent(providerID: second.messageID)])

        let mail = try server.mail()
        #expect(mail.map { $0.header("Subject") } == ["before", "after"])
        #expect(mail.count == 2 && mail[0].clientPort != mail[1].clientPort)
        transport.closeIdleConnections()
    }

    @Test("the envelope is pipelined when the server offers PIPELINING, and not otherwise",
          arguments: [(offered: true, used: true), (offered: true, used: false), (offered: false, used: true)])
    func pipelining(_ c: (offered: Bool, used: Bool)) async throws {
        let server = try await TestServer.smtp(.init(pipelining: c.offered))
        defer { server.stop() }
        var configuration = try server.smtpConfiguration()
        configuration.usesPipelining = c.used
        configuration.maxConcurrentConnections = 1
        let transport = SMTPTransport(configuration: configuration)
        let single = try makeEmail(to: ["one@example.com"], subject: "single")
        let several = try makeEmail(to: ["one@example.com", "two@example.com"], cc: ["three@example.com"], subject: "several")

        let outcomes = try await transport.send([single, several])

        #expect(outcomes == [.sent(providerID: single.messageID), .sent(providerID: several.messageID)])
        let mail = try server.mail()
        #expect(mail.map(\.rcptTos) == [["one@example.com"], ["one@example.com", "two@example.com", "three@example.com"]])
        #expect(mail.map { $0.pipelined ?? false } == [c.offered && c.used, c.offered && c.used])
        #expect(mail.map { $0.body("text/plain") } == ["Hi there.", "Hi there."])
        transport.closeIdleConnections()
    }

    @Test("pipelined: a refused recipient still sends nothing, with one recipient or several",
          arguments: [["bounce@example.com"], ["ok@example.com", "bounce@example.com"]])
    func pipelinedRefusal(_ recipients: [String]) async throws {
        let server = try await TestServer.smtp(.init(rejects: ["bounce@example.com": 550], pipelining: true))
        defer { server.stop() }
        var configuration = try server.smtpConfiguration()
        configuration.maxConcurrentConnections = 1
        let transport = SMTPTransport(configuration: configuration)
        let refused = try makeEmail(to: recipients, subject: "Refused")
        let fine = try makeEmail(to: ["fine@example.com"], subject: "Fine")

        let outcomes = try await transport.send([refused, fine, refused])

        for outcome in [outcomes[0], outcomes[2]] {
            guard case .permanentFailure(let reason) = outcome else {
                Issue.record("expected a permanent failure, got \(outcome)")
                continue
            }
            #expect(reason.contains("recipient <bounce@example.com> refused: 550"))
        }
        #expect(outcomes[1] == .sent(providerID: fine.messageID))
        let mail = try server.mail()
        #expect(mail.map { $0.header("Subject") } == ["Fine"])
        #expect(mail.first?.pipelined == true)
        transport.closeIdleConnections()
    }

    @Test("a batch spreads over maxConcurrentConnections connections; outcomes stay in order")
    func concurrentConnections() async throws {
        let server = try await TestServer.smtp(.init(pipelining: true))
        defer { server.stop() }
        var configuration = try server.smtpConfiguration()
        configuration.maxConcurrentConnections = 3
        let transport = SMTPTransport(configuration: configuration)
        let messages = try (0..<12).map { try makeEmail(to: ["user\($0)@example.com"], subject: "Message \($0)") }

        var reported: [Int] = []
        var outcomes = [DeliveryOutcome?](repeating: nil, count: messages.count)
        try await transport.send(messages) { index, outcome in
            reported.append(index)
            outcomes[index] = outcome
        }

        #expect(reported.sorted() == Array(0..<12))
        #expect(outcomes == messages.map { .sent(providerID: $0.messageID) })
        let mail = try server.mail()
        #expect(mail.map { $0.header("Subject") ?? "" }.sorted() == messages.map(\.subject).sorted())
        #expect(Set(mail.compactMap(\.clientPort)).count == 3)
        transport.closeIdleConnections()
    }
}
