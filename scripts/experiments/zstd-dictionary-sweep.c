/* How dictionary size, training sample and zstd level trade stored bytes against compression time on the benchmark's
 * events (Sources/CWorkload: the C reference workload's generator). Records are compressed as the store writes them:
 * one bare frame each (no magic number, content size, checksum or dictionary id), stored raw when that is not smaller.
 * Trains on one seed, measures 50,000 events of the benchmark's seed. One thread.
 *
 *   gcc -O2 -o /tmp/zstd-sweep scripts/experiments/zstd-dictionary-sweep.c Sources/CWorkload/workload.c \
 *       -ISources/CWorkload/include -lzstd -lm && /tmp/zstd-sweep
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zdict.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "events.h"

static void measure(const char *dictionary, const void *dict, size_t size, int level, const events_t *test) {
    ZSTD_CDict *cdict = ZSTD_createCDict(dict, size, level);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
    ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0);
    ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless);
    char out[8192]; size_t stored = 0, offset = 0;
    double start = now();
    for (size_t i = 0; i < test->n; i++) {
        ZSTD_CCtx_refCDict(c, cdict);
        size_t z = ZSTD_compress2(c, out, sizeof out, test->data + offset, test->len[i]);
        if (ZSTD_isError(z)) { fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(z)); exit(1); }
        stored += z < test->len[i] ? z : test->len[i];
        offset += test->len[i];
    }
    double seconds = now() - start;
    printf("| %s | %zu | %d | %.1f | %.2f |\n", dictionary, size, level, (double)stored / test->n, seconds * 1e6 / test->n);
    ZSTD_freeCCtx(c);
    ZSTD_freeCDict(cdict);
}

int main(void) {
    events_t train = generate(0x1234567ull, 65536), test = generate(0x5eed0001ull, 50000);
    printf("zstd %s; %zu test events, mean %.1f B\n\n", ZSTD_versionString(), test.n, (double)test.total / test.n);
    printf("| dictionary (capacity, training sample) | trained B | level | stored B/event | µs/event |\n|---|---:|---:|---:|---:|\n");
    size_t capacities[] = { 65536, 262144 }, samples[] = { 4096, 16384, 32768, 65536 };
    void *dict = malloc(262144);
    for (int c = 0; c < 2; c++)
        for (int s = 0; s < 4; s++) {
            size_t size = ZDICT_trainFromBuffer(dict, capacities[c], train.data, train.len, (unsigned)samples[s]);
            if (ZDICT_isError(size)) { fprintf(stderr, "training: %s\n", ZDICT_getErrorName(size)); return 1; }
            char name[64];
            snprintf(name, sizeof name, "%zu KiB, %zu events", capacities[c] / 1024, samples[s]);
            measure(name, dict, size, 3, &test);
            if (capacities[c] == 262144 && samples[s] == 32768)
                for (int level = 4; level <= 7; level++) measure(name, dict, size, level, &test);
        }
    return 0;
}
