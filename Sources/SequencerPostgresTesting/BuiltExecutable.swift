public import Foundation

/// Finds an executable this package builds, next to the running test bundle, so tests can run
/// the real binary (`swift build` and `swift test` put both in the same directory).
public enum BuiltExecutable {
    /// The executable's URL; the environment variable `override` (if set) names it instead.
    ///
    /// - Throws: an error naming where it looked and how to build it.
    public static func url(named name: String, override: String? = nil) throws -> URL {
        if let override, let path = ProcessInfo.processInfo.environment[override] { return URL(fileURLWithPath: path) }
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var directory = executable.deletingLastPathComponent()
            // macOS runs tests from …/debug/<name>.xctest/Contents/MacOS/<name>.
            while directory.pathComponents.count > 1, directory.pathExtension != "" || directory.lastPathComponent == "MacOS"
                || directory.lastPathComponent == "Contents" {
                directory.deleteLastPathComponent()
            }
            candidates.append(directory.appendingPathComponent(name))
        }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        throw TestPostgresError("cannot find the \(name) executable (looked at \(candidates.map(\.path).joined(separator: ", "))); "
                                + "build it with `swift build --product \(name)`")
    }

    /// A process (not yet started) running `executable` with `arguments` against the database at
    /// `databaseURL` (as `DATABASE_URL`), stdin empty; its output goes where the handles say
    /// (nowhere when `nil`).
    public static func process(
        _ executable: URL, arguments: [String], databaseURL: String,
        standardOutput: FileHandle? = nil, standardError: FileHandle? = nil
    ) -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = standardOutput ?? FileHandle.nullDevice
        process.standardError = standardError ?? FileHandle.nullDevice
        return process
    }
}

extension Process {
    /// Starts the process and waits for it to exit without holding a thread (tests share a few);
    /// returns its exit status. Cancelling the caller terminates the process.
    public func runToExit() async throws -> Int32 {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
                do { try run() } catch {
                    terminationHandler = nil
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            terminate()
        }
    }
}
