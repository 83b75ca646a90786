/* Compression time per event when other memory traffic runs between events (as a commit's page copies and the
 * Swift runtime do in the store's process), for the dictionary's default match tables and smaller ones: how much
 * of zstd's in-process cost is the dictionary's hash tables falling out of cache, and what smaller tables cost in bytes.
 * The benchmark's events (Sources/CWorkload), a 256 KiB dictionary trained on 32,768 events of another seed, level 3,
 * bare frames as the store writes them. One thread.
 *
 *   gcc -O2 -o /tmp/zstd-cache scripts/experiments/zstd-cache-pressure.c Sources/CWorkload/workload.c \
 *       -ISources/CWorkload/include -lzstd -lm && /tmp/zstd-cache
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zdict.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "events.h"
static char *junk;
static void run(ZSTD_CDict *cdict, const events_t *test, size_t noise, const char *name) {
    ZSTD_CCtx *c = ZSTD_createCCtx();
    char out[8192]; size_t stored = 0, offset = 0; double busy = 0; size_t j = 0;
    for (size_t i = 0; i < test->n; i++) {
        if (noise) { memset(junk + j, (int)i, noise); j = (j + noise) % (64u << 20); }
        double t = now();
        ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
        ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
        ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless);
        ZSTD_CCtx_refCDict(c, cdict);
        size_t z = ZSTD_compress2(c, out, test->len[i] - 1, test->data + offset, test->len[i]);
        busy += now() - t;
        if (ZSTD_isError(z)) z = test->len[i];
        stored += z;
        offset += test->len[i];
    }
    printf("| %s | %zu KiB | %.1f | %.2f |\n", name, noise / 1024, (double)stored / test->n, busy * 1e6 / test->n);
    ZSTD_freeCCtx(c);
}
int main(void) {
    junk = malloc((64u << 20) + (1u << 20)); memset(junk, 1, (64u << 20) + (1u << 20));
    events_t train = generate(0x1234567ull, 32768), test = generate(0x5eed0001ull, 30000);
    void *dict = malloc(262144);
    size_t size = ZDICT_trainFromBuffer(dict, 262144, train.data, train.len, 32768);
    int tables[][2] = { {0, 0}, {16, 15}, {15, 15}, {15, 14}, {14, 14} };
    printf("| tables (hashLog, chainLog) | noise per event | B/event | us/event |\n|---|---:|---:|---:|\n");
    for (int t = 0; t < 5; t++) {
        ZSTD_compressionParameters p = ZSTD_getCParams(3, 0, size);
        if (tables[t][0]) { p.hashLog = tables[t][0]; p.chainLog = tables[t][1]; }
        char name[64]; snprintf(name, sizeof name, "%u/%u", p.hashLog, p.chainLog);
        ZSTD_CDict *cdict = ZSTD_createCDict_advanced(dict, size, ZSTD_dlm_byCopy, ZSTD_dct_auto, p, ZSTD_defaultCMem);
        size_t noises[] = { 0, 16384, 65536, 262144 };
        for (int n = 0; n < 4; n++) run(cdict, &test, noises[n], name);
        ZSTD_freeCDict(cdict);
    }
    return 0;
}
