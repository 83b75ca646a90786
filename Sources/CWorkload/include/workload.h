#ifndef LOGBOOK_WORKLOAD_H
#define LOGBOOK_WORKLOAD_H
#include <stddef.h>
#include <stdint.h>

/// Concurrently active conversation streams, as in limits.c.
#define LW_STREAMS 256
/// Every event fits in this many bytes.
#define LW_MAX_EVENT_BYTES 2048

typedef struct lw_generator lw_generator;

/// A deterministic generator of agent events (JSON, 200-1500 bytes, mean ~510) seeded like limits.c.
lw_generator *lw_create(uint64_t seed);
void lw_destroy(lw_generator *g);
/// Writes the next event into out (LW_MAX_EVENT_BYTES), returns its length; stream_key gets the stream's
/// UUID (16 bytes) followed by its 0-based version (8 bytes, big-endian); type gets the event kind (0..5).
size_t lw_next(lw_generator *g, char *out, uint8_t *stream_key, int *type);
/// The event kind's name: user_message, assistant_message, tool_call, tool_result, authz_decision, config_change.
const char *lw_type_name(int type);
#endif
