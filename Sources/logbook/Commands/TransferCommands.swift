import ArgumentParser
import Engine
import EventStore
import Foundation

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the log as NDJSON, one event a line (ids, seqs, streams, metadata, JSON data).",
        discussion: """
            Works on a log a server has open (read-only). `logbook import` reads it back into a new data directory. \
            --zstd (or an --out name ending in .zst) compresses it as it is written.
            """)

    @OptionGroup var options: DataOptions
    @Option(help: "The first seq to write.") var from: UInt64 = 1
    @Option(help: ArgumentHelp("Write here instead of standard output (replaced atomically when done).", valueName: "FILE")) var out: String?
    @Flag(help: "Compress with zstd.") var zstd = false

    func run() async throws {
        let store = try options.openReadOnly()
        let progress = ProgressLine("exporting")
        let compress = zstd || out?.hasSuffix(".zst") == true
        do {
            let partial = out.map { $0 + ".partial" }
            if let partial, !FileManager.default.createFile(atPath: partial, contents: nil) { throw Failure("cannot write \(partial)") }
            let handle = try partial.map { try FileHandle(forWritingTo: URL(fileURLWithPath: $0)) } ?? FileHandle.standardOutput
            let compressor = compress ? try ZstdStream.Writer { handle.write($0) } : nil
            // Lines are gathered into blocks of about 1 MiB: one write (and one compression step) per block.
            var block = Data()
            let count = try LogTransfer.export(from: store, from: Seq(from), write: { line in
                block.append(contentsOf: line.utf8)
                if block.count >= 1 << 20 { try compressor?.write(block) ?? handle.write(block); block.removeAll(keepingCapacity: true) }
            }, progress: progress.update)
            try compressor?.write(block) ?? handle.write(block)
            try compressor?.finish()
            progress.finish()
            if let out, let partial {
                try handle.synchronize()
                try handle.close()
                _ = try? FileManager.default.removeItem(atPath: out)
                try FileManager.default.moveItem(atPath: partial, toPath: out)
                FileHandle.standardError.write(Data("export: \(count) events to \(out)\(compress ? " (zstd)" : "")\n".utf8))
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Read an NDJSON export into a new (empty) log: same ids, seqs, streams and metadata.")

    @OptionGroup var options: DataOptions
    @Argument(help: ArgumentHelp("The export (`-` for standard input), plain or zstd-compressed.", valueName: "FILE")) var file: String

    func run() async throws {
        var data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        if ZstdStream.isCompressed(data) { data = try ZstdStream.decompress(data) }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        let store = try EventStore.open(EventStore.Configuration(directory: options.data))
        let progress = ProgressLine("importing")
        do {
            let count = try await LogTransfer.import(lines, into: store, progress: { progress.update(UInt64($0), of: UInt64(lines.count)) })
            progress.finish()
            print("import: \(count) events into \(options.data)")
        } catch {
            await store.close()
            throw Failure("import: \(error)")
        }
        await store.close()
    }
}
