import Foundation

/// An email address with an optional display name: `ada@example.com` or `Ada Lovelace <ada@example.com>`.
///
/// Parsing is strict about the address and lenient about the name, so that what passes can be
/// sent over plain SMTP without surprises:
///
/// - the address is `local@domain`, at most 254 characters, ASCII only (no SMTPUTF8: write an
///   internationalised domain in its punycode form, `xn--…`);
/// - the local part is a dot-atom (letters, digits, the backtick and `!#$%&'*+-/=?^_{|}~`, dots not first,
///   last or doubled), at most 64 characters; quoted local parts are not accepted;
/// - the domain has at least two labels of letters, digits and hyphens (no leading or trailing
///   hyphen, at most 63 characters each), and a top-level label that is not all digits;
/// - the display name may hold any Unicode text except control characters; it is written in
///   headers as an RFC 2047 encoded word when it is not plain ASCII. Surrounding double quotes
///   are removed (`"Lovelace, Ada" <ada@example.com>`).
///
/// ```swift
/// let from = try EmailAddress("Ada Lovelace <ada@example.com>")
/// from.address       // "ada@example.com"
/// from.displayName   // "Ada Lovelace"
/// ```
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address itself, `local@domain`.
    public var address: String
    /// The name shown next to the address, if any.
    public var displayName: String?

    /// Parses `Name <local@domain>` or a bare `local@domain`, throwing ``EmailAddress/ParseError``
    /// that says what is wrong.
    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw ParseError("an empty string is not an email address") }
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw ParseError("'\(Self.printable(trimmed))' contains a line break or control character")
        }
        if trimmed.hasSuffix(">"), let open = trimmed.lastIndex(of: "<") {
            let inner = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)])
            var name = trimmed[..<open].trimmingCharacters(in: .whitespaces)
            if name.count >= 2, name.hasPrefix("\""), name.hasSuffix("\"") {
                name = String(name.dropFirst().dropLast())
                    .replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
            }
            try Self.validate(address: inner.trimmingCharacters(in: .whitespaces), in: trimmed)
            self.address = inner.trimmingCharacters(in: .whitespaces)
            self.displayName = name.isEmpty ? nil : name
        } else {
            try Self.validate(address: trimmed, in: trimmed)
            self.address = trimmed
            self.displayName = nil
        }
    }

    /// An address with a separately given display name; the address is validated as in ``init(_:)``.
    public init(address: String, displayName: String?) throws {
        try Self.validate(address: address, in: address)
        if let displayName, displayName.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw ParseError("the display name contains a line break or control character")
        }
        self.address = address
        self.displayName = displayName?.isEmpty == true ? nil : displayName
    }

    /// The domain part, after the `@`, e.g. `example.com`.
    public var domain: String { String(address[address.index(after: address.lastIndex(of: "@")!)...]) }

    /// `Name <address>` when there is a name, else the bare address (not header-encoded).
    public var description: String { displayName.map { "\($0) <\(address)>" } ?? address }

    /// Why a string is not an acceptable email address.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, in a sentence that quotes the input.
        public var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: Validation

    private static let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
    private static let labelCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")

    private static func validate(address: String, in original: String) throws {
        let quoted = "'\(printable(original))'"
        guard let at = address.lastIndex(of: "@") else {
            throw ParseError("\(quoted) is not an email address (no '@')")
        }
        let local = address[..<at]
        let domain = address[address.index(after: at)...]
        guard address.unicodeScalars.allSatisfy(\.isASCII) else {
            throw ParseError("\(quoted) has non-ASCII characters in the address; "
                             + "write the domain in its punycode form (xn--…)")
        }
        guard address.utf8.count <= 254 else { throw ParseError("\(quoted) is longer than 254 characters") }
        guard !local.isEmpty else { throw ParseError("\(quoted) has nothing before the '@'") }
        guard local.utf8.count <= 64 else { throw ParseError("\(quoted) has a local part longer than 64 characters") }
        let atoms = local.split(separator: ".", omittingEmptySubsequences: false)
        guard atoms.allSatisfy({ !$0.isEmpty && $0.allSatisfy { atext.contains($0) } }) else {
            throw ParseError("\(quoted) has a local part with characters or dots not allowed in an address")
        }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else {
            throw ParseError("\(quoted) has no domain with a dot after the '@'")
        }
        for label in labels {
            guard !label.isEmpty, label.utf8.count <= 63, label.allSatisfy({ labelCharacters.contains($0) }),
                  label.first != "-", label.last != "-"
            else { throw ParseError("\(quoted) has an invalid domain '\(domain)'") }
        }
        guard !labels.last!.allSatisfy(\.isNumber) else {
            throw ParseError("\(quoted) has an invalid domain '\(domain)' (numeric top-level label)")
        }
    }

    /// The text with control characters made visible, for error messages.
    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.properties.generalCategory == .control {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
