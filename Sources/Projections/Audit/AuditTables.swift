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
    static let version: UInt64 = 3

    static let definitions: [OrderedTables.Definition] = [
        .init("meta"), .init("records"), .init("names"), .init("name_of"),
        .init("by_actor"), .init("by_workspace"), .init("by_action"), .init("by_resource"), .init("by_decision"),
    ]

    /// The tables, resolved once.
    private struct Handles: Sendable {
        let meta, records, names, nameOf: OrderedTables.Table
        let byActor, byWorkspace, byAction, byResource, byDecision: PostingLists
        init(_ t: OrderedTables) {
            (meta, records, names, nameOf) = (t.table("meta"), t.table("records"), t.table("names"), t.table("name_of"))
            (byActor, byWorkspace) = (
                PostingLists(table: t.table("by_actor")), PostingLists(table: t.table("by_workspace"))
            )
            (byAction, byResource) = (
                PostingLists(table: t.table("by_action")), PostingLists(table: t.table("by_resource"))
            )
            byDecision = PostingLists(table: t.table("by_decision"))
        }
    }
    private let table: Handles

    init(directory: String, readOnly: Bool = false) throws {
        tables = try OrderedTables(directory: directory, tables: Self.definitions, readOnly: readOnly)
        table = Handles(tables)
    }

    /// What the tables were last written as of: the position, the id of the log's event there, and the fold's
    /// current definitions (nil: empty tables, or tables of another version).
    func load() throws -> (position: Seq, id: UUID?, definitions: [String: String])? {
        try tables.read { r in
            guard let (position, id) = try TablePosition.load(r, meta: table.meta, version: Self.version),
                let definitions = try r.get(table.meta, key: Array("definitions".utf8))
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
            var next = UInt32(try w.reader.count(table.names))
            // The tail's names by its own numbers → numbers on disk, each looked up (or given) once.
            var ids = [UInt32?](repeating: nil, count: tail.strings.count)
            func id(_ local: Int32) throws -> UInt32 {
                if let id = ids[Int(local)] { return id }
                let name = tail.strings[Int(local)]
                let key = Self.nameKey(name)
                let id: UInt32
                if let stored = try w.reader.get(table.names, key: key) {
                    id = UInt32(TableKey.uint(stored))
                } else {
                    id = next
                    next += 1
                    try w.put(table.names, key: key, value: TableKey.bytes(UInt64(id)))
                    try w.put(table.nameOf, key: TableKey.bytes(id), value: Array(name.utf8))
                }
                ids[Int(local)] = id
                return id
            }
            // Each index's seqs grouped by key, written a key at a time (packed, in one call per key and index).
            var postings = Postings(names: tail.strings.count)
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
                // Seqs only grow: each entry goes at the end of its table and of its keys' lists.
                try w.put(table.records, key: TableKey.bytes(record.seq), value: value.bytes, appending: true)
                postings.add(record)
            }
            for (index, lists) in [
                (table.byActor, postings.actor), (table.byWorkspace, postings.workspace),
                (table.byAction, postings.action), (table.byResource, postings.resource),
            ] {
                for (local, seqs) in lists.enumerated() where !seqs.isEmpty {
                    try index.append(w, list: TableKey.bytes(try id(Int32(local))), seqs: seqs)
                }
            }
            for (decision, seqs) in postings.decision.enumerated() where !seqs.isEmpty {
                try table.byDecision.append(w, list: TableKey.bytes(UInt32(decision)), seqs: seqs)
            }
            var definitions = BinaryWriter()
            definitions.write(tail.definitionsByResource)
            try w.put(table.meta, key: Array("definitions".utf8), value: definitions.bytes)
            try TablePosition.write(w, meta: table.meta, position: position, id: eventID, version: Self.version)
        }
    }

    /// The seqs of a tail's entries under each of their names (by the tail's numbers) and decisions.
    private struct Postings {
        var actor, workspace, action, resource: [[UInt64]]
        var decision: [[UInt64]] = [[], [], []]
        init(names: Int) {
            actor = Array(repeating: [], count: names)
            (workspace, action, resource) = (actor, actor, actor)
        }
        mutating func add(_ record: AuditState.Record) {
            let seq = record.seq
            actor[Int(record.actor)].append(seq)
            workspace[Int(record.workspace)].append(seq)
            action[Int(record.action)].append(seq)
            resource[Int(record.resource)].append(seq)
            decision[Int(record.decision)].append(seq)
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
                    try r.get(table.nameOf, key: TableKey.bytes(id)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                names[id] = found
                return found
            }
            func nameID(_ name: String) throws -> [UInt8]? {
                try r.get(table.names, key: Self.nameKey(name)).map { TableKey.bytes(UInt32(TableKey.uint($0))) }
            }
            // Candidate lists: (table, key) of each equality filter; the shortest is walked.
            var lists: [(index: PostingLists, key: [UInt8], count: Int)] = []
            for (value, index) in [
                (q.actor, table.byActor), (q.workspace, table.byWorkspace), (q.action, table.byAction),
            ] {
                guard let value else { continue }
                guard let key = try nameID(value) else { return AuditPage(entries: [], nextCursor: nil) }
                lists.append((index, key, try index.count(r, list: key)))
            }
            if let decision = q.decision {
                let key = TableKey.bytes(Self.decisionNumber(decision))
                lists.append((table.byDecision, key, try table.byDecision.count(r, list: key)))
            }
            var resources: [[UInt8]] = []
            if let prefix = q.resourcePrefix, lists.isEmpty {
                // Short names sort under 0 by their bytes, long ones under 1 by their first 400 (`nameKey`).
                let bytes = Array(prefix.utf8)
                for (mark, start) in [(UInt8(0), bytes), (1, Array(bytes.prefix(400)))] {
                    try r.scan(table.names, from: [mark] + start) { key, id in
                        guard key.first == mark, key.dropFirst().starts(with: start) else { return false }
                        let id = UInt32(TableKey.uint([UInt8](id)))
                        if try mark == 0 || name(id).hasPrefix(prefix) { resources.append(TableKey.bytes(id)) }
                        return true
                    }
                }
                resources = try resources.filter { try table.byResource.count(r, list: $0) > 0 }
                if resources.isEmpty { return AuditPage(entries: [], nextCursor: nil) }
            }
            // Seq bounds, inclusive, from the time range and the cursor (times grow with seqs in the log).
            var lower: UInt64 = 0
            var upper = UInt64.max
            if let from = q.from { lower = max(lower, try firstSeq(in: r) { $0 >= from }) }
            if let through = q.through {
                let after = try firstSeq(in: r) { $0 > through }
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
                guard let bytes = try r.get(table.records, key: TableKey.bytes(seq)) else { return true }
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
                try list.index.scan(r, list: list.key, from: start, reverse: reverse, visit)
            } else if !resources.isEmpty {
                // Several resources match the prefix: their lists within the bounds, merged in seq order.
                var merged: [UInt64] = []
                for key in resources {
                    try table.byResource.scan(r, list: key, from: start, reverse: reverse) { seq in
                        guard seq >= lower, seq <= upper else { return false }
                        merged.append(seq)
                        return true
                    }
                }
                merged.sort(by: reverse ? (>) : (<))
                for seq in merged { guard try visit(seq) else { break } }
            } else {
                try r.scan(table.records, from: TableKey.bytes(start), reverse: reverse) { key, _ in
                    try visit(TableKey.uint([UInt8](key)))
                }
            }
            return AuditPage(entries: entries, nextCursor: more ? entries.last?.seq : nil)
        }
    }

    /// How many entries the tables hold.
    func count() throws -> Int { try tables.read { try $0.count(table.records) } }

    /// The smallest seq s such that every entry from s on satisfies `predicate` on its time and none before it does
    /// (`predicate` monotonic: false, then true, as times grow with seqs): a binary search over seqs, each step one
    /// seek in `records`.
    private func firstSeq(in r: TableReader, where predicate: (Int64) -> Bool) throws -> UInt64 {
        /// Whether the first entry at or after `seq` satisfies `predicate` (true when there is none).
        func holds(from seq: UInt64) throws -> Bool {
            var result = true
            try r.scan(table.records, from: TableKey.bytes(seq)) { _, value in
                var reader = BinaryReader(value)
                result = predicate(try reader.readInt64())
                return false
            }
            return result
        }
        var last: UInt64 = 0
        try r.scan(table.records, reverse: true) { key, _ in
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
