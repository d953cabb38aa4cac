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
    NODE_CONN_IDLE_TRIM_MS = 2000,   /* a connection quiet this long: node_conn_trim() */
    NODE_CONN_OUT_PAUSE = 4 * 1024 * 1024,
    NODE_CONN_OUT_RESUME = 1024 * 1024,
    NODE_CONN_NAME_MAX = 256,
    NODE_CONN_MAX_FORWARDS = 1024, /* forwards in flight per client before it pauses */
    /* A data link from a peer read after this long without a read (or
     * after reading stopped) is checked for a hang-up first (on_read). */
    NODE_CONN_PEER_QUIET_MS = 100,
};

typedef struct node_conn_s node_conn_t;
typedef struct node_conn_seg_s node_conn_seg_t;

/* Called once when a pending segment completes (node_conn_seg_complete()),
 * before its reply moves on, even when its client is gone: 'reply' is the
 * reply given ('len' bytes), or NULL for a gathered reply already in
 * seg->buf. The dispatcher times forwarded commands with it. */
typedef void node_conn_seg_done_fn(void *arg, node_conn_seg_t *seg, const char *reply, size_t len);

/* Runs the request in c->argv (the connection's request handler, given
 * when it is accepted: the command dispatcher). 'arg' is the handler's. */
typedef void node_conn_request_fn(void *arg, node_client_t *c);
/* Finds the key of a request from its first arguments, for prefetching:
 * 'argv' holds the first min(argc, NODE_CONN_PREFETCH_ARGS) arguments of a
 * request of 'argc'. Returns 1 and stores the key in '*key', or 0 (no key,
 * unknown command). A guess only: a wrong one costs a wasted prefetch. */
enum {
    NODE_CONN_PREFETCH_ARGS = 5,
    NODE_CONN_PF_RING = 32 /* scanned requests remembered (a power of 2) */
};
typedef int node_conn_key_fn(int argc, const resp_arg_t *argv, resp_arg_t *key);

/* Raw connections (the cluster bus): every byte read goes to 'on_bytes',
 * which may switch the connection to RESP requests and feed it unwrapped
 * bytes with node_conn_feed(); 'on_close' runs once, when the connection
 * is gone (its libuv close callback), so the handler's state outlives any
 * callback that closed it. */
typedef struct node_conn_raw_s {
    void (*on_bytes)(void *arg, node_conn_t *c, const char *data, size_t len);
    void (*on_close)(void *arg, node_conn_t *c);
} node_conn_raw_t;

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
    void *gather;                   /* node_fwd.c: state of a split request, NULL otherwise */
    node_conn_seg_done_fn *on_done; /* NULL, or called when it completes */
    void *done_arg;
    uint64_t start_ns;    /* the caller's: when the forwarded command started */
    unsigned pending : 1; /* waiting for a forwarded reply */
    /* while pending: the requests whose replies it holds, 1 unless more
     * joined it (node_conn_seg_join()); each counts as a forward in flight */
    unsigned nreq : 31;
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
    /* Raw connections: bytes fed while paused whose 'reject' differs from
     * that of the bytes already waiting, in order (node_conn_feed()). */
    struct node_conn_feed_s *feed_head;
    struct node_conn_feed_s *feed_tail;

    char *name; /* CLIENT SETNAME, NULL when unset */
    char addr[64];
    char laddr[64];
    int fd;
    int64_t ctime_ms;    /* connected at */
    int64_t last_ms;     /* last interaction, for idle timeout */
    uint64_t ncmds;      /* commands run */
    uint64_t nerrors;    /* error replies given (node_reply_error()) */
    uint64_t read_iter;  /* loop iteration of the last read (one read per iteration) */
    const char *lastcmd; /* static name of the last command */

    node_conn_t *prev; /* server's client list (the owner's for raw connections) */
    node_conn_t *next;

    /* Ordered replies (see node_conn_seg_t). */
    node_conn_seg_t *seg_head;
    node_conn_seg_t *seg_tail;
    node_conn_seg_t *seg_free; /* recycled segments */
    node_conn_seg_t *capture;  /* explicit output target (split requests), or NULL */
    node_conn_seg_t *out_seg;  /* target of the last node_conn_out_reserve() */
    node_conn_t *defer_next;   /* the server's list of connections to pump */
    size_t seg_bytes;          /* reply bytes waiting in segments */
    unsigned nfwd;             /* pending segments */
    unsigned nseg_free;

    /* The parser's argv of the command running now (node_conn_take_arg()). */
    resp_arg_t *parsed_argv;

    /* A request parked by node_conn_hold() (a copy), and the server's list
     * of connections holding one. */
    resp_arg_t *held_argv;
    int held_argc;
    int64_t held_since;      /* ms */
    int64_t hold_expired_ms; /* the last parked request answered TRYAGAIN (node_cmd.c) */
    node_conn_t *held_prev;
    node_conn_t *held_next;
    /* Data links from peers: the newest sender epoch of the BATCH frames
     * received (node_bus.c), for routing decisions. */
    uint64_t peer_epoch;
    /* Data links from peers: the member the peer opened it to (its DATA
     * frame; 0: none named), so that what was meant for an earlier member
     * at this address is refused (node_bus_addressed_before). */
    uint64_t peer_to_id;
    uint64_t peer_to_incarnation;

    /* Handlers given at accept. */
    node_conn_request_fn *on_request;
    void *request_arg;
    const node_conn_raw_t *raw; /* NULL for client connections */
    void *raw_arg;
    const char *reject; /* while set, requests get this error instead of running */

    /* Prefetching (run()): the bytes being run, how far they have been
     * scanned, how many scanned requests have not run yet, and the last
     * NODE_CONN_PF_RING scanned requests' key hashes. */
    const char *pf_data;
    size_t pf_len;
    size_t pf_pos;
    unsigned pf_left;
    unsigned pf_tail; /* requests scanned since the read */
    uint64_t pf_hash[NODE_CONN_PF_RING];
    uint8_t pf_key[NODE_CONN_PF_RING]; /* 1: that request has a key */

    unsigned closing : 1;
    unsigned close_after_reply : 1;
    unsigned authenticated : 1;
    unsigned writing : 1;
    unsigned reading : 1;  /* uv_read_start is active */
    unsigned in_batch : 1; /* inside on_read: flush at its end */
    unsigned killed : 1;
    unsigned refused : 1;  /* refused at accept: drains, then closes */
    unsigned peer : 1;     /* a data link from another node: never forwards */
    unsigned deferred : 1; /* on the server's list of connections to pump */
    unsigned held : 1;     /* a request is parked: nothing else runs */
    unsigned stalled : 1;  /* reading stopped since the last read */
};

struct node_server_s;

/* Accepts one pending client connection on 'listener' and starts reading
 * from it; its requests go to the server's request handler. Returns 0 or a
 * libuv error (the connection is then gone). */
int node_conn_accept(struct node_server_s *server, uv_stream_t *listener);

/* Accepts one pending connection on 'listener' as a raw connection whose
 * bytes go to 'raw' (with 'arg'), and stores it in '*out'. Raw connections
 * are not in the client list and do not count against maxclients; the
 * caller keeps its own list (raw->on_close). Returns 0 or a libuv error. */
int node_conn_accept_raw(struct node_server_s *server, uv_stream_t *listener,
                         const node_conn_raw_t *raw, void *arg, node_conn_t **out);

/* Makes the raw connection 'c' take RESP requests from now on: bytes given
 * to node_conn_feed() are parsed and each request runs through 'fn'
 * ('arg'), replies in RESP version 'resp'; 'peer' marks a data link from
 * another node (never forwarded again). The connection is authenticated. */
void node_conn_take_requests(node_conn_t *c, node_conn_request_fn *fn, void *arg, int resp,
                             int peer);

/* Runs the requests in 'data' ('len' bytes of a RESP stream, any split) on
 * the connection 'c' set up by node_conn_take_requests(). With 'reject'
 * non-NULL each of them is answered with that error line (no CRLF)
 * instead of running. Bytes that arrive while the connection is paused on
 * output wait (with their 'reject') until it drains. */
void node_conn_feed(node_conn_t *c, const char *data, size_t len, const char *reject);

/* A command may keep argument 'i' as its storage, not copy it: returns
 * its block when it has one of its own (resp_request_take_arg(): the bytes
 * at RESP_REQUEST_ARG_HEAD past the block's start) and the command runs
 * straight from the client's parser (not a held, queued or replayed copy);
 * else NULL. The caller owns the block (rc_free()); argv[i] stays valid
 * while the command runs. */
char *node_conn_take_arg(node_client_t *client, int i);

/* Parks the request running now for 'c' (called by the request handler
 * instead of replying): its arguments are copied, and the connection runs
 * nothing else (and reads nothing) until node_conn_release() runs it again
 * through the request handler. Replies of earlier requests still leave.
 * The server lists the connections that hold one (server->held). */
void node_conn_hold(node_conn_t *c);
/* Runs the parked request of 'c' again (the handler may park it again),
 * then the requests that waited behind it. Call it from outside the
 * connection's own callbacks (a timer, an observer). */
void node_conn_release(node_conn_t *c);

/* Appends 'len' raw bytes to the output of 'c' (bus frames). */
void node_conn_write(node_conn_t *c, const void *data, size_t len);
/* Writes the output of 'c' now (outside its read callback, where the
 * output leaves at the end of the read anyway). */
void node_conn_flush(node_conn_t *c);
/* Gives an idle connection's buffers (output, recycled reply segments,
 * the request parser's) back to the allocator, if nothing is read, held,
 * waiting or being written; the next request grows them again. */
void node_conn_trim(node_conn_t *c);

/* Appends a pending segment for a forwarded request to 'c' and returns it;
 * the forwarder completes it with node_conn_seg_complete(). */
node_conn_seg_t *node_conn_seg_push(node_conn_t *c);
/* One more request's reply goes into the pending segment 'seg', the last
 * of 'c' (replies that wait together: node_migrate's groups). */
void node_conn_seg_join(node_conn_t *c, node_conn_seg_t *seg);
/* Completes the pending 'seg' with the reply 'reply' ('len' bytes): the
 * client's replies that were waiting behind it move to its output, which
 * is written once per loop iteration (node_server_defer()). An orphaned
 * 'seg' is freed. */
void node_conn_seg_complete(node_conn_seg_t *seg, const char *reply, size_t len);
/* Writes the output of 'c' and runs the commands a pause left unrun:
 * called by the server once per loop iteration for the connections whose
 * forwarded replies arrived. */
void node_conn_resume(node_conn_t *c);
/* Appends 'len' bytes to the segment 'seg' (gathered replies). */
void node_conn_seg_append(node_conn_seg_t *seg, const char *p, size_t len);
/* A detached segment for capturing replies (split requests): make it the
 * output target with c->capture; release it with node_conn_seg_release(). */
node_conn_seg_t *node_conn_seg_get(node_conn_t *c);
/* Keeps 'seg' for reuse by 'c', or frees it (always when 'c' is NULL). */
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
