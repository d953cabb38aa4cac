/* paxos/paxos_config.c: configurations and the changes applied to them.
 * The one rule: applying a change is idempotent, so a request that arrives
 * twice, or after it was decided, is a no-op.
 *
 * A configuration holds two placements (paxos.h): the serving one
 * (live_weight, plus the retired members) and the target one (weight).
 *
 *   JOIN, LEAVE, WEIGHT, REMOVE --> target moves, transition++
 *   READY(t) from every member with a weight --> switch: serving = target
 *
 * Why the serving total never passes PAXOS_MAX_TOTAL_WEIGHT: live weights
 * change only at the switch, where they become the target weights, whose
 * total JOIN and WEIGHT keep within the limit (admits()); otherwise a
 * REMOVE moves a live weight from a member to 'retired' (same total) or
 * drops it, and a joiner that never served leaves with live weight 0. The
 * cancel-leaves rule gives the leavers back their live weights: a target
 * total at most the serving one. check() verifies both anyway. */
#include "paxos/paxos.h"
#include "paxos/paxos_internal.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common/rc.h"

int paxos_ballot_cmp(paxos_ballot_t a, paxos_ballot_t b)
{
    if (a.round != b.round)
        return a.round < b.round ? -1 : 1;
#if PAXOS_MUTATION == 8
    return 0; /* BUG: the proposer id is left out of the comparison */
#endif
    if (a.node != b.node)
        return a.node < b.node ? -1 : 1;
    return 0;
}

void paxos__config_copy(paxos_config_t *dst, const paxos_config_t *src)
{
    uint32_t n = src->nmembers < PAXOS_MAX_MEMBERS ? src->nmembers : PAXOS_MAX_MEMBERS;

    if (dst != src)
        memcpy(dst, src, offsetof(paxos_config_t, members) + n * sizeof(src->members[0]));
}

/* Field by field, with 64-byte blocks for the strings: a memset or struct
 * copy of a few hundred bytes compiles to 'rep stos' / 'rep movs', whose
 * start-up cost dominated the simulator's profile. */
static void change_clear(paxos_change_t *ch)
{
    ch->kind = 0;
    ch->id = 0;
    ch->incarnation = 0;
    ch->weight = 0;
    ch->transition = 0;
    memset(ch->client_addr, 0, PAXOS_ADDR_MAX);
    memset(ch->bus_addr, 0, PAXOS_ADDR_MAX);
}

static void value_clear(paxos_config_t *c)
{
    c->epoch = 0;
    c->next_id = 0;
    c->replicas = 0;
    c->nrecent = 0;
    c->transition = 0;
    c->nretired = 0;
    c->nmembers = 0;
}

void paxos__msg_clear(paxos_msg_t *m)
{
    m->type = 0;
    m->epoch = 0;
    m->from = 0;
    m->to = 0;
    memset(m->from_addr, 0, PAXOS_ADDR_MAX);
    m->ballot.round = m->ballot.node = 0;
    m->accepted_ballot.round = m->accepted_ballot.node = 0;
    m->has_value = 0;
    value_clear(&m->value);
    change_clear(&m->change);
}

void paxos__msg_copy(paxos_msg_t *dst, const paxos_msg_t *src)
{
    if (dst == src)
        return;
    dst->type = src->type;
    dst->epoch = src->epoch;
    dst->from = src->from;
    dst->to = src->to;
    memcpy(dst->from_addr, src->from_addr, PAXOS_ADDR_MAX);
    dst->ballot = src->ballot;
    dst->accepted_ballot = src->accepted_ballot;
    dst->has_value = src->has_value;
    if (src->has_value)
        paxos__config_copy(&dst->value, &src->value);
    else
        value_clear(&dst->value);
    dst->change.kind = src->change.kind;
    dst->change.id = src->change.id;
    dst->change.incarnation = src->change.incarnation;
    dst->change.weight = src->change.weight;
    dst->change.transition = src->change.transition;
    memcpy(dst->change.client_addr, src->change.client_addr, PAXOS_ADDR_MAX);
    memcpy(dst->change.bus_addr, src->change.bus_addr, PAXOS_ADDR_MAX);
}

int paxos_config_find(const paxos_config_t *c, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < c->nmembers && i < PAXOS_MAX_MEMBERS; i++) {
        if (c->members[i].id == id)
            return (int)i;
    }
    return -1;
}

/* A string within its buffer. Buffers are kept zero past the string, so
 * the last byte answers almost always without the scan. */
static int addr_ok(const char *s)
{
    return s[PAXOS_ADDR_MAX - 1] == '\0' || memchr(s, '\0', PAXOS_ADDR_MAX) != NULL;
}

/* Sum of the members' target weights (no overflow: at most 64 x 2^32). */
static uint64_t total_weight(const paxos_config_t *c)
{
    uint64_t total = 0;
    uint32_t i;

    for (i = 0; i < c->nmembers && i < PAXOS_MAX_MEMBERS; i++)
        total += c->members[i].weight;
    return total;
}

int paxos_config_in_transition(const paxos_config_t *c)
{
    uint32_t i;

    if (c->nretired != 0)
        return 1;
    for (i = 0; i < c->nmembers && i < PAXOS_MAX_MEMBERS; i++) {
        if (c->members[i].live_weight != c->members[i].weight)
            return 1;
    }
    return 0;
}

static int member_ok(const paxos_config_t *c, uint32_t i, int check_addrs)
{
    const paxos_member_t *m = &c->members[i];

    if (m->id == 0 || m->id >= c->next_id || (i > 0 && m->id <= c->members[i - 1].id))
        return 0;
    if (m->incarnation == 0 || m->weight > PAXOS_MAX_WEIGHT || m->live_weight > PAXOS_MAX_WEIGHT ||
        (m->weight == 0 && m->live_weight == 0) || m->ready > c->transition)
        return 0;
    return m->state == PAXOS_MEMBER_ACTIVE &&
           (!check_addrs || (addr_ok(m->client_addr) && addr_ok(m->bus_addr)));
}

/* '*cursor': the first member whose id is not below the previous retired
 * one's. Members (checked sorted by then) and retired ones (checked sorted
 * here before the lookup) ascend, so one merge walk replaces a
 * paxos_config_find() per retired member. */
static int retired_ok(const paxos_config_t *c, uint32_t i, uint32_t *cursor)
{
    const paxos_retired_t *r = &c->retired[i];
    uint32_t j = *cursor;

    if (r->id == 0 || r->id >= c->next_id || (i > 0 && r->id <= c->retired[i - 1].id))
        return 0;
    if (r->incarnation == 0 || r->live_weight == 0 || r->live_weight > PAXOS_MAX_WEIGHT)
        return 0;
    while (j < c->nmembers && c->members[j].id < r->id)
        j++;
    *cursor = j;
    return j == c->nmembers || c->members[j].id != r->id; /* not a member */
}

int paxos_config_check(const paxos_config_t *c)
{
    return paxos__config_check(c, 1);
}

int paxos__config_check(const paxos_config_t *c, int check_addrs)
{
    uint32_t i, cursor = 0;
    uint64_t total = 0, serving = 0; /* the target and the serving weight */
    int target = 0;

    if (c->epoch == 0 || c->nmembers == 0 || c->nmembers > PAXOS_MAX_MEMBERS ||
        c->nrecent > PAXOS_MAX_RECENT || c->nretired > PAXOS_MAX_RETIRED ||
        c->replicas > PAXOS_MAX_REPLICAS)
        return -EINVAL;
    for (i = 0; i < c->nmembers; i++) {
        if (!member_ok(c, i, check_addrs))
            return -EINVAL;
        target |= c->members[i].weight > 0;
        total += c->members[i].weight;
        serving += c->members[i].live_weight;
    }
    for (i = 0; i < c->nretired; i++) {
        if (!retired_ok(c, i, &cursor))
            return -EINVAL;
        serving += c->retired[i].live_weight;
    }
    if (!target)
        return -EINVAL; /* someone must be where the slots are going */
    if (total > PAXOS_MAX_TOTAL_WEIGHT || serving > PAXOS_MAX_TOTAL_WEIGHT)
        return -EINVAL; /* the slot table could not place it */
    return 0;
}

int paxos_change_check(const paxos_change_t *ch)
{
    if (ch->incarnation == 0 || !addr_ok(ch->client_addr) || !addr_ok(ch->bus_addr))
        return -EINVAL;
    if ((ch->kind == PAXOS_CHANGE_READY) != (ch->transition != 0))
        return -EINVAL; /* only READY names a transition, and it always does */
    switch (ch->kind) {
    case PAXOS_CHANGE_JOIN:
        if (ch->weight == 0 || ch->weight > PAXOS_MAX_WEIGHT || ch->bus_addr[0] == '\0')
            return -EINVAL;
        return 0;
    case PAXOS_CHANGE_LEAVE:
    case PAXOS_CHANGE_REMOVE:
    case PAXOS_CHANGE_READY:
        return ch->id != 0 ? 0 : -EINVAL;
    case PAXOS_CHANGE_WEIGHT:
        if (ch->id == 0 || ch->weight == 0 || ch->weight > PAXOS_MAX_WEIGHT)
            return -EINVAL;
        return 0;
    default:
        return -EINVAL;
    }
}

static int token_known(const paxos_config_t *c, const paxos_change_t *ch)
{
    uint32_t i;

    for (i = 0; i < c->nrecent; i++) {
        if (c->recent[i] == ch->incarnation)
            return 1;
    }
    for (i = 0; i < c->nmembers; i++) {
        if (c->members[i].incarnation == ch->incarnation)
            return 1;
    }
    return 0;
}

static int apply_join(paxos_config_t *c, const paxos_change_t *ch)
{
    paxos_member_t *m;

    if (token_known(c, ch) || c->nmembers >= PAXOS_MAX_MEMBERS)
        return 0;
    m = &c->members[c->nmembers++]; /* next_id is above every id: stays sorted */
    memset(m, 0, sizeof(*m));
    m->id = c->next_id++;
    m->incarnation = ch->incarnation;
    memcpy(m->client_addr, ch->client_addr, PAXOS_ADDR_MAX);
    memcpy(m->bus_addr, ch->bus_addr, PAXOS_ADDR_MAX);
    m->weight = ch->weight; /* live_weight 0: it serves from the switch on */
    m->state = PAXOS_MEMBER_ACTIVE;
    if (c->nrecent == PAXOS_MAX_RECENT) {
        memmove(&c->recent[0], &c->recent[1], sizeof(c->recent[0]) * (PAXOS_MAX_RECENT - 1));
        c->nrecent--;
    }
    c->recent[c->nrecent++] = ch->incarnation;
    c->transition++;
    return 1;
}

int paxos_config_admits(const paxos_config_t *c, const paxos_change_t *ch)
{
    uint64_t total = total_weight(c);
    int i;

    if (paxos_change_check(ch) != 0)
        return -EINVAL;
    switch (ch->kind) {
    case PAXOS_CHANGE_JOIN:
        if (c->nmembers >= PAXOS_MAX_MEMBERS)
            return -ENOSPC;
        return total + ch->weight > PAXOS_MAX_TOTAL_WEIGHT ? RC_ETOOBIG : 0;
    case PAXOS_CHANGE_WEIGHT:
        i = paxos_config_find(c, ch->id);
        if (i < 0)
            return 0; /* about a member that is gone: a no-op */
        total -= c->members[i].weight;
        return total + ch->weight > PAXOS_MAX_TOTAL_WEIGHT ? RC_ETOOBIG : 0;
    default:
        return 0; /* a removal only makes the configuration smaller */
    }
}

/* 1 if some member but number 'skip' has a target weight. */
static int other_target(const paxos_config_t *c, int skip)
{
    uint32_t i;

    for (i = 0; i < c->nmembers; i++) {
        if ((int)i != skip && c->members[i].weight > 0)
            return 1;
    }
    return 0;
}

int paxos__change_applies(const paxos_config_t *c, const paxos_change_t *ch)
{
    int i = paxos_config_find(c, ch->id);
    const paxos_member_t *m;

    if (paxos_change_check(ch) != 0)
        return 0;
    if (ch->kind == PAXOS_CHANGE_JOIN)
        return !token_known(c, ch) && paxos_config_admits(c, ch) == 0;
    if (i < 0 || c->members[i].incarnation != ch->incarnation)
        return 0;
    m = &c->members[i];
    switch (ch->kind) {
    case PAXOS_CHANGE_WEIGHT:
        return m->weight > 0 && m->weight != ch->weight && paxos_config_admits(c, ch) == 0;
    case PAXOS_CHANGE_LEAVE:
        return m->weight > 0 && other_target(c, i);
    case PAXOS_CHANGE_READY:
        return m->weight > 0 && ch->transition == c->transition && m->ready != ch->transition &&
               paxos_config_in_transition(c);
    default:
        return c->nmembers > 1; /* the last member stays: someone must hold the chain */
    }
}

static void remove_member(paxos_config_t *c, int i)
{
    memmove(&c->members[i], &c->members[i + 1],
            sizeof(c->members[0]) * (c->nmembers - (uint32_t)i - 1));
    c->nmembers--;
    memset(&c->members[c->nmembers], 0, sizeof(c->members[0]));
}

/* Keeps failed member 'm' in the serving placement (sorted by id); when
 * PAXOS_MAX_RETIRED are kept, the lowest id (the oldest) makes room. */
static void retire(paxos_config_t *c, const paxos_member_t *m)
{
    uint32_t at;

    if (c->nretired == PAXOS_MAX_RETIRED) {
        memmove(&c->retired[0], &c->retired[1], sizeof(c->retired[0]) * (PAXOS_MAX_RETIRED - 1));
        c->nretired--;
    }
    for (at = c->nretired; at > 0 && c->retired[at - 1].id > m->id; at--)
        c->retired[at] = c->retired[at - 1];
    c->retired[at].id = m->id;
    c->retired[at].incarnation = m->incarnation;
    c->retired[at].live_weight = m->live_weight;
    c->nretired++;
}

static void apply_remove(paxos_config_t *c, int i)
{
    paxos_member_t gone = c->members[i];
    uint32_t k;

    remove_member(c, i);
    if (gone.live_weight > 0)
        retire(c, &gone);
    c->transition++;
    if (other_target(c, -1))
        return;
    /* Only leavers remain: nobody would be left to hand their slots to. */
    for (k = 0; k < c->nmembers; k++)
        c->members[k].weight = c->members[k].live_weight > 0 ? c->members[k].live_weight : 1;
}

/* The switch: when every member with a target weight has filled its
 * incoming slots, the target placement becomes the serving one. */
static void maybe_switch(paxos_config_t *c)
{
    uint32_t i, n;

    if (!paxos_config_in_transition(c))
        return;
    for (i = 0; i < c->nmembers; i++) {
        if (c->members[i].weight > 0 && c->members[i].ready != c->transition)
            return;
    }
    for (i = n = 0; i < c->nmembers; i++) {
        if (c->members[i].weight == 0)
            continue; /* a leaver: gone, it learns eff.removed */
        if (n != i)
            c->members[n] = c->members[i];
        c->members[n].live_weight = c->members[n].weight;
        n++;
    }
    memset(&c->members[n], 0, sizeof(c->members[0]) * (c->nmembers - n));
    c->nmembers = n;
    memset(c->retired, 0, sizeof(c->retired[0]) * c->nretired);
    c->nretired = 0;
}

int paxos_config_apply(paxos_config_t *c, const paxos_change_t *ch)
{
    int i = paxos_config_find(c, ch->id);

    if (!paxos__change_applies(c, ch))
        return 0;
    switch (ch->kind) {
    case PAXOS_CHANGE_JOIN:
        apply_join(c, ch);
        break;
    case PAXOS_CHANGE_WEIGHT:
        c->members[i].weight = ch->weight;
        c->transition++;
        break;
    case PAXOS_CHANGE_LEAVE:
        if (c->members[i].live_weight == 0)
            remove_member(c, i); /* it never served: nothing to hand off */
        else
            c->members[i].weight = 0;
        c->transition++;
        break;
    case PAXOS_CHANGE_READY:
        c->members[i].ready = ch->transition;
        break;
    default:
        apply_remove(c, i);
    }
    maybe_switch(c);
    return 1;
}

int paxos_config_add(paxos_config_t *c, uint64_t incarnation, const char *client_addr,
                     const char *bus_addr, uint32_t weight)
{
    paxos_change_t ch;

    memset(&ch, 0, sizeof(ch));
    ch.kind = PAXOS_CHANGE_JOIN;
    ch.incarnation = incarnation;
    ch.weight = weight;
    if (strlen(client_addr) >= PAXOS_ADDR_MAX || strlen(bus_addr) >= PAXOS_ADDR_MAX)
        return -EINVAL;
    strcpy(ch.client_addr, client_addr);
    strcpy(ch.bus_addr, bus_addr);
    if (c->next_id == 0)
        c->next_id = 1;
    if (paxos_change_check(&ch) != 0 || paxos_config_apply(c, &ch) != 1)
        return -EINVAL;
    /* A founder serves at once: a genesis is never in transition. */
    c->members[c->nmembers - 1].live_weight = weight;
    c->transition = 0;
    return 0;
}

static int member_equal(const paxos_member_t *a, const paxos_member_t *b)
{
    return a->id == b->id && a->incarnation == b->incarnation && a->weight == b->weight &&
           a->live_weight == b->live_weight && a->ready == b->ready && a->state == b->state &&
           strncmp(a->client_addr, b->client_addr, PAXOS_ADDR_MAX) == 0 &&
           strncmp(a->bus_addr, b->bus_addr, PAXOS_ADDR_MAX) == 0;
}

int paxos_config_equal(const paxos_config_t *a, const paxos_config_t *b)
{
    uint32_t i;

    if (a->epoch != b->epoch || a->next_id != b->next_id || a->replicas != b->replicas ||
        a->nrecent != b->nrecent || a->nmembers != b->nmembers || a->nrecent > PAXOS_MAX_RECENT ||
        a->nmembers > PAXOS_MAX_MEMBERS || a->transition != b->transition ||
        a->nretired != b->nretired || a->nretired > PAXOS_MAX_RETIRED)
        return 0;
    for (i = 0; i < a->nrecent; i++) {
        if (a->recent[i] != b->recent[i])
            return 0;
    }
    for (i = 0; i < a->nretired; i++) {
        if (a->retired[i].id != b->retired[i].id ||
            a->retired[i].incarnation != b->retired[i].incarnation ||
            a->retired[i].live_weight != b->retired[i].live_weight)
            return 0;
    }
    for (i = 0; i < a->nmembers; i++) {
        if (!member_equal(&a->members[i], &b->members[i]))
            return 0;
    }
    return 1;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t fnv64(uint64_t h, uint64_t v)
{
    unsigned char b[8];
    int i;

    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return fnv(h, b, 8);
}

uint64_t paxos_config_hash(const paxos_config_t *c)
{
    uint64_t h = 14695981039346656037ULL;
    uint32_t i;

    h = fnv64(h, c->epoch);
    h = fnv64(h, c->next_id);
    h = fnv64(h, c->replicas);
    for (i = 0; i < c->nrecent && i < PAXOS_MAX_RECENT; i++)
        h = fnv64(h, c->recent[i]);
    h = fnv64(h, c->transition);
    for (i = 0; i < c->nretired && i < PAXOS_MAX_RETIRED; i++) {
        h = fnv64(h, c->retired[i].id);
        h = fnv64(h, c->retired[i].incarnation);
        h = fnv64(h, c->retired[i].live_weight);
    }
    for (i = 0; i < c->nmembers && i < PAXOS_MAX_MEMBERS; i++) {
        const paxos_member_t *m = &c->members[i];

        h = fnv64(h, m->id);
        h = fnv64(h, m->incarnation);
        h = fnv64(h, ((uint64_t)m->weight << 8) | m->state);
        h = fnv64(h, m->live_weight);
        h = fnv64(h, m->ready);
        h = fnv(h, m->client_addr, strnlen(m->client_addr, PAXOS_ADDR_MAX));
        h = fnv64(h, 0);
        h = fnv(h, m->bus_addr, strnlen(m->bus_addr, PAXOS_ADDR_MAX));
    }
    return h;
}
