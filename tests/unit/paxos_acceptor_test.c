/* tests/unit/paxos_acceptor_test.c: paxos/paxos_acceptor.c, the acceptor
 * steps on the durable state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "paxos/paxos_internal.h"
#include "tests/unit/paxos_test_util.h"

typedef struct fix_s {
    paxos_state_t st;
    paxos_msg_t in, out;
} fix_t;

static int setup(void **state)
{
    fix_t *f = test_malloc(sizeof(*f));

    memset(f, 0, sizeof(*f));
    test_genesis(&f->st.chosen, 3);
    f->st.id = 2;
    f->st.incarnation = 102;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    test_free(*state);
    return 0;
}

static paxos_msg_t *prepare(fix_t *f, uint64_t round, uint64_t node)
{
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = PAXOS_MSG_PREPARE;
    f->in.epoch = 1;
    f->in.from = node;
    f->in.ballot.round = round;
    f->in.ballot.node = node;
    return &f->in;
}

static paxos_msg_t *accept(fix_t *f, uint64_t round, uint64_t node, uint32_t weight)
{
    memset(&f->in, 0, sizeof(f->in));
    f->in.type = PAXOS_MSG_ACCEPT;
    f->in.epoch = 1;
    f->in.from = node;
    f->in.ballot.round = round;
    f->in.ballot.node = node;
    f->in.has_value = 1;
    f->in.value = f->st.chosen;
    f->in.value.epoch = 2;
    f->in.value.members[0].weight = weight;
    return &f->in;
}

static void test_prepare_higher_ballot_is_promised_durably(void **state)
{
    fix_t *f = *state;

    assert_int_equal(paxos_acceptor_on_prepare(&f->st, prepare(f, 5, 1), &f->out),
                     PAXOS_STEP_REPLY_DURABLE);
    assert_int_equal(f->out.type, PAXOS_MSG_PROMISE);
    assert_int_equal(f->out.ballot.round, 5);
    assert_int_equal(f->out.to, 1);
    assert_int_equal(f->st.promised.round, 5);
    assert_int_equal(f->out.has_value, 0);
}

static void test_prepare_lower_ballot_is_nacked_with_winner(void **state)
{
    fix_t *f = *state;

    paxos_acceptor_on_prepare(&f->st, prepare(f, 5, 1), &f->out);
    assert_int_equal(paxos_acceptor_on_prepare(&f->st, prepare(f, 4, 3), &f->out),
                     PAXOS_STEP_REPLY);
    assert_int_equal(f->out.type, PAXOS_MSG_NACK);
    assert_int_equal(f->out.ballot.round, 5); /* tells the proposer what beat it */
    assert_int_equal(f->out.ballot.node, 1);
    assert_int_equal(f->st.promised.round, 5);
}

static void test_prepare_duplicate_needs_no_persist(void **state)
{
    fix_t *f = *state;

    paxos_acceptor_on_prepare(&f->st, prepare(f, 5, 1), &f->out);
    assert_int_equal(paxos_acceptor_on_prepare(&f->st, prepare(f, 5, 1), &f->out),
                     PAXOS_STEP_REPLY);
    assert_int_equal(f->out.type, PAXOS_MSG_PROMISE);
}

static void test_prepare_same_round_higher_node_wins(void **state)
{
    fix_t *f = *state;

    paxos_acceptor_on_prepare(&f->st, prepare(f, 5, 1), &f->out);
    assert_int_equal(paxos_acceptor_on_prepare(&f->st, prepare(f, 5, 3), &f->out),
                     PAXOS_STEP_REPLY_DURABLE);
    assert_int_equal(f->st.promised.node, 3);
}

static void test_prepare_other_epoch_is_dropped(void **state)
{
    fix_t *f = *state;
    paxos_msg_t *m = prepare(f, 5, 1);

    m->epoch = 2;
    assert_int_equal(paxos_acceptor_on_prepare(&f->st, m, &f->out), PAXOS_STEP_DROP);
    m->epoch = 0;
    assert_int_equal(paxos_acceptor_on_prepare(&f->st, m, &f->out), PAXOS_STEP_DROP);
    assert_int_equal(f->st.promised.round, 0);
}

static void test_prepare_round_zero_is_dropped(void **state)
{
    fix_t *f = *state;

    assert_int_equal(paxos_acceptor_on_prepare(&f->st, prepare(f, 0, 1), &f->out), PAXOS_STEP_DROP);
}

static void test_non_member_does_not_act_as_acceptor(void **state)
{
    fix_t *f = *state;

    f->st.id = 9; /* not in C_1 */
    assert_int_equal(paxos_acceptor_on_prepare(&f->st, prepare(f, 5, 1), &f->out), PAXOS_STEP_DROP);
    assert_int_equal(paxos_acceptor_on_accept(&f->st, accept(f, 5, 1, 7), &f->out),
                     PAXOS_STEP_DROP);
}

static void test_accept_records_value_durably(void **state)
{
    fix_t *f = *state;

    assert_int_equal(paxos_acceptor_on_accept(&f->st, accept(f, 5, 1, 7), &f->out),
                     PAXOS_STEP_REPLY_DURABLE);
    assert_int_equal(f->out.type, PAXOS_MSG_ACCEPTED);
    assert_int_equal(f->st.accepted.round, 5);
    assert_int_equal(f->st.promised.round, 5);
    assert_int_equal(f->st.accepted_value.members[0].weight, 7);
}

static void test_accept_below_promise_is_nacked(void **state)
{
    fix_t *f = *state;

    paxos_acceptor_on_prepare(&f->st, prepare(f, 6, 3), &f->out);
    assert_int_equal(paxos_acceptor_on_accept(&f->st, accept(f, 5, 1, 7), &f->out),
                     PAXOS_STEP_REPLY);
    assert_int_equal(f->out.type, PAXOS_MSG_NACK);
    assert_int_equal(f->out.ballot.round, 6);
    assert_int_equal(f->st.accepted.round, 0);
}

static void test_promise_reports_accepted_value(void **state)
{
    fix_t *f = *state;

    paxos_acceptor_on_accept(&f->st, accept(f, 5, 1, 7), &f->out);
    assert_int_equal(paxos_acceptor_on_prepare(&f->st, prepare(f, 8, 3), &f->out),
                     PAXOS_STEP_REPLY_DURABLE);
    assert_int_equal(f->out.type, PAXOS_MSG_PROMISE);
    assert_int_equal(f->out.has_value, 1);
    assert_int_equal(f->out.accepted_ballot.round, 5);
    assert_int_equal(f->out.value.epoch, 2);
    assert_int_equal(f->out.value.members[0].weight, 7);
}

static void test_accept_duplicate_needs_no_persist(void **state)
{
    fix_t *f = *state;

    paxos_acceptor_on_accept(&f->st, accept(f, 5, 1, 7), &f->out);
    assert_int_equal(paxos_acceptor_on_accept(&f->st, accept(f, 5, 1, 7), &f->out),
                     PAXOS_STEP_REPLY);
    assert_int_equal(f->out.type, PAXOS_MSG_ACCEPTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prepare_higher_ballot_is_promised_durably, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prepare_lower_ballot_is_nacked_with_winner, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prepare_duplicate_needs_no_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_same_round_higher_node_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_other_epoch_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_round_zero_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_member_does_not_act_as_acceptor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_records_value_durably, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_below_promise_is_nacked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_promise_reports_accepted_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_duplicate_needs_no_persist, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
