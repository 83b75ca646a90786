import Checkpoints
import Engine
import Hummingbird

/// `GET /v1/checkpoints/latest`: the latest signed checkpoint of the log (a C2SP signed note, `text/plain`), for an
/// outside witness to keep and `logbook verify --checkpoint` to check the log against later. Authorized as
/// `audit.read` on `checkpoints`, recorded in `access/audit`.
struct CheckpointRoutes {
    let runtime: AgentRuntime
    /// Nil when the server signs no checkpoints (no `--signing-key`).
    let signer: CheckpointSigner?

    func add(to group: RouterGroup<AppRequestContext>) {
        group.get("checkpoints/latest", use: latest)
    }

    func latest(request: Request, context: AppRequestContext) async throws -> Response {
        let principal = try context.caller()
        do throws(EngineError) {
            try await runtime.access.authorize(
                "audit.read", on: "checkpoints", recorded: "checkpoints", workspace: principal.workspace,
                in: "access/audit", as: principal)
        } catch { throw APIError(error) }
        guard let signer else {
            throw APIError(
                .notFound, "not_found",
                "this server signs no checkpoints; start it with --signing-key (docs/erasure.md, signed checkpoints)")
        }
        guard let note = signer.latest else {
            throw APIError(.notFound, "not_found", "no checkpoint signed yet; one is signed once events are appended")
        }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(string: note)))
    }
}
