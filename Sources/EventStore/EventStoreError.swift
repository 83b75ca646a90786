/// The one error type of the event store: what failed, why, and what to do about it.
///
/// `code` is stable and meant for `switch`/`catch` matching; `message` is a sentence for people, and says how to
/// remedy the problem where there is a remedy. When the store was left unchanged by the failed call, the message says so.
public struct EventStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure. Extensible: match on the static members, not on the raw value.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The stream's revision is not the one the append expected.
        public static let wrongExpectedRevision = Code("wrong_expected_revision")
        /// An event id was appended before with different content, or a request mixed new and already appended ids.
        public static let duplicateEventID = Code("duplicate_event_id")
        /// An argument is out of the configured limits or malformed (stream id, event type, size, count).
        public static let invalidArgument = Code("invalid_argument")
        /// The log reached its configured maximum map size.
        public static let mapFull = Code("map_full")
        /// The file system has no space left.
        public static let diskFull = Code("disk_full")
        /// The log was written by a newer version of Logbook, or is not a Logbook log.
        public static let unsupportedFormat = Code("unsupported_format")
        /// Stored bytes fail their checksum or cannot be decoded.
        public static let corrupt = Code("corrupt")
        /// The writer's queue is full; retry later.
        public static let overloaded = Code("overloaded")
        /// The store was closed, or a fatal write error made it refuse further writes.
        public static let closed = Code("closed")
        /// The same directory is already open in this process.
        public static let alreadyOpen = Code("already_open")
        /// The process could not allocate the memory an operation needed (it is at its limit); nothing was changed.
        public static let outOfMemory = Code("out_of_memory")
        /// The shared log (PostgreSQL) cannot be reached or failed mid-way; whether the append happened is unknown:
        /// retry with the same event ids, which finds out.
        public static let unavailable = Code("unavailable")
        /// The append was made under a hold of its stream (`SharedHold.current`) that another server has taken since
        /// (this one was paused past the lease, or cut off): nothing was appended, and the run that made it must stop.
        public static let holdLost = Code("hold_lost")
        /// Any other storage failure (I/O error, permissions, LMDB failures).
        public static let storage = Code("storage")
    }

    public let code: Code
    public let message: String
    /// The LMDB or errno code behind the failure, when there is one.
    public let systemCode: Int32?

    public init(_ code: Code, _ message: String, systemCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.systemCode = systemCode
    }

    public var description: String { message }
}
