import Foundation
import Sequencer
import SequencerTesting
import SequencerTransports
import Testing

@Suite("HTTP transports against a local server")
struct HTTPTransportTests {
    @Test("SMS runner through a Twilio-shaped API: path, basic auth, form fields, idempotency key, provider id")
    func twilioShapedSMS() async throws {
        let server = try await TestServer.http()
        defer { server.stop() }
        let ledger = InMemoryDeliveryLedger()
        let sms = HTTPSMSTransport(configuration: .twilio(accountSID: "AC123", authToken: "t0ken",
                                                          baseURL: "http://127.0.0.1:\(server.port)"))
        let sequencer = makeSequencer([SMSRunner(transport: sms, ledger: ledger)])
        try await sequencer.register(json: """
            {"name": "nudge", "version": 1, "steps": [
              {"id": "nudge", "runner": "SMS", "config": {"from": "+15555550100", "to": "{{phone}}",
                "message": "Need a hand, {{name}}? Reply STOP & we'll stop. ✨"}},
              {"id": "wait", "runner": "WaitForDuration", "config": {"amount": 1, "unit": "days"}}
            ]}
            """)
        let id = try await sequencer.enroll("ada", in: "nudge", context: ["name": "Zoë", "phone": "+1 (555) 555-0123"],
                                            now: t0)

        try await sequencer.tick(now: t0)

        let request = try #require(try server.records(ReceivedRequest.self).first)
        #expect(request.method == "POST")
        #expect(request.path == "/2010-04-01/Accounts/AC123/Messages.json")
        #expect(request.headers["content-type"] == "application/x-www-form-urlencoded")
        #expect(request.headers["authorization"] == "Basic " + Data("AC123:t0ken".utf8).base64EncodedString())
        #expect(request.headers["idempotency-key"] == "\(id.uuidString.lowercased())/nudge/1")
        #expect(request.form == ["To": "+15555550123", "From": "+15555550100",
                                 "Body": "Need a hand, Zoë? Reply STOP & we'll stop. ✨"])
        let record = try #require(ledger.record(for: DeliveryKey(enrollmentID: id, step: "nudge", visit: 1)))
        #expect(record.status == .sent && record.providerID == "SM0001" && record.channel == "sms")
        #expect(try await sequencer.messages(of: id, .advanced).first == "sent SMS to +15555550123 (id SM0001)")
        #expect(try await sequencer.enrollment(id).stepID == "wait")
    }

    struct StatusCase: Sendable, CustomStringConvertible {
        var number: String
        var status: Int?
        var body: String
        var expected: DeliveryOutcome
        var description: String { status.map { "HTTP \($0)" } ?? "HTTP 201" }
    }

    @Test("answers map to outcomes: 2xx sent, 4xx permanent with the provider's message, 408/429/5xx temporary",
          arguments: [
              StatusCase(number: "+15555550201", status: nil, body: "", expected: .sent(providerID: "SM0001")),
              StatusCase(number: "+15555550400", status: 400,
                         body: #"{"code": 21211, "message": "The 'To' number +15555550400 is not valid."}"#,
                         expected: .permanentFailure("HTTP 400 from 127.0.0.1: The 'To' number +15555550400 is not valid.")),
              StatusCase(number: "+15555550404", status: 404, body: "no such account",
                         expected: .permanentFailure("HTTP 404 from 127.0.0.1: no such account")),
              StatusCase(number: "+15555550429", status: 429, body: #"{"error": {"message": "slow down"}}"#,
                         expected: .temporaryFailure("HTTP 429 from 127.0.0.1: slow down")),
              StatusCase(number: "+15555550503", status: 503, body: "",
                         expected: .temporaryFailure("HTTP 503 from 127.0.0.1: (empty body)")),
          ])
    func statusMapping(_ c: StatusCase) async throws {
        let match = "To=%2B" + c.number.dropFirst()
        let server = try await TestServer.http(rules: c.status.map { [(match, $0, c.body)] } ?? [])
        defer { server.stop() }
        let sms = HTTPSMSTransport(configuration: .init(url: "http://127.0.0.1:\(server.port)/messages"))
        let message = SMSMessage(from: "Acme", to: try PhoneNumber(c.number), body: "Hi", idempotencyKey: "k/s/1")

        let outcomes = try await sms.send([message])

        #expect(outcomes == [c.expected])
        #expect(try server.records(ReceivedRequest.self).first?.headers["authorization"] == nil)
    }

    @Test("a batch of many messages: each in its own request, outcomes in order")
    func concurrentBatch() async throws {
        let server = try await TestServer.http(rules: [("To=%2B15555550007", 400, #"{"message": "bad"}"#)])
        defer { server.stop() }
        var configuration = HTTPSMSTransport.Configuration(url: "http://127.0.0.1:\(server.port)/m")
        configuration.maxConcurrentRequests = 3
        let messages = try (0..<12).map {
            SMSMessage(from: "Acme", to: try PhoneNumber("+155555500\($0 < 10 ? "0" : "")\($0)"), body: "n\($0)",
                       idempotencyKey: "key-\($0)")
        }

        let outcomes = try await HTTPSMSTransport(configuration: configuration).send(messages)

        #expect(outcomes.count == 12)
        for (index, outcome) in outcomes.enumerated() {
            if index == 7 {
                #expect(outcome == .permanentFailure("HTTP 400 from 127.0.0.1: bad"))
            } else if case .sent(let id?) = outcome {
                #expect(id.hasPrefix("SM"))
            } else {
                Issue.record("message \(index): \(outcome)")
            }
        }
        let keys = try server.records(ReceivedRequest.self).compactMap { $0.headers["idempotency-key"] }
        #expect(Set(keys) == Set((0..<12).map { "key-\($0)" }))
    }

    @Test("the webhook posts an email as JSON with the key in a header, and keeps the returned id")
    func webhookEmail() async throws {
        let server = try await TestServer.http()
        defer { server.stop() }
        var configuration = WebhookTransport.Configuration(url: "http://127.0.0.1:\(server.port)/send")
        configuration.headers["Authorization"] = "Bearer abc"
        let message = try makeEmail(cc: ["c@example.com"], bcc: ["b@example.com"], subject: "Grüße",
                                    html: "<p>Hi</p>", headers: ["X-Tag": "drip"])

        let outcomes = try await WebhookTransport(configuration: configuration).send([message])

        #expect(outcomes == [.sent(providerID: "msg-1")])
        let request = try #require(try server.records(ReceivedRequest.self).first)
        #expect(request.path == "/send")
        #expect(request.headers["authorization"] == "Bearer abc")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["idempotency-key"] == message.idempotencyKey)
        let json = try #require(request.json)
        #expect(json["channel"] == "email")
        #expect(json["idempotencyKey"]?.stringValue == message.idempotencyKey)
        #expect(json["messageID"]?.stringValue == message.messageID)
        #expect(json["from"] == ["address": "hi@acme.example", "name": "Acme"])
        #expect(json["to"] == [["address": "ada@example.com", "name": "Ada Lovelace"]])
        #expect(json["cc"] == [["address": "c@example.com"]])
        #expect(json["bcc"] == [["address": "b@example.com"]])
        #expect(json["subject"] == "Grüße")
        #expect(json["text"] == "Hi there.")
        #expect(json["html"] == "<p>Hi</p>")
        #expect(json["headers"] == ["X-Tag": "drip"])
        #expect(json["date"] == "2030-03-17T17:46:40Z")
    }

    @Test("the webhook posts a text message as JSON; a refused connection is temporary")
    func webhookSMS() async throws {
        let server = try await TestServer.http()
        var configuration = WebhookTransport.Configuration(url: "http://127.0.0.1:\(server.port)/sms")
        configuration.timeout = .seconds(2)   // AsyncHTTPClient retries a refused connect until the deadline
        let message = SMSMessage(from: "+15555550100", to: try PhoneNumber("+15555550123"), body: "Hi ✨",
                                 idempotencyKey: "e/nudge/3")

        #expect(try await WebhookTransport(configuration: configuration).send([message]) == [.sent(providerID: "msg-1")])
        let request = try #require(try server.records(ReceivedRequest.self).first)
        #expect(request.headers["idempotency-key"] == "e/nudge/3")
        #expect(request.json == ["channel": "sms", "idempotencyKey": "e/nudge/3", "from": "+15555550100",
                                 "to": "+15555550123", "message": "Hi ✨"])

        server.stop()
        let outcomes = try await WebhookTransport(configuration: configuration).send([message])
        guard case .temporaryFailure(let reason) = outcomes.first else {
            Issue.record("expected a temporary failure, got \(outcomes)")
            return
        }
        #expect(reason.hasPrefix("127.0.0.1: "))
    }

    @Test("an invalid rendered number fails only its enrollment, naming the field")
    func invalidRenderedNumber() async throws {
        let transport = RecordingTransport()
        let sequencer = makeSequencer([SMSRunner(transport: transport)])
        try await sequencer.register(json: """
            {"name": "n", "version": 1, "steps": [
              {"id": "text", "runner": "SMS", "config": {"from": "Acme", "to": "{{phone}}", "message": "Hi"}}]}
            """)
        let bad = try await sequencer.enroll("bad", in: "n", context: ["phone": "555-0100"], now: t0)
        let good = try await sequencer.enroll("good", in: "n", context: ["phone": "+15555550123"], now: t0)

        try await sequencer.tick(now: t0)

        let failed = try await sequencer.enrollment(bad)
        #expect(failed.status == .failed)
        #expect(failed.lastError?.contains("field 'config.to'") == true)
        #expect(failed.lastError?.contains("'555-0100' is not an E.164 number") == true)
        #expect(try await sequencer.enrollment(good).status == .completed)
        #expect(transport.textBatches.flatMap { $0 }.map(\.to.e164) == ["+15555550123"])
    }
}
