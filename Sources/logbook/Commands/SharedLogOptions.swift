import ArgumentParser
import CommandSupport
import EventStore
import Foundation
import PostgresLog

/// `--store URL` for the commands that read a log (`events`, `export`, `stats`, `tail`, `traces`, `verify`): the log several
/// servers share on PostgreSQL, read through a local copy that is kept between runs, so that each run fetches only
/// what is new (its chain checked on arrival, as a server's copy is).
struct SharedLogOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Read the log several servers share on PostgreSQL instead of --data (else $LOGBOOK_STORE).",
            valueName: "postgres://USER@HOST:PORT/DB"))
    var store: String?

    @Option(
        help: ArgumentHelp(
            "With --store: the local copy to read through, kept between runs (default: ~/.cache/logbook/<log id>).",
            valueName: "DIR"))
    var copy: String?

    /// The shared log's address: `--store`, else `LOGBOOK_STORE`.
    var location: String? {
        store ?? ProcessInfo.processInfo.environment["LOGBOOK_STORE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The log to read: `--data` read-only, or with `--store` the local copy brought up to the shared log's end.
    func open(_ data: DataOptions) async throws -> OpenedLog {
        guard let location else { return OpenedLog(store: try data.openReadOnly(), shared: nil) }
        let shared = try await PostgresLog.connect(location, logLevel: .error)
        do {
            let directory = copy ?? Self.cacheDirectory(for: shared.logID)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var configuration = EventStore.Configuration(directory: directory)
            configuration.shared = shared
            configuration.durability = .relaxed  // a copy is disposable: the shared log is the log of record
            let store = try EventStore.open(configuration)
            do { try await store.catchUp() } catch {
                await store.close()
                throw error
            }
            return OpenedLog(store: store, shared: shared)
        } catch {
            await shared.close()
            throw error
        }
    }

    static func cacheDirectory(for logID: UUID) -> String {
        let environment = ProcessInfo.processInfo.environment
        let base =
            environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        return (base as NSString).appendingPathComponent("logbook/\(logID.uuidString.lowercased())")
    }
}

/// A log opened for reading, and the shared log it copies (if any): `close` closes both.
struct OpenedLog {
    let store: EventStore
    let shared: PostgresLog?

    func close() async {
        await shared?.close()
        await store.close()
    }
}
