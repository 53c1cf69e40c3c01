import Foundation
import Sequencer
import SequencerTesting
import Testing

@Suite("Message configs, addresses and numbers")
struct ValidationTests {
    struct ConfigCase: Sendable, CustomStringConvertible {
        var runner: String
        var config: String
        /// The field the register error must name; `nil` when the config is valid.
        var field: String?
        var description: String { "\(runner) \(config)" }
    }

    static let configCases: [ConfigCase] = [
        // Email: valid ones, templated values left for run time.
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["{{email}}"], "subject": "Hi", "text": "x"}"#),
        .init(runner: "Email", config: #"{"from": "{{sender}}", "to": "{{email}}", "subject": "Hi", "html": "<p>x</p>"}"#),
        .init(runner: "Email", config: #"{"to": ["Ada <ada@example.com>"], "cc": [], "subject": "", "text": "", "headers": {"List-Unsubscribe": "<{{url}}>"}}"#,
              field: "config.from"),
        // Email: each mistake named by its field.
        .init(runner: "Email", config: #"{"from": "not an address", "to": ["a@b.example"], "subject": "x", "text": "x"}"#,
              field: "config.from"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "subject": "x", "text": "x"}"#, field: "config.to"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": [], "subject": "x", "text": "x"}"#, field: "config.to"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": null, "subject": "x", "text": "x"}"#, field: "config.to"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["ok@b.example", "bad@"], "subject": "x", "text": "x"}"#,
              field: "config.to.1"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": "nobody", "subject": "x", "text": "x"}"#,
              field: "config.to"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "cc": [42], "subject": "x", "text": "x"}"#,
              field: "config.cc.0"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "bcc": ["a@localhost"], "subject": "x", "text": "x"}"#,
              field: "config.bcc.0"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "replyTo": [""], "subject": "x", "text": "x"}"#,
              field: "config.replyTo.0"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "text": "x"}"#, field: "config.subject"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "subject": 3, "text": "x"}"#,
              field: "config.subject"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "subject": "x"}"#, field: "config.text"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "subjet": "x", "text": "x"}"#,
              field: "config.subjet"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "subject": "x", "text": "x", "headers": {"Bcc": "x@y.example"}}"#,
              field: "config.headers.Bcc"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "subject": "x", "text": "x", "headers": {"X-Count": 1}}"#,
              field: "config.headers.X-Count"),
        .init(runner: "Email", config: #"{"from": "a@b.example", "to": ["a@b.example"], "subject": "x", "text": "x", "headers": {"Bad Name": "v"}}"#,
              field: "config.headers.Bad Name"),
        // SMS.
        .init(runner: "SMS", config: #"{"from": "+15555550100", "to": "{{phone}}", "message": "Hi {{name}}"}"#),
        .init(runner: "SMS", config: #"{"from": "Acme", "to": "+1 (555) 555-0100", "message": "Hi"}"#),
        .init(runner: "SMS", config: #"{"from": "+15555550100", "to": "555-0100", "message": "Hi"}"#, field: "config.to"),
        .init(runner: "SMS", config: #"{"from": "+15555550100", "to": "+0123456789", "message": "Hi"}"#, field: "config.to"),
        .init(runner: "SMS", config: #"{"from": "+15555550100", "to": ["+15555550123"], "message": "Hi"}"#, field: "config.to"),
        .init(runner: "SMS", config: #"{"from": "+1555", "to": "+15555550123", "message": "Hi"}"#, field: "config.from"),
        .init(runner: "SMS", config: #"{"from": "Acme Corporation", "to": "+15555550123", "message": "Hi"}"#,
              field: "config.from"),
        .init(runner: "SMS", config: #"{"to": "+15555550123", "message": "Hi"}"#, field: "config.from"),
        .init(runner: "SMS", config: #"{"from": "+15555550100", "to": "+15555550123", "message": ""}"#, field: "config.message"),
        .init(runner: "SMS", config: #"{"from": "+15555550100", "to": "+15555550123"}"#, field: "config.message"),
        .init(runner: "SMS", config: #"{"from": "+15555550100", "to": "+15555550123", "body": "Hi"}"#, field: "config.body"),
    ]

    @Test("register checks literal values and names the field at fault", arguments: configCases)
    func registerValidation(_ c: ConfigCase) async throws {
        let transport = RecordingTransport()
        let sequencer = makeSequencer([EmailRunner(transport: transport), SMSRunner(transport: transport)])
        let json = #"{"name": "s", "version": 1, "steps": [{"id": "send", "runner": "\#(c.runner)", "config": \#(c.config)}]}"#
        if let field = c.field {
            let error = await #expect(throws: SequencerError.self) { try await sequencer.register(json: json) }
            #expect(error?.code == .invalidConfig)
            #expect(error?.step == "send")
            #expect(error?.field == field)
        } else {
            try await sequencer.register(json: json)
        }
    }

    @Test("a runner's defaultFrom stands in for a missing from")
    func defaultFrom() async throws {
        let transport = RecordingTransport()
        let sequencer = makeSequencer([
            EmailRunner(transport: transport, defaultFrom: try EmailAddress("Acme <hi@acme.example>")),
            SMSRunner(transport: transport, defaultFrom: "Acme"),
        ])
        try await sequencer.register(json: """
            {"name": "s", "version": 1, "steps": [
              {"id": "mail", "runner": "Email", "config": {"to": ["{{email}}"], "subject": "Hi", "text": "x"}},
              {"id": "text", "runner": "SMS", "config": {"to": "{{phone}}", "message": "Hi"}}
            ]}
            """)
        _ = try await sequencer.enroll("a", in: "s", context: ["email": "a@example.com", "phone": "+44 20 7946 0958"], now: t0)
        try await sequencer.tick(now: t0)
        #expect(transport.emailBatches.first?.first?.from.description == "Acme <hi@acme.example>")
        #expect(transport.textBatches.first?.first?.from == "Acme")
        #expect(transport.textBatches.first?.first?.to.e164 == "+442079460958")
    }

    @Test("valid email addresses", arguments: [
        ("ada@example.com", "ada@example.com", nil),
        ("Ada Lovelace <ada@example.com>", "ada@example.com", "Ada Lovelace"),
        ("\"Lovelace, Ada\" <ada@example.com>", "ada@example.com", "Lovelace, Ada"),
        ("  Zoë <zoe+news@mail.example.co.uk>  ", "zoe+news@mail.example.co.uk", "Zoë"),
        ("<o'brien@xn--bcher-kva.example>", "o'brien@xn--bcher-kva.example", nil),
        ("first.last-x_y@sub-domain.example.io", "first.last-x_y@sub-domain.example.io", nil),
    ] as [(String, String, String?)])
    func validAddresses(_ text: String, _ address: String, _ name: String?) throws {
        let parsed = try EmailAddress(text)
        #expect(parsed.address == address)
        #expect(parsed.displayName == name)
    }

    @Test("invalid email addresses say why", arguments: [
        ("", "empty"), ("ada", "no '@'"), ("@example.com", "nothing before"), ("ada@", "no domain"),
        ("ada@localhost", "no domain with a dot"), ("a..b@example.com", "local part"), (".a@example.com", "local part"),
        ("ada@-example.com", "invalid domain"), ("ada@example.123", "numeric top-level"), ("zoë@example.com", "punycode"),
        ("ada@bücher.example", "punycode"), ("ada@example.com\r\nBcc: x@y.example", "line break"),
        ("Ada <ada@example.com", "local part"), ("a b@example.com", "local part"),
        (String(repeating: "a", count: 65) + "@example.com", "longer than 64"),
    ])
    func invalidAddresses(_ text: String, _ reason: String) {
        #expect {
            try EmailAddress(text)
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("E.164 numbers", arguments: [
        ("+15555550100", "+15555550100"), ("+1 (555) 555-0100", "+15555550100"), ("+44 20 7946 0958", "+442079460958"),
        ("+290 1234", "+2901234"), ("+123456789012345", "+123456789012345"),
    ])
    func validNumbers(_ text: String, _ e164: String) throws {
        #expect(try PhoneNumber(text).e164 == e164)
    }

    @Test("not E.164", arguments: ["", "5555550100", "+0123456789", "+1555", "+1234567890123456", "+1 555 CALL NOW",
                                   "tel:+15555550100", "++15555550100"])
    func invalidNumbers(_ text: String) {
        #expect(throws: PhoneNumber.ParseError.self) { try PhoneNumber(text) }
    }
}
