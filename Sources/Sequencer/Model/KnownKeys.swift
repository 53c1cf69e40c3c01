/// Checks the keys of a JSON object against the keys its reader knows, so a typo
/// (`"altnext"`, `"unti"`) is an error that suggests the key meant, instead of a field that
/// silently does nothing.
package enum KnownKeys {
    /// The first key of `object` (in sorted order) that is not in `known`, with the closest known
    /// key if one is close enough to be a likely typo.
    package static func firstUnknown(in object: [String: JSONValue], known: [String]) -> (key: String, suggestion: String?)? {
        for key in object.keys.sorted() where !known.contains(key) {
            return (key, closest(to: key, in: known))
        }
        return nil
    }

    /// `unknown key 'altnext' (did you mean 'altNext'?)`, or with the known keys listed when none is close.
    package static func message(_ key: String, suggestion: String?, known: [String], what: String) -> String {
        if let suggestion { return "unknown key '\(key)' in \(what); did you mean '\(suggestion)'?" }
        return "unknown key '\(key)' in \(what) (known keys: \(known.joined(separator: ", ")))"
    }

    /// The known key nearest to `key` by edit distance (ignoring letter case), if it is within
    /// a third of the key's length (at least 2 edits); `nil` otherwise.
    package static func closest(to key: String, in known: [String]) -> String? {
        let lowered = Array(key.lowercased().unicodeScalars)
        guard lowered.count <= 64 else { return nil }
        var best: (key: String, distance: Int)?
        for candidate in known {
            let distance = editDistance(lowered, Array(candidate.lowercased().unicodeScalars))
            if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        guard let best, best.distance <= max(2, lowered.count / 3) else { return nil }
        return best.key
    }

    /// Levenshtein distance, in O(a × b) time and O(b) space.
    private static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
