import ArgumentParser
import CommandSupport
import EventStore
import Events
import Foundation

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the log as NDJSON, one event a line (ids, seqs, streams, metadata, JSON data).",
        discussion: """
            Works on a log a server has open (read-only). `logbook import` reads it back into a new data directory. \
            --zstd (or an --out name ending in .zst) compresses it as it is written.
            """)

    @OptionGroup var options: DataOptions
    @OptionGroup var shared: SharedLogOptions
    @Option(help: "The first seq to write.") var from: UInt64 = 1
    @Option(
        help: ArgumentHelp("Write here instead of standard output (replaced atomically when done).", valueName: "FILE"))
    var out: String?
    @Flag(help: "Compress with zstd.") var zstd = false

    func run() async throws {
        let log = try await shared.open(options)
        let store = log.store
        let progress = ProgressLine("exporting")
        let compress = zstd || out?.hasSuffix(".zst") == true
        do {
            let partial = out.map { $0 + ".partial" }
            if let partial, !FileManager.default.createFile(atPath: partial, contents: nil) {
                throw Failure("cannot write \(partial)")
            }
            let handle =
                try partial.map { try FileHandle(forWritingTo: URL(fileURLWithPath: $0)) } ?? FileHandle.standardOutput
            let compressor = compress ? try ZstdStream.Writer { handle.write($0) } : nil
            // Lines are gathered into blocks of about 1 MiB: one write (and one compression step) per block.
            var block = Data()
            let count = try LogTransfer.export(
                from: store, from: Seq(from),
                write: { line in
                    block.append(contentsOf: line.utf8)
                    if block.count >= 1 << 20 {
                        try compressor?.write(block) ?? handle.write(block); block.removeAll(keepingCapacity: true)
                    }
                }, progress: progress.update)
            try compressor?.write(block) ?? handle.write(block)
            try compressor?.finish()
            progress.finish()
            if let out, let partial {
                try handle.synchronize()
                try handle.close()
                _ = try? FileManager.default.removeItem(atPath: out)
                try FileManager.default.moveItem(atPath: partial, toPath: out)
                FileHandle.standardError.write(
                    Data("export: \(count) events to \(out)\(compress ? " (zstd)" : "")\n".utf8))
            }
        } catch {
            await log.close()
            throw error
        }
        await log.close()
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Read an NDJSON export (plain or zstd) into a new log: same ids, seqs, times, streams and metadata.",
        discussion:
            "Streams the export (memory does not grow with it) into DIR.importing, flushes, and moves it to DIR when complete: a failed import leaves nothing."
    )

    @OptionGroup var options: DataOptions
    @Argument(help: ArgumentHelp("The export (`-` for standard input), plain or zstd-compressed.", valueName: "FILE"))
    var file: String
    @Flag(
        help:
            "Accept lines whose hash is missing or does not match what they hold (an export edited on purpose, or made before exports carried hashes)."
    )
    var rechain = false

    func run() async throws {
        let input: FileHandle
        if file == "-" {
            input = .standardInput
        } else {
            guard let handle = FileHandle(forReadingAtPath: file) else { throw Failure("import: cannot read \(file)") }
            input = handle
        }
        let size =
            file == "-"
            ? nil : (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int).map(UInt64.init)
        let lines = try ExportLines(input)
        // Into a sibling directory, moved into place once complete and on disk: a failed import leaves nothing half
        // done. Relaxed commits and one flush at the end (an import is all or nothing anyway).
        let target = URL(fileURLWithPath: options.data).standardizedFileURL.path
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: target), !existing.isEmpty {
            throw Failure("import: \(options.data) is not empty; import into a new data directory")
        }
        let staging = target + ".importing"
        try? FileManager.default.removeItem(atPath: staging)
        var configuration = EventStore.Configuration(directory: staging)
        configuration.durability = .relaxed
        let store = try EventStore.open(configuration)
        let progress = ProgressLine("importing")
        do {
            let count = try await LogTransfer.import(
                lines, into: store, rechain: rechain,
                progress: { _ in
                    if let size { progress.update(min(lines.bytesRead, size), of: size) }
                })
            try lines.finish()
            try store.sync()
            await store.close()
            progress.finish()
            try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.moveItem(atPath: staging, toPath: target)
            print("import: \(count) events into \(options.data)")
        } catch {
            progress.finish()
            await store.close()
            try? FileManager.default.removeItem(atPath: staging)
            throw Failure("import: \(error)")
        }
    }
}

/// The lines of an export, read a megabyte at a time (and decompressed when it is zstd), so an import's memory does
/// not grow with the export. A read error ends the lines; `finish()` reports it, and a cut zstd frame.
final class ExportLines: Sequence {
    private let input: FileHandle
    private var reader: ZstdStream.Reader?
    private var buffer = Data()
    /// Where the next line starts in `buffer`.
    private var start = 0
    private var ended = false
    private var failure: (any Error)?
    /// Bytes of the file consumed so far (for progress).
    private(set) var bytesRead: UInt64 = 0

    init(_ input: FileHandle) throws {
        self.input = input
        let first = try input.read(upToCount: 1 << 20) ?? Data()
        bytesRead = UInt64(first.count)
        if ZstdStream.isCompressed(first) {
            reader = try ZstdStream.Reader()
            buffer = try reader!.decompress(first)
        } else {
            buffer = first
        }
        start = buffer.startIndex
        ended = first.isEmpty
    }

    func finish() throws {
        if let failure { throw failure }
        try reader?.finish()
    }

    func makeIterator() -> AnyIterator<Substring> {
        AnyIterator { self.nextLine() }
    }

    private func nextLine() -> Substring? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                return Substring(line)
            }
            guard !ended else {
                if failure == nil { do { try reader?.finish() } catch { failure = error; return nil } }
                guard start < buffer.endIndex else { return nil }
                defer { start = buffer.endIndex }
                return Substring(String(decoding: buffer[start...], as: UTF8.self))
            }
            do {
                let chunk = try input.read(upToCount: 1 << 20) ?? Data()
                bytesRead += UInt64(chunk.count)
                if chunk.isEmpty { ended = true; continue }
                // Keep only the unfinished line, then add what follows it.
                buffer = Data(buffer[start...]) + (try reader?.decompress(chunk) ?? chunk)
                start = buffer.startIndex
            } catch {
                failure = error
                ended = true
                start = buffer.endIndex
                return nil
            }
        }
    }
}
