/* resp/resp.h: the RESP library's shared type, one request argument. The
 * library is pure: bytes in, arguments or reply boundaries out; no sockets,
 * no clock, no libuv. The one rule: it depends on common/ and hiredis only.
 *
 *   resp_request.h  request framing and limits (hiredis reader + inline)
 *   resp_scan.h     where one RESP2/RESP3 reply ends (forwarded replies)
 *   resp_write.h    RESP header lines ("*3\r\n", "$5\r\n", ":-1\r\n") */
#ifndef RC_RESP_RESP_H
#define RC_RESP_RESP_H

#include <stddef.h>

#include "common/rc_str.h"

/* One argument of a request: binary-safe bytes with a NUL after the last
 * byte for convenience. Owned by whoever parsed it (the request parser's
 * arena for client commands); valid until the command returns. */
typedef struct resp_arg_s {
    char *ptr;
    size_t len;
} resp_arg_t;

/* Returns 1 when 'a' is the option word 'word' in any ASCII case (an
 * argument with an embedded NUL never matches). */
static inline int resp_arg_is(const resp_arg_t *a, const char *word)
{
    return rc_strcaseeq(a->ptr, a->len, word);
}

#endif /* RC_RESP_RESP_H */
