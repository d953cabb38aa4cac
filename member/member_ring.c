/* member/member_ring.c: a chosen configuration -> the slot table's input.
 * The one rule: the mapping is a pure function of the configuration, the
 * same on every node; tests/unit/member_ring_test.c pins its result.
 *
 * It also holds the compile-time proof that paxos/ refuses exactly what
 * ring/ cannot place, so that a configuration that Paxos chooses always
 * builds a table (before, weights up to 65,536 passed Paxos and then every
 * slot answered CLUSTERDOWN). */
#include "member/member.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What ring_build() refuses, and the paxos limit that keeps it out. The
 * casts: the two headers' constants live in different enums. */
#define SAME(a, b)    ((long)(a) == (long)(b))
#define AT_MOST(a, b) ((long)(a) <= (long)(b))
_Static_assert(SAME(PAXOS_MAX_WEIGHT, RING_WEIGHT_MAX), "a weight paxos accepts must be placeable");
_Static_assert(SAME(PAXOS_MAX_TOTAL_WEIGHT, RING_TOTAL_WEIGHT_MAX),
               "a total weight paxos accepts must be placeable");
_Static_assert(SAME(PAXOS_MAX_REPLICAS, RING_MAX_REPLICAS), "an R paxos accepts must be placeable");
/* Every member weighs at least 1, so the total bounds the member count. */
_Static_assert(AT_MOST(PAXOS_MAX_MEMBERS, PAXOS_MAX_TOTAL_WEIGHT), "members fit the total weight");
/* Member names are ring ids; the defaults used below are in range. */
_Static_assert(AT_MOST(MEMBER_NAME_LEN, RING_ID_MAX), "a member name is a valid ring id");
_Static_assert(AT_MOST(RING_DEFAULT_POINTS, RING_POINTS_MAX), "default points are valid");
_Static_assert(AT_MOST(RING_DEFAULT_BALANCE_PPM, RING_BALANCE_PPM_MAX), "default balance is valid");

/* The name is "%016" PRIx64 "%024" PRIx64 of (incarnation, id), written
 * by hand: snprintf was 4% of the simulator's time (one name per member
 * of every chosen configuration); member_ring_test.c pins the format. */
void member_ring_name(uint64_t id, uint64_t incarnation, char out[MEMBER_NAME_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    int i;

    for (i = 0; i < 16; i++)
        out[i] = hex[(incarnation >> (4 * (15 - i))) & 0xf];
    for (i = 0; i < 8; i++)
        out[16 + i] = '0';
    for (i = 0; i < 16; i++)
        out[24 + i] = hex[(id >> (4 * (15 - i))) & 0xf];
    out[MEMBER_NAME_LEN] = '\0';
}

/* Starts '*out' for configuration 'c' (checked). */
static int input_begin(const paxos_config_t *c, member_ring_input_t *out)
{
    memset(out, 0, sizeof(*out));
    if (paxos_config_check(c) != 0)
        return -EINVAL;
    out->epoch = c->epoch;
    out->config.replicas = c->replicas;
    out->config.balance_ppm = RING_DEFAULT_BALANCE_PPM;
    out->config.points = RING_DEFAULT_POINTS;
    return 0;
}

static void input_add(member_ring_input_t *out, uint64_t id, uint64_t incarnation, uint32_t weight)
{
    size_t n = out->nmembers++;

    member_ring_name(id, incarnation, out->names[n]);
    out->members[n].id = out->names[n];
    out->members[n].weight = weight;
}

int member_ring_input(const paxos_config_t *c, member_ring_input_t *out)
{
    uint32_t i;

    if (input_begin(c, out) != 0)
        return -EINVAL;
    for (i = 0; i < c->nmembers; i++) {
        const paxos_member_t *m = &c->members[i];

        if (m->weight > 0) /* 0: leaving, no slot goes to it */
            input_add(out, m->id, m->incarnation, m->weight);
    }
    return 0;
}

int member_ring_input_serving(const paxos_config_t *c, member_ring_input_t *out)
{
    uint32_t i = 0, r = 0;

    if (input_begin(c, out) != 0)
        return -EINVAL;
    /* Merged by id: members and retired ones are each sorted, disjoint. */
    while (i < c->nmembers || r < c->nretired) {
        if (r == c->nretired || (i < c->nmembers && c->members[i].id < c->retired[r].id)) {
            const paxos_member_t *m = &c->members[i++];

            if (m->live_weight > 0) /* 0: joining, it serves nothing yet */
                input_add(out, m->id, m->incarnation, m->live_weight);
        } else {
            const paxos_retired_t *x = &c->retired[r++];

            input_add(out, x->id, x->incarnation, x->live_weight);
        }
    }
    if (out->nmembers == 0)
        return member_ring_input(c, out);
    return 0;
}

int member_ring_build(const paxos_config_t *c, ring_t **out)
{
    member_ring_input_t in;
    int err;

    *out = NULL;
    err = member_ring_input(c, &in);
    if (err != 0)
        return err;
    return ring_build(in.epoch, in.members, in.nmembers, &in.config, out);
}

int member_ring_build2(const paxos_config_t *c, ring_t **serving, ring_t **target)
{
    member_ring_input_t *in;
    int err;

    *serving = *target = NULL;
    err = member_ring_build(c, target);
    if (err != 0 || !paxos_config_in_transition(c)) {
        *serving = *target;
        return err;
    }
    in = malloc(sizeof(*in)); /* 7 KB: not on the stack twice */
    if (in == NULL) {
        err = -ENOMEM;
        goto fail;
    }
    err = member_ring_input_serving(c, in);
    if (err == 0)
        err = ring_build(in->epoch, in->members, in->nmembers, &in->config, serving);
    free(in);
    if (err == 0)
        return 0;
fail:
    ring_destroy(*target);
    *target = NULL;
    return err;
}

void member_ring_free2(ring_t *serving, ring_t *target)
{
    if (serving != target)
        ring_destroy(serving);
    ring_destroy(target);
}

/* Maps each member of 'ring' to its index in 'c' (-1: not a member of 'c',
 * a retired one). Returns -EINVAL for a ring of another epoch. */
static int map_members(const paxos_config_t *c, const ring_t *ring, int16_t *idx)
{
    char name[MEMBER_NAME_LEN + 1];
    size_t n = ring_member_count(ring), k;
    uint32_t i;

    if (ring_epoch(ring) != c->epoch || n > MEMBER_RING_MAX)
        return -EINVAL;
    for (k = 0; k < n; k++)
        idx[k] = -1;
    for (i = 0; i < c->nmembers; i++) {
        int at;

        member_ring_name(c->members[i].id, c->members[i].incarnation, name);
        at = ring_member_find(ring, name);
        if (at >= 0)
            idx[at] = (int16_t)i;
    }
    return 0;
}

int member_handoff_build(const paxos_config_t *c, const ring_t *serving, const ring_t *target,
                         member_handoff_t *out)
{
    int16_t sidx[MEMBER_RING_MAX], tidx[MEMBER_RING_MAX];
    uint32_t s;

    memset(out, 0, sizeof(*out));
    if (paxos_config_check(c) != 0 || map_members(c, serving, sidx) != 0 ||
        map_members(c, target, tidx) != 0)
        return -EINVAL;
    out->epoch = c->epoch;
    out->in_transition = paxos_config_in_transition(c);
    for (s = 0; s < RING_SLOTS; s++) {
        const uint16_t *copies = ring_slot_replicas(serving, (uint16_t)s);
        int16_t t = tidx[ring_slot_primary(target, (uint16_t)s)], v = -1;
        unsigned k;

        if (t < 0) {
            memset(out, 0, sizeof(*out));
            return -EINVAL; /* every target member is a member */
        }
        const uint16_t *tcopies = ring_slot_replicas(target, (uint16_t)s);
        unsigned ns = 0, nt = 0;

        /* The primary, else the first copy on a live member (failed ones
         * are retired, not members). */
        for (k = 0; k < ring_copies(serving) && ns < MEMBER_COPIES_MAX; k++) {
            if (sidx[copies[k]] >= 0)
                out->scopy[s][ns++] = sidx[copies[k]];
        }
        for (k = 0; k < ring_copies(target) && nt < MEMBER_COPIES_MAX; k++) {
            if (tidx[tcopies[k]] < 0) {
                memset(out, 0, sizeof(*out));
                return -EINVAL;
            }
            out->tcopy[s][nt++] = tidx[tcopies[k]];
        }
        v = ns > 0 ? out->scopy[s][0] : -1;
        out->nscopy[s] = (uint8_t)ns;
        out->ntcopy[s] = (uint8_t)nt;
        out->target[s] = t;
        out->serve[s] = v >= 0 ? v : t;
        out->fresh[s] = v < 0;
        out->ntarget[t]++;
        out->nserve[out->serve[s]]++;
    }
    return 0;
}
