// SHA-256 for the hash chain (OpenSSL's libcrypto, hardware accelerated where the CPU allows),
// and CRC-32C for per-record checksums (the SSE 4.2 instruction where the CPU has it).
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>


__attribute__((target("sse4.2"))) static inline uint32_t logbook_crc32c_sse42(uint32_t crc, const uint8_t *p, size_t n) {
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}

static inline int logbook_cpu_has_sse42(void) {
    static int known = -1;
    if (known < 0) {
        unsigned a, b, c, d;
        known = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) ? 1 : 0;
    }
    return known;
}
#endif

/// Bit-at-a-time CRC-32C, for CPUs without the instruction.
static inline uint32_t logbook_crc32c_portable(uint32_t crc, const uint8_t *p, size_t n) {
    while (n-- > 0) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

/// CRC-32C (Castagnoli) of n bytes, continuing from crc (0 to start).
static inline uint32_t logbook_crc32c(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
#if defined(__x86_64__)
    if (logbook_cpu_has_sse42()) return ~logbook_crc32c_sse42(crc, p, n);
#endif
    return ~logbook_crc32c_portable(crc, p, n);
}
