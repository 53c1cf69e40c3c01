extension JSONValue {
    /// The first place in this value that a store cannot keep as given: a NUL character in a
    /// string or an object key (PostgreSQL's `text` and `jsonb` refuse it), or a number JSON
    /// cannot write (NaN, infinity). `nil` when every part can be stored.
    ///
    /// - Parameter base: the path of this value, e.g. `context`; the result extends it
    ///   (`context.profile.tags[2]`).
    /// - Returns: the path and what is wrong there, for an error message.
    package func firstUnstorableValue(at base: String) -> (path: String, problem: String)? {
        switch self {
        case .null, .bool:
            return nil
        case .number(let number):
            return number.isFinite ? nil : (base, "a number JSON cannot hold (\(number))")
        case .string(let string):
            return string.utf8.contains(0) ? (base, "a NUL character in a string") : nil
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let found = element.firstUnstorableValue(at: "\(base)[\(index)]") { return found }
            }
            return nil
        case .object(let members):
            // Sorted, so the same value always reports the same place.
            for key in members.keys.sorted() {
                let path = "\(base).\(key)"
                if key.utf8.contains(0) { return (path, "a NUL character in a key") }
                if let found = members[key]!.firstUnstorableValue(at: path) { return found }
            }
            return nil
        }
    }
}
