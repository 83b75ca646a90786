import Foundation
import LogbookTestSupport
import Logging
import Testing

@testable import Server

/// A shared log's copy is written unflushed; one that was open when the machine stopped is made again.
@Suite(.enabled(if: SharedCopy.bootID() != nil, "the system does not give a boot id"))
struct SharedCopyTests {
    /// A copy directory made by `SharedCopy.open` is private like the log's own (0700), its marker 0600.
    @Test func aNewCopyDirectoryIsPrivate() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-copy-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let dir = parent.appendingPathComponent("data").path
        try SharedCopy.open(dir, logger: Logger(label: "test"))
        let permissions = { (path: String) in
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        }
        #expect(try permissions(dir) == 0o700)
        #expect(try permissions("\(dir)/\(SharedCopy.markerName)") == 0o600)
    }

    @Test func aCopyOpenWhenTheMachineStoppedIsRemovedAndOneOpenAcrossAProcessCrashIsKept() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("logbook-copy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: path) }
        let dir = path.path
        let files = ["data.mdb", "lock.mdb", "jwt-secret"]
        func populate() throws {
            for f in files { try Data("x".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(f)")) }
        }
        func exists(_ f: String) -> Bool { FileManager.default.fileExists(atPath: "\(dir)/\(f)") }
        let logger = Logger(label: "test")

        // A process crash: the marker holds this boot's id, the copy stays.
        try populate()
        #expect(try SharedCopy.open(dir, logger: logger) == false)
        #expect(try SharedCopy.open(dir, logger: logger) == false)
        #expect(files.allSatisfy(exists))

        // The machine stopped while it was open: the marker holds another boot's id, the LMDB files go.
        try Data("another-boot".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(SharedCopy.markerName)"))
        #expect(try SharedCopy.open(dir, logger: logger) == true)
        #expect(!exists("data.mdb") && !exists("lock.mdb"))
        #expect(exists("jwt-secret"), "the directory's other files stay")
        let marker = try String(contentsOfFile: "\(dir)/\(SharedCopy.markerName)", encoding: .utf8)
        #expect(marker == SharedCopy.bootID())

        // A clean stop removes the marker: nothing is removed at the next start, whatever the boot.
        try populate()
        SharedCopy.close(dir)
        #expect(!exists(SharedCopy.markerName))
        #expect(try SharedCopy.open(dir, logger: logger) == false)
        #expect(files.allSatisfy(exists))
    }
}
