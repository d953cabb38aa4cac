/* node/cluster/node_cluster.h: this node's view of the cluster: the agreed
 * configuration (paxos/), the slot table built from it (ring/), the failure
 * detector and the bus peers. Internal to node/. The one rule: everything
 * a command reads comes from the installed configuration and its table,
 * never from a configuration that is not chosen yet. */
#ifndef RC_NODE_NODE_CLUSTER_H
#define RC_NODE_NODE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "member/member.h"
#include "node/bus/node_bus.h"
#include "node/core/node.h"
#include "node/net/node_server.h"
#include "paxos/paxos.h"

enum node_cluster_limit_e {
    NODE_CLUSTER_NAME_LEN = 40,        /* a node's name: 40 hex characters, as Redis's node ids */
    NODE_CLUSTER_ADDR_MAX = 64,        /* "host:port", NUL included */
    NODE_CLUSTER_LATENCY_BUCKETS = 12, /* decision latency histogram (metrics) */
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
    uint32_t weight;      /* target weight: 0 while it leaves */
    uint32_t live_weight; /* weight it serves with: 0 while it joins (fills) */
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
/* The id of member 'idx' when it is an earlier incarnation of this node:
 * not this node, at this node's bus address (restarted, it rejoined as a
 * new member before the old one was removed). 0 otherwise. */
uint64_t node_cluster_former_self(const node_cluster_t *cl, int idx);
/* Index (into the member list) of the member that serves 'slot' now (the
 * serving placement's primary; member_handoff_build()), or -1 when there is
 * no table yet. */
int node_cluster_slot_primary(const node_cluster_t *cl, unsigned slot);
/* Index of the member 'slot' is moving to (the target placement's
 * primary): the same as node_cluster_slot_primary() unless it moves. */
int node_cluster_slot_target(const node_cluster_t *cl, unsigned slot);
/* Member indexes (into the member list) of the synchronous replicas of
 * 'slot': the serving table's other copies that are members, in ring
 * order (member_handoff_t.scopy[slot][1..]; a copy equal to the serving
 * primary is skipped). Stores up to 'cap' of them in 'out' and returns
 * their number: 0 without a table, at R=0, or for a slot whose every copy
 * died ('fresh'). */
size_t node_cluster_slot_replicas(const node_cluster_t *cl, unsigned slot, int *out, size_t cap);
/* How many copies the slots of the installed table have, for CLUSTER INFO
 * and the metrics. */
typedef struct node_cluster_copies_s {
    unsigned served;   /* slots with a serving primary */
    unsigned degraded; /* slots with fewer serving copies than min(R+1, members), lost included */
    unsigned lost;     /* slots whose every copy died: they start empty ('fresh') */
} node_cluster_copies_t;
/* Fills '*out' (all 0 before the first configuration). O(RING_SLOTS). */
void node_cluster_copies(const node_cluster_t *cl, node_cluster_copies_t *out);
/* The installed configuration and its hand-off map (NULL before the
 * first). Valid until the next installation. */
const paxos_config_t *node_cluster_config(const node_cluster_t *cl);
const member_handoff_t *node_cluster_handoff(const node_cluster_t *cl);
/* Ids of the leavers that the last installed configuration removed (they
 * hand their slots over). Returns the count (at most 'cap'). */
size_t node_cluster_departed(const node_cluster_t *cl, uint64_t *out, size_t cap);
/* 1 while the installed configuration moves slots (paxos_config_in_transition). */
int node_cluster_in_transition(const node_cluster_t *cl);
/* 1 while this node leaves (CLUSTER LEAVE, SHUTDOWN, SIGTERM). */
int node_cluster_leaving(const node_cluster_t *cl);
/* Reports READY for the installed configuration's transition: this node
 * holds every slot it receives (the hand-off decides when). */
void node_cluster_request_ready(node_cluster_t *cl);
/* CLUSTER WEIGHT: asks for this node's weight to become 'weight' (its
 * slots move by the hand-off). Returns 0, -ENOENT when not a member,
 * -EBUSY while it leaves, -EINVAL or RC_ETOOBIG past the limits. */
int node_cluster_set_weight(node_cluster_t *cl, uint32_t weight);
/* While 'busy' returns 1 a leaver that was removed stays up (it is still
 * handing slots over), up to cluster-leave-timeout. While 'receiving'
 * returns 1 (slots are being handed to this node), a node asked to leave
 * that is the last member (the others left first) stays up too, up to the
 * same bound, so that their hand-overs end. */
void node_cluster_set_leave_hold(node_cluster_t *cl, int (*busy)(void *arg),
                                 int (*receiving)(void *arg), void *arg);
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
    uint64_t lease_renewals; /* lease rounds granted by a majority */
    uint64_t lease_lapses;   /* times the lease ran out while a member */
    /* For the metrics endpoint (node/metrics). */
    uint64_t paxos_decisions;       /* epochs installed (decided), snapshots included */
    uint64_t fd_suspicions;         /* members this node started to suspect */
    uint64_t fd_removals_requested; /* failures reported to Paxos (removal asked) */
    /* Proposal start (paxos_node_proposing()) to its decision installed,
     * for decisions this node proposed: cumulative counts per bucket
     * bound (node_cluster_latency_bound_ms()), count and sum. */
    uint64_t decision_buckets[NODE_CLUSTER_LATENCY_BUCKETS];
    uint64_t decision_count;
    uint64_t decision_sum_ms;
} node_cluster_stats_t;
/* Upper bound in ms of decision latency bucket 'i' (0 .. BUCKETS-1). */
int64_t node_cluster_latency_bound_ms(int i);
/* The primary lease (member/member_lease.h): a node serves the slots it is
 * primary of only while it holds one, renewed by every PING round a
 * majority of the members grant; it lasts half cluster-node-timeout (at
 * least 300 ms). A node that takes a slot over from a primary that did not
 * hand it over serves it only from node_cluster_takeover_at() on (install
 * time + the lease + 1 % for clock rates). */
int node_cluster_lease_valid(const node_cluster_t *cl);
int64_t node_cluster_lease_remaining(const node_cluster_t *cl); /* ms, 0: none */
int64_t node_cluster_takeover_at(const node_cluster_t *cl);

/* Fills '*out' (the bus counters included). */
void node_cluster_stats(const node_cluster_t *cl, node_cluster_stats_t *out);

/* CLUSTER LEAVE: asks for this node's graceful removal. Returns 0, or
 * -EINVAL when it is the last member or not a member. */
int node_cluster_leave(node_cluster_t *cl);

/* ---- lifecycle (main.c) ---- */

/* Starts the cluster of 'server' from its config: loads the state file in
 * 'dir', creates the bus (node_bus.h) and binds it, then founds, joins or
 * rejoins. Registers its shutdown observer and then the bus's with the
 * server. Returns 0, or a negative error (logged) for a bad option, an
 * unreadable state file or a bus port in use. */
int node_cluster_create(node_server_t *server, node_cluster_t **out);
/* The server's shutdown observer: a member of a larger cluster first asks
 * to leave and returns 1 (shutdown waits; observers hear on_leave_done
 * once its slots are handed over, or after cluster-leave-timeout, and shut
 * the server down);
 * otherwise closes its handles and returns 0. */
int node_cluster_shutdown(node_cluster_t *cl);
/* Frees the cluster (and its bus) once the loop has stopped. NULL is a
 * no-op. */
void node_cluster_destroy(node_cluster_t *cl);

/* The cluster's bus: forwarding and the data rooms open links on it. */
node_bus_t *node_cluster_bus(const node_cluster_t *cl);

/* What the cluster reports to the rooms above it (forwarding today;
 * replication and migration next). Any callback may be NULL. */
typedef struct node_cluster_observer_s {
    /* A configuration was installed: members and slot table changed. */
    void (*on_config)(void *arg);
    /* The graceful leave asked by shutdown is over (decided or given up):
     * the process may stop now. */
    void (*on_leave_done)(void *arg);
    /* The cluster is closing (shutdown): drop what depends on it. */
    void (*on_close)(void *arg);
} node_cluster_observer_t;
/* Adds an observer ('o' must outlive the cluster). At most 8. */
void node_cluster_observe(node_cluster_t *cl, const node_cluster_observer_t *o, void *arg);

/* ---- routing (node_cmd.c, node_fwd.c) ---- */

/* Fills '*out' with member 'idx' (0 .. count-1) of the installed
 * configuration. Returns 0, or -ENOENT. */
int node_cluster_member(const node_cluster_t *cl, int idx, node_cluster_member_t *out);
/* 1 when 'cluster-redirects yes': answer -MOVED instead of forwarding. */
int node_cluster_redirects(const node_cluster_t *cl);
/* cluster-node-timeout in ms. */
int64_t node_cluster_node_timeout(const node_cluster_t *cl);
/* Counts a forwarded request ('error' 1: answered with a local error). */
void node_cluster_count_forward(node_cluster_t *cl, int error);

#endif /* RC_NODE_NODE_CLUSTER_H */
