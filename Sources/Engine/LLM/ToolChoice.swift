import Events
import Foundation

/// Whether and which tool the model must call: OpenAI's `tool_choice`, which an agent definition or a client of the
/// OpenAI-compatible endpoint may set.
public enum ToolChoice: Sendable, Equatable, CustomStringConvertible {
    /// The model decides (what servers do when none is sent).
    case auto
    /// No tool call.
    case none
    /// At least one tool call.
    case required
    /// This tool (its wire name).
    case function(String)

    /// `auto`, `none`, `required`, or a tool's wire name (as an agent definition spells it).
    public init(_ text: String) {
        switch text {
        case "auto": self = .auto
        case "none": self = .none
        case "required", "any": self = .required
        default: self = .function(text)
        }
    }

    /// OpenAI's JSON: a string, or `{"type": "function", "function": {"name": …}}`.
    /// - Throws: `LLMError(.configuration)`-free: nil for anything else.
    public init?(json: JSONValue) {
        switch json {
        case .string(let s) where ["auto", "none", "required"].contains(s): self.init(s)
        case .object:
            guard json["type"]?.stringValue == "function", let name = json["function"]?["name"]?.stringValue,
                !name.isEmpty
            else { return nil }
            self = .function(name)
        default: return nil
        }
    }

    /// As an agent definition or the recorded request spells it.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .none: "none"
        case .required: "required"
        case .function(let name): name
        }
    }

    /// OpenAI's wire form.
    var openAI: JSONValue {
        switch self {
        case .auto, .none, .required: .string(description)
        case .function(let name): .object(["type": .string("function"), "function": .object(["name": .string(name)])])
        }
    }

    /// Anthropic's wire form (`any` for required, `tool` for one).
    var anthropic: JSONValue {
        switch self {
        case .auto: .object(["type": .string("auto")])
        case .none: .object(["type": .string("none")])
        case .required: .object(["type": .string("any")])
        case .function(let name): .object(["type": .string("tool"), "name": .string(name)])
        }
    }
}
