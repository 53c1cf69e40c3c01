import Foundation
import Mustache
import Synchronization

/// Renders the string values of step configs as Mustache templates (swift-mustache).
///
/// Values render as plain text (no HTML escaping), except under a key named
/// `html`, whose values are HTML-escaped so `{{name}}` cannot inject markup.
/// Strings without `{{` are returned as they are. Parsed templates are cached.
public enum TemplateRenderer {
    /// Renders `template` against `context` as plain text.
    public static func render(_ template: String, context: JSONValue, html: Bool = false) throws -> String {
        guard isTemplate(template) else { return template }
        let parsed = try cache.template(for: template, html: html)
        return parsed.render(context.mustacheObject)
    }

    /// Renders every string in `config` (recursively) against `context`.
    public static func render(config: JSONValue, context: JSONValue) throws -> JSONValue {
        // Most configs have no template: skip converting the context for them.
        guard hasTemplate(config) else { return config }
        let object = context.mustacheObject
        return try render(config, object: object, html: false)
    }

    /// Whether any string in `value` holds `{{`.
    static func hasTemplate(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let s): isTemplate(s)
        case .array(let elements): elements.contains(where: hasTemplate)
        case .object(let members): members.values.contains(where: hasTemplate)
        default: false
        }
    }

    /// `s` contains `{{` (a byte scan: `String.contains` of a string goes through Foundation's search).
    static func isTemplate(_ s: String) -> Bool {
        var previous: UInt8 = 0
        for byte in s.utf8 {
            if byte == UInt8(ascii: "{") && previous == byte { return true }
            previous = byte
        }
        return false
    }

    /// Checks that every string in `config` parses as a template; the error names the field.
    static func validate(config: JSONValue, sequence: String, version: Int, step: String) throws {
        func walk(_ value: JSONValue, path: String, html: Bool) throws {
            switch value {
            case .string(let s) where isTemplate(s):
                do { _ = try cache.template(for: s, html: html) } catch {
                    throw SequencerError(.invalidConfig, "not a valid Mustache template", sequence: sequence,
                                         version: version, step: step, field: path, underlying: error)
                }
            case .array(let elements):
                for (i, e) in elements.enumerated() { try walk(e, path: "\(path).\(i)", html: html) }
            case .object(let members):
                for (k, v) in members { try walk(v, path: "\(path).\(k)", html: html || k == "html") }
            default: break
            }
        }
        try walk(config, path: "config", html: false)
    }

    private static func render(_ value: JSONValue, object: Any, html: Bool) throws -> JSONValue {
        switch value {
        case .string(let s):
            guard isTemplate(s) else { return value }
            return .string(try cache.template(for: s, html: html).render(object))
        case .array(let elements):
            return .array(try elements.map { try render($0, object: object, html: html) })
        case .object(let members):
            var out: [String: JSONValue] = [:]
            out.reserveCapacity(members.count)
            for (k, v) in members { out[k] = try render(v, object: object, html: html || k == "html") }
            return .object(out)
        default:
            return value
        }
    }

    private static let cache = TemplateCache()

    /// Why a template is refused before swift-mustache parses it: sections nested deeper than
    /// ``Limits/maximumTemplateDepth`` (the parser and renderer recurse once per level, so a
    /// template nesting thousands of sections would overflow the stack), or a set-delimiter tag
    /// (`{{=<% %>=}}`), which would hide nesting from this check.
    struct NestingError: Error, CustomStringConvertible {
        var description: String
    }

    /// Refuses a template nested deeper than ``Limits/maximumTemplateDepth`` or changing its delimiters.
    static func checkNesting(_ template: String) throws(NestingError) {
        var depth = 0
        var deepest = 0
        let bytes = Array(template.utf8)
        var i = 0
        while i + 2 < bytes.count {
            guard bytes[i] == UInt8(ascii: "{"), bytes[i + 1] == UInt8(ascii: "{") else {
                i += 1
                continue
            }
            var j = i + 2
            while j < bytes.count, bytes[j] == UInt8(ascii: " ") { j += 1 }
            guard j < bytes.count else { break }
            switch bytes[j] {
            case UInt8(ascii: "#"), UInt8(ascii: "^"), UInt8(ascii: "$"), UInt8(ascii: "<"):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "/"):
                depth = max(0, depth - 1)
            case UInt8(ascii: "="):
                throw NestingError(description: "set-delimiter tags ({{=…=}}) are not supported")
            default:
                break
            }
            if deepest > Limits.maximumTemplateDepth {
                throw NestingError(description: "sections are nested deeper than \(Limits.maximumTemplateDepth) levels")
            }
            i = j + 1
        }
    }
}

private final class TemplateCache: Sendable {
    private let templates = Mutex<[String: MustacheTemplate]>([:])

    func template(for text: String, html: Bool) throws -> MustacheTemplate {
        let key = html ? "h:" + text : "t:" + text
        if let hit = templates.withLock({ $0[key] }) { return hit }
        try TemplateRenderer.checkNesting(text)
        let parsed = try MustacheTemplate(string: html ? text : "{{% CONTENT_TYPE: TEXT}}" + text)
        templates.withLock {
            if $0.count > 10_000 { $0.removeAll(keepingCapacity: true) }
            $0[key] = parsed
        }
        return parsed
    }
}

extension JSONValue {
    /// The value as swift-mustache renders it: dictionaries, arrays, strings, numbers (integral ones as `Int`).
    var mustacheObject: Any {
        switch self {
        case .null: return ""
        case .bool(let b): return b
        case .number(let n): return n.rounded() == n && abs(n) < 9e15 ? Int(n) : n
        case .string(let s): return s
        case .array(let a): return a.map(\.mustacheObject)
        case .object(let o): return o.compactMapValues { $0.isNull ? nil : $0.mustacheObject }
        }
    }
}
