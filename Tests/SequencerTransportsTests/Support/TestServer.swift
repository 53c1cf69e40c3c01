import Foundation
import Sequencer
import SequencerPostgresTesting
import Synchronization
import Testing

/// A server process (a Python script from `Servers/`) started for one test, listening on a free
/// port on 127.0.0.1 and logging what it receives as JSON lines.
///
/// Nothing is skipped: when python3, aiosmtpd or openssl is missing, starting a server throws an
/// error that says what to install, and the test fails.
final class TestServer {
    let port: Int
    let directory: URL
    let logURL: URL
    private let process: Process

    private init(port: Int, directory: URL, process: Process) {
        self.port = port
        self.directory = directory
        self.logURL = directory.appendingPathComponent("received.jsonl")
        self.process = process
    }

    deinit { stop() }

    /// Stops the process and removes its files.
    func stop() {
        process.killAndWait()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Every JSON line logged so far, decoded.
    func records<T: Decodable>(_ type: T.Type = T.self) throws -> [T] {
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try text.split(separator: "\n").map { try decoder.decode(T.self, from: Data($0.utf8)) }
    }

    /// Starts `Servers/<script>` with `arguments`, then waits (polling, bounded) until it reports its port.
    static func start(script: String, arguments: [String]) async throws -> TestServer {
        try await PythonEnvironment.check(needsAiosmtpd: script == "smtp_server.py")
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sequencer-\(script.prefix(4))-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ready = directory.appendingPathComponent("ready.json")
        let output = directory.appendingPathComponent("server.out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", serversDirectory.appendingPathComponent(script).path,
                             "--log", directory.appendingPathComponent("received.jsonl").path,
                             "--ready", ready.path] + arguments
        process.environment = PythonEnvironment.environment
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()

        for _ in 0..<750 {  // up to 15 s
            if let data = try? Data(contentsOf: ready),
               let port = (try? JSONValue(jsonData: data))?["port"]?.numberValue {
                return TestServer(port: Int(port), directory: directory, process: process)
            }
            if !process.isRunning {
                let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                throw TestServerError("\(script) exited with status \(process.terminationStatus):\n\(log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(process.processIdentifier, SIGKILL)
        throw TestServerError("\(script) did not report its port within 15 s")
    }

    static let serversDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Servers")
}

struct TestServerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Checks once per test run that python3, and aiosmtpd for the SMTP server, are there.
///
/// The checks run commands (python3, pip) and are awaited, never waited for on a thread: a lazy
/// `static let` running them blocked every test thread that reached it at once, which on two
/// cores stalled unrelated tests for seconds.
enum PythonEnvironment {
    static func check(needsAiosmtpd: Bool) async throws {
        if let problem = await (needsAiosmtpd ? aiosmtpdProblem : pythonProblem).value { throw TestServerError(problem) }
    }

    private static let pythonProblem = Task<String?, Never> {
        let python = await run("/usr/bin/env", ["python3", "--version"])
        return python.status == 0 ? nil : "The transport tests need python3 (3.9 or later) on the PATH: \(python.output)"
    }

    /// Where the tests install aiosmtpd when the machine's python3 lacks it: inside the package's
    /// build folder, so `swift test` works on a fresh machine (given PyPI) and touches nothing global.
    static let localPackages = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/test-python").path

    /// The environment server scripts run with: the local packages on `PYTHONPATH`.
    static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = [localPackages, environment["PYTHONPATH"]].compactMap { $0 }.joined(separator: ":")
        return environment
    }

    private static let aiosmtpdProblem = Task<String?, Never> {
        if let pythonProblem = await pythonProblem.value { return pythonProblem }
        let check = { await run("/usr/bin/env", ["python3", "-c", "import aiosmtpd"], environment: environment) }
        if await check().status == 0 { return nil }
        let install = await run("/usr/bin/env", ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                                 "--target", localPackages, "aiosmtpd"])
        let python = await check()
        return python.status == 0 ? nil
            : "The SMTP tests need python3 with aiosmtpd and could not install it into \(localPackages): "
                + "run `pip install aiosmtpd` (or scripts/ensure-python-deps.sh). pip said: \(install.output) "
                + "python3 said: \(python.output)"
    }

    /// Runs a command to completion; its exit status and combined output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async
        -> (status: Int32, output: String)
    {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sequencer-run-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let process = Process()
        if let environment { process.environment = environment }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        guard let handle = try? FileHandle(forWritingTo: output) else { return (-1, "cannot write \(output.path)") }
        process.standardOutput = handle
        process.standardError = handle
        do {
            let status = try await process.runToExit()
            try? handle.close()
            return (status, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
        } catch {
            try? handle.close()
            return (-1, "\(error)")
        }
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, made once per test run with openssl.
enum TestCertificate {
    /// Made by the first caller's task, awaited by the others (see ``PythonEnvironment``).
    static func paths() async throws -> (certificate: String, key: String) {
        let made = await making.value
        done.withLock { $0 = made }
        return try made.get()
    }

    /// The paths once ``paths()`` has returned them (every SMTP test server awaits it first).
    static func madePaths() throws -> (certificate: String, key: String) {
        guard let made = done.withLock({ $0 }) else { throw TestServerError("the test certificate is not made yet") }
        return try made.get()
    }

    private static let done = Mutex<Result<(certificate: String, key: String), TestServerError>?>(nil)

    private static let making = Task<Result<(certificate: String, key: String), TestServerError>, Never> {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sequencer-cert-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let result = await PythonEnvironment.run("/usr/bin/env", [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        guard result.status == 0 else {
            return .failure(TestServerError("The TLS tests make a self-signed certificate with the openssl command, "
                                            + "which failed (install openssl: apt-get install openssl): \(result.output)"))
        }
        return .success((certificate, key))
    }
}

extension Process {
    /// Sends SIGKILL (the test runner may block SIGTERM, and children inherit the mask) and waits
    /// up to 2 s for the exit to be seen. Bounded where `waitUntilExit()` is not: `Process` learns
    /// of an exit through a socket the child holds, and a copy another process inherited (a server
    /// spawned at that moment) would hide it for as long as that process lives.
    func killAndWait() {
        guard isRunning else { return }
        kill(processIdentifier, SIGKILL)
        for _ in 0..<200 where isRunning { usleep(10_000) }
    }
}
