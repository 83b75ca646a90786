/*
 * The event generator of ../shared/bench/limits/limits.c (splitmix64, same vocabulary, same mix), copied so that
 * `logbook bench store` stores exactly the bytes the C reference benchmark measures. Keep in step with limits.c.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workload.h"

#define NSLOTS LW_STREAMS
#define MAXEV 1500
#define MINEV 200

static inline void be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* ------------------------------------------------------------------- PRNG */

typedef struct { uint64_t s; } rng_t;

static inline uint64_t rnext(rng_t *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline double runif(rng_t *r) { return (double)(rnext(r) >> 11) * (1.0 / 9007199254740992.0); }
static inline uint32_t rbelow(rng_t *r, uint32_t n) { return (uint32_t)(((rnext(r) >> 32) * n) >> 32); }
static inline double rexp(rng_t *r, double mean) { return -mean * log(1.0 - runif(r)); }
/* skewed (roughly Zipf-like) pick: low indices much more frequent */
static inline uint32_t rskew(rng_t *r, uint32_t n)
{
    double u = runif(r);
    return (uint32_t)((double)n * u * u);
}

/* -------------------------------------------------------------- vocabulary */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *W_PROSE[] = {
    "the", "to", "a", "and", "of", "in", "is", "it", "that", "this", "for", "we", "you", "I", "be",
    "on", "with", "can", "should", "not", "file", "function", "test", "error", "change", "code", "let",
    "me", "check", "now", "need", "will", "so", "if", "are", "as", "then", "add", "fix", "run",
    "update", "look", "at", "which", "from", "but", "by", "use", "new", "first", "also", "tests",
    "build", "failing", "because", "instead", "value", "return", "config", "module", "implementation",
    "here", "there", "what", "when", "issue", "missing", "handle", "case", "make", "sure", "into",
    "one", "all", "see", "has", "have", "works", "output", "input", "call", "line", "before", "after",
    "only", "path", "type", "struct", "event", "log", "stream", "sequence", "append", "read", "write",
    "index", "projection", "handler", "request", "response", "server", "client", "user", "agent",
    "tool", "policy", "permission", "decision", "reason", "we'll", "I'll", "looks", "like", "problem",
    "passes", "passing", "again", "approach", "simpler", "refactor", "rename", "remove", "keep",
    "existing", "behavior", "expected", "actual", "result", "results", "commit", "branch", "diff",
    "patch", "review", "docs", "comment", "edge", "cases", "timeout", "retry", "cache", "lookup",
    "batch", "transaction", "durable", "sync", "latency", "throughput", "benchmark", "memory",
    "allocation", "buffer", "pointer", "string", "bytes", "parse", "serialize", "schema", "version",
    "field", "optional", "default", "option", "flag", "argument", "environment", "variable", "script",
    "command", "directory", "repository", "dependency", "package", "crate", "library", "api",
    "endpoint", "route", "json", "yaml", "toml", "compile", "compiler", "warning", "unused", "import",
    "trait", "async", "await", "future", "lock", "mutex", "thread", "channel", "queue", "worker",
    "task", "job", "status", "ok", "done", "great", "thanks", "please", "could", "would", "might",
    "probably", "actually", "just", "still", "already", "yet", "different", "same", "other", "each",
    "every", "both", "either", "where", "why", "how", "about", "around", "between", "through",
    "without", "within", "per", "than", "more", "less", "most", "very", "quite", "good", "bad",
    "wrong", "right", "correct", "safe", "unsafe", "fast", "slow", "migration", "rollback",
    "deadline", "snapshot", "compaction", "checkpoint", "replay", "consumer", "producer", "offset",
    "partition", "tenant", "session", "conversation", "message", "token", "usage", "budget", "limit",
};

static const char *W_IDENT[] = {
    "append_event", "read_range", "EventLog", "StreamId", "SeqNo", "open_env", "commit_txn",
    "decode_event", "encode_event", "Projection", "apply", "rebuild", "snapshot", "AuthzDecision",
    "PolicyEngine", "evaluate", "ConfigStore", "set_value", "get_value", "ToolCall", "ToolResult",
    "Message", "Usage", "input_tokens", "output_tokens", "Result", "Option", "Vec", "HashMap", "Arc",
    "Mutex", "String", "u64", "usize", "self", "fn", "let", "mut", "pub", "impl", "match", "return",
    "Ok", "Err", "Some", "None", "assert_eq!", "unwrap()", "expect", "clone()", "iter()", "map",
    "collect()", "len()", "push", "insert", "get", "from_slice", "to_vec()", "stream_version",
    "last_seq", "batch_size", "txn", "cursor", "env", "dbi", "key", "val", "buf", "ctx", "cfg",
};

static const char *W_DIR[] = {
    "src", "src/store", "src/log", "src/api", "src/projection", "src/authz", "tests",
    "crates/core/src", "crates/server/src", "docs", "scripts", "config", "src/tools", "benches",
};
static const char *W_FILE[] = {
    "lib.rs", "main.rs", "mod.rs", "event_log.rs", "append.rs", "reader.rs", "index.rs", "policy.rs",
    "config.rs", "handler.rs", "server.py", "client.py", "utils.py", "test_append.py", "README.md",
    "Cargo.toml", "schema.json", "settings.yaml", "codec.rs", "projection.rs", "errors.rs",
};
static const char *W_CMD[] = {
    "cargo test -p eventlog --lib", "cargo build --release", "cargo clippy --all-targets -- -D warnings",
    "rg -n", "grep -rn", "ls -la", "cat", "sed -n '1,120p'", "git status --short", "git diff --stat",
    "git log --oneline -n 20", "python3 -m pytest -q", "make -j2", "head -n 50", "wc -l", "find . -name",
    "jq '.events | length'", "du -sh", "tail -n 100", "npm test --silent",
};
static const char *W_MODEL[] = {"claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"};
static const char *W_TOOL[] = {"bash", "edit", "write_file", "read_file", "grep"};
static const char *W_AGENT[] = {"coder-1", "coder-2", "reviewer", "planner", "tester", "scribe"};
static const char *W_USER[] = {"alice", "bob", "carol", "dave", "erin", "frank"};
static const char *W_ACTION[] = {"fs.read", "fs.write", "fs.delete", "proc.exec", "net.fetch", "git.push", "config.set", "secret.read"};
static const char *W_DECISION[] = {"allow", "allow", "allow", "allow", "deny", "ask"};
static const char *W_CFGKEY[] = {"model.temperature", "model.max_tokens", "agent.max_turns", "tools.bash.timeout_ms", "authz.mode", "log.level", "cache.ttl_s", "budget.tokens_per_day"};
static const char *W_STOP[] = {"end_turn", "tool_use", "tool_use", "max_tokens"};
static const char *W_SYL[] = {
    "ka", "lo", "mi", "ser", "vat", "ion", "tra", "pre", "con", "ple", "dis", "ment", "ab", "ex", "ri",
    "no", "qu", "sta", "per", "ing", "ly", "ter", "um", "ca", "de", "fi", "gen", "hy", "ja", "kro",
    "lu", "mo", "ne", "os", "pi", "ral", "si", "tu", "ver", "zo",
};
static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* ------------------------------------------------------- text generators */

/* A tiny string builder that writes into a fixed buffer (large enough). */
typedef struct { char *p; size_t n; } sb_t;
static inline void sb_s(sb_t *b, const char *s) { size_t l = strlen(s); memcpy(b->p + b->n, s, l); b->n += l; }
static inline void sb_c(sb_t *b, char c) { b->p[b->n++] = c; }
static void sb_f(sb_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    b->n += (size_t)vsprintf(b->p + b->n, fmt, ap);
    va_end(ap);
}
static void sb_rand(sb_t *b, rng_t *r, int len, const char *alpha, int alen)
{
    for (int i = 0; i < len; i++) sb_c(b, alpha[rbelow(r, (uint32_t)alen)]);
}
static void sb_path(sb_t *b, rng_t *r)
{
    sb_s(b, W_DIR[rskew(r, NELEM(W_DIR))]);
    sb_c(b, '/');
    sb_s(b, W_FILE[rskew(r, NELEM(W_FILE))]);
}

/* a word from a large synthetic vocabulary (~66k words): keeps the text from
 * being unrealistically repetitive */
static void sb_rare(sb_t *b, rng_t *r)
{
    int m = 2 + (int)rbelow(r, 2);
    for (int i = 0; i < m; i++) sb_s(b, W_SYL[rbelow(r, NELEM(W_SYL))]);
}

/* copy exactly L chars of src into out, making sure we do not end inside a
 * JSON escape sequence */
static void put_exact(char *out, const char *src, size_t L)
{
    memcpy(out, src, L);
    size_t bs = 0;
    while (bs < L && out[L - 1 - bs] == '\\') bs++;
    if (bs & 1) out[L - 1] = ' ';
}

enum { T_PROSE, T_OUTPUT, T_CMD, T_CODE };

static void gen_text(rng_t *r, int kind, char *out, size_t L)
{
    char tmp[4096];
    sb_t b = {tmp, 0};
    int sent = 0;
    while (b.n < L) {
        switch (kind) {
        case T_PROSE:
            if (sent == 0 && b.n && rbelow(r, 8) == 0) sb_s(&b, "\\n\\n");
            if (rbelow(r, 14) == 0) { sb_c(&b, '`'); sb_s(&b, W_IDENT[rskew(r, NELEM(W_IDENT))]); sb_s(&b, "` "); }
            else if (rbelow(r, 30) == 0) { sb_c(&b, '`'); sb_path(&b, r); sb_s(&b, "` "); }
            else if (rbelow(r, 6) == 0) { sb_rare(&b, r); sb_c(&b, ' '); }
            else if (rbelow(r, 40) == 0) { sb_f(&b, "%u ", rbelow(r, 100000)); }
            else { sb_s(&b, W_PROSE[rskew(r, NELEM(W_PROSE))]); sb_c(&b, ' '); }
            if (++sent > 6 + (int)rbelow(r, 14)) { b.n--; sb_s(&b, rbelow(r, 5) ? ". " : ": "); sent = 0; }
            break;
        case T_OUTPUT:
            switch (rbelow(r, 7)) {
            case 0: sb_path(&b, r); sb_f(&b, ":%u:%u: warning: unused variable `%s`\\n", rbelow(r, 900) + 1, rbelow(r, 80) + 1, W_IDENT[rskew(r, NELEM(W_IDENT))]); break;
            case 1: sb_f(&b, "test %s::tests::%s_%u ... %s\\n", W_IDENT[rskew(r, NELEM(W_IDENT))], W_IDENT[rskew(r, NELEM(W_IDENT))], rbelow(r, 40), rbelow(r, 10) ? "ok" : "FAILED"); break;
            case 2: sb_f(&b, "-rw-r--r-- 1 dev dev %6u Jun %2u %02u:%02u %s\\n", rbelow(r, 90000), rbelow(r, 30) + 1, rbelow(r, 24), rbelow(r, 60), W_FILE[rskew(r, NELEM(W_FILE))]); break;
            case 3: sb_f(&b, "%5u | ", rbelow(r, 2000) + 1); for (int k = 0, m = 3 + (int)rbelow(r, 6); k < m; k++) { sb_s(&b, W_IDENT[rskew(r, NELEM(W_IDENT))]); sb_c(&b, k == 0 ? '(' : ' '); } sb_s(&b, ");\\n"); break;
            case 4: sb_s(&b, "commit "); sb_rand(&b, r, 40, "0123456789abcdef", 16); sb_s(&b, "\\n"); break;
            case 5: if (rbelow(r, 3)) { sb_f(&b, "  %s_", W_PROSE[rskew(r, NELEM(W_PROSE))]); sb_rare(&b, r); sb_f(&b, ": %u,\\n", rbelow(r, 1000000)); }
                    else sb_f(&b, "    Finished `release` profile [optimized] target(s) in %u.%02us\\n", rbelow(r, 90), rbelow(r, 100));
                    break;
            default: sb_path(&b, r); sb_f(&b, ":%u: %s ", rbelow(r, 900) + 1, W_IDENT[rskew(r, NELEM(W_IDENT))]); sb_rare(&b, r); sb_c(&b, ' '); sb_s(&b, W_PROSE[rskew(r, NELEM(W_PROSE))]); sb_c(&b, '_'); sb_rare(&b, r); sb_s(&b, "\\n"); break;
            }
            break;
        case T_CMD:
            if (b.n) sb_s(&b, rbelow(r, 3) ? " && " : " | ");
            sb_s(&b, W_CMD[rskew(r, NELEM(W_CMD))]);
            sb_c(&b, ' ');
            if (rbelow(r, 2)) sb_path(&b, r); else { sb_s(&b, "\\\""); sb_s(&b, W_IDENT[rskew(r, NELEM(W_IDENT))]); sb_s(&b, "\\\""); }
            break;
        default: /* T_CODE */
            sb_s(&b, rbelow(r, 3) ? "    " : "        ");
            for (int k = 0, m = 2 + (int)rbelow(r, 7); k < m; k++) {
                if (rbelow(r, 4) == 0) sb_rare(&b, r); else sb_s(&b, W_IDENT[rskew(r, NELEM(W_IDENT))]);
                sb_s(&b, k == 0 ? " = " : (rbelow(r, 3) ? "." : "("));
            }
            sb_s(&b, rbelow(r, 4) ? ");\\n" : "?;\\n");
            break;
        }
    }
    put_exact(out, tmp, L);
}

/* ------------------------------------------------------- event generator */

typedef struct {
    uint8_t uuid[16];
    char uuidstr[37];
    uint64_t ver;
    int64_t life;
    char call_id[25];
} slot_t;

typedef struct {
    rng_t r;
    uint64_t seq;
    uint64_t ts_ms;
    slot_t slots[NSLOTS];
} gen_t;

enum { E_USER, E_ASSIST, E_TCALL, E_TRES, E_AUTHZ, E_CONFIG, E_NTYPES };
static const char *E_NAME[] = {"user_message", "assistant_message", "tool_call", "tool_result", "authz_decision", "config_change"};

static void slot_new(gen_t *g, slot_t *s)
{
    for (int i = 0; i < 16; i++) s->uuid[i] = (uint8_t)rnext(&g->r);
    s->uuid[6] = (uint8_t)((s->uuid[6] & 0x0f) | 0x40);
    s->uuid[8] = (uint8_t)((s->uuid[8] & 0x3f) | 0x80);
    static const char hx[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) s->uuidstr[o++] = '-';
        s->uuidstr[o++] = hx[s->uuid[i] >> 4];
        s->uuidstr[o++] = hx[s->uuid[i] & 15];
    }
    s->uuidstr[o] = 0;
    s->ver = 0;
    s->life = 20 + (int64_t)rexp(&g->r, 180);
    for (int i = 0; i < 24; i++) s->call_id[i] = B62[rbelow(&g->r, 62)];
    s->call_id[24] = 0;
}

static void gen_init(gen_t *g, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    g->r.s = seed;
    g->ts_ms = 1748779200000ull; /* 2025-06-01T12:00:00Z */
    for (int i = 0; i < NSLOTS; i++) slot_new(g, &g->slots[i]);
}

static int clampi(double v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : (int)v); }

/* writes one event into out (>= 2048 bytes), returns its length; ikey gets
 * stream uuid (16) || stream version BE (8) */
static size_t gen_event(gen_t *g, char *out, uint8_t *ikey, int *etype)
{
    rng_t *r = &g->r;
    slot_t *s = &g->slots[rbelow(r, NSLOTS)];
    if (s->life-- <= 0) slot_new(g, s);
    uint64_t ver = s->ver++;
    if (ikey) { memcpy(ikey, s->uuid, 16); be64(ikey + 16, ver); }

    double u = runif(r);
    int t = u < 0.15 ? E_USER : u < 0.40 ? E_ASSIST : u < 0.60 ? E_TCALL : u < 0.80 ? E_TRES : u < 0.95 ? E_AUTHZ : E_CONFIG;
    if (etype) *etype = t;
    int target;
    switch (t) {
    case E_USER: target = clampi(200 + rexp(r, 250), MINEV, MAXEV); break;
    case E_ASSIST: target = clampi(250 + rexp(r, 400), MINEV, MAXEV); break;
    case E_TCALL: target = clampi(200 + rexp(r, 200), MINEV, MAXEV); break;
    case E_TRES: target = clampi(200 + rexp(r, 550), MINEV, MAXEV); break;
    case E_AUTHZ: target = clampi(200 + rexp(r, 100), MINEV, MAXEV); break;
    default: target = clampi(200 + rexp(r, 80), MINEV, MAXEV); break;
    }

    g->ts_ms += 1 + (uint64_t)rexp(r, 250);
    time_t sec = (time_t)(g->ts_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03uZ", (unsigned)(g->ts_ms % 1000));

    char pre[1024], suf[512], fill2[2048];
    sb_t p = {pre, 0}, q = {suf, 0};
    sb_f(&p, "{\"type\":\"%s\",\"seq\":%" PRIu64 ",\"ts\":\"%s\",\"stream\":\"%s\",\"ver\":%" PRIu64 ",",
         E_NAME[t], g->seq, ts, s->uuidstr, ver);
    int kind = T_PROSE;
    int two = 0; /* edit tool: two fills */
    int nofill = 0;
    switch (t) {
    case E_USER:
        sb_s(&p, "\"msg_id\":\"msg_"); sb_rand(&p, r, 24, B62, 62);
        sb_f(&p, "\",\"role\":\"user\",\"actor\":\"user:%s\",\"content\":\"", W_USER[rbelow(r, NELEM(W_USER))]);
        sb_s(&q, "\"}");
        break;
    case E_ASSIST: {
        sb_s(&p, "\"msg_id\":\"msg_"); sb_rand(&p, r, 24, B62, 62);
        sb_f(&p, "\",\"role\":\"assistant\",\"model\":\"%s\",\"content\":\"", W_MODEL[rskew(r, NELEM(W_MODEL))]);
        unsigned in = 2000 + rbelow(r, 150000), outk = 20 + rbelow(r, 2000);
        sb_f(&q, "\",\"stop_reason\":\"%s\",\"usage\":{\"input_tokens\":%u,\"output_tokens\":%u,"
                 "\"cache_creation_input_tokens\":%u,\"cache_read_input_tokens\":%u}}",
             W_STOP[rbelow(r, NELEM(W_STOP))], in, outk, rbelow(r, 3) ? 0 : rbelow(r, 20000), in - rbelow(r, 2000));
        break;
    }
    case E_TCALL: {
        for (int i = 0; i < 24; i++) s->call_id[i] = B62[rbelow(r, 62)];
        int tool = (int)rskew(r, NELEM(W_TOOL));
        sb_f(&p, "\"call_id\":\"toolu_%s\",\"tool\":\"%s\",\"args\":{", s->call_id, W_TOOL[tool]);
        switch (tool) {
        case 0: sb_s(&p, "\"command\":\""); kind = T_CMD; sb_f(&q, "\",\"timeout_ms\":%u}}", 1000u * (10 + rbelow(r, 600))); break;
        case 1: sb_s(&p, "\"path\":\""); sb_path(&p, r); sb_s(&p, "\",\"old_str\":\""); kind = T_CODE; two = 1; sb_s(&q, "\"}}"); break;
        case 2: sb_s(&p, "\"path\":\""); sb_path(&p, r); sb_s(&p, "\",\"content\":\""); kind = T_CODE; sb_s(&q, "\"}}"); break;
        case 3: sb_s(&p, "\"path\":\""); sb_path(&p, r); sb_f(&p, "\",\"offset\":%u,\"limit\":%u}}", rbelow(r, 400), 50 + rbelow(r, 400)); nofill = 1; break;
        default: sb_f(&p, "\"pattern\":\"%s\",\"path\":\"%s\",\"glob\":\"*.rs\",\"output_mode\":\"content\",\"-n\":true}}", W_IDENT[rskew(r, NELEM(W_IDENT))], W_DIR[rskew(r, NELEM(W_DIR))]); nofill = 1; break;
        }
        break;
    }
    case E_TRES:
        sb_f(&p, "\"call_id\":\"toolu_%s\",\"is_error\":%s,\"duration_ms\":%u,\"output\":\"", s->call_id, rbelow(r, 12) ? "false" : "true", rbelow(r, 30000));
        kind = T_OUTPUT;
        sb_s(&q, "\"}");
        break;
    case E_AUTHZ:
        sb_f(&p, "\"actor\":\"agent:%s\",\"action\":\"%s\",\"resource\":\"repo:", W_AGENT[rskew(r, NELEM(W_AGENT))], W_ACTION[rskew(r, NELEM(W_ACTION))]);
        sb_path(&p, r);
        sb_f(&p, "\",\"decision\":\"%s\",\"policy\":\"pol-%02u\",\"request_id\":\"req_", W_DECISION[rbelow(r, NELEM(W_DECISION))], rbelow(r, 40));
        sb_rand(&p, r, 20, B62, 62);
        sb_s(&p, "\",\"reason\":\"");
        sb_s(&q, "\"}");
        break;
    default:
        sb_f(&p, "\"actor\":\"user:%s\",\"key\":\"%s\",\"old\":%u,\"new\":%u,\"reason\":\"", W_USER[rbelow(r, NELEM(W_USER))], W_CFGKEY[rbelow(r, NELEM(W_CFGKEY))], rbelow(r, 100000), rbelow(r, 100000));
        sb_s(&q, "\"}");
        break;
    }

    size_t n = 0;
    memcpy(out, pre, p.n);
    n = p.n;
    if (!nofill) {
        long fixed = (long)p.n + (long)q.n + (two ? 15 : 0);
        long L = (long)target - fixed;
        if (L < 16) L = 16;
        if (two) {
            long a = L / 2, b2 = L - a;
            gen_text(r, kind, out + n, (size_t)a); n += (size_t)a;
            memcpy(out + n, "\",\"new_str\":\"", 13); n += 13;
            gen_text(r, kind, fill2, (size_t)b2); memcpy(out + n, fill2, (size_t)b2); n += (size_t)b2;
        } else {
            gen_text(r, kind, out + n, (size_t)L); n += (size_t)L;
        }
        memcpy(out + n, suf, q.n);
        n += q.n;
    }
    g->seq++;
    return n;
}

lw_generator *lw_create(uint64_t seed)
{
    gen_t *g = malloc(sizeof *g);
    if (g) gen_init(g, seed);
    return (lw_generator *)g;
}

void lw_destroy(lw_generator *g) { free(g); }

size_t lw_next(lw_generator *g, char *out, uint8_t *stream_key, int *type)
{
    return gen_event((gen_t *)g, out, stream_key, type);
}

const char *lw_type_name(int type) { return (type >= 0 && type < E_NTYPES) ? E_NAME[type] : "unknown"; }
