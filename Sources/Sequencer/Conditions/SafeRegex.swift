import Foundation

/// The regular expressions of `matches` conditions, matched in linear time.
///
/// A backtracking engine (ICU's `NSRegularExpression`, Swift's `Regex`) takes exponential time
/// on patterns like `(a+)+$` against a string of 30 `a`s and a `b`: one enrollment's context
/// could hold a tick for seconds, and a longer string for ever. This engine compiles the pattern
/// to a small program and runs it as a Pike VM (Thompson's construction, as RE2 and Rust's
/// `regex` do): every position of the input is visited once, with at most one thread per
/// instruction, so the time is at most (input length × program size), whatever the pattern.
///
/// **Syntax** (the common subset of ICU, PCRE and RE2): literals; `.`; classes `[a-z0-9_]`,
/// `[^…]`; escapes `\d \D \w \W \s \S \b \B \t \n \r`, `\p{L}`/`\P{Lu}` (Unicode general
/// categories) and escaped punctuation; anchors `^ $`; groups `(…)`, `(?:…)`, `(?<name>…)`;
/// alternation `|`; quantifiers `* + ? {n} {n,} {n,m}` and their lazy forms (`*?`, which
/// match the same strings here); flags `(?i)` (ignore case), `(?s)` (`.` matches line breaks),
/// `(?m)` (`^`/`$` at line breaks), alone or scoped `(?i:…)`. **Not supported**, because no
/// linear-time engine can run them: backreferences (`\1`), lookaround (`(?=…)`, `(?<!…)`),
/// atomic groups and possessive quantifiers; a pattern using them is refused when the sequence
/// is registered.
///
/// **Bounds.** A pattern is at most ``Limits/maximumPatternBytes`` long and compiles to at most
/// ``maximumProgramSize`` instructions (`a{1000}` counts 1,000); a match stops after
/// ``stepBudget`` steps and then counts as no match (a 50-instruction pattern reaches it only
/// on a string of about a million characters).
struct SafeRegex: Sendable {
    /// The most instructions a pattern may compile to.
    static let maximumProgramSize = 5_000
    /// The most thread steps one match may take before it gives up (as no match).
    static let stepBudget = 50_000_000

    /// Why a pattern is refused, in a sentence.
    struct SyntaxError: Error, CustomStringConvertible {
        var description: String
    }

    fileprivate enum Instruction: Sendable {
        case scalar(Unicode.Scalar, ignoreCase: Bool)
        case any(dotAll: Bool)
        case set(CharacterSet, negated: Bool, ignoreCase: Bool)
        case split(Int, Int)
        case jump(Int)
        case assertStart(multiline: Bool)
        case assertEnd(multiline: Bool)
        case wordBoundary(Bool)
        case match
    }

    fileprivate let program: [Instruction]

    /// Compiles `pattern`, or throws a ``SyntaxError`` saying what is wrong or unsupported.
    init(_ pattern: String) throws(SyntaxError) {
        guard pattern.utf8.count <= Limits.maximumPatternBytes else {
            throw SyntaxError(description: "the pattern is longer than \(Limits.maximumPatternBytes) bytes")
        }
        var parser = Parser(Array(pattern.unicodeScalars))
        let tree = try parser.parse()
        var compiler = Compiler()
        try compiler.emit(tree)
        compiler.program.append(.match)
        program = compiler.program
    }

    /// Whether the pattern matches anywhere in `text`. Linear in `text`; `false` if the match
    /// would take more than ``stepBudget`` steps.
    func matches(_ text: String) -> Bool {
        matchResult(text) ?? false
    }

    /// Whether the pattern matches anywhere in `text`, or `nil` when the step budget ran out.
    func matchResult(_ text: String) -> Bool? {
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        var pending: [Int] = []
        pending.reserveCapacity(program.count)
        var steps = 0
        var previous: Unicode.Scalar? = nil
        var iterator = text.unicodeScalars.makeIterator()
        var scalar = iterator.next()
        while true {
            // A new thread at every position: a match may start anywhere.
            if add(0, to: &current, previous: previous, current: scalar, pending: &pending, steps: &steps) { return true }
            if steps > Self.stepBudget { return nil }
            guard let character = scalar else { return false }
            let following = iterator.next()
            next.clear()
            for pc in current.dense {
                steps += 1
                let advances: Bool
                switch program[pc] {
                case .scalar(let expected, let ignoreCase):
                    advances = character == expected || (ignoreCase && Self.folded(character) == expected)
                case .any(let dotAll):
                    advances = dotAll || !Self.isLineBreak(character)
                case .set(let set, let negated, let ignoreCase):
                    var contained = set.contains(character)
                    if !contained && ignoreCase {
                        contained = Self.caseVariants(character).contains { set.contains($0) }
                    }
                    advances = contained != negated
                default:
                    advances = false
                }
                if advances, add(pc + 1, to: &next, previous: character, current: following, pending: &pending, steps: &steps) {
                    return true
                }
            }
            if steps > Self.stepBudget { return nil }
            swap(&current, &next)
            previous = character
            scalar = following
        }
    }

    /// Adds a thread at `pc`, following jumps, splits and assertions at once (the position lies
    /// between `previous` and `current`); returns `true` when it reaches `match`.
    private func add(_ start: Int, to list: inout ThreadList, previous: Unicode.Scalar?, current: Unicode.Scalar?,
                     pending: inout [Int], steps: inout Int) -> Bool {
        pending.removeAll(keepingCapacity: true)
        pending.append(start)
        while let pc = pending.popLast() {
            guard list.insert(pc) else { continue }
            steps += 1
            switch program[pc] {
            case .match:
                return true
            case .jump(let target):
                pending.append(target)
            case .split(let first, let second):
                pending.append(second)
                pending.append(first)
            case .assertStart(let multiline):
                if previous == nil || (multiline && Self.isLineBreak(previous!)) { pending.append(pc + 1) }
            case .assertEnd(let multiline):
                if current == nil || (multiline && Self.isLineBreak(current!)) { pending.append(pc + 1) }
            case .wordBoundary(let expected):
                let boundary = Self.isWord(previous) != Self.isWord(current)
                if boundary == expected { pending.append(pc + 1) }
            case .scalar, .any, .set:
                break  // consumes a character: stays in the list for the next step
            }
        }
        return false
    }

    // MARK: Characters

    private static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\n" || scalar == "\r" || scalar == "\u{2028}" || scalar == "\u{2029}" || scalar == "\u{85}"
    }

    private static func isWord(_ scalar: Unicode.Scalar?) -> Bool {
        guard let scalar else { return false }
        return CharacterSet.word.contains(scalar)
    }

    /// The scalar's simple lowercase form (for case-insensitive comparison).
    static func folded(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar.isASCII {
            return (65...90).contains(scalar.value) ? Unicode.Scalar(scalar.value + 32)! : scalar
        }
        let lower = scalar.properties.lowercaseMapping.unicodeScalars
        return lower.count == 1 ? lower.first! : scalar
    }

    private static func caseVariants(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        let lower = scalar.properties.lowercaseMapping.unicodeScalars
        let upper = scalar.properties.uppercaseMapping.unicodeScalars
        return [lower.count == 1 ? lower.first : nil, upper.count == 1 ? upper.first : nil].compactMap { $0 }
    }
}

/// A set of program counters with constant-time insert and clear, in insertion order.
private struct ThreadList {
    var dense: [Int] = []
    private var sparse: [Int]

    init(capacity: Int) {
        sparse = [Int](repeating: 0, count: capacity)
        dense.reserveCapacity(capacity)
    }

    /// Inserts `pc`; `false` if it was already there.
    mutating func insert(_ pc: Int) -> Bool {
        let slot = sparse[pc]
        if slot < dense.count && dense[slot] == pc { return false }
        sparse[pc] = dense.count
        dense.append(pc)
        return true
    }

    mutating func clear() { dense.removeAll(keepingCapacity: true) }
}

// MARK: - Parsing

private indirect enum Node {
    case empty
    case scalar(Unicode.Scalar, ignoreCase: Bool)
    case any(dotAll: Bool)
    case set(CharacterSet, negated: Bool, ignoreCase: Bool)
    case assertStart(multiline: Bool)
    case assertEnd(multiline: Bool)
    case wordBoundary(Bool)
    case concatenation([Node])
    case alternation([Node])
    case repetition(Node, min: Int, max: Int?)
}

private struct Flags {
    var ignoreCase = false
    var dotAll = false
    var multiline = false
}

private struct Parser {
    let scalars: [Unicode.Scalar]
    var index = 0
    var depth = 0

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    typealias Failure = SafeRegex.SyntaxError

    func failure(_ message: String) -> Failure {
        Failure(description: "\(message) (at character \(index + 1))")
    }

    mutating func parse() throws(Failure) -> Node {
        var flags = Flags()
        let node = try alternation(&flags)
        guard index == scalars.count else { throw failure("unbalanced ')'") }
        return node
    }

    private var atEnd: Bool { index >= scalars.count }
    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    private mutating func alternation(_ flags: inout Flags) throws(Failure) -> Node {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 100 else { throw failure("groups are nested deeper than 100 levels") }
        var branches = [try concatenation(&flags)]
        while peek() == "|" {
            index += 1
            branches.append(try concatenation(&flags))
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func concatenation(_ flags: inout Flags) throws(Failure) -> Node {
        var items: [Node] = []
        while let c = peek(), c != "|", c != ")" {
            var atom = try self.atom(&flags)
            atom = try quantified(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concatenation(items))
    }

    private mutating func quantified(_ atom: Node) throws(Failure) -> Node {
        guard let c = peek() else { return atom }
        var node: Node
        switch c {
        case "*": index += 1; node = .repetition(atom, min: 0, max: nil)
        case "+": index += 1; node = .repetition(atom, min: 1, max: nil)
        case "?": index += 1; node = .repetition(atom, min: 0, max: 1)
        case "{":
            guard let (low, high) = try counted() else { return atom }
            node = .repetition(atom, min: low, max: high)
        default:
            return atom
        }
        if peek() == "?" {
            index += 1  // lazy: the same strings match
        } else if peek() == "+" {
            throw failure("possessive quantifiers are not supported")
        }
        if let next = peek(), ["*", "+", "?"].contains(next) {
            throw failure("a quantifier cannot follow another")
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}`; `nil` (and nothing consumed) when the brace is a literal.
    private mutating func counted() throws(Failure) -> (Int, Int?)? {
        let start = index
        index += 1
        func number() -> Int? {
            var value: Int?
            while let c = peek(), ("0"..."9").contains(c) {
                value = (value ?? 0) * 10 + Int(c.value - 48)
                if value! > 1_000 { value = 1_001 }
                index += 1
            }
            return value
        }
        guard let low = number() else { index = start; return nil }
        var high: Int? = low
        if peek() == "," {
            index += 1
            high = number()
        }
        guard peek() == "}" else { index = start; return nil }
        index += 1
        guard low <= 1_000, (high ?? 0) <= 1_000 else { throw failure("a repetition count may be at most 1000") }
        if let high, high < low { throw failure("{\(low),\(high)}: the maximum is smaller than the minimum") }
        return (low, high)
    }

    private mutating func atom(_ flags: inout Flags) throws(Failure) -> Node {
        let c = scalars[index]
        index += 1
        switch c {
        case ".": return .any(dotAll: flags.dotAll)
        case "^": return .assertStart(multiline: flags.multiline)
        case "$": return .assertEnd(multiline: flags.multiline)
        case "[": return try characterClass(flags)
        case "(": return try group(&flags)
        case "\\": return try escape(flags, inClass: false).node
        case "*", "+", "?": throw failure("'\(c)' has nothing to repeat")
        default: return .scalar(c, ignoreCase: flags.ignoreCase)
        }
    }

    private mutating func group(_ flags: inout Flags) throws(Failure) -> Node {
        var inner = flags
        if peek() == "?" {
            index += 1
            switch peek() {
            case ":":
                index += 1
            case "<" where peek(1) != "=" && peek(1) != "!", "P" where peek(1) == "<":
                // A named group: a plain group here.
                while let c = peek(), c != ">" { index += 1 }
                guard peek() == ">" else { throw failure("a group name is not closed with '>'") }
                index += 1
            case "=", "!", "<":
                throw failure("lookaround is not supported")
            case ">":
                throw failure("atomic groups are not supported")
            default:
                // Flags: (?i) (?s) (?m) (?-i) alone, or (?i:…) for a group.
                var on = true
                var scoped = false
                flagLoop: while let f = peek() {
                    index += 1
                    switch f {
                    case "i": inner.ignoreCase = on
                    case "s": inner.dotAll = on
                    case "m": inner.multiline = on
                    case "-": on = false
                    case ")": break flagLoop
                    case ":": scoped = true; break flagLoop
                    default: throw failure("unsupported group or flag '(?\(f)'")
                    }
                }
                if !scoped {
                    flags = inner  // (?i) changes the rest of the enclosing group
                    return .empty
                }
            }
        }
        let node = try alternation(&inner)
        guard peek() == ")" else { throw failure("a group is not closed with ')'") }
        index += 1
        return node
    }

    private mutating func escape(_ flags: Flags, inClass: Bool) throws(Failure) -> (node: Node, set: CharacterSet?) {
        guard let c = peek() else { throw failure("the pattern ends with '\\'") }
        index += 1
        func set(_ s: CharacterSet, negated: Bool) -> (Node, CharacterSet?) {
            (.set(s, negated: negated, ignoreCase: false), negated ? s.inverted : s)
        }
        switch c {
        case "d": return set(.decimalDigits, negated: false)
        case "D": return set(.decimalDigits, negated: true)
        case "w": return set(.word, negated: false)
        case "W": return set(.word, negated: true)
        case "s": return set(.whitespacesAndNewlines, negated: false)
        case "S": return set(.whitespacesAndNewlines, negated: true)
        case "b" where !inClass: return (.wordBoundary(true), nil)
        case "B" where !inClass: return (.wordBoundary(false), nil)
        case "t": return (.scalar("\t", ignoreCase: false), CharacterSet(charactersIn: "\t"))
        case "n": return (.scalar("\n", ignoreCase: false), CharacterSet(charactersIn: "\n"))
        case "r": return (.scalar("\r", ignoreCase: false), CharacterSet(charactersIn: "\r"))
        case "f": return (.scalar("\u{0C}", ignoreCase: false), CharacterSet(charactersIn: "\u{0C}"))
        case "v": return (.scalar("\u{0B}", ignoreCase: false), CharacterSet(charactersIn: "\u{0B}"))
        case "p", "P":
            guard peek() == "{" else { throw failure("\\\(c) needs a category in braces, e.g. \\\(c){L}") }
            index += 1
            var name = ""
            while let n = peek(), n != "}" { name.unicodeScalars.append(n); index += 1 }
            guard peek() == "}" else { throw failure("\\\(c){… is not closed with '}'") }
            index += 1
            guard let category = CharacterSet.generalCategory(name) else {
                throw failure("unknown Unicode category '\(name)' (use one like L, Lu, Ll, N, Nd, P, S, Z)")
            }
            return set(category, negated: c == "P")
        case "1"..."9":
            throw failure("backreferences are not supported")
        case "0":
            return (.scalar("\0", ignoreCase: false), CharacterSet(charactersIn: "\0"))
        default:
            guard !c.properties.isAlphabetic && !("0"..."9").contains(c) else {
                throw failure("unsupported escape '\\\(c)'")
            }
            return (.scalar(c, ignoreCase: flags.ignoreCase), CharacterSet(charactersIn: String(c)))
        }
    }

    private mutating func characterClass(_ flags: Flags) throws(Failure) -> Node {
        var negated = false
        if peek() == "^" {
            negated = true
            index += 1
        }
        var set = CharacterSet()
        var first = true
        while true {
            guard let c = peek() else { throw failure("a character class is not closed with ']'") }
            if c == "]" && !first {
                index += 1
                break
            }
            first = false
            index += 1
            var low: Unicode.Scalar?
            if c == "\\" {
                let (node, escaped) = try escape(flags, inClass: true)
                if case .scalar(let s, _) = node { low = s } else if let escaped { set.formUnion(escaped) }
            } else if c == "[" && peek() == ":" {
                throw failure("POSIX classes like [:alpha:] are not supported; use \\p{L}")
            } else {
                low = c
            }
            guard let low else { continue }
            if peek() == "-", let high = peek(1), high != "]" {
                index += 2
                var upper = high
                if high == "\\" {
                    let (node, _) = try escape(flags, inClass: true)
                    guard case .scalar(let s, _) = node else { throw failure("a range cannot end with a class escape") }
                    upper = s
                }
                guard low.value <= upper.value else { throw failure("the range \(low)-\(upper) is out of order") }
                set.insert(charactersIn: low...upper)
            } else {
                set.insert(low)
            }
        }
        return .set(set, negated: negated, ignoreCase: flags.ignoreCase)
    }
}

// MARK: - Compiling

private struct Compiler {
    var program: [SafeRegex.Instruction] = []

    mutating func append(_ instruction: SafeRegex.Instruction) throws(SafeRegex.SyntaxError) {
        guard program.count < SafeRegex.maximumProgramSize else {
            throw SafeRegex.SyntaxError(description: "the pattern is too large: it compiles to more than "
                                        + "\(SafeRegex.maximumProgramSize) instructions")
        }
        program.append(instruction)
    }

    mutating func emit(_ node: Node) throws(SafeRegex.SyntaxError) {
        switch node {
        case .empty:
            break
        case .scalar(let s, let ignoreCase): try append(.scalar(ignoreCase ? SafeRegex.folded(s) : s, ignoreCase: ignoreCase))
        case .any(let dotAll): try append(.any(dotAll: dotAll))
        case .set(let set, let negated, let ignoreCase): try append(.set(set, negated: negated, ignoreCase: ignoreCase))
        case .assertStart(let multiline): try append(.assertStart(multiline: multiline))
        case .assertEnd(let multiline): try append(.assertEnd(multiline: multiline))
        case .wordBoundary(let expected): try append(.wordBoundary(expected))
        case .concatenation(let items):
            for item in items { try emit(item) }
        case .alternation(let branches):
            // split L1, next; L1: branch; jump end; next: split …
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index < branches.count - 1 {
                    let split = program.count
                    try append(.split(split + 1, -1))
                    try emit(branch)
                    jumps.append(program.count)
                    try append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(branch)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repetition(let inner, let low, let high):
            for _ in 0..<low { try emit(inner) }
            if let high {
                // Each optional copy: split body, skip-to-end.
                var skips: [Int] = []
                for _ in low..<high {
                    let split = program.count
                    try append(.split(split + 1, -1))
                    skips.append(split)
                    try emit(inner)
                }
                for split in skips { program[split] = .split(split + 1, program.count) }
            } else {
                // loop: split body, end; body; jump loop
                let loop = program.count
                try append(.split(loop + 1, -1))
                try emit(inner)
                try append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}

extension CharacterSet {
    /// Letters, digits, marks and the connector punctuation (`_`): what `\w` and `\b` call a word character.
    fileprivate static let word = CharacterSet.alphanumerics.union(.nonBaseCharacters)
        .union(CharacterSet(charactersIn: "_\u{203F}\u{2040}\u{2054}\u{FE33}\u{FE34}\u{FE4D}\u{FE4E}\u{FE4F}\u{FF3F}"))

    /// The scalars of a Unicode general category (`L`, `Lu`, `N`, `Nd`, …), from Foundation's sets.
    fileprivate static func generalCategory(_ name: String) -> CharacterSet? {
        switch name {
        case "L", "Letter": .letters
        case "Lu", "Uppercase_Letter": .uppercaseLetters
        case "Ll", "Lowercase_Letter": .lowercaseLetters
        case "Lt", "Titlecase_Letter": .capitalizedLetters
        case "M", "Mark": .nonBaseCharacters
        case "N", "Number": .decimalDigits.union(CharacterSet(charactersIn: "\u{2160}"..."\u{2188}"))
        case "Nd", "Decimal_Number": .decimalDigits
        case "P", "Punctuation": .punctuationCharacters
        case "S", "Symbol": .symbols
        case "Z", "Separator": .whitespaces.union(CharacterSet(charactersIn: "\u{2028}\u{2029}"))
        case "Zs", "Space_Separator": .whitespaces.subtracting(CharacterSet(charactersIn: "\t"))
        case "C", "Other", "Cc", "Control": .controlCharacters
        default: nil
        }
    }
}
