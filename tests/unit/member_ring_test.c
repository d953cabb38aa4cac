/* tests/unit/member_ring_test.c: member/member_ring.c, a chosen
 * configuration -> the slot table: the mapping pinned by a golden digest,
 * member names, and the limits paxos/ and ring/ must agree on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "member/member.h"
#include "paxos/paxos.h"
#include "ring/ring.h"

static void add(paxos_config_t *c, uint64_t id, uint64_t incarnation, uint32_t weight)
{
    paxos_member_t *m = &c->members[c->nmembers++];

    m->id = id;
    m->incarnation = incarnation;
    m->weight = weight;
    m->live_weight = weight; /* serving: out of transition */
    m->state = PAXOS_MEMBER_ACTIVE;
    snprintf(m->client_addr, sizeof(m->client_addr), "10.1.0.%u:7001", (unsigned)id);
    snprintf(m->bus_addr, sizeof(m->bus_addr), "10.1.0.%u:17001", (unsigned)id);
    if (id >= c->next_id)
        c->next_id = id + 1;
}

/* The fixed configuration of the golden test: epoch 42, R=2, five members
 * with gaps in their ids (3 and 6 were removed) and mixed weights. */
static void golden_config(paxos_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->epoch = 42;
    c->replicas = 2;
    add(c, 1, UINT64_C(0x9e3779b97f4a7c15), 1);
    add(c, 2, UINT64_C(0x0123456789abcdef), 2);
    add(c, 4, UINT64_C(0x00000000deadbeef), 3);
    add(c, 5, UINT64_C(0xfedcba9876543210), 5);
    add(c, 7, UINT64_C(0x1), 8);
    c->next_id = 8;
    assert_int_equal(paxos_config_check(c), 0);
}

/* Pins the mapping. If this fails, the configuration -> ring mapping (names,
 * weights, R, ε, points) or ring placement changed: every live cluster would
 * remap keys. Update it only with a documented placement change (and raise
 * ring's PLACEMENT_REVISION if ring_test.c does not change too). */
static void test_golden_configuration_maps_to_pinned_digest(void **state)
{
    paxos_config_t *c = test_malloc(sizeof(*c));
    ring_t *r = NULL;

    (void)state;
    golden_config(c);
    assert_int_equal(member_ring_build(c, &r), 0);
    print_message("member golden digest 0x%016llx\n", (unsigned long long)ring_digest(r));
    assert_int_equal(ring_epoch(r), 42);
    assert_int_equal(ring_copies(r), 3);
    assert_int_equal(ring_member_count(r), 5);
    assert_int_equal(ring_digest(r), UINT64_C(0xb6a490404100de4b));
    ring_destroy(r);
    test_free(c);
}

static void test_member_name_is_incarnation_then_id_in_hex(void **state)
{
    char name[MEMBER_NAME_LEN + 1];

    (void)state;
    member_ring_name(7, UINT64_C(0x9e3779b97f4a7c15), name);
    assert_string_equal(name, "9e3779b97f4a7c15000000000000000000000007");
    member_ring_name(UINT64_MAX, UINT64_MAX, name);
    assert_string_equal(name, "ffffffffffffffff00000000ffffffffffffffff");
    assert_int_equal(strlen(name), MEMBER_NAME_LEN);
}

static void test_input_carries_names_weights_replicas_and_defaults(void **state)
{
    paxos_config_t *c = test_malloc(sizeof(*c));
    member_ring_input_t *in = test_malloc(sizeof(*in));

    (void)state;
    golden_config(c);
    assert_int_equal(member_ring_input(c, in), 0);
    assert_int_equal(in->epoch, 42);
    assert_int_equal(in->nmembers, 5);
    assert_int_equal(in->config.replicas, 2);
    assert_int_equal(in->config.balance_ppm, RING_DEFAULT_BALANCE_PPM);
    assert_int_equal(in->config.points, RING_DEFAULT_POINTS);
    assert_string_equal(in->members[2].id, "00000000deadbeef000000000000000000000004");
    assert_ptr_equal(in->members[2].id, in->names[2]);
    assert_int_equal(in->members[4].weight, 8);
    test_free(in);
    test_free(c);
}

/* The same configuration under another epoch places identically (the epoch
 * is stored, not hashed); another R does not. */
static void test_epoch_does_not_move_slots_but_replicas_do(void **state)
{
    paxos_config_t *c = test_malloc(sizeof(*c));
    ring_t *a = NULL, *b = NULL, *d = NULL;

    (void)state;
    golden_config(c);
    assert_int_equal(member_ring_build(c, &a), 0);
    c->epoch = 43;
    assert_int_equal(member_ring_build(c, &b), 0);
    c->replicas = 1;
    assert_int_equal(member_ring_build(c, &d), 0);
    assert_int_equal(ring_digest(a), ring_digest(b));
    assert_int_not_equal(ring_digest(a), ring_digest(d));
    ring_destroy(a);
    ring_destroy(b);
    ring_destroy(d);
    test_free(c);
}

static void test_malformed_configuration_is_refused(void **state)
{
    paxos_config_t *c = test_malloc(sizeof(*c));
    member_ring_input_t *in = test_malloc(sizeof(*in));
    ring_t *r = (ring_t *)c;

    (void)state;
    memset(c, 0, sizeof(*c)); /* epoch 0, no members */
    assert_int_equal(member_ring_input(c, in), -EINVAL);
    assert_int_equal(in->nmembers, 0);
    assert_int_equal(member_ring_build(c, &r), -EINVAL);
    assert_null(r);
    golden_config(c);
    c->members[0].weight = PAXOS_MAX_WEIGHT + 1;
    assert_int_equal(member_ring_build(c, &r), -EINVAL);
    test_free(in);
    test_free(c);
}

/* The paxos limits are ring's (member_ring.c also checks it at compile
 * time): one past each is refused by both, the limit itself by neither. */
static void test_paxos_limits_equal_what_ring_can_place(void **state)
{
    ring_member_t one = {"a", PAXOS_MAX_WEIGHT};
    ring_config_t rc = {PAXOS_MAX_REPLICAS, 0, 0};
    ring_t *r = NULL;

    (void)state;
    assert_int_equal(PAXOS_MAX_WEIGHT, RING_WEIGHT_MAX);
    assert_int_equal(PAXOS_MAX_TOTAL_WEIGHT, RING_TOTAL_WEIGHT_MAX);
    assert_int_equal(PAXOS_MAX_REPLICAS, RING_MAX_REPLICAS);
    assert_int_equal(ring_build(1, &one, 1, &rc, &r), 0);
    ring_destroy(r);
    one.weight = PAXOS_MAX_WEIGHT + 1;
    assert_int_equal(ring_build(1, &one, 1, &rc, &r), -EINVAL);
    one.weight = 1;
    rc.replicas = PAXOS_MAX_REPLICAS + 1;
    assert_int_equal(ring_build(1, &one, 1, &rc, &r), -EINVAL);
}

/* The largest configuration paxos accepts (64 members, total weight
 * exactly PAXOS_MAX_TOTAL_WEIGHT, R = PAXOS_MAX_REPLICAS) builds a table;
 * one more unit of weight and paxos refuses it. */
static void test_configuration_at_every_limit_builds_a_table(void **state)
{
    paxos_config_t *c = test_malloc(sizeof(*c));
    ring_t *r = NULL;
    uint32_t i;

    (void)state;
    memset(c, 0, sizeof(*c));
    c->epoch = 9;
    c->replicas = PAXOS_MAX_REPLICAS;
    for (i = 0; i < PAXOS_MAX_MEMBERS; i++)
        add(c, i + 1, 1000 + i, PAXOS_MAX_TOTAL_WEIGHT / PAXOS_MAX_MEMBERS);
    assert_int_equal(paxos_config_check(c), 0);
    assert_int_equal(member_ring_build(c, &r), 0);
    assert_int_equal(ring_member_count(r), PAXOS_MAX_MEMBERS);
    assert_int_equal(ring_copies(r), PAXOS_MAX_REPLICAS + 1);
    ring_destroy(r);
    c->members[0].weight++;
    assert_int_equal(paxos_config_check(c), -EINVAL);
    assert_int_equal(member_ring_build(c, &r), -EINVAL);
    test_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_configuration_maps_to_pinned_digest),
        cmocka_unit_test(test_member_name_is_incarnation_then_id_in_hex),
        cmocka_unit_test(test_input_carries_names_weights_replicas_and_defaults),
        cmocka_unit_test(test_epoch_does_not_move_slots_but_replicas_do),
        cmocka_unit_test(test_malformed_configuration_is_refused),
        cmocka_unit_test(test_paxos_limits_equal_what_ring_can_place),
        cmocka_unit_test(test_configuration_at_every_limit_builds_a_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
