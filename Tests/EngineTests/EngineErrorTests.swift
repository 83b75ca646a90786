@testable import Engine
import EventStore
import Testing

/// An engine error keeps what caused it, and a refused append is told apart by why.
@Suite struct EngineErrorTests {
    @Test func aRefusedAppendKeepsItsCauseAndItsKind() {
        for (code, kind) in [
            (EventStoreError.Code.diskFull, EngineError.Kind.diskFull), (.mapFull, .logFull), (.closed, .storage),
        ] {
            let error = EngineError.recording(
                EventStoreError(code, "the store said no", systemCode: 28), "recording message.user")
            #expect(error.kind == kind)
            #expect((error.cause as? EventStoreError)?.code == code)
            #expect(error.message == "recording message.user failed: the store said no")
        }
    }

    /// The model's and the tool server's errors keep theirs too; the cause is context, not identity.
    @Test func modelAndToolErrorsKeepTheirCause() {
        struct Underneath: Error {}
        let llm = LLMError(.connection, "model 'm': cannot reach h", retryable: true, cause: Underneath())
        #expect(llm.cause is Underneath)
        #expect(llm == LLMError(.connection, "model 'm': cannot reach h", retryable: true))
        let mcp = MCPError(.disconnected, "MCP server 's': gone", cause: Underneath())
        #expect(mcp.cause is Underneath)
        #expect(mcp == MCPError(.disconnected, "MCP server 's': gone"))
        let engine = EngineError(.llmFailed, llm.message, cause: llm)
        #expect((engine.cause as? LLMError)?.cause is Underneath)
    }
}
