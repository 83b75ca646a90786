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
}
