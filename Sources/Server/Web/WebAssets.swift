/// The web page's files, compiled into the binary (`Package.swift`: `.embedInCode("Web/page")`), so `logbook serve`
/// needs nothing beside it and works offline. Every file is served under `/ui/NAME`, the page itself at `/`.
enum WebAssets {
    /// A file of the page: its bytes and media type.
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
    }

    /// By name, as the page asks for them (`/ui/chat.js`). One flat directory: SwiftPM names embedded files by their
    /// file name alone.
    static let files: [String: Asset] = [
        "app.css": Asset(bytes: PackageResources.app_css, contentType: "text/css; charset=utf-8"),
        "app.js": script(PackageResources.app_js),
        "api.js": script(PackageResources.api_js),
        "dom.js": script(PackageResources.dom_js),
        "signin.js": script(PackageResources.signin_js),
        "chat.js": script(PackageResources.chat_js),
        "timeline.js": script(PackageResources.timeline_js),
        "diff.js": script(PackageResources.diff_js),
        "audit.js": script(PackageResources.audit_js),
        "registry.js": script(PackageResources.registry_js),
        "tail.js": script(PackageResources.tail_js),
    ]

    /// The page, saying whether the server runs in development mode (the sign-in view then says how to get a token).
    static func index(developmentMode: Bool) -> [UInt8] {
        let page = String(decoding: PackageResources.index_html, as: UTF8.self)
        return Array(
            page.replacingOccurrences(of: "{{mode}}", with: developmentMode ? "development" : "production").utf8)
    }

    private static func script(_ bytes: [UInt8]) -> Asset {
        Asset(bytes: bytes, contentType: "text/javascript; charset=utf-8")
    }
}
