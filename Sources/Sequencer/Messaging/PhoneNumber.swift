/// A phone number in E.164 form: `+` then 7 to 15 digits, the first not `0` (`+15555550100`).
///
/// Parsing accepts the separators people write (spaces, hyphens, dots, parentheses) and removes
/// them: `"+1 (555) 555-0100"` becomes `+15555550100`. It does not guess a country: a number
/// without the leading `+` and country code is rejected.
///
/// ```swift
/// try PhoneNumber("+44 20 7946 0958").e164   // "+442079460958"
/// ```
public struct PhoneNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number in E.164 form, e.g. `+15555550100`.
    public let e164: String

    /// Parses a number, throwing ``PhoneNumber/ParseError`` that says what is wrong.
    public init(_ text: String) throws {
        let separators: Set<Character> = [" ", "-", ".", "(", ")", "\u{00A0}"]
        let compact = String(text.filter { !separators.contains($0) })
        let quoted = "'\(EmailAddress.printable(text))'"
        guard !compact.isEmpty else { throw ParseError("an empty string is not a phone number") }
        guard compact.hasPrefix("+") else {
            throw ParseError("\(quoted) is not an E.164 number: it must start with '+' and the country code")
        }
        let digits = compact.dropFirst()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw ParseError("\(quoted) is not an E.164 number: only digits may follow the '+'")
        }
        guard (7...15).contains(digits.count) else {
            throw ParseError("\(quoted) is not an E.164 number: it has \(digits.count) digits (7 to 15 expected)")
        }
        guard digits.first != "0" else {
            throw ParseError("\(quoted) is not an E.164 number: a country code never starts with 0")
        }
        self.e164 = compact
    }

    /// The E.164 form.
    public var description: String { e164 }

    /// Whether `text` is an alphanumeric sender ID as SMS providers accept in `from` in many
    /// countries: 1 to 11 ASCII letters, digits or spaces, with at least one letter (`"Acme"`).
    public static func isAlphanumericSenderID(_ text: String) -> Bool {
        (1...11).contains(text.count) && text.contains(where: { $0.isASCII && $0.isLetter })
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == " ") }
    }

    /// Why a string is not an acceptable phone number.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, in a sentence that quotes the input.
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
