/* node/repl/node_repl_wait.h: the replies that wait for replicas, pure: no
 * sockets, no clock, no libuv (design: node/repl/README.md).
 *
 * A link to one replica carries operations in order and the replica
 * answers them in order, so "answered up to n" is one number per link. A
 * reply (a waiter) waits on the links its command's writes went down, each
 * up to the sequence number of its last operation there, and goes once
 * every one of them has answered that far: acknowledged, unless one of its
 * own operations was refused (the replica did not apply it) or the link
 * broke first; then it goes at once as a failure (the write may or may not
 * have taken effect on the replicas: the client sees an error, never a
 * silent partial success). A waiter's reply goes exactly once.
 *
 *   sent        operations sent down the link (1, 2, ...)
 *   answered    replies received, in order
 *   last_error  the sequence number of the last refused operation (each
 *               queued entry it falls in is marked refused at once)
 *
 * node/migrate/ owns the links (one per replica stream) and the timer that
 * fails waiters older than cluster-repl-timeout (node_repl_wait_fail()).
 * tests/unit/node_repl_wait_test.c checks it against a naive model. */
#ifndef RC_NODE_REPL_NODE_REPL_WAIT_H
#define RC_NODE_REPL_NODE_REPL_WAIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct node_repl_waiter_s node_repl_waiter_t;

/* Called once per waiter, when its reply goes: 'failed' 0 (every link
 * applied what it waited for) or 1 (refused, broken link, timeout:
 * node_repl_wait_fail()'s 'why'), with the 'arg' and 'token' given to
 * node_repl_waiter_new(). */
typedef void node_repl_done_fn(void *arg, void *token, int failed, const char *why);

struct node_repl_waiter_s {
    void *token;
    node_repl_done_fn *fn;
    void *arg;
    int64_t since; /* the caller's time of the command, for timeouts */
    unsigned refs; /* link entries, plus the caller's until node_repl_waiter_commit() */
    int done;
};

typedef struct node_repl_entry_s {
    node_repl_waiter_t *w;
    uint64_t first; /* the waiter's operations on the link: (first, seq] */
    uint64_t seq;
    /* One of them was refused: set when the refusal (or a failed verdict,
     * node_repl_link_resolve()) comes, whether or not the entry is at the
     * head of the queue then (a read's entry can wait behind entries of
     * later operations while more refusals come). */
    int refused;
} node_repl_entry_t;

typedef struct node_repl_link_s {
    uint64_t sent, answered, last_error;
    /* Answers whose verdict waits (node_repl_link_answer(.., 2)): the
     * replies covering them wait too, until node_repl_link_resolve(). */
    uint64_t defer_lo, defer_hi;
    uint64_t fail_lo, fail_hi; /* a resolved-failed range: covering replies fail */
    node_repl_entry_t *q;      /* ring, power-of-two capacity */
    size_t qcap, qhead, qlen;
} node_repl_link_t;

void node_repl_link_init(node_repl_link_t *l);
/* Fails every waiter still on 'l' ("link closed") and frees its queue. */
void node_repl_link_free(node_repl_link_t *l);

/* Frees the queue of a link with nothing in flight (a quiet link's; the
 * next operation sent allocates it again). */
void node_repl_link_trim(node_repl_link_t *l);
/* One more operation sent down 'l': returns its sequence number. */
uint64_t node_repl_link_sent(node_repl_link_t *l);
/* The oldest unanswered operation was answered ('ok' 1: applied, 0:
 * refused, 2: refused by a replica that moved the slot on, whose verdict
 * depends on what the caller learns next: node_repl_link_resolve()).
 * Releases the waiters it completes. Returns 0, or -1 when nothing was in
 * flight (a protocol error: the caller drops the link). */
int node_repl_link_answer(node_repl_link_t *l, int ok);
/* The 'n' oldest unanswered operations were applied: 'n' calls of
 * node_repl_link_answer(l, 1) in one. Returns 0, or -1 (nothing changed)
 * when fewer than 'n' were in flight. */
int node_repl_link_answer_applied(node_repl_link_t *l, uint64_t n);
/* 1 while answers wait for their verdict. */
int node_repl_link_deferred(const node_repl_link_t *l);
/* The deferred answers count as applied ('ok' 1: the copies that matter
 * have the writes) or as refused (0): the replies covering them go or
 * fail. */
void node_repl_link_resolve(node_repl_link_t *l, int ok);
/* Every waiter on 'l' fails with 'why' now (the link stays). */
void node_repl_link_fail_all(node_repl_link_t *l, const char *why);
/* The link broke: operations in flight are void (sent stays, answered
 * catches up with it) and every waiter on it fails with 'why'. */
void node_repl_link_break(node_repl_link_t *l, const char *why);
/* The link's replica is no copy in the installed configuration any more
 * (it left, was removed, or the slot moved on): the waiters stop waiting
 * for it and go once their other links answer; the copies of that
 * configuration are the ones that must have the writes. */
void node_repl_link_forget(node_repl_link_t *l);
/* Operations sent and not answered. */
uint64_t node_repl_link_lag(const node_repl_link_t *l);
/* Waiters queued on 'l' (their entries); the i-th oldest, for timeouts. */
size_t node_repl_link_waiting(const node_repl_link_t *l);
node_repl_waiter_t *node_repl_link_waiter(const node_repl_link_t *l, size_t i);

/* A waiter for 'token' (a reply), created at 'since'; 'fn' runs once. */
node_repl_waiter_t *node_repl_waiter_new(void *token, node_repl_done_fn *fn, void *arg,
                                         int64_t since);
/* Makes 'w' wait until 'l' answered operation 'seq'; its own operations on
 * 'l' are (first, seq] (a refusal among them fails it). A 'seq' already
 * answered adds nothing. */
void node_repl_waiter_on(node_repl_waiter_t *w, node_repl_link_t *l, uint64_t first, uint64_t seq);
/* node_repl_waiter_on() for a waiter that already waits on 'l' (the
 * replies of several commands waiting as one): when its entry is the
 * newest on 'l' and (first, seq] overlaps or touches it, that entry grows
 * to their union instead of a second one being queued (with a gap between
 * them, the operations in it are not the waiter's: a second entry).
 * Before node_repl_waiter_commit() only. */
void node_repl_waiter_extend(node_repl_waiter_t *w, node_repl_link_t *l, uint64_t first,
                             uint64_t seq);
/* Every link is given: 'w' goes now if it waits on none, else when the
 * last one answers. The caller must not touch 'w' afterwards. */
void node_repl_waiter_commit(node_repl_waiter_t *w);
/* Fails 'w' now with 'why' (timeout) if it has not gone yet; it stays
 * queued (freed once its links answer or break). */
void node_repl_wait_fail(node_repl_waiter_t *w, const char *why);

#endif
