import Foundation
import Testing

/// Every Swift example in the documentation compiles: the README, the DocC articles and the
/// `///` comments of the libraries.
///
/// Each ```` ```swift ```` block must appear, line for line (indentation, blank lines and
/// `import` lines aside), in one of the files under `Snippets/`, which this target compiles
/// against the real libraries. `scripts/update-doc-snippets.py` writes those copies, each
/// wrapped in a function; `Snippets/Assumptions.swift` declares what the examples take as given
/// (a `logger`, a `client`), so the examples stay short while the compiler checks every call
/// they make. When an example changes and the script is not run, this test fails and names it.
///
/// A block that cannot be compiled on its own (a `Package.swift` fragment) is marked with an
/// HTML comment on the line before its fence: `<!-- snippet: not compiled (reason) -->`.
@Suite("Documentation examples")
struct SnippetCoverageTests {
    struct Block: CustomStringConvertible, Sendable {
        var file: String
        var line: Int
        var lines: [String]
        var description: String { "\(file):\(line)" }
    }

    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The compiled copies, normalized: this target's snippets, and the Vapor integration package,
    /// which compiles the README's Vapor example against Vapor and Fluent (built by CI on its own).
    static let compiled: [String] = {
        ["Tests/DocumentationTests/Snippets", "Examples/VaporIntegration/Sources/VaporIntegration"].flatMap { path in
            let directory = root.appendingPathComponent(path)
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return files.filter { $0.hasSuffix(".swift") }.sorted().flatMap { name -> [String] in
                let text = (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? ""
                return normalize(text.components(separatedBy: "\n"))
            }
        }
    }()

    static func normalize(_ lines: [String]) -> [String] {
        lines.map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("import ") && !$0.hasPrefix("public import ") }
    }

    /// Every Swift block of the README, the DocC articles and the sources' doc comments.
    static func blocks() -> [Block] {
        var found: [Block] = []
        var documents = ["README.md"]
        let enumerator = FileManager.default.enumerator(atPath: root.appendingPathComponent("Sources").path)
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".swift") || (path.contains(".docc/") && path.hasSuffix(".md")) {
                documents.append("Sources/" + path)
            }
        }
        for document in documents.sorted() {
            guard let text = try? String(contentsOf: root.appendingPathComponent(document), encoding: .utf8) else { continue }
            let isSwift = document.hasSuffix(".swift")
            var current: Block?
            var skipNext = false
            for (index, raw) in text.components(separatedBy: "\n").enumerated() {
                var line = raw
                if isSwift {
                    let trimmed = raw.trimmingCharacters(in: .whitespaces)
                    guard trimmed.hasPrefix("///") else {
                        current = nil
                        continue
                    }
                    line = String(trimmed.dropFirst(3))
                    if line.hasPrefix(" ") { line.removeFirst() }
                }
                let fence = line.trimmingCharacters(in: .whitespaces)
                if var block = current {
                    if fence.hasPrefix("```") {
                        found.append(block)
                        current = nil
                    } else {
                        block.lines.append(line)
                        current = block
                    }
                } else if fence.hasPrefix("```swift") {
                    if !skipNext { current = Block(file: document, line: index + 1, lines: []) }
                    skipNext = false
                } else if fence.hasPrefix("<!-- snippet: not compiled") {
                    skipNext = true
                } else if !fence.isEmpty {
                    skipNext = false
                }
            }
        }
        return found
    }

    static func contains(_ needle: [String], in haystack: [String]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return true }
        }
        return false
    }

    @Test func theDocumentationHasSwiftExamples() {
        #expect(Self.blocks().count > 20)
        #expect(Self.compiled.count > 100)
    }

    @Test("every Swift example is compiled", arguments: blocks())
    func everySwiftExampleIsCompiled(_ block: Block) {
        let compiled = Self.contains(Self.normalize(block.lines), in: Self.compiled)
        #expect(compiled, "the example at \(block) has no compiled copy: run scripts/update-doc-snippets.py")
    }
}
