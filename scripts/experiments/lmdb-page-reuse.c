/*
 * Does LMDB's reuse of freed pages make durable commits slow on this disk, and does holding a read transaction
 * (so that freed pages cannot be reused for a while and new pages come from the end of the file, contiguously)
 * make them faster?
 *
 * Each commit appends GROUP records of ~260 bytes under growing 8-byte keys (like Logbook's events database),
 * puts one key into a second database (like the sparse stream index) and rewrites one totals value in a third;
 * durable commits (LMDB's default: fdatasync, then the meta page written synchronously). For each HOLD (0 = no
 * reader; else a read transaction renewed every HOLD commits) it prints the mean and p50/p99 commit time, the data
 * file's size and the records per second. To see how many separate writes a commit makes, run it under
 * `strace -e trace=pwrite64,writev,lseek,fdatasync` (LMDB writes a run of contiguous pages with lseek + writev,
 * a single page with pwrite).
 *
 * build: gcc -O2 -o /tmp/lmdb-page-reuse scripts/experiments/lmdb-page-reuse.c -llmdb
 * run:   /tmp/lmdb-page-reuse DIR [COMMITS] [GROUP] [HOLD]   (DIR is emptied first; defaults 3000 commits of 114,
 *        and HOLD 0, 16, 64, 256 twice over)
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#define CHECK(x) do { int rc_ = (x); if (rc_) { fprintf(stderr, "%s: %s\n", #x, mdb_strerror(rc_)); exit(1); } } while (0)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static void run(const char *dir, int commits, int group, int hold) {
    char path[4096];
    snprintf(path, sizeof path, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(path) != 0) exit(1);
    MDB_env *env;
    CHECK(mdb_env_create(&env));
    CHECK(mdb_env_set_mapsize(env, (size_t)8 << 30));
    CHECK(mdb_env_set_maxdbs(env, 8));
    CHECK(mdb_env_open(env, dir, MDB_NOTLS, 0644));
    MDB_txn *txn;
    MDB_dbi events, index, meta;
    CHECK(mdb_txn_begin(env, NULL, 0, &txn));
    CHECK(mdb_dbi_open(txn, "events", MDB_CREATE, &events));
    CHECK(mdb_dbi_open(txn, "index", MDB_CREATE, &index));
    CHECK(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta));
    CHECK(mdb_txn_commit(txn));

    unsigned char value[1600];
    for (size_t i = 0; i < sizeof value; i++) value[i] = (unsigned char)(i * 131 + 7);
    double *times = malloc(sizeof(double) * commits);
    unsigned long long seq = 0;
    unsigned int rng = 12345;
    MDB_txn *reader = NULL;
    if (hold) CHECK(mdb_txn_begin(env, NULL, MDB_RDONLY, &reader));
    double total = 0;
    for (int c = 0; c < commits; c++) {
        if (hold && c % hold == 0) {
            mdb_txn_reset(reader);
            CHECK(mdb_txn_renew(reader));
        }
        double t0 = now();
        CHECK(mdb_txn_begin(env, NULL, 0, &txn));
        for (int i = 0; i < group; i++) {
            seq++;
            unsigned char key[8];
            for (int b = 0; b < 8; b++) key[b] = (unsigned char)(seq >> (56 - 8 * b));
            rng = rng * 1103515245u + 12345u;
            size_t len = 180 + (rng >> 16) % 160;
            value[0] = (unsigned char)seq;
            MDB_val k = { 8, key }, v = { len, value };
            CHECK(mdb_put(txn, events, &k, &v, MDB_APPEND));
        }
        rng = rng * 1103515245u + 12345u;
        unsigned char ikey[8];
        for (int b = 0; b < 8; b++) ikey[b] = (unsigned char)(rng >> (b % 4 * 8));
        MDB_val ik = { 8, ikey }, iv = { 8, &seq };
        CHECK(mdb_put(txn, index, &ik, &iv, 0));
        MDB_val mk = { 6, "totals" }, mv = { 8, &seq };
        CHECK(mdb_put(txn, meta, &mk, &mv, 0));
        CHECK(mdb_txn_commit(txn));
        times[c] = (now() - t0) * 1000;
        total += times[c];
    }
    if (reader) mdb_txn_abort(reader);
    MDB_envinfo info;
    mdb_env_info(env, &info);
    qsort(times, commits, sizeof(double), cmp);
    printf("| %s | %d | %.3f | %.3f | %.3f | %.1f | %.0f |\n", hold ? "held" : "none", hold, total / commits,
           times[commits / 2], times[commits * 99 / 100], (info.me_last_pgno + 1) * 4096.0 / 1e6,
           commits * group / (total / 1000));
    mdb_env_close(env);
    free(times);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s DIR [COMMITS] [GROUP]\n", argv[0]); return 2; }
    int commits = argc > 2 ? atoi(argv[2]) : 3000;
    int group = argc > 3 ? atoi(argv[3]) : 114;
    printf("| reader | renewed every N commits | mean ms | p50 ms | p99 ms | file MB | records/s |\n|---|---:|---:|---:|---:|---:|---:|\n");
    if (argc > 4) { run(argv[1], commits, group, atoi(argv[4])); return 0; }
    int holds[] = { 0, 16, 64, 256, 0, 16, 64, 256 };
    for (size_t i = 0; i < sizeof holds / sizeof holds[0]; i++) run(argv[1], commits, group, holds[i]);
    return 0;
}
