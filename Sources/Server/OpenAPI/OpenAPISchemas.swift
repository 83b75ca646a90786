import Engine
import Events
import Projections

/// The bodies the API sends and accepts, as component schemas. Each mirrors an `Encodable`/`Decodable` type of the
/// routes (named in its description); the OpenAPI test checks real answers against them.
enum OpenAPISchemas {
    static let all: [String: JSONValue] = [
        "Error": Schema.object(
            [
                "error": Schema.object(
                    ["code": Schema.string, "message": Schema.string], required: ["code", "message"])
            ],
            required: ["error"], description: "Every error: a stable code and a message saying what to do."),

        "SSEFrame": Schema.object(
            ["event": Schema.string, "id": Schema.string, "data": Schema.string], required: ["data"],
            description: "One server-sent event; `data` is JSON (or `[DONE]` on the OpenAI-compatible stream)."),

        // Chat (ThreadRoutes+Messages)
        "ChatMessage": Schema.object(
            [
                "text": Schema.text, "agent": Schema.entryName, "title": Schema.string, "stream": Schema.boolean,
                "model": Schema.entryName,
            ],
            required: ["text"],
            example: ["text": "Is the payments API healthy?"], closed: true),
        "Run": Schema.object(
            [
                "runID": Schema.string, "status": Schema.string, "answer": Schema.string, "steps": Schema.count,
                "inputTokens": Schema.count, "outputTokens": Schema.count,
            ],
            required: ["runID", "status", "steps", "inputTokens", "outputTokens"], description: "A finished run."),
        "ThreadEvents": Schema.object(
            ["events": Schema.array(Schema.ref("Event")), "next": Schema.integer], required: ["events"]),

        // Threads (ThreadRoutes+Conversation)
        "NewThread": Schema.object(
            ["threadID": Schema.threadID, "title": Schema.string, "agent": Schema.entryName],
            description:
                "All optional: the id (default: a fresh one; \(Schema.threadIDRule)), a title, the agent that answers.",
            example: ["title": "Payments latency"], closed: true),
        "ThreadCreated": Schema.object(
            [
                "threadID": Schema.string, "workspace": Schema.string, "owner": Schema.string, "title": Schema.string,
                "agent": Schema.string,
            ],
            required: ["threadID", "workspace", "owner"]),
        "Thread": Schema.object(
            [
                "id": Schema.string, "workspace": Schema.string, "owner": Schema.string, "title": Schema.string,
                "created": Schema.dateTime,
                "lastActivity": Schema.dateTime, "messageCount": Schema.count, "status": Schema.string,
                "forkedFrom": Schema.string,
                "runCount": Schema.count, "inputTokens": Schema.count, "outputTokens": Schema.count,
            ],
            required: [
                "id", "workspace", "owner", "created", "lastActivity", "messageCount", "status", "runCount",
                "inputTokens", "outputTokens",
            ]),
        "ThreadList": Schema.object(
            ["threads": Schema.array(Schema.ref("Thread")), "next": Schema.integer], required: ["threads"]),
        "ThreadDetail": Schema.object(
            [
                "thread": Schema.ref("Thread"),
                "messages": Schema.array(
                    Schema.object(
                        ["seq": Schema.integer, "kind": Schema.string, "label": Schema.string],
                        required: ["seq", "kind"])),
                "runs": Schema.array(
                    Schema.object(
                        [
                            "id": Schema.string, "agent": Schema.string, "model": Schema.string,
                            "parentRunID": Schema.string, "status": Schema.string,
                            "steps": Schema.count, "toolCalls": Schema.count, "failures": Schema.count,
                            "inputTokens": Schema.count, "outputTokens": Schema.count,
                        ],
                        required: [
                            "id", "agent", "model", "status", "steps", "toolCalls", "failures", "inputTokens",
                            "outputTokens",
                        ])),
                "at": Schema.integer,
            ],
            required: ["thread", "messages", "runs"]),

        // The log (EventRoutes)
        "Event": Schema.object(
            [
                "seq": Schema.integer, "stream": Schema.string, "revision": Schema.integer, "type": Schema.string,
                "time": Schema.dateTime, "actor": Schema.string, "workspace": Schema.string, "data": Schema.any,
            ],
            required: ["seq", "stream", "revision", "type", "time"],
            description: "An event of the log: its envelope, and its payload as JSON (`data`)."),
        "LogPage": Schema.object(
            ["events": Schema.array(Schema.ref("Event")), "next": Schema.integer], required: ["events"]),

        // Audit (AuditRoutes)
        "AuditEntry": Schema.object(
            [
                "seq": Schema.integer, "time": Schema.dateTime, "kind": Schema.oneOf(AuditKind.cases.map(\.rawValue)),
                "actor": Schema.string,
                "workspace": Schema.string, "action": Schema.string, "resource": Schema.string,
                "decision": Schema.oneOf(["allow", "deny"]),
                "reason": Schema.string, "before": Schema.string, "after": Schema.string,
                "thread": Schema.string,
            ],
            required: ["seq", "time", "kind", "actor", "workspace", "action", "resource", "reason"]),
        "AuditPage": Schema.object(
            ["entries": Schema.array(Schema.ref("AuditEntry")), "next": Schema.integer], required: ["entries"]),

        // Registry (RegistryRoutes)
        "Model": Schema.object(
            [
                "name": Schema.string, "provider": Schema.string, "endpoint": Schema.string,
                "deployment": Schema.string, "apiVersion": Schema.string,
                "secretReference": Schema.string, "environment": Schema.oneOf(["LAB", "NONPROD", "PROD"]),
                "parameters": Schema.stringMap,
            ],
            required: ["name", "provider", "endpoint", "environment", "parameters"]),
        "ModelInput": Schema.object(
            [
                "provider": Schema.oneOf([
                    "openai", "azure-openai", "anthropic", "ollama", "vllm", "llama.cpp", "openai-compatible",
                ]),
                "endpoint": Schema.string(pattern: "^https?://[a-z0-9.-]+(:[0-9]{2,5})?(/[a-z0-9]*)?$"),
                "deployment": Schema.string,
                "apiVersion": Schema.string,
                "secretReference": Schema.string(pattern: "^(env:[A-Z_][A-Z0-9_]*|file:/[a-z/]+)$"),
                "environment": Schema.oneOf(["LAB", "NONPROD", "PROD"]),
                "parameters": [
                    "type": "object",
                    "additionalProperties": ["oneOf": [Schema.string, ["type": "number"], Schema.boolean]],
                    "description":
                        "Sent with every call: model (the id on the wire, e.g. org/name), temperature, max_tokens; and the deadlines timeout, first_byte_timeout, idle_timeout (seconds).",
                ],
            ],
            required: ["provider", "endpoint"],
            description:
                "A model; secretReference is `env:NAME` or `file:PATH` that the operator allowed (`--allowed-secrets`), never a key.",
            example: [
                "provider": "openai", "endpoint": "http://127.0.0.1:11434/v1", "secretReference": "env:OPENAI_API_KEY",
            ], closed: true),
        "MCPServer": Schema.object(
            [
                "name": Schema.string, "transport": Schema.oneOf(["stdio", "http"]),
                "command": Schema.array(Schema.string), "url": Schema.string,
                "isInternal": Schema.boolean, "headers": Schema.stringMap,
            ],
            required: ["name", "transport", "command", "isInternal"]),
        "MCPServerInput": Schema.object(
            [
                "transport": Schema.oneOf(["stdio", "http"]), "command": Schema.array(Schema.string),
                "url": Schema.string(pattern: "^https?://[a-z0-9.-]+(:[0-9]{2,5})?(/[a-z0-9]*)?$"),
                "isInternal": Schema.boolean,
                "headers": [
                    "type": "object", "additionalProperties": Schema.string(pattern: "^env:LOGBOOK_SECRET_[A-Z0-9_]+$"),
                ],
            ],
            required: ["transport"],
            description:
                "stdio needs `command`; http needs an http(s) `url`. An internal server is sent the caller's token; an external one only its own `headers` (name → secret reference).",
            example: ["transport": "http", "url": "http://127.0.0.1:8931/mcp"], closed: true),
        "MaintenanceInput": Schema.object(
            ["maintenance": Schema.boolean, "reason": Schema.string], required: ["maintenance"],
            example: ["maintenance": true, "reason": "upgrading the cluster"], closed: true),
        "ToolList": Schema.object(
            [
                "tools": Schema.array(
                    Schema.object(
                        ["name": Schema.string, "description": Schema.string], required: ["name", "description"]))
            ],
            required: ["tools"]),
        "Agent": Schema.object(
            [
                "name": Schema.string, "instructions": Schema.string, "model": Schema.string,
                "allowedTools": Schema.array(Schema.string),
                "subAgents": Schema.array(Schema.string), "toolChoice": Schema.string,
            ],
            required: ["name", "instructions", "allowedTools", "subAgents"]),
        "AgentInput": Schema.object(
            [
                "instructions": Schema.string, "model": Schema.string, "allowedTools": Schema.array(Schema.string),
                "subAgents": Schema.array(Schema.string),
                "toolChoice": [
                    "type": "string", "minLength": 1, "maxLength": 128,
                    "description": "auto, none, required, or a tool's wire name (server__tool).",
                ],
            ],
            required: ["instructions"],
            example: ["instructions": "You help with Kubernetes.", "allowedTools": ["k8s/*"]], closed: true),
        "DefaultModel": Schema.object(
            ["model": ["type": "string", "nullable": true]], description: "`null` clears the default.",
            example: ["model": "lab-model"], closed: true),
        "Registry": Schema.object(
            [
                "models": Schema.array(Schema.ref("Model")), "organizationDefault": Schema.string,
                "workspaceDefaults": Schema.stringMap,
                "mcpServers": Schema.array(
                    Schema.object(
                        [
                            "definition": Schema.ref("MCPServer"),
                            "health": Schema.oneOf(["unknown", "healthy", "unhealthy", "maintenance"]),
                            "healthDetail": Schema.string, "healthChecked": Schema.dateTime,
                        ],
                        required: ["definition", "health"])),
                "agents": Schema.array(Schema.ref("Agent")),
            ],
            required: ["models", "workspaceDefaults", "mcpServers", "agents"]),
        "EffectiveModel": Schema.object(
            [
                "model": Schema.string, "source": Schema.oneOf(["workspaceOverride", "organizationDefault", "unset"]),
                "provenance": Schema.array(Schema.integer), "problem": Schema.string,
            ],
            required: ["source", "provenance"],
            description: "The model a workspace's runs use, and the seqs of the events that made it so."),

        // Policy (PolicyRoutes)
        "Policy": Schema.object(
            ["version": Schema.integer, "roles": Schema.ref("Roles")], required: ["roles"],
            description: "`version`: the seq of the change that made it (absent: the server's configured policy)."),
        "Roles": [
            "type": "object", "additionalProperties": Schema.array(Schema.string(pattern: "^[^\\s:]+(:.*)?$")),
            "description": "Role → permissions (`action[:resource-pattern]`).",
        ],
        "PolicyInput": Schema.object(
            ["roles": Schema.ref("Roles"), "reason": Schema.string], required: ["roles"],
            example: [
                "roles": ["operator": ["chat", "model.use:*", "thread.read:own"], "admin": ["*"]],
                "reason": "operators may chat",
            ],
            closed: true),
        "RoleInput": Schema.object(
            ["permissions": Schema.array(Schema.string(pattern: "^[^\\s:]+(:.*)?$")), "reason": Schema.string],
            required: ["permissions"], example: ["permissions": ["chat", "model.use:*"]], closed: true),
        "PolicyVersion": Schema.object(["version": Schema.integer], required: ["version"]),
        "PolicyHistory": Schema.object(
            [
                "changes": Schema.array(
                    Schema.object(
                        [
                            "version": Schema.integer, "time": Schema.dateTime, "actor": Schema.string,
                            "change": Schema.oneOf(["replaced", "role.set", "role.removed"]),
                            "role": Schema.string, "reason": Schema.string, "roles": Schema.ref("Roles"),
                        ],
                        required: ["version", "time", "change", "roles"]))
            ],
            required: ["changes"]),

        // Debugging (ThreadRoutes+Debugging)
        "ForkRequest": Schema.object(
            [
                "at": Schema.integer(minimum: 1), "threadID": Schema.threadID, "text": Schema.string,
                "agent": Schema.entryName,
            ],
            example: ["text": "And the orders API?"], closed: true),
        "Forked": Schema.object(
            [
                "threadID": Schema.string, "forkedFrom": Schema.string, "atSeq": Schema.integer,
                "run": Schema.ref("Run"),
            ],
            required: ["threadID", "forkedFrom", "atSeq"]),
        "ReplayRequest": Schema.object(
            [
                "mode": Schema.oneOf(["recorded", "counterfactual"]), "run": ["type": "string", "format": "uuid"],
                "threadID": Schema.threadID,
                "substitution": Schema.object(
                    [
                        "instructions": Schema.string, "toolResults": Schema.stringMap,
                        "policy": Schema.nullable(
                            Schema.object(
                                [
                                    "roles": [
                                        "type": "object",
                                        "additionalProperties": Schema.array(
                                            Schema.string(pattern: "^[^\\s:]+(:.*)?$")),
                                    ]
                                ],
                                required: ["roles"], closed: true)),
                        "model": Schema.string,
                        "liveFrom": Schema.integer(minimum: 0),
                    ], closed: true),
            ],
            description:
                "A substituted `policy` shapes a recorded re-execution only: with `liveFrom` or `model` it is refused (400).",
            example: ["mode": "recorded"], closed: true),
        "Step": Schema.object(
            ["seq": Schema.integer, "kind": Schema.string, "summary": Schema.string],
            required: ["seq", "kind", "summary"]),
        "Divergence": Schema.object(
            [
                "runID": Schema.string, "index": Schema.count, "aspect": Schema.string, "recorded": Schema.ref("Step"),
                "replayed": Schema.ref("Step"),
                "detail": Schema.string,
            ],
            required: ["runID", "index", "aspect", "detail"]),
        "ReplayReport": Schema.object(
            [
                "threadID": Schema.string, "runsReplayed": Schema.count, "runsSkipped": Schema.count,
                "stepsMatched": Schema.count,
                "divergence": Schema.ref("Divergence"),
            ],
            required: ["threadID", "runsReplayed", "runsSkipped", "stepsMatched"]),
        "Counterfactual": Schema.object(
            [
                "threadID": Schema.string, "forkedAtSeq": Schema.integer, "substitution": Schema.string,
                "stepsMatched": Schema.count,
                "divergence": Schema.ref("Divergence"),
            ],
            required: ["threadID", "forkedAtSeq", "substitution", "stepsMatched"]),
        "ThreadDiff": Schema.object(
            [
                "a": Schema.ref("DiffSide"), "b": Schema.ref("DiffSide"), "shared": Schema.count,
                "firstDivergence": Schema.count,
                "aspect": Schema.string, "detail": Schema.string,
            ],
            required: ["a", "b", "shared"]),
        "DiffSide": Schema.object(
            [
                "threadID": Schema.string, "steps": Schema.array(Schema.ref("Step")), "inputTokens": Schema.count,
                "outputTokens": Schema.count,
                "toolCalls": Schema.count, "denials": Schema.count,
            ],
            required: ["threadID", "steps", "inputTokens", "outputTokens", "toolCalls", "denials"]),

        // OpenAI-compatible (OpenAIRoutes)
        "ChatCompletionRequest": Schema.object(
            [
                "model": Schema.string,
                "messages": Schema.nonEmptyArray([
                    "oneOf": [
                        Schema.object(
                            [
                                "role": Schema.oneOf(["system", "developer", "user", "assistant"]),
                                "content": Schema.ref("ChatContent"),
                                "tool_calls": Schema.nullable(Schema.array(Schema.ref("ChatToolCall"))),
                            ], required: ["role"]),
                        Schema.object(
                            [
                                "role": Schema.oneOf(["tool"]), "content": Schema.ref("ChatContent"),
                                "tool_call_id": Schema.string,
                            ],
                            required: ["role", "tool_call_id"]),
                    ]
                ]),
                "tools": Schema.nullable(
                    Schema.array(
                        Schema.object(
                            [
                                "type": Schema.string,
                                "function": Schema.object(
                                    [
                                        "name": Schema.string, "description": Schema.nullable(Schema.string),
                                        "parameters": Schema.any,
                                    ],
                                    required: ["name"]),
                            ], required: ["type", "function"]))),
                "stream": Schema.nullable(Schema.boolean), "temperature": Schema.nullable(["type": "number"]),
                "max_tokens": Schema.nullable(Schema.integer(minimum: 1)),
                "max_completion_tokens": Schema.nullable(Schema.integer(minimum: 1)),
                "stream_options": Schema.nullable(Schema.object(["include_usage": Schema.nullable(Schema.boolean)])),
                "tool_choice": [
                    "nullable": true,
                    "oneOf": [
                        Schema.oneOf(["auto", "none", "required"]),
                        Schema.object(
                            [
                                "type": Schema.oneOf(["function"]),
                                "function": Schema.object(
                                    ["name": ["type": "string", "minLength": 1]], required: ["name"]),
                            ],
                            required: ["type", "function"]),
                    ],
                ],
                "parallel_tool_calls": Schema.nullable(Schema.boolean),
                "response_format": Schema.nullable(
                    Schema.object(["type": Schema.oneOf(["text", "json_object", "json_schema"])], required: ["type"])),
            ],
            required: ["model", "messages"],
            description:
                "OpenAI's Chat Completions request (the parts Logbook uses; other fields are ignored, optional ones may be null).",
            example: ["model": "lab-model", "messages": [["role": "user", "content": "Is the payments API healthy?"]]]),
        "ChatContent": [
            "nullable": true,
            "oneOf": [
                Schema.string,
                Schema.array(
                    Schema.object(
                        ["type": Schema.oneOf(["text"]), "text": Schema.nullable(Schema.string)], required: ["type"])),
            ], "description": "A message's text, or its parts (text only).",
        ],
        "ChatToolCall": Schema.object(
            [
                "id": Schema.string, "type": Schema.string,
                "function": Schema.object(
                    ["name": Schema.string, "arguments": Schema.string], required: ["name", "arguments"]),
            ],
            required: ["id", "type", "function"]),
        "ChatCompletion": Schema.object(
            [
                "id": Schema.string, "object": Schema.string, "created": Schema.integer, "model": Schema.string,
                "choices": Schema.array(
                    Schema.object(
                        [
                            "index": Schema.count,
                            "message": Schema.object(
                                [
                                    "role": Schema.string, "content": Schema.string,
                                    "tool_calls": Schema.array(Schema.any),
                                ], required: ["role"]),
                            "finish_reason": Schema.string,
                        ], required: ["index", "message", "finish_reason"])),
                "usage": Schema.object(
                    ["prompt_tokens": Schema.count, "completion_tokens": Schema.count, "total_tokens": Schema.count],
                    required: ["prompt_tokens", "completion_tokens", "total_tokens"]),
            ],
            required: ["id", "object", "created", "model", "choices", "usage"]),
        "ModelList": Schema.object(
            [
                "object": Schema.string,
                "data": Schema.array(
                    Schema.object(
                        [
                            "id": Schema.string, "object": Schema.string, "created": Schema.integer,
                            "owned_by": Schema.string,
                        ],
                        required: ["id", "object", "created", "owned_by"])),
            ],
            required: ["object", "data"]),

        // Operations (HealthRoutes)
        "Health": Schema.object(["status": Schema.string], required: ["status"]),
        "Ready": Schema.object(
            ["status": Schema.string, "events": Schema.integer(minimum: 0), "behind": Schema.integer(minimum: 0)],
            required: ["status", "events", "behind"],
            description: "`behind`: events the read models have yet to fold (over 10,000 is not ready)."),
    ]
}
