/* member/member_lease.c: the lease holder as a state machine over virtual
 * time (rules and proof in member_lease.h and node/repl/README.md).
 *
 *   install(epoch, members)   --> rounds void, members indexed
 *   round(now)                --> a numbered round, its send time
 *   on_grant(epoch, round, m) --> a majority of grants: until = sent + L'
 *
 * L' = duration * (1 - drift): a holder whose clock runs slow by 'drift'
 * still stops within 'duration' of real time; a taker waits
 * duration * (1 + drift) on its own clock, at least 'duration' of real
 * time whatever its rate. */
#include "member/member_lease.h"

#include <string.h>

#include "common/rc.h"

/* PAXOS_MUTATION=12 or 13 compiles in one known bug in the lease rules, for
 * the simulator to catch (tests/sim/paxos.cmake; the others are in
 * paxos/paxos_internal.h). 0: none. */
#ifndef PAXOS_MUTATION
#define PAXOS_MUTATION 0
#endif

typedef struct round_s {
    uint64_t no;     /* 0: free */
    int64_t sent;    /* ms */
    uint64_t grants; /* member indexes that granted it (this node's too) */
    uint32_t count;
} round_t;

struct member_lease_s {
    int64_t hold;     /* duration * (1 - drift) */
    int64_t takeover; /* duration * (1 + drift) */
    uint64_t epoch;
    uint32_t n;
    int myindex; /* -1: not a member */
    uint64_t ids[PAXOS_MAX_MEMBERS];
    uint64_t next_round;
    int64_t until;
    round_t rounds[MEMBER_LEASE_ROUNDS];
};

member_lease_t *member_lease_create(int64_t duration, uint32_t drift_ppm)
{
    member_lease_t *l = rc_xmalloc(sizeof(*l));
    int64_t margin;

    memset(l, 0, sizeof(*l));
    if (duration < MEMBER_LEASE_MIN_DURATION)
        duration = MEMBER_LEASE_MIN_DURATION;
    if (duration > MEMBER_LEASE_MAX_DURATION)
        duration = MEMBER_LEASE_MAX_DURATION;
    if (drift_ppm > MEMBER_LEASE_MAX_DRIFT)
        drift_ppm = MEMBER_LEASE_MAX_DRIFT;
    /* Rounded so that the holder's share is never longer, the taker's wait
     * never shorter, than the exact figures. */
    margin = (duration * (int64_t)drift_ppm + 999999) / 1000000;
    l->hold = duration - margin;
    l->takeover = duration + margin;
    l->myindex = -1;
    l->next_round = 1;
    return l;
}

void member_lease_destroy(member_lease_t *l)
{
    rc_free(l);
}

void member_lease_install(member_lease_t *l, uint64_t epoch, const uint64_t *ids, uint32_t n,
                          uint64_t my_id)
{
    uint32_t i;

    RC_ASSERT(n <= PAXOS_MAX_MEMBERS);
    l->epoch = epoch;
    l->n = n;
    l->myindex = -1;
    for (i = 0; i < n; i++) {
        l->ids[i] = ids[i];
        if (my_id != 0 && ids[i] == my_id)
            l->myindex = (int)i;
    }
    memset(l->rounds, 0, sizeof(l->rounds));
    if (l->myindex < 0)
        l->until = 0;
}

static int index_of(const member_lease_t *l, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < l->n; i++) {
        if (l->ids[i] == id)
            return (int)i;
    }
    return -1;
}

/* Counts member 'idx''s grant of round 'r'; extends the lease on a
 * majority. */
static int grant(member_lease_t *l, round_t *r, int idx)
{
    uint64_t bit = (uint64_t)1 << idx;

    if (r->grants & bit)
        return 0;
    r->grants |= bit;
    r->count++;
    if (r->count < l->n / 2 + 1 || r->sent + l->hold <= l->until)
        return 0;
    l->until = r->sent + l->hold;
    return 1;
}

uint64_t member_lease_round(member_lease_t *l, int64_t now, int self_grant)
{
    round_t *r;

    if (l->myindex < 0)
        return 0;
    r = &l->rounds[l->next_round % MEMBER_LEASE_ROUNDS];
    memset(r, 0, sizeof(*r));
    r->no = l->next_round++;
    r->sent = now;
    if (self_grant)
        (void)grant(l, r, l->myindex);
    return r->no;
}

int member_lease_on_grant(member_lease_t *l, uint64_t epoch, uint64_t round, uint64_t from)
{
    round_t *r;
    int idx;

    if (epoch != l->epoch || round == 0 || l->myindex < 0)
        return 0;
    r = &l->rounds[round % MEMBER_LEASE_ROUNDS];
    if (r->no != round)
        return 0; /* void: an older epoch's, or overwritten */
    idx = index_of(l, from);
    if (idx < 0)
        return 0;
    return grant(l, r, idx);
}

int member_lease_valid(const member_lease_t *l, int64_t now)
{
    return l->myindex >= 0 && now < l->until;
}

int64_t member_lease_until(const member_lease_t *l)
{
    return l->until;
}

int64_t member_lease_takeover_at(const member_lease_t *l, int64_t installed_at)
{
#if PAXOS_MUTATION == 12
    /* Mutant (tests/sim/paxos.cmake): the bound keeps the drift margin but
     * omits the lease duration. */
    return installed_at + (l->takeover - l->hold) / 2;
#else
    return installed_at + l->takeover;
#endif
}

int member_lease_may_grant(uint64_t my_epoch, int accepted, uint64_t req_epoch,
                           int requester_member)
{
#if PAXOS_MUTATION == 13
    /* Mutant: the grantor grants after accepting a value in its instance. */
    (void)accepted;
    return my_epoch != 0 && req_epoch == my_epoch && requester_member;
#else
    return my_epoch != 0 && req_epoch == my_epoch && !accepted && requester_member;
#endif
}
