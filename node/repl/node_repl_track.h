/* node/repl/node_repl_track.h: the primary's acknowledgement accounting
 * for synchronous replication (design: node/repl/README.md), pure: no
 * sockets, no clock, no libuv; 'now' in ms comes from the caller.
 *
 * Every write this node executes as a primary gets a write number w
 * (1, 2, ...) and goes, in w order, down the links to the slot's replicas;
 * each link numbers what it sends (its own sequence) and the replica answers
 * in order, so "link L applied up to sequence q" is one number per link.
 *
 *   committed watermark   every write w' <= it is applied by every link it
 *                         went to (a link the configuration dropped no
 *                         longer counts): the replies that wait for w may go
 *   slot's last write     a read of the slot waits for it to be committed,
 *                         so nobody reads a write that could still vanish
 *   back-pressure         a link holds at most 'max_inflight' writes; a
 *                         write that would exceed it is refused (0) and the
 *                         caller holds the client
 *   timeout               the oldest unacknowledged write of a link, and
 *                         when it was sent: the caller answers -TRYAGAIN
 *                         and asks for the slow replica's removal
 *
 * Epoch fencing on the replica side is node_repl_accept(). */
#ifndef RC_NODE_REPL_NODE_REPL_TRACK_H
#define RC_NODE_REPL_NODE_REPL_TRACK_H

#include <stddef.h>
#include <stdint.h>

enum node_repl_limits_e {
    NODE_REPL_MAX_LINKS = 64,         /* replicas this primary feeds */
    NODE_REPL_MAX_INFLIGHT = 1 << 20, /* writes in flight on one link */
    NODE_REPL_SLOTS = 16384,
};

typedef struct node_repl_track_s node_repl_track_t;

/* A tracker for links 0..NODE_REPL_MAX_LINKS-1, each holding at most
 * 'max_inflight' unacknowledged writes (clamped to 1..NODE_REPL_MAX_INFLIGHT).
 * Aborts on OOM. */
node_repl_track_t *node_repl_track_create(size_t max_inflight);
void node_repl_track_destroy(node_repl_track_t *t);

/* Records a write to 'slot' sent at 'now' down 'nlinks' links (their
 * indexes; none: a slot without replicas, committed at once). Returns its
 * write number, or 0 when a link is full or unknown (nothing recorded). The
 * caller sends it down each link right after, in the same order as every
 * other write (one sequence number per link per write). */
uint64_t node_repl_track_write(node_repl_track_t *t, unsigned slot, const unsigned *links,
                               unsigned nlinks, int64_t now);

/* Link 'link' applied every write it was sent up to its 'count'th (counted
 * from its first write since it was last reset). Returns 0, or -1 for an
 * acknowledgement of more than was sent (a protocol error: drop the link). */
int node_repl_track_ack(node_repl_track_t *t, unsigned link, uint64_t count);

/* The configuration no longer has this link's replica (or the link starts
 * over with a fresh fill): its unacknowledged writes stop counting, its
 * counts restart at 0. */
void node_repl_track_reset_link(node_repl_track_t *t, unsigned link);

/* Every write <= the returned number is applied everywhere it must be. */
uint64_t node_repl_track_committed(const node_repl_track_t *t);
/* The last write to 'slot' (0: none since the tracker was created). */
uint64_t node_repl_track_slot_last(const node_repl_track_t *t, unsigned slot);
/* Writes in flight on 'link'. */
size_t node_repl_track_inflight(const node_repl_track_t *t, unsigned link);

/* The link whose oldest unacknowledged write was sent longest ago, and
 * when (*sent_at); -1 when no write is in flight. */
int node_repl_track_oldest(const node_repl_track_t *t, int64_t *sent_at);

/* Epoch fencing at the replica: what to do with a batch of 'batch_epoch'
 * when this node runs 'my_epoch'. */
typedef enum node_repl_verdict_e {
    NODE_REPL_APPLY = 0, /* same epoch */
    NODE_REPL_STALE = 1, /* older: refuse (-STALEEPOCH); the sender was replaced */
    NODE_REPL_WAIT = 2,  /* newer: hold it until this node installs that epoch */
} node_repl_verdict_t;

node_repl_verdict_t node_repl_accept(uint64_t my_epoch, uint64_t batch_epoch);

#endif
