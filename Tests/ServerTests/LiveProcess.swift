import Foundation

/// Runs a peer program (a Python client, schemathesis) to completion without blocking a cooperative thread (the
/// server under test answers on them), and returns its exit status and what it wrote.
enum LiveProcess {
    static func run(
        _ arguments: [String], environment: [String: String] = [:]
    ) async throws -> (status: Int32, output: String, errors: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-process-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (out, err) = (dir.appendingPathComponent("out"), dir.appendingPathComponent("err"))
        for file in [out, err] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.currentDirectoryURL = dir
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        // Waited for here rather than by `terminationHandler`: Foundation's reaper has been seen to leave a child
        // that ran `runuser` (scripts/postgres.sh as root) unreaped, and the test then hung.
        let pid = process.processIdentifier
        var status: Int32 = 0
        while true {
            var raw: Int32 = 0
            let reaped = waitpid(pid, &raw, WNOHANG)
            if reaped == pid {
                status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                break
            }
            if reaped == -1, !process.isRunning {
                status = process.terminationStatus
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (status, try String(contentsOf: out, encoding: .utf8), try String(contentsOf: err, encoding: .utf8))
    }
}
