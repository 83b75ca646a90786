#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <lmdb.h>
#include <pthread.h>

/// Names the calling thread (shown by top, perf and gdb), e.g. the store's writer thread.
static inline void logbook_name_current_thread(const char *name) { pthread_setname_np(pthread_self(), name); }
