// Signature primitives for JWT verification, over OpenSSL's libcrypto (the same library the event store uses for
// SHA-256). Keys are opaque pointers owned by the caller: free them with logbook_key_free.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct logbook_key logbook_key;

/// HMAC-SHA-256 of data under key into out (32 bytes). Returns 1 on success.
int logbook_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t data_len, uint8_t out[32]);

/// An RSA public key from its big-endian modulus and exponent (a JWK's n and e); NULL when they are not a valid key.
logbook_key *logbook_rsa_public_key(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len);

/// A P-256 public key from its coordinates (a JWK's x and y, 32 bytes each); NULL when not a point on the curve.
logbook_key *logbook_p256_public_key(const uint8_t x[32], const uint8_t y[32]);

/// The key's size in bits (RSA modulus or EC field), 0 for NULL.
int logbook_key_bits(const logbook_key *key);

/// RS256: RSASSA-PKCS1-v1_5 with SHA-256. Returns 1 when the signature is valid, 0 when not.
int logbook_verify_rs256(const logbook_key *key, const uint8_t *data, size_t data_len, const uint8_t *sig, size_t sig_len);

/// ES256: ECDSA P-256 with SHA-256, the signature as JWS carries it (r ‖ s, 32 bytes each). Returns 1 when valid.
int logbook_verify_es256(const logbook_key *key, const uint8_t *data, size_t data_len, const uint8_t sig[64]);

void logbook_key_free(logbook_key *key);
