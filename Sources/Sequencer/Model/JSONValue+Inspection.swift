import Foundation

extension JSONValue {
    /// What ``inspect(at:maximumDepth:maximumBytes:)`` found wrong with a value.
    package struct Problem: Sendable, Hashable {
        package enum Kind: Sendable, Hashable {
            /// Nested deeper than allowed.
            case tooDeep
            /// Larger than allowed, as compact JSON.
            case tooLarge
            /// Something no store can keep: a NUL character, a number JSON cannot hold.
            case unstorable
        }

        package var kind: Kind
        /// Where: `context.profile.tags[2]`; the value's own path for ``Kind/tooLarge``.
        package var path: String
        /// What is wrong, for an error message.
        package var description: String
    }

    /// The first problem that keeps this value from being stored, walking it without recursion
    /// (so a value of any depth, even one built in Swift, is inspected safely).
    ///
    /// Checks, in one pass: nesting deeper than `maximumDepth`; a size over `maximumBytes` as
    /// compact JSON (counted as the writer writes it, escapes aside); a NUL character in a
    /// string or key (PostgreSQL's `text` and `jsonb` refuse it); a number JSON cannot write
    /// (NaN, infinity). The common case, no problem, costs one walk without allocating paths;
    /// when there is one, a second walk visits object members in key order, so the same value
    /// always reports the same place.
    ///
    /// - Parameter base: the path of this value, e.g. `context`; problems extend it.
    package func inspect(at base: String, maximumDepth: Int = JSONValue.maximumDepth, maximumBytes: Int = .max)
        -> Problem?
    {
        guard walk(maximumDepth: maximumDepth, maximumBytes: maximumBytes, ordered: false).problem != nil else { return nil }
        let found = walk(maximumDepth: maximumDepth, maximumBytes: maximumBytes, ordered: true)
        guard let (problem, path) = found.problem else { return nil }
        var described = base
        for label in path { described += label }
        if problem.kind == .tooLarge { described = base }
        return Problem(kind: problem.kind, path: described, description: problem.description)
    }

    /// The size of this value as compact JSON, escapes aside (what ``inspect(at:maximumDepth:maximumBytes:)``
    /// compares with its limit); `nil` when it is nested deeper than `maximumDepth`.
    package func compactSize(maximumDepth: Int = JSONValue.maximumDepth) -> Int? {
        let result = walk(maximumDepth: maximumDepth, maximumBytes: .max, ordered: false)
        if let (problem, _) = result.problem, problem.kind == .tooDeep { return nil }
        return result.bytes
    }

    /// One depth-first walk. With `ordered`, object members in key order, and the path (as
    /// `.key` and `[index]` labels) of the problem found. Also the bytes counted so far.
    private func walk(maximumDepth: Int, maximumBytes: Int, ordered: Bool) -> (problem: (Problem, [String])?, bytes: Int) {
        struct Frame {
            var label: String
            var elements: ArraySlice<JSONValue>
            var members: ArraySlice<(key: String, value: JSONValue)>
        }
        var bytes = 0
        var stack: [Frame] = []
        var next: (label: String, value: JSONValue)? = ("", self)
        func path(_ last: String) -> [String] { Array(stack.map(\.label).dropFirst()) + [last] }
        while true {
            if let (label, value) = next {
                next = nil
                switch value {
                case .null: bytes += 4
                case .bool(let b): bytes += b ? 4 : 5
                case .number(let n):
                    guard n.isFinite else {
                        return ((Problem(kind: .unstorable, path: "", description: "a number JSON cannot hold (\(n))"), path(label)), bytes)
                    }
                    bytes += 8
                case .string(let s):
                    bytes += s.utf8.count + 2
                    // Size first: counting is free, scanning a 50 MB string for NUL is not.
                    if bytes <= maximumBytes, s.containsNUL {
                        return ((Problem(kind: .unstorable, path: "", description: "a NUL character in a string"), path(label)), bytes)
                    }
                case .array(let elements):
                    guard stack.count < maximumDepth else {
                        return ((Problem(kind: .tooDeep, path: "", description: "nesting deeper than \(maximumDepth) levels"),
                                path(label)), bytes)
                    }
                    bytes += 2 + max(0, elements.count - 1)
                    stack.append(Frame(label: label, elements: elements[...], members: []))
                case .object(let members):
                    guard stack.count < maximumDepth else {
                        return ((Problem(kind: .tooDeep, path: "", description: "nesting deeper than \(maximumDepth) levels"),
                                path(label)), bytes)
                    }
                    bytes += 2 + max(0, members.count - 1)
                    let list = ordered ? members.sorted { $0.key < $1.key } : Array(members)
                    for member in list {
                        if member.key.containsNUL {
                            return ((Problem(kind: .unstorable, path: "", description: "a NUL character in a key"),
                                    path(label) + [".\(member.key)"]), bytes)
                        }
                        bytes += member.key.utf8.count + 3
                    }
                    stack.append(Frame(label: label, elements: [], members: list[...]))
                }
                if bytes > maximumBytes {
                    return ((Problem(kind: .tooLarge, path: "", description: "larger than \(maximumBytes) bytes as JSON"), []), bytes)
                }
            }
            guard var top = stack.popLast() else { return (nil, bytes) }
            if let element = top.elements.popFirst() {
                let index = top.elements.startIndex - 1
                stack.append(top)
                next = (ordered ? "[\(index)]" : "", element)
            } else if let member = top.members.popFirst() {
                stack.append(top)
                next = (ordered ? ".\(member.key)" : "", member.value)
            }
        }
    }
}

extension String {
    /// Whether the string holds a NUL character (U+0000), which PostgreSQL's `text` and `jsonb` refuse.
    package var containsNUL: Bool {
        var copy = self
        return copy.withUTF8 { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return false }
            return memchr(base, 0, bytes.count) != nil
        }
    }
}
