/// A failed ``StoreConformance``, ``LedgerConformance`` or ``RobustnessChecks`` check.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let message: String
    /// The check's source file (`#fileID`), e.g. `SequencerTesting/LedgerConformance.swift`.
    public let file: String
    public let line: Int
    public var description: String { "conformance check failed (\(file):\(line)): \(message)" }

    init(message: String, file: String, line: Int) {
        self.message = message
        self.file = file
        self.line = line
    }

    init(_ message: String, file: String = #fileID, line: Int = #line) {
        self.init(message: message, file: file, line: line)
    }
}

/// Throws a ``ConformanceFailure`` with `message` unless `condition` holds: the one assertion of
/// every check in this module.
func expect(_ condition: Bool, _ message: @autoclosure () -> String, file: String = #fileID, line: Int = #line) throws {
    if !condition { throw ConformanceFailure(message: message(), file: file, line: line) }
}
