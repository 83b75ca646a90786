import EventStore
import Events
import Foundation

public enum AuditKind: String, Sendable, Codable, BinaryCodableEnum {
    case authorization, configuration, toolCall, llmCall
    public static let cases: [Self] = [.authorization, .configuration, .toolCall, .llmCall]
}

/// An audit trail entry, as queries return it.
public struct AuditEntry: Sendable, Equatable, Codable {
    public var seq: Seq
    public var timeNanoseconds: Int64
    public var kind: AuditKind
    public var actor: String
    public var workspace: String
    public var action: String
    public var resource: String
    /// Authorization decisions only.
    public var decision: Decision?
    public var reason: String
    /// Configuration changes: the definition before and after, as JSON (nil: did not exist / removed).
    public var before: String?
    public var after: String?

    public init(
        seq: Seq, timeNanoseconds: Int64, kind: AuditKind, actor: String, workspace: String, action: String,
        resource: String,
        decision: Decision?, reason: String, before: String? = nil, after: String? = nil
    ) {
        (self.seq, self.timeNanoseconds, self.kind, self.actor, self.workspace, self.action) = (
            seq, timeNanoseconds, kind, actor, workspace, action
        )
        (self.resource, self.decision, self.reason, self.before, self.after) = (
            resource, decision, reason, before, after
        )
    }
}

/// Who did what, when, to what, and whether it was allowed: one entry per authorization decision, configuration
/// change, tool call and LLM call, indexed for queries by actor, workspace, action, resource prefix, decision and time.
public enum AuditProjection: Projection {
    public static let name = "audit"
    /// 2: policy changes are configuration entries.
    public static let version: UInt64 = 2
    public static let eventTypes: Set<String> = RegistryProjection.eventTypes.union([
        AuthorizationDecided.typeName, ToolCalled.typeName, ToolResult.typeName, LLMResponse.typeName,
        LLMFailed.typeName, PolicyChanged.typeName,
    ])
    public static let initial = AuditState()
    /// Message bodies, answers and tool outputs stay in the log.
    public static let readsBulkText = false

    public static func apply(_ event: DomainEvent, context c: EventContext, to s: inout AuditState) {
        let actor = c.actor ?? "unknown"
        let workspace = c.workspace ?? ""
        switch event {
        case .authorizationDecided(let e):
            s.add(
                c, .authorization, actor: e.subject, workspace: e.workspace, action: e.action, resource: e.resource,
                decision: e.decision, reason: e.reason)
        case .toolCalled(let e):
            let reason = s.text("called with ", e.arguments)
            s.add(
                c, .toolCall, actor: actor, workspace: workspace, action: "tool.call",
                resource: "tool:\(e.server)/\(e.tool)", reasonText: reason)
        case .toolResult(let e):
            let reason = s.text(e.isError ? "error after " : "ok after ", String(e.latencyMilliseconds), " ms")
            s.add(
                c, .toolCall, actor: actor, workspace: workspace, action: "tool.result",
                resource: "tool:\(e.server)/\(e.tool)", reasonText: reason)
        case .llmResponse(let e):
            let reason = s.text(
                e.finishReason, ", ", String(e.inputTokens), " in / ", String(e.outputTokens), " out tokens")
            s.add(
                c, .llmCall, actor: actor, workspace: workspace, action: "llm.call", resource: "model:\(e.model)",
                reasonText: reason)
        case .llmFailed(let e):
            s.add(
                c, .llmCall, actor: actor, workspace: workspace, action: "llm.call", resource: "model:\(e.model)",
                reason: "failed: \(e.error)")
        case .modelRegistered(let e):
            s.configure(c, actor, workspace, "model.register", "model:\(e.model.name)", json(e.model))
        case .modelUpdated(let e):
            s.configure(c, actor, workspace, "model.update", "model:\(e.model.name)", json(e.model))
        case .modelRemoved(let e): s.configure(c, actor, workspace, "model.remove", "model:\(e.name)", nil)
        case .defaultModelSet(let e):
            s.configure(
                c, actor, workspace, "model.default.set",
                e.workspace.map { "workspace:\($0)/default-model" } ?? "org/default-model",
                e.model.map { "\"\($0)\"" })
        case .mcpServerRegistered(let e):
            s.configure(c, actor, workspace, "mcp.register", "mcp:\(e.server.name)", json(e.server))
        case .mcpServerUpdated(let e):
            s.configure(c, actor, workspace, "mcp.update", "mcp:\(e.server.name)", json(e.server))
        case .mcpServerRemoved(let e): s.configure(c, actor, workspace, "mcp.remove", "mcp:\(e.name)", nil)
        case .agentDefined(let e):
            s.configure(c, actor, workspace, "agent.define", "agent:\(e.agent.name)", json(e.agent))
        case .agentUpdated(let e):
            s.configure(c, actor, workspace, "agent.update", "agent:\(e.agent.name)", json(e.agent))
        case .agentRemoved(let e): s.configure(c, actor, workspace, "agent.remove", "agent:\(e.name)", nil)
        case .policyChanged(let e):
            // Before and after are the whole policy, so every change shows what it replaced.
            s.configure(c, actor, workspace, "policy.\(e.change.rawValue)", "policy", json(e.roles))
        default: break  // health changes are state, not actions
        }
    }

    /// Canonical JSON (sorted keys) of a definition, for before/after.
    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

/// The audit trail: entries in log order, their names (actors, workspaces, actions, resources) interned, their free
/// texts (reasons, definitions) kept as they are, and indexes over the names (derived, not stored).
public struct AuditState: Sendable, BinaryCodable {
    struct Record: Sendable, Equatable {
        var seq: UInt64
        var time: Int64
        var kind: AuditKind
        /// Interned names: positions in `strings`.
        var actor: Int32, workspace: Int32, action: Int32, resource: Int32
        /// Free texts: positions in `texts` (-1: none).
        var reason: Int32, before: Int32, after: Int32
        var decision: UInt8  // 0 none, 1 allow, 2 deny
    }

    private(set) var strings: [String] = []
    /// Reasons and definitions: mostly unique, so kept as one UTF-8 buffer and end offsets, not as strings.
    private var textBytes: [UInt8] = []
    private var textEnds: [UInt32] = []
    private var stringIDs: [String: Int32] = [:]
    private(set) var records: [Record] = []
    /// The current definition (JSON) of each configured resource, for the next change's `before`.
    private var definitions: [String: String] = [:]
    // Indexes: name number (or decision 0/1/2) → positions in `records`, ascending.
    var byActor = NameIndex()
    var byWorkspace = NameIndex()
    var byAction = NameIndex()
    var byResource = NameIndex()
    var byDecision = NameIndex()

    public init() {}

    public var count: Int { records.count }

    /// The current definition (JSON) of each configured resource: what the next change's `before` will be.
    var definitionsByResource: [String: String] { definitions }

    /// A trail without entries that goes on from stored definitions.
    init(continuingFrom definitions: [String: String]) {
        self.definitions = definitions
    }

    /// The names of the last entry and their numbers: consecutive entries mostly repeat them (one thread's turn), and
    /// comparing a string with the same string is cheaper than hashing it. A cache: neither stored nor compared.
    private var last = LastNames()

    private struct LastNames {
        typealias Name = (name: String, id: Int32)
        var actor: Name = ("", -1), workspace: Name = ("", -1), action: Name = ("", -1), resource: Name = ("", -1)

        /// The last number of `name` in this field, if it is the same name.
        static func reuse(_ last: Name, for name: String) -> Int32? {
            last.id >= 0 && last.name == name ? last.id : nil
        }
    }

    mutating func intern(_ s: String) -> Int32 {
        if let id = stringIDs[s] { return id }
        let id = Int32(strings.count)
        strings.append(s)
        stringIDs[s] = id
        return id
    }

    func id(of s: String) -> Int32? { stringIDs[s] }

    mutating func add(
        _ c: EventContext, _ kind: AuditKind, actor: String, workspace: String, action: String, resource: String,
        decision: Decision? = nil, reason: String, before: String? = nil, after: String? = nil
    ) {
        add(
            c, kind, actor: actor, workspace: workspace, action: action, resource: resource, decision: decision,
            reasonText: text(reason),
            before: before, after: after)
    }

    /// `reasonText` was already stored with `text(…)`: built from parts without an intermediate string.
    mutating func add(
        _ c: EventContext, _ kind: AuditKind, actor: String, workspace: String, action: String, resource: String,
        decision: Decision? = nil, reasonText: Int32, before: String? = nil, after: String? = nil
    ) {
        let ids = (
            actor: LastNames.reuse(last.actor, for: actor) ?? intern(actor),
            workspace: LastNames.reuse(last.workspace, for: workspace) ?? intern(workspace),
            action: LastNames.reuse(last.action, for: action) ?? intern(action),
            resource: LastNames.reuse(last.resource, for: resource) ?? intern(resource)
        )
        last = LastNames(
            actor: (actor, ids.actor), workspace: (workspace, ids.workspace), action: (action, ids.action),
            resource: (resource, ids.resource))
        let record = Record(
            seq: c.seq.rawValue, time: c.timeNanoseconds, kind: kind, actor: ids.actor, workspace: ids.workspace,
            action: ids.action, resource: ids.resource, reason: reasonText,
            before: before.map { text($0) } ?? -1, after: after.map { text($0) } ?? -1,
            decision: decision.map { $0 == .allow ? 1 : 2 } ?? 0)
        index(record, at: Int32(records.count))
        records.append(record)
    }

    /// Stores the concatenation of the parts as one text; returns its number.
    mutating func text(
        _ a: String, _ b: String = "", _ c: String = "", _ d: String = "", _ e: String = "", _ f: String = ""
    ) -> Int32 {
        textBytes.append(contentsOf: a.utf8)
        if !b.isEmpty { textBytes.append(contentsOf: b.utf8) }
        if !c.isEmpty { textBytes.append(contentsOf: c.utf8) }
        if !d.isEmpty { textBytes.append(contentsOf: d.utf8) }
        if !e.isEmpty { textBytes.append(contentsOf: e.utf8) }
        if !f.isEmpty { textBytes.append(contentsOf: f.utf8) }
        textEnds.append(UInt32(textBytes.count))
        return Int32(textEnds.count - 1)
    }

    /// Writes text `i` as `BinaryWriter.write(String)` would (length, then UTF-8), without making a String.
    func writeText(_ i: Int32, to w: inout BinaryWriter) {
        let start = i == 0 ? 0 : Int(textEnds[Int(i) - 1])
        let end = Int(textEnds[Int(i)])
        w.write(UInt64(end - start))
        textBytes.withUnsafeBytes { w.writeRaw(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
    }

    /// Writes optional text `i` (-1: none) as `BinaryWriter.write(String?)` would.
    func writeOptionalText(_ i: Int32, to w: inout BinaryWriter) {
        w.write(i >= 0)  // as `write(_: T?, _:)`: 1 and the value, or 0
        guard i >= 0 else { return }
        writeText(i, to: &w)
    }

    private func text(at i: Int32) -> String {
        let start = i == 0 ? 0 : Int(textEnds[Int(i) - 1])
        return String(decoding: textBytes[start..<Int(textEnds[Int(i)])], as: UTF8.self)
    }

    mutating func configure(
        _ c: EventContext, _ actor: String, _ workspace: String, _ action: String, _ resource: String, _ after: String?
    ) {
        let before = definitions[resource]
        add(
            c, .configuration, actor: actor, workspace: workspace, action: action, resource: resource, reason: action,
            before: before, after: after)
        definitions[resource] = after
    }

    private mutating func index(_ r: Record, at position: Int32) {
        byActor.append(position, to: r.actor)
        byWorkspace.append(position, to: r.workspace)
        byAction.append(position, to: r.action)
        byResource.append(position, to: r.resource)
        byDecision.append(position, to: Int32(r.decision))
    }

    func entry(at position: Int) -> AuditEntry {
        let r = records[position]
        return AuditEntry(
            seq: Seq(r.seq), timeNanoseconds: r.time, kind: r.kind, actor: strings[Int(r.actor)],
            workspace: strings[Int(r.workspace)],
            action: strings[Int(r.action)], resource: strings[Int(r.resource)],
            decision: r.decision == 0 ? nil : (r.decision == 1 ? .allow : .deny), reason: text(at: r.reason),
            before: r.before < 0 ? nil : text(at: r.before), after: r.after < 0 ? nil : text(at: r.after))
    }

    // MARK: Coding: fixed-size records and index blocks, so a checkpoint loads at memory speed

    private static let recordBytes = 48

    public func encode(to w: inout BinaryWriter) {
        w.write(strings)
        w.write(UInt64(textBytes.count))
        textBytes.withUnsafeBytes { w.writeRaw($0) }
        w.write(block: textEnds.map { Int32(bitPattern: $0) })
        w.write(UInt64(records.count))
        var raw = [UInt8](repeating: 0, count: records.count * Self.recordBytes)
        raw.withUnsafeMutableBytes { out in
            for (i, r) in records.enumerated() {
                let o = i * Self.recordBytes
                out.storeBytes(of: r.seq.littleEndian, toByteOffset: o, as: UInt64.self)
                out.storeBytes(of: r.time.littleEndian, toByteOffset: o + 8, as: Int64.self)
                out[o + 16] = UInt8(AuditKind.cases.firstIndex(of: r.kind)!)
                out[o + 17] = r.decision
                for (j, v) in [r.actor, r.workspace, r.action, r.resource, r.reason, r.before, r.after].enumerated() {
                    out.storeBytes(of: v.littleEndian, toByteOffset: o + 20 + 4 * j, as: Int32.self)
                }
            }
        }
        raw.withUnsafeBytes { w.writeRaw($0) }
        for index in [byActor, byWorkspace, byAction, byResource, byDecision] {
            let ids = index.ids
            w.write(UInt64(ids.count))
            for id in ids {
                w.write(Int64(id))
                w.write(block: index[id])
            }
        }
        w.write(definitions, key: { $0.write($1) }, value: { $0.write($1) })
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        strings = try r.readStrings()
        stringIDs.reserveCapacity(strings.count)
        for (i, s) in strings.enumerated() { stringIDs[s] = Int32(i) }
        let textCount = try r.readUInt64()
        textBytes = Array(try r.readRaw(Int(clamping: textCount)))
        textEnds = try r.readInt32Block().map { UInt32(bitPattern: $0) }
        guard textEnds.last.map({ Int($0) == textBytes.count }) ?? textBytes.isEmpty else {
            throw PayloadDecodingError("audit texts do not add up")
        }
        let count = Int(clamping: try r.readUInt64())
        let raw = try r.readRaw(count * Self.recordBytes)
        let (names, free) = (Int32(strings.count), Int32(textEnds.count))
        var valid = true
        records = [Record](unsafeUninitializedCapacity: count) { out, initialized in
            for i in 0..<count {
                let o = i * Self.recordBytes
                func id(_ j: Int) -> Int32 {
                    Int32(littleEndian: raw.loadUnaligned(fromByteOffset: o + 20 + 4 * j, as: Int32.self))
                }
                let kind = Int(raw[o + 16])
                let record = Record(
                    seq: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self)),
                    time: Int64(littleEndian: raw.loadUnaligned(fromByteOffset: o + 8, as: Int64.self)),
                    kind: kind < AuditKind.cases.count ? AuditKind.cases[kind] : .authorization,
                    actor: id(0), workspace: id(1), action: id(2), resource: id(3), reason: id(4), before: id(5),
                    after: id(6),
                    decision: min(raw[o + 17], 2))
                valid =
                    valid && kind < AuditKind.cases.count && (0..<names).contains(record.actor)
                    && (0..<names).contains(record.workspace)
                    && (0..<names).contains(record.action) && (0..<names).contains(record.resource)
                    && (0..<free).contains(record.reason)
                    && (-1..<free).contains(record.before) && (-1..<free).contains(record.after)
                out.baseAddress!.advanced(by: i).initialize(to: record)
                initialized = i + 1
            }
        }
        guard valid else { throw PayloadDecodingError("an audit record refers past its tables") }
        func readIndex(_ r: inout BinaryReader, keys limit: Int32) throws(PayloadDecodingError) -> NameIndex {
            let keys = try r.readUInt64()
            var index = NameIndex()
            for _ in 0..<keys {
                let key = try r.readInt64()
                guard key >= 0, key < Int64(limit) else {
                    throw PayloadDecodingError("an audit index names \(key), past its table")
                }
                let positions = try r.readInt32Block()
                guard positions.allSatisfy({ $0 >= 0 && Int($0) < count }) else {
                    throw PayloadDecodingError("an audit index points past the entries")
                }
                guard zip(positions, positions.dropFirst()).allSatisfy({ $0 < $1 }) else {
                    throw PayloadDecodingError("an audit index is out of order")
                }
                index.set(positions, for: Int32(key))
            }
            return index
        }
        byActor = try readIndex(&r, keys: names)
        byWorkspace = try readIndex(&r, keys: names)
        byAction = try readIndex(&r, keys: names)
        byResource = try readIndex(&r, keys: names)
        byDecision = try readIndex(&r, keys: 3)
        definitions = try r.readMap(
            key: { (r) throws(PayloadDecodingError) in try r.readString() },
            value: { (r) throws(PayloadDecodingError) in try r.readString() })
    }
}

extension AuditState: Equatable {
    /// Equal trails: the same entries, pending definitions and indexes.
    public static func == (a: AuditState, b: AuditState) -> Bool {
        a.strings == b.strings && a.textBytes == b.textBytes && a.textEnds == b.textEnds && a.records == b.records
            && a.definitions == b.definitions && a.byActor == b.byActor && a.byWorkspace == b.byWorkspace
            && a.byAction == b.byAction
            && a.byResource == b.byResource && a.byDecision == b.byDecision
    }
}
