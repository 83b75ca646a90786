import EventStore
import Events
import Foundation

/// The conversations' state on disk (`OrderedTables`), as of `position`: each thread's summary, the messages by seq and
/// each thread's list of them, its runs, an index of each workspace's threads by last activity (for the newest-first
/// thread list) and the runs still running (for the runs a crash left open). What `ConversationState` holds in memory, stored: a query reads the
/// threads it returns, and memory does not grow with the number of threads.
final class ConversationTables: Sendable {
    let tables: OrderedTables

    /// Raise when the stored layout or what the fold writes changes: tables of another version are rebuilt.
    static let version: UInt64 = 2

    static let definitions: [OrderedTables.Definition] = [
        .init("meta"), .init("threads"), .init("activity"), .init("messages"),
        .init("thread_messages", duplicates: .fixedSize), .init("runs"), .init("runs_by_thread", duplicates: .sorted),
        .init("open_runs"),
    ]

    /// The tables, resolved once.
    private struct Handles: Sendable {
        let meta, threads, activity, messages, threadMessages, runs, runsByThread, openRuns: OrderedTables.Table
        init(_ t: OrderedTables) {
            (meta, threads, activity) = (t.table("meta"), t.table("threads"), t.table("activity"))
            (messages, threadMessages) = (t.table("messages"), t.table("thread_messages"))
            (runs, runsByThread, openRuns) = (t.table("runs"), t.table("runs_by_thread"), t.table("open_runs"))
        }
    }
    private let table: Handles

    init(directory: String, readOnly: Bool = false) throws {
        tables = try OrderedTables(directory: directory, tables: Self.definitions, readOnly: readOnly)
        table = Handles(tables)
    }

    /// The position the tables were written through and the id of the log's event there (nil: empty, or of another
    /// version).
    func load() throws -> (position: Seq, id: UUID?)? {
        try tables.read { try TablePosition.load($0, meta: table.meta, version: Self.version) }
    }

    /// Empties every table (a rebuild starts from zero).
    func clear() throws { try tables.clear() }

    // MARK: - Writing

    /// Writes what the fold changed since the last write (`changed`: the threads and runs it touched, whole, and
    /// the messages it added) and the position, in one transaction.
    func write(_ changed: ConversationState, through position: Seq, id: UUID?) throws {
        try tables.write { w in
            let r = w.reader
            for (threadID, summary) in changed.threads {
                let key = Self.threadKey(threadID)
                if let old = try r.get(table.threads, key: key).map(Self.summary) {
                    try w.delete(table.activity, key: Self.activityKey(old))
                }
                try w.put(table.threads, key: key, value: Self.bytes(summary))
                try w.put(table.activity, key: Self.activityKey(summary), value: [])
            }
            // Messages by seq, each after every one stored (appended: no search), and each thread's seqs appended to
            // its list in one call.
            var added: [MessageRef] = []
            for (threadID, refs) in changed.messages {
                added += refs
                try refs.map { $0.seq.rawValue.bigEndian }.withUnsafeBytes {
                    try w.append(table.threadMessages, key: Self.threadKey(threadID), values: $0, size: 8)
                }
            }
            added.sort { $0.seq < $1.seq }
            for ref in added {
                try w.put(
                    table.messages, key: TableKey.bytes(ref.seq.rawValue), value: Self.bytes(ref), appending: true)
            }
            for (runID, run) in changed.runs {
                let key = TableKey.bytes(runID)
                if try r.get(table.runs, key: key) == nil {
                    try w.put(table.runsByThread, key: Self.threadKey(run.threadID), value: key)
                }
                try w.put(table.runs, key: key, value: Self.bytes(run))
                if run.status == .running {
                    try w.put(table.openRuns, key: key, value: [])
                } else {
                    try w.delete(table.openRuns, key: key)
                }
            }
            try TablePosition.write(w, meta: table.meta, position: position, id: id, version: Self.version)
        }
    }

    // MARK: - Reading

    func thread(_ threadID: String) throws -> ThreadSummary? {
        try tables.read { try $0.get(table.threads, key: Self.threadKey(threadID)).map(Self.summary) }
    }

    func run(_ id: UUID) throws -> RunSummary? {
        try tables.read { try $0.get(table.runs, key: TableKey.bytes(id)).map(Self.run) }
    }

    /// A thread's summary, messages and runs (nil: no such thread).
    func conversation(_ threadID: String) throws -> ConversationState? {
        try tables.read { r in
            let key = Self.threadKey(threadID)
            guard let summary = try r.get(table.threads, key: key).map(Self.summary) else { return nil }
            var state = ConversationState()
            state.threads[threadID] = summary
            var refs: [MessageRef] = []
            try r.scanValues(table.threadMessages, key: key) { seq in
                let seq = TableKey.uint([UInt8](seq))
                guard let bytes = try r.get(table.messages, key: TableKey.bytes(seq)) else {
                    throw PayloadDecodingError("thread \(threadID) lists message \(seq), which the tables lack")
                }
                refs.append(try Self.message(seq: seq, bytes))
                return true
            }
            if !refs.isEmpty { state.messages[threadID] = refs }
            var ids: [[UInt8]] = []
            try r.scanValues(table.runsByThread, key: key) {
                ids.append([UInt8]($0)); return true
            }
            for id in ids {
                if let run = try r.get(table.runs, key: id).map(Self.run) { state.runs[run.id] = run }
            }
            return state
        }
    }

    /// Threads of `workspace` whose last activity is before `before`, most recent first (ties: the larger id first),
    /// passing `include`, at most `limit`.
    func threads(
        workspace: String, before: Int64, limit: Int, include: (ThreadSummary) -> Bool
    ) throws -> [ThreadSummary] {
        try tables.read { r in
            var found: [ThreadSummary] = []
            let prefix = Self.workspacePrefix(workspace)
            // The last key before (workspace, before): reverse from the first key at or after it.
            try r.scan(table.activity, from: prefix + Self.time(before), reverse: true) { key, _ in
                guard key.starts(with: prefix) else { return false }
                let threadID = String(decoding: key.dropFirst(prefix.count + 8 + 1), as: UTF8.self)
                guard let summary = try r.get(table.threads, key: Self.threadKey(threadID)).map(Self.summary) else {
                    return true
                }
                guard summary.lastActivityNanoseconds < before else { return true }
                if summary.workspace == workspace, include(summary) { found.append(summary) }
                return found.count < limit
            }
            return found
        }
    }

    /// How many threads the tables hold.
    func threadCount() throws -> Int { try tables.read { try $0.count(table.threads) } }

    /// The runs still running.
    func openRuns() throws -> [RunSummary] {
        try tables.read { r in
            var ids: [[UInt8]] = []
            try r.scan(table.openRuns) { key, _ in
                ids.append([UInt8](key))
                return true
            }
            return try ids.compactMap { try r.get(table.runs, key: $0).map(Self.run) }
        }
    }

    // MARK: - Keys and values

    /// A thread's key: its id's length and bytes (ids are at most 128 bytes).
    static func threadKey(_ threadID: String) -> [UInt8] { [UInt8(min(threadID.utf8.count, 255))] + threadID.utf8 }

    /// A workspace's part of an `activity` key: its length (u16) and bytes, or past 300 bytes (keys hold at most
    /// 511) its first 292 and their FNV-1a hash; a thread found by a long prefix is checked against its summary.
    static func workspacePrefix(_ workspace: String) -> [UInt8] {
        var bytes = Array(workspace.utf8)
        if bytes.count > 300 {
            bytes = Array(bytes.prefix(292)) + TableKey.hash(bytes)
        }
        return withUnsafeBytes(of: UInt16(bytes.count).bigEndian) { Array($0) } + bytes
    }

    /// A time as 8 bytes that sort as the times do (the sign bit flipped).
    static func time(_ t: Int64) -> [UInt8] { TableKey.bytes(UInt64(bitPattern: t) ^ (1 << 63)) }

    static func activityKey(_ s: ThreadSummary) -> [UInt8] {
        workspacePrefix(s.workspace) + time(s.lastActivityNanoseconds) + threadKey(s.id)
    }

    static func bytes(_ s: ThreadSummary) -> [UInt8] {
        var w = BinaryWriter(capacity: 96)
        s.encode(to: &w)
        return w.bytes
    }

    static func summary(_ b: [UInt8]) throws -> ThreadSummary {
        try b.withUnsafeBytes { raw in
            var r = BinaryReader(raw)
            return try ThreadSummary(from: &r)
        }
    }

    static func bytes(_ m: MessageRef) -> [UInt8] {
        var w = BinaryWriter(capacity: 24)
        w.write(UInt64(MessageKind.cases.firstIndex(of: m.kind)!))
        w.write(m.label)
        return w.bytes
    }

    static func message(seq: UInt64, _ b: [UInt8]) throws -> MessageRef {
        try b.withUnsafeBytes { raw in
            var r = BinaryReader(raw)
            let kind = Int(try r.readUInt64())
            guard kind < MessageKind.cases.count else { throw PayloadDecodingError("a message has kind \(kind)") }
            return MessageRef(seq: Seq(seq), kind: MessageKind.cases[kind], label: try r.readOptionalString())
        }
    }

    static func bytes(_ run: RunSummary) -> [UInt8] {
        var w = BinaryWriter(capacity: 96)
        w.write(run.id)
        w.write(run.threadID)
        w.write(run.agent)
        w.write(run.model)
        w.write(run.parentRunID) { $0.write($1) }
        w.write(UInt64(RunState.cases.firstIndex(of: run.status)!))
        for v in [run.steps, run.llmCalls, run.toolCalls, run.failures, run.inputTokens, run.outputTokens] {
            w.write(v)
        }
        w.write(run.startedSeq)
        w.write(run.finishedSeq) { $0.write($1) }
        return w.bytes
    }

    static func run(_ b: [UInt8]) throws -> RunSummary {
        try b.withUnsafeBytes { raw in
            var r = BinaryReader(raw)
            var run = RunSummary(
                id: try r.readUUID(), threadID: try r.readString(), agent: try r.readString(),
                model: try r.readString(),
                parentRunID: try r.readOptional { (r) throws(PayloadDecodingError) in try r.readUUID() },
                startedSeq: 0)
            let status = Int(try r.readUInt64())
            guard status < RunState.cases.count else { throw PayloadDecodingError("a run has status \(status)") }
            run.status = RunState.cases[status]
            (run.steps, run.llmCalls, run.toolCalls) = (try r.readInt(), try r.readInt(), try r.readInt())
            (run.failures, run.inputTokens, run.outputTokens) = (try r.readInt(), try r.readInt(), try r.readInt())
            run.startedSeq = try r.readSeq()
            run.finishedSeq = try r.readOptional { (r) throws(PayloadDecodingError) in try r.readSeq() }
            return run
        }
    }
}
