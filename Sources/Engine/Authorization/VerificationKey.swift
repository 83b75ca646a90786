import CCrypto
import Foundation

/// A key that checks token signatures: an HMAC secret (HS256), or an RSA (RS256) or P-256 (ES256) public key.
/// Each key verifies only its own algorithm, so a token cannot pick a weaker check by naming another (`alg` confusion).
public struct VerificationKey: Sendable {
    public enum Kind: Sendable, Equatable {
        case hmac, rsa, p256
        /// The one JWS algorithm a key of this kind verifies.
        public var algorithm: String {
            switch self {
            case .hmac: "HS256"
            case .rsa: "RS256"
            case .p256: "ES256"
            }
        }
    }

    public let kind: Kind
    /// The JWK `kid`, matched against a token's header.
    public let id: String?
    private let secret: [UInt8]?
    private let publicKey: PublicKey?

    /// An HS256 shared secret; at least 32 bytes (RFC 7518 §3.2).
    public static func hmac(_ secret: [UInt8], id: String? = nil) throws(AuthError) -> VerificationKey {
        guard secret.count >= 32 else {
            throw AuthError(.configuration, "an HS256 secret must be at least 32 bytes, this one has \(secret.count)")
        }
        return VerificationKey(kind: .hmac, id: id, secret: secret, publicKey: nil)
    }

    /// The keys of a JWKS document (`{"keys": [...]}`): RSA (`n`, `e`), EC P-256 (`x`, `y`) and `oct` secrets.
    /// Keys marked for encryption (`use: enc`) are skipped.
    public static func keySet(json: Data) throws(AuthError) -> [VerificationKey] {
        guard let set = try? JSONDecoder().decode(JWKSet.self, from: json) else {
            throw AuthError(.configuration, "the JWKS is not a JSON object with a \"keys\" array")
        }
        var keys: [VerificationKey] = []
        for (i, jwk) in set.keys.enumerated() where jwk.use != "enc" {
            let name = jwk.kid.map { "key '\($0)'" } ?? "key #\(i + 1)"
            switch jwk.kty {
            case "RSA":
                guard let n = jwk.n.flatMap({ Base64URL.decode(Substring($0)) }),
                    let e = jwk.e.flatMap({ Base64URL.decode(Substring($0)) }),
                    let key = logbook_rsa_public_key(n, n.count, e, e.count)
                else {
                    throw AuthError(.configuration, "JWKS \(name): not a valid RSA public key")
                }
                guard logbook_key_bits(key) >= 2048 else {
                    logbook_key_free(key)
                    throw AuthError(.configuration, "JWKS \(name): RSA keys must have at least 2048 bits")
                }
                keys.append(VerificationKey(kind: .rsa, id: jwk.kid, secret: nil, publicKey: PublicKey(key)))
            case "EC":
                guard jwk.crv == "P-256" else {
                    throw AuthError(
                        .configuration, "JWKS \(name): curve \(jwk.crv ?? "none") is not supported (P-256 only)")
                }
                guard let x = jwk.x.flatMap({ Base64URL.decode(Substring($0)) }),
                    let y = jwk.y.flatMap({ Base64URL.decode(Substring($0)) }),
                    x.count == 32, y.count == 32, let key = logbook_p256_public_key(x, y)
                else {
                    throw AuthError(.configuration, "JWKS \(name): not a valid P-256 public key")
                }
                keys.append(VerificationKey(kind: .p256, id: jwk.kid, secret: nil, publicKey: PublicKey(key)))
            case "oct":
                guard let k = jwk.k.flatMap({ Base64URL.decode(Substring($0)) }) else {
                    throw AuthError(.configuration, "JWKS \(name): bad secret")
                }
                keys.append(try .hmac(k, id: jwk.kid))
            default:
                throw AuthError(.configuration, "JWKS \(name): key type \(jwk.kty) is not supported (RSA, EC, oct)")
            }
        }
        return keys
    }

    /// Whether `signature` signs `input` under this key.
    func verifies(_ input: ArraySlice<UInt8>, signature: [UInt8]) -> Bool {
        input.withUnsafeBufferPointer { data in
            switch kind {
            case .hmac:
                guard let secret else { return false }
                var mac = [UInt8](repeating: 0, count: 32)
                guard logbook_hmac_sha256(secret, secret.count, data.baseAddress, data.count, &mac) == 1,
                    signature.count == 32
                else { return false }
                return zip(mac, signature).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0  // constant time
            case .rsa:
                return logbook_verify_rs256(
                    publicKey?.pointer, data.baseAddress, data.count, signature, signature.count) == 1
            case .p256:
                return signature.count == 64
                    && logbook_verify_es256(publicKey?.pointer, data.baseAddress, data.count, signature) == 1
            }
        }
    }

    private struct JWKSet: Decodable { let keys: [JWK] }
    private struct JWK: Decodable {
        let kty: String
        let kid: String?
        let use: String?
        let n: String?, e: String?
        let crv: String?, x: String?, y: String?
        let k: String?
    }
}

/// Owns an OpenSSL public key. Immutable after creation; libcrypto allows concurrent verifications with one key.
final class PublicKey: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { logbook_key_free(pointer) }
}
