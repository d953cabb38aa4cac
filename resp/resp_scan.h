/* resp/resp_scan.h: a scanner that finds where one RESP2/RESP3 reply ends,
 * for relaying forwarded replies byte for byte. The one rule: no allocation,
 * no recursion, O(bytes) per call; it validates framing, not meaning.
 *
 * Accepted: + - : $ * _ , # ( ! = % ~ > and | (attributes, which precede a
 * value and count as part of it); null bulk $-1 and null array *-1. Lines
 * end in \r\n; integers and lengths are strict (no sign '+', no leading
 * zeros, no "-0"). Rejected as RC_EPROTO: streamed/chunked RESP3 ($?, *?,
 * ';' and '.'), an unknown type byte, nesting deeper than
 * RESP_SCAN_MAX_DEPTH, a bulk over RESP_SCAN_MAX_BULK, an aggregate count
 * over RESP_SCAN_MAX_COUNT, a numeric line longer than it can be. */
#ifndef RC_RESP_RESP_SCAN_H
#define RC_RESP_RESP_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "resp/resp.h"

enum resp_scan_limit_e {
    RESP_SCAN_MAX_DEPTH = 64,               /* nested aggregates (attributes count) */
    RESP_SCAN_MAX_BULK = 512 * 1024 * 1024, /* bytes in a bulk, as proto-max-bulk-len */
    RESP_SCAN_MAX_LINE = 4096,              /* bytes of a ',' or '(' line */
};
#define RESP_SCAN_MAX_COUNT 2147483648LL /* 2^31 elements (entries for maps) */

/* Length of the one complete reply at 'buf': > 0 bytes, 0 if more bytes are
 * needed, RC_EPROTO if malformed. */
ssize_t resp_scan(const char *buf, size_t len);

/* For a complete aggregate reply at 'buf' (* ~ > and %, a map counting 2
 * per entry; attributes before it are skipped): returns its element count
 * (-1 for *-1) and stores in '*first' the offset of its first element (of
 * the end of the reply for -1 and 0). RC_EPROTO otherwise. */
long resp_scan_aggregate(const char *buf, size_t len, size_t *first);

/* Parses the ':' integer reply at the start of 'buf' into '*out'. Returns 0
 * or RC_EPROTO (not an integer reply, incomplete, or not strict). */
int resp_scan_integer(const char *buf, size_t len, long long *out);

/* Splits 'buf', exactly 'want' bulk strings back to back ("$<len>\r\n<bytes>
 * \r\n" each, the length as strict as resp_scan()'s but bounded by 'len'
 * alone, not RESP_SCAN_MAX_BULK: a packed write's serialized value passes
 * it by a few bytes when the value is at proto-max-bulk-len; no null bulk), into
 * 'out' (room for 'want'): each one's bytes in place, with a NUL written
 * over the '\r' after them, as a parsed request argument has. Returns 0,
 * or RC_EPROTO when 'buf' is anything else ('buf' may then be changed). */
int resp_scan_bulks(char *buf, size_t len, resp_arg_t *out, size_t want);

/* Resumable scanning: for a reply that arrives in pieces, keeps its place
 * so every byte is scanned once. Give it the same growing reply each time
 * (the buffer may move; bytes already given must not change). */
typedef struct resp_scanner_s {
    size_t pos;                         /* start of the first unscanned element */
    uint32_t depth;                     /* open aggregates */
    uint64_t left[RESP_SCAN_MAX_DEPTH]; /* elements still due in each */
} resp_scanner_t;

void resp_scanner_init(resp_scanner_t *sc);
/* As resp_scan(), resuming where the previous call stopped. After a
 * return other than 0 the scanner is reset for the next reply (which starts
 * at offset 0 of the next 'buf' given). */
ssize_t resp_scanner_scan(resp_scanner_t *sc, const char *buf, size_t len);

#endif /* RC_RESP_RESP_SCAN_H */
