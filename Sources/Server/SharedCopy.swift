import Foundation
import Logging

/// A server's copy of a shared log (PostgreSQL) is written without flushing each commit (`Durability.relaxed`):
/// every acknowledged append is already durable in the database, the log of record, and the copy can be made again
/// from it. A copy survives a crash of the process as it is (the operating system has its writes); after a crash of
/// the machine, or a power failure, it may have lost its last commits or be damaged, so a copy that was open when
/// the machine stopped is made again from the shared log at the next start.
///
/// How it knows: while the copy is open, `copy.open` in its directory holds the machine's boot id
/// (`/proc/sys/kernel/random/boot_id`); a clean stop removes it. Found at start with another boot id, the copy's
/// LMDB files are removed (the directory's other files, such as the development JWT secret, stay).
enum SharedCopy {
    static let markerName = "copy.open"

    /// Removes the copy in `directory` when the machine restarted while it was open; then marks it open.
    /// - Returns: whether the copy was removed.
    @discardableResult
    static func open(_ directory: String, logger: Logger) throws -> Bool {
        let marker = URL(fileURLWithPath: directory).appendingPathComponent(markerName)
        var removed = false
        if let stored = try? String(contentsOf: marker, encoding: .utf8), let boot = bootID(), stored != boot {
            for file in ["data.mdb", "lock.mdb"] {
                let url = URL(fileURLWithPath: directory).appendingPathComponent(file)
                if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            }
            removed = true
            logger.notice(
                "the machine stopped while this server's copy of the shared log was open, unflushed: made again from the shared log",
                metadata: ["directory": "\(directory)"])
        }
        if let boot = bootID() {
            // Made here first, the directory gets the log's own permissions (only its owner reads it).
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try Data(boot.utf8).write(to: marker, options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: marker.path)
        }
        return removed
    }

    /// Marks the copy closed cleanly (after the store is closed and flushed).
    static func close(_ directory: String) {
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: directory).appendingPathComponent(markerName))
    }

    /// This boot of the machine (Linux); nil where the system does not say.
    static func bootID() -> String? {
        (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
