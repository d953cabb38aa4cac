/* node/migrate/node_migrate.h: slot hand-off. When the agreed configuration
 * moves a slot (its serving member differs from its target member: see
 * member_handoff_build()), the serving member streams the slot to the
 * target over a data link of its own: a snapshot of the slot's keys, taken
 * with a live iterator while writes go on, followed by every write to the
 * slot as it happens. The target reports READY to Paxos once it has the
 * snapshots of every slot it receives; when every target has, Paxos
 * decides the switch. At the switch the old server stops serving the slot
 * and sends DONE after the last write it applied; the new server holds the
 * slot's requests until that DONE arrives, so no acknowledged write is
 * missing and no one serves a slot twice. Internal to node/.
 *
 * The one rule: a node serves a slot only when the installed configuration
 * says so and it holds everything the previous server acknowledged (its
 * DONE), or the previous server is gone (the slot then starts empty: lost,
 * never stale).
 *
 *   source (serves s)                        target (will serve s)
 *   BEGIN s ------------------------------->  empties s, FILLING
 *   PUT s k v ... (snapshot + live writes) ->  applies, counts
 *   SNAPDONE s n --------------------------->  FILLED (counts agree) -> READY
 *        ... Paxos decides the switch ...
 *   DONE s n e w (after its last write) ---->  serves s (held requests run)
 *   drops s <------------- +OK
 *
 * DONE carries the source's epoch 'e' and what is left of its takeover
 * wait for the slot, 'w' ms (0: none; see node_migrate_slot_waits()): the
 * target serves s only once that much time has passed. The target counts
 * as READY only when every copy of the target placement it holds is
 * filled from its server, a synchronous replica's included (it must hold
 * the final copy at the switch).
 *
 * Every message is a RESP command `RCMIGRATE <op> <src> <slot> ...` on a
 * data link (channel 1), answered +OK or -ERR in order. The live writes
 * of one loop iteration travel together as `RCMIGRATE LIVE <src> <ops>
 * <key> [<value>]...` ('ops': P for a key and its value, D for a key
 * deleted, one letter per write; each key's slot is its own): one request
 * that the target answers write by write, in order, as the PUTs and DELs
 * it stands for, except that a run of writes applied is answered by one
 * `:<n>` (a malformed LIVE gets one error and the link is closed, so
 * replies never go out of step with requests). LIVE goes only to a peer
 * that announces it (NODE_BUS_FEATURE_LIVE); an older one gets a PUT or DEL
 * per write. A peer that announces NODE_BUS_FEATURE_LIVEPACK gets the
 * batch as `RCMIGRATE LIVEPACK <src> <ops> <bulks>`, its keys and values
 * packed back to back in one argument. A failed link, an
 * error reply or a count that does not match breaks the stream: the source
 * starts the slot over with BEGIN after a backoff. The link names the
 * member it is opened to (node_bus.h): a node removed and rejoined as a new
 * member refuses what arrives on links opened to the old one (late, after
 * a partition), and a fill begun at a sender's newer epoch stays while the
 * target installs the configurations before it.
 *
 * Replication (cluster-replicas R >= 1, node/repl/README.md) is the same
 * stream that never ends: the server of a slot streams it to every other
 * copy of the slot (member_handoff_t's scopy and tcopy), and a client's
 * reply to a write waits until every live stream of the slot answered the
 * write's PUT/DEL (node_migrate_fence()); writes to a slot wait while one
 * of its synchronous replicas (scopy) is not live. A server that loses a
 * slot sends DONE to its replicas too (its copy is final); the new server
 * asks each synchronous replica to KEEP that copy (`KEEP <epoch> <from>`) instead of
 * sending the slot again. A replica that serves a slot whose server died
 * keeps its copy (take_over()): every acknowledged write is in it. */
#ifndef RC_NODE_NODE_MIGRATE_H
#define RC_NODE_NODE_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "node/cluster/node_cluster.h"
#include "node/core/node.h"
#include "node/net/node_conn.h"
#include "node/net/node_server.h"

enum node_migrate_limit_e {
    NODE_MIGRATE_PUT_BYTES = 64 * 1024,     /* payload of one snapshot PUT or LIVE batch */
    NODE_MIGRATE_LIVE_OPS = 64,             /* live writes in one LIVE batch */
    NODE_MIGRATE_LIVEPACK_OPS = 256,        /* ... and in one LIVEPACK batch */
    NODE_MIGRATE_WINDOW = 16 * 1024 * 1024, /* snapshot bytes unanswered per target */
    NODE_MIGRATE_TURN_US = 2000,            /* snapshot work per loop iteration */
    NODE_MIGRATE_BACKOFF_MS = 500,          /* before a broken stream starts over */
    NODE_MIGRATE_DROP_KEYS = 4096,          /* keys dropped per tick of the background drop */
    NODE_MIGRATE_TICK_MS = 10,              /* drops, hold deadlines, retries */
    NODE_MIGRATE_QUEUE_KEEP = 1024,         /* requests a drained stream's queue may keep */
    NODE_MIGRATE_READY_RETRY_MS = 1000,     /* a READY not decided is asked again */
    NODE_MIGRATE_READY_CHECK_MS = 100,      /* fills looked over during a transition */
};

typedef struct node_migrate_s node_migrate_t;

/* Counters and state for INFO and CLUSTER commands. */
typedef struct node_migrate_stats_s {
    unsigned slots_incoming; /* slots this node will serve, being filled */
    unsigned slots_filled;   /* of those, snapshot complete */
    int unfilled_slot;       /* the first of the rest, -1 if none: what a transition waits for */
    unsigned slots_outgoing; /* slots this node serves that move elsewhere */
    unsigned slots_awaiting; /* slots this node serves, waiting for the DONE */
    unsigned slots_dropping; /* slots whose keys are being dropped */
    unsigned streams;        /* targets with a stream */
    uint64_t keys_sent, bytes_sent, keys_received, bytes_received;
    uint64_t slots_sent;     /* DONE acknowledged */
    uint64_t slots_received; /* DONE received */
    uint64_t stream_failures;
    uint64_t handovers_refused; /* hand-overs the target no longer expected */
    uint64_t stale_refused;     /* requests refused: sent to a previous incarnation of this node */
    uint64_t keys_dropped;
    uint64_t ready_requests; /* READY reports sent to Paxos */
    uint64_t held_expired;   /* requests answered TRYAGAIN after the hold bound */
    double send_rate;        /* keys/s over the last second */
    char last_error[128];
} node_migrate_stats_t;

/* Replication (R >= 1): INFO's "# Replication" section. */
typedef struct node_migrate_repl_stats_s {
    unsigned replicas;       /* R of the installed configuration */
    unsigned slots_primary;  /* slots this node serves */
    unsigned slots_replica;  /* slots it holds as a synchronous replica */
    unsigned slots_degraded; /* served slots with fewer live copies than R+1 (or the members) */
    uint64_t inflight;       /* replies waiting for replicas */
    uint64_t lag_ops;        /* operations sent to replicas, not answered yet */
    uint64_t lag_bytes;      /* their bytes, and those not sent yet */
    uint64_t writes_acked;   /* replies released once every replica applied them */
    uint64_t write_timeouts; /* replies that got -TRYAGAIN instead */
    uint64_t failovers;      /* slots taken over with the copy this node held */
    uint64_t slots_kept;     /* replica copies kept for a new server (KEEP) */
    uint64_t slots_resynced; /* ... kept and reconciled after a failover (RESYNC) */
    uint64_t slots_refilled; /* RESYNCs that found no complete copy here: filled whole */
    uint64_t slots_lost;     /* slots taken over with no complete copy: served empty */
    /* Slots taken over from a server that did not hand them over, waiting
     * out its lease before they are served, and how long that wait has
     * still to run (ms; 0: none) */
    unsigned takeover_slots;
    int64_t takeover_wait_ms;
    /* Slots handed over to this node (DONE) while their previous server
     * still waited out the lease of the one it took them over from: this
     * node waits out the rest */
    uint64_t takeover_inherited;
    /* Slots taken over because their previous server's DONE never came:
     * a leaver that died between its switch and its DONEs, or any server
     * silent for cluster-handoff-timeout */
    uint64_t takeover_unhanded;
    /* Writes sent to replicas as their command (node_migrate_set_replayer)
     * instead of the key's value; replayed here as a replica; and replays
     * refused here (the copy is then filled again) */
    uint64_t writes_replayed;
    uint64_t replays_applied;
    uint64_t replays_refused;
} node_migrate_repl_stats_t;

/* Creates the hand-off engine of 'server' over the cluster 'cl': a db
 * observer (live writes), a cluster observer (configurations installed), a
 * timer and an idle handle (snapshot work), and the cluster's leave hold
 * (a leaver stays until its slots are handed over). */
node_migrate_t *node_migrate_create(node_server_t *server, node_cluster_t *cl);
/* Frees it after the loop ran out. NULL is a no-op. */
void node_migrate_destroy(node_migrate_t *m);

/* Routing: 1 when a request for 'slot' that this node serves must wait:
 * the previous server's DONE has not arrived, the slot was taken over from
 * a server that did not hand it over and that server's lease may still run
 * (node_cluster_takeover_at()), or ('write') the stream of the slot is over
 * its buffer bound. */
int node_migrate_slot_waits(const node_migrate_t *m, unsigned slot, int write);
/* 'fn' is called whenever a wait may have ended (a DONE arrived, a buffer
 * drained, a configuration was installed) and every tick. */
void node_migrate_on_release(node_migrate_t *m, void (*fn)(void *arg), void *arg);

/* Replaying a write (node_db_replayable()): a write to a collection (or to
 * a big string) by a command the dispatcher marked goes to the replicas of
 * a slot, once they hold all of it (after its snapshot or KEEP), as that
 * command rather than as the key's whole value. 'fn' replays 'argc'
 * arguments 'argv' (argv[1] the key, of a slot this node is filled with)
 * on this node's copy, its reply dropped; it returns 0, or -1 with the
 * command's error in 'err' ('errcap' bytes). The replica refuses a replay
 * that fails (its copy may differ): the slot is then filled again. Without
 * a replayer this node refuses every replay. */
typedef int node_migrate_replay_fn(void *arg, node_client_t *c, int argc, resp_arg_t *argv,
                                   char *err, size_t errcap);
void node_migrate_set_replayer(node_migrate_t *m, node_migrate_replay_fn *fn, void *arg);

/* The RCMIGRATE command (target side), c->argv[1..]. Replies +OK or an
 * error. Only for data links from peers (c->conn->peer). */
void node_migrate_command(node_migrate_t *m, node_client_t *c);

void node_migrate_stats(const node_migrate_t *m, node_migrate_stats_t *out);
void node_migrate_repl_stats(const node_migrate_t *m, node_migrate_repl_stats_t *out);
size_t node_migrate_repl_info(const node_migrate_t *m, char *buf, size_t cap);

/* Synchronous replication: the reply of a command that ran here for 'slot'
 * must wait for the replicas when node_migrate_fence_needed() says so
 * ('write': it may write; a read waits only while the slot has writes the
 * replicas have not applied). The dispatcher then captures the reply in the
 * pending segment node_migrate_fence_seg() gives and, after
 * node_db_end_command() (the writes went down the streams), calls
 * node_migrate_fence(): the segment completes once every replica applied
 * the command's writes and the slot's earlier ones, or with -TRYAGAIN
 * after cluster-repl-timeout or a broken link. 'slot' -1: no key.
 *
 * Consecutive such commands of one connection (a pipeline) wait as one
 * group: node_migrate_fence_seg() gives the group's segment while nothing
 * was queued behind it, the group's one waiter grows to cover each
 * command's writes, and it starts waiting at the end of the loop
 * iteration. Its replies go together; if the wait fails, every command of
 * the group gets the -TRYAGAIN (each may or may not have taken effect).
 * Each command still counts against the connection's bound on replies in
 * flight (node_conn_seg_join()). */
int node_migrate_fence_needed(const node_migrate_t *m, unsigned slot, int write);
node_conn_seg_t *node_migrate_fence_seg(node_migrate_t *m, node_conn_t *conn);
void node_migrate_fence(node_migrate_t *m, node_conn_seg_t *seg, int slot);
/* The same wait for a part of a command that has no segment of its own
 * (the local part of a split MSET/MGET/DEL, whose reply is gathered with
 * the forwarded parts'): 'fn' runs once, with 'arg', when every replica
 * applied the part's writes and the earlier writes of its 'nslots'
 * 'slots' ('err' NULL), or with the "-TRYAGAIN <why>" reply ('len' bytes)
 * after a refusal, a broken link or cluster-repl-timeout; at once when
 * nothing is to wait for. Call it after node_db_end_command(). */
typedef void node_migrate_fenced_fn(void *arg, const char *err, size_t len);
void node_migrate_fence_call(node_migrate_t *m, const unsigned *slots, size_t nslots,
                             node_migrate_fenced_fn *fn, void *arg);
/* Counts a parked request answered TRYAGAIN after cluster-handoff-hold
 * (node_cmd.c: 'held_expired'). NULL is a no-op. */
void node_migrate_count_held_expired(node_migrate_t *m);
/* "idle", "filling" (slots to receive), "sending", "handing-over". */
const char *node_migrate_state(const node_migrate_t *m);
/* INFO's "# Migration" section into 'buf' (at most 'cap' bytes, NUL
 * included); returns the whole section's length, as snprintf does. */
size_t node_migrate_info(const node_migrate_t *m, char *buf, size_t cap);
/* For CLUSTER NODES: the member id this node fills 'slot' from (0: none),
 * and the member id it sends 'slot' to (0: none). */
uint64_t node_migrate_importing(const node_migrate_t *m, unsigned slot);
uint64_t node_migrate_migrating(const node_migrate_t *m, unsigned slot);

#endif /* RC_NODE_NODE_MIGRATE_H */
