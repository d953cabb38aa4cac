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

void member_ring_name(uint64_t id, uint64_t incarnation, char out[MEMBER_NAME_LEN + 1])
{
    snprintf(out, MEMBER_NAME_LEN + 1, "%016" PRIx64 "%024" PRIx64, incarnation, id);
}

int member_ring_input(const paxos_config_t *c, member_ring_input_t *out)
{
    uint32_t i;

    memset(out, 0, sizeof(*out));
    if (paxos_config_check(c) != 0)
        return -EINVAL;
    out->epoch = c->epoch;
    for (i = 0; i < c->nmembers; i++) {
        size_t n = out->nmembers;

        if (c->members[i].weight == 0)
            continue; /* leaving: no slot goes to it */
        member_ring_name(c->members[i].id, c->members[i].incarnation, out->names[n]);
        out->members[n].id = out->names[n];
        out->members[n].weight = c->members[i].weight;
        out->nmembers++;
    }
    out->config.replicas = c->replicas;
    out->config.balance_ppm = RING_DEFAULT_BALANCE_PPM;
    out->config.points = RING_DEFAULT_POINTS;
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
