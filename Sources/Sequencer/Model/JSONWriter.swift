/// Writes a ``JSONValue`` as compact JSON text: the one JSON writer of the package.
///
/// Iterative, so a value of any depth is written without growing the call stack. Integral
/// numbers that a `Double` holds exactly are written without a fraction (`3`, not `3.0`);
/// NaN and infinities, which JSON cannot hold, are written as `null` (the engine refuses them
/// on input). Strings escape `"`, `\` and control characters only, so the output is valid
/// UTF-8 JSON that PostgreSQL's `jsonb` and every JSON reader accept.
package struct JSONWriter {
    /// Object members in key order (the same value always gives the same bytes), or as stored.
    package var sortedKeys: Bool

    package init(sortedKeys: Bool) { self.sortedKeys = sortedKeys }

    /// The JSON text of `value`.
    package func write(_ value: JSONValue) -> String {
        var out = ""
        write(value, into: &out)
        return out
    }

    private enum Frame {
        case array(ArraySlice<JSONValue>)
        case object(ArraySlice<(key: String, value: JSONValue)>)
    }

    /// Appends the JSON text of `value` to `out`.
    package func write(_ value: JSONValue, into out: inout String) {
        var stack: [Frame] = []
        var next: JSONValue? = value
        while true {
            if let current = next {
                next = nil
                switch current {
                case .null: out += "null"
                case .bool(let b): out += b ? "true" : "false"
                case .number(let n): Self.writeNumber(n, into: &out)
                case .string(let s): Self.writeString(s, into: &out)
                case .array(let elements):
                    out += "["
                    stack.append(.array(elements[...]))
                case .object(let members):
                    out += "{"
                    let ordered = sortedKeys
                        ? members.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
                        : members.map { (key: $0.key, value: $0.value) }
                    stack.append(.object(ordered[...]))
                }
            }
            // Take the next element of the innermost open container, or close it.
            guard let top = stack.popLast() else { return }
            switch top {
            case .array(var rest):
                guard let element = rest.popFirst() else {
                    out += "]"
                    continue
                }
                if rest.count + 1 < Self.count(of: top) { out += "," }
                stack.append(.array(rest))
                next = element
            case .object(var rest):
                guard let member = rest.popFirst() else {
                    out += "}"
                    continue
                }
                if rest.count + 1 < Self.count(of: top) { out += "," }
                Self.writeString(member.key, into: &out)
                out += ":"
                stack.append(.object(rest))
                next = member.value
            }
        }
    }

    /// How many elements the frame's container had: a slice keeps its base's indices, so the
    /// first element sits at `startIndex == 0`.
    private static func count(of frame: Frame) -> Int {
        switch frame {
        case .array(let slice): slice.endIndex
        case .object(let slice): slice.endIndex
        }
    }

    static func writeNumber(_ n: Double, into out: inout String) {
        if !n.isFinite {
            out += "null"
        } else if let integer = n.exactJSONInteger {
            out += String(integer)
        } else {
            out += "\(n)"
        }
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
