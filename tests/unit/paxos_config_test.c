/* tests/unit/paxos_config_test.c: paxos/paxos_config.c, the limits a
 * configuration keeps so that ring/ can always place it: member weights
 * 1..PAXOS_MAX_WEIGHT, their sum at most PAXOS_MAX_TOTAL_WEIGHT, R at most
 * PAXOS_MAX_REPLICAS. A change past them is refused (a no-op that leaves
 * the configuration unchanged) and paxos_config_admits() says why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/rc.h"
#include "paxos/paxos.h"
#include "tests/unit/paxos_test_util.h"

typedef struct fix_s {
    paxos_config_t cfg, before;
    paxos_change_t ch;
} fix_t;

static int setup(void **state)
{
    fix_t *f = test_malloc(sizeof(*f));

    memset(f, 0, sizeof(*f));
    test_genesis(&f->cfg, 3); /* members 1..3, weight 1 each */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    test_free(*state);
    return 0;
}

static paxos_change_t *join(fix_t *f, uint64_t token, uint32_t weight)
{
    memset(&f->ch, 0, sizeof(f->ch));
    f->ch.kind = PAXOS_CHANGE_JOIN;
    f->ch.incarnation = token;
    f->ch.weight = weight;
    strcpy(f->ch.bus_addr, "10.0.0.9:17001");
    strcpy(f->ch.client_addr, "10.0.0.9:7001");
    return &f->ch;
}

static paxos_change_t *reweigh(fix_t *f, uint64_t id, uint32_t weight)
{
    memset(&f->ch, 0, sizeof(f->ch));
    f->ch.kind = PAXOS_CHANGE_WEIGHT;
    f->ch.id = id;
    f->ch.incarnation = 100 + id; /* test_genesis() */
    f->ch.weight = weight;
    return &f->ch;
}

/* Refused: a no-op that leaves the configuration exactly as it was. */
static void assert_refused(fix_t *f, int why)
{
    f->before = f->cfg;
    assert_int_equal(paxos_config_admits(&f->cfg, &f->ch), why);
    assert_int_equal(paxos_config_apply(&f->cfg, &f->ch), 0);
    assert_memory_equal(&f->cfg, &f->before, sizeof(f->cfg));
}

static void test_join_weight_over_the_ring_maximum_is_refused(void **state)
{
    fix_t *f = *state;

    join(f, 900, PAXOS_MAX_WEIGHT + 1);
    assert_int_equal(paxos_change_check(&f->ch), -EINVAL);
    assert_refused(f, -EINVAL);
    join(f, 900, 65536); /* was accepted before, then the ring refused it */
    assert_refused(f, -EINVAL);
    join(f, 900, 0);
    assert_refused(f, -EINVAL);
}

static void test_join_weight_at_the_maximum_is_applied(void **state)
{
    fix_t *f = *state;

    join(f, 900, PAXOS_MAX_WEIGHT);
    assert_int_equal(paxos_config_admits(&f->cfg, &f->ch), 0);
    assert_int_equal(paxos_config_apply(&f->cfg, &f->ch), 1);
    assert_int_equal(f->cfg.nmembers, 4);
    assert_int_equal(f->cfg.members[3].weight, PAXOS_MAX_WEIGHT);
    assert_int_equal(paxos_config_check(&f->cfg), 0);
}

/* 16 joins of weight 1000 after three of weight 1: the 17th would pass
 * 16384 in total, a join of exactly the rest fits. */
static void test_join_past_the_total_weight_is_refused(void **state)
{
    fix_t *f = *state;
    uint32_t total = 3;
    uint64_t token = 900;

    while (total + PAXOS_MAX_WEIGHT <= PAXOS_MAX_TOTAL_WEIGHT) {
        assert_int_equal(paxos_config_apply(&f->cfg, join(f, token++, PAXOS_MAX_WEIGHT)), 1);
        total += PAXOS_MAX_WEIGHT;
    }
    assert_int_equal(total, 16003);
    join(f, token, PAXOS_MAX_TOTAL_WEIGHT - total + 1);
    assert_refused(f, RC_ETOOBIG);
    join(f, token, PAXOS_MAX_TOTAL_WEIGHT - total);
    assert_int_equal(paxos_config_apply(&f->cfg, &f->ch), 1);
    assert_int_equal(paxos_config_check(&f->cfg), 0);
    join(f, token + 1, 1);
    assert_refused(f, RC_ETOOBIG);
}

/* JOIN is admitted against the target total: a leaver's weight is free
 * for a joiner at once. The serving total never passes the limit either:
 * live weights become the target ones only at the switch. */
static void test_leaver_weight_is_free_for_a_join_and_serving_stays_bounded(void **state)
{
    fix_t *f = *state;
    paxos_change_t leave, ready;
    uint32_t total = 3, i;
    uint64_t token = 900;

    while (total + PAXOS_MAX_WEIGHT <= PAXOS_MAX_TOTAL_WEIGHT) {
        assert_int_equal(paxos_config_apply(&f->cfg, join(f, token++, PAXOS_MAX_WEIGHT)), 1);
        total += PAXOS_MAX_WEIGHT;
    }
    memset(&ready, 0, sizeof(ready));
    ready.kind = PAXOS_CHANGE_READY;
    ready.transition = f->cfg.transition;
    for (i = 0; i < f->cfg.nmembers; i++) {
        ready.id = f->cfg.members[i].id;
        ready.incarnation = f->cfg.members[i].incarnation;
        assert_int_equal(paxos_config_apply(&f->cfg, &ready), 1);
    }
    assert_false(paxos_config_in_transition(&f->cfg));
    memset(&leave, 0, sizeof(leave));
    leave.kind = PAXOS_CHANGE_LEAVE;
    leave.id = f->cfg.members[3].id; /* weight 1000 */
    leave.incarnation = f->cfg.members[3].incarnation;
    assert_int_equal(paxos_config_apply(&f->cfg, &leave), 1);
    assert_int_equal(paxos_config_apply(&f->cfg, join(f, token++, PAXOS_MAX_WEIGHT)), 1);
    assert_int_equal(paxos_config_check(&f->cfg), 0); /* serving 16003, target 16003 */
    f->cfg.members[f->cfg.nmembers - 1].live_weight = PAXOS_MAX_WEIGHT; /* serving 17003 */
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
}

static void test_join_to_a_full_configuration_is_refused(void **state)
{
    fix_t *f = *state;
    uint64_t token = 900;

    while (f->cfg.nmembers < PAXOS_MAX_MEMBERS)
        assert_int_equal(paxos_config_apply(&f->cfg, join(f, token++, 1)), 1);
    join(f, token, 1);
    assert_refused(f, -ENOSPC);
}

static void test_weight_change_over_the_ring_maximum_is_refused(void **state)
{
    fix_t *f = *state;

    reweigh(f, 2, PAXOS_MAX_WEIGHT + 1);
    assert_int_equal(paxos_change_check(&f->ch), -EINVAL);
    assert_refused(f, -EINVAL);
    reweigh(f, 2, PAXOS_MAX_WEIGHT);
    assert_int_equal(paxos_config_apply(&f->cfg, &f->ch), 1);
    assert_int_equal(f->cfg.members[1].weight, PAXOS_MAX_WEIGHT);
}

/* A weight change counts the member's new weight instead of its old one. */
static void test_weight_change_past_the_total_weight_is_refused(void **state)
{
    fix_t *f = *state;
    uint64_t token = 900;
    uint32_t i;

    for (i = 0; i < 16; i++)
        assert_int_equal(paxos_config_apply(&f->cfg, join(f, token++, PAXOS_MAX_WEIGHT)), 1);
    /* total 16003: member 1 (weight 1) may grow by 381 at most */
    reweigh(f, 1, 383);
    assert_refused(f, RC_ETOOBIG);
    reweigh(f, 1, 382);
    assert_int_equal(paxos_config_admits(&f->cfg, &f->ch), 0);
    assert_int_equal(paxos_config_apply(&f->cfg, &f->ch), 1);
    assert_int_equal(paxos_config_check(&f->cfg), 0);
    /* Shrinking is always fine. */
    reweigh(f, 1, 1);
    assert_int_equal(paxos_config_apply(&f->cfg, &f->ch), 1);
}

static void test_removal_is_always_admitted(void **state)
{
    fix_t *f = *state;

    memset(&f->ch, 0, sizeof(f->ch));
    f->ch.kind = PAXOS_CHANGE_REMOVE;
    f->ch.id = 3;
    f->ch.incarnation = 103;
    assert_int_equal(paxos_config_admits(&f->cfg, &f->ch), 0);
    assert_int_equal(paxos_config_apply(&f->cfg, &f->ch), 1);
}

static void test_config_check_refuses_what_the_ring_cannot_place(void **state)
{
    fix_t *f = *state;

    assert_int_equal(paxos_config_check(&f->cfg), 0);
    f->cfg.replicas = PAXOS_MAX_REPLICAS;
    assert_int_equal(paxos_config_check(&f->cfg), 0);
    f->cfg.replicas = PAXOS_MAX_REPLICAS + 1;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
    f->cfg.replicas = 1;
    f->cfg.members[0].weight = PAXOS_MAX_WEIGHT + 1;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
    f->cfg.members[0].weight = PAXOS_MAX_WEIGHT;
    f->cfg.members[1].weight = PAXOS_MAX_WEIGHT;
    assert_int_equal(paxos_config_check(&f->cfg), 0);
}

static void test_config_check_refuses_a_total_weight_over_the_limit(void **state)
{
    fix_t *f = *state;
    uint64_t token = 900;

    while (f->cfg.nmembers < 19)
        assert_int_equal(paxos_config_apply(&f->cfg, join(f, token++, 1)), 1);
    for (uint32_t i = 0; i < 16; i++)
        f->cfg.members[i].weight = PAXOS_MAX_WEIGHT;
    f->cfg.members[16].weight = 384 - 2; /* 16000 + 382 + 1 + 1 = 16384 */
    assert_int_equal(paxos_config_check(&f->cfg), 0);
    f->cfg.members[16].weight++;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
}

/* A founding node given R = 5 (past the ring's 4) does not bootstrap. */
static void test_founding_configuration_past_the_limits_is_refused(void **state)
{
    fix_t *f = *state;
    paxos_params_t p;
    paxos_effects_t eff;
    paxos_node_t *node;

    (void)f;
    paxos_params_default(&p, 101, "10.0.0.1:7001", "10.0.0.1:17001", 1, 7);
    node = paxos_node_create(&p, NULL);
    f->cfg.replicas = PAXOS_MAX_REPLICAS + 1;
    assert_int_equal(paxos_node_bootstrap(node, 0, &f->cfg, &eff), -EINVAL);
    f->cfg.replicas = PAXOS_MAX_REPLICAS;
    assert_int_equal(paxos_node_bootstrap(node, 0, &f->cfg, &eff), 0);
    paxos_node_destroy(node);
}

/* The codec refuses the same: a configuration past a limit neither encodes
 * nor decodes (an old peer's or a corrupt file's). */
static void test_codec_refuses_a_configuration_past_the_limits(void **state)
{
    fix_t *f = *state;
    uint8_t buf[PAXOS_ENCODED_MAX];
    int n;

    f->cfg.replicas = PAXOS_MAX_REPLICAS + 1;
    assert_int_equal(paxos_config_encode(&f->cfg, buf, sizeof(buf)), -EINVAL);
    f->cfg.replicas = PAXOS_MAX_REPLICAS;
    n = paxos_config_encode(&f->cfg, buf, sizeof(buf));
    assert_true(n > 0);
    /* replicas is the u32 after the 3-byte header, epoch and next_id */
    assert_int_equal(buf[3 + 16], PAXOS_MAX_REPLICAS);
    buf[3 + 16] = PAXOS_MAX_REPLICAS + 1;
    assert_int_equal(paxos_config_decode(buf, (size_t)n, &f->before), RC_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_leaver_weight_is_free_for_a_join_and_serving_stays_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_weight_over_the_ring_maximum_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_join_weight_at_the_maximum_is_applied, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_join_past_the_total_weight_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_join_to_a_full_configuration_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_weight_change_over_the_ring_maximum_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_weight_change_past_the_total_weight_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_removal_is_always_admitted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_check_refuses_what_the_ring_cannot_place, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_check_refuses_a_total_weight_over_the_limit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_founding_configuration_past_the_limits_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_codec_refuses_a_configuration_past_the_limits, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
