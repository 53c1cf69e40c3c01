public import Foundation

/// One email, ready for a transport: addresses parsed and validated, templates rendered.
///
/// ``EmailRunner`` builds one per enrollment from the step's config. A transport renders it in
/// whatever form its provider takes (RFC 5322 for SMTP, JSON for a webhook).
public struct EmailMessage: Sendable, Hashable {
    /// The sender (`From`), also the SMTP envelope sender.
    public var from: EmailAddress
    /// Primary recipients; at least one.
    public var to: [EmailAddress]
    /// Copy recipients, listed in the `Cc` header.
    public var cc: [EmailAddress]
    /// Blind copy recipients: they receive the message but never appear in its headers.
    public var bcc: [EmailAddress]
    /// Where replies go (`Reply-To`), when not to ``from``.
    public var replyTo: [EmailAddress]
    /// The subject, plain text on one line.
    public var subject: String
    /// The plain-text body, if any.
    public var text: String?
    /// The HTML body, if any. With ``text`` too, the message is `multipart/alternative`.
    public var html: String?
    /// Extra headers (e.g. `List-Unsubscribe`), by name; values are plain text on one line.
    public var headers: [String: String]
    /// The `Date` of the message.
    public var date: Date
    /// Names this send: ``RunnerInput/visitKey``, `"<enrollment>/<step>/<visit>"`. HTTP transports
    /// send it as an idempotency header so a provider can drop a repeat.
    public var idempotencyKey: String
    /// The `Message-ID`, with angle brackets: `<…@from-domain>`. Derived from ``idempotencyKey`` by
    /// default, so a repeated send of one visit carries the same id.
    public var messageID: String

    /// Creates a message; `messageID` defaults to one derived from `idempotencyKey` and the
    /// domain of `from`.
    public init(
        from: EmailAddress, to: [EmailAddress], cc: [EmailAddress] = [], bcc: [EmailAddress] = [],
        replyTo: [EmailAddress] = [], subject: String, text: String? = nil, html: String? = nil,
        headers: [String: String] = [:], date: Date, idempotencyKey: String, messageID: String? = nil
    ) {
        self.from = from
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.replyTo = replyTo
        self.subject = subject
        self.text = text
        self.html = html
        self.headers = headers
        self.date = date
        self.idempotencyKey = idempotencyKey
        self.messageID = messageID ?? Self.messageID(forKey: idempotencyKey, domain: from.domain)
    }

    /// Every envelope recipient: `to`, then `cc`, then `bcc`, each address once (compared
    /// case-insensitively).
    public var recipients: [EmailAddress] {
        var seen = Set<String>()
        return (to + cc + bcc).filter { seen.insert($0.address.lowercased()).inserted }
    }

    /// A `Message-ID` that is the same for every send of one key. A visit key
    /// (`<enrollment>/<step>/<visit>`) becomes `<enrollment-hex>.<visit>.<step>@domain`; any other
    /// key is kept as is. Characters not safe in a message id become `=XX` either way.
    static func messageID(forKey key: String, domain: String) -> String {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        var local: String
        if parts.count >= 3, let enrollment = UUID(uuidString: String(parts[0])), let visit = Int(parts.last!) {
            let step = parts[1..<(parts.count - 1)].joined(separator: "/")
            let hex = enrollment.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            local = "\(hex).\(visit).\(safe(step))"
        } else {
            local = safe(key)
        }
        if local.isEmpty || local.count > 100 {
            local = String(local.prefix(60)) + "." + fnv1a64Hex(key)
        }
        return "<\(local)@\(domain)>"
    }

    /// Letters, digits, `-` and `_` as they are; every other byte as `=XX`.
    private static func safe(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "=" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// FNV-1a 64-bit hash in hex: stable across runs and platforms, unlike `Hasher`.
    static func fnv1a64Hex(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16).leftPadded(to: 16)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
