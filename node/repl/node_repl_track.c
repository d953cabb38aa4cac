/* node/repl/node_repl_track.c: acknowledgement accounting (rules in
 * node_repl_track.h). Each link keeps its unacknowledged writes in a ring
 * (write number, send time), oldest first; the committed watermark is the
 * smallest unacknowledged write over all links, minus one. */
#include "node/repl/node_repl_track.h"

#include <string.h>

#include "common/rc.h"

typedef struct pending_s {
    uint64_t w;
    int64_t sent_at;
} pending_t;

typedef struct link_s {
    uint64_t sent;  /* writes sent since the last reset */
    uint64_t acked; /* of those, applied */
    pending_t *q;   /* ring of sent - acked entries */
    size_t cap, head;
} link_t;

struct node_repl_track_s {
    size_t max_inflight;
    uint64_t last_w;
    link_t links[NODE_REPL_MAX_LINKS];
    uint64_t slot_last[NODE_REPL_SLOTS];
};

node_repl_track_t *node_repl_track_create(size_t max_inflight)
{
    node_repl_track_t *t = rc_xmalloc(sizeof(*t));

    memset(t, 0, sizeof(*t));
    if (max_inflight < 1)
        max_inflight = 1;
    if (max_inflight > NODE_REPL_MAX_INFLIGHT)
        max_inflight = NODE_REPL_MAX_INFLIGHT;
    t->max_inflight = max_inflight;
    return t;
}

void node_repl_track_destroy(node_repl_track_t *t)
{
    unsigned i;

    if (t == NULL)
        return;
    for (i = 0; i < NODE_REPL_MAX_LINKS; i++)
        rc_free(t->links[i].q);
    rc_free(t);
}

static size_t inflight(const link_t *l)
{
    return (size_t)(l->sent - l->acked);
}

/* Room for one more entry in 'l' (the ring doubles, up to the bound). */
static int reserve(node_repl_track_t *t, link_t *l)
{
    size_t n = inflight(l), cap, i;
    pending_t *q;

    if (n >= t->max_inflight)
        return -1;
    if (n < l->cap)
        return 0;
    cap = l->cap == 0 ? 64 : l->cap * 2;
    if (cap > t->max_inflight)
        cap = t->max_inflight;
    q = rc_xmalloc(cap * sizeof(*q));
    for (i = 0; i < n; i++)
        q[i] = l->q[(l->head + i) % l->cap];
    rc_free(l->q);
    l->q = q;
    l->cap = cap;
    l->head = 0;
    return 0;
}

uint64_t node_repl_track_write(node_repl_track_t *t, unsigned slot, const unsigned *links,
                               unsigned nlinks, int64_t now)
{
    unsigned i;
    uint64_t w;

    if (slot >= NODE_REPL_SLOTS)
        return 0;
    for (i = 0; i < nlinks; i++) {
        if (links[i] >= NODE_REPL_MAX_LINKS || reserve(t, &t->links[links[i]]) != 0)
            return 0;
    }
    w = ++t->last_w;
    for (i = 0; i < nlinks; i++) {
        link_t *l = &t->links[links[i]];
        pending_t *p = &l->q[(l->head + inflight(l)) % l->cap];

        p->w = w;
        p->sent_at = now;
        l->sent++;
    }
    t->slot_last[slot] = w;
    return w;
}

int node_repl_track_ack(node_repl_track_t *t, unsigned link, uint64_t count)
{
    link_t *l;
    uint64_t n;

    if (link >= NODE_REPL_MAX_LINKS)
        return -1;
    l = &t->links[link];
    if (count > l->sent)
        return -1;
    if (count <= l->acked)
        return 0; /* an older answer: nothing new */
    n = count - l->acked;
    l->head = (l->head + (size_t)n) % (l->cap == 0 ? 1 : l->cap);
    l->acked = count;
    return 0;
}

void node_repl_track_reset_link(node_repl_track_t *t, unsigned link)
{
    link_t *l;

    if (link >= NODE_REPL_MAX_LINKS)
        return;
    l = &t->links[link];
    l->sent = 0;
    l->acked = 0;
    l->head = 0;
}

uint64_t node_repl_track_committed(const node_repl_track_t *t)
{
    uint64_t low = t->last_w;
    unsigned i;

    for (i = 0; i < NODE_REPL_MAX_LINKS; i++) {
        const link_t *l = &t->links[i];

        if (inflight(l) > 0 && l->q[l->head].w - 1 < low)
            low = l->q[l->head].w - 1;
    }
    return low;
}

uint64_t node_repl_track_slot_last(const node_repl_track_t *t, unsigned slot)
{
    return slot < NODE_REPL_SLOTS ? t->slot_last[slot] : 0;
}

size_t node_repl_track_inflight(const node_repl_track_t *t, unsigned link)
{
    return link < NODE_REPL_MAX_LINKS ? inflight(&t->links[link]) : 0;
}

int node_repl_track_oldest(const node_repl_track_t *t, int64_t *sent_at)
{
    int best = -1;
    unsigned i;

    for (i = 0; i < NODE_REPL_MAX_LINKS; i++) {
        const link_t *l = &t->links[i];

        if (inflight(l) > 0 && (best < 0 || l->q[l->head].sent_at < *sent_at)) {
            best = (int)i;
            *sent_at = l->q[l->head].sent_at;
        }
    }
    return best;
}

node_repl_verdict_t node_repl_accept(uint64_t my_epoch, uint64_t batch_epoch)
{
    if (batch_epoch < my_epoch)
        return NODE_REPL_STALE;
    if (batch_epoch > my_epoch)
        return NODE_REPL_WAIT;
    return NODE_REPL_APPLY;
}
