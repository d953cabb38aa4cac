/* node/fwd/node_fwd.h: forwarding requests to the node that owns their keys:
 * pooled, pipelined outgoing data links (one per peer and RESP version),
 * replies matched in order and relayed byte for byte, and the split and
 * gather of multi-key requests whose keys span nodes. Internal to node/.
 * The one rule: every forwarded request gets exactly one reply, the peer's
 * or an error, never a hang. */
#ifndef RC_NODE_NODE_FWD_H
#define RC_NODE_NODE_FWD_H

#include <stddef.h>
#include <stdint.h>

#include "node/cluster/node_cluster.h"
#include "node/core/node.h"
#include "node/net/node_conn.h"
#include "node/net/node_server.h"

enum node_fwd_limit_e {
    NODE_FWD_LINK_MAX_PENDING = 65536,        /* requests in flight per link */
    NODE_FWD_LINK_MAX_OUT = 64 * 1024 * 1024, /* request bytes queued per link */
    NODE_FWD_MIN_TIMEOUT_MS = 2000,           /* floor of the request timeout */
    NODE_FWD_BACKOFF_MIN_MS = 50,             /* reconnect backoff after a failure */
    NODE_FWD_BACKOFF_MAX_MS = 1000,
    NODE_FWD_TICK_MS = 100, /* timeouts are checked this often */
};

typedef struct node_fwd_s node_fwd_t;

/* Why a forwarded request was answered with a local error (metrics). */
typedef enum node_fwd_error_e {
    NODE_FWD_ERR_TIMEOUT = 0,   /* no reply within the request timeout */
    NODE_FWD_ERR_LINK_DOWN = 1, /* the link failed, or waits out its backoff */
    NODE_FWD_ERR_NO_ROUTE = 2,  /* no such member, bad bus address */
    NODE_FWD_ERR_OVERLOAD = 3,  /* too many requests in flight on the link */
    NODE_FWD_ERR_SHUTDOWN = 4,  /* this node is shutting down */
    NODE_FWD_ERR_COUNT = 5,
} node_fwd_error_t;

/* The name of reason 'e' ("timeout", "link_down", ...), a metrics label. */
const char *node_fwd_error_name(node_fwd_error_t e);
/* Local error replies so far, by reason; 'fwd' may be NULL (all 0). */
void node_fwd_errors(const node_fwd_t *fwd, uint64_t out[NODE_FWD_ERR_COUNT]);

/* How the replies of a split request are gathered. */
typedef enum node_fwd_merge_e {
    NODE_FWD_MGET = 0, /* an array of the values in key order */
    NODE_FWD_MSET = 1, /* +OK when every part says OK, else the first error */
    NODE_FWD_SUM = 2,  /* the sum of the integers (DEL, UNLINK, EXISTS, TOUCH) */
} node_fwd_merge_t;

/* Creates the forwarder of 'server' over the bus of 'cl': a timer for
 * request timeouts, a cluster observer (links to members that left are
 * closed) and a server shutdown observer (pending requests fail). Free it
 * with node_fwd_destroy() after the loop ran out. */
node_fwd_t *node_fwd_create(node_server_t *server, node_cluster_t *cl);

/* Frees the forwarder. NULL is a no-op. */
void node_fwd_destroy(node_fwd_t *fwd);

/* Forwards the request in c->argv to member 'idx' of the installed
 * configuration; its reply takes the request's place among the client's
 * replies. Replies an error now when the member cannot be reached. */
void node_fwd_command(node_fwd_t *fwd, node_client_t *c, int idx);

/* Splits the request in c->argv whose keys start at argv[1], one key every
 * 'step' arguments (1 for MGET and DEL, 2 for MSET), by 'owners' (member
 * index of each key, in order). Keys this node owns ('myidx') run locally
 * through 'proc'; the rest go to their owners; the replies are gathered as
 * 'kind' says. When a local part ran, returns the gathered reply's
 * segment: the local part's reply is held (the gathered reply waits) until
 * node_fwd_split_release() (synchronous replication: the replicas must
 * have applied it first). Returns NULL when no key was local. */
node_conn_seg_t *node_fwd_split(node_fwd_t *fwd, node_client_t *c, node_fwd_merge_t kind, int step,
                                const int *owners, int myidx, void (*proc)(node_client_t *));
/* Releases the held local part of the split request gathered in 'seg':
 * with its own reply ('err' NULL) or with the error 'err' ('len' bytes, a
 * whole RESP error), which then becomes the request's answer. Once per
 * split, also after its client closed. */
void node_fwd_split_release(node_fwd_t *fwd, node_conn_seg_t *seg, const char *err, size_t len);

/* Gathers 'nparts' replies ('replies'[p], 'lens'[p] bytes, each one
 * complete RESP value) of a split request into 'out' (appended): key k of
 * the original request is element 'index_in_part'[k] of part 'part_of'[k].
 * An error reply in any part (first in part order) becomes the answer.
 * Returns 0, or RC_EPROTO when a part is not the reply 'kind' expects (an
 * error reply is then written). Pure: no I/O. */
int node_fwd_merge(node_fwd_merge_t kind, size_t nkeys, const uint32_t *part_of,
                   const uint32_t *index_in_part, size_t nparts, const char *const *replies,
                   const size_t *lens, node_conn_seg_t *out);

#endif /* RC_NODE_NODE_FWD_H */
