/* node/net/node_reply.h: building RESP replies into a client's output buffer.
 * Implemented in node_reply.c. The one rule: a reply function never fails;
 * output buffers are bounded by the connection code, not here. */
#ifndef RC_NODE_NODE_REPLY_H
#define RC_NODE_NODE_REPLY_H

#include <stddef.h>

#include "node/core/node.h"

void node_reply_raw(node_client_t *c, const void *p, size_t len);
void node_reply_ok(node_client_t *c);
/* "+<s>\r\n"; 's' must not contain CR or LF. */
void node_reply_status(node_client_t *c, const char *s);
/* "-<msg>\r\n". 'msg' is the full text with its code, as Redis prints it:
 * "ERR syntax error", "WRONGTYPE Operation against ...". CR/LF in it are
 * replaced by spaces. */
void node_reply_error(node_client_t *c, const char *msg);
void node_reply_errorf(node_client_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void node_reply_int(node_client_t *c, long long v);
void node_reply_bulk(node_client_t *c, const void *p, size_t len);
void node_reply_bulk_cstr(node_client_t *c, const char *s);
void node_reply_bulk_ll(node_client_t *c, long long v);
/* A double as Redis replies it: a bulk string in RESP2, a ',' double in
 * RESP3 (ZSCORE style). INCRBYFLOAT formats its own bulk instead. */
void node_reply_double(node_client_t *c, double d);
/* Null bulk: "$-1" in RESP2, "_" in RESP3. */
void node_reply_null(node_client_t *c);
/* Null array: "*-1" in RESP2, "_" in RESP3. */
void node_reply_null_array(node_client_t *c);
void node_reply_array(node_client_t *c, long n);
/* A map of 'n' pairs: "*2n" in RESP2, "%n" in RESP3. */
void node_reply_map(node_client_t *c, long n);
/* A set of 'n': "*n" in RESP2, "~n" in RESP3. */
void node_reply_set(node_client_t *c, long n);
/* An array whose length is known only after its elements: returns a handle
 * to pass to node_reply_set_deferred_array() once 'n' is known. */
void *node_reply_defer_array(node_client_t *c);
void node_reply_set_deferred_array(node_client_t *c, void *handle, long n);

/* A verbatim text ("=len\r\ntxt:..." in RESP3, a bulk string in RESP2), as
 * INFO and CLIENT INFO reply. */
void node_reply_verbatim(node_client_t *c, const char *text, size_t len);
/* A boolean: "#t"/"#f" in RESP3, :1/:0 in RESP2. */
void node_reply_bool(node_client_t *c, int v);

/* Redis's common error texts. */
void node_reply_wrongtype(node_client_t *c);    /* WRONGTYPE Operation against ... */
void node_reply_syntax_error(node_client_t *c); /* ERR syntax error */
void node_reply_not_integer(node_client_t *c);  /* ERR value is not an integer or out of range */
void node_reply_not_float(node_client_t *c);    /* ERR value is not a valid float */
/* ERR wrong number of arguments for '<cmd>' command */
void node_reply_arity_error(node_client_t *c, const char *cmd);

#endif /* RC_NODE_NODE_REPLY_H */
