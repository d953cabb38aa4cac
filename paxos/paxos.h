/* paxos/paxos.h: cluster membership agreed by a chain of single-decree Paxos
 * instances. Instance e runs among the members of configuration C_e and
 * decides C_{e+1}. The one rule: this is a pure state machine. No sockets,
 * no clock, no disk: the driver (node/ or tests/sim/) feeds messages, ticks,
 * failure-detector reports and change requests in, and carries out the
 * effects (persist, then send) that come back.
 *
 * Driver contract for every call that fills a paxos_effects_t:
 *
 *   1. if eff.persist: write *paxos_node_state() durably (write, fsync,
 *      rename) BEFORE step 2. A reply that depends on it must never leave
 *      the node first.
 *   2. drain the outbox with paxos_node_pop() and send each message.
 *   3. call paxos_node_tick() again at or after eff.wake_at.
 *   4. configurations eff.installed_from..eff.installed_to (when nonzero)
 *      were chosen and installed, in epoch order: paxos_node_config().
 *
 * Limits: at most PAXOS_MAX_MEMBERS (64) members per configuration;
 * addresses are "host:port" strings of at most PAXOS_ADDR_MAX - 1 bytes;
 * weights, their sum and R stay within what ring/ can place. */
#ifndef RC_PAXOS_PAXOS_H
#define RC_PAXOS_PAXOS_H

#include <stddef.h>
#include <stdint.h>

enum {
    PAXOS_MAX_MEMBERS = 64, /* members of one configuration */
    PAXOS_ADDR_MAX = 64,    /* address buffer, NUL included */
    PAXOS_MAX_RECENT = 16,  /* join tokens remembered against replays */
    PAXOS_MAX_RETIRED = 16, /* failed members kept in the serving placement */
    /* What the slot table (ring/) can place; a configuration never goes
     * past them, so every chosen one builds a table. member/ checks at
     * compile time that they equal ring.h's RING_WEIGHT_MAX,
     * RING_TOTAL_WEIGHT_MAX and RING_MAX_REPLICAS. */
    PAXOS_MAX_WEIGHT = 1000,        /* member weights are 1..this */
    PAXOS_MAX_TOTAL_WEIGHT = 16384, /* sum of the members' weights */
    PAXOS_MAX_REPLICAS = 4,         /* setting R */
    PAXOS_MAX_PENDING = 64,         /* change requests a node holds */
    PAXOS_HISTORY = 64,             /* chosen configurations kept for catch-up */
    PAXOS_CODEC_VERSION = 2,        /* wire and disk format version */
    PAXOS_ENCODED_MAX = 32768       /* upper bound of any encoding (a state: 2 configs) */
};

/* A ballot (round, proposer id); round 0 means "none". Ballots are
 * unique because each proposer uses its own id and never reuses a round. */
typedef struct paxos_ballot_s {
    uint64_t round;
    uint64_t node;
} paxos_ballot_t;

typedef enum paxos_member_state_e {
    PAXOS_MEMBER_ACTIVE = 1,
} paxos_member_state_t;

typedef struct paxos_member_s {
    uint64_t id;          /* assigned by the configuration, never reused */
    uint64_t incarnation; /* the joiner's token: (id, incarnation) is unique */
    char client_addr[PAXOS_ADDR_MAX];
    char bus_addr[PAXOS_ADDR_MAX];
    uint32_t weight;      /* target weight; 0 = leaving (still serving until the switch) */
    uint32_t live_weight; /* weight in the serving table; 0 = not serving yet (joining) */
    uint64_t ready;       /* the transition this member reported filled for */
    uint8_t state;        /* paxos_member_state_t */
} paxos_member_t;

/* A member removed as failed while it still had slots in the serving table: kept (by
 * its live weight) in the serving placement until the transition ends, so that its
 * removal does not shift slots between the live members without a fill. */
typedef struct paxos_retired_s {
    uint64_t id;
    uint64_t incarnation;
    uint32_t live_weight;
} paxos_retired_t;

/* C_e. Members are sorted by id. Only the first 'nmembers' members,
 * 'nretired' retired ones and 'nrecent' tokens are meaningful: copies
 * inside paxos/ move just those, so compare with paxos_config_equal(),
 * never memcmp().
 *
 * Two placements: the serving one (members by live_weight, plus the
 * retired ones) says who serves the slots now; the target one (members by
 * weight) where they are going. Every change that moves the target bumps
 * 'transition'; the switch (every live_weight = weight, leavers and
 * retired ones dropped) is applied when every member with a weight has
 * reported READY for the current transition. */
typedef struct paxos_config_s {
    uint64_t epoch;    /* 0: no configuration */
    uint64_t next_id;  /* id the next joiner gets */
    uint32_t replicas; /* setting R */
    uint32_t nrecent;
    uint64_t recent[PAXOS_MAX_RECENT]; /* last join tokens applied */
    uint64_t transition;               /* bumped by every change of the target */
    uint32_t nretired;
    paxos_retired_t retired[PAXOS_MAX_RETIRED]; /* sorted by id */
    uint32_t nmembers;
    paxos_member_t members[PAXOS_MAX_MEMBERS];
} paxos_config_t;

typedef enum paxos_change_kind_e {
    PAXOS_CHANGE_JOIN = 1,   /* incarnation (token), addresses, weight */
    PAXOS_CHANGE_LEAVE = 2,  /* id, incarnation: graceful leave */
    PAXOS_CHANGE_REMOVE = 3, /* id, incarnation: reported failed */
    PAXOS_CHANGE_WEIGHT = 4, /* id, incarnation, weight */
    PAXOS_CHANGE_READY = 5,  /* id, incarnation, transition: this member has filled every
                                slot it receives in 'transition' */
} paxos_change_kind_t;

typedef struct paxos_change_s {
    uint8_t kind; /* paxos_change_kind_t */
    uint64_t id;
    uint64_t incarnation;
    uint32_t weight;
    char client_addr[PAXOS_ADDR_MAX];
    char bus_addr[PAXOS_ADDR_MAX];
    uint64_t transition; /* READY only (0 for the other kinds) */
} paxos_change_t;

typedef enum paxos_msg_type_e {
    PAXOS_MSG_PREPARE = 1,  /* ballot */
    PAXOS_MSG_PROMISE = 2,  /* ballot, accepted_ballot, value if accepted */
    PAXOS_MSG_ACCEPT = 3,   /* ballot, value */
    PAXOS_MSG_ACCEPTED = 4, /* ballot */
    PAXOS_MSG_NACK = 5,     /* ballot: the promise that beat the request */
    PAXOS_MSG_CHOSEN = 6,   /* value: the decision of instance 'epoch' */
    PAXOS_MSG_STATUS = 7,   /* "my latest configuration is 'epoch'" */
    PAXOS_MSG_REQUEST = 8,  /* change */
    PAXOS_MSG_SNAPSHOT = 9, /* value: latest configuration, for a node so far
                               behind that no one keeps what it missed */
} paxos_msg_type_t;

/* One message. 'epoch' is the instance it belongs to (the sender's
 * installed epoch for STATUS and REQUEST). 'to' is 0 for a node that has
 * no id yet; the driver routes by address. Plain value, no pointers. */
typedef struct paxos_msg_s {
    uint8_t type; /* paxos_msg_type_t */
    uint64_t epoch;
    uint64_t from; /* sender id, 0 if not a member yet */
    uint64_t to;   /* receiver id, 0 if unknown */
    char from_addr[PAXOS_ADDR_MAX];
    paxos_ballot_t ballot;
    paxos_ballot_t accepted_ballot;
    uint8_t has_value;
    paxos_config_t value;
    paxos_change_t change;
} paxos_msg_t;

/* A message to send: to node 'msg.to' at bus address 'addr'. */
typedef struct paxos_out_s {
    char addr[PAXOS_ADDR_MAX];
    paxos_msg_t msg;
} paxos_out_t;

/* Everything a node must find again after a restart. */
typedef struct paxos_state_s {
    uint64_t id;          /* 0 until this node is a member */
    uint64_t incarnation; /* join token */
    uint64_t max_round;   /* highest round used in this node's own ballots */
    paxos_ballot_t promised;
    paxos_ballot_t accepted; /* round 0: nothing accepted */
    paxos_config_t accepted_value;
    paxos_config_t chosen; /* latest installed configuration (epoch 0: none) */
} paxos_state_t;

typedef struct paxos_effects_s {
    int persist;             /* write paxos_node_state() before sending */
    size_t nsend;            /* messages waiting for paxos_node_pop() */
    uint64_t installed_from; /* first newly installed epoch, 0 if none */
    uint64_t installed_to;   /* last newly installed epoch */
    uint64_t wake_at;        /* call paxos_node_tick() at or after this time */
    int removed;             /* this node is no longer a member */
    int snapshot;            /* installed_from skipped epochs (SNAPSHOT) */
} paxos_effects_t;

/* Node parameters. Times are in the driver's unit (the simulator and node/
 * use milliseconds). */
typedef struct paxos_params_s {
    uint64_t incarnation; /* nonzero token, fresh for every lost-state start */
    char client_addr[PAXOS_ADDR_MAX];
    char bus_addr[PAXOS_ADDR_MAX];
    uint32_t weight;
    uint64_t seed;             /* seeds the node's private PRNG (timeouts) */
    uint64_t batch_delay;      /* coordinator waits this long to batch */
    uint64_t phase_timeout;    /* a ballot that makes no progress is retried */
    uint64_t takeover_timeout; /* + random [0, this): non-coordinator takes over */
    uint64_t sync_interval;    /* anti-entropy STATUS to one random member; while
                                  behind, every known peer in turn, 4x as often */
    /* Optional, for checkers: called each time this node's acceptor accepts
     * 'accept' (before anything depends on it). NULL in production. */
    void (*trace_accept)(void *arg, uint64_t acceptor, const paxos_msg_t *accept);
    void *trace_arg;
} paxos_params_t;

typedef struct paxos_node_s paxos_node_t;

/* Fills 'p' with default timings (ms) and the given identity. */
void paxos_params_default(paxos_params_t *p, uint64_t incarnation, const char *client_addr,
                          const char *bus_addr, uint32_t weight, uint64_t seed);

/* Returns a new node; free with paxos_node_destroy(). 'restored' is the
 * state last persisted (copied), or NULL for a node with no state, which
 * then must paxos_node_bootstrap() or paxos_node_join(). */
paxos_node_t *paxos_node_create(const paxos_params_t *params, const paxos_state_t *restored);
void paxos_node_destroy(paxos_node_t *node);

/* Installs 'genesis' (epoch 1) as the first configuration. Every founding
 * node must be given the same one; each finds its id by its incarnation and
 * bus address. Returns 0, or -EINVAL for a bad configuration or a node that
 * already has one. */
int paxos_node_bootstrap(paxos_node_t *node, uint64_t now, const paxos_config_t *genesis,
                         paxos_effects_t *eff);
/* Starts joining through the member at 'seed_addr': learns the chain from it
 * and asks to be added. Retries by itself until it is a member. */
void paxos_node_join(paxos_node_t *node, uint64_t now, const char *seed_addr, paxos_effects_t *eff);
/* After its removal ('eff.removed'), makes this node a joiner under the new
 * token 'incarnation' (it gets a new id), keeping the configurations it
 * knows so that it still serves catch-up. Returns -EINVAL if the node is
 * still a member or 'incarnation' is 0 or its current one. */
int paxos_node_rejoin(paxos_node_t *node, uint64_t now, uint64_t incarnation, const char *seed_addr,
                      paxos_effects_t *eff);
/* After its removal ('eff.removed'), 'on' 1 makes this node go on learning
 * the configurations decided after it: each sync interval it sends STATUS
 * to a member of the last one it installed, and installs the CHOSEN that
 * come back. It takes no part in deciding. A graceful leaver that still
 * hands slots over needs it, to learn that a node it hands a slot to was
 * removed since. */
void paxos_node_follow(paxos_node_t *node, int on);
/* Handles one message. Malformed or stale content is dropped, never
 * asserted on. */
void paxos_node_on_msg(paxos_node_t *node, uint64_t now, const paxos_msg_t *msg,
                       paxos_effects_t *eff);
/* Advances timers to virtual time 'now'. */
void paxos_node_tick(paxos_node_t *node, uint64_t now, paxos_effects_t *eff);
/* Some peer says it installed 'epoch' (a bus frame's header): when that is
 * newer than ours, catch-up starts at the next tick, as if a Paxos message
 * had shown it. */
void paxos_node_note_epoch(paxos_node_t *node, uint64_t now, uint64_t epoch, paxos_effects_t *eff);
/* Failure-detector report on member 'id': 'alive' 0 means the detector
 * decided it failed, which requests its removal. */
void paxos_node_on_fd(paxos_node_t *node, uint64_t now, uint64_t id, int alive,
                      paxos_effects_t *eff);
/* Asks for 'change' (forwarded to the coordinator). Returns 0, or -EINVAL
 * for a malformed change, -ENOSPC when PAXOS_MAX_PENDING requests wait. A
 * change that is a no-op on the current configuration, or asked of a node
 * that is not a member, is dropped (returns 0): it has nothing to decide. */
int paxos_node_request(paxos_node_t *node, uint64_t now, const paxos_change_t *change,
                       paxos_effects_t *eff);
/* Moves the oldest outgoing message into '*out'. Returns 1, or 0 if empty. */
int paxos_node_pop(paxos_node_t *node, paxos_out_t *out);
/* The same without the copy: points '*out' at the oldest outgoing message,
 * which stays there until the next call into 'node' (any paxos_node_*
 * function but paxos_node_state(), paxos_node_config() and the other
 * read-only ones). Returns 1, or 0 if empty. */
int paxos_node_next(paxos_node_t *node, const paxos_out_t **out);

const paxos_state_t *paxos_node_state(const paxos_node_t *node);
/* The installed configuration of 'epoch' if still kept, else NULL. */
const paxos_config_t *paxos_node_config(const paxos_node_t *node, uint64_t epoch);
uint64_t paxos_node_epoch(const paxos_node_t *node);
uint64_t paxos_node_id(const paxos_node_t *node);
size_t paxos_node_pending(const paxos_node_t *node);
/* 1 while this node runs a proposal. */
int paxos_node_proposing(const paxos_node_t *node);
/* The member this node believes coordinates (0 if none). */
uint64_t paxos_node_coordinator(const paxos_node_t *node);

/* Configurations and changes. */
int paxos_ballot_cmp(paxos_ballot_t a, paxos_ballot_t b);
/* Returns the index of member 'id' in 'c', or -1. */
int paxos_config_find(const paxos_config_t *c, uint64_t id);
/* Returns 0 if 'c' is well formed (sorted unique ids, bounded strings,
 * valid weights and states: weight 0 only for a member that serves, at
 * least one member with a weight, ready <= transition; retired ones sorted,
 * unique, not members, live weight 1..PAXOS_MAX_WEIGHT; the target and the
 * serving totals at most PAXOS_MAX_TOTAL_WEIGHT, replicas at most
 * PAXOS_MAX_REPLICAS), else -EINVAL. */
int paxos_config_check(const paxos_config_t *c);
/* Returns 0 if 'ch' is well formed on its own (weight 1..PAXOS_MAX_WEIGHT
 * for JOIN and WEIGHT, a nonzero transition for READY and none for the
 * others), else -EINVAL. */
int paxos_change_check(const paxos_change_t *ch);
/* Returns 0 if 'ch' keeps 'c' within the limits (whether or not it is a
 * no-op there), else why not: -EINVAL for a malformed change (see
 * paxos_change_check()), -ENOSPC for a JOIN to a configuration that has
 * PAXOS_MAX_MEMBERS members, RC_ETOOBIG for a JOIN or WEIGHT change that
 * would take the total weight over PAXOS_MAX_TOTAL_WEIGHT. For the driver's
 * logs: paxos_config_apply() refuses the same changes (as no-ops). */
int paxos_config_admits(const paxos_config_t *c, const paxos_change_t *ch);
/* Applies 'ch' to 'c' in place. Returns 1 if it changed 'c', 0 if it is a
 * no-op there (already applied, stale, or about a member that is gone) or a
 * change paxos_config_admits() refuses (the configuration is left
 * unchanged). After any applied change, the switch is applied too when
 * every member with a weight has reported READY for the transition.
 *   JOIN: a new member (live_weight 0); LEAVE: weight 0, or removed at once
 *   if it never served; WEIGHT: the target weight; REMOVE (failure): out of
 *   the members, into 'retired' if it served; READY: the member's 'ready'.
 * JOIN, LEAVE, WEIGHT and REMOVE bump 'transition'. */
int paxos_config_apply(paxos_config_t *c, const paxos_change_t *ch);
/* 1 when 'c' is between placements: some member's live_weight differs from its weight,
 * or retired members remain. */
int paxos_config_in_transition(const paxos_config_t *c);
int paxos_config_equal(const paxos_config_t *a, const paxos_config_t *b);
/* Adds a member to a genesis configuration being built (id = next_id). It
 * serves at once (live_weight = weight); the transition stays 0. */
int paxos_config_add(paxos_config_t *c, uint64_t incarnation, const char *client_addr,
                     const char *bus_addr, uint32_t weight);
uint64_t paxos_config_hash(const paxos_config_t *c);

/* Codec: versioned, little-endian, length-checked. Encoders return the
 * number of bytes written into 'buf' (at most 'cap'), or -ENOSPC / -EINVAL.
 * Decoders return 0 or RC_EPROTO for anything malformed, truncated, with
 * trailing bytes or over a limit, leaving '*out' zeroed. */
int paxos_config_encode(const paxos_config_t *c, uint8_t *buf, size_t cap);
int paxos_config_decode(const uint8_t *buf, size_t len, paxos_config_t *out);
int paxos_msg_encode(const paxos_msg_t *m, uint8_t *buf, size_t cap);
int paxos_msg_decode(const uint8_t *buf, size_t len, paxos_msg_t *out);
/* What paxos_msg_decode() of paxos_msg_encode(src) writes into 'dst', for
 * a message that encodes, without the bytes: the fields the wire carries
 * for its type, the others zeroed (members, tokens and retired entries
 * past the counts are left as they were). For an in-process transport
 * (the simulator) that round-trips only a sample through the codec. */
void paxos_msg_wire_copy(paxos_msg_t *dst, const paxos_msg_t *src);
int paxos_state_encode(const paxos_state_t *s, uint8_t *buf, size_t cap);
int paxos_state_decode(const uint8_t *buf, size_t len, paxos_state_t *out);

#endif /* RC_PAXOS_PAXOS_H */
