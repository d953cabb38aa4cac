/* tests/unit/member_handoff_test.c: member/member_ring.c's two placements
 * and the hand-off map between them, played through the configuration
 * changes of paxos/ (JOIN, LEAVE, WEIGHT, REMOVE, READY). The rule under
 * test: no slot changes server between two live members without a fill
 * reported by its new server (READY), and a failed server's slots start
 * empty at their target. */
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
#include "tests/unit/paxos_test_util.h"

typedef struct fix_s {
    paxos_config_t cfg, prev;
    member_handoff_t map, before;
    member_ring_input_t in;
} fix_t;

static int setup(void **state)
{
    fix_t *f = test_malloc(sizeof(*f));

    memset(f, 0, sizeof(*f));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    test_free(*state);
    return 0;
}

/* test_genesis() with weight 10 each: with weight 1, ring/'s bounded
 * loads (epsilon 5%) also move a few slots between the old members on a
 * join (145 of 16384 for 3 -> 4): fills too, but these tests count. */
static void genesis(paxos_config_t *c, int n)
{
    int i;

    test_genesis(c, n);
    for (i = 0; i < n; i++)
        c->members[i].weight = c->members[i].live_weight = 10;
}

static paxos_change_t change(uint8_t kind, uint64_t id, uint64_t incarnation, uint32_t weight)
{
    paxos_change_t ch;

    memset(&ch, 0, sizeof(ch));
    ch.kind = kind;
    ch.id = id;
    ch.incarnation = incarnation;
    ch.weight = weight;
    if (kind == PAXOS_CHANGE_JOIN) {
        snprintf(ch.bus_addr, sizeof(ch.bus_addr), "10.0.1.%u:17001", (unsigned)incarnation);
        snprintf(ch.client_addr, sizeof(ch.client_addr), "10.0.1.%u:7001", (unsigned)incarnation);
    }
    return ch;
}

/* Applies 'ch' (it must change 'c'), then checks it is idempotent: a second
 * time it is a no-op that leaves 'c' as it is. */
static void apply(paxos_config_t *c, paxos_change_t ch)
{
    paxos_config_t *again = test_malloc(sizeof(*again));

    assert_int_equal(paxos_config_apply(c, &ch), 1);
    assert_int_equal(paxos_config_check(c), 0);
    *again = *c;
    assert_int_equal(paxos_config_apply(again, &ch), 0);
    assert_true(paxos_config_equal(again, c));
    test_free(again);
}

static uint64_t inc_of(const paxos_config_t *c, uint64_t id)
{
    int i = paxos_config_find(c, id);

    assert_true(i >= 0);
    return c->members[i].incarnation;
}

static void ready(paxos_config_t *c, uint64_t id)
{
    paxos_change_t ch = change(PAXOS_CHANGE_READY, id, inc_of(c, id), 0);

    ch.transition = c->transition;
    apply(c, ch);
}

static void build_map(const paxos_config_t *c, member_handoff_t *out)
{
    ring_t *serving, *target;

    assert_int_equal(member_ring_build2(c, &serving, &target), 0);
    assert_int_equal(serving == target, !paxos_config_in_transition(c));
    assert_int_equal(member_handoff_build(c, serving, target, out), 0);
    member_ring_free2(serving, target);
}

/* Member id of slot entry 'idx' of 'c' (-1: none). */
static int64_t id_at(const paxos_config_t *c, int16_t idx)
{
    return idx < 0 ? -1 : (int64_t)c->members[idx].id;
}

static int moves(const member_handoff_t *m)
{
    int s, n = 0;

    for (s = 0; s < RING_SLOTS; s++)
        n += m->serve[s] != m->target[s];
    return n;
}

/* Every slot of 'a' (of 'ca') is served by the same member in 'b' (of 'cb'). */
static void assert_same_servers(const paxos_config_t *ca, const member_handoff_t *a,
                                const paxos_config_t *cb, const member_handoff_t *b)
{
    int s;

    for (s = 0; s < RING_SLOTS; s++)
        assert_int_equal(id_at(ca, a->serve[s]), id_at(cb, b->serve[s]));
}

/* 3 -> 4: only the slots whose target is the joiner move (about 1/4), and
 * nobody's serving changes until the switch. */
static void test_join_moves_a_quarter_to_the_joiner_only(void **state)
{
    fix_t *f = *state;
    int s, n;

    genesis(&f->cfg, 3);
    build_map(&f->cfg, &f->before);
    assert_int_equal(moves(&f->before), 0);
    f->prev = f->cfg;
    apply(&f->cfg, change(PAXOS_CHANGE_JOIN, 0, 104, 10));
    assert_true(paxos_config_in_transition(&f->cfg));
    assert_int_equal(f->cfg.transition, 1);
    assert_int_equal(f->cfg.members[3].live_weight, 0);
    build_map(&f->cfg, &f->map);
    assert_true(f->map.in_transition);
    assert_same_servers(&f->prev, &f->before, &f->cfg, &f->map);
    assert_int_equal(f->map.nserve[3], 0);
    for (s = 0; s < RING_SLOTS; s++) {
        if (f->map.serve[s] != f->map.target[s])
            assert_int_equal(f->map.target[s], 3);
    }
    n = moves(&f->map);
    assert_int_equal(n, f->map.ntarget[3]);
    assert_true(n > RING_SLOTS / 4 - RING_SLOTS / 16 && n < RING_SLOTS / 4 + RING_SLOTS / 16);
}

/* The switch happens when the last target member reports READY, and then
 * every slot is served by its target. */
static void test_switch_needs_ready_from_every_target_member(void **state)
{
    fix_t *f = *state;
    int s;

    genesis(&f->cfg, 3);
    apply(&f->cfg, change(PAXOS_CHANGE_JOIN, 0, 104, 10));
    build_map(&f->cfg, &f->before);
    f->prev = f->cfg;
    ready(&f->cfg, 1);
    ready(&f->cfg, 2);
    ready(&f->cfg, 4);
    assert_true(paxos_config_in_transition(&f->cfg));
    ready(&f->cfg, 3); /* the last one: the switch */
    assert_false(paxos_config_in_transition(&f->cfg));
    assert_int_equal(f->cfg.transition, 1); /* kept */
    assert_int_equal(f->cfg.members[3].live_weight, 10);
    build_map(&f->cfg, &f->map);
    assert_false(f->map.in_transition);
    assert_int_equal(moves(&f->map), 0);
    for (s = 0; s < RING_SLOTS; s++)
        assert_int_equal(id_at(&f->cfg, f->map.serve[s]), id_at(&f->prev, f->before.target[s]));
}

/* A READY of another transition, of a member with no weight, or out of
 * transition is a no-op. */
static void test_stale_or_misplaced_ready_is_a_no_op(void **state)
{
    fix_t *f = *state;
    paxos_change_t ch;

    genesis(&f->cfg, 3);
    ch = change(PAXOS_CHANGE_READY, 1, 101, 0);
    ch.transition = 1;
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 0); /* not in transition */
    apply(&f->cfg, change(PAXOS_CHANGE_JOIN, 0, 104, 10));
    apply(&f->cfg, change(PAXOS_CHANGE_LEAVE, 2, 102, 0));
    assert_int_equal(f->cfg.transition, 2);
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 0); /* transition 1: stale */
    ch.transition = 3;
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 0); /* not yet */
    ch.transition = 2;
    ch.incarnation = 999;
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 0); /* another incarnation */
    ch = change(PAXOS_CHANGE_READY, 2, 102, 0);
    ch.transition = 2;
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 0); /* a leaver fills nothing */
    ch.transition = 0;
    assert_int_equal(paxos_change_check(&ch), -EINVAL);
}

/* A leaver keeps serving (and voting) until the switch; its slots are the
 * only ones that move; after the switch it is gone and its slots are
 * served by their targets. */
static void test_graceful_leave_serves_until_the_switch(void **state)
{
    fix_t *f = *state;
    int s;

    genesis(&f->cfg, 4);
    build_map(&f->cfg, &f->before);
    f->prev = f->cfg;
    apply(&f->cfg, change(PAXOS_CHANGE_LEAVE, 2, 102, 0));
    assert_int_equal(f->cfg.nmembers, 4); /* still a member */
    assert_int_equal(f->cfg.members[1].weight, 0);
    assert_int_equal(f->cfg.members[1].live_weight, 10);
    build_map(&f->cfg, &f->map);
    assert_same_servers(&f->prev, &f->before, &f->cfg, &f->map);
    assert_int_equal(f->map.ntarget[1], 0);
    assert_int_equal(moves(&f->map), f->map.nserve[1]);
    for (s = 0; s < RING_SLOTS; s++) {
        if (f->map.serve[s] != f->map.target[s])
            assert_int_equal(f->map.serve[s], 1);
    }
    f->before = f->map;
    f->prev = f->cfg;
    ready(&f->cfg, 1);
    ready(&f->cfg, 3);
    ready(&f->cfg, 4);
    assert_int_equal(f->cfg.nmembers, 3);
    assert_int_equal(paxos_config_find(&f->cfg, 2), -1);
    build_map(&f->cfg, &f->map);
    for (s = 0; s < RING_SLOTS; s++)
        assert_int_equal(id_at(&f->cfg, f->map.serve[s]), id_at(&f->prev, f->before.target[s]));
}

/* A joiner that leaves before it served is removed at once; the last
 * member with a weight cannot leave. */
static void test_leave_of_a_joiner_is_immediate_and_the_last_target_stays(void **state)
{
    fix_t *f = *state;
    paxos_change_t ch;

    genesis(&f->cfg, 2);
    apply(&f->cfg, change(PAXOS_CHANGE_JOIN, 0, 103, 10));
    apply(&f->cfg, change(PAXOS_CHANGE_LEAVE, 3, 103, 0));
    assert_int_equal(f->cfg.nmembers, 2);
    assert_false(paxos_config_in_transition(&f->cfg));
    assert_int_equal(f->cfg.transition, 2);
    apply(&f->cfg, change(PAXOS_CHANGE_LEAVE, 1, 101, 0));
    ch = change(PAXOS_CHANGE_LEAVE, 2, 102, 0);
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 0); /* nobody would take its slots */
    ch = change(PAXOS_CHANGE_WEIGHT, 1, 101, 5);
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 0); /* leaving: no new weight */
}

/* A weight change moves slots in the target only; the serving table stays. */
static void test_weight_change_moves_the_target_only(void **state)
{
    fix_t *f = *state;

    genesis(&f->cfg, 3);
    build_map(&f->cfg, &f->before);
    f->prev = f->cfg;
    apply(&f->cfg, change(PAXOS_CHANGE_WEIGHT, 1, 101, 30));
    assert_int_equal(f->cfg.members[0].live_weight, 10);
    build_map(&f->cfg, &f->map);
    assert_same_servers(&f->prev, &f->before, &f->cfg, &f->map);
    assert_true(f->map.ntarget[0] > f->map.nserve[0]);
    assert_true(moves(&f->map) > 0);
    ready(&f->cfg, 1);
    ready(&f->cfg, 2);
    ready(&f->cfg, 3);
    assert_false(paxos_config_in_transition(&f->cfg));
    assert_int_equal(f->cfg.members[0].live_weight, 30);
}

/* A serving member fails during a join: it is retired (its weight stays in
 * the serving table, so no slot of a live member changes server), and each
 * of its slots is served by its next copy on a live member (R = 1: it has
 * the data), or, when no copy is left (R = 0), starts empty at its target
 * ('fresh'). */
static void failure_during_join(fix_t *f, uint32_t replicas)
{
    int s, fresh = 0;

    genesis(&f->cfg, 4);
    f->cfg.replicas = replicas;
    apply(&f->cfg, change(PAXOS_CHANGE_JOIN, 0, 105, 10));
    ready(&f->cfg, 1);
    build_map(&f->cfg, &f->before);
    f->prev = f->cfg;
    apply(&f->cfg, change(PAXOS_CHANGE_REMOVE, 2, 102, 0));
    assert_int_equal(f->cfg.nretired, 1);
    assert_int_equal(f->cfg.retired[0].id, 2);
    assert_int_equal(f->cfg.retired[0].live_weight, 10);
    assert_int_equal(f->cfg.transition, 2);
    assert_int_equal(f->cfg.members[0].ready, 1); /* stale now: member 1 fills again */
    assert_int_equal(member_ring_input_serving(&f->cfg, &f->in), 0);
    assert_int_equal(f->in.nmembers, 4); /* 1, 2 (retired), 3, 4; not the joiner 5 */
    build_map(&f->cfg, &f->map);
    for (s = 0; s < RING_SLOTS; s++) {
        int64_t was = id_at(&f->prev, f->before.serve[s]);

        if (was == 2 && replicas == 0) {
            assert_int_equal(f->map.serve[s], f->map.target[s]);
            assert_true(f->map.fresh[s]);
        } else if (was == 2) {
            assert_int_not_equal(id_at(&f->cfg, f->map.serve[s]), 2);
            assert_int_not_equal(id_at(&f->cfg, f->map.serve[s]), 5); /* not the joiner */
            assert_false(f->map.fresh[s]);
            /* Failover: its server now is the synchronous replica it had. */
            assert_int_equal(f->before.nscopy[s], 2);
            assert_int_equal(f->map.nscopy[s], 1);
            assert_int_equal(id_at(&f->cfg, f->map.serve[s]),
                             id_at(&f->prev, f->before.scopy[s][1]));
        } else {
            assert_int_equal(id_at(&f->cfg, f->map.serve[s]), was);
            assert_false(f->map.fresh[s]);
        }
        fresh += f->map.fresh[s];
        assert_int_not_equal(id_at(&f->cfg, f->map.target[s]), 2);
    }
    assert_int_equal(fresh > 0, replicas == 0);
    ready(&f->cfg, 1);
    ready(&f->cfg, 3);
    ready(&f->cfg, 4);
    ready(&f->cfg, 5);
    assert_false(paxos_config_in_transition(&f->cfg));
    assert_int_equal(f->cfg.nretired, 0);
}

/* R = 2 on 4 members: three distinct copies per slot in both tables, the
 * first being the slot's server and target; out of transition the same. */
static void test_copies_are_distinct_members_led_by_the_server(void **state)
{
    fix_t *f = *state;
    int s;
    unsigned k, j;

    genesis(&f->cfg, 4);
    f->cfg.replicas = 2;
    build_map(&f->cfg, &f->map);
    for (s = 0; s < RING_SLOTS; s++) {
        assert_int_equal(f->map.nscopy[s], 3);
        assert_int_equal(f->map.ntcopy[s], 3);
        assert_int_equal(f->map.scopy[s][0], f->map.serve[s]);
        assert_int_equal(f->map.tcopy[s][0], f->map.target[s]);
        for (k = 0; k < 3; k++) {
            assert_int_equal(f->map.scopy[s][k], f->map.tcopy[s][k]);
            for (j = 0; j < k; j++)
                assert_int_not_equal(f->map.scopy[s][k], f->map.scopy[s][j]);
        }
    }
    /* A join: the target copies change for some slots, the serving ones
     * for none. */
    f->before = f->map;
    apply(&f->cfg, change(PAXOS_CHANGE_JOIN, 0, 105, 10));
    build_map(&f->cfg, &f->map);
    j = 0;
    for (s = 0; s < RING_SLOTS; s++) {
        assert_memory_equal(f->map.scopy[s], f->before.scopy[s], 3 * sizeof(int16_t));
        for (k = 0; k < 3; k++)
            j += f->map.tcopy[s][k] != f->map.scopy[s][k];
    }
    assert_true(j > 0);
}

static void test_failure_during_join_retires_without_moving_live_slots(void **state)
{
    failure_during_join(*state, 1);
}

static void test_failure_of_every_copy_starts_the_slot_empty_at_its_target(void **state)
{
    failure_during_join(*state, 0);
}

/* When only leavers remain (the last target member failed), the leaves
 * are cancelled: each gets its live weight back as its weight. */
static void test_failure_of_the_last_target_cancels_the_leaves(void **state)
{
    fix_t *f = *state;

    genesis(&f->cfg, 2);
    apply(&f->cfg, change(PAXOS_CHANGE_WEIGHT, 1, 101, 40));
    ready(&f->cfg, 1);
    ready(&f->cfg, 2);
    apply(&f->cfg, change(PAXOS_CHANGE_LEAVE, 1, 101, 0));
    apply(&f->cfg, change(PAXOS_CHANGE_REMOVE, 2, 102, 0));
    assert_int_equal(f->cfg.nmembers, 1);
    assert_int_equal(f->cfg.members[0].weight, 40);
    assert_int_equal(f->cfg.members[0].live_weight, 40);
    assert_int_equal(f->cfg.nretired, 1);
    assert_true(paxos_config_in_transition(&f->cfg));
    ready(&f->cfg, 1);
    assert_false(paxos_config_in_transition(&f->cfg));
    assert_int_equal(f->cfg.nmembers, 1);
}

/* The retired list keeps at most PAXOS_MAX_RETIRED, sorted; a newly failed
 * member is always kept, the lowest id kept before makes room. */
static void test_retired_list_is_bounded_and_sorted(void **state)
{
    fix_t *f = *state;
    uint64_t id;

    genesis(&f->cfg, PAXOS_MAX_RETIRED + 3);
    apply(&f->cfg, change(PAXOS_CHANGE_JOIN, 0, 999, 10));
    for (id = PAXOS_MAX_RETIRED + 2; id >= 1; id--)
        apply(&f->cfg, change(PAXOS_CHANGE_REMOVE, id, 100 + id, 0));
    assert_int_equal(f->cfg.nretired, PAXOS_MAX_RETIRED);
    assert_int_equal(f->cfg.retired[0].id, 1);
    assert_int_equal(f->cfg.retired[1].id, 4); /* 2 and 3 made room */
    assert_int_equal(f->cfg.retired[PAXOS_MAX_RETIRED - 1].id, PAXOS_MAX_RETIRED + 2);
    assert_int_equal(member_ring_input_serving(&f->cfg, &f->in), 0);
    assert_int_equal(f->in.nmembers, PAXOS_MAX_RETIRED + 1);
}

static void test_check_refuses_malformed_transitions(void **state)
{
    fix_t *f = *state;

    genesis(&f->cfg, 3);
    f->prev = f->cfg;
    f->cfg.members[0].weight = 0;
    assert_int_equal(paxos_config_check(&f->cfg), 0); /* a leaver */
    f->cfg.members[0].live_weight = 0;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL); /* neither */
    f->cfg = f->prev;
    f->cfg.members[0].ready = 1;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL); /* ready > transition */
    f->cfg.transition = 1;
    assert_int_equal(paxos_config_check(&f->cfg), 0);
    f->cfg = f->prev;
    f->cfg.members[0].live_weight = PAXOS_MAX_WEIGHT + 1;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
    f->cfg = f->prev;
    f->cfg.members[0].weight = f->cfg.members[1].weight = f->cfg.members[2].weight = 0;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL); /* nobody to go to */
    f->cfg = f->prev;
    f->cfg.next_id = 10;
    f->cfg.nretired = 1;
    f->cfg.retired[0].id = 2; /* a member */
    f->cfg.retired[0].incarnation = 7;
    f->cfg.retired[0].live_weight = 1;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
    f->cfg.retired[0].id = 5;
    assert_int_equal(paxos_config_check(&f->cfg), 0);
    f->cfg.retired[0].live_weight = 0;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
    f->cfg.retired[0].live_weight = PAXOS_MAX_WEIGHT;
    f->cfg.nretired = 2;
    f->cfg.retired[1] = f->cfg.retired[0]; /* duplicate: not sorted unique */
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
    f->cfg.retired[1].id = 4; /* unsorted */
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
    f->cfg.retired[1].id = 6;
    assert_int_equal(paxos_config_check(&f->cfg), 0);
    f->cfg.retired[1].id = 10; /* not an id the configuration gave out */
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
    f->cfg.retired[1].id = 6;
    f->cfg.nretired = PAXOS_MAX_RETIRED + 1;
    assert_int_equal(paxos_config_check(&f->cfg), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_join_moves_a_quarter_to_the_joiner_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_switch_needs_ready_from_every_target_member, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_or_misplaced_ready_is_a_no_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graceful_leave_serves_until_the_switch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_leave_of_a_joiner_is_immediate_and_the_last_target_stays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weight_change_moves_the_target_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copies_are_distinct_members_led_by_the_server, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failure_during_join_retires_without_moving_live_slots,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_failure_of_every_copy_starts_the_slot_empty_at_its_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_of_the_last_target_cancels_the_leaves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retired_list_is_bounded_and_sorted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_refuses_malformed_transitions, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
