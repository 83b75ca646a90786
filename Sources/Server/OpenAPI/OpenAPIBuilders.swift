import Engine
import Events

/// Schema pieces for the OpenAPI document (JSON Schema as OpenAPI 3.0 writes it).
enum Schema {
    static let string: JSONValue = ["type": "string"]
    static let integer: JSONValue = ["type": "integer", "format": "int64"]
    static let count: JSONValue = ["type": "integer", "minimum": 0]
    static let boolean: JSONValue = ["type": "boolean"]
    static let dateTime: JSONValue = ["type": "string", "format": "date-time"]
    /// Any JSON value.
    static let any: JSONValue = [:]
    static let stringMap: JSONValue = ["type": "object", "additionalProperties": string]

    /// A string matching `pattern` (an ECMA regular expression).
    static func string(pattern: String) -> JSONValue { ["type": "string", "pattern": .string(pattern)] }
    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func array(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items] }
    static func oneOf(_ values: [String]) -> JSONValue {
        ["type": "string", "enum": .array(values.map(JSONValue.string))]
    }
    static func integer(minimum: Int, maximum: Int? = nil) -> JSONValue {
        var s: [String: JSONValue] = ["type": "integer", "format": "int64", "minimum": .number(Double(minimum))]
        if let maximum { s["maximum"] = .number(Double(maximum)) }
        return .object(s)
    }

    /// Text in a query: anything but NUL (`InputGuardMiddleware` refuses it).
    static let queryText: JSONValue = ["type": "string", "pattern": "^[^\\u0000]*$"]

    /// `schema`, or `null`.
    static func nullable(_ schema: JSONValue) -> JSONValue {
        guard case .object(var s) = schema else { return schema }
        s["nullable"] = true
        return .object(s)
    }

    /// An array of at least one `items`.
    static func nonEmptyArray(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items, "minItems": 1] }
    /// A registry entry's or workspace's name (`EntryName`).
    static let entryName: JSONValue = ["type": "string", "pattern": .string(EntryName.pattern)]
    /// Text that is not empty or only white space.
    static let text: JSONValue = ["type": "string", "pattern": "\\S"]
    /// A thread id (`ThreadID`).
    static let threadID: JSONValue = ["type": "string", "pattern": "^[A-Za-z0-9_.:@-]{1,128}$"]
    static let threadIDRule = "1 to 128 of A-Z a-z 0-9 - _ . : @."

    /// An object with `properties`; `required` are always present (the others are left out when they have no value).
    /// `closed`: a request body whose other fields are refused (`KnownFields`).
    static func object(
        _ properties: [String: JSONValue], required: [String] = [], description: String? = nil,
        example: JSONValue? = nil, closed: Bool = false
    ) -> JSONValue {
        var s: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
        if closed { s["additionalProperties"] = false }
        if let example { s["example"] = example }
        if !required.isEmpty { s["required"] = .array(required.sorted().map(JSONValue.string)) }
        if let description { s["description"] = .string(description) }
        return .object(s)
    }
}

/// One parameter of an operation.
struct Parameter {
    let name: String
    let location: String
    let schema: JSONValue
    let description: String
    var example: JSONValue?

    /// A path capture naming a registry entry or a workspace (`EntryName`).
    static func path(_ name: String, _ description: String, example: JSONValue? = nil) -> Parameter {
        Parameter(
            name: name, location: "path", schema: Schema.entryName,
            description: description + " 1 to \(EntryName.maxLength) of A-Z a-z 0-9 - _ . : @.", example: example)
    }

    /// A thread id in the path (`ThreadID`: 1–128 of A-Z a-z 0-9 - _ . : @).
    static func threadPath(_ name: String, _ description: String, example: JSONValue? = nil) -> Parameter {
        Parameter(
            name: name, location: "path", schema: Schema.threadID, description: description + " " + Schema.threadIDRule,
            example: example)
    }

    static func query(_ name: String, _ schema: JSONValue, _ description: String) -> Parameter {
        Parameter(name: name, location: "query", schema: schema, description: description)
    }

    var json: JSONValue {
        var p: [String: JSONValue] = [
            "name": .string(name), "in": .string(location), "required": .bool(location == "path"),
            "schema": schema, "description": .string(description),
        ]
        if let example { p["example"] = example }
        return .object(p)
    }
}

/// What an operation answers with on success.
enum Answer {
    /// A JSON body of this schema.
    case json(JSONValue)
    /// No body.
    case empty
    /// A server-sent event stream.
    case events
    /// JSON of this schema, or (when the request asks to stream) server-sent events.
    case jsonOrEvents(JSONValue)
    /// A body of another media type.
    case media([String])

    var content: JSONValue? {
        switch self {
        case .json(let schema): ["application/json": ["schema": schema]]
        case .empty: nil
        case .events: ["text/event-stream": ["schema": Schema.ref("SSEFrame")]]
        case .jsonOrEvents(let schema):
            ["application/json": ["schema": schema], "text/event-stream": ["schema": Schema.ref("SSEFrame")]]
        case .media(let types): .object(Dictionary(uniqueKeysWithValues: types.map { ($0, ["schema": Schema.string]) }))
        }
    }
}

/// One route: method, path (OpenAPI `{name}` style), parameters, body, answers and the errors it can give.
struct Operation {
    let method: String
    let path: String
    let summary: String
    var parameters: [Parameter] = []
    /// The request body's schema and whether it must be present.
    var body: (schema: JSONValue, required: Bool)?
    var answers: [(status: Int, description: String, answer: Answer)]
    /// Error statuses beyond those every authenticated route can give (401, 429, and 507: every one records a decision).
    var errors: [Int] = []
    var authenticated = true

    /// What each error status means, as the document says it.
    static let errorMeanings: [Int: String] = [
        400: "The request is malformed; the message says what to send.",
        401: "No token, or one that is expired, forged or for another audience; or the thread's session expired.",
        403: "The policy denies it; the decision is recorded in the audit trail.",
        404: "No such thread, model, server or agent.",
        409: "It conflicts with what is recorded (e.g. a thread id in use).",
        413: "The body or message is over the configured limit.",
        422: "Well-formed but invalid (e.g. an unknown model, a plain-text secret).",
        429: "The caller's rate limit is spent; retry after `Retry-After` seconds.",
        502: "The model provider failed; the failure is recorded.",
        503: "No model is configured, or the log is unavailable.",
        507:
            "The log cannot grow: `disk_full` (free space on its device: writes resume by themselves) or `log_full` (raise `--max-log-size`).",
    ]

    var json: JSONValue {
        var responses: [String: JSONValue] = [:]
        for (status, description, answer) in answers {
            var r: [String: JSONValue] = ["description": .string(description)]
            if let content = answer.content { r["content"] = content }
            responses[String(status)] = .object(r)
        }
        // Any path or query can be refused as malformed (InputGuardMiddleware); v1 needs a token, is rate limited, and
        // records a decision (so a full disk or log refuses it).
        let statuses = Set(errors + (authenticated ? [401, 429, 507] : []) + (parameters.isEmpty ? [] : [400]))
        for status in statuses {
            var r: [String: JSONValue] = [
                "description": .string(Self.errorMeanings[status] ?? "An error."),
                "content": ["application/json": ["schema": Schema.ref("Error")]],
            ]
            if status == 429 {
                r["headers"] = [
                    "Retry-After": [
                        "schema": ["type": "integer"], "description": "Seconds until a request is allowed.",
                    ]
                ]
            }
            responses[String(status)] = .object(r)
        }
        var o: [String: JSONValue] = [
            "summary": .string(summary), "responses": .object(responses),
            "operationId": .string(operationID),
        ]
        if !parameters.isEmpty { o["parameters"] = .array(parameters.map(\.json)) }
        if let body {
            o["requestBody"] = [
                "required": .bool(body.required), "content": ["application/json": ["schema": body.schema]],
            ]
        }
        o["security"] = authenticated ? [["bearer": []]] : []
        return .object(o)
    }

    /// `get_v1_threads_thread`, from the method and the path.
    var operationID: String {
        let words = path.split(separator: "/").map { $0.filter { $0.isLetter || $0.isNumber || $0 == "-" } }
        return ([method] + words).joined(separator: "_").replacingOccurrences(of: "-", with: "_")
    }
}
