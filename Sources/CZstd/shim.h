#include <zstd.h>
/* For ZDICT_trainFromBuffer_fastCover and its parameters: declared only for static linking, exported by the shared
 * library (Debian's libzstd1 1.5) as well. */
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
