import EventStore
import Events
import Foundation

/// Threads and what happened in them. Messages are references (seq and kind): their text is stored once, in the log,
/// and `ConversationReader` reads it from there.
public enum ConversationProjection: Projection {
    public static let name = "conversations"
    /// 2: runs are checkpointed as fixed-size blocks. 3: a run of the OpenAI-compatible endpoint counts the tool calls
    /// its model asked the client for.
    public static let version: UInt64 = 3
    public static let eventTypes: Set<String> = [
        ThreadStarted.typeName, ThreadForked.typeName, UserMessage.typeName, AssistantMessage.typeName,
        RunStarted.typeName,
        RunFinished.typeName, LLMResponse.typeName, LLMFailed.typeName, ToolCalled.typeName, ToolResult.typeName,
        SessionExpired.typeName,
    ]
    public static let initial = ConversationState()
    /// Message bodies, answers and tool outputs stay in the log.
    public static let readsBulkText = false
    static let threadPrefix = ThreadID.streamPrefix

    /// The thread a stream holds: its name after `thread/` (cut by bytes: no walk over characters).
    static func threadID(of stream: String) -> String {
        guard stream.hasPrefix(threadPrefix) else { return stream }
        return String(stream.utf8.dropFirst(threadPrefix.utf8.count)) ?? stream
    }

    public static func apply(_ event: DomainEvent, context c: EventContext, to s: inout ConversationState) {
        let threadID = threadID(of: c.stream.rawValue)
        switch event {
        case .threadStarted(let e):
            s.threads[threadID] = ThreadSummary(
                id: threadID, workspace: e.workspace, owner: e.owner, title: e.title,
                createdNanoseconds: c.timeNanoseconds, lastActivityNanoseconds: c.timeNanoseconds)
            return
        case .threadForked(let e):
            var summary = ThreadSummary(
                id: threadID, workspace: e.workspace, owner: e.owner, title: s.threads[e.fromThreadID]?.title,
                createdNanoseconds: c.timeNanoseconds, lastActivityNanoseconds: c.timeNanoseconds)
            summary.forkedFrom = e.fromThreadID
            summary.forkedAtSeq = e.atSeq
            s.threads[threadID] = summary
            return
        default: break
        }
        // One hash lookup for the thread, then every change in place (no removal and reinsertion).
        guard let t = s.threads.index(forKey: threadID) else { return }  // a thread that never started: ignored
        s.threads.values[t].lastActivityNanoseconds = c.timeNanoseconds
        func message(_ kind: MessageKind, _ label: String?) {
            s.messages[threadID, default: []].append(MessageRef(seq: c.seq, kind: kind, label: label))
            s.threads.values[t].messageCount += 1
        }
        switch event {
        case .userMessage:
            message(.user, nil)
            s.threads.values[t].status = .active
        case .assistantMessage(let e):
            message(.assistant, e.model)
        case .toolCalled(let e):
            message(.toolCall, "\(e.server)/\(e.tool)")
            s.runs[e.runID]?.toolCalls += 1
        case .toolResult(let e):
            message(e.isError ? .error : .toolResult, "\(e.server)/\(e.tool)")
        case .llmFailed(let e):
            message(.error, e.model)
            s.runs[e.runID]?.failures += 1
        case .runStarted(let e):
            s.runs[e.runID] = RunSummary(
                id: e.runID, threadID: threadID, agent: e.agent, model: e.model, parentRunID: e.parentRunID,
                startedSeq: c.seq)
            s.threads.values[t].runCount += 1
        case .llmResponse(let e):
            if let r = s.runs.index(forKey: e.runID) {
                s.runs.values[r].llmCalls += 1
                // The client runs the tools its model asks for (no `tool.called`): the request is the call.
                if s.runs.values[r].agent == "openai-compatible", e.model != "client" {
                    s.runs.values[r].toolCalls += e.toolCalls.count
                }
                s.runs.values[r].inputTokens += e.inputTokens
                s.runs.values[r].outputTokens += e.outputTokens
            }
            s.threads.values[t].inputTokens += e.inputTokens
            s.threads.values[t].outputTokens += e.outputTokens
        case .runFinished(let e):
            if let r = s.runs.index(forKey: e.runID) {
                s.runs.values[r].status = RunState(e.status)
                s.runs.values[r].steps = e.steps
                s.runs.values[r].finishedSeq = c.seq
            }
        case .sessionExpired:
            s.threads.values[t].status = .expired
        default: break
        }
    }
}

public enum ThreadStatus: String, Sendable, Codable, BinaryCodableEnum {
    case active, expired
    public static let cases: [Self] = [.active, .expired]
}

public struct ThreadSummary: Sendable, Equatable, BinaryCodable {
    public var id: String
    public var workspace: String
    public var owner: String
    public var title: String?
    public var createdNanoseconds: Int64
    public var lastActivityNanoseconds: Int64
    public var messageCount = 0
    public var status = ThreadStatus.active
    public var forkedFrom: String?
    public var forkedAtSeq: Seq?
    public var runCount = 0
    public var inputTokens = 0
    public var outputTokens = 0

    public init(
        id: String, workspace: String, owner: String, title: String?, createdNanoseconds: Int64,
        lastActivityNanoseconds: Int64
    ) {
        (self.id, self.workspace, self.owner, self.title) = (id, workspace, owner, title)
        (self.createdNanoseconds, self.lastActivityNanoseconds) = (createdNanoseconds, lastActivityNanoseconds)
    }

    public func encode(to w: inout BinaryWriter) {
        w.write(id); w.write(workspace); w.write(owner); w.write(title); w.write(createdNanoseconds);
        w.write(lastActivityNanoseconds)
        w.write(messageCount); w.write(status); w.write(forkedFrom); w.write(forkedAtSeq) { $0.write($1) }
        w.write(runCount); w.write(inputTokens); w.write(outputTokens)
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            id: try r.readString(), workspace: try r.readString(), owner: try r.readString(),
            title: try r.readOptionalString(),
            createdNanoseconds: try r.readInt64(), lastActivityNanoseconds: try r.readInt64())
        messageCount = try r.readInt()
        status = try r.read()
        forkedFrom = try r.readOptionalString()
        forkedAtSeq = try r.readOptional { (r) throws(PayloadDecodingError) in try r.readSeq() }
        runCount = try r.readInt()
        inputTokens = try r.readInt()
        outputTokens = try r.readInt()
    }
}

public enum MessageKind: String, Sendable, Codable, BinaryCodableEnum {
    case user, assistant, toolCall, toolResult, error
    public static let cases: [Self] = [.user, .assistant, .toolCall, .toolResult, .error]
}

/// A message of a thread: its seq in the log (its content is there), its kind, and a short label (model, tool).
/// (Checkpointed as fixed-size blocks by `ConversationState`.)
public struct MessageRef: Sendable, Equatable {
    public var seq: Seq
    public var kind: MessageKind
    public var label: String?

    public init(seq: Seq, kind: MessageKind, label: String?) {
        (self.seq, self.kind, self.label) = (seq, kind, label)
    }
}

public enum RunState: String, Sendable, Codable, BinaryCodableEnum {
    case running, completed, failed, cancelled, limitReached, interrupted
    public static let cases: [Self] = [.running, .completed, .failed, .cancelled, .limitReached, .interrupted]
    init(_ status: RunStatus) {
        switch status {
        case .completed: self = .completed
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        case .limitReached: self = .limitReached
        case .interrupted: self = .interrupted
        }
    }
}

/// A run of a thread. (Checkpointed as a fixed-size block by `ConversationState`.)
public struct RunSummary: Sendable, Equatable {
    public var id: UUID
    public var threadID: String
    public var agent: String
    public var model: String
    public var parentRunID: UUID?
    public var status = RunState.running
    public var steps = 0
    public var llmCalls = 0
    public var toolCalls = 0
    public var failures = 0
    public var inputTokens = 0
    public var outputTokens = 0
    public var startedSeq: Seq
    public var finishedSeq: Seq?

    public init(id: UUID, threadID: String, agent: String, model: String, parentRunID: UUID?, startedSeq: Seq) {
        (self.id, self.threadID, self.agent, self.model, self.parentRunID, self.startedSeq) = (
            id, threadID, agent, model, parentRunID, startedSeq
        )
    }
}

public struct ConversationState: Sendable, Equatable, BinaryCodable {
    public var threads: [String: ThreadSummary] = [:]
    public var messages: [String: [MessageRef]] = [:]
    public var runs: [UUID: RunSummary] = [:]

    public init() {}

    /// Threads of a workspace, most recently active first.
    public func threads(workspace: String) -> [ThreadSummary] {
        threads.values.filter { $0.workspace == workspace }.sorted {
            ($0.lastActivityNanoseconds, $0.id) > ($1.lastActivityNanoseconds, $1.id)
        }
    }

    // Messages are encoded as fixed-size blocks (seq, kind, label index into a table of the few distinct labels):
    // they are most of the state, and a checkpoint must load at memory speed.
    private static let messageBytes = 13

    public func encode(to w: inout BinaryWriter) {
        w.write(threads, key: { $0.write($1) }, value: { $0.write($1) })
        var labels: [String: Int32] = [:]
        var table: [String] = []
        for refs in messages.values {
            for label in refs.lazy.compactMap(\.label) where labels[label] == nil {
                labels[label] = Int32(table.count)
                table.append(label)
            }
        }
        w.write(table)
        w.write(UInt64(messages.count))
        for thread in messages.keys.sorted() {
            let refs = messages[thread]!
            w.write(thread)
            w.write(UInt64(refs.count))
            var raw = [UInt8](repeating: 0, count: refs.count * Self.messageBytes)
            raw.withUnsafeMutableBytes { out in
                for (i, m) in refs.enumerated() {
                    let o = i * Self.messageBytes
                    out.storeBytes(of: m.seq.rawValue.littleEndian, toByteOffset: o, as: UInt64.self)
                    out[o + 8] = UInt8(MessageKind.cases.firstIndex(of: m.kind)!)
                    out.storeBytes(
                        of: (m.label.flatMap { labels[$0] } ?? -1).littleEndian, toByteOffset: o + 9, as: Int32.self)
                }
            }
            raw.withUnsafeBytes { w.writeRaw($0) }
        }
        encodeRuns(to: &w)
    }

    // Runs too are fixed-size blocks, their names (thread, agent, model) numbers into a table of distinct names.
    private static let runBytes = 110
    private enum RunFlag { static let parent: UInt8 = 1, finished: UInt8 = 2 }

    private func encodeRuns(to w: inout BinaryWriter) {
        var numbers: [String: Int32] = [:]
        var names: [String] = []
        func number(_ name: String) -> Int32 {
            if let n = numbers[name] { return n }
            numbers[name] = Int32(names.count)
            names.append(name)
            return Int32(names.count - 1)
        }
        let ids = runs.keys.sorted(by: uuidPrecedes)
        var raw = [UInt8](repeating: 0, count: ids.count * Self.runBytes)
        raw.withUnsafeMutableBytes { out in
            for (i, id) in ids.enumerated() {
                let run = runs[id]!, o = i * Self.runBytes
                withUnsafeBytes(of: run.id.uuid) {
                    out.baseAddress!.advanced(by: o).copyMemory(from: $0.baseAddress!, byteCount: 16)
                }
                if let parent = run.parentRunID {
                    withUnsafeBytes(of: parent.uuid) {
                        out.baseAddress!.advanced(by: o + 16).copyMemory(from: $0.baseAddress!, byteCount: 16)
                    }
                }
                out.storeBytes(of: number(run.threadID).littleEndian, toByteOffset: o + 32, as: Int32.self)
                out.storeBytes(of: number(run.agent).littleEndian, toByteOffset: o + 36, as: Int32.self)
                out.storeBytes(of: number(run.model).littleEndian, toByteOffset: o + 40, as: Int32.self)
                out[o + 44] = UInt8(RunState.cases.firstIndex(of: run.status)!)
                out[o + 45] =
                    (run.parentRunID == nil ? 0 : RunFlag.parent) | (run.finishedSeq == nil ? 0 : RunFlag.finished)
                for (k, v) in [run.steps, run.llmCalls, run.toolCalls, run.failures, run.inputTokens, run.outputTokens]
                    .enumerated()
                {
                    out.storeBytes(of: Int64(v).littleEndian, toByteOffset: o + 46 + 8 * k, as: Int64.self)
                }
                out.storeBytes(of: run.startedSeq.rawValue.littleEndian, toByteOffset: o + 94, as: UInt64.self)
                out.storeBytes(of: (run.finishedSeq ?? 0).rawValue.littleEndian, toByteOffset: o + 102, as: UInt64.self)
            }
        }
        w.write(names)
        w.write(UInt64(ids.count))
        raw.withUnsafeBytes { w.writeRaw($0) }
    }

    private mutating func decodeRuns(from r: inout BinaryReader) throws(PayloadDecodingError) {
        let names = try r.readStrings()
        let count = Int(clamping: try r.readUInt64())
        guard count <= Int.max / Self.runBytes else {
            throw PayloadDecodingError("\(count) runs cannot fit the checkpoint")
        }
        let raw = try r.readRaw(count * Self.runBytes)
        runs.reserveCapacity(count)
        func name(_ o: Int) throws(PayloadDecodingError) -> String {
            let n = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int32.self)))
            guard n >= 0, n < names.count else { throw PayloadDecodingError("a run refers past its table of names") }
            return names[n]
        }
        func int(_ o: Int) -> Int { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: Int64.self))) }
        for i in 0..<count {
            let o = i * Self.runBytes
            let status = Int(raw[o + 44]), flags = raw[o + 45]
            guard status < RunState.cases.count else {
                throw PayloadDecodingError("a run has an unknown status \(status)")
            }
            var run = RunSummary(
                id: UUID(uuid: raw.loadUnaligned(fromByteOffset: o, as: uuid_t.self)), threadID: try name(o + 32),
                agent: try name(o + 36),
                model: try name(o + 40),
                parentRunID: flags & RunFlag.parent == 0
                    ? nil : UUID(uuid: raw.loadUnaligned(fromByteOffset: o + 16, as: uuid_t.self)),
                startedSeq: Seq(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o + 94, as: UInt64.self))))
            run.status = RunState.cases[status]
            (run.steps, run.llmCalls, run.toolCalls) = (int(o + 46), int(o + 54), int(o + 62))
            (run.failures, run.inputTokens, run.outputTokens) = (int(o + 70), int(o + 78), int(o + 86))
            if flags & RunFlag.finished != 0 {
                run.finishedSeq = Seq(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o + 102, as: UInt64.self)))
            }
            runs[run.id] = run
        }
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        let string = { (r: inout BinaryReader) throws(PayloadDecodingError) -> String in try r.readString() }
        threads = try r.readMap(key: string, value: { (r) throws(PayloadDecodingError) in try r.read() })
        let table = try r.readStrings()
        let threadCount = try r.readUInt64()
        messages.reserveCapacity(Int(min(threadCount, 1 << 24)))
        for _ in 0..<threadCount {
            let thread = try r.readString()
            let count = Int(clamping: try r.readUInt64())
            let raw = try r.readRaw(count * Self.messageBytes)
            var valid = true
            let refs = [MessageRef](unsafeUninitializedCapacity: count) { out, initialized in
                for i in 0..<count {
                    let o = i * Self.messageBytes
                    let kind = Int(raw[o + 8])
                    let label = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: o + 9, as: Int32.self)))
                    valid = valid && kind < MessageKind.cases.count && label < table.count && label >= -1
                    out.baseAddress!.advanced(by: i).initialize(
                        to: MessageRef(
                            seq: Seq(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self))),
                            kind: MessageKind.cases[min(kind, MessageKind.cases.count - 1)],
                            label: label >= 0 && label < table.count ? table[label] : nil))
                    initialized = i + 1
                }
            }
            guard valid else { throw PayloadDecodingError("a message of thread \(thread) refers past its tables") }
            messages[thread] = refs
        }
        try decodeRuns(from: &r)
    }
}

/// Byte order of two UUIDs (without formatting them as strings).
func uuidPrecedes(_ a: UUID, _ b: UUID) -> Bool {
    withUnsafeBytes(of: a.uuid) { x in withUnsafeBytes(of: b.uuid) { y in x.lexicographicallyPrecedes(y) } }
}
