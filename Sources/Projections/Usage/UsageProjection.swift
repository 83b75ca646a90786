import EventStore
import Events
import Foundation

/// Tokens and calls per model, workspace, subject and day; tool calls per server and tool with errors and latency.
public enum UsageProjection: Projection {
    public static let name = "usage"
    /// 2: calls whose server reported no usage are counted apart (`callsWithoutUsage`).
    public static let version: UInt64 = 2
    public static let eventTypes: Set<String> = [
        ThreadStarted.typeName, ThreadForked.typeName, LLMResponse.typeName, LLMFailed.typeName, ToolResult.typeName,
    ]
    public static let initial = UsageState()
    /// Message bodies, answers and tool outputs stay in the log.
    public static let readsBulkText = false
    static let nanosecondsPerDay: Int64 = 86_400 * 1_000_000_000

    public static func apply(_ event: DomainEvent, context c: EventContext, to s: inout UsageState) {
        let day = Int(c.timeNanoseconds / nanosecondsPerDay)
        switch event {
        case .threadStarted(let e): s.owners[c.stream.rawValue] = e.owner
        case .threadForked(let e): s.owners[c.stream.rawValue] = e.owner
        case .llmResponse(let e):
            let key = LLMUsageKey(
                model: e.model, workspace: c.workspace ?? "",
                subject: s.owners[c.stream.rawValue] ?? c.actor ?? "unknown", day: day)
            s.llm[key, default: LLMUsage()].add(
                // one hash lookup
                inputTokens: e.inputTokens, outputTokens: e.outputTokens, reported: e.usageUnknown != true)
        case .llmFailed(let e):
            let key = LLMUsageKey(
                model: e.model, workspace: c.workspace ?? "",
                subject: s.owners[c.stream.rawValue] ?? c.actor ?? "unknown", day: day)
            s.llm[key, default: LLMUsage()].failures += 1
        case .toolResult(let e):
            s.tools[ToolKey(server: e.server, tool: e.tool), default: ToolUsage()].add(
                isError: e.isError, latencyMilliseconds: e.latencyMilliseconds)
        default: break
        }
    }
}

public struct LLMUsageKey: Hashable, Comparable, Sendable, BinaryCodable {
    public var model: String
    public var workspace: String
    public var subject: String
    /// Days since the Unix epoch (UTC).
    public var day: Int

    public static func < (a: Self, b: Self) -> Bool {
        (a.model, a.workspace, a.subject, a.day) < (b.model, b.workspace, b.subject, b.day)
    }
    public func encode(to w: inout BinaryWriter) { w.write(model); w.write(workspace); w.write(subject); w.write(day) }
    public init(model: String, workspace: String, subject: String, day: Int) {
        (self.model, self.workspace, self.subject, self.day) = (model, workspace, subject, day)
    }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(
            model: try r.readString(), workspace: try r.readString(), subject: try r.readString(), day: try r.readInt())
    }
}

public struct LLMUsage: Sendable, Equatable, BinaryCodable {
    public var calls = 0, failures = 0, inputTokens = 0, outputTokens = 0
    /// Calls whose server reported no usage: the token counts leave them out, so they are a lower bound while this is
    /// above zero.
    public var callsWithoutUsage = 0
    public init() {}

    mutating func add(inputTokens: Int, outputTokens: Int, reported: Bool = true) {
        calls += 1
        self.inputTokens += inputTokens
        self.outputTokens += outputTokens
        if !reported { callsWithoutUsage += 1 }
    }
    public func encode(to w: inout BinaryWriter) {
        w.write(calls); w.write(failures); w.write(inputTokens); w.write(outputTokens); w.write(callsWithoutUsage)
    }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        (calls, failures, inputTokens, outputTokens) = (
            try r.readInt(), try r.readInt(), try r.readInt(), try r.readInt()
        )
        callsWithoutUsage = try r.readInt()
    }
}

public struct ToolKey: Hashable, Comparable, Sendable, BinaryCodable {
    public var server: String
    public var tool: String
    public init(server: String, tool: String) { (self.server, self.tool) = (server, tool) }
    public static func < (a: Self, b: Self) -> Bool { (a.server, a.tool) < (b.server, b.tool) }
    public func encode(to w: inout BinaryWriter) { w.write(server); w.write(tool) }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        self.init(server: try r.readString(), tool: try r.readString())
    }
}

public struct ToolUsage: Sendable, Equatable, BinaryCodable {
    public var calls = 0, errors = 0, totalLatencyMilliseconds = 0, maxLatencyMilliseconds = 0
    public init() {}
    public var meanLatencyMilliseconds: Double { calls == 0 ? 0 : Double(totalLatencyMilliseconds) / Double(calls) }

    mutating func add(isError: Bool, latencyMilliseconds: Int) {
        calls += 1
        errors += isError ? 1 : 0
        totalLatencyMilliseconds += latencyMilliseconds
        maxLatencyMilliseconds = max(maxLatencyMilliseconds, latencyMilliseconds)
    }
    public func encode(to w: inout BinaryWriter) {
        w.write(calls); w.write(errors); w.write(totalLatencyMilliseconds); w.write(maxLatencyMilliseconds)
    }
    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        (calls, errors, totalLatencyMilliseconds, maxLatencyMilliseconds) = (
            try r.readInt(), try r.readInt(), try r.readInt(), try r.readInt()
        )
    }
}

public struct UsageState: Sendable, Equatable, BinaryCodable {
    public var llm: [LLMUsageKey: LLMUsage] = [:]
    public var tools: [ToolKey: ToolUsage] = [:]
    /// Thread stream → its owner, to charge model calls to the person who asked.
    var owners: [String: String] = [:]

    public init() {}

    public func encode(to w: inout BinaryWriter) {
        w.write(llm, key: { $0.write($1) }, value: { $0.write($1) })
        w.write(tools, key: { $0.write($1) }, value: { $0.write($1) })
        w.write(owners, key: { $0.write($1) }, value: { $0.write($1) })
    }

    public init(from r: inout BinaryReader) throws(PayloadDecodingError) {
        llm = try r.readMap(
            key: { (r) throws(PayloadDecodingError) in try r.read() },
            value: { (r) throws(PayloadDecodingError) in try r.read() })
        tools = try r.readMap(
            key: { (r) throws(PayloadDecodingError) in try r.read() },
            value: { (r) throws(PayloadDecodingError) in try r.read() })
        owners = try r.readMap(
            key: { (r) throws(PayloadDecodingError) in try r.readString() },
            value: { (r) throws(PayloadDecodingError) in try r.readString() })
    }
}
