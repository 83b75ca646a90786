/* The benchmark's events (Sources/CWorkload: the C reference workload's generator) held in memory, and a clock: shared
 * by the zstd experiments in this folder. */
#ifndef LOGBOOK_EXPERIMENT_EVENTS_H
#define LOGBOOK_EXPERIMENT_EVENTS_H
#include <stdlib.h>
#include <time.h>
#include "workload.h"

/* n events, back to back in data; len[i] is the size of event i. */
typedef struct { char *data; size_t *len; size_t n, total; } events_t;

static inline double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static inline events_t generate(uint64_t seed, size_t n) {
    events_t e = { malloc(n * LW_MAX_EVENT_BYTES), malloc(n * sizeof(size_t)), n, 0 };
    lw_generator *g = lw_create(seed);
    uint8_t key[24];
    int type;
    for (size_t i = 0; i < n; i++) { e.len[i] = lw_next(g, e.data + e.total, key, &type); e.total += e.len[i]; }
    lw_destroy(g);
    return e;
}
#endif
