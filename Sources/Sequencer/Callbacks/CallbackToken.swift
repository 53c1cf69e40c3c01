import Crypto
import Foundation

/// The opaque token that names one visit of one enrollment's callback step.
///
/// `cb1_` and 64 URL-safe Base64 characters: the enrollment id (16 bytes), the visit (8 bytes)
/// and the first 24 bytes (192 bits) of an HMAC-SHA256 of those 24 bytes under the store's
/// callback secret (``SequenceStore/callbackSecret()``). Nothing of the token is stored: a
/// completion is checked by computing the MAC again, so a token is accepted only if this store's
/// secret made it, and it names the visit it was made for, so a visit the enrollment has left is
/// told apart from a token that is simply wrong. The same visit always gets the same token, so a
/// runner that runs again after a crash (or a retry) hands the outside system the same callback.
enum CallbackToken {
    static let prefix = "cb1_"
    private static let macLength = 24

    /// The token of `visit` of enrollment `id`.
    static func make(enrollment id: UUID, visit: Int, key: SymmetricKey) -> String {
        var bytes = message(id, visit)
        bytes.append(contentsOf: mac(bytes, key: key))
        return prefix + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    /// The enrollment and visit a token names, when this key made it; `nil` otherwise (a token
    /// of another store, a mistyped or a forged one).
    static func verify(_ token: String, key: SymmetricKey) -> (enrollment: UUID, visit: Int)? {
        guard token.hasPrefix(prefix), token.utf8.count == prefix.utf8.count + 64 else { return nil }
        let base64 = token.dropFirst(prefix.count)
            .replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard let data = Data(base64Encoded: base64), data.count == 24 + macLength else { return nil }
        let bytes = [UInt8](data)
        let expected = mac(Array(bytes[0..<24]), key: key)
        // Constant time: every byte is compared whatever the first difference.
        var difference: UInt8 = 0
        for (a, b) in zip(expected, bytes[24...]) { difference |= a ^ b }
        guard difference == 0 else { return nil }
        let id = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                             bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        let visit = bytes[16..<24].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard visit <= UInt64(Int.max) else { return nil }
        return (id, Int(visit))
    }

    private static func message(_ id: UUID, _ visit: Int) -> [UInt8] {
        var bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        let visit = UInt64(clamping: visit)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: visit >> UInt64(shift))) }
        return bytes
    }

    private static func mac(_ message: [UInt8], key: SymmetricKey) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: key).prefix(macLength))
    }
}
