import HTTPTypes
import Hummingbird

/// The web page (`docs/ui.md`): `GET /` and its files under `/ui/`. No token: the files are the same for everyone and
/// hold no data; the page then calls the public API with the token the user pastes, authorized like any client.
struct WebRoutes {
    let developmentMode: Bool

    /// What every answer of the page carries: scripts and styles from this server only (no inline script, no inline
    /// style, no `eval`), connections to this server only, never framed, no referrer, no sniffing.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        .cacheControl: "no-cache",
    ]

    func add(to router: Router<AppRequestContext>) {
        let index = WebAssets.index(developmentMode: developmentMode)
        router.get("/") { _, _ in
            Self.answer(index, contentType: "text/html; charset=utf-8")
        }
        router.get("ui/:asset") { _, context in
            let name = context.parameters.get("asset") ?? ""
            guard let asset = WebAssets.files[name] else {
                throw APIError(.notFound, "not_found", "the page has no file '\(name)'")
            }
            return Self.answer(asset.bytes, contentType: asset.contentType)
        }
    }

    private static func answer(_ bytes: [UInt8], contentType: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
