#include <lmdb.h>
#include <pthread.h>

// glibc declares this only under _GNU_SOURCE, which must not be defined here: it changes the system headers' structs
// and clashes with other modules that include them.
extern int pthread_setname_np(pthread_t thread, const char *name);

/// Names the calling thread (shown by top, perf and gdb), e.g. the store's writer thread.
static inline void logbook_name_current_thread(const char *name) { pthread_setname_np(pthread_self(), name); }
