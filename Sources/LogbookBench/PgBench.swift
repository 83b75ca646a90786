import CommandSupport
import Foundation

/// PostgreSQL's own `pgbench` on the same database, as the reference for appends to the shared log: each
/// transaction inserts one row the size of an event (an id, a stream, the payload) into a table indexed like the
/// log's, and commits durably — what the server's limit for one durable insert per commit is, with as many clients
/// as the log has appenders.
struct PgBench {
    let url: String
    let payloadBytes: Int

    struct Figures {
        let clients: Int
        let transactionsPerSecond: Double
        let latencyMilliseconds: Double
    }

    /// Debian's pgbench of the newest PostgreSQL installed.
    static var binary: String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.sorted { $0.compare($1, options: .numeric) == .orderedAscending }.reversed()
            .map { "/usr/lib/postgresql/\($0)/bin/pgbench" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Creates its table (dropping one left by an earlier run), then inserts as many rows as each phase appended
    /// events, with as many clients as it had appenders. (By count, not `-T`: pgbench started from this process
    /// never sees its timer's signal, which the process's threads block.)
    func run(phases: [(clients: Int, rows: Int)]) throws -> [Figures] {
        guard let binary = Self.binary else {
            throw Failure("pgbench is not installed (Debian's postgresql package has it)")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-pgbench-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let setup = scratch.appendingPathComponent("setup.sql").path
        let insert = scratch.appendingPathComponent("insert.sql").path
        try """
        DROP TABLE IF EXISTS logbook_pgbench;
        CREATE TABLE logbook_pgbench (position bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE,
            stream text NOT NULL, payload bytea NOT NULL);
        """.write(toFile: setup, atomically: true, encoding: .utf8)
        try """
        \\set s random(1, 10000)
        INSERT INTO logbook_pgbench (event_id, stream, payload)
            VALUES (gen_random_uuid(), 'thread/' || :s, convert_to(repeat('x', \(payloadBytes)), 'UTF8'));
        """.write(toFile: insert, atomically: true, encoding: .utf8)
        _ = try Self.pgbench(binary, ["-n", "-f", setup, "-t", "1", "-c", "1", url])
        var figures: [Figures] = []
        for (c, rows) in phases {
            let output = try Self.pgbench(
                binary,
                [
                    "-n", "-f", insert, "-c", "\(c)", "-j", "\(min(c, 2))", "-t", "\(max(rows / c, 1))", "-M",
                    "prepared",
                    url,
                ])
            guard let tps = Self.number(after: "tps = ", in: output),
                let latency = Self.number(after: "latency average = ", in: output)
            else { throw Failure("pgbench printed no figures: \(output.suffix(500))") }
            figures.append(Figures(clients: c, transactionsPerSecond: tps, latencyMilliseconds: latency))
        }
        _ = try? Self.pgbench(binary, ["-n", "-f", setup, "-t", "1", "-c", "1", url])  // leaves an empty table
        return figures
    }

    private static func number(after label: String, in text: String) -> Double? {
        guard let range = text.range(of: label) else { return nil }
        return Double(text[range.upperBound...].prefix { $0.isNumber || $0 == "." })
    }

    private static func pgbench(_ binary: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure("pgbench failed (\(process.terminationStatus)): \(output.suffix(800))")
        }
        return output
    }
}
