/* resp/resp_request.h: the client request parser, with no sockets: bytes in,
 * commands (argc/argv) or a protocol error out. RESP multibulk requests are
 * parsed once, by hiredis's redisReader with our own object functions
 * (header lines end in "\r\n", as hiredis reads them); inline requests
 * ("PING\r\n" from telnet) are split here. The one rule: every limit (bulk
 * length, argument count, buffered bytes) is checked on the announced
 * sizes as soon as their header is here, before the bytes they announce
 * are buffered (at most one 4 KB feed piece of them). */
#ifndef RC_RESP_RESP_REQUEST_H
#define RC_RESP_RESP_REQUEST_H

#include <stddef.h>
#include <sys/types.h>

#include "resp/resp.h"

typedef struct resp_request_s resp_request_t;

/* Redis's PROTO_INLINE_MAX_SIZE: longest inline request or header line. */
enum resp_request_limit_e {
    RESP_REQUEST_INLINE_MAX = 64 * 1024,
    RESP_REQUEST_UNAUTH_MAX_ARGS = 10,    /* Redis 7 before AUTH */
    RESP_REQUEST_UNAUTH_MAX_BULK = 16384, /* Redis 7 before AUTH */
    RESP_REQUEST_MAX_ARGS = 2147483647,   /* INT_MAX */
};

/* An argument of at least RESP_REQUEST_BIG_ARG bytes is read into a block
 * of its own (from rc_xmalloc()): RESP_REQUEST_ARG_HEAD bytes left free for
 * whoever takes it, the argument's bytes, a NUL. */
enum resp_request_big_e {
    RESP_REQUEST_BIG_ARG = 1 << 20,
    RESP_REQUEST_ARG_HEAD = 8,
};

/* Called for each complete command, in order. 'argv' (argc >= 1) is valid
 * until the callback returns. Return 0 to go on, non-zero to stop feeding:
 * resp_request_feed() then returns the bytes consumed so far. */
typedef int resp_request_cmd_cb(void *ud, int argc, resp_arg_t *argv);

/* Returns a new parser; free with resp_request_destroy(). 'max_bulk' is
 * proto-max-bulk-len, 'max_query' client-query-buffer-limit. Aborts on OOM. */
resp_request_t *resp_request_create(long long max_bulk, long long max_query);
void resp_request_destroy(resp_request_t *p);

void resp_request_set_limits(resp_request_t *p, long long max_bulk, long long max_query);
/* Before authentication Redis 7 refuses multibulk counts over 10 and bulks
 * over 16384 bytes; 'authenticated' lifts that. */
void resp_request_set_authenticated(resp_request_t *p, int authenticated);

/* Parses 'len' bytes of 'buf' (any split of the stream is fine), calling
 * 'cb' per command. Returns the bytes consumed ('len' unless 'cb' asked to
 * stop), or a negative code: RC_EPROTO for malformed input (Redis's reply
 * text in resp_request_error()), RC_ETOOBIG when the bytes buffered for one
 * request pass client-query-buffer-limit (Redis closes without a reply).
 * Errors are sticky: every later call returns the same code. Commands
 * before the bad bytes have been delivered. */
ssize_t resp_request_feed(resp_request_t *p, const char *buf, size_t len, resp_request_cmd_cb *cb,
                          void *ud);

/* Looks at the one RESP multibulk request at the start of 'buf' without
 * parsing it for real (no state, no allocation, no copy): when the 'len'
 * bytes hold the whole request, returns its size in bytes, stores its
 * argument count in '*argc' and its first min(argc, 'max') arguments in
 * 'argv' (pointing into 'buf'). Returns 0 for a partial request or
 * anything else (an inline request, a bad header, an argument count over
 * 'max_args'): the caller stops looking. When resp_request_feed() accepts
 * the same bytes, it delivers this very request (it may refuse some that
 * this reports: its limits apply). For hints (prefetching the keys of a
 * pipelined batch), never for running requests. */
size_t resp_request_peek(const char *buf, size_t len, long long max_args, int *argc,
                         resp_arg_t *argv, int max);

/* From within the command callback: the block of argument 'i' when it has
 * one of its own (see RESP_REQUEST_BIG_ARG), else NULL. The caller owns it
 * then and frees it with rc_free(); argv[i] points into it until the
 * callback returns, so the caller must not free it before that. */
char *resp_request_take_arg(resp_request_t *p, int i);

/* The error reply for the last RC_EPROTO, e.g. "ERR Protocol error: invalid
 * bulk length", or "" when there is none. */
const char *resp_request_error(const resp_request_t *p);

/* Bytes held for the request being read (reader buffer, arguments). */
size_t resp_request_buffered(const resp_request_t *p);
/* Bytes of memory the parser holds, for INFO and CLIENT LIST. */
size_t resp_request_memory(const resp_request_t *p);
/* Gives the parser's buffers back to the allocator when it holds no part
 * of a request (an idle connection's, as Redis shrinks an idle client's
 * query buffer); the next bytes grow them again. Does nothing twice in a
 * row without bytes fed in between. */
void resp_request_trim(resp_request_t *p);

#endif /* RC_RESP_RESP_REQUEST_H */
