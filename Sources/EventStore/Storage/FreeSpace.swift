#if canImport(Glibc)
    import Glibc
#endif

/// What the file system holding the log has left.
enum FreeSpace {
    /// Below this many bytes free to an unprivileged writer, a failed write is taken for a full device.
    static let exhaustedBelowBytes: UInt64 = 1 << 20

    /// Whether the file system holding `path` has (almost) no space left.
    static func isExhausted(at path: String) -> Bool {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return false }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize) < exhaustedBelowBytes
    }
}
