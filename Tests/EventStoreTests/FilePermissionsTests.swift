import Foundation
import Testing
@testable import EventStore

/// The log holds everyone's conversations: a directory the store makes is its owner's alone (0700), and so are the
/// files in it and in a backup (0600), whatever the umask lets through.
@Suite struct FilePermissionsTests {
    static func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) & 0o777
    }

    @Test func theLogAndItsBackupAreReadableByTheirOwnerOnly() async throws {
        let root = TemporaryDirectory(), backupRoot = TemporaryDirectory()
        let previous = umask(0o022)  // the usual umask: lets group and others read what is made 0644
        defer { umask(previous) }
        let directory = root.path + "/log"
        let store = try EventStore.openForTest(directory)
        var rng = SplitMix64(seed: 7)
        try await store.append([randomEvent(&rng)], to: "s")
        #expect(try Self.mode(directory) == 0o700)
        for file in ["data.mdb", "lock.mdb", "writer.lock"] {
            #expect(try Self.mode(directory + "/" + file) == 0o600, "\(file)")
        }
        _ = try await store.backup(to: backupRoot.path + "/copy")
        #expect(try Self.mode(backupRoot.path + "/copy") == 0o700)
        #expect(try Self.mode(backupRoot.path + "/copy/data.mdb") == 0o600)
        await store.close()
    }
}
