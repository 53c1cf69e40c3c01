import NIOCore

/// One SMTP reply: a three-digit code and its text lines (`250-…` continuation lines included).
struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    var code: Int
    var lines: [String]

    /// 2xx.
    var isSuccess: Bool { (200..<300).contains(code) }
    /// 4xx: try again later.
    var isTransient: Bool { (400..<500).contains(code) }
    /// 5xx: do not try again.
    var isPermanent: Bool { code >= 500 }

    /// `250 2.0.0 Ok`, continuation lines joined with ` / `.
    var description: String {
        lines.isEmpty ? "\(code)" : lines.map { "\(code) \($0)" }.joined(separator: " / ")
    }
}

/// Splits the byte stream into ``SMTPReply`` values: lines `NNN-text` continue a reply,
/// `NNN text` (or `NNN`) end it. Lines longer than 64 KiB are a protocol error.
struct SMTPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = SMTPReply

    private var pending: [String] = []
    private var pendingCode: Int?

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 65_536 { throw SMTPTransportError(.protocolViolation, "reply line too long") }
            return .needMoreData
        }
        var bytes = buffer.readBytes(length: newline - buffer.readerIndex + 1)!
        bytes.removeLast()
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard bytes.count >= 3, bytes[0..<3].allSatisfy({ (48...57).contains($0) }),
              bytes.count == 3 || bytes[3] == UInt8(ascii: " ") || bytes[3] == UInt8(ascii: "-"),
              let code = Int(String(decoding: bytes[0..<3], as: UTF8.self))
        else {
            throw SMTPTransportError(.protocolViolation,
                                     "not an SMTP reply line: '\(String(decoding: bytes.prefix(200), as: UTF8.self))'")
        }
        if let pendingCode, pendingCode != code {
            throw SMTPTransportError(.protocolViolation, "reply code changed from \(pendingCode) to \(code) mid-reply")
        }
        let text = bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : ""
        pending.append(text)
        if bytes.count > 3 && bytes[3] == UInt8(ascii: "-") {
            pendingCode = code
        } else {
            context.fireChannelRead(Self.wrapInboundOut(SMTPReply(code: code, lines: pending)))
            pending = []
            pendingCode = nil
        }
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
