/// Reads JSON text (RFC 8259) into a ``JSONValue``: the one JSON parser of the package.
///
/// Iterative, with an explicit stack, so no input can overflow the call stack; nesting deeper
/// than ``JSONValue/maximumDepth`` is refused. Errors say what was wrong and where, as a line
/// and column (both from 1; the column counts Unicode scalars). Numbers are JSON's grammar
/// exactly (no `NaN`, `Infinity`, hex or leading `+`), and one too large for a `Double` is an
/// error rather than infinity. A key that appears twice in one object keeps its last value.
package struct JSONReader {
    /// Why a document was refused.
    package struct Failure: Error, Sendable {
        package var message: String
        package var line: Int
        package var column: Int
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private let maximumDepth: Int

    private init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    /// Parses a whole document: one value, surrounded by optional whitespace.
    package static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int = JSONValue.maximumDepth) throws(Failure)
        -> JSONValue
    {
        var reader = JSONReader(bytes: bytes, maximumDepth: maximumDepth)
        let value = try reader.document()
        return value
    }

    /// Parses a whole document held in a string.
    package static func parse(_ text: String, maximumDepth: Int = JSONValue.maximumDepth) throws(Failure) -> JSONValue {
        var text = text
        let result: Result<JSONValue, Failure> = text.withUTF8 { bytes in
            do throws(Failure) {
                return .success(try parse(bytes, maximumDepth: maximumDepth))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    // MARK: Structure

    private enum Container {
        case array([JSONValue])
        case object([String: JSONValue], key: String)
    }

    private mutating func document() throws(Failure) -> JSONValue {
        var stack: [Container] = []
        var value: JSONValue
        skipWhitespace()
        // Each turn reads one value (opening containers as it meets them), then closes every
        // container that ends after it.
        parsing: while true {
            guard index < bytes.count else {
                throw failure(stack.isEmpty ? "the document is empty" : "the document ends inside \(describe(stack.last!))")
            }
            switch bytes[index] {
            case UInt8(ascii: "["):
                try checkDepth(stack.count + 1)
                index += 1
                skipWhitespace()
                if peek(UInt8(ascii: "]")) {
                    index += 1
                    value = .array([])
                } else {
                    stack.append(.array([]))
                    continue parsing
                }
            case UInt8(ascii: "{"):
                try checkDepth(stack.count + 1)
                index += 1
                skipWhitespace()
                if peek(UInt8(ascii: "}")) {
                    index += 1
                    value = .object([:])
                } else {
                    let key = try memberKey()
                    stack.append(.object([:], key: key))
                    continue parsing
                }
            case UInt8(ascii: "\""):
                value = .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try number())
            default:
                throw failure("unexpected \(describeByte()) where a value should start")
            }

            // Close containers.
            while true {
                skipWhitespace()
                guard let container = stack.popLast() else {
                    guard index == bytes.count else {
                        throw failure("unexpected \(describeByte()) after the end of the document")
                    }
                    return value
                }
                // `consume`: the popped container's array or dictionary has one owner, so adding
                // to it does not copy it (a copy per element made a 10,000-step definition take
                // seconds to read: quadratic).
                switch consume container {
                case .array(var elements):
                    elements.append(value)
                    if peek(UInt8(ascii: ",")) {
                        index += 1
                        skipWhitespace()
                        stack.append(.array(elements))
                        continue parsing
                    }
                    guard peek(UInt8(ascii: "]")) else {
                        throw failure("expected ',' or ']' in an array, found \(describeByte())")
                    }
                    index += 1
                    value = .array(elements)
                case .object(var members, let key):
                    members[key] = value
                    if peek(UInt8(ascii: ",")) {
                        index += 1
                        skipWhitespace()
                        let next = try memberKey()
                        stack.append(.object(members, key: next))
                        continue parsing
                    }
                    guard peek(UInt8(ascii: "}")) else {
                        throw failure("expected ',' or '}' in an object, found \(describeByte())")
                    }
                    index += 1
                    value = .object(members)
                }
            }
        }
    }

    /// `"key"` and its `:`, leaving the reader at the member's value.
    private mutating func memberKey() throws(Failure) -> String {
        guard peek(UInt8(ascii: "\"")) else {
            throw failure("expected a member name in double quotes, found \(describeByte())")
        }
        let key = try string()
        skipWhitespace()
        guard peek(UInt8(ascii: ":")) else { throw failure("expected ':' after the member name \"\(key)\"") }
        index += 1
        skipWhitespace()
        return key
    }

    private func checkDepth(_ depth: Int) throws(Failure) {
        guard depth <= maximumDepth else {
            throw failure("nesting is deeper than \(maximumDepth) levels")
        }
    }

    private func describe(_ container: Container) -> String {
        switch container {
        case .array: "an array"
        case .object: "an object"
        }
    }

    // MARK: Tokens

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private func peek(_ byte: UInt8) -> Bool {
        index < bytes.count && bytes[index] == byte
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count,
              (0..<count).allSatisfy({ bytes[index + $0] == word.utf8Start[$0] })
        else { throw failure("unexpected \(describeByte()) where a value should start") }
        index += count
    }

    private mutating func string() throws(Failure) -> String {
        let open = index
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
            if bytes[index] < 0x20 { throw failure("a control character in a string must be escaped") }
            index += 1
        }
        guard index < bytes.count else { throw failure("a string is not closed", at: open) }
        var result = try utf8(start..<index)
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return result
            }
            if byte == UInt8(ascii: "\\") {
                let escapeStart = index
                index += 1
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): result += "\""
                case UInt8(ascii: "\\"): result += "\\"
                case UInt8(ascii: "/"): result += "/"
                case UInt8(ascii: "b"): result += "\u{08}"
                case UInt8(ascii: "f"): result += "\u{0C}"
                case UInt8(ascii: "n"): result += "\n"
                case UInt8(ascii: "r"): result += "\r"
                case UInt8(ascii: "t"): result += "\t"
                case UInt8(ascii: "u"):
                    var code = try hex4(escapeStart)
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                              bytes[index + 1] == UInt8(ascii: "u")
                        else { throw failure("a \\u escape of a high surrogate needs its low surrogate", at: escapeStart) }
                        index += 2
                        let low = try hex4(escapeStart)
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw failure("a \\u escape of a high surrogate needs its low surrogate", at: escapeStart)
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else {
                        throw failure("a \\u escape names a lone surrogate", at: escapeStart)
                    }
                    result.unicodeScalars.append(scalar)
                default:
                    throw failure("unknown escape '\\\(Character(Unicode.Scalar(escape)))' in a string", at: escapeStart)
                }
                continue
            }
            let runStart = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                if bytes[index] < 0x20 { throw failure("a control character in a string must be escaped") }
                index += 1
            }
            result += try utf8(runStart..<index)
        }
        throw failure("a string is not closed", at: open)
    }

    /// The bytes as a string; invalid UTF-8 is refused rather than repaired.
    private func utf8(_ range: Range<Int>) throws(Failure) -> String {
        let slice = UnsafeBufferPointer(rebasing: bytes[range])
        if slice.allSatisfy({ $0 < 0x80 }) { return String(decoding: slice, as: UTF8.self) }
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw failure("a string is not valid UTF-8", at: range.lowerBound)
        }
        return text
    }

    private mutating func hex4(_ escapeStart: Int) throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("a \\u escape needs four hex digits", at: escapeStart) }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape needs four hex digits", at: escapeStart)
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as a finite `Double`.
    private mutating func number() throws(Failure) -> Double {
        let start = index
        func digits() -> Int {
            let from = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - from
        }
        if peek(UInt8(ascii: "-")) { index += 1 }
        let integerStart = index
        let integerDigits = digits()
        guard integerDigits > 0 else { throw failure("a number needs digits", at: start) }
        if integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0") {
            throw failure("a number cannot have a leading zero", at: start)
        }
        if peek(UInt8(ascii: ".")) {
            index += 1
            guard digits() > 0 else { throw failure("a number needs digits after its decimal point", at: start) }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            index += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { index += 1 }
            guard digits() > 0 else { throw failure("a number needs digits in its exponent", at: start) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let number = Double(text), number.isFinite else {
            throw failure("the number \(text) is too large", at: start)
        }
        return number
    }

    // MARK: Errors

    private func describeByte() -> String {
        guard index < bytes.count else { return "the end of the document" }
        let byte = bytes[index]
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    private func failure(_ message: String, at position: Int? = nil) -> Failure {
        let offset = min(position ?? index, bytes.count)
        var line = 1
        var column = 1
        var i = 0
        while i < offset {
            let byte = bytes[i]
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1  // count scalars: skip UTF-8 continuation bytes
            }
            i += 1
        }
        return Failure(message: message, line: line, column: column)
    }
}
