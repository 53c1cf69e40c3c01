import Foundation

/// Decodes configs, turning `DecodingError` into a ``SequencerError`` that names the field.
public enum ConfigDecoding {
    /// Decodes `config` as `T`; a failure names the sequence, step and field.
    public static func decode<T: Decodable>(
        _ type: T.Type, from config: JSONValue, sequence: String, version: Int, step: String
    ) throws -> T {
        do {
            return try config.decode(T.self)
        } catch let error as DecodingError {
            let (path, reason): ([any CodingKey], String) =
                switch error {
                case .typeMismatch(let type, let ctx): (ctx.codingPath, "expected \(type)")
                case .valueNotFound(let type, let ctx): (ctx.codingPath, "missing \(type) value")
                case .keyNotFound(let key, let ctx): (ctx.codingPath + [key], "missing required key")
                case .dataCorrupted(let ctx): (ctx.codingPath, ctx.debugDescription)
                @unknown default: ([], "\(error)")
                }
            let field = path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            throw SequencerError(
                .invalidConfig, reason, sequence: sequence, version: version, step: step,
                field: field.isEmpty ? "config" : "config.\(field)", underlying: error)
        }
    }
}
