/* paxos/paxos_proposer.c: the proposer of the node's current instance.
 *
 *   PREPARE(b) --> majority of PROMISE --> ACCEPT(b, v) --> majority of
 *   ACCEPTED --> CHOSEN(v) to the members of C_e and C_{e+1}
 *
 * v is the highest-ballot value reported in the promises, or else C_e with
 * every pending change applied (one batch). The one rule: a ballot is used
 * for one value only, and its round is persisted (st.max_round) before any
 * PREPARE leaves, so a restarted node never reuses it. */
#include "paxos/paxos_internal.h"

#include <string.h>

#include "common/rc.h"

void paxos__proposer_reset(paxos_node_t *node)
{
    node->prop.phase = 0;
    node->prop.promises = node->prop.accepts = 0;
    node->prop.best.round = node->prop.best.node = 0;
}

static int majority(const paxos_config_t *c, uint64_t mask)
{
#if PAXOS_MUTATION == 7
    if (c->nmembers % 2 == 0) /* BUG: half is not a majority */
        return (uint32_t)__builtin_popcountll(mask) * 2 >= c->nmembers;
#endif
    return (uint32_t)__builtin_popcountll(mask) * 2 > c->nmembers;
}

/* Phase timeout, doubled for each failed ballot of this instance (up to
 * 16x): slow networks and duelling proposers settle instead of livelocking. */
static uint64_t backoff(const paxos_node_t *node)
{
    return node->p.phase_timeout << (node->failures < 4 ? node->failures : 4);
}

static uint64_t deadline(paxos_node_t *node, uint64_t now)
{
    return now + backoff(node) + paxos__random(node, backoff(node));
}

/* Delivers 'm' to every member of 'c' but this node. */
static void broadcast(paxos_node_t *node, const paxos_config_t *c, const paxos_msg_t *m)
{
    uint32_t i;

    for (i = 0; i < c->nmembers; i++) {
        if (c->members[i].id != node->st.id)
            paxos__send(node, c->members[i].id, c->members[i].bus_addr, m);
    }
}

/* This node's own acceptor answers directly, without the network. */
static void self_deliver(paxos_node_t *node, uint64_t now, const paxos_msg_t *m)
{
    paxos_msg_t out;
    paxos_step_t step;

    if (m->type == PAXOS_MSG_PREPARE)
        step = paxos_acceptor_on_prepare(&node->st, m, &out);
    else
        step = paxos_acceptor_on_accept(&node->st, m, &out);
    if (step == PAXOS_STEP_DROP)
        return;
    if (step == PAXOS_STEP_REPLY_DURABLE)
        paxos__persist(node);
    if (out.type == PAXOS_MSG_ACCEPTED && node->p.trace_accept != NULL)
        node->p.trace_accept(node->p.trace_arg, node->st.id, m);
    paxos__proposer_on_msg(node, now, &out);
}

void paxos__propose_start(paxos_node_t *node, uint64_t now)
{
    paxos_proposer_t *pr = &node->prop;
    const paxos_state_t *st = &node->st;
    uint64_t round;
    paxos_msg_t m;

    if (node->removed || !paxos__is_acceptor(st))
        return;
    round = node->max_seen_round;
    if (st->max_round > round)
        round = st->max_round;
    if (st->promised.round > round)
        round = st->promised.round;
    round++;
    node->st.max_round = round > st->max_round ? round : st->max_round;
    node->max_seen_round = node->st.max_round;
    paxos__persist(node); /* the round is durable before PREPARE leaves */
    paxos__proposer_reset(node);
    pr->phase = 1;
    pr->epoch = st->chosen.epoch;
    pr->ballot.round = round;
#if PAXOS_MUTATION == 2
    pr->ballot.node = 1; /* BUG: not unique: proposers reuse each other's ballots */
#else
    pr->ballot.node = st->id;
#endif
    pr->deadline = deadline(node, now);
    paxos__msg_init(node, &m, PAXOS_MSG_PREPARE, pr->epoch);
    m.ballot = pr->ballot;
    broadcast(node, &st->chosen, &m);
    self_deliver(node, now, &m);
}

/* Members of 'v' that just promised (bit i of 'mask' is member i of C_e). */
static uint32_t live_in(const paxos_config_t *ce, uint64_t mask, const paxos_config_t *v)
{
    uint32_t i, n = 0;

    for (i = 0; i < ce->nmembers; i++) {
        if ((mask >> i & 1) && paxos_config_find(v, ce->members[i].id) >= 0)
            n++;
    }
    return n;
}

/* Builds the next configuration from the pending changes. Returns 0 when
 * none of them changes anything. A failure removal is left for later when the
 * members that just promised would no longer be a majority of the result:
 * a configuration is born with a quorum known to be alive, so a batch of
 * removals cannot leave the chain with a dead majority. A switch (the
 * change that ends a transition) ends its batch: the rest waits for the
 * next instance, so a configuration that switches is the new placement
 * whole, which the simulator checks. */
static int build_value(paxos_node_t *node, paxos_config_t *v)
{
    const paxos_config_t *ce = &node->st.chosen;
    uint64_t mask = node->prop.promises;
    size_t i;
    int changed = 0, was;

    paxos__config_copy(v, ce);
    v->epoch++;
    for (i = 0; i < node->npending; i++) {
        const paxos_change_t *ch = &node->pending[i];
        int at = paxos_config_find(ce, ch->id);

        if (ch->kind == PAXOS_CHANGE_REMOVE && at >= 0 && (mask >> at & 1)) {
            /* It just promised: the failure report is stale. */
            node->pending[i--] = node->pending[--node->npending];
            continue;
        }
        if (ch->kind == PAXOS_CHANGE_REMOVE) {
            int idx = paxos_config_find(ce, ch->id);
            uint32_t live = live_in(ce, mask, v);

            if (idx >= 0 && (mask >> idx & 1))
                live--;
            if (paxos_config_find(v, ch->id) >= 0 && live * 2 <= v->nmembers - 1)
                continue;
        }
        was = paxos_config_in_transition(v);
        changed |= paxos_config_apply(v, ch);
        if (was && !paxos_config_in_transition(v))
            break;
    }
    return changed;
}

static void start_accept(paxos_node_t *node, uint64_t now)
{
    paxos_proposer_t *pr = &node->prop;
    paxos_msg_t m;

    if (pr->best.round == 0 && !build_value(node, &pr->value)) {
        paxos__proposer_reset(node); /* nothing to decide now */
        if (node->npending > 0)      /* removals held back: look again later */
            node->propose_at = now + node->p.takeover_timeout;
        return;
    }
    pr->phase = 2;
    pr->deadline = deadline(node, now);
    paxos__msg_init(node, &m, PAXOS_MSG_ACCEPT, pr->epoch);
    m.ballot = pr->ballot;
    m.has_value = 1;
    paxos__config_copy(&m.value, &pr->value);
    broadcast(node, &node->st.chosen, &m);
    self_deliver(node, now, &m);
}

static void decided(paxos_node_t *node, uint64_t now)
{
    paxos_config_t *v = rc_xmalloc(sizeof(*v));
    paxos_msg_t *m = rc_xmalloc(sizeof(*m));
    uint32_t i;

    paxos__config_copy(v, &node->prop.value);
    paxos__msg_init(node, m, PAXOS_MSG_CHOSEN, node->prop.epoch);
    m->has_value = 1;
    paxos__config_copy(&m->value, v);
    broadcast(node, &node->st.chosen, m);
    for (i = 0; i < v->nmembers; i++) {
        if (paxos_config_find(&node->st.chosen, v->members[i].id) < 0)
            paxos__send(node, v->members[i].id, v->members[i].bus_addr, m);
    }
    paxos__install(node, now, v);
    rc_free(m);
    rc_free(v);
}

void paxos__proposer_on_msg(paxos_node_t *node, uint64_t now, const paxos_msg_t *m)
{
    paxos_proposer_t *pr = &node->prop;
    const paxos_config_t *c = &node->st.chosen;
    int idx;

    if (m->ballot.round > node->max_seen_round)
        node->max_seen_round = m->ballot.round;
    if (pr->phase == 0 || m->epoch != pr->epoch || pr->epoch != c->epoch)
        return;
    idx = paxos_config_find(c, m->from);
    if (idx < 0)
        return; /* only members of C_e are acceptors of instance e */
    if (m->type == PAXOS_MSG_NACK) {
        if (paxos_ballot_cmp(m->ballot, pr->ballot) > 0) {
            /* Beaten: back off for a random while, then retry higher. */
            pr->phase = 3;
            node->failures++;
            pr->deadline = now + 1 + paxos__random(node, backoff(node));
        }
        return;
    }
    if (paxos_ballot_cmp(m->ballot, pr->ballot) != 0)
        return;
    if (m->type == PAXOS_MSG_PROMISE && pr->phase == 1) {
#if PAXOS_MUTATION == 9
        if (m->has_value && m->value.epoch == pr->epoch + 1 && paxos_config_check(&m->value) == 0) {
            paxos__install(node, now, &m->value); /* BUG: accepted is not chosen */
            return;
        }
#endif
#if PAXOS_MUTATION == 11
        if (m->has_value && pr->best.round == 0 && /* BUG: the first, not the highest */
#else
        if (m->has_value && paxos_ballot_cmp(m->accepted_ballot, pr->best) > 0 &&
#endif
            m->value.epoch == pr->epoch + 1 && paxos_config_check(&m->value) == 0) {
            pr->best = m->accepted_ballot;
            paxos__config_copy(&pr->value, &m->value);
        }
        pr->promises |= 1ULL << idx;
        if (majority(c, pr->promises))
            start_accept(node, now);
    } else if (m->type == PAXOS_MSG_ACCEPTED && pr->phase == 2) {
        pr->accepts |= 1ULL << idx;
        if (majority(c, pr->accepts))
            decided(node, now);
    }
}

void paxos__proposer_tick(paxos_node_t *node, uint64_t now)
{
    paxos_proposer_t *pr = &node->prop;

    if (pr->phase == 0 || now < pr->deadline)
        return;
    if (pr->epoch != node->st.chosen.epoch) {
        paxos__proposer_reset(node);
        return;
    }
    if (pr->phase != 3)
        node->failures++;            /* timed out */
    paxos__propose_start(node, now); /* a new, higher ballot */
}
