public import Sequencer

extension EmailMessage {
    /// The message as RFC 5322 text with MIME parts: what `SMTPTransport` sends after `DATA`, and
    /// what a provider's raw-message API (e.g. Amazon SES `SendRawEmail`) takes.
    ///
    /// - Headers: `Date`, `From`, `To`, `Cc`, `Reply-To`, `Subject`, `Message-ID`, the extra
    ///   ``EmailMessage/headers``, `MIME-Version`, `Content-Type`, `Content-Transfer-Encoding`.
    ///   **`Bcc` is never written.** Non-ASCII subjects, header values and display names become
    ///   RFC 2047 UTF-8 encoded words; headers are folded to 78 columns where they have spaces.
    /// - Body: `text/plain` or `text/html` in UTF-8, quoted-printable (base64 when most bytes are
    ///   not ASCII), lines of at most 76 characters; both make a `multipart/alternative` with the
    ///   text first.
    /// - Lines end in CRLF and the text is pure ASCII. Dot-stuffing is left to the SMTP layer.
    ///
    /// - Parameter boundary: the multipart boundary; `nil` for a random one that cannot occur in
    ///   quoted-printable or base64 text (it starts with `=_`).
    public func rfc5322Text(boundary: String? = nil) -> String {
        let boundary = boundary ?? "=_sequencer_" + randomHex(24)
        var lines: [String] = []
        lines.append("Date: " + MIMEEncoding.date(date))
        lines.append(MIMEEncoding.addressHeader("From", [(from.address, from.displayName)]))
        lines.append(MIMEEncoding.addressHeader("To", to.map { ($0.address, $0.displayName) }))
        if !cc.isEmpty { lines.append(MIMEEncoding.addressHeader("Cc", cc.map { ($0.address, $0.displayName) })) }
        if !replyTo.isEmpty {
            lines.append(MIMEEncoding.addressHeader("Reply-To", replyTo.map { ($0.address, $0.displayName) }))
        }
        lines.append(MIMEEncoding.unstructuredHeader("Subject", subject))
        lines.append("Message-ID: " + messageID)
        for name in headers.keys.sorted() {
            lines.append(MIMEEncoding.unstructuredHeader(name, headers[name]!))
        }
        lines.append("MIME-Version: 1.0")

        switch (text, html) {
        case let (text?, html?):
            lines.append("Content-Type: multipart/alternative;\r\n boundary=\"\(boundary)\"")
            lines.append("")
            lines.append("--" + boundary)
            lines.append(contentsOf: Self.part(text, subtype: "plain", isLastInMessage: false))
            lines.append("--" + boundary)
            lines.append(contentsOf: Self.part(html, subtype: "html", isLastInMessage: false))
            lines.append("--" + boundary + "--")
            lines.append("")
        case let (text, html):
            let single = Self.part(html ?? text ?? "", subtype: html == nil ? "plain" : "html", isLastInMessage: true)
            lines.append(contentsOf: single)
        }
        return lines.joined(separator: "\r\n")
    }

    /// A part's headers, blank line and encoded body.
    private static func part(_ body: String, subtype: String, isLastInMessage: Bool) -> [String] {
        let (encoding, encoded) = MIMEEncoding.encodeBody(body, isLastInMessage: isLastInMessage)
        return [
            "Content-Type: text/\(subtype); charset=utf-8",
            "Content-Transfer-Encoding: \(encoding.rawValue)",
            "",
            encoded,
        ]
    }
}

/// `count` random lowercase hex digits.
func randomHex(_ count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return String((0..<count).map { _ in "0123456789abcdef".randomElement(using: &generator)! })
}
