/* tests/unit/paxos_proposer_test.c: paxos/paxos_proposer.c and
 * paxos/paxos_node.c driven by hand: batching, the two phases, adoption of
 * accepted values, NACK retry, forwarding, restart and joining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "paxos/paxos.h"
#include "tests/unit/paxos_test_util.h"

static inline void test_params(paxos_params_t *p, int i)
{
    char bus[PAXOS_ADDR_MAX], client[PAXOS_ADDR_MAX];

    snprintf(bus, sizeof(bus), "10.0.0.%d:17001", i);
    snprintf(client, sizeof(client), "10.0.0.%d:7001", i);
    paxos_params_default(p, 100 + (uint64_t)i, client, bus, 1, 42);
}

typedef struct fix_s {
    paxos_config_t genesis;
    paxos_params_t params;
    paxos_effects_t eff;
    paxos_out_t out[16];
    int nout;
    paxos_msg_t in;
    paxos_node_t *node;
} fix_t;

static void drain(fix_t *f)
{
    f->nout = 0;
    while (f->nout < 16 && paxos_node_pop(f->node, &f->out[f->nout]))
        f->nout++;
}

static fix_t *make(int self)
{
    fix_t *f = test_malloc(sizeof(*f));

    memset(f, 0, sizeof(*f));
    test_genesis(&f->genesis, 3);
    test_params(&f->params, self);
    f->node = paxos_node_create(&f->params, NULL);
    assert_int_equal(paxos_node_bootstrap(f->node, 0, &f->genesis, &f->eff), 0);
    assert_true(f->eff.persist);
    drain(f);
    return f;
}

static int setup(void **state)
{
    *state = make(1);
    return 0;
}

static int setup_follower(void **state)
{
    *state = make(3);
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;

    paxos_node_destroy(f->node);
    test_free(f);
    return 0;
}

static void request_weight(fix_t *f, uint64_t now, uint64_t id, uint32_t weight)
{
    paxos_change_t ch;

    memset(&ch, 0, sizeof(ch));
    ch.kind = PAXOS_CHANGE_WEIGHT;
    ch.id = id;
    ch.incarnation = 100 + id;
    ch.weight = weight;
    assert_int_equal(paxos_node_request(f->node, now, &ch, &f->eff), 0);
    drain(f);
}

/* Delivers a reply of 'type' from member 'from' to the node's ballot. */
static void reply(fix_t *f, uint64_t now, uint8_t type, uint64_t from, paxos_ballot_t b)
{
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = type;
    f->in.epoch = paxos_node_epoch(f->node);
    f->in.from = from;
    f->in.to = paxos_node_id(f->node);
    snprintf(f->in.from_addr, sizeof(f->in.from_addr), "10.0.0.%d:17001", (int)from);
    f->in.ballot = b;
    paxos_node_on_msg(f->node, now, &f->in, &f->eff);
    drain(f);
}

/* Runs the node to its PREPAREs; returns their ballot. */
static paxos_ballot_t to_prepare(fix_t *f)
{
    request_weight(f, 10, 2, 5);
    paxos_node_tick(f->node, 10 + f->params.batch_delay, &f->eff);
    drain(f);
    assert_int_equal(f->nout, 2);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_PREPARE);
    return f->out[0].msg.ballot;
}

static void test_coordinator_batches_then_prepares_durably(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b;

    request_weight(f, 10, 2, 5);
    assert_int_equal(f->nout, 0); /* waits for the batch window */
    assert_int_equal(f->eff.wake_at, 10 + f->params.batch_delay);
    request_weight(f, 12, 3, 4); /* joins the same batch */
    paxos_node_tick(f->node, 15, &f->eff);
    assert_true(f->eff.persist); /* round and own promise first */
    drain(f);
    assert_int_equal(f->nout, 2);
    b = f->out[0].msg.ballot;
    assert_int_equal(b.node, 1);
    assert_true(b.round >= 1);
    assert_int_equal(paxos_node_state(f->node)->max_round, b.round);
    assert_int_equal(paxos_node_state(f->node)->promised.round, b.round);
    assert_int_equal(f->out[0].msg.to, 2);
    assert_int_equal(f->out[1].msg.to, 3);
    assert_string_equal(f->out[1].addr, "10.0.0.3:17001");
}

static void test_majority_of_promises_sends_one_batched_value(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b;

    request_weight(f, 10, 3, 4);
    b = to_prepare(f);
    reply(f, 20, PAXOS_MSG_PROMISE, 2, b); /* self + 2: a majority of 3 */
    assert_int_equal(f->nout, 2);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_ACCEPT);
    assert_int_equal(f->out[0].msg.value.epoch, 2);
    assert_int_equal(f->out[0].msg.value.members[1].weight, 5);
    assert_int_equal(f->out[0].msg.value.members[2].weight, 4);
    assert_true(f->eff.persist); /* own acceptance */
}

static void test_majority_accepted_installs_and_announces(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b = to_prepare(f);

    reply(f, 20, PAXOS_MSG_PROMISE, 3, b);
    reply(f, 30, PAXOS_MSG_ACCEPTED, 3, b);
    assert_int_equal(paxos_node_epoch(f->node), 2);
    assert_int_equal(f->eff.installed_from, 2);
    assert_int_equal(f->eff.installed_to, 2);
    assert_true(f->eff.persist);
    assert_int_equal(f->nout, 2);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_CHOSEN);
    assert_int_equal(f->out[0].msg.epoch, 1);
    assert_int_equal(paxos_node_pending(f->node), 0);
    assert_int_equal(paxos_node_config(f->node, 2)->members[1].weight, 5);
}

static void request(fix_t *f, uint64_t now, uint8_t kind, uint64_t id, uint64_t transition)
{
    paxos_change_t ch;

    memset(&ch, 0, sizeof(ch));
    ch.kind = kind;
    ch.id = id;
    ch.incarnation = 100 + id;
    ch.transition = transition;
    assert_int_equal(paxos_node_request(f->node, now, &ch, &f->eff), 0);
    drain(f);
}

/* Runs the pending requests through one instance (member 2 answers). */
static void decide(fix_t *f, uint64_t now)
{
    paxos_ballot_t b;

    paxos_node_tick(f->node, now + f->params.batch_delay, &f->eff);
    drain(f);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_PREPARE);
    b = f->out[0].msg.ballot;
    reply(f, now + 10, PAXOS_MSG_PROMISE, 2, b);
    reply(f, now + 20, PAXOS_MSG_ACCEPTED, 2, b);
}

/* A graceful leave keeps the leaver a member (and an acceptor) with weight
 * 0 until every other member reported READY: only the switch removes it. */
static void test_leaver_stays_a_member_until_the_switch(void **state)
{
    fix_t *f = *state;
    const paxos_config_t *c;

    request(f, 10, PAXOS_CHANGE_LEAVE, 1, 0); /* this node leaves */
    decide(f, 10);
    c = paxos_node_config(f->node, 2);
    assert_non_null(c);
    assert_int_equal(c->nmembers, 3);
    assert_int_equal(c->members[0].weight, 0);
    assert_int_equal(c->members[0].live_weight, 1);
    assert_int_equal(c->transition, 1);
    assert_false(f->eff.removed);
    request(f, 100, PAXOS_CHANGE_READY, 1, 1); /* a leaver fills nothing: dropped */
    assert_int_equal(paxos_node_pending(f->node), 0);
    request(f, 100, PAXOS_CHANGE_READY, 2, 1);
    request(f, 100, PAXOS_CHANGE_READY, 3, 1);
    decide(f, 100);
    c = paxos_node_config(f->node, 3);
    assert_non_null(c);
    assert_int_equal(c->nmembers, 2);
    assert_int_equal(paxos_config_find(c, 1), -1);
    assert_true(f->eff.removed);
}

/* Readies f->in as a message of 'type' at 'epoch' from member 'from' to
 * member 1 (the node under test). */
static void from_member(fix_t *f, uint8_t type, uint64_t epoch, uint64_t from)
{
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = type;
    f->in.epoch = epoch;
    f->in.from = from;
    f->in.to = 1;
    snprintf(f->in.from_addr, sizeof(f->in.from_addr), "10.0.0.%d:17001", (int)from);
}

/* A removed leaver that follows (paxos_node_follow()) goes on asking a
 * member of the last configuration it installed, and installs what is
 * decided after it; one that does not follow sends nothing. */
static void test_removed_leaver_follows_the_chain(void **state)
{
    fix_t *f = *state;
    const paxos_config_t *c;
    paxos_config_t *next = test_malloc(sizeof(*next));
    uint64_t now = 1000;
    int i, status = 0;

    request(f, 10, PAXOS_CHANGE_LEAVE, 1, 0);
    decide(f, 10);
    request(f, 100, PAXOS_CHANGE_READY, 2, 1);
    request(f, 100, PAXOS_CHANGE_READY, 3, 1);
    decide(f, 100);
    assert_true(f->eff.removed);
    assert_int_equal(paxos_node_epoch(f->node), 3);
    for (i = 0; i < 4; i++, now += f->params.sync_interval + 1) {
        paxos_node_tick(f->node, now, &f->eff);
        drain(f);
        assert_int_equal(f->nout, 0); /* not following: silent */
    }
    paxos_node_follow(f->node, 1);
    for (i = 0; i < 4; i++, now += f->params.sync_interval + 1) {
        paxos_node_tick(f->node, now, &f->eff);
        drain(f);
        if (f->nout == 1) {
            assert_int_equal(f->out[0].msg.type, PAXOS_MSG_STATUS);
            assert_int_equal(f->out[0].msg.epoch, 3);
            assert_true(f->out[0].msg.to == 2 || f->out[0].msg.to == 3);
            status++;
        }
    }
    assert_int_equal(status, 4); /* one each sync interval */
    /* Member 2 answers with what was decided since: epoch 4. */
    c = paxos_node_config(f->node, 3);
    assert_non_null(c);
    *next = *c;
    next->epoch = 4;
    next->members[0].weight = 2;
    next->members[0].live_weight = 2;
    from_member(f, PAXOS_MSG_CHOSEN, 3, 2);
    f->in.has_value = 1;
    f->in.value = *next;
    paxos_node_on_msg(f->node, now, &f->in, &f->eff);
    assert_int_equal(paxos_node_epoch(f->node), 4);
    assert_int_equal(f->eff.installed_to, 4);
    assert_true(f->eff.removed);
    drain(f);
    /* It takes no part: a PREPARE gets no promise. */
    from_member(f, PAXOS_MSG_PREPARE, 4, 2);
    f->in.ballot.round = 1000;
    f->in.ballot.node = 2;
    paxos_node_on_msg(f->node, now + 1, &f->in, &f->eff);
    drain(f);
    for (i = 0; i < f->nout; i++)
        assert_int_not_equal(f->out[i].msg.type, PAXOS_MSG_PROMISE);
    test_free(next);
}

/* The switch ends its batch: a change after it waits for the next
 * instance, so the configuration that switches is the new placement whole. */
static void test_switch_ends_its_batch(void **state)
{
    fix_t *f = *state;
    const paxos_config_t *c;

    request(f, 10, PAXOS_CHANGE_LEAVE, 3, 0);
    decide(f, 10);
    request(f, 100, PAXOS_CHANGE_READY, 1, 1);
    request(f, 100, PAXOS_CHANGE_READY, 2, 1);
    request_weight(f, 100, 2, 5);
    assert_int_equal(paxos_node_pending(f->node), 3);
    decide(f, 100);
    c = paxos_node_config(f->node, 3);
    assert_int_equal(c->nmembers, 2);
    assert_false(paxos_config_in_transition(c));
    assert_int_equal(c->members[1].weight, 1);
    assert_int_equal(paxos_node_pending(f->node), 1); /* the weight change */
    decide(f, 200);
    c = paxos_node_config(f->node, 4);
    assert_non_null(c);
    assert_int_equal(c->members[1].weight, 5);
    assert_int_equal(c->members[1].live_weight, 1);
    assert_int_equal(c->transition, 2);
}

static void test_promise_with_accepted_value_is_adopted(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b = to_prepare(f);

    memset(&f->in, 0, sizeof(f->in));
    f->in.type = PAXOS_MSG_PROMISE;
    f->in.epoch = 1;
    f->in.from = 2;
    f->in.to = 1;
    strcpy(f->in.from_addr, "10.0.0.2:17001");
    f->in.ballot = b;
    f->in.accepted_ballot.round = b.round; /* (round, 0) sorts below ours */
    f->in.accepted_ballot.node = 0;
    f->in.has_value = 1;
    f->in.value = f->genesis;
    f->in.value.epoch = 2;
    f->in.value.members[2].weight = 9; /* someone else's proposal */
    paxos_node_on_msg(f->node, 20, &f->in, &f->eff);
    drain(f);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_ACCEPT);
    assert_int_equal(f->out[0].msg.value.members[2].weight, 9);
    assert_int_equal(f->out[0].msg.value.members[1].weight, 1); /* ours waits */
}

static void test_nack_retries_with_higher_round(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b = to_prepare(f), winner = b;

    winner.round = b.round + 10;
    winner.node = 3;
    reply(f, 20, PAXOS_MSG_NACK, 2, winner);
    assert_int_equal(f->nout, 0);
    paxos_node_tick(f->node, 20 + 2 * f->params.phase_timeout, &f->eff);
    drain(f);
    assert_int_equal(f->nout, 2);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_PREPARE);
    assert_true(f->out[0].msg.ballot.round > winner.round);
}

static void test_silence_retries_after_phase_timeout(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b = to_prepare(f);

    paxos_node_tick(f->node, 15 + 2 * f->params.phase_timeout, &f->eff);
    drain(f);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_PREPARE);
    assert_true(f->out[0].msg.ballot.round > b.round);
}

static void test_follower_forwards_request_to_coordinator(void **state)
{
    fix_t *f = *state; /* node 3 */

    request_weight(f, 10, 3, 6);
    assert_int_equal(f->nout, 1);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_REQUEST);
    assert_int_equal(f->out[0].msg.to, 1);
    assert_int_equal(f->out[0].msg.change.weight, 6);
    assert_int_equal(paxos_node_coordinator(f->node), 1);
}

static void test_follower_takes_over_when_coordinator_fails(void **state)
{
    fix_t *f = *state; /* node 3 */

    paxos_node_on_fd(f->node, 5, 1, 0, &f->eff); /* coordinator 1 failed */
    drain(f);
    assert_int_equal(paxos_node_coordinator(f->node), 2);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_REQUEST);
    assert_int_equal(f->out[0].msg.change.kind, PAXOS_CHANGE_REMOVE);
    assert_int_equal(f->out[0].msg.to, 2);
    assert_true(f->eff.wake_at > 5);
    paxos_node_tick(f->node, 5 + 2 * f->params.takeover_timeout, &f->eff);
    drain(f);
    assert_true(paxos_node_proposing(f->node));
    assert_int_equal(f->out[f->nout - 1].msg.type, PAXOS_MSG_PREPARE);
}

static void test_alive_report_cancels_removal(void **state)
{
    fix_t *f = *state;

    paxos_node_on_fd(f->node, 5, 2, 0, &f->eff);
    assert_int_equal(paxos_node_pending(f->node), 1);
    paxos_node_on_fd(f->node, 6, 2, 1, &f->eff);
    assert_int_equal(paxos_node_pending(f->node), 0);
}

/* Delivers REQUEST(REMOVE 'id') from member 'from', stamped with 'epoch'
 * (the sender's installed epoch). */
static void remove_request(fix_t *f, uint64_t now, uint64_t epoch, uint64_t from, uint64_t id)
{
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = PAXOS_MSG_REQUEST;
    f->in.epoch = epoch;
    f->in.from = from;
    f->in.to = paxos_node_id(f->node);
    snprintf(f->in.from_addr, sizeof(f->in.from_addr), "10.0.0.%d:17001", (int)from);
    f->in.change.kind = PAXOS_CHANGE_REMOVE;
    f->in.change.id = id;
    f->in.change.incarnation = 100 + id;
    paxos_node_on_msg(f->node, now, &f->in, &f->eff);
    drain(f);
}

/* A failure report is a judgement of configuration e's monitors: one that
 * reaches a node at a later epoch (formed in a minority that was cut off
 * while the majority moved on, then forwarded when it healed) is void, or
 * it would remove a healthy member whenever that one is slow to promise
 * (integration seed 21 of test_isolated_primary_with_its_replica). */
static void test_removal_request_of_an_older_epoch_is_dropped(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b;

    request_weight(f, 10, 3, 4);
    decide(f, 10);
    assert_int_equal(paxos_node_epoch(f->node), 2);
    remove_request(f, 100, 1, 3, 2); /* made at epoch 1 */
    assert_int_equal(paxos_node_pending(f->node), 0);
    remove_request(f, 110, 2, 9, 2); /* from no member of epoch 2 */
    assert_int_equal(paxos_node_pending(f->node), 0);
    /* A later batch without member 2's promise keeps member 2. */
    request_weight(f, 120, 3, 6);
    paxos_node_tick(f->node, 120 + f->params.batch_delay, &f->eff);
    drain(f);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_PREPARE);
    b = f->out[0].msg.ballot;
    reply(f, 130, PAXOS_MSG_PROMISE, 3, b);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_ACCEPT);
    assert_int_equal(f->out[0].msg.value.nmembers, 3);
    /* The same report made in the current epoch is taken. */
    remove_request(f, 140, 2, 3, 2);
    assert_int_equal(paxos_node_pending(f->node), 2);
}

/* A removal this node holds (its own detector's, or one forwarded to it)
 * belongs to the configuration it was made in: the next install drops it,
 * and the detector reports again on the new configuration if the member is
 * still silent. */
static void test_pending_removal_ends_with_its_epoch(void **state)
{
    fix_t *f = *state; /* node 3 */

    paxos_node_on_fd(f->node, 5, 2, 0, &f->eff);
    drain(f);
    assert_int_equal(paxos_node_pending(f->node), 1);
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = PAXOS_MSG_CHOSEN;
    f->in.epoch = 1;
    f->in.from = 1;
    f->in.to = 3;
    strcpy(f->in.from_addr, "10.0.0.1:17001");
    f->in.has_value = 1;
    f->in.value = f->genesis;
    f->in.value.epoch = 2;
    f->in.value.members[0].weight = 3; /* member 2 stays */
    f->in.value.transition = 1;
    paxos_node_on_msg(f->node, 50, &f->in, &f->eff);
    drain(f);
    assert_int_equal(paxos_node_epoch(f->node), 2);
    assert_int_equal(paxos_node_pending(f->node), 0);
    paxos_node_on_fd(f->node, 60, 2, 0, &f->eff); /* reported again: taken */
    drain(f);
    assert_int_equal(paxos_node_pending(f->node), 1);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_REQUEST);
    assert_int_equal(f->out[0].msg.epoch, 2);
}

static void test_restart_keeps_id_and_never_reuses_round(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b = to_prepare(f);
    paxos_state_t *disk = test_malloc(sizeof(*disk));

    *disk = *paxos_node_state(f->node);
    paxos_node_destroy(f->node);
    f->node = paxos_node_create(&f->params, disk);
    assert_int_equal(paxos_node_id(f->node), 1);
    assert_int_equal(paxos_node_epoch(f->node), 1);
    request_weight(f, 100, 2, 7);
    paxos_node_tick(f->node, 100 + f->params.batch_delay, &f->eff);
    drain(f);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_PREPARE);
    assert_true(f->out[0].msg.ballot.round > b.round);
    test_free(disk);
}

static void test_stale_prepare_is_answered_with_decision(void **state)
{
    fix_t *f = *state;
    paxos_ballot_t b = to_prepare(f), old = {1, 2};

    reply(f, 20, PAXOS_MSG_PROMISE, 3, b);
    reply(f, 30, PAXOS_MSG_ACCEPTED, 3, b);
    assert_int_equal(paxos_node_epoch(f->node), 2);
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = PAXOS_MSG_PREPARE;
    f->in.epoch = 1;
    f->in.from = 2;
    f->in.to = 1;
    strcpy(f->in.from_addr, "10.0.0.2:17001");
    f->in.ballot = old;
    paxos_node_on_msg(f->node, 40, &f->in, &f->eff);
    drain(f);
    assert_int_equal(f->nout, 1);
    assert_int_equal(f->out[0].msg.type, PAXOS_MSG_CHOSEN);
    assert_int_equal(f->out[0].msg.value.epoch, 2);
    assert_int_equal(paxos_node_state(f->node)->promised.round, 0); /* new instance */
}

static void test_joiner_asks_seed_then_learns_its_id(void **state)
{
    fix_t *f = *state;
    paxos_params_t p;
    paxos_node_t *j;
    paxos_effects_t eff;
    paxos_out_t *o = test_malloc(sizeof(*o));
    paxos_msg_t *m = test_malloc(sizeof(*m));

    test_params(&p, 9);
    j = paxos_node_create(&p, NULL);
    paxos_node_join(j, 0, "10.0.0.1:17001", &eff);
    assert_true(eff.persist); /* the token is durable first */
    assert_int_equal(paxos_node_pop(j, o), 1);
    assert_int_equal(o->msg.type, PAXOS_MSG_STATUS);
    assert_int_equal(paxos_node_pop(j, o), 1);
    assert_int_equal(o->msg.type, PAXOS_MSG_REQUEST);
    assert_int_equal(o->msg.change.kind, PAXOS_CHANGE_JOIN);
    assert_string_equal(o->addr, "10.0.0.1:17001");
    /* The coordinator takes the request in and decides it. */
    paxos_node_on_msg(f->node, 1, &o->msg, &f->eff);
    paxos_node_tick(f->node, 1 + f->params.batch_delay, &f->eff);
    drain(f);
    {
        paxos_ballot_t b = f->out[0].msg.ballot;

        reply(f, 20, PAXOS_MSG_PROMISE, 2, b);
        reply(f, 30, PAXOS_MSG_ACCEPTED, 2, b);
    }
    assert_int_equal(paxos_node_epoch(f->node), 2);
    *m = f->out[f->nout - 1].msg; /* CHOSEN to the new member */
    assert_int_equal(m->type, PAXOS_MSG_CHOSEN);
    assert_int_equal(m->to, 4);
    paxos_node_on_msg(j, 31, m, &eff);
    assert_int_equal(paxos_node_id(j), 4);
    assert_int_equal(paxos_node_epoch(j), 2);
    assert_true(eff.persist);
    paxos_node_destroy(j);
    test_free(o);
    test_free(m);
}

/* Delivers a SNAPSHOT of 'snap' (a "newer" configuration) from member 'from'. */
static void offer_snapshot(fix_t *f, uint64_t now, uint64_t from, const paxos_config_t *snap)
{
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = PAXOS_MSG_SNAPSHOT;
    f->in.epoch = snap->epoch - 1;
    f->in.from = from;
    f->in.to = paxos_node_id(f->node);
    snprintf(f->in.from_addr, sizeof(f->in.from_addr), "10.0.0.%d:17001", (int)from);
    f->in.has_value = 1;
    f->in.value = *snap;
    paxos_node_on_msg(f->node, now, &f->in, &f->eff);
}

/* Ticks every 80 ms from 'from' to 'to'; every STATUS the node sends is
 * answered with a SNAPSHOT by the members in 'nackers' (bitmask by id).
 * Returns the bitmask of members asked; stops at a snapshot install. */
static unsigned catch_up(fix_t *f, uint64_t from, uint64_t to, unsigned nackers,
                         const paxos_config_t *snap)
{
    unsigned asked = 0;
    uint64_t now;
    int i;

    for (now = from; now <= to && paxos_node_epoch(f->node) == 1; now += 80) {
        paxos_node_tick(f->node, now, &f->eff);
        if (f->eff.snapshot)
            break;
        drain(f);
        for (i = 0; i < f->nout; i++) {
            uint64_t id = f->out[i].msg.to;

            if (f->out[i].msg.type != PAXOS_MSG_STATUS)
                continue;
            assert_int_equal(f->out[i].msg.epoch, 1);
            asked |= 1u << id;
            if (nackers & (1u << id))
                offer_snapshot(f, now + 1, id, snap);
        }
    }
    return asked;
}

static void test_behind_node_asks_every_member_before_snapshot(void **state)
{
    fix_t *f = *state;
    paxos_config_t *snap = test_malloc(sizeof(*snap));

    *snap = f->genesis;
    snap->epoch = 5;
    offer_snapshot(f, 100, 2, snap);
    assert_int_equal(paxos_node_epoch(f->node), 1); /* not at once */
    /* Member 3 stays silent: it may keep epochs 2..4, so no snapshot. */
    assert_int_equal(catch_up(f, 200, 10000, 1u << 2, snap), (1u << 2) | (1u << 3));
    assert_int_equal(paxos_node_epoch(f->node), 1);
    /* Every member answers it lacks them: the snapshot is taken. */
    catch_up(f, 10080, 12000, (1u << 2) | (1u << 3), snap);
    assert_int_equal(paxos_node_epoch(f->node), 5);
    assert_true(f->eff.snapshot);
    assert_true(f->eff.persist);
    assert_int_equal(f->eff.installed_from, 5);
    test_free(snap);
}

static void test_behind_node_takes_chosen_from_any_member(void **state)
{
    fix_t *f = *state;
    paxos_config_t *snap = test_malloc(sizeof(*snap));

    *snap = f->genesis;
    snap->epoch = 5;
    offer_snapshot(f, 100, 2, snap);
    /* Member 3 keeps epoch 2: it is learned in order, no gap. */
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = PAXOS_MSG_CHOSEN;
    f->in.epoch = 1;
    f->in.from = 3;
    f->in.to = 1;
    strcpy(f->in.from_addr, "10.0.0.3:17001");
    f->in.has_value = 1;
    f->in.value = f->genesis;
    f->in.value.epoch = 2;
    paxos_node_on_msg(f->node, 200, &f->in, &f->eff);
    assert_int_equal(paxos_node_epoch(f->node), 2);
    assert_false(f->eff.snapshot);
    test_free(snap);
}

/* A member that lacks what a node behind is missing passes its STATUS on to
 * the members of every configuration it keeps: one that was a member only in
 * between (here 4, removed in epoch 6) is named by none of the requester's
 * configurations, nor by the SNAPSHOT it is offered (seed 503489). */
static void test_unserved_status_is_relayed_to_members_of_kept_configurations(void **state)
{
    paxos_state_t *st = test_malloc(sizeof(*st));
    paxos_msg_t *m = test_malloc(sizeof(*m));
    paxos_out_t *o = test_malloc(sizeof(*o));
    paxos_change_t rm;
    paxos_params_t p;
    paxos_effects_t eff;
    paxos_node_t *node;
    int relayed_to_4 = 0, snapshots = 0;

    (void)state;
    memset(st, 0, sizeof(*st));
    st->id = 1;
    st->incarnation = 101;
    test_genesis(&st->chosen, 4);
    st->chosen.epoch = 5;
    test_params(&p, 1);
    node = paxos_node_create(&p, st); /* restarted: keeps epoch 5 only */
    memset(m, 0, sizeof(*m));
    m->type = PAXOS_MSG_CHOSEN;
    m->epoch = 5;
    m->from = 2;
    m->to = 1;
    strcpy(m->from_addr, "10.0.0.2:17001");
    m->has_value = 1;
    m->value = st->chosen;
    m->value.epoch = 6;
    memset(&rm, 0, sizeof(rm));
    rm.kind = PAXOS_CHANGE_REMOVE;
    rm.id = 4;
    rm.incarnation = 104;
    assert_int_equal(paxos_config_apply(&m->value, &rm), 1);
    paxos_node_on_msg(node, 10, m, &eff);
    assert_int_equal(paxos_node_epoch(node), 6);
    while (paxos_node_pop(node, o))
        ;
    /* Member 2 is at epoch 1 and asks for epoch 2 onwards. */
    memset(m, 0, sizeof(*m));
    m->type = PAXOS_MSG_STATUS;
    m->epoch = 1;
    m->from = 2;
    m->to = 1;
    strcpy(m->from_addr, "10.0.0.2:17001");
    paxos_node_on_msg(node, 20, m, &eff);
    while (paxos_node_pop(node, o)) {
        if (o->msg.type == PAXOS_MSG_SNAPSHOT) {
            snapshots++;
            assert_string_equal(o->addr, "10.0.0.2:17001");
        } else if (o->msg.type == PAXOS_MSG_STATUS && strcmp(o->addr, "10.0.0.4:17001") == 0) {
            relayed_to_4++;
            assert_int_equal(o->msg.to, 0); /* one hop: not relayed again */
            assert_string_equal(o->msg.from_addr, "10.0.0.2:17001");
            assert_int_equal(o->msg.epoch, 1);
        }
        if (o->msg.type == PAXOS_MSG_STATUS)
            assert_string_not_equal(o->addr, "10.0.0.2:17001"); /* not back to the asker */
    }
    assert_int_equal(snapshots, 1);
    assert_int_equal(relayed_to_4, 1);
    paxos_node_destroy(node);
    test_free(st);
    test_free(m);
    test_free(o);
}

/* All members restarted before any learned the decision: the accepted
 * value on disk is work, so the coordinator proposes again on its own
 * (seed 744149: nobody did until the next change request). */
static void test_restart_with_accepted_value_proposes_again(void **state)
{
    paxos_state_t *st = test_malloc(sizeof(*st));
    paxos_out_t *o = test_malloc(sizeof(*o));
    paxos_params_t p;
    paxos_effects_t eff;
    paxos_node_t *node;
    int prepares = 0;
    uint64_t now;

    (void)state;
    memset(st, 0, sizeof(*st));
    st->id = 1;
    st->incarnation = 101;
    st->max_round = 7;
    test_genesis(&st->chosen, 3);
    st->promised.round = st->accepted.round = 7;
    st->promised.node = st->accepted.node = 2;
    st->accepted_value = st->chosen;
    st->accepted_value.epoch = 2;
    test_params(&p, 1);
    node = paxos_node_create(&p, st);
    for (now = 1000; now < 1000 + 4 * p.takeover_timeout && prepares == 0; now += 5) {
        paxos_node_tick(node, now, &eff);
        while (paxos_node_pop(node, o)) {
            if (o->msg.type == PAXOS_MSG_PREPARE) {
                prepares++;
                assert_true(o->msg.ballot.round > 7);
            }
        }
    }
    assert_int_not_equal(prepares, 0);
    paxos_node_destroy(node);
    test_free(st);
    test_free(o);
}

/* paxos_node_next() gives the messages paxos_node_pop() would, in order,
 * where the node keeps them, and empties the outbox the same way. */
static void test_next_reads_the_outbox_in_place(void **state)
{
    fix_t *f = *state;
    paxos_params_t p;
    paxos_node_t *a, *b;
    paxos_effects_t eff;
    paxos_out_t *o = test_malloc(sizeof(*o));
    const paxos_out_t *r;
    int n = 0;

    (void)f;
    test_params(&p, 9);
    a = paxos_node_create(&p, NULL);
    b = paxos_node_create(&p, NULL);
    paxos_node_join(a, 0, "10.0.0.1:17001", &eff);
    paxos_node_join(b, 0, "10.0.0.1:17001", &eff);
    assert_int_equal(eff.nsend, 2);
    while (paxos_node_next(a, &r)) {
        assert_int_equal(paxos_node_pop(b, o), 1);
        assert_string_equal(r->addr, o->addr);
        assert_int_equal(r->msg.type, o->msg.type);
        assert_int_equal(r->msg.to, o->msg.to);
        assert_int_equal(r->msg.change.kind, o->msg.change.kind);
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(paxos_node_pop(b, o), 0);
    assert_int_equal(paxos_node_next(a, &r), 0);
    paxos_node_destroy(a);
    paxos_node_destroy(b);
    test_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_removed_leaver_follows_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leaver_stays_a_member_until_the_switch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_switch_ends_its_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_reads_the_outbox_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coordinator_batches_then_prepares_durably, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_majority_of_promises_sends_one_batched_value, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_majority_accepted_installs_and_announces, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_promise_with_accepted_value_is_adopted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_nack_retries_with_higher_round, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silence_retries_after_phase_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follower_forwards_request_to_coordinator,
                                        setup_follower, teardown),
        cmocka_unit_test_setup_teardown(test_follower_takes_over_when_coordinator_fails,
                                        setup_follower, teardown),
        cmocka_unit_test_setup_teardown(test_alive_report_cancels_removal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removal_request_of_an_older_epoch_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pending_removal_ends_with_its_epoch, setup_follower,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_id_and_never_reuses_round, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_prepare_is_answered_with_decision, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_joiner_asks_seed_then_learns_its_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_behind_node_asks_every_member_before_snapshot, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_behind_node_takes_chosen_from_any_member, setup,
                                        teardown),
        cmocka_unit_test(test_unserved_status_is_relayed_to_members_of_kept_configurations),
        cmocka_unit_test(test_restart_with_accepted_value_proposes_again),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
