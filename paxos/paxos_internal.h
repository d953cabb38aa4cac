/* paxos/paxos_internal.h: shared inside paxos/ only. The node object, the
 * acceptor steps and the mutation switch used to calibrate the simulator.
 * The one rule: nothing outside paxos/ and its tests includes this. */
#ifndef RC_PAXOS_PAXOS_INTERNAL_H
#define RC_PAXOS_PAXOS_INTERNAL_H

#include "paxos/paxos.h"

/* PAXOS_MUTATION=k compiles in one known bug, for the simulator to catch:
 *   1 reply to PREPARE before persisting the promise
 *   2 ballots reused: the proposer id is left out of the ballot, so two
 *     proposers use the same ballot with different values
 *   3 install a configuration on ACCEPT instead of once chosen
 *   4 the acceptor takes PREPARE/ACCEPT of an older epoch
 *   5 forget the promise on restart
 * and subtler ones (issue 16), each within one function:
 *   6 persist after the reply: an acceptance is written with the effects
 *     of the node's next call, after its ACCEPTED left
 *   7 quorum off by one at even N: half of the members count as a majority
 *   8 ballots compared without the proposer id (round only)
 *   9 a proposer installs the value a PROMISE reports accepted (accepted,
 *     not chosen)
 *  10 catch-up trusts a peer's epoch without its configuration: a member
 *     that sees PREPARE/ACCEPT of a later instance jumps to that epoch with
 *     the configuration it has
 *  11 phase 1 adopts the first accepted value reported, not the one of the
 *     highest ballot
 *  15 failure removals outlive their epoch: a REMOVE of any epoch, or from
 *     a non-member, is taken, and installs keep the pending ones
 * (12 and 13 are in member/member_lease.c, 14 in member/member_fd.c)
 * 0 (the default) is the correct protocol. */
#ifndef PAXOS_MUTATION
#define PAXOS_MUTATION 0
#endif

typedef enum paxos_step_e {
    PAXOS_STEP_DROP = 0,          /* nothing to send */
    PAXOS_STEP_REPLY = 1,         /* send 'out'; nothing new to persist */
    PAXOS_STEP_REPLY_DURABLE = 2, /* persist the state, then send 'out' */
} paxos_step_t;

typedef struct paxos_proposer_s {
    int phase; /* 0 idle, 1 preparing, 2 accepting */
    uint64_t epoch;
    paxos_ballot_t ballot;
    uint64_t promises; /* bitmask of member indexes of C_epoch */
    uint64_t accepts;
    paxos_ballot_t best; /* highest accepted ballot reported in phase 1 */
    paxos_config_t value;
    uint64_t deadline;
} paxos_proposer_t;

struct paxos_node_s {
    paxos_params_t p;
    paxos_state_t st;
    uint64_t rng;
    paxos_effects_t *eff; /* effects of the call in progress */

    paxos_config_t *hist;               /* PAXOS_HISTORY slots, by epoch % PAXOS_HISTORY */
    uint64_t hist_epoch[PAXOS_HISTORY]; /* epoch held by each slot, 0: none */

    paxos_out_t *out; /* outbox, FIFO */
    size_t out_head, out_len, out_cap;

    paxos_change_t pending[PAXOS_MAX_PENDING];
    size_t npending;
    uint64_t propose_at;  /* coordinator: batch window ends (0: not armed) */
    uint64_t takeover_at; /* others: take over at (0: not armed) */

    uint64_t dead[PAXOS_MAX_MEMBERS]; /* ids the failure detector reported */
    size_t ndead;

    paxos_proposer_t prop;
    uint64_t max_seen_round;

    char seed_addr[PAXOS_ADDR_MAX]; /* joiner: the member it asks */
    int joining;
    uint64_t next_sync;
    uint64_t last_status_at;
    uint64_t installed_at; /* time of the last install */
    /* Catch-up of a node that is behind: it asks every address of every
     * configuration it knows in turn (cursor 'rr'); a SNAPSHOT offer is
     * taken only after PAXOS_CATCHUP_ROUNDS full rounds without progress. */
    uint64_t behind;      /* highest epoch seen elsewhere */
    unsigned rr;          /* next peer to ask */
    unsigned asked;       /* peers asked in the current round */
    unsigned rounds;      /* full rounds without progress */
    uint64_t nacked[128]; /* address hashes of the peers that answered in
                             this round that they lack what we miss */
    unsigned nnacked;
    unsigned clean_rounds; /* consecutive rounds in which every peer did */
    /* Non-members that sent us something lately (joiners, removed nodes):
     * they may keep configurations no member keeps, so a STATUS we cannot
     * serve is relayed to them, at most once per requester and interval. */
    char heard[8][PAXOS_ADDR_MAX];
    unsigned heard_next;
    uint64_t relay_hash, relay_epoch, relay_at;
    int has_offer;        /* 'offer' holds a SNAPSHOT newer than ours */
    paxos_config_t offer; /* latest configuration some node offered */
    unsigned failures;    /* ballots of this instance that did not finish */
    int removed;
    int follow;   /* removed, and still learning the chain (paxos_node_follow()) */
    int restored; /* created from persisted state: the first call re-arms timers */
#if PAXOS_MUTATION == 6
    int late_persist; /* BUG: an acceptance waits for the next call to be persisted */
#endif
};

/* Acceptor steps on the durable state (paxos_acceptor.c). 'out' is filled
 * for REPLY and REPLY_DURABLE. */
paxos_step_t paxos_acceptor_on_prepare(paxos_state_t *st, const paxos_msg_t *in, paxos_msg_t *out);
paxos_step_t paxos_acceptor_on_accept(paxos_state_t *st, const paxos_msg_t *in, paxos_msg_t *out);
/* 1 if this state makes its node an acceptor of its installed epoch. */
int paxos__is_acceptor(const paxos_state_t *st);

/* Copies of configurations and messages move only the used part: members
 * beyond 'nmembers' are left as they were in 'dst' (unspecified; nothing
 * reads them: equality, hashing and the codec go by the counts). A message
 * without a value gets an empty one. A configuration is 11,312 bytes and a
 * message a little more; a 3-member one uses about 1,060, the retired
 * array (384 bytes) included (paxos_config.c). */
void paxos__config_copy(paxos_config_t *dst, const paxos_config_t *src);
void paxos__msg_copy(paxos_msg_t *dst, const paxos_msg_t *src);
/* Zeroes 'm' but for the parts of its value past the counts. */
void paxos__msg_clear(paxos_msg_t *m);

/* paxos_config_check(), without the address checks when 'check_addrs' is
 * 0 (the codec, which checks every address as it reads or writes it). */
int paxos__config_check(const paxos_config_t *c, int check_addrs);

/* 1 if applying 'ch' would change 'c' (paxos_config.c). */
int paxos__change_applies(const paxos_config_t *c, const paxos_change_t *ch);

/* Node internals shared by paxos_node.c and paxos_proposer.c. */
void paxos__send(paxos_node_t *node, uint64_t to, const char *addr, const paxos_msg_t *msg);
void paxos__msg_init(paxos_node_t *node, paxos_msg_t *m, uint8_t type, uint64_t epoch);
void paxos__persist(paxos_node_t *node);
void paxos__install(paxos_node_t *node, uint64_t now, const paxos_config_t *c);
void paxos__wake(paxos_node_t *node, uint64_t at);
uint64_t paxos__random(paxos_node_t *node, uint64_t bound);
int paxos__is_dead(const paxos_node_t *node, uint64_t id);

/* Proposer (paxos_proposer.c). */
void paxos__propose_start(paxos_node_t *node, uint64_t now);
void paxos__proposer_on_msg(paxos_node_t *node, uint64_t now, const paxos_msg_t *m);
void paxos__proposer_tick(paxos_node_t *node, uint64_t now);
void paxos__proposer_reset(paxos_node_t *node);

#endif /* RC_PAXOS_PAXOS_INTERNAL_H */
