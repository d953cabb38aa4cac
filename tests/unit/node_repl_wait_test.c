/* tests/unit/node_repl_wait_test.c: node/repl/node_repl_wait.c, the replies
 * that wait for replicas. The rules under test: a reply goes exactly once;
 * acknowledged only when every link it waits on has answered its last
 * operation there with none of its own operations refused; failed at once
 * when a link breaks, one of its operations is refused, or it times out;
 * never before an earlier reply on the same link. A random schedule is
 * checked against a naive model of the same rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "node/repl/node_repl_wait.h"

enum {
    MAX_DONE = 4096,
};

typedef struct done_s {
    int n;
    int order[MAX_DONE];  /* tokens, in the order their replies went */
    int failed[MAX_DONE]; /* by token */
    int times[MAX_DONE];  /* by token: how often it went */
} done_t;

static void on_done(void *arg, void *token, int failed, const char *why)
{
    done_t *d = arg;
    int t = (int)(intptr_t)token;

    assert_non_null(why == NULL ? "" : why);
    assert_true(failed ? why != NULL : why == NULL);
    d->order[d->n++] = t;
    d->failed[t] = failed;
    d->times[t]++;
}

static node_repl_waiter_t *waiter(done_t *d, int token)
{
    return node_repl_waiter_new((void *)(intptr_t)token, on_done, d, 0);
}

static void test_no_link_goes_at_once(void **state)
{
    done_t *d = calloc(1, sizeof(*d));
    node_repl_waiter_t *w = waiter(d, 1);

    (void)state;
    node_repl_waiter_commit(w);
    assert_int_equal(d->n, 1);
    assert_int_equal(d->failed[1], 0);
    free(d);
}

static void test_waits_for_every_link(void **state)
{
    done_t *d = calloc(1, sizeof(*d));
    node_repl_link_t a, b;
    node_repl_waiter_t *w;
    uint64_t sa, sb;

    (void)state;
    node_repl_link_init(&a);
    node_repl_link_init(&b);
    sa = node_repl_link_sent(&a);
    sb = node_repl_link_sent(&b);
    w = waiter(d, 1);
    node_repl_waiter_on(w, &a, sa - 1, sa);
    node_repl_waiter_on(w, &b, sb - 1, sb);
    node_repl_waiter_commit(w);
    assert_int_equal(d->n, 0);
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->n, 0); /* b has not applied it */
    assert_int_equal(node_repl_link_answer(&b, 1), 0);
    assert_int_equal(d->n, 1);
    assert_int_equal(d->failed[1], 0);
    /* A reply with nothing in flight is a protocol error. */
    assert_int_equal(node_repl_link_answer(&a, 1), -1);
    node_repl_link_free(&a);
    node_repl_link_free(&b);
    free(d);
}

/* A quiet link gives its queue back; one with a waiter on it keeps it. */
static void test_trim_frees_only_a_drained_queue(void **state)
{
    done_t *d = calloc(1, sizeof(*d));
    node_repl_link_t a;
    node_repl_waiter_t *w;
    uint64_t s1, s2;

    (void)state;
    node_repl_link_init(&a);
    node_repl_link_trim(&a); /* nothing allocated yet: nothing to do */
    assert_null(a.q);
    s1 = node_repl_link_sent(&a);
    s2 = node_repl_link_sent(&a);
    w = waiter(d, 1);
    node_repl_waiter_on(w, &a, s1 - 1, s2);
    node_repl_waiter_commit(w);
    assert_non_null(a.q);
    node_repl_link_trim(&a); /* a waiter is on it: kept */
    assert_non_null(a.q);
    assert_int_equal(a.qlen, 1);
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->n, 0);
    node_repl_link_trim(&a);
    assert_non_null(a.q);
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->n, 1);
    assert_int_equal(d->failed[1], 0);
    assert_int_equal(a.qlen, 0);
    node_repl_link_trim(&a);
    assert_null(a.q);
    assert_int_equal(a.qcap, 0);
    /* ... and the link works on: the next waiter gets a new queue. */
    s1 = node_repl_link_sent(&a);
    w = waiter(d, 2);
    node_repl_waiter_on(w, &a, s1 - 1, s1);
    node_repl_waiter_commit(w);
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->order[1], 2);
    node_repl_link_free(&a);
    free(d);
}

static void test_refusal_fails_only_the_writes_it_covers(void **state)
{
    done_t *d = calloc(1, sizeof(*d));
    node_repl_link_t a;
    node_repl_waiter_t *w1, *w2;
    uint64_t s1, s2, s3;

    (void)state;
    node_repl_link_init(&a);
    s1 = node_repl_link_sent(&a);
    s2 = node_repl_link_sent(&a); /* w1: operations 1 and 2 */
    w1 = waiter(d, 1);
    node_repl_waiter_on(w1, &a, s1 - 1, s2);
    node_repl_waiter_commit(w1);
    s3 = node_repl_link_sent(&a); /* w2: operation 3 */
    w2 = waiter(d, 2);
    node_repl_waiter_on(w2, &a, s3 - 1, s3);
    node_repl_waiter_commit(w2);
    assert_int_equal(node_repl_link_answer(&a, 0), 0); /* operation 1 refused */
    assert_int_equal(d->n, 0);                         /* w1 waits for operation 2 */
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->n, 1);
    assert_int_equal(d->failed[1], 1);
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->failed[2], 0);
    node_repl_link_free(&a);
    free(d);
}

/* n operations applied, answered at once, release what n answers one by
 * one would, in the same order; more than are in flight is refused and
 * changes nothing. */
static void test_a_run_applied_is_n_answers(void **state)
{
    done_t *one = calloc(1, sizeof(*one)), *run = calloc(1, sizeof(*run));
    node_repl_link_t a, b;

    (void)state;
    node_repl_link_init(&a);
    node_repl_link_init(&b);
    for (int t = 0; t < 6; t++) { /* waiter t: operations (2t, 2t + 2] */
        node_repl_waiter_t *wa = waiter(one, t), *wb = waiter(run, t);
        uint64_t first = a.sent;

        (void)node_repl_link_sent(&a);
        (void)node_repl_link_sent(&a);
        (void)node_repl_link_sent(&b);
        (void)node_repl_link_sent(&b);
        node_repl_waiter_on(wa, &a, first, a.sent);
        node_repl_waiter_on(wb, &b, first, b.sent);
        node_repl_waiter_commit(wa);
        node_repl_waiter_commit(wb);
    }
    assert_int_equal(node_repl_link_answer_applied(&b, 13), -1); /* 12 in flight */
    assert_int_equal(run->n, 0);
    assert_int_equal(node_repl_link_lag(&b), 12);
    for (int i = 0; i < 7; i++)
        assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(node_repl_link_answer_applied(&b, 7), 0);
    assert_int_equal(one->n, 3); /* waiters 0-2; waiter 3 waits for operation 8 */
    assert_int_equal(run->n, one->n);
    assert_memory_equal(run->order, one->order, sizeof(int) * (size_t)one->n);
    assert_int_equal(node_repl_link_answer_applied(&b, 5), 0);
    assert_int_equal(run->n, 6);
    assert_int_equal(node_repl_link_lag(&b), 0);
    for (int t = 0; t < 6; t++)
        assert_int_equal(run->failed[t], 0);
    assert_int_equal(node_repl_link_answer_applied(&b, 1), -1);
    node_repl_link_free(&a);
    node_repl_link_free(&b);
    free(one);
    free(run);
}

static void test_break_and_timeout_fail_once(void **state)
{
    done_t *d = calloc(1, sizeof(*d));
    node_repl_link_t a, b;
    node_repl_waiter_t *w1, *w2;
    uint64_t sa, sb;

    (void)state;
    node_repl_link_init(&a);
    node_repl_link_init(&b);
    sa = node_repl_link_sent(&a);
    sb = node_repl_link_sent(&b);
    w1 = waiter(d, 1);
    node_repl_waiter_on(w1, &a, sa - 1, sa);
    node_repl_waiter_on(w1, &b, sb - 1, sb);
    node_repl_waiter_commit(w1);
    w2 = waiter(d, 2);
    node_repl_waiter_on(w2, &b, sb - 1, sb);
    node_repl_waiter_commit(w2);
    assert_int_equal(node_repl_link_waiting(&b), 2);
    assert_ptr_equal(node_repl_link_waiter(&b, 1), w2);
    node_repl_wait_fail(w2, "timeout"); /* goes now, stays queued */
    assert_int_equal(d->n, 1);
    assert_int_equal(d->failed[2], 1);
    node_repl_link_break(&a, "broken"); /* w1 fails at once */
    assert_int_equal(d->n, 2);
    assert_int_equal(d->failed[1], 1);
    assert_int_equal(node_repl_link_lag(&a), 0);
    assert_int_equal(node_repl_link_answer(&b, 1), 0); /* frees both: nothing goes twice */
    assert_int_equal(d->n, 2);
    assert_int_equal(d->times[1], 1);
    assert_int_equal(d->times[2], 1);
    assert_int_equal(node_repl_link_waiting(&b), 0);
    node_repl_link_free(&a);
    node_repl_link_free(&b);
    free(d);
}

/* A refusal by a replica that moved the slot on: the verdict waits for
 * what the caller learns (still a member: applied where it matters;
 * removed: failed); a removed node fails every reply at once. */
static void test_deferred_verdicts_and_fail_all(void **state)
{
    done_t *d = calloc(1, sizeof(*d));
    node_repl_link_t a;
    node_repl_waiter_t *w;
    uint64_t q;
    int round;

    (void)state;
    node_repl_link_init(&a);
    for (round = 0; round < 2; round++) {
        q = node_repl_link_sent(&a);
        w = waiter(d, 1 + round);
        node_repl_waiter_on(w, &a, q - 1, q);
        node_repl_waiter_commit(w);
        assert_int_equal(node_repl_link_answer(&a, 2), 0);
        assert_true(node_repl_link_deferred(&a));
        assert_int_equal(d->times[1 + round], 0); /* waits for the verdict */
        node_repl_link_resolve(&a, round == 0);
        assert_false(node_repl_link_deferred(&a));
        assert_int_equal(d->times[1 + round], 1);
        assert_int_equal(d->failed[1 + round], round == 1);
    }
    q = node_repl_link_sent(&a);
    w = waiter(d, 3);
    node_repl_waiter_on(w, &a, q - 1, q);
    node_repl_waiter_commit(w);
    node_repl_link_fail_all(&a, "removed");
    assert_int_equal(d->times[3], 1);
    assert_int_equal(d->failed[3], 1);
    assert_int_equal(node_repl_link_answer(&a, 1), 0); /* freed, not sent twice */
    assert_int_equal(d->times[3], 1);
    node_repl_link_free(&a);
    free(d);
}

/* Random schedules against a naive model: per waiter, the (first, seq] it
 * waits for on each link; a waiter is acknowledged iff every link answered
 * its seq with no refusal in (first, seq] and no break came while it
 * waited; it never goes before an earlier waiter of one of its links.
 * Reads wait for an earlier write of the slot they read: their entry is
 * queued behind entries of later operations (out of sequence order), so
 * it may be popped long after its operation was answered, with other
 * refusals and deferred verdicts in between. */
enum {
    NLINKS = 3,
    NWAIT = 3000,
};

enum {
    NPART = 3, /* commands in a group at most */
};

typedef struct model_s {
    /* per waiter and link: the ranges (first, seq] of its own operations,
     * one a command of its group (0: none); the waiter waits for the last */
    uint64_t first[NWAIT][NLINKS][NPART], seq[NWAIT][NLINKS][NPART];
    /* per waiter and link: the highest operation it or an entry queued
     * before it waits for (it goes only after those) */
    uint64_t block[NWAIT][NLINKS];
    int failed[NWAIT]; /* the model's verdict, -1: pending */
} model_t;

/* The replies of pipelined commands waiting as one: the waiter's entry
 * on a link grows instead of a second one being queued; it goes once,
 * after the last operation of the group, and fails if any of them is
 * refused. Behind another waiter's entry, or past an operation that is
 * not the group's, a second entry is queued. */
static void test_a_group_waits_as_one(void **state)
{
    done_t *d = calloc(1, sizeof(*d));
    node_repl_link_t a;
    node_repl_waiter_t *g, *w;
    uint64_t s1, s2, s3, s4;

    (void)state;
    node_repl_link_init(&a);
    s1 = node_repl_link_sent(&a);
    g = waiter(d, 1);
    node_repl_waiter_on(g, &a, s1 - 1, s1);
    s2 = node_repl_link_sent(&a);
    node_repl_waiter_extend(g, &a, s2 - 1, s2);
    assert_int_equal(node_repl_link_waiting(&a), 1); /* one entry, (0, 2] */
    node_repl_waiter_extend(g, &a, 0, s1);           /* inside it: nothing changes */
    assert_int_equal(node_repl_link_waiting(&a), 1);
    node_repl_waiter_commit(g);
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->n, 0); /* the group's second write is not applied yet */
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->n, 1);
    assert_int_equal(d->failed[1], 0);

    /* A refusal of the group's first write fails the whole group. */
    s3 = node_repl_link_sent(&a);
    g = waiter(d, 2);
    node_repl_waiter_on(g, &a, s3 - 1, s3);
    /* Another waiter's entry comes between: the group queues a second. */
    w = waiter(d, 3);
    node_repl_waiter_on(w, &a, s3 - 1, s3);
    node_repl_waiter_commit(w);
    s4 = node_repl_link_sent(&a);
    node_repl_waiter_extend(g, &a, s4 - 1, s4);
    assert_int_equal(node_repl_link_waiting(&a), 3);
    node_repl_waiter_commit(g);
    assert_int_equal(node_repl_link_answer(&a, 0), 0); /* s3 refused */
    assert_int_equal(d->n, 3); /* the group fails (its first entry covers s3), then w */
    assert_int_equal(d->order[1], 2);
    assert_int_equal(d->order[2], 3);
    assert_int_equal(d->failed[2], 1);
    assert_int_equal(d->failed[3], 1);
    assert_int_equal(node_repl_link_answer(&a, 1), 0); /* its second entry goes: freed, once */
    assert_int_equal(d->times[2], 1);
    assert_int_equal(node_repl_link_waiting(&a), 0);

    /* An operation that is not the group's between two of its commands
     * (a write no reply waits for): a second entry, and its refusal does
     * not fail the group. */
    s1 = node_repl_link_sent(&a);
    g = waiter(d, 4);
    node_repl_waiter_on(g, &a, s1 - 1, s1);
    s2 = node_repl_link_sent(&a); /* not the group's */
    s3 = node_repl_link_sent(&a);
    node_repl_waiter_extend(g, &a, s2, s3);
    assert_int_equal(node_repl_link_waiting(&a), 2);
    node_repl_waiter_commit(g);
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(node_repl_link_answer(&a, 0), 0); /* s2 refused */
    assert_int_equal(node_repl_link_answer(&a, 1), 0);
    assert_int_equal(d->times[4], 1);
    assert_int_equal(d->failed[4], 0);
    node_repl_link_free(&a);
    free(d);
}

static void test_random_schedules_match_the_model(void **state)
{
    done_t *d = calloc(1, sizeof(*d));
    model_t *md = calloc(1, sizeof(*md));
    node_repl_link_t l[NLINKS];
    /* by sequence number: 0 applied (or not answered), 1 refused, 2 the
     * verdict waits (node_repl_link_answer(.., 2)) */
    uint8_t refused[NLINKS][NWAIT * 4 + 8];
    uint64_t tail[NLINKS] = {0};    /* the highest operation an entry waits for */
    uint64_t open_lo[NLINKS] = {0}; /* the first operation whose verdict waits (0: none) */
    int nw = 0, i, k, steps;

    (void)state;
    memset(refused, 0, sizeof(refused));
    srand(20261204);
    for (k = 0; k < NLINKS; k++)
        node_repl_link_init(&l[k]);
    for (steps = 0; steps < 40000; steps++) {
        int r = rand() % 100;

        if (r < 30 && nw < NWAIT) {
            /* A command, or a group of 1 to 3 pipelined ones waiting as
             * one (node_repl_waiter_extend()): some operations on some
             * links each; the group waits for all of them. */
            node_repl_waiter_t *w = waiter(d, nw);
            int parts = rand() % 4 == 0 ? 1 + rand() % NPART : 1;

            md->failed[nw] = -1;
            for (int p = 0; p < parts; p++) {
                for (k = 0; k < NLINKS; k++) {
                    int ops = rand() % 3;
                    uint64_t first;

                    if (p > 0 && rand() % 4 == 0 && l[k].sent + 1 < NWAIT * 4)
                        (void)node_repl_link_sent(&l[k]); /* an operation no one waits for */
                    first = l[k].sent;
                    if (ops == 0 || l[k].sent + (uint64_t)ops >= NWAIT * 4)
                        continue;
                    while (ops-- > 0)
                        (void)node_repl_link_sent(&l[k]);
                    md->first[nw][k][p] = first;
                    md->seq[nw][k][p] = l[k].sent;
                    if (p == 0)
                        node_repl_waiter_on(w, &l[k], first, l[k].sent);
                    else
                        node_repl_waiter_extend(w, &l[k], first, l[k].sent);
                    tail[k] = l[k].sent;
                    md->block[nw][k] = l[k].sent;
                }
            }
            node_repl_waiter_commit(w);
            nw++;
        } else if (r < 38 && nw < NWAIT) {
            /* A read: on some links, it waits for one earlier operation
             * still in flight (the last write of the slot it read), which
             * may be older than what entries before it wait for. */
            node_repl_waiter_t *w = waiter(d, nw);

            md->failed[nw] = -1;
            for (k = 0; k < NLINKS; k++) {
                uint64_t q;

                if (rand() % 2 == 0 || l[k].answered == l[k].sent)
                    continue;
                q = l[k].answered + 1 + (uint64_t)rand() % (l[k].sent - l[k].answered);
                md->first[nw][k][0] = q - 1;
                md->seq[nw][k][0] = q;
                md->block[nw][k] = tail[k] > q ? tail[k] : q;
                tail[k] = md->block[nw][k];
                node_repl_waiter_on(w, &l[k], q - 1, q);
            }
            node_repl_waiter_commit(w);
            nw++;
        } else if (r < 80) { /* a reply */
            k = rand() % NLINKS;
            if (l[k].answered < l[k].sent) {
                int v = rand() % 100, ok = v < 6 ? 0 : v < 8 ? 2 : 1;

                refused[k][l[k].answered + 1] = (uint8_t)(ok == 0 ? 1 : ok == 2 ? 2 : 0);
                if (ok == 2 && open_lo[k] == 0)
                    open_lo[k] = l[k].answered + 1;
                assert_int_equal(node_repl_link_answer(&l[k], ok), 0);
            }
        } else if (r < 82) { /* the deferred verdicts of a link are known */
            k = rand() % NLINKS;
            if (node_repl_link_deferred(&l[k])) {
                int ok = rand() % 2;
                uint64_t hi = open_lo[k];

                for (uint64_t q = open_lo[k]; q <= l[k].answered; q++)
                    hi = refused[k][q] == 2 ? q : hi;
                /* Refused: every operation from the first deferred one to
                 * the last counts as refused (whatever the answers between
                 * them said: the safe side). */
                for (uint64_t q = open_lo[k]; q <= hi; q++) {
                    if (!ok || refused[k][q] == 2)
                        refused[k][q] = (uint8_t)!ok;
                }
                open_lo[k] = 0;
                node_repl_link_resolve(&l[k], ok);
            }
        } else if (r < 90) { /* a run of operations applied, answered at once */
            k = rand() % NLINKS;
            if (l[k].answered < l[k].sent) {
                uint64_t n = 1 + (uint64_t)rand() % (l[k].sent - l[k].answered);

                for (uint64_t q = 1; q <= n; q++)
                    refused[k][l[k].answered + q] = 0;
                assert_int_equal(node_repl_link_answer_applied(&l[k], n), 0);
            }
        } else if (r < 92) { /* a break */
            k = rand() % NLINKS;
            for (i = 0; i < nw; i++) {
                /* still on the link, or behind a verdict still open */
                if ((md->block[i][k] > l[k].answered ||
                     (open_lo[k] != 0 && open_lo[k] <= md->block[i][k])) &&
                    md->failed[i] == -1)
                    md->failed[i] = 1;
            }
            for (uint64_t q = open_lo[k]; open_lo[k] != 0 && q <= l[k].answered; q++) {
                if (refused[k][q] == 2)
                    refused[k][q] = 0; /* the waiters on them failed */
            }
            open_lo[k] = 0;
            node_repl_link_break(&l[k], "broken");
        }
        /* The model's verdicts so far. */
        for (i = 0; i < nw; i++) {
            int all = 1, bad = 0;

            if (md->failed[i] != -1)
                continue;
            for (k = 0; k < NLINKS; k++) {
                if (md->block[i][k] > l[k].answered)
                    all = 0;
                if (open_lo[k] != 0 && open_lo[k] <= md->block[i][k])
                    all = 0; /* it waits behind a verdict still open */
                for (int p = 0; p < NPART; p++) {
                    for (uint64_t q = md->first[i][k][p] + 1;
                         q <= md->seq[i][k][p] && q <= l[k].answered; q++)
                        bad |= refused[k][q] == 1;
                }
            }
            if (bad && all)
                md->failed[i] = 1;
            else if (all)
                md->failed[i] = 0;
        }
    }
    /* Every waiter the model decided went once, with its verdict. A
     * refusal is seen only when its waiter's turn in the queue comes, so
     * the implementation may still be waiting for an earlier waiter. */
    for (i = 0; i < nw; i++) {
        assert_true(d->times[i] <= 1);
        if (d->times[i] == 1 && md->failed[i] != -1)
            assert_int_equal(d->failed[i], md->failed[i]);
        if (md->failed[i] == 0)
            assert_int_equal(d->times[i], 1);
        if (d->times[i] == 1 && d->failed[i] == 0)
            assert_int_equal(md->failed[i], 0); /* never acknowledged early */
    }
    for (k = 0; k < NLINKS; k++)
        node_repl_link_free(&l[k]);
    for (i = 0; i < nw; i++)
        assert_int_equal(d->times[i], 1); /* after the links are gone, every one went */
    free(md);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_link_goes_at_once),
        cmocka_unit_test(test_waits_for_every_link),
        cmocka_unit_test(test_refusal_fails_only_the_writes_it_covers),
        cmocka_unit_test(test_a_run_applied_is_n_answers),
        cmocka_unit_test(test_trim_frees_only_a_drained_queue),
        cmocka_unit_test(test_break_and_timeout_fail_once),
        cmocka_unit_test(test_deferred_verdicts_and_fail_all),
        cmocka_unit_test(test_a_group_waits_as_one),
        cmocka_unit_test(test_random_schedules_match_the_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
