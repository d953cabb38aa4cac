/* node/net/node_proto.h: the client request parser, with no sockets: bytes in,
 * commands (argc/argv) or a protocol error out. RESP multibulk requests go
 * through hiredis's redisReader with our own object functions; inline
 * requests ("PING\r\n" from telnet) are split here. The one rule: every
 * limit (bulk length, argument count, buffered bytes) is checked on the
 * announced sizes, before the bytes they announce are buffered. */
#ifndef RC_NODE_NODE_PROTO_H
#define RC_NODE_NODE_PROTO_H

#include <stddef.h>
#include <sys/types.h>

#include "node/core/node.h"

typedef struct node_proto_s node_proto_t;

/* Redis's PROTO_INLINE_MAX_SIZE: longest inline request or header line. */
enum node_proto_limit_e {
    NODE_PROTO_INLINE_MAX = 64 * 1024,
    NODE_PROTO_UNAUTH_MAX_ARGS = 10,    /* Redis 7 before AUTH */
    NODE_PROTO_UNAUTH_MAX_BULK = 16384, /* Redis 7 before AUTH */
    NODE_PROTO_MAX_ARGS = 2147483647,   /* INT_MAX */
};

/* Called for each complete command, in order. 'argv' (argc >= 1) is valid
 * until the callback returns. Return 0 to go on, non-zero to stop feeding:
 * node_proto_feed() then returns the bytes consumed so far. */
typedef int node_proto_cmd_cb(void *ud, int argc, node_arg_t *argv);

/* Returns a new parser; free with node_proto_destroy(). 'max_bulk' is
 * proto-max-bulk-len, 'max_query' client-query-buffer-limit. Aborts on OOM. */
node_proto_t *node_proto_create(long long max_bulk, long long max_query);
void node_proto_destroy(node_proto_t *p);

void node_proto_set_limits(node_proto_t *p, long long max_bulk, long long max_query);
/* Before authentication Redis 7 refuses multibulk counts over 10 and bulks
 * over 16384 bytes; 'authenticated' lifts that. */
void node_proto_set_authenticated(node_proto_t *p, int authenticated);

/* Parses 'len' bytes of 'buf' (any split of the stream is fine), calling
 * 'cb' per command. Returns the bytes consumed ('len' unless 'cb' asked to
 * stop), or a negative code: RC_EPROTO for malformed input (Redis's reply
 * text in node_proto_error()), RC_ETOOBIG when the bytes buffered for one
 * request pass client-query-buffer-limit (Redis closes without a reply).
 * Errors are sticky: every later call returns the same code. Commands
 * before the bad bytes have been delivered. */
ssize_t node_proto_feed(node_proto_t *p, const char *buf, size_t len, node_proto_cmd_cb *cb,
                        void *ud);

/* The error reply for the last RC_EPROTO, e.g. "ERR Protocol error: invalid
 * bulk length", or "" when there is none. */
const char *node_proto_error(const node_proto_t *p);

/* Bytes held for the request being read (reader buffer, arguments). */
size_t node_proto_buffered(const node_proto_t *p);
/* Bytes of memory the parser holds, for INFO and CLIENT LIST. */
size_t node_proto_memory(const node_proto_t *p);

/* Splits an inline request line like Redis's sdssplitargs: spaces separate
 * arguments, "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes,
 * 'single quotes' take \'. A closing quote must be followed by a space or
 * the end. Calls 'arg(ud, ptr, len)' per argument. Returns the number of
 * arguments, or -1 for unbalanced quotes. Shared with node_config.c. */
int node_proto_split_args(const char *line, size_t len,
                          void (*arg)(void *ud, const char *ptr, size_t len), void *ud);

#endif /* RC_NODE_NODE_PROTO_H */
