/* Dictionary trainers compared on the benchmark's events (Sources/CWorkload): zstd's ZDICT_trainFromBuffer (fastCover with a
 * search over its segment size) against fastCover with fixed parameters, as ZstdCodec.trainDictionary uses it. Trains
 * on N payloads of one seed (default 32,768), a 256 KiB dictionary (at most a quarter of the sample), and measures
 * stored bytes per event at level 3 on 50,000 events of the benchmark's seed (bare frames, as the store writes them).
 *
 *   gcc -O2 -o /tmp/zstd-trainers scripts/experiments/zstd-trainers.c Sources/CWorkload/workload.c \
 *       -ISources/CWorkload/include -lzstd -lm && /tmp/zstd-trainers [N]
 */
#define ZSTD_STATIC_LINKING_ONLY
#define ZDICT_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zdict.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "events.h"
static double measure(const char *dict, size_t dsize, events_t *test) {
    ZSTD_CDict *cd = ZSTD_createCDict(dict, dsize, 3);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
    ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0);
    ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless);
    size_t stored = 0, off = 0; char out[8192];
    for (size_t i = 0; i < test->n; i++) {
        ZSTD_CCtx_refCDict(c, cd);
        size_t n = ZSTD_compress2(c, out, sizeof out, test->data + off, test->len[i]);
        stored += n < test->len[i] ? n : test->len[i]; off += test->len[i];
    }
    ZSTD_freeCDict(cd); ZSTD_freeCCtx(c);
    return (double)stored / test->n;
}
int main(int argc, char **argv) {
    size_t ntrain = argc > 1 ? atoi(argv[1]) : 32768;
    events_t train = generate(0x1234, ntrain), test = generate(0x5eed0001, 50000);
    size_t cap = 256 * 1024; if (cap > train.total / 4) cap = train.total / 4; char *dict = malloc(cap);
    double t0 = now();
    size_t dsize = ZDICT_trainFromBuffer(dict, cap, train.data, train.len, (unsigned)train.n);
    double t1 = now();
    printf("ZDICT_trainFromBuffer: %.2f s, %zu B, %.1f B/event\n", t1 - t0, dsize, measure(dict, dsize, &test));
    ZDICT_fastCover_params_t p; memset(&p, 0, sizeof p); p.d = 8; p.steps = 4; p.zParams.compressionLevel = 3;
    t0 = now();
    dsize = ZDICT_optimizeTrainFromBuffer_fastCover(dict, cap, train.data, train.len, (unsigned)train.n, &p);
    t1 = now();
    printf("optimize fastCover steps 4: %.2f s, chose k=%u d=%u f=%u accel=%u split=%.2f, %.1f B/event\n", t1 - t0, p.k, p.d, p.f, p.accel, p.splitPoint, measure(dict, dsize, &test));
    unsigned ks[] = { p.k, 1024, 2048 };
    for (int i = 0; i < 3; i++) for (unsigned accel = 4; accel <= 4; accel *= 4) {
        ZDICT_fastCover_params_t q; memset(&q, 0, sizeof q); q.k = ks[i]; q.d = 8; q.f = 20; q.accel = accel; q.splitPoint = 1.0; q.zParams.compressionLevel = 3;
        t0 = now();
        dsize = ZDICT_trainFromBuffer_fastCover(dict, cap, train.data, train.len, (unsigned)train.n, q);
        t1 = now();
        if (ZDICT_isError(dsize)) { printf("k=%u error %s\n", ks[i], ZDICT_getErrorName(dsize)); continue; }
        printf("fastCover k=%u accel=%u: %.2f s, %zu B, %.1f B/event\n", ks[i], accel, t1 - t0, dsize, measure(dict, dsize, &test));
    }
    return 0;
}
