import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A PostgreSQL cluster started from the local binaries for tests, and removed afterwards.
///
/// ``start()`` runs `initdb` into a fresh directory under `/tmp` (trust
/// authentication, no fsync), then `pg_ctl start` on a free port listening on
/// 127.0.0.1 only. When the process runs as root the server runs as the
/// `postgres` user through `runuser` (initdb refuses root). The binaries are found
/// on `PATH`, else in the newest `/usr/lib/postgresql/*/bin` (Debian's layout);
/// `scripts/ensure-postgres.sh` installs them when missing.
///
/// Cleanup does not depend on the test process ending well: ``start()`` also
/// launches a small watchdog shell that stops the server and deletes the directory
/// as soon as the starting process is gone (normal exit, crash or Ctrl-C).
/// ``stop()`` does the same at once.
public final class ThrowawayPostgres: Sendable {
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    public let url: String
    /// The port the server listens on, on 127.0.0.1.
    public let port: Int
    /// The directory holding the cluster (`data/`), its socket and its log (`server.log`).
    public let directory: String
    private let binDirectory: String
    private let options: String

    private init(url: String, port: Int, directory: String, binDirectory: String, options: String) {
        self.url = url
        self.port = port
        self.directory = directory
        self.binDirectory = binDirectory
        self.options = options
    }

    /// Creates and starts a cluster. Takes a second or two.
    ///
    /// - Throws: ``TestPostgresError`` when the binaries are missing or the server does not start
    ///   (the message quotes the tool's output).
    public static func start() async throws -> ThrowawayPostgres {
        let bin = try findBinDirectory()
        let asPostgres = geteuid() == 0
        let directory = try await run(["mktemp", "-d", "/tmp/sequencer-pg.XXXXXX"], asPostgres: asPostgres)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard directory.hasPrefix("/tmp/sequencer-pg.") else {
            throw TestPostgresError("mktemp returned '\(directory)'")
        }
        do {
            _ = try await run([bin + "/initdb", "-D", directory + "/data", "-U", "postgres", "--auth=trust",
                               "--encoding=UTF8", "--locale=C", "--no-sync"], asPostgres: asPostgres)
            var lastError: (any Error)?
            for _ in 0..<5 {
                let port = try freePort()
                let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=300 "
                    + "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                do {
                    _ = try await run([bin + "/pg_ctl", "-D", directory + "/data", "-l", directory + "/server.log",
                                       "-w", "-t", "60", "-o", options, "start"], asPostgres: asPostgres)
                } catch {
                    lastError = error  // most likely the port was taken meanwhile: try another
                    continue
                }
                let server = ThrowawayPostgres(url: "postgres://postgres@127.0.0.1:\(port)/postgres", port: port,
                                               directory: directory, binDirectory: bin, options: options)
                try server.launchWatchdog(asPostgres: asPostgres)
                return server
            }
            throw lastError ?? TestPostgresError("pg_ctl start failed")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Stops the server (fast shutdown) and deletes its directory.
    public func stop() async throws {
        let asPostgres = geteuid() == 0
        _ = try await Self.run([binDirectory + "/pg_ctl", "-D", directory + "/data", "-m", "fast", "-w", "stop"],
                               asPostgres: asPostgres)
        try FileManager.default.removeItem(atPath: directory)
    }

    /// How ``stopServer(_:)`` shuts the server down (`pg_ctl stop -m`).
    public enum ShutdownMode: String, Sendable {
        /// Rolls back open transactions and disconnects clients, then shuts down cleanly.
        case fast
        /// Stops at once, as a crash would; the next start recovers from the WAL.
        case immediate
    }

    /// Stops the server but keeps its data, so ``startServer()`` brings it back: for tests of what
    /// clients do while the database is down.
    public func stopServer(_ mode: ShutdownMode = .fast) async throws {
        _ = try await Self.run([binDirectory + "/pg_ctl", "-D", directory + "/data", "-m", mode.rawValue, "-w", "stop"],
                               asPostgres: geteuid() == 0)
    }

    /// Starts the server again after ``stopServer(_:)``, on the same port.
    public func startServer() async throws {
        _ = try await Self.run([binDirectory + "/pg_ctl", "-D", directory + "/data", "-l", directory + "/server.log",
                                "-w", "-t", "60", "-o", options, "start"], asPostgres: geteuid() == 0)
    }

    /// Stops and removes the cluster once this process is gone, whatever way it ends.
    private func launchWatchdog(asPostgres: Bool) throws {
        let stop = (asPostgres ? "runuser -u postgres -- " : "") + "'\(binDirectory)/pg_ctl' -D '\(directory)/data' -m immediate stop"
        let script = """
            trap '' INT HUP TERM
            while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done
            \(stop) >/dev/null 2>&1
            rm -rf '\(directory)'
            """
        _ = try Self.spawn(["/bin/sh", "-c", script], output: "/dev/null")
    }

    static func findBinDirectory() throws -> String {
        let fileManager = FileManager.default
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) where fileManager.isExecutableFile(atPath: dir + "/initdb") {
            // Debian links /usr/local/bin/initdb etc.; resolve so pg_ctl is taken from the same installation.
            let resolved = (try? fileManager.destinationOfSymbolicLink(atPath: dir + "/initdb"))
                .map { ($0 as NSString).deletingLastPathComponent } ?? dir
            if fileManager.isExecutableFile(atPath: resolved + "/pg_ctl") { return resolved }
            if fileManager.isExecutableFile(atPath: dir + "/pg_ctl") { return dir }
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap { Int($0) }.sorted(by: >)
        for version in versions where fileManager.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        throw TestPostgresError(
            "PostgreSQL binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin: "
                + "run scripts/ensure-postgres.sh, or set DATABASE_URL to an existing server")
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now.
    public static func freePort() throws -> Int {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TestPostgresError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw TestPostgresError("could not bind a free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a command to completion without blocking a thread, returning its output (stdout and stderr).
    static func run(_ arguments: [String], asPostgres: Bool) async throws -> String {
        let command = asPostgres ? ["runuser", "-u", "postgres", "--"] + arguments : arguments
        // Output goes to a file, not a pipe, so a chatty tool cannot block on a full pipe.
        let outputPath = "/tmp/sequencer-pg-cmd.\(getpid()).\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let pid = try spawn(command, output: outputPath)
        // Foundation's Process learns of an exit through a descriptor the child inherits, so it
        // never sees `pg_ctl start` end (the daemonized server keeps that descriptor). Poll waitpid.
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result == -1, errno != EINTR { throw TestPostgresError("waitpid failed: errno \(errno)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited, code == 0 else {
            let how = exited ? "exited with \(code)" : "was killed by signal \(status & 0x7f)"
            throw TestPostgresError("`\(command.joined(separator: " "))` \(how): \(text)")
        }
        return text
    }

    /// Starts a command (looked up on `PATH`) with stdin from /dev/null and stdout and stderr to `output`,
    /// and no other descriptor of this process.
    ///
    /// `posix_spawn` hands the child every descriptor not marked close-on-exec, and the server
    /// `pg_ctl start` leaves behind (and the watchdog) would keep them for as long as they run:
    /// other tests' connections, listening sockets, pipes, and the socket through which Foundation's
    /// `Process` learns that a child it is launching at that moment has exited (made without
    /// close-on-exec), so that `Process` would never see its child end and a test waiting for it
    /// would wait forever. So the child closes every descriptor above 2 before it runs the command.
    static func spawn(_ command: [String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        try closeInheritedDescriptors(&actions)
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, command[0], &actions, nil, argv, environ)
        guard result == 0 else { throw TestPostgresError("cannot start \(command[0]): errno \(result)") }
        return pid
    }
}

/// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34 and later), looked up at run time:
/// Swift's Glibc module does not export it.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    #if canImport(Glibc)
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    #else
    return nil
    #endif
}()

extension ThrowawayPostgres {
    /// Adds to `actions` the closing of every descriptor above 2: all of them at once where the C
    /// library can, else each one open now (a descriptor another thread opens meanwhile can still slip through).
    static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
        if let addCloseFrom {
            let result = addCloseFrom(&actions, 3)
            guard result == 0 else { throw TestPostgresError("posix_spawn_file_actions_addclosefrom_np failed: errno \(result)") }
            return
        }
        let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/fd")) ?? []).compactMap { Int32($0) }
        for descriptor in open where descriptor > 2 && fcntl(descriptor, F_GETFD) != -1 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
    }
}

/// A failure to start or reach the test PostgreSQL server.
public struct TestPostgresError: Error, CustomStringConvertible {
    /// What went wrong, with the failing tool's output.
    public let message: String

    /// An error with this message.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}
