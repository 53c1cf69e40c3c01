import Foundation
import HTTPTypes
import Mustache
import Sequencer

/// The fields of a query string or an `application/x-www-form-urlencoded` body (`+` is a space);
/// the first of a repeated name wins, and an empty value is no value.
struct FormFields: Sendable {
    private var values: [String: String] = [:]

    init(query: String) {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), values[name] == nil else { continue }
            let value = parts.count > 1 ? Self.decode(parts[1]) ?? "" : ""
            values[name] = value
        }
    }

    subscript(name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// The list filter these fields describe, refusing a field that is not one (naming it).
    func filter(failedOnly: Bool) throws -> EnrollmentFilter {
        var filter = EnrollmentFilter(sequence: self["sequence"], step: self["step"], subject: self["subject"])
        if let version = try version() {
            guard filter.sequence != nil else {
                throw DashboardError(.badRequest, "A filter by version needs a sequence: versions are per sequence.")
            }
            filter.version = version
        }
        if failedOnly {
            filter.status = .failed
        } else if let text = self["status"] {
            guard let status = EnrollmentStatus(rawValue: text) else {
                throw DashboardError(.badRequest, "status must be one of active, paused, completed, failed, cancelled; not '\(text.prefix(40))'.")
            }
            filter.status = status
        }
        return filter
    }

    /// Field `version`: `nil` when absent, refused unless a positive whole number.
    func version() throws -> Int? {
        guard let text = self["version"] else { return nil }
        guard let version = Int(text), version > 0 else {
            throw DashboardError(.badRequest, "version must be a positive whole number, not '\(text.prefix(40))'.")
        }
        return version
    }

    /// A page cursor from field `after`, refused when no page returned it.
    func cursor() throws -> PageCursor? {
        guard let text = self["after"] else { return nil }
        do {
            return try PageCursor(text)
        } catch {
            throw DashboardError(.badRequest, "after is not a page cursor: open the list again from its first page.")
        }
    }
}

extension EnrollmentFilter {
    /// The filter as query fields (a link to the same list, or hidden fields of a form).
    var fields: [(name: String, value: String)] {
        var fields: [(String, String)] = []
        if let sequence { fields.append(("sequence", sequence)) }
        if let version { fields.append(("version", String(version))) }
        if let step { fields.append(("step", step)) }
        if let status { fields.append(("status", status.rawValue)) }
        if let subject { fields.append(("subject", subject)) }
        return fields
    }

    /// `name=value&…`, percent-encoded (the template escapes the `&` for its attribute).
    var query: String { DashboardFormat.query(fields) }

    /// The filter in words: `sequence = onboarding, status = failed`; "every enrollment" when empty.
    var summary: String {
        fields.isEmpty ? "every enrollment" : fields.map { "\($0.name) = \($0.value)" }.joined(separator: ", ")
    }
}

/// A text a template shows inside a section (`{{#name}}…{{text}}…{{/name}}`) only when there is
/// one: Mustache iterates a bare string's characters in a section, so texts go in a one-key
/// dictionary, and `false` stands for none.
func shown(_ text: String?) -> Any {
    guard let text, !text.isEmpty else { return false }
    return ["text": text] as [String: Any]
}

/// How the dashboard writes numbers, times and durations (`count` also for the benchmark, which
/// looks for it on the pages).
package enum DashboardFormat {
    static func query(_ fields: [(name: String, value: String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
    }

    /// 1234567 → "1,234,567".
    package static func count(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// 0.5612 → "56.1%".
    static func percent(_ share: Double) -> String {
        String(format: "%.1f%%", share * 100)
    }

    /// "2026-12-03 20:41:07 UTC".
    static func time(_ date: Date?) -> String? {
        guard let date else { return nil }
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d UTC", c.year ?? 0, c.month ?? 0, c.day ?? 0,
                      c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// "in 3 h 5 m" / "12 s ago" / "now".
    static func relative(_ date: Date?, to now: Date) -> String? {
        guard let date else { return nil }
        let seconds = date.timeIntervalSince(now)
        if abs(seconds) < 1 { return "now" }
        let spoken = SequenceNotification.spoken(abs(seconds))
        return seconds > 0 ? "in \(spoken)" : "\(spoken) ago"
    }

    /// At most `limit` characters, with "…" when cut (labels in charts).
    static func short(_ text: String, _ limit: Int = 40) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }
}

/// The templates shipped in this module's `Resources/templates`.
enum DashboardTemplates {
    static func load() throws -> MustacheLibrary {
        guard let directory = Bundle.module.url(forResource: "templates", withExtension: nil, subdirectory: "Resources") else {
            throw SequencerError(.invalidState, "the dashboard's templates are missing: ship the "
                                 + "SequencerDashboard resource bundle beside the executable", field: "templates")
        }
        var library = MustacheLibrary()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".mustache") }
        for file in files.sorted() {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            do {
                try library.register(text, named: String(file.dropLast(".mustache".count)))
            } catch {
                throw SequencerError(.malformedDefinition, "the dashboard template \(file) does not parse: \(error)",
                                     field: "templates", underlying: error)
            }
        }
        return library
    }
}
