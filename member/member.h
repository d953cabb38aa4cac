/* member/member.h: what membership means to one node, as pure functions of
 * time and messages: the failure detector (member_fd_*) and the mapping of a
 * chosen configuration to the slot table's input (member_ring_*). The one
 * rule: no sockets, no clock, no libuv. Time ('now', in ms) is passed in by
 * the driver (node/cluster/node_cluster.c or a test), so every rule here can
 * be played out in virtual time. */
#ifndef RC_MEMBER_MEMBER_H
#define RC_MEMBER_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#include "paxos/paxos.h"
#include "ring/ring.h"

enum member_limits_e {
    MEMBER_NAME_LEN = 40,                    /* a member's name: 40 hex characters */
    MEMBER_MAX_SUSPECTS = PAXOS_MAX_MEMBERS, /* ids in one suspicion list */
    /* ring members of one placement: the serving one has the retired too */
    MEMBER_RING_MAX = PAXOS_MAX_MEMBERS + PAXOS_MAX_RETIRED,
    MEMBER_COPIES_MAX = PAXOS_MAX_REPLICAS + 1, /* copies of one slot */
};

/* ---- failure detector ----------------------------------------------------
 *
 * One per node. It tracks the members of the installed configuration (by
 * (id, incarnation)) and decides, every tick, whom this node suspects and
 * whom it reports to paxos as failed:
 *
 *   - a member is suspected after more than 'timeout' ms without a PONG
 *     (an answer to one of this node's PINGs: a node that can send but not
 *     receive is failed), or after more than timeout / 4 when its bus port
 *     refused (or dropped) the connection at least twice in a row;
 *   - this node's suspicion list rides in every PING and PONG it sends;
 *   - a suspected member is reported once the members this node hears
 *     from (itself included; the suspect excluded) that suspect it too are
 *     a majority of the configuration's members but the suspect, so one
 *     bad link cannot remove anybody, nor can a minority cut off together;
 *   - while this node hears from no majority of the members (itself
 *     included), it is in MINORITY and reports nobody;
 *   - only members of the installed configuration count: a removed
 *     incarnation is ignored for good (ids are never reused, and a rejoin
 *     comes with a new incarnation and a new id). */

typedef struct member_fd_s member_fd_t;

/* A failure to report to paxos (paxos_node_on_fd(.., id, alive = 0)). */
typedef struct member_fd_report_s {
    uint64_t id;
    int64_t silent;  /* ms since its last PONG */
    uint32_t agree;  /* members (this one included) that suspect it */
    uint32_t voters; /* members this node hears from, the suspect excluded */
} member_fd_report_t;

/* What one tick asks of the driver. */
typedef struct member_fd_tick_s {
    int ping;           /* 1: send a PING carrying 'suspects' to every other
                           member (0 when this node is not a member) */
    uint32_t nsuspects; /* this node's suspicion list, ids in member order */
    uint64_t suspects[MEMBER_MAX_SUSPECTS];
    int minority_changed; /* 'minority' flipped in this tick: log it */
    int minority;         /* member_fd_minority() after this tick */
    uint32_t alive;       /* members this node hears from, itself included */
    uint32_t nmembers;
    uint32_t nreports; /* newly decided failures, in member order */
    member_fd_report_t reports[PAXOS_MAX_MEMBERS];
} member_fd_tick_t;

/* Returns a new detector with no members and node timeout 'timeout' ms
 * (cluster-node-timeout); free with member_fd_destroy(). Aborts on OOM, as
 * paxos/ does. */
member_fd_t *member_fd_create(int64_t timeout);
/* Frees 'fd'. NULL is a no-op. */
void member_fd_destroy(member_fd_t *fd);

/* Sets the node timeout in ms (it may change at run time: CONFIG SET). */
void member_fd_set_timeout(member_fd_t *fd, int64_t timeout);
int64_t member_fd_timeout(const member_fd_t *fd);

/* Tracks the members of the newly installed configuration 'c' (read, not
 * kept); 'my_id' is this node's member id (0 or absent: not a member). A
 * member that was in the previous configuration with the same incarnation
 * keeps its times, suspicion list and refusal count, and may be reported
 * again; a new one starts with a full timeout of grace (last heard at
 * 'now'). Everybody else is forgotten. */
void member_fd_install(member_fd_t *fd, int64_t now, const paxos_config_t *c, uint64_t my_id);

/* A PING ('pong' 0) or PONG ('pong' 1) from member 'id' of 'incarnation',
 * carrying the 'n' ids at 'suspects' it suspects (at most
 * MEMBER_MAX_SUSPECTS are kept). Both update its suspicion list; a PONG
 * also counts as hearing from it at 'now'. Returns 1 when it had been
 * reported failed and answers again (the driver then tells paxos it is
 * alive), else 0. A sender that is not a member of the installed
 * configuration, or of another incarnation, is ignored (returns 0). */
int member_fd_on_heard(member_fd_t *fd, int64_t now, uint64_t id, uint64_t incarnation, int pong,
                       const uint64_t *suspects, uint32_t n);

/* The connection to member 'id' has been refused or dropped 'consecutive'
 * times in a row since it was last open (0 once it is open again). From 2
 * on, the member is suspected after a quarter of the timeout. Unknown ids
 * are ignored. */
void member_fd_set_refused(member_fd_t *fd, uint64_t id, unsigned consecutive);

/* Advances to 'now': this node's suspicion list, the PINGs to send (their
 * send time recorded), the minority state, and the failures to report
 * (each reported once; a member reported stays so until it answers again
 * or a new configuration is installed). Fills '*out'. */
void member_fd_tick(member_fd_t *fd, int64_t now, member_fd_tick_t *out);
/* member_fd_tick() for a driver that ticks often (the simulator): the
 * same decisions, but only the scalar fields of '*out' and the first
 * 'nsuspects' and 'nreports' entries of its arrays are written; the rest
 * of '*out' is left as it was. */
void member_fd_tick_sparse(member_fd_t *fd, int64_t now, member_fd_tick_t *out);

/* This node's suspicion list at 'now', for a PONG: stores up to 'cap' ids
 * (member order) in 'out' and returns their number. */
uint32_t member_fd_suspect_list(const member_fd_t *fd, int64_t now, uint64_t *out, uint32_t cap);
/* The same list, all of it, without a copy: points '*ids' at it and
 * returns its number of ids. 'fd' keeps it until what it depends on
 * changes (a PONG, a refusal count, the timeout, an install, 'now'), so
 * asking again at the same 'now' costs nothing. '*ids' is valid until the
 * next call on 'fd'. */
uint32_t member_fd_suspect_view(member_fd_t *fd, int64_t now, const uint64_t **ids);

/* 1 when this node suspects member 'id' at 'now' (never itself, never a
 * non-member). */
int member_fd_suspects(const member_fd_t *fd, int64_t now, uint64_t id);
/* 1 when 'id' was reported failed and has not answered since. */
int member_fd_reported(const member_fd_t *fd, uint64_t id);
/* 1 when the last tick found that this node hears from no majority. */
int member_fd_minority(const member_fd_t *fd);
/* Number of members tracked (the installed configuration's). */
uint32_t member_fd_count(const member_fd_t *fd);
/* Time of the last PONG from member number 'idx' of the installed
 * configuration (its install time if none yet), and of the last PING sent
 * to it (0 if none). */
int64_t member_fd_last_heard(const member_fd_t *fd, uint32_t idx);
int64_t member_fd_last_ping(const member_fd_t *fd, uint32_t idx);

/* ---- configuration -> ring -----------------------------------------------
 *
 * The slot table is a pure function of the chosen configuration: every
 * node must map it to the same ring_build() input. A configuration holds
 * two placements (paxos.h): the target one, where each member with a
 * weight becomes the ring member named member_ring_name(id, incarnation)
 * with that weight, and the serving one, by live weight, the retired
 * (failed while serving) members included. Out of transition they are the
 * same. R is the configuration's replicas; ε and points are ring's
 * defaults; the epoch is the configuration's.
 * tests/unit/member_ring_test.c pins the digest of the table of a fixed
 * configuration: a change here remaps live keys. */

/* The ring_build() input of one placement. 'members[i].id' points into
 * 'names[i]': use the struct where it was filled, do not copy it. */
typedef struct member_ring_input_s {
    uint64_t epoch;
    size_t nmembers;
    ring_member_t members[MEMBER_RING_MAX]; /* in id order */
    ring_config_t config;
    char names[MEMBER_RING_MAX][MEMBER_NAME_LEN + 1];
} member_ring_input_t;

/* Writes the name of member ('id', 'incarnation') into 'out': its
 * incarnation in 16 hex digits, then its id in 24 (Redis's 40-hex node id
 * form). It is also the member's id on the ring. */
void member_ring_name(uint64_t id, uint64_t incarnation, char out[MEMBER_NAME_LEN + 1]);

/* Fills '*out' with the ring_build() input of the TARGET placement of
 * configuration 'c': its members with a weight (> 0), by weight. Out of
 * transition, that is the whole configuration. Returns 0, or -EINVAL when
 * 'c' is not a well-formed configuration within the limits paxos/ enforces
 * (paxos_config_check()). */
int member_ring_input(const paxos_config_t *c, member_ring_input_t *out);

/* Fills '*out' with the ring_build() input of the SERVING placement of
 * 'c': its members with a live weight (> 0) and its retired members, by
 * live weight, in id order; if there are none (every serving member failed
 * and was dropped from 'retired'), the target input. Returns 0 or -EINVAL
 * as member_ring_input(). */
int member_ring_input_serving(const paxos_config_t *c, member_ring_input_t *out);

/* Builds the target slot table of configuration 'c' into '*out' (free with
 * ring_destroy()). Returns 0, -EINVAL as member_ring_input(), or what
 * ring_build() returns (-ENOMEM). */
int member_ring_build(const paxos_config_t *c, ring_t **out);

/* Builds both tables of 'c' into '*serving' and '*target'. Out of
 * transition it builds one and stores it in both (*serving == *target).
 * Free with member_ring_free2(). Returns 0 or what member_ring_build()
 * returns (both left NULL). */
int member_ring_build2(const paxos_config_t *c, ring_t **serving, ring_t **target);
/* Frees what member_ring_build2() built. NULLs are no-ops. */
void member_ring_free2(ring_t *serving, ring_t *target);

/* The hand-off of configuration 'c': per slot, who serves it now and who
 * will after the switch. A slot moves (a fill from serve[s] to target[s])
 * when they differ. */
typedef struct member_handoff_s {
    uint64_t epoch;
    int in_transition;
    int16_t
        serve[RING_SLOTS]; /* member index (into c->members) that serves the slot now, -1 none */
    int16_t target[RING_SLOTS]; /* member index that will serve it after the switch */
    uint16_t nserve[PAXOS_MAX_MEMBERS], ntarget[PAXOS_MAX_MEMBERS]; /* slot counts per member */
    uint8_t fresh[RING_SLOTS]; /* 1: every copy of the slot in the serving table failed: it
                                  starts empty at serve[s] = target[s] */
    /* Replication (R = c->replicas): the slot's copies on members, in ring
     * order. scopy: the serving table's copies that are members (retired
     * ones skipped), so scopy[s][0] == serve[s] unless 'fresh' (nscopy 0);
     * the others are the synchronous replicas. tcopy: the target table's
     * copies (all members), tcopy[s][0] == target[s]. */
    uint8_t nscopy[RING_SLOTS], ntcopy[RING_SLOTS];
    int16_t scopy[RING_SLOTS][MEMBER_COPIES_MAX];
    int16_t tcopy[RING_SLOTS][MEMBER_COPIES_MAX];
} member_handoff_t;

/* Fills '*out' with the hand-off of 'c', given its tables 'serving' and
 * 'target' (member_ring_build2()). serve[s]: the serving table's primary
 * of s if it is a member of 'c' (a leaver included); if it is a retired
 * member (failed), the first of the slot's other copies in the serving
 * table that is a member (it holds the data, and it stays the same until
 * the switch whatever the target does); if every copy failed, the target
 * primary (no one can fill from a dead node: the slot starts empty there,
 * 'fresh'). target[s]: the target table's primary. Returns 0, or -EINVAL
 * when 'c' is malformed or a table does not belong to it (a target
 * primary that is not a member, another epoch). scopy/tcopy as above. */
int member_handoff_build(const paxos_config_t *c, const ring_t *serving, const ring_t *target,
                         member_handoff_t *out);

#endif /* RC_MEMBER_MEMBER_H */
