import Foundation

/// Allocations whose size the data or the configuration decides (a payload read back, a dictionary's training
/// sample), made with `malloc` so that a process at its memory limit fails the one operation with `outOfMemory`
/// instead of trapping: Swift's own allocations (`Data(count:)`, `Array`, `.allocate`) end the process when `malloc`
/// says no, which is how a bulk append under `ulimit -v` died while training a dictionary.
struct FallibleMemory: Sendable {
    /// Tests: asked with each request's size; true fails it as if `malloc` had returned nil.
    var fault: (@Sendable (Int) -> Bool)?

    /// `count` uninitialized bytes (at least one), owned by the caller, who frees them with `free`.
    /// - Throws: `outOfMemory`, naming `purpose`.
    func allocate(
        _ count: Int, for purpose: @autoclosure () -> String
    ) throws(EventStoreError) -> UnsafeMutableRawPointer {
        if fault?(count) != true, let pointer = malloc(max(count, 1)) { return pointer }
        throw Self.refused(count, for: purpose())
    }

    /// The error for memory `malloc` or `realloc` (or zstd) would not give: `count` bytes, when known, for `purpose`.
    static func refused(_ count: Int? = nil, for purpose: String) -> EventStoreError {
        EventStoreError(
            .outOfMemory,
            "could not allocate \(count.map { "\($0) bytes for " } ?? "")\(purpose): the process is at its memory limit; nothing was changed, give it more memory"
        )
    }

    /// `count` bytes filled by `fill`, as `Data` that frees them (no copy, no zeroing).
    func data(
        _ count: Int, for purpose: @autoclosure () -> String,
        _ fill: (UnsafeMutableRawBufferPointer) throws(EventStoreError) -> Void
    ) throws(EventStoreError) -> Data {
        guard count > 0 else { return Data() }
        let pointer = try allocate(count, for: purpose())
        do { try fill(UnsafeMutableRawBufferPointer(start: pointer, count: count)) } catch {
            free(pointer)
            throw error
        }
        return Data(bytesNoCopy: pointer, count: count, deallocator: .free)
    }

    /// A byte buffer that grows by doubling with `realloc`, failing with `outOfMemory` instead of trapping.
    struct Buffer: ~Copyable {
        private(set) var base: UnsafeMutableRawPointer
        private(set) var count = 0
        private var capacity: Int
        private let memory: FallibleMemory
        private let purpose: String

        init(capacity: Int, memory: FallibleMemory, purpose: String) throws(EventStoreError) {
            self.capacity = max(capacity, 1)
            self.memory = memory
            self.purpose = purpose
            base = try memory.allocate(self.capacity, for: purpose)
        }

        deinit { free(base) }

        /// Appends `bytes`, growing the buffer when needed.
        mutating func append(_ bytes: UnsafeRawBufferPointer) throws(EventStoreError) {
            try reserve(count + bytes.count)
            if let source = bytes.baseAddress { (base + count).copyMemory(from: source, byteCount: bytes.count) }
            count += bytes.count
        }

        private mutating func reserve(_ needed: Int) throws(EventStoreError) {
            guard needed > capacity else { return }
            let grown = max(needed, capacity * 2)
            guard memory.fault?(grown) != true, let moved = realloc(base, grown) else {
                throw FallibleMemory.refused(grown, for: purpose)
            }
            base = moved
            capacity = grown
        }

        /// The bytes appended so far.
        var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    }
}
