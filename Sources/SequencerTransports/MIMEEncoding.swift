import Foundation

/// Header and body encodings for RFC 5322 / MIME messages: RFC 2047 encoded words, folding,
/// quoted-printable and base64 bodies.
enum MIMEEncoding {
    /// Lines a header should stay within (RFC 5322 §2.1.1); 998 is the hard limit.
    static let preferredLineLength = 78
    static let maximumLineLength = 998

    // MARK: Headers

    /// An unstructured header (`Subject`, extra headers): plain ASCII is folded at spaces, anything
    /// else becomes UTF-8 encoded words.
    static func unstructuredHeader(_ name: String, _ value: String) -> String {
        let plain = value.unicodeScalars.allSatisfy { $0.isASCII && ($0.value >= 32 && $0.value < 127) }
        if plain && !value.contains("=?") {
            let folded = fold(name: name, words: value.split(separator: " ", omittingEmptySubsequences: false).map(String.init),
                              separator: " ")
            if folded.split(separator: "\r\n").allSatisfy({ $0.utf8.count <= maximumLineLength }) { return folded }
        }
        return "\(name): " + encodedWords(value).joined(separator: "\r\n ")
    }

    /// An address header: mailboxes separated by commas, folded between them.
    static func addressHeader(_ name: String, _ addresses: [(address: String, displayName: String?)]) -> String {
        let items = addresses.enumerated().map { index, mailbox in
            mailboxText(mailbox.address, displayName: mailbox.displayName) + (index < addresses.count - 1 ? "," : "")
        }
        // Any space may fold, also between the encoded words of a name and before `<address>`.
        let words = items.flatMap { $0.split(separator: " ", omittingEmptySubsequences: false).map(String.init) }
        return fold(name: name, words: words, separator: " ")
    }

    /// `address`, or `name <address>` with the name as an atom, quoted string or encoded words.
    static func mailboxText(_ address: String, displayName: String?) -> String {
        guard let displayName, !displayName.isEmpty else { return address }
        let atomCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ ")
        let phrase: String
        if displayName.allSatisfy({ atomCharacters.contains($0) }) && !displayName.contains("=?")
            && displayName.first != " " && displayName.last != " "
        {
            phrase = displayName
        } else if displayName.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 32 && $0.value < 127 })
            && !displayName.contains("=?")
        {
            phrase = "\"" + displayName.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"") + "\""
        } else {
            phrase = encodedWords(displayName).joined(separator: " ")
        }
        return "\(phrase) <\(address)>"
    }

    /// Joins `name: ` and the words, folding with CRLF + space so lines stay within 78 characters
    /// where a word allows it.
    static func fold(name: String, words: [String], separator: String) -> String {
        var lines: [String] = []
        var line = "\(name):"
        var first = true
        for word in words {
            let candidate = first ? line + " " + word : line + separator + word
            if !first && candidate.utf8.count > preferredLineLength && line.utf8.count > 1 {
                lines.append(line)
                line = " " + word
            } else {
                line = candidate
            }
            first = false
        }
        lines.append(line)
        return lines.joined(separator: "\r\n")
    }

    /// RFC 2047 `B` encoded words of at most 39 UTF-8 bytes each (64 characters with the
    /// wrapping), never splitting a character.
    static func encodedWords(_ text: String) -> [String] {
        var words: [String] = []
        var chunk: [UInt8] = []
        for character in text {
            let bytes = Array(String(character).utf8)
            if !chunk.isEmpty && chunk.count + bytes.count > 39 {
                words.append(encodedWord(chunk))
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append(encodedWord(chunk)) }
        return words
    }

    private static func encodedWord(_ bytes: [UInt8]) -> String {
        "=?UTF-8?B?\(Data(bytes).base64EncodedString())?="
    }

    /// An RFC 5322 date in UTC: `Tue, 17 Mar 2030 17:46:40 +0000`.
    static func date(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int?) -> String { n.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        return "\(days[(c.weekday ?? 1) - 1]), \(c.day ?? 1) \(months[(c.month ?? 1) - 1]) \(c.year ?? 1970) "
            + "\(two(c.hour)):\(two(c.minute)):\(two(c.second)) +0000"
    }

    // MARK: Bodies

    /// How a text body is encoded: quoted-printable when it is mostly ASCII (readable in the
    /// raw message), base64 when non-ASCII bytes dominate (smaller).
    enum TransferEncoding: String {
        case quotedPrintable = "quoted-printable"
        case base64
    }

    /// Encodes a text body with CRLF line endings; lines never exceed 76 characters.
    ///
    /// - Parameter isLastInMessage: the body ends the message, where SMTP adds a line break of its
    ///   own; a quoted-printable body that does not end in one then ends in a soft break (`=`), so
    ///   the text arrives without a line break it did not have.
    static func encodeBody(_ text: String, isLastInMessage: Bool) -> (encoding: TransferEncoding, body: String) {
        let normalized = normalizeLineEndings(text)
        let bytes = Array(normalized.utf8)
        let nonASCII = bytes.lazy.filter { $0 >= 128 }.count
        if nonASCII * 3 > bytes.count {
            let encoded = Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn,
                                                                    .endLineWithLineFeed])
            return (.base64, encoded)
        }
        let softEnd = isLastInMessage && !normalized.isEmpty && !normalized.hasSuffix("\n")
        return (.quotedPrintable, quotedPrintable(normalized, endingInSoftBreak: softEnd))
    }

    /// `\r\n`, `\r` and `\n` all become `\n` (the line separator for encoding).
    static func normalizeLineEndings(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    /// RFC 2045 quoted-printable of `\n`-separated lines, with CRLF hard breaks and `=` soft breaks.
    static func quotedPrintable(_ text: String, endingInSoftBreak: Bool = false) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + text.utf8.count / 8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (lineIndex, line) in lines.enumerated() {
            let bytes = Array(line.utf8)
            var column = 0
            for (i, byte) in bytes.enumerated() {
                let isLast = i == bytes.count - 1
                let isLastOfText = isLast && lineIndex == lines.count - 1
                let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "="))
                    || ((byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")) && !isLast)
                let token: [UInt8] = literal ? [byte] : [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
                // A soft break needs one column for its '='; the last token of a line may use column 76
                // unless a soft break follows it at the end of the text.
                let limit = isLast && !(isLastOfText && endingInSoftBreak) ? 76 : 75
                if column + token.count > limit {
                    out += [UInt8(ascii: "="), 13, 10]
                    column = 0
                }
                out += token
                column += token.count
            }
            if lineIndex < lines.count - 1 { out += [13, 10] }
        }
        if endingInSoftBreak { out.append(UInt8(ascii: "=")) }
        return String(decoding: out, as: UTF8.self)
    }
}
