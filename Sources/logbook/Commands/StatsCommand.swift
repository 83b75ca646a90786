import ArgumentParser
import CommandSupport
import EventStore
import Foundation
import PostgresLog
import Server

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show the size, shape and compression of a log.")

    @OptionGroup var options: DataOptions
    @OptionGroup var shared: SharedLogOptions
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        if let location = shared.location {
            printShared(try await PostgresLog.with(location) { try await $0.statistics() })
            return
        }
        // The maximum is a setting of whoever opens the log: show the one `serve` would use here.
        let environment = ProcessInfo.processInfo.environment
        let settings: ServeSettings
        do {
            let file =
                try environment["LOGBOOK_CONFIG"].map { (path) throws(SettingsError) in try ServeSettings.file(path) }
                ?? ServeSettings()
            settings = try ServeSettings.environment(environment).over(file).over(.defaults)
        } catch { throw ValidationError(error.description) }
        var configuration = EventStore.Configuration(directory: options.data)
        configuration.readOnly = true
        configuration.limits.maxMapSizeBytes = settings.maxLogSize ?? Limits().maxMapSizeBytes
        let store = try EventStore.open(configuration)
        let stats = try store.statistics()
        await store.close()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(StatsJSON(stats)), as: UTF8.self))
            return
        }
        let mb = { (bytes: Int) in String(format: "%.1f MB", Double(bytes) / 1e6) }
        print("log:                \(options.data) (format \(stats.formatVersion))")
        print("events:             \(stats.events)")
        print("streams:            \(stats.streams)")
        print(
            "data file:          \(mb(stats.fileBytes)) on disk, \(mb(stats.usedBytes)) in use, map \(mb(stats.mapSizeBytes)) of at most \(mb(stats.maxMapSizeBytes)) (--max-log-size)"
        )
        print(
            "per event:          \(String(format: "%.1f", stats.usedBytesPerEvent)) bytes in use (records, indexes, pages)"
        )
        print(
            "payloads:           \(mb(Int(stats.rawPayloadBytes))) raw, \(mb(Int(stats.storedPayloadBytes))) stored, ratio \(String(format: "%.2f", stats.compressionRatio))"
        )
        let pages = stats.pagesByDatabase.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
            separator: ", ")
        print("pages:              \(pages)")
        if let d = stats.currentDictionary {
            print(
                "dictionary:         #\(d.id), \(d.sizeBytes) bytes, used after seq \(d.storedAfterSeq) (\(stats.dictionaries) in the log)"
            )
        } else {
            print("dictionary:         none yet (one is trained once the log holds 4096 events)")
        }
        print(
            "writers:            \(stats.idNodes) process\(stats.idNodes == 1 ? "" : "es") registered (their event ids are stored compactly)"
        )
    }

    /// The shared log on PostgreSQL: its events and streams, and the tables' size on disk.
    private func printShared(_ stats: SharedLogStatistics) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: (try? encoder.encode(stats)) ?? Data(), as: UTF8.self))
            return
        }
        let mb = { (bytes: UInt64) in String(format: "%.1f MB", Double(bytes) / 1e6) }
        print("log:                the shared log \(stats.logID.uuidString.lowercased()) on PostgreSQL")
        print("events:             \(stats.events)")
        print("streams:            \(stats.streams)")
        let ratio = stats.payloadBytes == 0 ? 1 : Double(stats.rawPayloadBytes) / Double(stats.payloadBytes)
        print(
            "payloads:           \(mb(stats.rawPayloadBytes)) as appended, \(mb(stats.payloadBytes)) stored (zstd, \(String(format: "%.2f", ratio))×)"
        )
        print(
            "dictionaries:       \(stats.dictionaries == 0 ? "none yet (one is trained once the log holds 4096 events)" : "\(stats.dictionaries)")"
        )
        for (table, bytes) in stats.tableBytes.sorted(by: { $0.key < $1.key }) {
            let label = table + ":"
            print(
                "\(label.padding(toLength: max(20, label.count + 1), withPad: " ", startingAt: 0))\(mb(bytes)) on disk")
        }
        let perEvent = stats.events == 0 ? 0 : Double(stats.totalBytes) / Double(stats.events)
        print(
            "total:              \(mb(stats.totalBytes)) on disk, \(String(format: "%.0f", perEvent)) bytes per event")
    }
}

/// The `--json` shape of `stats`: the statistics plus the derived figures.
private struct StatsJSON: Encodable {
    let stats: StoreStatistics
    init(_ stats: StoreStatistics) { self.stats = stats }

    enum Keys: String, CodingKey { case compressionRatio, usedBytesPerEvent }

    func encode(to encoder: any Encoder) throws {
        try stats.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(stats.compressionRatio, forKey: .compressionRatio)
        try c.encode(stats.usedBytesPerEvent, forKey: .usedBytesPerEvent)
    }
}
