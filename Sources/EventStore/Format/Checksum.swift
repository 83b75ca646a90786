import CHashing

/// CRC-32C of a record (the CPU's crc32 instruction where it has one), seeded with its seq so a record moved to another
/// key fails too.
enum Checksum {
    static func crc32(seq: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var be = seq.bigEndian
        let crc = withUnsafeBytes(of: &be) { logbook_crc32c(0, $0.baseAddress, 8) }
        return logbook_crc32c(crc, bytes.baseAddress, bytes.count)
    }
}

/// SHA-256 through OpenSSL's EVP interface, reusing one context.
///
/// Not thread-safe: each thread or owner keeps its own.
public final class SHA256Hasher {
    private let context: OpaquePointer
    /// Fetched once: `EVP_sha256()` makes OpenSSL 3 look the algorithm up (allocating) on every init, which cost more
    /// than hashing a record (1.0 µs against 0.43 µs for 300 bytes, measured here).
    nonisolated(unsafe) private static let sha256: OpaquePointer = {
        guard let md = EVP_MD_fetch(nil, "SHA256", nil) else { fatalError("OpenSSL SHA-256 is unavailable") }
        return md
    }()

    public init() {
        guard let context = EVP_MD_CTX_new() else {
            fatalError("OpenSSL could not allocate a digest context: out of memory")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// SHA-256 over the concatenation of `parts`.
    public func hash(_ parts: UnsafeRawBufferPointer...) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        guard EVP_DigestInit_ex(context, Self.sha256, nil) == 1 else { fatalError("OpenSSL SHA-256 is unavailable") }
        for part in parts where part.count > 0 {
            EVP_DigestUpdate(context, part.baseAddress, part.count)
        }
        var length: UInt32 = 32
        digest.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return digest
    }
}
