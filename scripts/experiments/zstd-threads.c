/* Compression with a shared dictionary on several threads at once, as the store's appending tasks do: per-event time
 * and stored bytes, with zstd's default dictionary tables for level 3 (hashLog 17, chainLog 16 for small inputs) or
 * smaller ones. The benchmark's events (Sources/CWorkload), bare frames, a 256 KiB dictionary trained on 32,768 events
 * of another seed; 50,000 events per thread.
 *
 *   gcc -O2 -o /tmp/zstd-threads scripts/experiments/zstd-threads.c Sources/CWorkload/workload.c \
 *       -ISources/CWorkload/include -lzstd -lm -lpthread
 *   /tmp/zstd-threads THREADS [HASHLOG [CHAINLOG]]      e.g. 1; 2; 2 14 14
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zdict.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <time.h>
#include "events.h"
static ZSTD_CDict *cdict;
static events_t test;
static int hashLog;
static void *run(void *arg) {
    ZSTD_CCtx *c = ZSTD_createCCtx(); char out[8192]; size_t offset = 0, stored = 0;
    double start = now();
    for (size_t i = 0; i < test.n; i++) {
        ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
        ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
        ZSTD_CCtx_setParameter(c, ZSTD_c_format, ZSTD_f_zstd1_magicless);
        ZSTD_CCtx_refCDict(c, cdict);
        size_t z = ZSTD_compress2(c, out, sizeof out, test.data + offset, test.len[i]);
        stored += z < test.len[i] ? z : test.len[i];
        offset += test.len[i];
    }
    double s = now() - start;
    printf("  thread: %.2f us/event, %.1f B/event\n", s * 1e6 / test.n, (double)stored / test.n);
    ZSTD_freeCCtx(c); return NULL;
}
int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1; hashLog = argc > 2 ? atoi(argv[2]) : 0;
    if (threads < 1 || threads > 8) { fprintf(stderr, "usage: zstd-threads THREADS(1-8) [HASHLOG [CHAINLOG]]\n"); return 2; }
    events_t train = generate(0x1234567ull, 32768); test = generate(0x5eed0001ull, 50000);
    void *dict = malloc(262144);
    size_t size = ZDICT_trainFromBuffer(dict, 262144, train.data, train.len, 32768);
    if (hashLog) {
        ZSTD_compressionParameters p = ZSTD_getCParams(3, 512, size);
        printf("default params for 512 B + dict: wlog %u hlog %u clog %u slog %u\n", p.windowLog, p.hashLog, p.chainLog, p.searchLog);
        p.hashLog = hashLog; p.chainLog = argc > 3 ? atoi(argv[3]) : hashLog;
        cdict = ZSTD_createCDict_advanced(dict, size, ZSTD_dlm_byCopy, ZSTD_dct_auto, p, ZSTD_defaultCMem);
    } else cdict = ZSTD_createCDict(dict, size, 3);
    pthread_t t[8];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    return 0;
}
