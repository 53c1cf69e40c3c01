import Foundation

/// Config reading shared by ``EmailRunner`` and ``SMSRunner``.
///
/// Both read the raw config at register, where a templated string (`"{{email}}"`) is skipped
/// and every literal is checked, and the rendered config at run time, where everything is
/// checked and an empty rendered address is dropped from a list.
enum MessageConfig {
    typealias Site = ConfigReader.Site

    /// Builds one input's message with a runner's config parser (which returns `nil` only where a
    /// value is left to run time, never after rendering), so every failure is a `SequencerError`
    /// that names the step and the field.
    static func message<Message>(
        for input: RunnerInput, _ parse: (JSONValue, Site) throws -> Message?
    ) throws(SequencerError) -> Message {
        let site = Site(input)
        do {
            guard let message = try parse(input.config, site) else {
                throw site.invalid("the config was not rendered", field: "config")
            }
            return message
        } catch let error as SequencerError {
            throw error
        } catch {
            throw site.invalid("\(error)", field: "config")
        }
    }

    /// A string value; `nil` when the key is absent and not `required`.
    static func string(_ config: JSONValue, _ key: String, required: Bool, what: String, site: Site) throws -> String? {
        switch config[key] {
        case nil where required:
            throw site.invalid("missing required key '\(key)' (\(what))", field: "config.\(key)")
        case nil:
            return nil
        case .string(let text)?:
            return text
        case let value?:
            throw site.invalid("\(key) must be a string (\(what)); got \(ConfigReader.describe(value))",
                               field: "config.\(key)")
        }
    }

    /// One email address. `nil` at register for a template, and at run time for an empty rendering.
    static func address(_ value: JSONValue, field: String, site: Site) throws -> EmailAddress? {
        guard let text = value.stringValue else {
            throw site.invalid("expected a string holding an email address; got \(ConfigReader.describe(value))",
                               field: field)
        }
        if site.isDeferred(value) { return nil }
        if text.trimmingCharacters(in: .whitespaces).isEmpty {
            if site.registering { throw site.invalid("an empty string is not an email address", field: field) }
            return nil
        }
        do {
            return try EmailAddress(text)
        } catch {
            throw site.invalid("\(error)", field: field)
        }
    }

    /// A list of addresses: a string (one address) or an array of strings. At run time entries that
    /// rendered empty are dropped, so `"cc": ["{{manager}}"]` with no manager sends without a copy.
    static func addresses(_ config: JSONValue, _ key: String, site: Site) throws -> [EmailAddress] {
        switch config[key] {
        case nil, .null?:
            return []
        case .array(let entries)?:
            return try entries.enumerated().compactMap { index, entry in
                try address(entry, field: "config.\(key).\(index)", site: site)
            }
        case let value?:
            guard value.stringValue != nil else {
                throw site.invalid("\(key) must be a list of email addresses (or one as a string); "
                                   + "got \(ConfigReader.describe(value))", field: "config.\(key)")
            }
            return try address(value, field: "config.\(key)", site: site).map { [$0] } ?? []
        }
    }

    /// An SMS number field: E.164, or for `from` an alphanumeric sender ID.
    static func phoneNumber(_ text: String, field: String, allowSenderID: Bool, site: Site) throws -> String? {
        if site.isDeferred(.string(text)) { return nil }
        if allowSenderID && PhoneNumber.isAlphanumericSenderID(text) { return text }
        do {
            return try PhoneNumber(text).e164
        } catch {
            let hint = allowSenderID ? " (or an alphanumeric sender ID of up to 11 letters, digits and spaces)" : ""
            throw site.invalid("\(error)" + hint, field: field)
        }
    }

    /// Header names the email runner writes itself, which `headers` may not set.
    static let reservedHeaders: Set<String> = [
        "from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "mime-version", "content-type",
        "content-transfer-encoding", "sender", "return-path",
    ]

    /// The `headers` object: names checked at register, values (templates) checked once rendered.
    static func headers(_ config: JSONValue, site: Site) throws -> [String: String] {
        guard let value = config["headers"], !value.isNull else { return [:] }
        guard let object = value.objectValue else {
            throw site.invalid("headers must be an object of header names to strings; got \(ConfigReader.describe(value))",
                               field: "config.headers")
        }
        var headers: [String: String] = [:]
        for (name, value) in object {
            let field = "config.headers.\(name)"
            guard !name.isEmpty, name.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: ":") }) else {
                throw site.invalid("'\(name)' is not a valid header name", field: field)
            }
            guard !reservedHeaders.contains(name.lowercased()) else {
                throw site.invalid("the \(name) header is set from the config's own keys", field: field)
            }
            guard let text = value.stringValue else {
                throw site.invalid("a header value must be a string; got \(ConfigReader.describe(value))", field: field)
            }
            if site.isDeferred(value) { continue }
            guard !text.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                throw site.invalid("a header value may not contain a line break", field: field)
            }
            headers[name] = text
        }
        return headers
    }
}
