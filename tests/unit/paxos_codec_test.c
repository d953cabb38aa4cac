/* tests/unit/paxos_codec_test.c: paxos/paxos_codec.c, the wire and disk
 * encoding: round trips, golden bytes, and rejection of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "paxos/paxos.h"
#include "tests/unit/paxos_test_util.h"

typedef struct fix_s {
    paxos_config_t cfg, cfg2;
    paxos_msg_t msg, msg2;
    paxos_state_t st, st2;
    uint8_t buf[PAXOS_ENCODED_MAX], buf2[PAXOS_ENCODED_MAX];
} fix_t;

static int setup(void **state)
{
    fix_t *f = test_malloc(sizeof(*f));

    memset(f, 0, sizeof(*f));
    test_genesis(&f->cfg, 3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    test_free(*state);
    return 0;
}

static void msg_of(fix_t *f, uint8_t type)
{
    memset(&f->msg, 0, sizeof(f->msg));
    f->msg.type = type;
    f->msg.epoch = 7;
    f->msg.from = 2;
    f->msg.to = 3;
    strcpy(f->msg.from_addr, "10.0.0.2:17001");
    f->msg.ballot.round = 9;
    f->msg.ballot.node = 2;
    if (type == PAXOS_MSG_PROMISE || type == PAXOS_MSG_ACCEPT || type == PAXOS_MSG_CHOSEN ||
        type == PAXOS_MSG_SNAPSHOT) {
        f->msg.has_value = 1;
        f->msg.value = f->cfg;
        f->msg.value.epoch = 8;
    }
    if (type == PAXOS_MSG_PROMISE) {
        f->msg.accepted_ballot.round = 4;
        f->msg.accepted_ballot.node = 1;
    }
    if (type == PAXOS_MSG_REQUEST) {
        f->msg.change.kind = PAXOS_CHANGE_JOIN;
        f->msg.change.incarnation = 77;
        f->msg.change.weight = 3;
        strcpy(f->msg.change.bus_addr, "10.0.0.9:17001");
        strcpy(f->msg.change.client_addr, "10.0.0.9:7001");
    }
}

static void test_config_round_trips(void **state)
{
    fix_t *f = *state;
    int n = paxos_config_encode(&f->cfg, f->buf, sizeof(f->buf));

    assert_true(n > 0);
    assert_int_equal(paxos_config_decode(f->buf, (size_t)n, &f->cfg2), 0);
    assert_true(paxos_config_equal(&f->cfg, &f->cfg2));
    assert_int_equal(f->cfg2.members[2].id, 3);
    assert_string_equal(f->cfg2.members[2].bus_addr, "10.0.0.3:17001");
}

static void test_every_message_type_round_trips(void **state)
{
    fix_t *f = *state;
    uint8_t type;

    for (type = PAXOS_MSG_PREPARE; type <= PAXOS_MSG_SNAPSHOT; type++) {
        int n, n2;

        msg_of(f, type);
        n = paxos_msg_encode(&f->msg, f->buf, sizeof(f->buf));
        assert_true(n > 0);
        assert_int_equal(paxos_msg_decode(f->buf, (size_t)n, &f->msg2), 0);
        assert_int_equal(f->msg2.type, type);
        assert_int_equal(f->msg2.epoch, 7);
        assert_string_equal(f->msg2.from_addr, "10.0.0.2:17001");
        n2 = paxos_msg_encode(&f->msg2, f->buf2, sizeof(f->buf2));
        assert_int_equal(n, n2);
        assert_memory_equal(f->buf, f->buf2, (size_t)n);
        if (f->msg.has_value)
            assert_true(paxos_config_equal(&f->msg.value, &f->msg2.value));
    }
}

static void test_prepare_matches_golden_bytes(void **state)
{
    static const uint8_t golden[] = {
        'P', 'M', 2,   1,               /* magic, version, PREPARE */
        7,   0,   0,   0,   0, 0, 0, 0, /* epoch 7 */
        2,   0,   0,   0,   0, 0, 0, 0, /* from 2 */
        3,   0,   0,   0,   0, 0, 0, 0, /* to 3 */
        3,   '1', ':', '2',             /* from_addr */
        9,   0,   0,   0,   0, 0, 0, 0, /* round 9 */
        2,   0,   0,   0,   0, 0, 0, 0, /* ballot node 2 */
    };
    fix_t *f = *state;
    int n;

    msg_of(f, PAXOS_MSG_PREPARE);
    strcpy(f->msg.from_addr, "1:2");
    n = paxos_msg_encode(&f->msg, f->buf, sizeof(f->buf));
    assert_int_equal(n, sizeof(golden));
    assert_memory_equal(f->buf, golden, sizeof(golden));
}

static void test_config_matches_golden_bytes(void **state)
{
    static const uint8_t golden[] = {
        'P', 'C', 2,                             /* magic, version */
        1,   0,   0,   0,   0, 0,   0,   0,      /* epoch 1 */
        2,   0,   0,   0,   0, 0,   0,   0,      /* next_id 2 */
        1,   0,   0,   0,                        /* replicas 1 */
        1,   5,   0,   0,   0, 0,   0,   0,   0, /* one recent token: 5 */
        0,   0,   0,   0,   0, 0,   0,   0,      /* transition 0 */
        0,                                       /* no retired member */
        1,                                       /* one member */
        1,   0,   0,   0,   0, 0,   0,   0,      /* id 1 */
        5,   0,   0,   0,   0, 0,   0,   0,      /* incarnation 5 */
        3,   'a', ':', '1', 3, 'b', ':', '2',    /* client, bus */
        0,   1,   0,   0,                        /* weight 256 */
        0,   1,   0,   0,                        /* live weight 256 */
        0,   0,   0,   0,   0, 0,   0,   0,      /* ready 0 */
        1,                                       /* ACTIVE */
    };
    fix_t *f = *state;
    int n;

    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.epoch = 1;
    f->cfg.replicas = 1;
    assert_int_equal(paxos_config_add(&f->cfg, 5, "a:1", "b:2", 256), 0);
    n = paxos_config_encode(&f->cfg, f->buf, sizeof(f->buf));
    assert_int_equal(n, sizeof(golden));
    assert_memory_equal(f->buf, golden, sizeof(golden));
}

/* A configuration in transition: member 1 (weight 256) failed while member 2
 * joined (weight 2, not serving yet) and reported READY for transition 2. */
static void test_config_in_transition_matches_golden_bytes(void **state)
{
    static const uint8_t golden[] = {
        'P', 'C', 2,                             /* magic, version */
        2,   0,   0,   0,   0, 0,   0,   0,      /* epoch 2 */
        3,   0,   0,   0,   0, 0,   0,   0,      /* next_id 3 */
        1,   0,   0,   0,                        /* replicas 1 */
        2,   5,   0,   0,   0, 0,   0,   0,   0, /* recent tokens: 5, */
        6,   0,   0,   0,   0, 0,   0,   0,      /* 6 */
        2,   0,   0,   0,   0, 0,   0,   0,      /* transition 2 */
        1,                                       /* one retired member */
        1,   0,   0,   0,   0, 0,   0,   0,      /* id 1 */
        5,   0,   0,   0,   0, 0,   0,   0,      /* incarnation 5 */
        0,   1,   0,   0,                        /* live weight 256 */
        1,                                       /* one member */
        2,   0,   0,   0,   0, 0,   0,   0,      /* id 2 */
        6,   0,   0,   0,   0, 0,   0,   0,      /* incarnation 6 */
        3,   'c', ':', '3', 3, 'd', ':', '4',    /* client, bus */
        2,   0,   0,   0,                        /* weight 2 */
        0,   0,   0,   0,                        /* live weight 0 */
        2,   0,   0,   0,   0, 0,   0,   0,   1, /* ready 2, ACTIVE */
    };
    fix_t *f = *state;
    paxos_change_t ch;
    int n;

    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.epoch = 1;
    f->cfg.replicas = 1;
    assert_int_equal(paxos_config_add(&f->cfg, 5, "a:1", "b:2", 256), 0);
    f->cfg.epoch = 2;
    memset(&ch, 0, sizeof(ch));
    ch.kind = PAXOS_CHANGE_JOIN;
    ch.incarnation = 6;
    ch.weight = 2;
    strcpy(ch.client_addr, "c:3");
    strcpy(ch.bus_addr, "d:4");
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 1);
    memset(&ch, 0, sizeof(ch));
    ch.kind = PAXOS_CHANGE_REMOVE;
    ch.id = 1;
    ch.incarnation = 5;
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 1);
    /* Set by hand: applied, READY(2) would end the transition (the switch). */
    f->cfg.members[0].ready = 2;
    n = paxos_config_encode(&f->cfg, f->buf, sizeof(f->buf));
    assert_int_equal(n, sizeof(golden));
    assert_memory_equal(f->buf, golden, sizeof(golden));
    assert_int_equal(paxos_config_decode(f->buf, (size_t)n, &f->cfg2), 0);
    assert_true(paxos_config_equal(&f->cfg, &f->cfg2));
}

static void test_ready_request_matches_golden_bytes(void **state)
{
    static const uint8_t golden[] = {
        'P', 'M', 2,   8,               /* magic, version, REQUEST */
        7,   0,   0,   0,   0, 0, 0, 0, /* epoch 7 */
        2,   0,   0,   0,   0, 0, 0, 0, /* from 2 */
        3,   0,   0,   0,   0, 0, 0, 0, /* to 3 */
        3,   '1', ':', '2',             /* from_addr */
        5,                              /* READY */
        2,   0,   0,   0,   0, 0, 0, 0, /* id 2 */
        102, 0,   0,   0,   0, 0, 0, 0, /* incarnation 102 */
        0,   0,   0,   0,               /* weight */
        0,   0,                         /* client, bus */
        9,   0,   0,   0,   0, 0, 0, 0, /* transition 9 */
    };
    fix_t *f = *state;
    int n;

    msg_of(f, PAXOS_MSG_REQUEST);
    strcpy(f->msg.from_addr, "1:2");
    memset(&f->msg.change, 0, sizeof(f->msg.change));
    f->msg.change.kind = PAXOS_CHANGE_READY;
    f->msg.change.id = 2;
    f->msg.change.incarnation = 102;
    f->msg.change.transition = 9;
    n = paxos_msg_encode(&f->msg, f->buf, sizeof(f->buf));
    assert_int_equal(n, sizeof(golden));
    assert_memory_equal(f->buf, golden, sizeof(golden));
    assert_int_equal(paxos_msg_decode(f->buf, (size_t)n, &f->msg2), 0);
    assert_int_equal(f->msg2.change.transition, 9);
    f->buf[n - 8] = 0; /* READY without a transition */
    assert_int_equal(paxos_msg_decode(f->buf, (size_t)n, &f->msg2), RC_EPROTO);
}

static void test_every_truncation_is_rejected(void **state)
{
    fix_t *f = *state;
    int n;
    size_t len;

    msg_of(f, PAXOS_MSG_ACCEPT);
    n = paxos_msg_encode(&f->msg, f->buf, sizeof(f->buf));
    for (len = 0; len < (size_t)n; len++)
        assert_int_equal(paxos_msg_decode(f->buf, len, &f->msg2), RC_EPROTO);
}

static void test_trailing_byte_is_rejected(void **state)
{
    fix_t *f = *state;
    int n = paxos_config_encode(&f->cfg, f->buf, sizeof(f->buf));

    f->buf[n] = 0;
    assert_int_equal(paxos_config_decode(f->buf, (size_t)n + 1, &f->cfg2), RC_EPROTO);
    assert_int_equal(f->cfg2.epoch, 0); /* left zeroed */
}

static void test_absurd_member_count_is_rejected(void **state)
{
    fix_t *f = *state;
    int n = paxos_config_encode(&f->cfg, f->buf, sizeof(f->buf));
    size_t at = 3 + 8 + 8 + 4 + 1 + 8 * f->cfg.nrecent + 8 + 1; /* nmembers byte */

    assert_int_equal(f->buf[at], 3);
    f->buf[at] = 200;
    assert_int_equal(paxos_config_decode(f->buf, (size_t)n, &f->cfg2), RC_EPROTO);
    f->buf[at] = PAXOS_MAX_MEMBERS;
    assert_int_equal(paxos_config_decode(f->buf, (size_t)n, &f->cfg2), RC_EPROTO);
}

static void test_bad_header_and_type_are_rejected(void **state)
{
    fix_t *f = *state;
    int n;

    msg_of(f, PAXOS_MSG_PREPARE);
    n = paxos_msg_encode(&f->msg, f->buf, sizeof(f->buf));
    f->buf[2] = 3; /* unknown version */
    assert_int_equal(paxos_msg_decode(f->buf, (size_t)n, &f->msg2), RC_EPROTO);
    f->buf[2] = 1; /* version 1 (no transitions) is refused too */
    assert_int_equal(paxos_msg_decode(f->buf, (size_t)n, &f->msg2), RC_EPROTO);
    f->buf[2] = 2;
    f->buf[3] = 42; /* unknown type */
    assert_int_equal(paxos_msg_decode(f->buf, (size_t)n, &f->msg2), RC_EPROTO);
    f->buf[3] = PAXOS_MSG_PREPARE;
    f->buf[1] = 'C'; /* a config is not a message */
    assert_int_equal(paxos_msg_decode(f->buf, (size_t)n, &f->msg2), RC_EPROTO);
}

static void test_unsorted_or_zero_ids_are_rejected(void **state)
{
    fix_t *f = *state;

    f->cfg.members[1].id = 1; /* duplicate of members[0] */
    assert_int_equal(paxos_config_encode(&f->cfg, f->buf, sizeof(f->buf)), -EINVAL);
    test_genesis(&f->cfg, 3);
    f->cfg.members[0].weight = 0;
    f->cfg.members[0].live_weight = 0; /* neither serving nor receiving */
    assert_int_equal(paxos_config_encode(&f->cfg, f->buf, sizeof(f->buf)), -EINVAL);
}

static void test_small_buffer_is_enospc(void **state)
{
    fix_t *f = *state;

    assert_int_equal(paxos_config_encode(&f->cfg, f->buf, 10), -ENOSPC);
}

static void test_full_config_fits_encoded_max(void **state)
{
    fix_t *f = *state;
    char addr[PAXOS_ADDR_MAX];
    int i, n;

    memset(addr, 'x', sizeof(addr) - 1);
    addr[sizeof(addr) - 1] = '\0';
    memset(&f->cfg, 0, sizeof(f->cfg));
    f->cfg.epoch = 1;
    for (i = 0; i < PAXOS_MAX_MEMBERS; i++)
        assert_int_equal(paxos_config_add(&f->cfg, 1000 + (uint64_t)i, addr, addr, 9), 0);
    msg_of(f, PAXOS_MSG_PROMISE);
    f->msg.value = f->cfg;
    f->msg.value.epoch = 8;
    n = paxos_msg_encode(&f->msg, f->buf, sizeof(f->buf));
    assert_true(n > 0 && n <= PAXOS_ENCODED_MAX);
    assert_int_equal(paxos_msg_decode(f->buf, (size_t)n, &f->msg2), 0);
    assert_int_equal(f->msg2.value.nmembers, PAXOS_MAX_MEMBERS);
    /* The largest state: two full configurations with every retired slot
     * used. */
    f->cfg.next_id = 200;
    f->cfg.transition = 3;
    f->cfg.nretired = PAXOS_MAX_RETIRED;
    for (i = 0; i < PAXOS_MAX_RETIRED; i++) {
        f->cfg.retired[i].id = 100 + (uint64_t)i;
        f->cfg.retired[i].incarnation = UINT64_MAX;
        f->cfg.retired[i].live_weight = 100;
    }
    for (i = 0; i < PAXOS_MAX_MEMBERS; i++)
        f->cfg.members[i].ready = UINT64_MAX - 1;
    f->cfg.transition = UINT64_MAX;
    f->st.id = UINT64_MAX;
    f->st.incarnation = UINT64_MAX;
    f->st.accepted.round = 1;
    f->st.accepted_value = f->cfg;
    f->st.chosen = f->cfg;
    n = paxos_state_encode(&f->st, f->buf, sizeof(f->buf));
    assert_true(n > 0 && n <= PAXOS_ENCODED_MAX);
    assert_int_equal(paxos_state_decode(f->buf, (size_t)n, &f->st2), 0);
    assert_true(paxos_config_equal(&f->st.chosen, &f->st2.chosen));
}

static void test_state_round_trips(void **state)
{
    fix_t *f = *state;
    int n;

    f->st.id = 2;
    f->st.incarnation = 102;
    f->st.max_round = 11;
    f->st.promised.round = 11;
    f->st.promised.node = 2;
    f->st.accepted = f->st.promised;
    f->st.accepted_value = f->cfg;
    f->st.accepted_value.epoch = 2;
    f->st.chosen = f->cfg;
    n = paxos_state_encode(&f->st, f->buf, sizeof(f->buf));
    assert_true(n > 0);
    assert_int_equal(paxos_state_decode(f->buf, (size_t)n, &f->st2), 0);
    assert_int_equal(f->st2.id, 2);
    assert_int_equal(f->st2.max_round, 11);
    assert_int_equal(f->st2.promised.round, 11);
    assert_true(paxos_config_equal(&f->st.accepted_value, &f->st2.accepted_value));
    assert_true(paxos_config_equal(&f->st.chosen, &f->st2.chosen));
    assert_int_equal(paxos_state_decode(f->buf, (size_t)n - 1, &f->st2), RC_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_message_type_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepare_matches_golden_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_matches_golden_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_in_transition_matches_golden_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ready_request_matches_golden_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trailing_byte_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absurd_member_count_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_header_and_type_are_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsorted_or_zero_ids_are_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_buffer_is_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_config_fits_encoded_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_round_trips, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
