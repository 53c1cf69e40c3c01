import Foundation
import Sequencer
@testable import SequencerTransports
import Testing

@Suite("MIME encoding")
struct MIMEEncodingTests {
    @Test("encoded words stay within 75 characters and never split a character")
    func encodedWords() throws {
        let text = String(repeating: "Grüße aus Köln 🎉 ", count: 10)
        let words = MIMEEncoding.encodedWords(text)
        #expect(words.count > 1)
        var decoded = Data()
        for word in words {
            #expect(word.count <= 75)
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            let payload = try #require(Data(base64Encoded: String(word.dropFirst(10).dropLast(2))))
            #expect(String(data: payload, encoding: .utf8) != nil)   // each word is whole UTF-8 on its own
            decoded.append(payload)
        }
        #expect(String(decoding: decoded, as: UTF8.self) == text)
    }

    @Test("display names: atoms as they are, specials quoted, non-ASCII encoded", arguments: [
        ("Ada Lovelace", "Ada Lovelace <a@b.example>"),
        ("Lovelace, Ada", "\"Lovelace, Ada\" <a@b.example>"),
        ("Say \"hi\" \\o/", "\"Say \\\"hi\\\" \\\\o/\" <a@b.example>"),
        ("Zoë", "=?UTF-8?B?Wm/Dqw==?= <a@b.example>"),
        ("=?fake?=", "=?UTF-8?B?PT9mYWtlPz0=?= <a@b.example>"),
    ])
    func mailbox(_ name: String, _ expected: String) {
        #expect(MIMEEncoding.mailboxText("a@b.example", displayName: name) == expected)
    }

    @Test("long headers fold at 78 columns; lines stay ASCII and CRLF-separated")
    func folding() throws {
        let recipients = try (0..<12).map { try EmailAddress("Señora Número \($0) de la Compañía <user\($0)@example.com>") }
        let message = EmailMessage(
            from: try EmailAddress("hi@acme.example"), to: recipients,
            subject: String(repeating: "A very long subject line that goes on ", count: 6), text: "x",
            date: Date(timeIntervalSince1970: 0), idempotencyKey: "k")
        let text = message.rfc5322Text(boundary: "b")
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
        #expect(text.unicodeScalars.allSatisfy { $0.isASCII })
        #expect(lines.first == "Date: Thu, 1 Jan 1970 00:00:00 +0000")
        // Unfolding (removing each CRLF before a space) gives back the header as written.
        let subject = try #require(text.components(separatedBy: "\r\nSubject: ").last?
            .components(separatedBy: "\r\nMessage-ID:").first)
        #expect(subject.contains("\r\n "))
        #expect(subject.replacingOccurrences(of: "\r\n ", with: " ") == message.subject)
        let to = try #require(text.components(separatedBy: "\r\nTo: ").last?.components(separatedBy: "\r\nSubject:").first)
        #expect(to.replacingOccurrences(of: "\r\n ", with: " ").components(separatedBy: ", ").count == 12)
    }

    @Test("quoted-printable: = and non-ASCII escaped, trailing blanks kept, soft breaks at 76")
    func quotedPrintable() {
        #expect(MIMEEncoding.quotedPrintable("a=b é") == "a=3Db =C3=A9")
        #expect(MIMEEncoding.quotedPrintable("end \ntab\t\nx") == "end=20\r\ntab=09\r\nx")
        let long = MIMEEncoding.quotedPrintable(String(repeating: "x", count: 200))
        let lines = long.components(separatedBy: "\r\n")
        #expect(lines.dropLast().allSatisfy { $0.count == 76 && $0.hasSuffix("=") })
        #expect(long.replacingOccurrences(of: "=\r\n", with: "") == String(repeating: "x", count: 200))
        #expect(MIMEEncoding.quotedPrintable("abc", endingInSoftBreak: true) == "abc=")
    }

    @Test("mostly non-ASCII text goes base64, mostly ASCII quoted-printable")
    func transferEncodingChoice() {
        #expect(MIMEEncoding.encodeBody("こんにちは", isLastInMessage: true).encoding == .base64)
        #expect(MIMEEncoding.encodeBody("Grüße, Ada", isLastInMessage: true).encoding == .quotedPrintable)
    }
}
