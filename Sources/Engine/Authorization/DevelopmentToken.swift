import CCrypto
import Foundation

/// HS256 tokens for development and tests (`logbook serve` prints one when it runs without configured keys).
public enum DevelopmentToken {
    public static func mint(
        secret: [UInt8], subject: String, roles: [String], workspace: String = "default", issuer: String,
        audience: String,
        lifetime: Duration = .seconds(12 * 3600)
    ) -> String {
        struct Claims: Encodable {
            let sub: String, iss: String, aud: String, iat: Int64, exp: Int64, jti: String, roles: [String],
                workspace: String
        }
        let now = Int64(Date().timeIntervalSince1970)
        let claims = Claims(
            sub: subject, iss: issuer, aud: audience, iat: now, exp: now + lifetime.components.seconds,
            jti: UUID().uuidString.lowercased(), roles: roles, workspace: workspace)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let body = Base64URL.encode((try? encoder.encode(claims)) ?? Data())
        let input = Array("\(header).\(body)".utf8)
        var mac = [UInt8](repeating: 0, count: 32)
        _ = logbook_hmac_sha256(secret, secret.count, input, input.count, &mac)
        return "\(header).\(body).\(Base64URL.encode(mac))"
    }
}
