import Engine
import Events
import Projections

/// The OpenAPI 3.0 document served at `/openapi.json`: every route the server has (a test checks the router against
/// it), its parameters, bodies, answers and the errors it can give, all in the one error shape.
enum OpenAPIDocument {
    static let thread = Parameter.threadPath("thread", "The thread's id.", example: "t-demo")
    static let name = Parameter.path("name", "The entry's name.", example: "scripted")
    static let workspace = Parameter.path("workspace", "The workspace.", example: "payments")
    static let role = Parameter.path("role", "The role.", example: "operator")
    static let at = Parameter.query(
        "at", Schema.integer(minimum: 1), "Answer as of this seq (the state just after it).")
    static func limit(_ maximum: Int, _ fallback: Int) -> Parameter {
        .query("limit", Schema.integer(minimum: 1, maximum: maximum), "At most this many (default \(fallback)).")
    }

    static let auditFilters: [Parameter] = [
        .query("actor", Schema.queryText, "Only this subject's entries."),
        .query("workspace", Schema.entryName, "The workspace (default: the token's)."),
        .query("action", Schema.queryText, "Only this action (e.g. `tool.call`)."),
        .query("resource", Schema.queryText, "Only resources starting with this."),
        .query("decision", Schema.oneOf(["allow", "deny"]), "Only this decision."),
        .query("kind", Schema.oneOf(AuditKind.cases.map(\.rawValue)), "Only this kind of entry."),
        .query("from", Schema.dateTime, "Not before this RFC 3339 time."),
        .query("through", Schema.dateTime, "Not after this RFC 3339 time."),
        .query("order", Schema.oneOf(["newest", "oldest"]), "Newest first (default) or oldest first."),
    ]

    static let operations: [Operation] = [
        // Operations
        Operation(
            method: "get", path: "/healthz", summary: "The process answers.",
            answers: [(200, "Alive.", .json(Schema.ref("Health")))], authenticated: false),
        Operation(
            method: "get", path: "/readyz", summary: "The log is open and readable, and the read models follow it.",
            answers: [(200, "Ready; `events` is how many the log holds.", .json(Schema.ref("Ready")))], errors: [503],
            authenticated: false),
        Operation(
            method: "get", path: "/metrics",
            summary: "Prometheus metrics: requests, latencies, appends, group commits, model and tool calls.",
            answers: [(200, "The text exposition format.", .media(["text/plain"]))], authenticated: false),
        Operation(
            method: "get", path: "/openapi.json", summary: "This document.",
            answers: [(200, "OpenAPI 3.0.", .json(["type": "object"]))], authenticated: false),
        Operation(
            method: "get", path: "/", summary: "The web page (docs/ui.md); it calls this API with the user's token.",
            answers: [(200, "HTML.", .media(["text/html"]))], authenticated: false),
        Operation(
            method: "get", path: "/ui/{asset}", summary: "A file of the web page: its scripts and style sheet.",
            parameters: [.path("asset", "The file's name.", example: "app.js")],
            answers: [(200, "JavaScript or CSS.", .media(["text/javascript", "text/css"]))], errors: [404],
            authenticated: false),

        // Chat and threads
        Operation(
            method: "post", path: "/v1/threads/{thread}/messages",
            summary:
                "Post a user message; the thread's agent answers (a new id starts a thread). `stream` answers with SSE.",
            parameters: [thread], body: (Schema.ref("ChatMessage"), true),
            answers: [
                (
                    200,
                    "The finished run, or (streaming) `text` frames, one frame per recorded event, then `done` or `error`.",
                    .jsonOrEvents(Schema.ref("Run"))
                )
            ],
            errors: [400, 403, 404, 409, 413, 422, 502, 503]),
        Operation(
            method: "get", path: "/v1/threads/{thread}/events",
            summary: "The thread's recorded events, a page at a time.",
            parameters: [
                thread, .query("from", Schema.integer(minimum: 1), "The first revision (default 1)."), limit(1000, 100),
            ],
            answers: [(200, "A page; `next` is the `from` of the next one.", .json(Schema.ref("ThreadEvents")))],
            errors: [400, 403, 404, 503]),
        Operation(
            method: "post", path: "/v1/threads",
            summary: "Start an empty thread in the caller's workspace (messages follow).",
            body: (Schema.ref("NewThread"), false),
            answers: [(201, "The thread.", .json(Schema.ref("ThreadCreated")))], errors: [400, 403, 409, 413, 422, 503]),
        Operation(
            method: "get", path: "/v1/threads",
            summary: "Threads in the caller's workspace (all, or the caller's own), most recent first.",
            parameters: [
                limit(200, 50),
                .query("before", Schema.integer, "Only threads last active before this (the previous page's `next`)."),
                .query(
                    "q", Schema.queryText,
                    "Only threads whose title or messages hold this text (any case). A page may then hold fewer than `limit` and still have a `next`: each request looks at 500 threads at most."
                ),
            ],
            answers: [(200, "A page.", .json(Schema.ref("ThreadList")))], errors: [403, 503]),
        Operation(
            method: "get", path: "/v1/threads/{thread}",
            summary: "A thread: summary, messages, runs; `at` for the thread as it stood then.",
            parameters: [thread, at], answers: [(200, "The thread.", .json(Schema.ref("ThreadDetail")))],
            errors: [400, 403, 404, 503]),

        // Debugging
        Operation(
            method: "post", path: "/v1/threads/{thread}/fork",
            summary: "A new thread sharing this one's history up to a seq, optionally continued with a message.",
            parameters: [thread], body: (Schema.ref("ForkRequest"), true),
            answers: [(201, "The fork (and the run its message started).", .json(Schema.ref("Forked")))],
            errors: [400, 403, 404, 409, 413, 422, 502, 503]),
        Operation(
            method: "post", path: "/v1/threads/{thread}/replay",
            summary:
                "Re-execute the thread's runs against their recording (no body), or a counterfactual run into a new thread.",
            parameters: [thread], body: (Schema.ref("ReplayRequest"), false),
            answers: [
                (200, "The divergence report of a recorded replay.", .json(Schema.ref("ReplayReport"))),
                (201, "The counterfactual thread and how it compares.", .json(Schema.ref("Counterfactual"))),
            ],
            errors: [400, 403, 404, 409, 413, 422, 502, 503]),
        Operation(
            method: "get", path: "/v1/threads/{thread}/diff/{other}",
            summary: "Two threads' steps side by side and their first divergence.",
            parameters: [thread, .threadPath("other", "The thread to compare with.", example: "t-demo")],
            answers: [(200, "The comparison.", .json(Schema.ref("ThreadDiff")))], errors: [400, 403, 404, 503]),

        // The log
        Operation(
            method: "get", path: "/v1/events", summary: "The global log from a seq (administrators).",
            parameters: [.query("from", Schema.integer(minimum: 1), "The first seq (default 1)."), limit(1000, 100)],
            answers: [(200, "A page; `next` is the `from` of the next one.", .json(Schema.ref("LogPage")))],
            errors: [403, 503]),
        Operation(
            method: "get", path: "/v1/events/stream",
            summary:
                "A live tail of the log as SSE: the backlog from `from`, a `caught-up` frame, then events as they are appended.",
            parameters: [.query("from", Schema.integer(minimum: 1), "The first seq (default: the next one appended).")],
            answers: [
                (
                    200,
                    "One frame per event (named by type, `id` = seq); `dropped` if the reader falls too far behind.",
                    .events
                )
            ],
            errors: [403]),

        Operation(
            method: "get", path: "/v1/checkpoints/latest",
            summary:
                "The latest signed checkpoint of the log (a C2SP signed note: origin, size, chain hash, Ed25519 signature), for a witness to keep; 404 when the server signs none.",
            answers: [(200, "The signed note.", .media(["text/plain"]))], errors: [403, 404]),

        // Audit
        Operation(
            method: "get", path: "/v1/audit", summary: "The audit trail, filtered, a page at a time.",
            parameters: auditFilters + [
                limit(1000, 100), .query("cursor", Schema.integer(minimum: 0), "The previous page's `next`."),
            ],
            answers: [(200, "A page.", .json(Schema.ref("AuditPage")))], errors: [400, 403, 503]),
        Operation(
            method: "get", path: "/v1/audit/export", summary: "Every entry the filters match, as NDJSON or CSV.",
            parameters: auditFilters + [.query("format", Schema.oneOf(["ndjson", "csv"]), "NDJSON (default) or CSV.")],
            answers: [(200, "One entry per line.", .media(["application/x-ndjson", "text/csv"]))],
            errors: [400, 403, 503]),

        // Registry
        Operation(
            method: "get", path: "/v1/registry",
            summary: "Models, defaults, MCP servers (with health) and agents; `at` for a past registry.",
            parameters: [at], answers: [(200, "The registry.", .json(Schema.ref("Registry")))], errors: [400, 403, 503]),
        Operation(
            method: "put", path: "/v1/registry/models/{name}", summary: "Register or update a model.",
            parameters: [name], body: (Schema.ref("ModelInput"), true),
            answers: [(200, "Updated.", .empty), (201, "Registered.", .empty)], errors: [400, 403, 413, 422, 503]),
        Operation(
            method: "delete", path: "/v1/registry/models/{name}",
            summary: "Remove a model; 409 while a default or an agent names it.",
            parameters: [name], answers: [(204, "Removed.", .empty)], errors: [403, 404, 409, 503]),
        Operation(
            method: "put", path: "/v1/registry/default-model",
            summary: "Set (or, with `null`, clear) the organization's default model.",
            body: (Schema.ref("DefaultModel"), true), answers: [(200, "Set.", .empty)],
            errors: [400, 403, 413, 422, 503]),
        Operation(
            method: "put", path: "/v1/workspaces/{workspace}/default-model",
            summary: "Set (or, with `null`, clear) a workspace's override of the default model.",
            parameters: [workspace], body: (Schema.ref("DefaultModel"), true), answers: [(200, "Set.", .empty)],
            errors: [400, 403, 413, 422, 503]),
        Operation(
            method: "get", path: "/v1/workspaces/{workspace}/effective-model",
            summary: "The model the workspace's runs use and why (override, org default), now or `at` a seq.",
            parameters: [workspace, at],
            answers: [(200, "The model and its provenance.", .json(Schema.ref("EffectiveModel")))],
            errors: [400, 403, 503]),
        Operation(
            method: "put", path: "/v1/registry/mcp/{name}", summary: "Register or update an MCP server.",
            parameters: [name], body: (Schema.ref("MCPServerInput"), true),
            answers: [(200, "Updated.", .empty), (201, "Registered.", .empty)], errors: [400, 403, 413, 422, 503]),
        Operation(
            method: "delete", path: "/v1/registry/mcp/{name}", summary: "Remove an MCP server.",
            parameters: [name], answers: [(204, "Removed.", .empty)], errors: [403, 404, 503]),
        Operation(
            method: "put", path: "/v1/registry/mcp/{name}/maintenance",
            summary: "Take an MCP server out of use (runs leave it out, health checks leave it alone) or back in.",
            parameters: [name], body: (Schema.ref("MaintenanceInput"), true), answers: [(200, "Recorded.", .empty)],
            errors: [400, 403, 404, 413, 503]),
        Operation(
            method: "post", path: "/v1/registry/mcp/{name}/refresh",
            summary: "Start an MCP server's session again and list its tools afresh.",
            parameters: [name], answers: [(200, "Its tools.", .json(Schema.ref("ToolList")))], errors: [403, 404, 503]),
        Operation(
            method: "put", path: "/v1/registry/agents/{name}", summary: "Define or update an agent.",
            parameters: [name], body: (Schema.ref("AgentInput"), true),
            answers: [(200, "Updated.", .empty), (201, "Defined.", .empty)], errors: [400, 403, 413, 422, 503]),
        Operation(
            method: "delete", path: "/v1/registry/agents/{name}", summary: "Remove an agent.",
            parameters: [name], answers: [(204, "Removed.", .empty)], errors: [403, 404, 503]),

        // Policy
        Operation(
            method: "get", path: "/v1/policy",
            summary:
                "The authorization policy in force (roles → permissions) and its version; `at` for the policy then.",
            parameters: [at], answers: [(200, "The policy.", .json(Schema.ref("Policy")))], errors: [400, 403, 503]),
        Operation(
            method: "put", path: "/v1/policy",
            summary: "Replace the policy (`policy.admin`); it decides the next request on every server.",
            body: (Schema.ref("PolicyInput"), true),
            answers: [(200, "Its new version.", .json(Schema.ref("PolicyVersion")))],
            errors: [400, 403, 413, 422, 503]),
        Operation(
            method: "get", path: "/v1/policy/history",
            summary: "Every change of the policy: version, time, who, what and why (`policy.admin`).",
            answers: [(200, "The changes, oldest first.", .json(Schema.ref("PolicyHistory")))], errors: [403, 503]),
        Operation(
            method: "put", path: "/v1/policy/roles/{role}", summary: "Set one role's permissions (`policy.admin`).",
            parameters: [role], body: (Schema.ref("RoleInput"), true),
            answers: [(200, "The policy's new version.", .json(Schema.ref("PolicyVersion")))],
            errors: [400, 403, 413, 422, 503]),
        Operation(
            method: "delete", path: "/v1/policy/roles/{role}", summary: "Remove a role (`policy.admin`).",
            parameters: [role, .query("reason", Schema.queryText, "Why, recorded with the change.")],
            answers: [(204, "Removed.", .empty)], errors: [403, 404, 503]),

        // OpenAI-compatible
        Operation(
            method: "post", path: "/v1/chat/completions",
            summary:
                "OpenAI Chat Completions (JSON or SSE chunks, the client's tools), recorded in the thread the `X-Logbook-Thread` header names.",
            parameters: [
                Parameter(
                    name: "X-Logbook-Thread", location: "header", schema: Schema.threadID,
                    description:
                        "The thread to record the call in (default: a new one per call); \(Schema.threadIDRule)")
            ],
            body: (Schema.ref("ChatCompletionRequest"), true),
            answers: [
                (
                    200, "A completion, or (with `stream`) `chat.completion.chunk` frames and `[DONE]`.",
                    .jsonOrEvents(Schema.ref("ChatCompletion"))
                )
            ],
            errors: [400, 403, 404, 409, 413, 422, 502, 503]),
        Operation(
            method: "get", path: "/v1/models", summary: "The registered models the caller may use.",
            answers: [(200, "OpenAI's model list.", .json(Schema.ref("ModelList")))], errors: [403, 503]),
    ]

    /// The document, as JSON text (built once).
    static let json: String = {
        var paths: [String: [String: JSONValue]] = [:]
        for operation in operations { paths[operation.path, default: [:]][operation.method] = operation.json }
        let document: JSONValue = [
            "openapi": "3.0.3",
            "info": [
                "title": "Logbook", "version": "1",
                "description":
                    "An event-sourced agent engine: chat, threads, the log, the audit trail, the registry, replay and fork. Every route but the operational ones needs a bearer JWT.",
            ],
            "paths": .object(paths.mapValues(JSONValue.object)),
            "components": [
                "schemas": .object(OpenAPISchemas.all),
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "bearerFormat": "JWT"]],
            ],
        ]
        return document.jsonText
    }()

    /// The routes the document describes, as `METHOD /path/{capture}` (how Hummingbird describes its routes).
    static var routes: Set<String> { Set(operations.map { "\($0.method.uppercased()) \($0.path)" }) }
}
