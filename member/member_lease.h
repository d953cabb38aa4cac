/* member/member_lease.h: primary leases, as pure functions of time and
 * messages (the rules of member.h: no sockets, no clock, no libuv; 'now' in
 * ms comes from the driver). The design and its proof are in
 * node/repl/README.md ("Leases"); in short:
 *
 *   holder    a node serves the slots it is primary of only while it holds
 *             a lease: a majority of the members of its installed
 *             configuration (itself included) answered one of its lease
 *             rounds, sent at most duration * (1 - drift) ms ago;
 *   grantor   a member answers a round of epoch e only while its installed
 *             epoch is e, the holder is a member of it, and it has accepted
 *             no value in Paxos instance e (member_lease_may_grant()); so
 *             every grant a lease counts precedes the decision of every
 *             configuration after e;
 *   takeover  a node that becomes primary of a slot whose previous primary
 *             did not hand it over waits until member_lease_takeover_at()
 *             (install time + duration * (1 + drift)) before it serves it.
 *
 * Together: the old primary's lease has run out, in real time, before the
 * new one serves, whatever the two clocks' rates within 'drift'. */
#ifndef RC_MEMBER_MEMBER_LEASE_H
#define RC_MEMBER_MEMBER_LEASE_H

#include <stdint.h>

#include "paxos/paxos.h"

enum member_lease_limits_e {
    MEMBER_LEASE_ROUNDS = 16,         /* rounds in flight; older ones are void */
    MEMBER_LEASE_MAX_DRIFT = 100000,  /* ppm: a 10 % rate difference at most */
    MEMBER_LEASE_MIN_DURATION = 10,   /* ms */
    MEMBER_LEASE_MAX_DURATION = 60000 /* ms */
};

typedef struct member_lease_s member_lease_t;

/* Returns a lease holder with no configuration (not valid) for leases of
 * 'duration' ms and a clock-rate bound of 'drift_ppm' (both clamped to the
 * limits above); free with member_lease_destroy(). Aborts on OOM. */
member_lease_t *member_lease_create(int64_t duration, uint32_t drift_ppm);
/* Frees 'l'. NULL is a no-op. */
void member_lease_destroy(member_lease_t *l);

/* Installs the configuration this node now runs: its 'epoch', its member
 * ids ('n' of them, at most PAXOS_MAX_MEMBERS) and this node's id ('my_id',
 * 0 or absent: not a member). Rounds of an older epoch become void (a grant
 * for them is ignored). The lease already held keeps its end: the grants it
 * rests on preceded the decision of this configuration. A node that is not
 * a member holds no lease. */
void member_lease_install(member_lease_t *l, uint64_t epoch, const uint64_t *ids, uint32_t n,
                          uint64_t my_id);

/* Starts a round sent at 'now'; returns its number (never 0), which the
 * driver sends with the epoch to every other member, or 0 when this node
 * is not a member. This node's own grant counts when 'self_grant' (the
 * grantor's rule applied to itself: it too must not have accepted a value
 * in this instance); a configuration of one member then holds at once. */
uint64_t member_lease_round(member_lease_t *l, int64_t now, int self_grant);

/* A grant of round 'round' at 'epoch' from member 'from'. Grants of another
 * epoch, of a void round, from a non-member or twice from one member count
 * nothing. Returns 1 when it extended the lease. */
int member_lease_on_grant(member_lease_t *l, uint64_t epoch, uint64_t round, uint64_t from);

/* 1 while the lease holds at 'now'. */
int member_lease_valid(const member_lease_t *l, int64_t now);
/* The time the lease runs out (0: never held since the last install as a
 * non-member). */
int64_t member_lease_until(const member_lease_t *l);

/* When a new primary of a slot whose previous primary failed may serve it,
 * having installed that configuration at 'installed_at'. */
int64_t member_lease_takeover_at(const member_lease_t *l, int64_t installed_at);

/* The grantor's rule: 1 when a member whose installed epoch is 'my_epoch',
 * and that has ('accepted' 1) or has not accepted a value in Paxos instance
 * 'my_epoch', may grant a round of epoch 'req_epoch' to a node that is
 * ('requester_member' 1) or is not a member of its configuration. */
int member_lease_may_grant(uint64_t my_epoch, int accepted, uint64_t req_epoch,
                           int requester_member);

#endif
