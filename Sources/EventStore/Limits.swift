/// Bounds on everything the store accepts or holds. Every queue, batch and key size has one.
public struct Limits: Sendable, Equatable {
    /// The largest payload plus metadata of one event, in bytes, before compression.
    public var maxEventBytes: Int = 1 << 20
    /// The longest stream id, in UTF-8 bytes. At most 511 (LMDB's key size).
    public var maxStreamIDBytes: Int = 256
    /// The longest event type, actor or workspace name, in UTF-8 bytes. At most 511 (LMDB's key size).
    public var maxNameBytes: Int = 256
    /// The most events one `append` call may carry.
    public var maxEventsPerAppend: Int = 10_000
    /// The most events the writer puts in one transaction (one group commit).
    public var maxEventsPerCommit: Int = 16_384
    /// The most events waiting for the writer; appends beyond it fail with `overloaded`.
    public var maxQueuedEvents: Int = 262_144
    /// The LMDB map size a new log starts with, in bytes; it doubles on demand up to `maxMapSizeBytes` (and is capped by it).
    public var initialMapSizeBytes: Int = 64 << 20
    /// The largest the log may grow, in bytes.
    public var maxMapSizeBytes: Int = 64 << 30
    /// How many events a live subscriber may fall behind the head before it is dropped.
    public var maxSubscriberLagEvents: UInt64 = 1_000_000
    /// How many events a subscription reads per read transaction.
    public var subscriptionChunkEvents: Int = 512
    /// The most concurrent read transactions (LMDB readers) across the processes that share the log.
    public var maxReaders: Int = 256

    public init() {}

    func validated() -> Limits {
        var limits = self
        limits.initialMapSizeBytes = min(initialMapSizeBytes, maxMapSizeBytes)
        precondition(
            maxStreamIDBytes > 0 && maxStreamIDBytes <= 511,
            "Limits.maxStreamIDBytes must be in 1...511 (LMDB key size)")
        precondition(maxNameBytes > 0 && maxNameBytes <= 511, "Limits.maxNameBytes must be in 1...511 (LMDB key size)")
        precondition(maxEventBytes > 0, "Limits.maxEventBytes must be positive")
        precondition(
            maxEventsPerAppend > 0 && maxEventsPerCommit >= maxEventsPerAppend,
            "Limits.maxEventsPerCommit must be at least maxEventsPerAppend")
        precondition(
            maxQueuedEvents >= maxEventsPerAppend, "Limits.maxQueuedEvents must be at least maxEventsPerAppend")
        precondition(limits.initialMapSizeBytes > 0, "Limits.initialMapSizeBytes and maxMapSizeBytes must be positive")
        precondition(subscriptionChunkEvents > 0 && maxReaders > 0, "Limits: chunk size and readers must be positive")
        return limits
    }
}

extension Limits {
    /// Checks an event's names and size against the limits.
    public func validate(_ event: ProposedEvent) throws(EventStoreError) {
        try validateName(event.type, "event type", of: event)
        if let actor = event.metadata.actor { try validateName(actor, "actor", of: event) }
        if let workspace = event.metadata.workspace { try validateName(workspace, "workspace", of: event) }
        let size =
            event.payload.count + (event.metadata.actor?.utf8.count ?? 0) + (event.metadata.workspace?.utf8.count ?? 0)
        if size > maxEventBytes {
            throw EventStoreError(
                .invalidArgument,
                "event \(event.id) of type '\(event.type)' is \(size) bytes, more than the limit of \(maxEventBytes); store large content elsewhere and refer to it"
            )
        }
    }

    private func validateName(_ name: String, _ what: String, of event: ProposedEvent) throws(EventStoreError) {
        let bytes = name.utf8
        if bytes.isEmpty { throw EventStoreError(.invalidArgument, "\(what) of event \(event.id) is empty; name it") }
        if bytes.count > maxNameBytes {
            throw EventStoreError(
                .invalidArgument,
                "\(what) of event \(event.id) is \(bytes.count) bytes, more than the limit of \(maxNameBytes)")
        }
        if bytes.contains(0) {
            throw EventStoreError(.invalidArgument, "\(what) of event \(event.id) contains a NUL byte")
        }
    }
}
