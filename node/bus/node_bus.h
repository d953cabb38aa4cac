/* node/bus/node_bus.h: the cluster bus at run time: the bus listener and
 * the connections it accepts, and the one outgoing link type that control
 * traffic (Paxos, pings) and data traffic (forwarding; replication and
 * slot hand-off next) share. Internal to node/. The one rule: nothing
 * crosses the bus before the authenticated handshake of node_bus_proto.h,
 * and every frame's epoch is checked against the installed one.
 *
 * Epochs. Every frame carries its sender's epoch. A frame from a newer
 * epoch makes the bus call on_newer_epoch() (the cluster catches up). A
 * frame from an older epoch is counted; a fenced one (a BATCH with
 * NODE_BUS_F_FENCED: replication) is refused: its requests are answered
 * with an error and never run. Control frames from older epochs still go
 * up: Paxos answers them with catch-up and judges epochs itself, and the
 * failure detector must hear a member that lags.
 *
 *   accepted:  HELLO/AUTH --> control: frames --> handlers.on_frame
 *                         \-> data: DATA, then BATCH frames --> node_conn_feed (requests)
 *   outgoing:  node_link_t: connect, HELLO/AUTH [, DATA], then frames or
 *              batches written once per loop iteration (server check) */
#ifndef RC_NODE_BUS_NODE_BUS_H
#define RC_NODE_BUS_NODE_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/rc_buf.h"
#include "node/bus/node_bus_proto.h"
#include "node/net/node_conn.h"
#include "node/net/node_server.h"

enum node_bus_runtime_limit_e {
    NODE_BUS_HANDSHAKE_MS = 10000, /* an accepted connection must open within this */
    NODE_BUS_IDLE_MS = 30000,      /* an accepted control connection this silent is dead */
    NODE_BUS_TICK_MS = 100,        /* timeouts are checked this often */
    NODE_BUS_MAX_LISTENERS = 4,
    NODE_LINK_QUEUE_MAX = 1024 * 1024, /* control bytes queued while a link is down */
};

typedef struct node_bus_s node_bus_t;
typedef struct node_link_s node_link_t;

/* How this node presents itself on the bus. */
typedef struct node_bus_config_s {
    const char *secret;   /* cluster-secret, "" or NULL: none (loopback only) */
    const char *bind;     /* space-separated addresses, as the 'bind' option */
    int port;             /* bus port */
    uint64_t placement;   /* ring_placement_id() */
    const char *bus_addr; /* announced "host:port" */
    const char *client_addr;
} node_bus_config_t;

/* The room above (the cluster) receives control traffic through these. */
typedef struct node_bus_handlers_s {
    /* A control frame (PAXOS, PING, PONG) from the authenticated peer
     * 'peer' (its HELLO), on an accepted connection or an outgoing control
     * link. Returns 0, or a negative error: the connection is then closed
     * as garbage. */
    int (*on_frame)(void *arg, const node_bus_hello_t *peer, const node_bus_header_t *h,
                    const uint8_t *payload);
    /* A frame from a newer epoch than this node's arrived. */
    void (*on_newer_epoch)(void *arg, uint64_t epoch);
    void *arg;
} node_bus_handlers_t;

typedef struct node_bus_stats_s {
    uint64_t frames_sent;
    uint64_t frames_received;
    uint64_t auth_failures; /* peers refused at the handshake */
    uint64_t bad_frames;    /* connections closed for garbage */
    uint64_t older_frames;  /* frames from an older epoch */
    uint64_t fenced;        /* fenced batches refused for their epoch */
    uint64_t batches_sent;
    uint64_t batches_received;
} node_bus_stats_t;

/* Creates the bus on 'server''s loop and binds its listeners ('cfg' read,
 * not kept). Without a secret it listens on the loopback addresses of
 * 'bind' only (logged). Registers a check observer with 'server' that
 * writes the links' traffic; the owner registers node_bus_shutdown() as a
 * shutdown observer where it fits its own order. Returns 0 and the bus in
 * '*out', or a negative error (logged; nothing is left behind). */
int node_bus_create(node_server_t *server, const node_bus_config_t *cfg, node_bus_t **out);
/* Closes the listeners, every accepted connection and every link (their
 * owners hear on_fail). Returns 0 (a server shutdown observer). */
int node_bus_shutdown(void *bus);
/* Frees the bus once the loop has stopped. NULL is a no-op. */
void node_bus_destroy(node_bus_t *bus);

void node_bus_set_handlers(node_bus_t *bus, const node_bus_handlers_t *h);
/* Requests arriving on data links from peers run through 'fn' ('arg'). */
void node_bus_set_request_handler(node_bus_t *bus, node_conn_request_fn *fn, void *arg);
/* This node's member id and incarnation (0 before it has an id) and the
 * installed epoch: every frame sent carries them. */
void node_bus_set_identity(node_bus_t *bus, uint64_t id, uint64_t incarnation);
/* 1 when a data link opened to member ('id', 'incarnation') (node_conn_t
 * peer_to_id) was meant for an earlier member at this node's address: a
 * previous incarnation of this node (a node removed from the cluster
 * rejoins with a new id), or a member whose address it took over. Member
 * ids are never reused and grow: an id below this node's, one it held
 * before, or its own with another incarnation. 0 for id 0 (no member
 * named) and for a later id (one this node has not learnt it holds yet).
 * What a peer wrote to an earlier member must not reach this one: a stream
 * cut when that member was removed can still arrive, late, on the old
 * connection. */
int node_bus_addressed_before(const node_bus_t *bus, uint64_t id, uint64_t incarnation);
void node_bus_set_epoch(node_bus_t *bus, uint64_t epoch);
uint64_t node_bus_epoch(const node_bus_t *bus);
const node_bus_stats_t *node_bus_stats(const node_bus_t *bus);
/* The loop's cached time (ms). */
int64_t node_bus_now(const node_bus_t *bus);

/* ---- outgoing links ---- */

/* What a link's owner hears. Every callback may be NULL. */
typedef struct node_link_ops_s {
    /* The handshake is done: queued traffic is being written. */
    void (*on_open)(void *arg, node_link_t *l);
    /* Control links: a frame from the peer. Non-zero fails the link. */
    int (*on_frame)(void *arg, node_link_t *l, const node_bus_header_t *h, const uint8_t *payload);
    /* Data links: bytes of replies. Returns the bytes consumed (the rest
     * is given again with more), or a negative error that fails the link. */
    ssize_t (*on_data)(void *arg, node_link_t *l, const char *data, size_t len);
    /* The link failed or was closed ('reason'): whatever was queued on it
     * is gone. It reconnects when used again, after a backoff. */
    void (*on_fail)(void *arg, node_link_t *l, const char *reason);
    /* Data links: the link is about to write what is queued (once per loop
     * iteration at least): the last moment to queue what the owner batched. */
    void (*on_flush)(void *arg, node_link_t *l);
} node_link_ops_t;

typedef struct node_link_opts_s {
    node_bus_role_t role;
    int resp;                  /* data links: 2 or 3 */
    uint64_t peer_id;          /* data links: the member it serves (pool key) */
    uint64_t peer_incarnation; /* data links: its incarnation (pool key) */
    unsigned channel;          /* data links: 0 forwarding, 1 slot hand-off (pool key) */
    const char *name;          /* for logs and errors; NULL: the bus address */
    /* Backoff after a failure, doubling from min to max. */
    int backoff_min_ms;
    int backoff_max_ms;
    int handshake_ms; /* connect + handshake must finish within this */
} node_link_opts_t;

/* The link to 'bus_addr' ("host:port") with the role, RESP version,
 * channel and peer of 'o': the pooled one if it exists, else a new one (not connected
 * until something is sent). 'ops' and 'arg' are fixed by the first call.
 * Returns NULL only for an address that is not IP:port (logged once). */
node_link_t *node_link_get(node_bus_t *bus, const char *bus_addr, const node_link_opts_t *o,
                           const node_link_ops_t *ops, void *arg);

/* Control links: queues one frame of 'type' carrying this node's identity
 * and epoch; it leaves this loop iteration when the link is open, else
 * waits (up to NODE_LINK_QUEUE_MAX bytes, then dropped) while the link
 * (re)connects. Returns 0 or -ENOBUFS. */
int node_link_send(node_link_t *l, uint8_t type, const void *payload, size_t len);

/* Data links: 0 when requests can be queued now (the link is open or
 * connecting), or -EAGAIN while it waits out a backoff after a failure,
 * with the failure in '*why'. Starts connecting an idle link. */
int node_link_ready(node_link_t *l, const char **why);
/* Data links: room for 'n' more request bytes; node_link_commit() then
 * says how many were written. They leave in one BATCH frame with the
 * epoch of the moment they are written. */
char *node_link_reserve(node_link_t *l, size_t n);
void node_link_commit(node_link_t *l, size_t n);
/* Data links: queues the requests in 'b', as reserve and commit would;
 * when nothing else is queued, by taking b's memory instead of copying it
 * (a big request: 'b' gets the queue's empty buffer). 'b' is left empty. */
void node_link_append_buf(node_link_t *l, rc_buf_t *b);
/* Bytes queued and not yet handed to the kernel. */
size_t node_link_queued(const node_link_t *l);
/* 1 when the link is open (handshake done). */
int node_link_is_open(const node_link_t *l);
const char *node_link_name(const node_link_t *l);
/* Consecutive connection losses and refusals since the link last opened:
 * a dead process refuses at once (the failure detector uses it). */
int node_link_refusals(const node_link_t *l);
/* ms since the link last queued or received anything. */
int64_t node_link_idle_ms(const node_link_t *l);
/* ms since bytes last moved on the link: handed to the kernel or
 * received. A write still going on is looked at on each call (its queue
 * shorter than at the last call: moved), so a big request that takes
 * seconds to leave is told from a peer that stopped reading. */
int64_t node_link_still_ms(node_link_t *l);
/* Bytes allocated for the link's buffers; a link quiet for a second keeps
 * at most 16 KB of each. */
size_t node_link_buffers(const node_link_t *l);

/* The links of 'role' in the pool: stores up to 'cap' in 'out', returns
 * how many there are. */
size_t node_bus_links(node_bus_t *bus, node_bus_role_t role, node_link_t **out, size_t cap);
/* The pooled link of 'role' to 'bus_addr' (any RESP version and peer), or
 * NULL. */
node_link_t *node_bus_find_link(node_bus_t *bus, const char *bus_addr, node_bus_role_t role);
const char *node_link_addr(const node_link_t *l);
/* The peer's HELLO once the handshake got that far, else NULL. */
const node_bus_hello_t *node_link_peer(const node_link_t *l);
/* The features (NODE_BUS_FEATURE_*) the peer announced, once the link is
 * open; 0 before, and from a node older than the features. */
unsigned node_link_peer_features(const node_link_t *l);
/* The features this node announces from now on (NODE_BUS_FEATURES by
 * default; a test stands for an older node with fewer). */
void node_bus_set_features(node_bus_t *bus, unsigned features);

/* Fails the link now with 'reason' (on_fail runs) and, with 'forget',
 * removes it from the pool and frees it (once libuv has closed it). */
void node_link_close(node_link_t *l, const char *reason, int forget);

#endif /* RC_NODE_BUS_NODE_BUS_H */
