/* node/node_conn.h: one client connection: socket, request parser, output
 * buffer, per-client state (auth, name, RESP version). Internal to node/.
 * The one rule: a connection is freed only in its close callback; every
 * other path sets 'closing' and lets libuv finish. */
#ifndef RC_NODE_NODE_CONN_H
#define RC_NODE_NODE_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "node/node.h"
#include "node/node_proto.h"

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
};

typedef struct node_conn_s node_conn_t;

struct node_conn_s {
    node_client_t client; /* the command view; client.conn == this */
    uv_tcp_t tcp;
    node_proto_t *proto;
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

    node_conn_t *prev; /* server's client list */
    node_conn_t *next;

    unsigned closing : 1;
    unsigned close_after_reply : 1;
    unsigned authenticated : 1;
    unsigned writing : 1;
    unsigned reading : 1;  /* uv_read_start is active */
    unsigned in_batch : 1; /* inside on_read: flush at its end */
    unsigned killed : 1;
    unsigned refused : 1;
    /* refused at accept: drains, then closes */ /* CLIENT KILL: close once the batch ends */
};

struct node_server_s;

/* Accepts one pending connection on 'listener' and starts reading from it.
 * Returns 0 or a libuv error (the connection is then gone). */
int node_conn_accept(struct node_server_s *server, uv_stream_t *listener);

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
 * them; node_reply.c then advances c->olen. Never fails (aborts on OOM). */
char *node_conn_out_reserve(node_conn_t *c, size_t n);

/* Bytes of output not yet handed to the kernel. */
size_t node_conn_out_pending(const node_conn_t *c);

/* Formats "id=.. addr=.. ..." as CLIENT INFO/LIST print it into 'buf'.
 * Returns the length written (truncated to 'size' - 1). */
size_t node_conn_describe(const node_conn_t *c, int64_t now_ms, char *buf, size_t size);

#endif /* RC_NODE_NODE_CONN_H */
