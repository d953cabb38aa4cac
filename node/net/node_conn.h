/* node/net/node_conn.h: one client connection: socket, request parser, output
 * buffer, per-client state (auth, name, RESP version). Internal to node/.
 * The one rule: a connection is freed only in its close callback; every
 * other path sets 'closing' and lets libuv finish. */
#ifndef RC_NODE_NODE_CONN_H
#define RC_NODE_NODE_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "node/core/node.h"
#include "resp/resp_request.h"

/* Output buffer sizes. A connection whose pending output passes
 * NODE_CONN_OUT_PAUSE stops reading (and stops running the commands it has
 * already read) until the peer drains it below NODE_CONN_OUT_RESUME: a
 * client that never reads cannot grow the server's memory past one pause
 * threshold plus the largest single reply. */
enum node_conn_limit_e {
    NODE_CONN_OBUF_INITIAL = 16 * 1024,
    NODE_CONN_OBUF_KEEP = 64 * 1024, /* larger idle buffers are freed */
    NODE_CONN_OUT_PAUSE = 4 * 1024 * 1024,
    NODE_CONN_OUT_RESUME = 1024 * 1024,
    NODE_CONN_NAME_MAX = 256,
    NODE_CONN_MAX_FORWARDS = 1024,      /* forwards in flight per client before it pauses */
    NODE_CONN_BUS_HANDSHAKE_MS = 10000, /* a bus connection must open within this */
    NODE_CONN_BUS_IDLE_MS = 30000,      /* an open control connection this silent is dead */
};

typedef struct node_conn_s node_conn_t;
typedef struct node_conn_seg_s node_conn_seg_t;
struct node_bus_session_s;

/* A reply segment: while a forwarded request is in flight, the client's
 * later replies wait in segments so they leave in request order:
 *
 *   obuf (flushable) <- [fwd pending] -> [local replies] -> [fwd pending] -> ...
 *
 * A completed head segment moves into obuf. A pending segment whose client
 * closed is orphaned (conn NULL) and freed when its reply arrives. */
struct node_conn_seg_s {
    node_conn_seg_t *next;
    node_conn_t *conn; /* NULL once orphaned */
    char *buf;         /* the segment's reply bytes */
    size_t len;
    size_t cap;
    void *gather;         /* node_fwd.c: state of a split request, NULL otherwise */
    unsigned pending : 1; /* waiting for a forwarded reply */
};

struct node_conn_s {
    node_client_t client; /* the command view; client.conn == this */
    uv_tcp_t tcp;
    resp_request_t *proto;
    uint64_t id;

    /* Replies of the commands run since the last flush. */
    char *obuf;
    size_t olen;
    size_t ocap;
    size_t owriting;    /* bytes handed to the write in flight */
    uint64_t out_total; /* bytes of replies produced, for INFO */
    size_t out_peak;    /* largest pending output seen */

    /* Bytes read but not yet run, kept while paused on output. */
    char *pending;
    size_t pending_len;

    char *name; /* CLIENT SETNAME, NULL when unset */
    char addr[64];
    char laddr[64];
    int fd;
    int64_t ctime_ms;    /* connected at */
    int64_t last_ms;     /* last interaction, for idle timeout */
    uint64_t ncmds;      /* commands run */
    uint64_t read_iter;  /* loop iteration of the last read (one read per iteration) */
    const char *lastcmd; /* static name of the last command */

    node_conn_t *prev; /* server's client list (the forwarder's for bus connections) */
    node_conn_t *next;

    /* Ordered replies (see node_conn_seg_t). */
    node_conn_seg_t *seg_head;
    node_conn_seg_t *seg_tail;
    node_conn_seg_t *seg_free; /* recycled segments */
    node_conn_seg_t *capture;  /* explicit output target (split requests), or NULL */
    node_conn_seg_t *out_seg;  /* target of the last node_conn_out_reserve() */
    node_conn_t *defer_next;   /* node_fwd.c's list of connections to pump */
    size_t seg_bytes;          /* reply bytes waiting in segments */
    unsigned nfwd;             /* pending segments */
    unsigned nseg_free;

    /* Accepted cluster-bus connection: the handshake session until the peer
     * is known, kept for control links; NULL for clients. */
    struct node_bus_session_s *bus;

    unsigned closing : 1;
    unsigned close_after_reply : 1;
    unsigned authenticated : 1;
    unsigned writing : 1;
    unsigned reading : 1;  /* uv_read_start is active */
    unsigned in_batch : 1; /* inside on_read: flush at its end */
    unsigned killed : 1;
    unsigned refused : 1;     /* refused at accept: drains, then closes */
    unsigned busconn : 1;     /* accepted on the bus listener (not in the client list) */
    unsigned bus_control : 1; /* open control session: frames go to node_cluster */
    unsigned bus_data : 1;    /* the peer's DATA frame arrived */
    unsigned bus_bad : 1;     /* a frame was refused: close */
    unsigned peer : 1;        /* a data link from another node: never forwards */
    unsigned deferred : 1;    /* on node_fwd.c's list of connections to pump */
};

struct node_server_s;

/* Accepts one pending connection on 'listener' and starts reading from it.
 * Returns 0 or a libuv error (the connection is then gone). */
int node_conn_accept(struct node_server_s *server, uv_stream_t *listener);

/* Accepts one pending connection on the cluster-bus 'listener': runs the
 * bus handshake as the acceptor; a control peer's frames then go to
 * node_cluster_on_frame(), a data peer's connection becomes a RESP client
 * (flag 'peer'). Bus connections are not in the client list and do not
 * count against maxclients. Returns 0 or a libuv error. */
int node_conn_accept_bus(struct node_server_s *server, uv_stream_t *listener);

/* Closes 'c' if it is a bus connection still in its handshake after
 * NODE_CONN_BUS_HANDSHAKE_MS, or an open control connection that received
 * nothing for NODE_CONN_BUS_IDLE_MS (a peer gone without a FIN: it sends
 * pings all the time); 'now_ms' is the time. Called from the forwarder's
 * timer. */
void node_conn_bus_expire(node_conn_t *c, int64_t now_ms);

/* Appends a pending segment for a forwarded request to 'c' and returns it;
 * node_fwd.c completes it with node_conn_seg_complete(). */
node_conn_seg_t *node_conn_seg_push(node_conn_t *c);
/* Completes the pending 'seg' with the reply 'reply' ('len' bytes): the
 * client's replies that were waiting behind it move to its output, which
 * is written once per loop iteration (node_fwd_defer()). An orphaned 'seg'
 * is freed. */
void node_conn_seg_complete(node_conn_seg_t *seg, const char *reply, size_t len);
/* Writes the output of 'c' and runs the commands a pause left unrun:
 * called by node_fwd.c once per loop iteration for the connections whose
 * forwarded replies arrived. */
void node_conn_resume(node_conn_t *c);
/* A detached segment for capturing replies (split requests): make it the
 * output target with c->capture; release it with node_conn_seg_release(). */
node_conn_seg_t *node_conn_seg_get(node_conn_t *c);
void node_conn_seg_release(node_conn_t *c, node_conn_seg_t *seg);

/* Starts closing 'c' after its pending output is written (QUIT, protocol
 * errors). */
void node_conn_close_after_reply(node_conn_t *c);

/* Starts closing 'c' now, dropping its pending output. 'reason' is 0 or a
 * negative error code, logged at VERBOSE. Safe to call more than once and
 * from inside one of the connection's own commands. */
void node_conn_close(node_conn_t *c, int reason);

/* Marks 'c' (un)authenticated; lifts the parser's pre-AUTH limits. */
void node_conn_set_authenticated(node_conn_t *c, int authenticated);

/* Reserves room for 'n' more bytes of output and returns where to write
 * them; node_reply.c then calls node_conn_out_commit() with the bytes
 * written. The output goes to obuf, or to a segment while a forward is in
 * flight. Never fails (aborts on OOM). */
char *node_conn_out_reserve(node_conn_t *c, size_t n);
void node_conn_out_commit(node_conn_t *c, size_t n);
/* The current output target of the last reserve: its start and length
 * (deferred array headers). */
char *node_conn_out_base(node_conn_t *c, size_t *len);

/* Bytes of output not yet handed to the kernel (waiting behind forwarded
 * requests included). */
size_t node_conn_out_pending(const node_conn_t *c);

/* Formats "id=.. addr=.. ..." as CLIENT INFO/LIST print it into 'buf'.
 * Returns the length written (truncated to 'size' - 1). */
size_t node_conn_describe(const node_conn_t *c, int64_t now_ms, char *buf, size_t size);

#endif /* RC_NODE_NODE_CONN_H */
