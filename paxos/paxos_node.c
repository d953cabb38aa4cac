/* paxos/paxos_node.c: one member of the chain: learner, request handling,
 * failure-detector input, timers and catch-up, around the acceptor and the
 * proposer. The one rule: every input is a function call that returns its
 * effects; the node never does I/O and never reads a clock. */
#include "paxos/paxos_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"

enum {
    CATCHUP_BATCH = 8,   /* CHOSEN messages per STATUS answer */
    CATCHUP_ROUNDS = 3,  /* full rounds over every known address before a SNAPSHOT */
    CATCHUP_CLEAN = 3,   /* or this many in which every known address said it lacks
                            the gap (relayed answers, two hops more, get time) */
    CATCHUP_PEERS = 128, /* distinct addresses a catch-up round goes through */
    CATCHUP_WAIT = 100,  /* and sync intervals without progress, at least,
                            unless every peer answered it lacks the gap */
    JOIN_SEED_WAIT = 3   /* sync intervals without an install before a joiner
                            that has a configuration also asks its seed */
};

void paxos_params_default(paxos_params_t *p, uint64_t incarnation, const char *client_addr,
                          const char *bus_addr, uint32_t weight, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    p->incarnation = incarnation;
    snprintf(p->client_addr, sizeof(p->client_addr), "%s", client_addr);
    snprintf(p->bus_addr, sizeof(p->bus_addr), "%s", bus_addr);
    p->weight = weight;
    p->seed = seed;
    p->batch_delay = 5;
    p->phase_timeout = 100;
    p->takeover_timeout = 300;
    p->sync_interval = 300;
}

/* splitmix64: the node's only source of randomness, seeded by the driver. */
uint64_t paxos__random(paxos_node_t *node, uint64_t bound)
{
    uint64_t z = (node->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return bound == 0 ? 0 : z % bound;
}

static void hist_put(paxos_node_t *node, const paxos_config_t *c)
{
    paxos__config_copy(&node->hist[c->epoch % PAXOS_HISTORY], c);
    node->hist_epoch[c->epoch % PAXOS_HISTORY] = c->epoch;
}

const paxos_config_t *paxos_node_config(const paxos_node_t *node, uint64_t epoch)
{
    if (epoch == 0 || epoch > node->st.chosen.epoch ||
        node->hist_epoch[epoch % PAXOS_HISTORY] != epoch)
        return NULL;
    return &node->hist[epoch % PAXOS_HISTORY];
}

/* A zeroed node but for the member arrays of its four configurations
 * (44 KB of its 50: members past 'nmembers' are unspecified, paxos.h),
 * which a calloc() cleared at every start. */
static paxos_node_t *node_alloc(void)
{
    static const size_t skip[] = {
        offsetof(paxos_node_t, st.accepted_value.members),
        offsetof(paxos_node_t, st.chosen.members),
        offsetof(paxos_node_t, prop.value.members),
        offsetof(paxos_node_t, offer.members),
    };
    const size_t len = sizeof(((paxos_config_t *)0)->members);
    paxos_node_t *node = rc_xmalloc(sizeof(*node));
    size_t at = 0, i;

    for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
        /* in ascending order, none overlapping (the struct's layout) */
        if (skip[i] < at) {
            memset(node, 0, sizeof(*node));
            return node;
        }
        memset((char *)node + at, 0, skip[i] - at);
        at = skip[i] + len;
    }
    memset((char *)node + at, 0, sizeof(*node) - at);
    return node;
}

/* The used part of a persisted state. */
static void state_copy(paxos_state_t *dst, const paxos_state_t *src)
{
    memcpy(dst, src, offsetof(paxos_state_t, accepted_value));
    paxos__config_copy(&dst->accepted_value, &src->accepted_value);
    paxos__config_copy(&dst->chosen, &src->chosen);
}

paxos_node_t *paxos_node_create(const paxos_params_t *params, const paxos_state_t *restored)
{
    paxos_node_t *node = node_alloc();

    node->p = *params;
    node->rng = params->seed ^ (params->incarnation * 0x2545f4914f6cdd1dULL);
    /* 724 KB, not zeroed: hist_epoch tells which slots hold what, so a
     * start touches only the pages it fills. */
    node->hist = rc_xmalloc(PAXOS_HISTORY * sizeof(*node->hist));
    node->st.incarnation = params->incarnation;
    if (restored != NULL) {
        state_copy(&node->st, restored);
        node->restored = 1;
#if PAXOS_MUTATION == 5
        node->st.promised = node->st.accepted; /* BUG: the promise is forgotten */
#endif
        if (node->st.chosen.epoch != 0)
            hist_put(node, &node->st.chosen);
        if (node->st.id != 0 && node->st.chosen.epoch != 0 &&
            paxos_config_find(&node->st.chosen, node->st.id) < 0)
            node->removed = 1;
    }
    node->max_seen_round = node->st.max_round;
    if (node->st.promised.round > node->max_seen_round)
        node->max_seen_round = node->st.promised.round;
    return node;
}

void paxos_node_destroy(paxos_node_t *node)
{
    if (node == NULL)
        return;
    rc_free(node->hist);
    rc_free(node->out);
    rc_free(node);
}

const paxos_state_t *paxos_node_state(const paxos_node_t *node)
{
    return &node->st;
}

uint64_t paxos_node_epoch(const paxos_node_t *node)
{
    return node->st.chosen.epoch;
}

uint64_t paxos_node_id(const paxos_node_t *node)
{
    return node->st.id;
}

size_t paxos_node_pending(const paxos_node_t *node)
{
    return node->npending;
}

int paxos_node_proposing(const paxos_node_t *node)
{
    return node->prop.phase != 0;
}

int paxos__is_dead(const paxos_node_t *node, uint64_t id)
{
    size_t i;

    if (id == node->st.id)
        return 0;
    for (i = 0; i < node->ndead; i++) {
        if (node->dead[i] == id)
            return 1;
    }
    return 0;
}

uint64_t paxos_node_coordinator(const paxos_node_t *node)
{
    const paxos_config_t *c = &node->st.chosen;
    uint32_t i;

    for (i = 0; i < c->nmembers; i++) {
        if (!paxos__is_dead(node, c->members[i].id))
            return c->members[i].id;
    }
    return 0;
}

int paxos_node_pop(paxos_node_t *node, paxos_out_t *out)
{
    if (node->out_len == 0)
        return 0;
    memcpy(out->addr, node->out[node->out_head].addr, PAXOS_ADDR_MAX);
    paxos__msg_copy(&out->msg, &node->out[node->out_head].msg);
    node->out_head = (node->out_head + 1) % node->out_cap;
    node->out_len--;
    return 1;
}

int paxos_node_next(paxos_node_t *node, const paxos_out_t **out)
{
    if (node->out_len == 0)
        return 0;
    *out = &node->out[node->out_head];
    node->out_head = (node->out_head + 1) % node->out_cap;
    node->out_len--;
    return 1;
}

/* The next outbox entry, addressed to 'to' at 'addr': the message is the
 * caller's to fill (paxos__send() copies one in; send_chosen() writes its
 * value there directly, saving a copy of a configuration per answer). */
static paxos_msg_t *send_slot(paxos_node_t *node, uint64_t to, const char *addr)
{
    paxos_out_t *o;
    size_t n;

    if (node->out_len == node->out_cap) {
        size_t cap = node->out_cap ? node->out_cap * 2 : 16, i;
        paxos_out_t *grown = rc_xmalloc(cap * sizeof(*grown));

        for (i = 0; i < node->out_len; i++) {
            const paxos_out_t *from = &node->out[(node->out_head + i) % node->out_cap];

            memcpy(grown[i].addr, from->addr, PAXOS_ADDR_MAX);
            paxos__msg_copy(&grown[i].msg, &from->msg);
        }
        rc_free(node->out);
        node->out = grown;
        node->out_cap = cap;
        node->out_head = 0;
    }
    o = &node->out[(node->out_head + node->out_len) % node->out_cap];
    node->out_len++;
    n = strnlen(addr, PAXOS_ADDR_MAX - 1);
    memcpy(o->addr, addr, n);
    o->addr[n] = '\0';
    o->msg.to = to;
    return &o->msg;
}

void paxos__send(paxos_node_t *node, uint64_t to, const char *addr, const paxos_msg_t *msg)
{
    paxos_msg_t *m = send_slot(node, to, addr);

    paxos__msg_copy(m, msg);
    m->to = to;
}

void paxos__msg_init(paxos_node_t *node, paxos_msg_t *m, uint8_t type, uint64_t epoch)
{
    paxos__msg_clear(m);
    m->type = type;
    m->epoch = epoch;
    m->from = node->st.id;
    memcpy(m->from_addr, node->p.bus_addr, PAXOS_ADDR_MAX);
}

void paxos__persist(paxos_node_t *node)
{
    node->eff->persist = 1;
}

void paxos__wake(paxos_node_t *node, uint64_t at)
{
    if (at != 0 && (node->eff->wake_at == 0 || at < node->eff->wake_at))
        node->eff->wake_at = at;
}

static void schedule(paxos_node_t *node, uint64_t now);

static void begin(paxos_node_t *node, uint64_t now, paxos_effects_t *eff)
{
    memset(eff, 0, sizeof(*eff));
    node->eff = eff;
#if PAXOS_MUTATION == 6
    if (node->late_persist) {
        eff->persist = 1; /* BUG: the ACCEPTED of the last call left before this */
        node->late_persist = 0;
    }
#endif
    if (node->installed_at == 0)
        node->installed_at = now;
    node->failures = 0; /* a restarted node counts from its start */
    if (node->next_sync == 0)
        node->next_sync = now + 1 + paxos__random(node, node->p.sync_interval);
    if (node->restored) {
        /* An accepted value on disk is work: without this, a cluster whose
         * members all restarted before they learned a decision waited for
         * the next change request to finish it (seed 744149). */
        node->restored = 0;
        schedule(node, now);
    }
}

static void finish(paxos_node_t *node)
{
    paxos_effects_t *eff = node->eff;

    eff->nsend = node->out_len;
    eff->removed = node->removed;
    paxos__wake(node, node->next_sync);
    paxos__wake(node, node->propose_at);
    paxos__wake(node, node->takeover_at);
    if (node->prop.phase != 0)
        paxos__wake(node, node->prop.deadline);
    node->eff = NULL;
}

static const paxos_member_t *member_of(const paxos_node_t *node, uint64_t id)
{
    int i = paxos_config_find(&node->st.chosen, id);

    return i < 0 ? NULL : &node->st.chosen.members[i];
}

static void send_request(paxos_node_t *node, uint64_t to, const char *addr,
                         const paxos_change_t *ch)
{
    paxos_msg_t m;

    paxos__msg_init(node, &m, PAXOS_MSG_REQUEST, node->st.chosen.epoch);
    m.change = *ch;
    paxos__send(node, to, addr, &m);
}

static void forward_pending(paxos_node_t *node, uint64_t coord)
{
    const paxos_member_t *m = member_of(node, coord);
    size_t i;

    if (m == NULL || coord == node->st.id)
        return;
    for (i = 0; i < node->npending; i++)
        send_request(node, m->id, m->bus_addr, &node->pending[i]);
}

static int has_work(const paxos_node_t *node)
{
    return node->npending > 0 || node->st.accepted.round != 0;
}

/* Arms the timer that gets pending work proposed: the coordinator batches
 * for batch_delay, the others wait a randomised takeover timeout. */
static void schedule(paxos_node_t *node, uint64_t now)
{
    if (node->removed || !paxos__is_acceptor(&node->st) || !has_work(node)) {
        node->propose_at = 0;
        node->takeover_at = 0;
        return;
    }
    if (paxos_node_coordinator(node) == node->st.id) {
        if (node->prop.phase == 0 && node->propose_at == 0)
            node->propose_at = now + node->p.batch_delay;
    } else if (node->takeover_at == 0) {
        node->takeover_at =
            now + node->p.takeover_timeout + paxos__random(node, node->p.takeover_timeout);
    }
}

/* After an install: drops the requests the new configuration makes no-ops,
 * and every failure removal. A removal is the judgement of the previous
 * configuration's monitors, made on what they heard then; carried over, it
 * would remove a member that a later majority hears well (a report formed in
 * a minority cut off while the majority moved on). The failure detector
 * reports again on the new configuration if the member is still silent. */
static void drop_decided(paxos_node_t *node)
{
    size_t i, n = 0;

    for (i = 0; i < node->npending; i++) {
        if ((node->pending[i].kind != PAXOS_CHANGE_REMOVE || PAXOS_MUTATION == 15) &&
            paxos__change_applies(&node->st.chosen, &node->pending[i]))
            node->pending[n++] = node->pending[i];
    }
    node->npending = n;
}

void paxos__install(paxos_node_t *node, uint64_t now, const paxos_config_t *c)
{
    paxos_effects_t *eff = node->eff;

    RC_ASSERT(c->epoch > node->st.chosen.epoch);
    if (node->st.chosen.epoch != 0 && c->epoch != node->st.chosen.epoch + 1)
        eff->snapshot = 1;
    paxos__config_copy(&node->st.chosen, c);
    node->installed_at = now;
    node->failures = 0;
    node->asked = 0; /* progress: a new catch-up round starts */
    node->rounds = 0;
    node->nnacked = 0;
    node->clean_rounds = 0;
    if (node->has_offer && node->offer.epoch <= c->epoch)
        node->has_offer = 0;
    node->st.promised.round = node->st.promised.node = 0;
    node->st.accepted.round = node->st.accepted.node = 0;
    hist_put(node, c);
    if (eff->installed_from == 0)
        eff->installed_from = c->epoch;
    eff->installed_to = c->epoch;
    if (node->st.id == 0) {
        uint32_t i;

        for (i = 0; i < c->nmembers; i++) {
            if (c->members[i].incarnation == node->st.incarnation &&
                strcmp(c->members[i].bus_addr, node->p.bus_addr) == 0) {
                node->st.id = c->members[i].id;
                node->joining = 0;
                if (node->st.max_round < node->max_seen_round)
                    node->st.max_round = node->max_seen_round;
            }
        }
        for (i = 0; node->st.id == 0 && i < c->nrecent; i++) {
            if (c->recent[i] == node->st.incarnation)
                node->removed = 1; /* joined and removed before it heard */
        }
    } else if (paxos_config_find(c, node->st.id) < 0) {
        node->removed = 1;
    }
    paxos__persist(node);
    paxos__proposer_reset(node);
    node->propose_at = 0;
    node->takeover_at = 0;
    if (node->removed)
        node->npending = 0;
    drop_decided(node);
    schedule(node, now);
    if (node->npending > 0 && paxos_node_coordinator(node) != node->st.id)
        forward_pending(node, paxos_node_coordinator(node));
}

int paxos_node_bootstrap(paxos_node_t *node, uint64_t now, const paxos_config_t *genesis,
                         paxos_effects_t *eff)
{
    if (node->st.chosen.epoch != 0 || genesis->epoch != 1 || paxos_config_check(genesis) != 0)
        return -EINVAL;
    begin(node, now, eff);
    paxos__install(node, now, genesis);
    finish(node);
    return 0;
}

/* A joiner asks a member of its latest configuration (its seed until it has
 * one) for the chain and for its JOIN. That configuration can name only
 * nodes that are no longer members: a joiner restarted from disk, or a
 * rejoiner, whose latest configuration's members all lost their disks and
 * became joiners at the same epoch asked only each other forever (seed
 * 759593). So after JOIN_SEED_WAIT sync intervals without an install, it
 * also asks its seed, the address it was last given, which answers with
 * the configurations after ours (or a SNAPSHOT) and starts catch-up. */
static void join_ask(paxos_node_t *node, uint64_t now)
{
    paxos_change_t ch;
    paxos_msg_t m;
    const char *addr = node->seed_addr;
    uint64_t to = 0;

    paxos__msg_init(node, &m, PAXOS_MSG_STATUS, node->st.chosen.epoch);
    if (node->st.chosen.epoch != 0) {
        const paxos_config_t *c = &node->st.chosen;
        const paxos_member_t *mem = &c->members[paxos__random(node, c->nmembers)];

        addr = mem->bus_addr;
        to = mem->id;
        if (now >= node->installed_at + JOIN_SEED_WAIT * node->p.sync_interval &&
            node->seed_addr[0] != '\0' && strcmp(node->seed_addr, addr) != 0 &&
            strcmp(node->seed_addr, node->p.bus_addr) != 0)
            paxos__send(node, 0, node->seed_addr, &m);
    }
    paxos__send(node, to, addr, &m);
    memset(&ch, 0, sizeof(ch));
    ch.kind = PAXOS_CHANGE_JOIN;
    ch.incarnation = node->st.incarnation;
    ch.weight = node->p.weight;
    memcpy(ch.client_addr, node->p.client_addr, PAXOS_ADDR_MAX);
    memcpy(ch.bus_addr, node->p.bus_addr, PAXOS_ADDR_MAX);
    send_request(node, to, addr, &ch);
}

void paxos_node_join(paxos_node_t *node, uint64_t now, const char *seed_addr, paxos_effects_t *eff)
{
    begin(node, now, eff);
    if (node->st.id == 0) {
        node->joining = 1;
        /* The token is durable before the request leaves: a joiner that
         * crashes comes back with it and finds the id it may have got. */
        paxos__persist(node);
        snprintf(node->seed_addr, sizeof(node->seed_addr), "%s", seed_addr);
        join_ask(node, now);
        node->next_sync = now + node->p.sync_interval;
    }
    finish(node);
}

int paxos_node_rejoin(paxos_node_t *node, uint64_t now, uint64_t incarnation, const char *seed_addr,
                      paxos_effects_t *eff)
{
    if (!node->removed || incarnation == 0 || incarnation == node->st.incarnation)
        return -EINVAL;
    node->st.id = 0;
    node->st.incarnation = incarnation;
    node->p.incarnation = incarnation;
    node->st.promised.round = node->st.promised.node = 0;
    node->st.accepted.round = node->st.accepted.node = 0;
    node->removed = 0;
    node->follow = 0;
    node->npending = 0;
    node->ndead = 0;
    paxos__proposer_reset(node);
    node->propose_at = node->takeover_at = 0;
    paxos_node_join(node, now, seed_addr, eff);
    eff->persist = 1;
    return 0;
}

/* Sends the decisions of instances 'from' onwards (configurations from+1..)
 * that this node still keeps, to a node that is behind. Returns 0 if it
 * keeps none of them (it sent a SNAPSHOT instead). */
static int send_chosen(paxos_node_t *node, uint64_t from, uint64_t to, const char *addr)
{
    uint64_t e = node->st.chosen.epoch, i;
    paxos_msg_t *m;

    if (from == 0 && e > 0)
        from = e - 1; /* a newcomer starts from the latest configuration */
    for (i = from; i < e && i < from + CATCHUP_BATCH; i++) {
        const paxos_config_t *c = paxos_node_config(node, i + 1);

        if (c == NULL) {
            /* Nobody may keep what it missed: hand over the latest. */
            m = send_slot(node, to, addr);
            paxos__msg_init(node, m, PAXOS_MSG_SNAPSHOT, e - 1);
            m->to = to;
            m->has_value = 1;
            paxos__config_copy(&m->value, &node->st.chosen);
            return i != from;
        }
        m = send_slot(node, to, addr);
        paxos__msg_init(node, m, PAXOS_MSG_CHOSEN, i);
        m->to = to;
        m->has_value = 1;
        paxos__config_copy(&m->value, c);
    }
    return 1;
}

/* Some node installed 'epoch', newer than ours: catch-up starts (asking
 * peers in turn from the next sync tick, which comes sooner while behind). */
static void note_behind(paxos_node_t *node, uint64_t now, uint64_t epoch)
{
    uint64_t soon = now + 1 + node->p.sync_interval / 4;

    if (epoch <= node->st.chosen.epoch)
        return;
    if (epoch > node->behind)
        node->behind = epoch;
    if (node->next_sync > soon)
        node->next_sync = soon;
}

static uint64_t addr_hash(const char *addr)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *addr != '\0'; addr++)
        h = (h ^ (uint8_t)*addr) * 1099511628211ULL;
    return h;
}

/* Remembers the address of a non-member that sent 'in'. */
static void note_heard(paxos_node_t *node, const paxos_msg_t *in)
{
    unsigned i;

    if ((in->from != 0 && paxos_config_find(&node->st.chosen, in->from) >= 0) ||
        strcmp(in->from_addr, node->p.bus_addr) == 0)
        return;
    for (i = 0; i < RC_ARRAY_SIZE(node->heard); i++) {
        if (strcmp(node->heard[i], in->from_addr) == 0)
            return;
    }
    memcpy(node->heard[node->heard_next], in->from_addr, PAXOS_ADDR_MAX);
    node->heard_next = (node->heard_next + 1) % RC_ARRAY_SIZE(node->heard);
}

static void add_peer(const paxos_node_t *node, const paxos_config_t *c,
                     char (*addrs)[PAXOS_ADDR_MAX], uint64_t *ids, size_t *n)
{
    uint32_t k;
    size_t j;

    for (k = 0; k < c->nmembers && *n < CATCHUP_PEERS; k++) {
        const paxos_member_t *m = &c->members[k];

        if (strcmp(m->bus_addr, node->p.bus_addr) == 0)
            continue;
        for (j = 0; j < *n && strcmp(addrs[j], m->bus_addr) != 0; j++)
            ;
        if (j == *n) {
            memcpy(addrs[*n], m->bus_addr, PAXOS_ADDR_MAX);
            ids[(*n)++] = m->id;
        }
    }
}

/* Fills the distinct bus addresses other than ours of the offered, the
 * installed and every kept configuration (newest first). Returns how many. */
static size_t known_peers(const paxos_node_t *node, char (*addrs)[PAXOS_ADDR_MAX], uint64_t *ids)
{
    uint64_t e = node->st.chosen.epoch, k;
    size_t n = 0;

    if (node->has_offer)
        add_peer(node, &node->offer, addrs, ids, &n);
    for (k = 0; k < PAXOS_HISTORY && k < e; k++) {
        const paxos_config_t *c = paxos_node_config(node, e - k);

        if (c != NULL)
            add_peer(node, c, addrs, ids, &n);
    }
    return n;
}

/* We cannot serve the STATUS 'in' of a node that is behind: pass it on, as
 * is (the answer goes straight to the requester), to the nodes that may keep
 * what it missed and that it may not know of: the non-members we heard from
 * (joiners, removed nodes) and every member of every configuration we keep.
 * The requester knows only its own old configurations and the newest one
 * offered; a node that was a member only in between (joined after the
 * requester fell behind, removed before the offer) is named by our older
 * configurations alone. One hop, and rate limited per requester. */
static void relay_status(paxos_node_t *node, uint64_t now, const paxos_msg_t *in)
{
    char addrs[CATCHUP_PEERS][PAXOS_ADDR_MAX]; /* 8 KiB */
    uint64_t ids[CATCHUP_PEERS];
    uint64_t h = addr_hash(in->from_addr);
    size_t n, i, j;

    /* One hop only: relayed copies go out with 'to' 0, and only a STATUS
     * addressed to this member by id is relayed. */
    if (in->to == 0 || in->to != node->st.id)
        return;
    if (h == node->relay_hash && in->epoch == node->relay_epoch &&
        now < node->relay_at + node->p.sync_interval / 4)
        return;
    node->relay_hash = h;
    node->relay_epoch = in->epoch;
    node->relay_at = now;
    n = known_peers(node, addrs, ids);
    for (i = 0; i < RC_ARRAY_SIZE(node->heard) && n < CATCHUP_PEERS; i++) {
        if (node->heard[i][0] == '\0')
            continue;
        for (j = 0; j < n && strcmp(addrs[j], node->heard[i]) != 0; j++)
            ;
        if (j == n)
            memcpy(addrs[n++], node->heard[i], PAXOS_ADDR_MAX);
    }
    for (i = 0; i < n; i++) {
        if (strcmp(addrs[i], in->from_addr) != 0)
            paxos__send(node, 0, addrs[i], in);
    }
}

/* The peer at 'addr' answered without the configuration after ours. */
static void note_nack(paxos_node_t *node, const char *addr)
{
    uint64_t h = addr_hash(addr);
    unsigned i;

    for (i = 0; i < node->nnacked; i++) {
        if (node->nacked[i] == h)
            return;
    }
    if (node->nnacked < RC_ARRAY_SIZE(node->nacked))
        node->nacked[node->nnacked++] = h;
}

static int nacked(const paxos_node_t *node, const char *addr)
{
    uint64_t h = addr_hash(addr);
    unsigned i;

    for (i = 0; i < node->nnacked; i++) {
        if (node->nacked[i] == h)
            return 1;
    }
    return 0;
}

/* We are behind the sender: ask it for what we missed (rate limited). */
static void ask_catchup(paxos_node_t *node, uint64_t now, const paxos_msg_t *in)
{
    paxos_msg_t m;

    note_behind(node, now, in->epoch);
    if (node->last_status_at != 0 && now < node->last_status_at + 10)
        return;
    node->last_status_at = now;
    paxos__msg_init(node, &m, PAXOS_MSG_STATUS, node->st.chosen.epoch);
    paxos__send(node, in->from, in->from_addr, &m);
}

static void on_acceptor_msg(paxos_node_t *node, uint64_t now, const paxos_msg_t *in)
{
    paxos_msg_t out;
    paxos_step_t step;

    if (in->ballot.round > node->max_seen_round)
        node->max_seen_round = in->ballot.round;
    if (in->type == PAXOS_MSG_ACCEPT &&
        (paxos_config_check(&in->value) != 0 || in->value.epoch != in->epoch + 1))
        return; /* a value must be the next configuration */
    if (in->type == PAXOS_MSG_PREPARE)
        step = paxos_acceptor_on_prepare(&node->st, in, &out);
    else
        step = paxos_acceptor_on_accept(&node->st, in, &out);
    if (step == PAXOS_STEP_DROP)
        return;
    if (step == PAXOS_STEP_REPLY_DURABLE) {
#if PAXOS_MUTATION == 6
        if (out.type == PAXOS_MSG_ACCEPTED)
            node->late_persist = 1; /* BUG: persisted after the reply */
        else
            paxos__persist(node);
#else
        paxos__persist(node);
#endif
    }
    if (out.type == PAXOS_MSG_ACCEPTED && node->p.trace_accept != NULL)
        node->p.trace_accept(node->p.trace_arg, node->st.id, in);
    paxos__send(node, in->from, in->from_addr, &out);
#if PAXOS_MUTATION == 3
    if (in->type == PAXOS_MSG_ACCEPT && out.type == PAXOS_MSG_ACCEPTED &&
        in->value.epoch == node->st.chosen.epoch + 1) {
        paxos__install(node, now, &in->value); /* BUG: accepted is not chosen */
        return;
    }
#endif
    schedule(node, now); /* an accepted value is work until it is chosen */
}

static void on_chosen(paxos_node_t *node, uint64_t now, const paxos_msg_t *in)
{
    uint64_t e = node->st.chosen.epoch;

    /* An earlier decision than the installed one is of no use, valid or
     * not, so it is not checked (in the simulator, a quarter of the CHOSEN
     * and SNAPSHOT messages: catch-up answers that crossed, duplicates). */
    if (e != 0 && in->epoch < e)
        return;
    if (!in->has_value || paxos_config_check(&in->value) != 0 || in->value.epoch != in->epoch + 1)
        return;
    if (e == 0 || in->epoch == e) {
        paxos__install(node, now, &in->value);
    } else if (in->type == PAXOS_MSG_SNAPSHOT && in->epoch > e) {
        /* A SNAPSHOT skips epochs: keep the newest offer; catchup_step()
         * takes it only when no peer sent what was missed (sender has not). */
        if (!node->has_offer || in->value.epoch > node->offer.epoch) {
            paxos__config_copy(&node->offer, &in->value);
            node->has_offer = 1;
        }
        note_behind(node, now, in->value.epoch);
        note_nack(node, in->from_addr);
    } else if (in->epoch > e)
        ask_catchup(node, now, in);
}

/* Returns 1 if 'ch' is new here (a repeat only updates the weight, or the
 * transition of a READY: the latest one wins). */
static int add_pending(paxos_node_t *node, const paxos_change_t *ch)
{
    size_t i;

    for (i = 0; i < node->npending; i++) {
        paxos_change_t *p = &node->pending[i];

        if (p->kind == ch->kind && p->id == ch->id && p->incarnation == ch->incarnation) {
            p->weight = ch->weight; /* the latest weight wins */
            p->transition = ch->transition;
            return 0;
        }
    }
    if (node->npending == PAXOS_MAX_PENDING)
        return 0;
    node->pending[node->npending++] = *ch;
    return 1;
}

/* 1 if 'in' is a failure removal that was not made in this node's epoch by
 * a member of it: void (see drop_decided()). Requests carry the sender's
 * installed epoch. */
static int stale_removal(const paxos_node_t *node, const paxos_msg_t *in)
{
#if PAXOS_MUTATION == 15
    return 0; /* BUG: a removal of any epoch, from anybody, is taken */
#endif
    return in->change.kind == PAXOS_CHANGE_REMOVE &&
           (in->epoch != node->st.chosen.epoch ||
            paxos_config_find(&node->st.chosen, in->from) < 0);
}

static void on_request(paxos_node_t *node, uint64_t now, const paxos_msg_t *in)
{
    if (node->removed || !paxos__is_acceptor(&node->st) || paxos_change_check(&in->change) != 0 ||
        stale_removal(node, in) || !paxos__change_applies(&node->st.chosen, &in->change))
        return;
    if (add_pending(node, &in->change)) {
        uint64_t coord = paxos_node_coordinator(node);
        const paxos_member_t *m = member_of(node, coord);

        /* Forward once: a repeat is not forwarded again, so differing
         * views of who coordinates cannot make requests circle. */
        if (m != NULL && coord != node->st.id)
            send_request(node, m->id, m->bus_addr, &in->change);
    }
    schedule(node, now);
}

void paxos_node_on_msg(paxos_node_t *node, uint64_t now, const paxos_msg_t *msg,
                       paxos_effects_t *eff)
{
    uint64_t e = node->st.chosen.epoch;

    begin(node, now, eff);
    if (msg->from_addr[PAXOS_ADDR_MAX - 1] != '\0' &&
        memchr(msg->from_addr, '\0', PAXOS_ADDR_MAX) == NULL)
        goto done; /* not from the codec: an unterminated address */
    if (msg->to != 0 && msg->to != node->st.id && msg->type <= PAXOS_MSG_NACK)
        goto done; /* ballots for an earlier owner of this address */
    switch (msg->type) {
    case PAXOS_MSG_PREPARE:
    case PAXOS_MSG_ACCEPT:
#if PAXOS_MUTATION == 10
        if (msg->epoch > e && e != 0 && paxos__is_acceptor(&node->st) && !node->removed) {
            /* BUG: takes the epoch on the sender's word, without C_epoch */
            node->st.chosen.epoch = msg->epoch;
            node->st.promised.round = node->st.promised.node = 0;
            node->st.accepted.round = node->st.accepted.node = 0;
            paxos__proposer_reset(node);
            on_acceptor_msg(node, now, msg);
            break;
        }
#endif
        if (msg->epoch > e)
            ask_catchup(node, now, msg);
        else if (msg->epoch < e && PAXOS_MUTATION != 4)
            send_chosen(node, msg->epoch, msg->from, msg->from_addr);
        else
            on_acceptor_msg(node, now, msg);
        break;
    case PAXOS_MSG_PROMISE:
    case PAXOS_MSG_ACCEPTED:
    case PAXOS_MSG_NACK:
        paxos__proposer_on_msg(node, now, msg);
        break;
    case PAXOS_MSG_CHOSEN:
    case PAXOS_MSG_SNAPSHOT:
        on_chosen(node, now, msg);
        break;
    case PAXOS_MSG_STATUS:
        if (msg->epoch != 0 && msg->epoch <= e)
            note_nack(node, msg->from_addr); /* it lacks C_{e+1} too */
        note_heard(node, msg);
        if (msg->epoch < e && !send_chosen(node, msg->epoch, msg->from, msg->from_addr))
            relay_status(node, now, msg);
        else if (msg->epoch > e)
            ask_catchup(node, now, msg);
        break;
    case PAXOS_MSG_REQUEST:
        note_heard(node, msg);
        if (msg->epoch > e)
            ask_catchup(node, now, msg);
        on_request(node, now, msg);
        break;
    default:
        break;
    }
done:
    finish(node);
}

/* One catch-up step of a node that is behind: ask the next known peer for
 * what was missed. Every node that keeps the next configurations answers
 * with them, so a SNAPSHOT (a chosen configuration, skipping epochs) is
 * taken only after CATCHUP_ROUNDS full rounds over every address of every
 * known configuration, and CATCHUP_WAIT sync intervals (partitions come and
 * go), brought no progress: no reachable node kept them. */
static void catchup_step(paxos_node_t *node, uint64_t now)
{
    char addrs[CATCHUP_PEERS][PAXOS_ADDR_MAX]; /* 8 KiB */
    uint64_t ids[CATCHUP_PEERS];
    size_t n = known_peers(node, addrs, ids), i;
    paxos_msg_t msg;

    if (n == 0 || node->asked >= n) {
        int all = 1;

        for (i = 0; i < n && all; i++)
            all = nacked(node, addrs[i]);
        node->clean_rounds = all ? node->clean_rounds + 1 : 0;
        node->asked = 0;
        node->nnacked = 0;
        /* Only rounds that end after the wait count. */
        if (now >= node->installed_at + CATCHUP_WAIT * node->p.sync_interval)
            node->rounds++;
        if ((node->clean_rounds >= CATCHUP_CLEAN || node->rounds >= CATCHUP_ROUNDS) &&
            node->has_offer && node->offer.epoch > node->st.chosen.epoch) {
            paxos__install(node, now, &node->offer);
            return;
        }
        if (n == 0)
            return;
    }
    i = node->rr++ % n;
    node->asked++;
    paxos__msg_init(node, &msg, PAXOS_MSG_STATUS, node->st.chosen.epoch);
    paxos__send(node, ids[i], addrs[i], &msg);
}

static void sync_tick(paxos_node_t *node, uint64_t now)
{
    const paxos_config_t *c = &node->st.chosen;
    const paxos_member_t *m;
    paxos_msg_t msg;

    if (node->joining) {
        join_ask(node, now);
        if (node->behind > c->epoch && c->epoch != 0)
            catchup_step(node, now); /* a rejoiner keeps its chain */
        return;
    }
    if (node->removed) {
        /* A follower asks a member of the last configuration it knows;
         * the CHOSEN it gets back are installed (on_chosen()). */
        if (node->follow && c->nmembers > 0) {
            m = &c->members[paxos__random(node, c->nmembers)];
            paxos__msg_init(node, &msg, PAXOS_MSG_STATUS, c->epoch);
            paxos__send(node, m->id, m->bus_addr, &msg);
        }
        return;
    }
    if (node->behind > c->epoch && c->epoch != 0) {
        catchup_step(node, now);
        return;
    }
    if (c->epoch == 0 || c->nmembers < 2)
        return;
    m = &c->members[paxos__random(node, c->nmembers)];
    if (m->id == node->st.id)
        return;
    paxos__msg_init(node, &msg, PAXOS_MSG_STATUS, c->epoch);
    paxos__send(node, m->id, m->bus_addr, &msg);
}

void paxos_node_follow(paxos_node_t *node, int on)
{
    node->follow = on != 0;
}

void paxos_node_note_epoch(paxos_node_t *node, uint64_t now, uint64_t epoch, paxos_effects_t *eff)
{
    note_behind(node, now, epoch);
    paxos_node_tick(node, now, eff);
}

void paxos_node_tick(paxos_node_t *node, uint64_t now, paxos_effects_t *eff)
{
    begin(node, now, eff);
    if (now >= node->next_sync) {
        node->next_sync = now + node->p.sync_interval;
        sync_tick(node, now);
        if (node->behind > node->st.chosen.epoch && node->st.chosen.epoch != 0)
            node->next_sync = now + 1 + node->p.sync_interval / 4;
    }
    if (node->propose_at != 0 && now >= node->propose_at) {
        node->propose_at = 0;
        if (node->prop.phase == 0 && has_work(node))
            paxos__propose_start(node, now);
    }
    if (node->takeover_at != 0 && now >= node->takeover_at) {
        node->takeover_at = 0;
        if (has_work(node) && !node->removed) {
            forward_pending(node, paxos_node_coordinator(node));
            if (node->prop.phase == 0)
                paxos__propose_start(node, now);
            schedule(node, now);
        }
    }
    paxos__proposer_tick(node, now);
    finish(node);
}

void paxos_node_on_fd(paxos_node_t *node, uint64_t now, uint64_t id, int alive,
                      paxos_effects_t *eff)
{
    size_t i;

    begin(node, now, eff);
    for (i = 0; i < node->ndead; i++) {
        if (node->dead[i] == id)
            break;
    }
    if (alive) {
        size_t n = 0;

        if (i < node->ndead)
            node->dead[i] = node->dead[--node->ndead];
        for (i = 0; i < node->npending; i++) {
            const paxos_change_t *p = &node->pending[i];

            if (!(p->kind == PAXOS_CHANGE_REMOVE && p->id == id))
                node->pending[n++] = *p;
        }
        node->npending = n;
    } else if (id != node->st.id) {
        const paxos_member_t *m = member_of(node, id);

        if (i == node->ndead && node->ndead < PAXOS_MAX_MEMBERS)
            node->dead[node->ndead++] = id;
        if (m != NULL && !node->removed && paxos__is_acceptor(&node->st)) {
            paxos_change_t ch;

            memset(&ch, 0, sizeof(ch));
            ch.kind = PAXOS_CHANGE_REMOVE;
            ch.id = m->id;
            ch.incarnation = m->incarnation;
            if (paxos__change_applies(&node->st.chosen, &ch)) {
                add_pending(node, &ch);
                forward_pending(node, paxos_node_coordinator(node));
            }
        }
    }
    schedule(node, now);
    finish(node);
}

int paxos_node_request(paxos_node_t *node, uint64_t now, const paxos_change_t *change,
                       paxos_effects_t *eff)
{
    uint64_t coord;

    if (paxos_change_check(change) != 0)
        return -EINVAL;
    if (node->npending >= PAXOS_MAX_PENDING)
        return -ENOSPC;
    begin(node, now, eff);
    if (!node->removed && paxos__is_acceptor(&node->st) &&
        paxos__change_applies(&node->st.chosen, change)) {
        add_pending(node, change);
        coord = paxos_node_coordinator(node);
        if (coord != node->st.id) {
            const paxos_member_t *m = member_of(node, coord);

            if (m != NULL)
                send_request(node, m->id, m->bus_addr, change);
        }
        schedule(node, now);
    }
    finish(node);
    return 0;
}
