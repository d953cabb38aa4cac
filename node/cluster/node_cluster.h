/* node/cluster/node_cluster.h: this node's view of the cluster: the agreed
 * configuration (paxos/), the slot table built from it (ring/), the failure
 * detector and the bus peers. Internal to node/. The one rule: everything
 * a command reads comes from the installed configuration and its table,
 * never from a configuration that is not chosen yet. */
#ifndef RC_NODE_NODE_CLUSTER_H
#define RC_NODE_NODE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "node/core/node.h"
#include "node/bus/node_bus_proto.h"

enum node_cluster_limit_e {
    NODE_CLUSTER_NAME_LEN = 40, /* a node's name: 40 hex characters, as Redis's node ids */
    NODE_CLUSTER_ADDR_MAX = 64, /* "host:port", NUL included */
};

typedef struct node_cluster_s node_cluster_t;

/* One member of the installed configuration, as commands see it. */
typedef struct node_cluster_member_s {
    uint64_t id;          /* paxos member id, never reused */
    uint64_t incarnation; /* join token */
    char name[NODE_CLUSTER_NAME_LEN + 1];
    char host[NODE_CLUSTER_ADDR_MAX]; /* client address, host part */
    int port;                         /* client port */
    int bus_port;
    uint32_t weight;
    int myself;
    int alive;           /* the failure detector hears from it (1 for myself) */
    int64_t last_pong;   /* ms, 0 if never (myself: now) */
    int64_t last_ping;   /* ms the last ping was sent, 0 if none */
    unsigned nprimaries; /* slots it is the primary of */
} node_cluster_member_t;

/* The role of this node in the cluster, for CLUSTER INFO and INFO. */
typedef enum node_cluster_state_e {
    NODE_CLUSTER_OK = 0,       /* member of an installed configuration that
                                 a quorum of live members backs */
    NODE_CLUSTER_JOINING = 1,  /* started with --join, not a member yet */
    NODE_CLUSTER_MINORITY = 2, /* member, but it hears from less than a
                                  majority: it cannot change membership */
    NODE_CLUSTER_REMOVED = 3,  /* removed; rejoining under a new incarnation */
} node_cluster_state_t;

/* Installed epoch (0 before the first configuration). */
uint64_t node_cluster_epoch(const node_cluster_t *cl);
/* This build's ring_placement_id(): nodes that differ refuse each other on
 * the bus. */
uint64_t node_cluster_placement(const node_cluster_t *cl);
node_cluster_state_t node_cluster_state(const node_cluster_t *cl);
const char *node_cluster_state_name(node_cluster_state_t st); /* "ok", "joining", ... */

/* Members of the installed configuration, sorted by id. Returns the count
 * (0 before the first configuration); 'out' gets at most 'cap' entries. */
size_t node_cluster_members(const node_cluster_t *cl, node_cluster_member_t *out, size_t cap);
/* This node's name (40 hex characters), valid before it is a member too. */
const char *node_cluster_myname(const node_cluster_t *cl);
/* Index of this node in the member list, or -1 when not a member. */
int node_cluster_myindex(const node_cluster_t *cl);
/* Index (into the member list) of the primary of 'slot', or -1 when there is
 * no table yet. */
int node_cluster_slot_primary(const node_cluster_t *cl, unsigned slot);
/* Member id of the coordinator this node believes in (0 if none). */
uint64_t node_cluster_coordinator(const node_cluster_t *cl);
/* Replicas setting R of the installed configuration. */
unsigned node_cluster_replicas(const node_cluster_t *cl);
/* Counters for CLUSTER INFO / INFO cluster. */
typedef struct node_cluster_stats_s {
    uint64_t bus_frames_sent;
    uint64_t bus_frames_received;
    uint64_t bus_auth_failures;  /* peers refused at the handshake */
    uint64_t bus_bad_frames;     /* connections closed for garbage */
    uint64_t forwarded_commands; /* requests relayed to another node */
    uint64_t forward_errors;     /* relayed requests answered with a local error */
    uint64_t configs_installed;
} node_cluster_stats_t;
const node_cluster_stats_t *node_cluster_stats(const node_cluster_t *cl);

/* CLUSTER LEAVE: asks for this node's graceful removal. Returns 0, or
 * -EINVAL when it is the last member or not a member. */
int node_cluster_leave(node_cluster_t *cl);

/* ---- lifecycle (node_main.c, node_server.c) ---- */

/* Starts the cluster of 'server' from its config: loads the state file in
 * 'dir', binds the bus, then founds, joins or rejoins. Sets server->cluster.
 * Returns 0, or a negative error (logged) for a bad option, an unreadable
 * state file or a bus port in use. */
int node_cluster_create(node_server_t *server, node_cluster_t **out);
/* Called by node_server_shutdown(): a member of a larger cluster first asks
 * to leave and returns 1 (shutdown waits; the cluster calls
 * node_server_shutdown() again once the leave is decided or after 3 s);
 * otherwise closes every handle and returns 0. */
int node_cluster_shutdown(node_cluster_t *cl);
/* Frees the cluster once the loop has stopped. NULL is a no-op. */
void node_cluster_destroy(node_cluster_t *cl);

/* The server's cluster; NULL when the server runs without one (unit tests
 * that create a bare server). */
node_cluster_t *node_server_cluster(node_server_t *server);

/* ---- routing (node_cmd.c, node_fwd.c) ---- */

/* Fills '*out' with member 'idx' (0 .. count-1) of the installed
 * configuration. Returns 0, or -ENOENT. */
int node_cluster_member(const node_cluster_t *cl, int idx, node_cluster_member_t *out);
/* 1 when 'cluster-redirects yes': answer -MOVED instead of forwarding. */
int node_cluster_redirects(const node_cluster_t *cl);
/* cluster-node-timeout in ms. */
int64_t node_cluster_node_timeout(const node_cluster_t *cl);
/* Registers 'fn', called after every newly installed configuration (the
 * member list and slot table already changed) and once more with 'closing'
 * 1 when the server shuts down. One hook per cluster; NULL removes it. */
typedef void node_cluster_hook_fn(void *arg, int closing);
void node_cluster_set_hook(node_cluster_t *cl, node_cluster_hook_fn *fn, void *arg);
/* Counts a forwarded request ('error' 1: answered with a local error). */
void node_cluster_count_forward(node_cluster_t *cl, int error);

/* ---- bus connections (node_conn.c for accepted ones, node_fwd.c for
 * outgoing data links) ---- */

/* Initializes 's' with this node's identity (id, incarnation, epoch, bus
 * and client addresses), the cluster-secret and a fresh random nonce, as
 * 'initiator' (1 for outgoing links) with 'role' and, for data links,
 * 'resp' (2 or 3; 0 for control). Free it with node_bus_session_free(). */
void node_cluster_session_init(node_cluster_t *cl, node_bus_session_t *s, int initiator,
                               node_bus_role_t role, int resp);
/* One control frame (PAXOS, PING, PONG) that arrived on an open control
 * session 's' from 'addr' (the socket's peer, for logs). Returns 0, or a
 * negative error when the frame is garbage: the caller then closes the
 * connection. */
int node_cluster_on_frame(node_cluster_t *cl, const node_bus_session_t *s,
                          const node_bus_header_t *h, const uint8_t *payload, const char *addr);
/* A bus handshake that failed (wrong secret, garbage): logs it (rate
 * limited) with 'addr' and the session's reason, and counts it. */
void node_cluster_bus_failed(node_cluster_t *cl, const node_bus_session_t *s, const char *addr);

#endif /* RC_NODE_NODE_CLUSTER_H */
