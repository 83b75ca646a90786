import EventStore
import Events
import Foundation
import Tracing

/// The spans of agent runs, named and attributed as the OpenTelemetry semantic conventions v1.41.0 describe generative
/// AI (`gen_ai.*`, development status) and MCP (`mcp.*`): `invoke_agent {agent}` per run (a delegated run nested in its
/// parent's), `chat {model}` per model call (CLIENT), `execute_tool {tool}` per tool call, authorization decisions as
/// events of the span they decided. Every span carries `logbook.seq`, the seq of the event that opened its step
/// (`run.started`, `llm.request`, `tool.called`), so a trace leads back to the log; `logbook traces` builds the same
/// spans from those events afterwards (`TraceRebuild`). Without a tracer (the default: `serve` bootstraps one only when
/// an OTLP endpoint is configured) they cost a no-op. Prompts, answers and tool arguments are left out.
public enum GenAISpans {
    /// The version of the semantic conventions these spans follow.
    public static let conventions = "1.41.0"

    /// `gen_ai.provider.name` for a registry provider: the conventions' names where they have one, else the
    /// provider's own.
    public static func providerName(_ provider: String) -> String {
        switch provider {
        case "openai": "openai"
        case "azure-openai": "azure.ai.openai"
        case "anthropic": "anthropic"
        default: provider
        }
    }

    /// Starts `invoke_agent {agent}` under `context`.
    public static func agent(
        _ agent: String, model: String, thread: String, run: UUID, parentRun: UUID?, context: ServiceContext,
        at instant: some TracerInstant = DefaultTracerClock.now
    ) -> any Span {
        let span = InstrumentationSystem.tracer.startSpan(
            "invoke_agent \(agent)", context: context, ofKind: .internal, at: instant)
        span.updateAttributes { a in
            a["gen_ai.operation.name"] = "invoke_agent"
            a["gen_ai.agent.name"] = agent
            a["gen_ai.request.model"] = model
            a["gen_ai.conversation.id"] = thread
            a["logbook.run.id"] = run.uuidString.lowercased()
            if let parentRun { a["logbook.run.parent_id"] = parentRun.uuidString.lowercased() }
        }
        return span
    }

    /// Starts `chat {model}` (CLIENT) under `context`.
    public static func chat(
        model: String, provider: String, thread: String, step: Int, context: ServiceContext,
        at instant: some TracerInstant = DefaultTracerClock.now
    ) -> any Span {
        let span = InstrumentationSystem.tracer.startSpan(
            "chat \(model)", context: context, ofKind: .client, at: instant)
        span.updateAttributes { a in
            a["gen_ai.operation.name"] = "chat"
            a["gen_ai.provider.name"] = providerName(provider)
            a["gen_ai.request.model"] = model
            a["gen_ai.conversation.id"] = thread
            a["logbook.step"] = step
        }
        return span
    }

    /// What a model answered, on its `chat` span.
    public static func answered(
        _ span: any Span, model: String, finishReason: String, inputTokens: Int, outputTokens: Int
    ) {
        span.updateAttributes { a in
            a["gen_ai.response.model"] = model
            a["gen_ai.response.finish_reasons"] = [finishReason]
            a["gen_ai.usage.input_tokens"] = inputTokens
            a["gen_ai.usage.output_tokens"] = outputTokens
        }
    }

    /// Starts `execute_tool {tool}` under `context`.
    public static func tool(
        _ tool: String, server: String, callID: String, thread: String, context: ServiceContext,
        at instant: some TracerInstant = DefaultTracerClock.now
    ) -> any Span {
        let span = InstrumentationSystem.tracer.startSpan(
            "execute_tool \(tool)", context: context, ofKind: .internal, at: instant)
        span.updateAttributes { a in
            a["gen_ai.operation.name"] = "execute_tool"
            a["gen_ai.tool.name"] = tool
            a["gen_ai.tool.call.id"] = callID
            a["gen_ai.tool.type"] = "function"
            a["gen_ai.conversation.id"] = thread
            a["mcp.method.name"] = "tools/call"
            a["logbook.mcp.server"] = server
        }
        return span
    }

    /// A failure: `error.type` and an error status.
    public static func failed(_ span: any Span, type: String, message: String) {
        span.attributes["error.type"] = type
        span.setStatus(SpanStatus(code: .error, message: message))
    }

    /// An authorization decision, as an event of the span it decided.
    public static func decided(
        _ span: any Span, _ decision: AuthorizationDecided, at instant: some TracerInstant = DefaultTracerClock.now
    ) {
        var attributes: SpanAttributes = [:]
        attributes["logbook.authz.decision"] = decision.decision.rawValue
        attributes["logbook.authz.action"] = decision.action
        attributes["logbook.authz.resource"] = decision.resource
        attributes["logbook.authz.subject"] = decision.subject
        if let rule = decision.rule { attributes["logbook.authz.rule"] = rule }
        span.addEvent(SpanEvent(name: "authz.decided", at: instant, attributes: attributes))
    }

    /// A failed attempt of a model call (`llm.failed`), as an event of its `chat` span.
    public static func attemptFailed(
        _ span: any Span, attempt: Int, retrying: Bool, at instant: some TracerInstant = DefaultTracerClock.now
    ) {
        span.addEvent(
            SpanEvent(
                name: "logbook.llm.attempt_failed", at: instant,
                attributes: ["logbook.attempt": .int64(Int64(attempt)), "logbook.retrying": .bool(retrying)]))
    }

    /// The seq of the event that opened the span's step.
    public static func opened(_ span: any Span, at seq: Seq) {
        span.attributes["logbook.seq"] = Int(seq.rawValue)
    }

    /// `body` with `context` as the task's trace context: what it calls (AsyncHTTPClient's request spans, MCP's
    /// `_meta`) is part of that span.
    public static func within<T, E: Error>(
        _ context: ServiceContext, _ body: () async throws(E) -> T
    ) async throws(E) -> T {
        let result: Result<T, E> = await ServiceContext.$current.withValue(context) {
            do throws(E) { return .success(try await body()) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
