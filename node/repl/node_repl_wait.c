/* node/repl/node_repl_wait.c: see node_repl_wait.h. */
#include "node/repl/node_repl_wait.h"

#include <string.h>

#include "common/rc.h"

/* Entries a drained ring may keep; a larger one is freed. */
#define NODE_REPL_RING_KEEP 256

/* Freed waiters kept for reuse (one per write under replication: freed one
 * by one they left 48-byte holes between keys that later keys filled at a
 * loss). The event loop's thread only. */
enum {
    WAITER_SPARE_MAX = 1024
};
static node_repl_waiter_t *spare; /* linked through 'token' */
static size_t nspare;

static node_repl_waiter_t *waiter_alloc(void)
{
    node_repl_waiter_t *w = spare;

    if (w == NULL)
        return rc_xcalloc(1, sizeof(*w));
    spare = w->token;
    nspare--;
    memset(w, 0, sizeof(*w));
    return w;
}

static void waiter_free(node_repl_waiter_t *w)
{
    if (nspare >= WAITER_SPARE_MAX) {
        rc_free(w);
        return;
    }
    w->token = spare;
    spare = w;
    nspare++;
}

static void finish(node_repl_waiter_t *w, int failed, const char *why)
{
    if (w->done)
        return;
    w->done = 1;
    w->fn(w->arg, w->token, failed, why);
}

/* Drops one reference: with 'why' the waiter fails now; without, it goes
 * (acknowledged) when the last reference does. */
static void unref(node_repl_waiter_t *w, const char *why)
{
    if (why != NULL)
        finish(w, 1, why);
    if (--w->refs == 0) {
        finish(w, 0, NULL);
        waiter_free(w);
    }
}

void node_repl_link_init(node_repl_link_t *l)
{
    l->sent = l->answered = l->last_error = 0;
    l->defer_lo = l->defer_hi = l->fail_lo = l->fail_hi = 0;
    l->q = NULL;
    l->qcap = l->qhead = l->qlen = 0;
}

/* Pops the waiters whose operations are answered; with 'why', all of them
 * (they fail). */
static void settle(node_repl_link_t *l, const char *why)
{
    while (l->qlen > 0) {
        node_repl_entry_t e = l->q[l->qhead];

        if (why == NULL && e.seq > l->answered)
            break;
        if (why == NULL && l->defer_hi != 0 && e.seq >= l->defer_lo)
            break; /* covers an answer whose verdict waits */
        l->qhead = (l->qhead + 1) & (l->qcap - 1);
        l->qlen--;
        if (why == NULL && e.refused)
            unref(e.w, "a replica refused the write");
        else
            unref(e.w, why);
    }
    if (l->qlen == 0 && l->qcap > NODE_REPL_RING_KEEP) {
        rc_free(l->q); /* a burst's ring goes once it drained */
        l->q = NULL;
        l->qcap = l->qhead = 0;
    }
}

void node_repl_link_trim(node_repl_link_t *l)
{
    if (l->qlen == 0 && l->q != NULL) {
        rc_free(l->q);
        l->q = NULL;
        l->qcap = l->qhead = 0;
    }
}

/* 1 when (first, seq] holds a refused operation the link knows of: the
 * last refusal, or the last range whose verdict came out refused. */
static int covers_refusal(const node_repl_link_t *l, uint64_t first, uint64_t seq)
{
    return (l->last_error > first && l->last_error <= seq) ||
           (l->fail_hi != 0 && l->fail_lo <= seq && l->fail_hi > first);
}

/* A refusal came: every queued entry it covers is marked, wherever it is
 * in the queue (refusals are rare: a scan each is cheap). */
static void mark_refused(node_repl_link_t *l)
{
    for (size_t i = 0; i < l->qlen; i++) {
        node_repl_entry_t *e = &l->q[(l->qhead + i) & (l->qcap - 1)];

        if (covers_refusal(l, e->first, e->seq))
            e->refused = 1;
    }
}

void node_repl_link_free(node_repl_link_t *l)
{
    settle(l, "the link to a replica closed");
    rc_free(l->q);
    node_repl_link_init(l);
}

uint64_t node_repl_link_sent(node_repl_link_t *l)
{
    return ++l->sent;
}

int node_repl_link_answer(node_repl_link_t *l, int ok)
{
    if (l->answered >= l->sent)
        return -1;
    l->answered++;
    if (ok == 2) {
        if (l->defer_hi == 0)
            l->defer_lo = l->answered;
        l->defer_hi = l->answered;
    } else if (!ok) {
        l->last_error = l->answered;
        mark_refused(l);
    }
    settle(l, NULL);
    return 0;
}

int node_repl_link_answer_applied(node_repl_link_t *l, uint64_t n)
{
    if (n > l->sent - l->answered)
        return -1;
    l->answered += n;
    settle(l, NULL); /* pops exactly what n settles, one at a time, would */
    return 0;
}

int node_repl_link_deferred(const node_repl_link_t *l)
{
    return l->defer_hi != 0;
}

void node_repl_link_resolve(node_repl_link_t *l, int ok)
{
    if (l->defer_hi == 0)
        return;
    if (!ok) {
        l->fail_lo = l->defer_lo;
        l->fail_hi = l->defer_hi;
        mark_refused(l);
    }
    l->defer_lo = l->defer_hi = 0;
    settle(l, NULL);
}

void node_repl_link_fail_all(node_repl_link_t *l, const char *why)
{
    size_t i;

    /* Fails them now; their entries stay until the link answers. */
    for (i = 0; i < l->qlen; i++)
        finish(l->q[(l->qhead + i) & (l->qcap - 1)].w, 1, why);
}

void node_repl_link_break(node_repl_link_t *l, const char *why)
{
    settle(l, why);
    l->answered = l->sent;
    l->defer_lo = l->defer_hi = 0;
}

void node_repl_link_forget(node_repl_link_t *l)
{
    l->answered = l->sent;
    l->last_error = 0;
    l->defer_lo = l->defer_hi = 0;
    settle(l, NULL);
}

uint64_t node_repl_link_lag(const node_repl_link_t *l)
{
    return l->sent - l->answered;
}

size_t node_repl_link_waiting(const node_repl_link_t *l)
{
    return l->qlen;
}

node_repl_waiter_t *node_repl_link_waiter(const node_repl_link_t *l, size_t i)
{
    return i < l->qlen ? l->q[(l->qhead + i) & (l->qcap - 1)].w : NULL;
}

node_repl_waiter_t *node_repl_waiter_new(void *token, node_repl_done_fn *fn, void *arg,
                                         int64_t since)
{
    node_repl_waiter_t *w = waiter_alloc();

    w->token = token;
    w->fn = fn;
    w->arg = arg;
    w->since = since;
    w->refs = 1; /* the caller's, until node_repl_waiter_commit() */
    return w;
}

void node_repl_waiter_on(node_repl_waiter_t *w, node_repl_link_t *l, uint64_t first, uint64_t seq)
{
    if (seq <= l->answered || seq > l->sent)
        return;
    if (l->qlen == l->qcap) {
        size_t cap = l->qcap ? l->qcap * 2 : 64, i;
        node_repl_entry_t *q = rc_xmalloc(cap * sizeof(*q));

        for (i = 0; i < l->qlen; i++)
            q[i] = l->q[(l->qhead + i) & (l->qcap - 1)];
        rc_free(l->q);
        l->q = q;
        l->qcap = cap;
        l->qhead = 0;
    }
    l->q[(l->qhead + l->qlen) & (l->qcap - 1)] =
        (node_repl_entry_t){w, first, seq, covers_refusal(l, first, seq)};
    l->qlen++;
    w->refs++;
}

void node_repl_waiter_extend(node_repl_waiter_t *w, node_repl_link_t *l, uint64_t first,
                             uint64_t seq)
{
    node_repl_entry_t *e;

    if (seq <= l->answered || seq > l->sent)
        return;
    e = l->qlen > 0 ? &l->q[(l->qhead + l->qlen - 1) & (l->qcap - 1)] : NULL;
    if (e == NULL || e->w != w || first > e->seq || seq < e->first) {
        /* Not its newest entry, or a gap between the two: the operations
         * in the gap are not its own (a refusal there must not fail it). */
        node_repl_waiter_on(w, l, first, seq);
        return;
    }
    if (first < e->first)
        e->first = first;
    if (seq > e->seq)
        e->seq = seq;
    e->refused |= covers_refusal(l, e->first, e->seq);
}

void node_repl_waiter_commit(node_repl_waiter_t *w)
{
    unref(w, NULL);
}

void node_repl_wait_fail(node_repl_waiter_t *w, const char *why)
{
    finish(w, 1, why);
}
