// SHA-256 for the hash chain (OpenSSL's libcrypto, hardware accelerated where the CPU allows)
// and CRC-32 for per-record checksums (zlib).
#include <openssl/evp.h>
#include <zlib.h>
