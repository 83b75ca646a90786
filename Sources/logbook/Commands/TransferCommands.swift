import ArgumentParser
import Engine
import EventStore
import Foundation

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write the log as NDJSON, one event a line (ids, seqs, streams, metadata, JSON data).",
        discussion: "Works on a log a server has open (read-only). `logbook import` reads it back into a new data directory.")

    @OptionGroup var options: DataOptions
    @Option(help: "The first seq to write.") var from: UInt64 = 1
    @Option(help: ArgumentHelp("Write here instead of standard output (replaced atomically when done).", valueName: "FILE")) var out: String?

    func run() async throws {
        let store = try options.openReadOnly()
        let progress = ProgressLine("exporting")
        do {
            if let out {
                let partial = out + ".partial"
                guard FileManager.default.createFile(atPath: partial, contents: nil) else { throw Failure("cannot write \(partial)") }
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: partial))
                let count = try LogTransfer.export(from: store, from: Seq(from), write: { handle.write(Data($0.utf8)) }, progress: progress.update)
                try handle.synchronize()
                try handle.close()
                _ = try? FileManager.default.removeItem(atPath: out)
                try FileManager.default.moveItem(atPath: partial, toPath: out)
                progress.finish()
                FileHandle.standardError.write(Data("export: \(count) events to \(out)\n".utf8))
            } else {
                try LogTransfer.export(from: store, from: Seq(from), write: { FileHandle.standardOutput.write(Data($0.utf8)) }, progress: progress.update)
                progress.finish()
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
    @Argument(help: ArgumentHelp("The export (`-` for standard input).", valueName: "FILE")) var file: String

    func run() async throws {
        let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
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
