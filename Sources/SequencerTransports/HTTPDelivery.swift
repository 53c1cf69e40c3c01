import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Sequencer

/// What the HTTP transports share: one POST per message with the idempotency key in a header,
/// a bounded number in flight, and the mapping of answers to ``DeliveryOutcome``.
enum HTTPDelivery {
    /// A request to make for one message.
    struct Request: Sendable {
        var url: String
        var headers: [(String, String)]
        var contentType: String
        var body: [UInt8]
    }

    /// Posts `request` and classifies the answer:
    ///
    /// - 2xx: sent; the provider id is read from the JSON response at `idField` (a dotted path), if any;
    /// - 408, 429 and 5xx: temporary;
    /// - other 4xx: permanent, quoting the provider's `message` (or `error.message`, or the body);
    /// - anything else, a network error or a timeout: temporary.
    static func post(_ request: Request, client: HTTPClient, timeout: Duration, idField: String, logger: Logger) async
        -> DeliveryOutcome
    {
        var http = HTTPClientRequest(url: request.url)
        http.method = .POST
        http.headers.add(name: "Content-Type", value: request.contentType)
        http.headers.add(name: "Accept", value: "application/json")
        for (name, value) in request.headers { http.headers.add(name: name, value: value) }
        http.body = .bytes(ByteBuffer(bytes: request.body))
        do {
            let response = try await client.execute(http, timeout: TimeAmount(timeout), logger: logger)
            let body = try await response.body.collect(upTo: 1 << 20)
            let text = String(buffer: body)
            let code = Int(response.status.code)
            logger.debug("http delivery", metadata: ["sequencer.http.status": "\(code)"])
            switch code {
            case 200..<300:
                let id = (try? JSONValue(json: text))?.value(atPath: idField)
                return .sent(providerID: id.flatMap { $0.stringValue ?? ($0.isNull ? nil : $0.jsonString()) })
            case 408, 429, 500...:
                return .temporaryFailure("HTTP \(code) from \(host(request.url)): \(summary(text))")
            case 400..<500:
                return .permanentFailure("HTTP \(code) from \(host(request.url)): \(summary(text))")
            default:
                return .temporaryFailure("unexpected HTTP \(code) from \(host(request.url)): \(summary(text))")
            }
        } catch {
            return .temporaryFailure("\(host(request.url)): \(error)")
        }
    }

    /// Runs `operation` for every item with at most `limit` in flight, reporting the outcomes
    /// that have come in (with the items' indices) together, before other requests start in
    /// their places. Past the batch's `DeliveryDeadline`, an item not yet started is not: it is
    /// reported as not handed over.
    static func forEach<Item: Sendable>(
        _ items: [Item], limit: Int, reportingInGroups report: ([(index: Int, outcome: DeliveryOutcome)]) async -> Void,
        _ operation: @escaping @Sendable (Item) async -> DeliveryOutcome
    ) async {
        let outbox = Outbox<(index: Int, outcome: DeliveryOutcome)>()
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            var inFlight = 0
            func launch() {
                let index = next
                let item = items[index]
                group.addTask {
                    outbox.put((index, DeliveryDeadline.hasPassed ? DeliveryDeadline.notHandedOver : await operation(item)))
                }
                next += 1
                inFlight += 1
            }
            while next < min(max(1, limit), items.count) { launch() }
            while inFlight > 0 {
                let done = await outbox.takeAll()
                inFlight -= done.count
                await report(done)
                for _ in done where next < items.count { launch() }
            }
        }
    }

    /// `Basic base64(user:password)`.
    static func basicAuthorization(username: String, password: String) -> String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    /// `application/x-www-form-urlencoded`, every byte but the unreserved ones percent-encoded.
    static func formEncoded(_ fields: [(String, String)]) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        func encode(_ text: String) -> String {
            var out = ""
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                     UInt8(ascii: "_"), UInt8(ascii: "~"):
                    out.unicodeScalars.append(Unicode.Scalar(byte))
                default:
                    out.unicodeScalars.append("%")
                    out.unicodeScalars.append(hex[Int(byte >> 4)])
                    out.unicodeScalars.append(hex[Int(byte & 0x0F)])
                }
            }
            return out
        }
        return Array(fields.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&").utf8)
    }

    /// The provider's error message from a JSON body (`message`, `error.message`, `error`), else the
    /// body itself, on one line and at most 300 characters.
    static func summary(_ body: String) -> String {
        var text = body
        if let json = try? JSONValue(json: body) {
            for path in ["message", "error.message", "error", "detail"] {
                if let message = json.value(atPath: path)?.stringValue, !message.isEmpty {
                    text = message
                    break
                }
            }
        }
        let oneLine = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        if oneLine.isEmpty { return "(empty body)" }
        return oneLine.count > 300 ? String(oneLine.prefix(300)) + "…" : oneLine
    }

    /// The host of a URL, for messages that must not quote credentials or query strings.
    static func host(_ url: String) -> String {
        URLComponents(string: url)?.host ?? url
    }
}
