import EventStore
import Events
import Foundation

/// The audit trail's entries on disk (`OrderedTables`), as of `position`: each entry under its seq, its names (actor,
/// workspace, action, resource) as numbers into a names table, and an index per name and per decision of the seqs that
/// carry it. What `AuditState` holds in memory, stored: queries answer from the indexes, reading only the entries they
/// return, and memory does not grow with the trail.
final class AuditTables: Sendable {
    let tables: OrderedTables

    /// Raise when the stored layout or what the fold writes changes: tables of another version are emptied and
    /// rebuilt from the log.
    static let version: UInt64 = 1

    static let definitions: [OrderedTables.Definition] = [
        .init("meta"), .init("records"), .init("names"), .init("name_of"),
        .init("by_actor", duplicates: true), .init("by_workspace", duplicates: true),
        .init("by_action", duplicates: true), .init("by_resource", duplicates: true),
        .init("by_decision", duplicates: true),
    ]

    init(directory: String, readOnly: Bool = false) throws {
        tables = try OrderedTables(directory: directory, tables: Self.definitions, readOnly: readOnly)
    }

    /// What the tables were last written as of: the position, the id of the log's event there, and the fold's
    /// current definitions (nil: empty tables, or tables of another version).
    func load() throws -> (position: Seq, id: UUID?, definitions: [String: String])? {
        try tables.read { r in
            guard let (position, id) = try TablePosition.load(r, version: Self.version),
                let definitions = try r.get("meta", key: Array("definitions".utf8))
            else { return nil }
            let map = try definitions.withUnsafeBytes { raw in
                var reader = BinaryReader(raw)
                return try reader.readStringMap()
            }
            return (position, id, map)
        }
    }

    /// Writes `tail`'s entries (all after the tables' position), the fold's definitions and the new position, in one
    /// transaction: after a crash the tables are as of the old position or the new one, never between.
    func append(_ tail: AuditState, through position: Seq, id eventID: UUID?) throws {
        try tables.write { w in
            var next = UInt32(try w.reader.count("names"))
            // The tail's names by its own numbers → numbers on disk, each looked up (or given) once.
            var ids = [UInt32?](repeating: nil, count: tail.strings.count)
            func id(_ local: Int32) throws -> UInt32 {
                if let id = ids[Int(local)] { return id }
                let name = tail.strings[Int(local)]
                let key = Self.nameKey(name)
                let id: UInt32
                if let stored = try w.reader.get("names", key: key) {
                    id = UInt32(TableKey.uint(stored))
                } else {
                    id = next
                    next += 1
                    try w.put("names", key: key, value: TableKey.bytes(UInt64(id)))
                    try w.put("name_of", key: TableKey.bytes(id), value: Array(name.utf8))
                }
                ids[Int(local)] = id
                return id
            }
            for record in tail.records {
                let names = (
                    actor: try id(record.actor), workspace: try id(record.workspace), action: try id(record.action),
                    resource: try id(record.resource)
                )
                // As `entry(seq:_:name:)` reads it: time, kind, decision, the four names, reason, before, after.
                var value = BinaryWriter(capacity: 128)
                value.write(record.time)
                value.write(UInt64(AuditKind.cases.firstIndex(of: record.kind)!))
                value.write(UInt64(record.decision))
                for n in [names.actor, names.workspace, names.action, names.resource] { value.write(UInt64(n)) }
                tail.writeText(record.reason, to: &value)
                tail.writeOptionalText(record.before, to: &value)
                tail.writeOptionalText(record.after, to: &value)
                let seq = TableKey.bytes(record.seq)
                // Seqs only grow: each entry goes at the end of its table and of its keys' lists.
                try w.put("records", key: seq, value: value.bytes, appending: true)
                try w.put("by_actor", key: TableKey.bytes(names.actor), value: seq, appending: true)
                try w.put("by_workspace", key: TableKey.bytes(names.workspace), value: seq, appending: true)
                try w.put("by_action", key: TableKey.bytes(names.action), value: seq, appending: true)
                try w.put("by_resource", key: TableKey.bytes(names.resource), value: seq, appending: true)
                try w.put("by_decision", key: TableKey.bytes(UInt32(record.decision)), value: seq, appending: true)
            }
            var definitions = BinaryWriter()
            definitions.write(tail.definitionsByResource)
            try w.put("meta", key: Array("definitions".utf8), value: definitions.bytes)
            try TablePosition.write(w, position: position, id: eventID, version: Self.version)
        }
    }

    /// Empties every table (a rebuild starts from zero).
    func clear() throws { try tables.clear() }

    // MARK: - Queries

    /// Answers `q` from the tables: the most selective index gives the candidate seqs, each candidate's entry is read
    /// and checked against every filter, until the page is full.
    func query(_ q: AuditQuery) throws -> AuditPage {
        let limit = min(max(q.limit, 1), 1000)
        return try tables.read { r in
            var names: [UInt32: String] = [:]
            func name(_ id: UInt32) throws -> String {
                if let known = names[id] { return known }
                let found =
                    try r.get("name_of", key: TableKey.bytes(id)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                names[id] = found
                return found
            }
            func nameID(_ name: String) throws -> [UInt8]? {
                try r.get("names", key: Self.nameKey(name)).map { TableKey.bytes(UInt32(TableKey.uint($0))) }
            }
            // Candidate lists: (table, key) of each equality filter; the shortest is walked.
            var lists: [(table: String, key: [UInt8], count: Int)] = []
            for (value, table) in [(q.actor, "by_actor"), (q.workspace, "by_workspace"), (q.action, "by_action")] {
                guard let value else { continue }
                guard let key = try nameID(value) else { return AuditPage(entries: [], nextCursor: nil) }
                lists.append((table, key, try r.count(table, key: key)))
            }
            if let decision = q.decision {
                let key = TableKey.bytes(Self.decisionNumber(decision))
                lists.append(("by_decision", key, try r.count("by_decision", key: key)))
            }
            var resources: [[UInt8]] = []
            if let prefix = q.resourcePrefix, lists.isEmpty {
                // Short names sort under 0 by their bytes, long ones under 1 by their first 400 (`nameKey`).
                let bytes = Array(prefix.utf8)
                for (mark, start) in [(UInt8(0), bytes), (1, Array(bytes.prefix(400)))] {
                    try r.scan("names", from: [mark] + start) { key, id in
                        guard key.first == mark, key.dropFirst().starts(with: start) else { return false }
                        let id = UInt32(TableKey.uint([UInt8](id)))
                        if try mark == 0 || name(id).hasPrefix(prefix) { resources.append(TableKey.bytes(id)) }
                        return true
                    }
                }
                resources = try resources.filter { try r.count("by_resource", key: $0) > 0 }
                if resources.isEmpty { return AuditPage(entries: [], nextCursor: nil) }
            }
            // Seq bounds, inclusive, from the time range and the cursor (times grow with seqs in the log).
            var lower: UInt64 = 0
            var upper = UInt64.max
            if let from = q.from { lower = max(lower, try Self.firstSeq(in: r) { $0 >= from }) }
            if let through = q.through {
                let after = try Self.firstSeq(in: r) { $0 > through }
                if after == 0 { return AuditPage(entries: [], nextCursor: nil) }
                upper = min(upper, after - 1)
            }
            if let cursor = q.cursor?.rawValue {
                if q.newestFirst {
                    guard cursor > 0 else { return AuditPage(entries: [], nextCursor: nil) }
                    upper = min(upper, cursor - 1)
                } else {
                    lower = max(lower, cursor + 1)
                }
            }
            guard lower <= upper else { return AuditPage(entries: [], nextCursor: nil) }
            var entries: [AuditEntry] = []
            var more = false
            // Visits one candidate; false stops the walk.
            func visit(_ seq: UInt64) throws -> Bool {
                guard seq >= lower, seq <= upper else { return false }
                guard let bytes = try r.get("records", key: TableKey.bytes(seq)) else { return true }
                let entry = try Self.entry(seq: seq, bytes, name: name)
                guard Self.matches(entry, q) else { return true }
                if entries.count == limit {
                    more = true
                    return false
                }
                entries.append(entry)
                return true
            }
            let (start, reverse) = q.newestFirst ? (upper, true) : (lower, false)
            if let list = lists.min(by: { $0.count < $1.count }) {
                try r.scanValues(list.table, key: list.key, from: TableKey.bytes(start), reverse: reverse) {
                    try visit(TableKey.uint([UInt8]($0)))
                }
            } else if !resources.isEmpty {
                // Several resources match the prefix: their lists within the bounds, merged in seq order.
                var merged: [UInt64] = []
                for key in resources {
                    try r.scanValues("by_resource", key: key, from: TableKey.bytes(start), reverse: reverse) { value in
                        let seq = TableKey.uint([UInt8](value))
                        guard seq >= lower, seq <= upper else { return false }
                        merged.append(seq)
                        return true
                    }
                }
                merged.sort(by: reverse ? (>) : (<))
                for seq in merged { guard try visit(seq) else { break } }
            } else {
                try r.scan("records", from: TableKey.bytes(start), reverse: reverse) { key, _ in
                    try visit(TableKey.uint([UInt8](key)))
                }
            }
            return AuditPage(entries: entries, nextCursor: more ? entries.last?.seq : nil)
        }
    }

    /// How many entries the tables hold.
    func count() throws -> Int { try tables.read { try $0.count("records") } }

    /// The smallest seq s such that every entry from s on satisfies `predicate` on its time and none before it does
    /// (`predicate` monotonic: false, then true, as times grow with seqs): a binary search over seqs, each step one
    /// seek in `records`.
    private static func firstSeq(in r: TableReader, where predicate: (Int64) -> Bool) throws -> UInt64 {
        /// Whether the first entry at or after `seq` satisfies `predicate` (true when there is none).
        func holds(from seq: UInt64) throws -> Bool {
            var result = true
            try r.scan("records", from: TableKey.bytes(seq)) { _, value in
                var reader = BinaryReader(value)
                result = predicate(try reader.readInt64())
                return false
            }
            return result
        }
        var last: UInt64 = 0
        try r.scan("records", reverse: true) { key, _ in
            last = TableKey.uint([UInt8](key))
            return false
        }
        var (lo, hi) = (UInt64(0), last + 1)
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if try holds(from: mid) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    private static func entry(
        seq: UInt64, _ bytes: [UInt8], name: (UInt32) throws -> String
    ) throws -> AuditEntry {
        try bytes.withUnsafeBytes { raw in
            var r = BinaryReader(raw)
            let time = try r.readInt64()
            let kind = Int(try r.readUInt64())
            let decision = try r.readUInt64()
            let actor = try name(UInt32(try r.readUInt64()))
            let workspace = try name(UInt32(try r.readUInt64()))
            let action = try name(UInt32(try r.readUInt64()))
            let resource = try name(UInt32(try r.readUInt64()))
            guard kind < AuditKind.cases.count else {
                throw PayloadDecodingError("an audit entry on disk has kind \(kind)")
            }
            return AuditEntry(
                seq: Seq(seq), timeNanoseconds: time, kind: AuditKind.cases[kind], actor: actor, workspace: workspace,
                action: action, resource: resource, decision: decision == 0 ? nil : (decision == 1 ? .allow : .deny),
                reason: try r.readString(), before: try r.readOptionalString(), after: try r.readOptionalString())
        }
    }

    private static func matches(_ e: AuditEntry, _ q: AuditQuery) -> Bool {
        if let a = q.actor, e.actor != a { return false }
        if let w = q.workspace, e.workspace != w { return false }
        if let a = q.action, e.action != a { return false }
        if let p = q.resourcePrefix, !e.resource.hasPrefix(p) { return false }
        if let d = q.decision, e.decision != d { return false }
        if let k = q.kind, e.kind != k { return false }
        if let from = q.from, e.timeNanoseconds < from { return false }
        if let through = q.through, e.timeNanoseconds > through { return false }
        return true
    }

    /// A name's key in `names`: 0 and its bytes, or, past 400 bytes (LMDB keys hold at most 511), 1, its first 400
    /// bytes and the FNV-1a hash of all of them.
    static func nameKey(_ name: String) -> [UInt8] {
        let bytes = Array(name.utf8)
        guard bytes.count > 400 else { return [0] + bytes }
        return [1] + bytes.prefix(400) + TableKey.hash(bytes)
    }

    private static func decisionNumber(_ d: Decision?) -> UInt32 { d.map { $0 == .allow ? 1 : 2 } ?? 0 }
}
