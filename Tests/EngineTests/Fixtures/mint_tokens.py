"""Mints JWTs with PyJWT (an independent implementation) for Logbook's token verification tests.

usage: mint_tokens.py <directory>   writes <directory>/jwks.json; prints {"secret": ..., "now": ..., "tokens": {...}}
"""
import base64
import hashlib
import hmac
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

out = sys.argv[1]
now = int(time.time())
secret = b"logbook-test-shared-secret-0123456789abcdef"
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_key = ec.generate_private_key(ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(public, kid):
    d = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public) if isinstance(public, rsa.RSAPublicKey) else jwt.algorithms.ECAlgorithm.to_jwk(public))
    d["kid"] = kid
    return d


with open(f"{out}/jwks.json", "w") as f:
    json.dump({"keys": [jwk(rsa_key.public_key(), "rsa-1"), jwk(ec_key.public_key(), "ec-1")]}, f)

base = {"sub": "alice", "iss": "https://idp.example", "aud": ["logbook", "other"], "exp": now + 600, "iat": now,
        "jti": "tok-123", "roles": ["operator"], "workspace": "payments"}


def sign(claims, key, alg, kid=None):
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def unsigned(header, claims, signing_key=None):
    h = b64(json.dumps(header).encode())
    c = b64(json.dumps(claims).encode())
    sig = b64(hmac.new(signing_key, f"{h}.{c}".encode(), hashlib.sha256).digest()) if signing_key else ""
    return f"{h}.{c}.{sig}"


rsa_public_pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
es = sign(base, ec_key, "ES256", "ec-1")
head, claims, sig = es.split(".")
tampered_claims = b64(json.dumps(dict(base, roles=["admin"])).encode())

tokens = {
    "hs256": sign(base, secret, "HS256"),
    "rs256": sign(base, rsa_key, "RS256", "rsa-1"),
    "es256": es,
    "es256_claims_tampered": f"{head}.{tampered_claims}.{sig}",
    "rs256_other_key": sign(base, other_rsa, "RS256", "rsa-1"),
    "expired": sign(dict(base, exp=now - 3600), secret, "HS256"),
    "within_leeway": sign(dict(base, exp=now - 30), secret, "HS256"),
    "not_yet_valid": sign(dict(base, nbf=now + 3600), secret, "HS256"),
    "wrong_audience": sign(dict(base, aud="someone-else"), secret, "HS256"),
    "wrong_issuer": sign(dict(base, iss="https://evil.example"), secret, "HS256"),
    "no_expiry": sign({k: v for k, v in base.items() if k != "exp"}, secret, "HS256"),
    "alg_none": unsigned({"alg": "none", "typ": "JWT"}, base),
    "hs256_keyed_with_rsa_public_key": unsigned({"alg": "HS256", "typ": "JWT"}, base, rsa_public_pem),
    "no_workspace": sign({k: v for k, v in base.items() if k != "workspace"}, secret, "HS256"),
}
print(json.dumps({"secret": b64(secret), "now": now, "tokens": tokens}))
