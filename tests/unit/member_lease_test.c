/* tests/unit/member_lease_test.c: member/member_lease.c, the primary lease,
 * played out in virtual time: a majority of grants extends it to the
 * round's send time plus the holder's share, grants that must not count
 * (other epoch, void round, non-member, twice) do not, an install voids the
 * rounds but keeps the end, the grantor's rule, and the takeover bound
 * against every lease a schedule can build, with clock-rate margins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "member/member_lease.h"

enum {
    L = 1000,      /* ms */
    DRIFT = 10000, /* ppm: 1 % */
    HOLD = 990,    /* L * (1 - 1 %) */
    TAKE = 1010,   /* L * (1 + 1 %) */
    T0 = 50000,
};

static const uint64_t ids5[] = {11, 12, 13, 14, 15};

static void test_one_member_holds_at_once_and_runs_out(void **state)
{
    member_lease_t *l = member_lease_create(L, DRIFT);
    uint64_t r;

    (void)state;
    assert_false(member_lease_valid(l, T0)); /* no configuration yet */
    assert_int_equal(member_lease_round(l, T0, 1), 0);
    member_lease_install(l, 3, ids5, 1, 11);
    r = member_lease_round(l, T0, 1);
    assert_true(r != 0);
    assert_true(member_lease_valid(l, T0));
    assert_true(member_lease_valid(l, T0 + HOLD - 1));
    assert_false(member_lease_valid(l, T0 + HOLD));
    assert_int_equal(member_lease_until(l), T0 + HOLD);
    member_lease_destroy(l);
}

static void test_a_majority_of_grants_extends_it_to_the_send_time(void **state)
{
    member_lease_t *l = member_lease_create(L, DRIFT);
    uint64_t r1, r2;

    (void)state;
    member_lease_install(l, 7, ids5, 5, 13);
    r1 = member_lease_round(l, T0, 1);
    assert_false(member_lease_valid(l, T0)); /* itself alone: 1 of 5 */
    assert_int_equal(member_lease_on_grant(l, 7, r1, 11), 0);
    assert_false(member_lease_valid(l, T0 + 1));
    assert_int_equal(member_lease_on_grant(l, 7, r1, 15), 1); /* 3 of 5 */
    assert_int_equal(member_lease_until(l), T0 + HOLD);
    /* A grant that arrives late counts from the send time, not its own. */
    r2 = member_lease_round(l, T0 + 300, 1);
    assert_int_equal(member_lease_on_grant(l, 7, r2, 12), 0);
    assert_int_equal(member_lease_on_grant(l, 7, r2, 14), 1);
    assert_int_equal(member_lease_until(l), T0 + 300 + HOLD);
    /* An older round's majority never shortens it. */
    assert_int_equal(member_lease_on_grant(l, 7, r1, 12), 0);
    assert_int_equal(member_lease_until(l), T0 + 300 + HOLD);
    assert_false(member_lease_valid(l, T0 + 300 + HOLD));
    member_lease_destroy(l);
}

static void test_grants_that_must_not_count_do_not(void **state)
{
    member_lease_t *l = member_lease_create(L, DRIFT);
    uint64_t r;
    int i;

    (void)state;
    member_lease_install(l, 7, ids5, 5, 11);
    r = member_lease_round(l, T0, 1);
    assert_int_equal(member_lease_on_grant(l, 6, r, 12), 0);     /* older epoch */
    assert_int_equal(member_lease_on_grant(l, 8, r, 13), 0);     /* newer epoch */
    assert_int_equal(member_lease_on_grant(l, 7, r, 99), 0);     /* not a member */
    assert_int_equal(member_lease_on_grant(l, 7, r, 11), 0);     /* itself again */
    assert_int_equal(member_lease_on_grant(l, 7, r + 1, 12), 0); /* not sent */
    assert_int_equal(member_lease_on_grant(l, 7, 0, 12), 0);
    assert_int_equal(member_lease_on_grant(l, 7, r, 12), 0);
    assert_int_equal(member_lease_on_grant(l, 7, r, 12), 0); /* twice: one vote */
    assert_false(member_lease_valid(l, T0));
    /* A round overwritten by MEMBER_LEASE_ROUNDS newer ones is void. */
    for (i = 0; i < MEMBER_LEASE_ROUNDS; i++)
        (void)member_lease_round(l, T0 + 1 + i, 1);
    assert_int_equal(member_lease_on_grant(l, 7, r, 13), 0);
    assert_false(member_lease_valid(l, T0));
    member_lease_destroy(l);
}

static void test_an_install_voids_rounds_and_keeps_the_end(void **state)
{
    member_lease_t *l = member_lease_create(L, DRIFT);
    uint64_t r1, r2;

    (void)state;
    member_lease_install(l, 7, ids5, 3, 11);
    r1 = member_lease_round(l, T0, 1);
    assert_int_equal(member_lease_on_grant(l, 7, r1, 12), 1);
    r2 = member_lease_round(l, T0 + 100, 1);
    member_lease_install(l, 8, ids5, 5, 11);
    /* r2's grants were for epoch 7: void, whatever epoch they claim. */
    assert_int_equal(member_lease_on_grant(l, 7, r2, 12), 0);
    assert_int_equal(member_lease_on_grant(l, 8, r2, 12), 0);
    assert_true(member_lease_valid(l, T0 + HOLD - 1)); /* r1's end stays */
    assert_false(member_lease_valid(l, T0 + HOLD));
    /* Removed: no lease at all, at once. */
    member_lease_install(l, 9, ids5 + 1, 4, 11);
    assert_false(member_lease_valid(l, T0 + 1));
    assert_int_equal(member_lease_until(l), 0);
    assert_int_equal(member_lease_round(l, T0 + 2, 1), 0);
    member_lease_destroy(l);
}

static void test_its_own_grant_follows_the_grantor_rule(void **state)
{
    member_lease_t *l = member_lease_create(L, DRIFT);
    uint64_t r;

    (void)state;
    /* One member that has accepted a value in this instance: no lease. */
    member_lease_install(l, 3, ids5, 1, 11);
    (void)member_lease_round(l, T0, 0);
    assert_false(member_lease_valid(l, T0));
    /* Three members: without its own grant it needs both others. */
    member_lease_install(l, 4, ids5, 3, 11);
    r = member_lease_round(l, T0, 0);
    assert_int_equal(member_lease_on_grant(l, 4, r, 12), 0);
    assert_false(member_lease_valid(l, T0));
    assert_int_equal(member_lease_on_grant(l, 4, r, 13), 1);
    assert_true(member_lease_valid(l, T0));
    member_lease_destroy(l);
}

static void test_the_grantor_rule(void **state)
{
    (void)state;
    assert_true(member_lease_may_grant(7, 0, 7, 1));
    assert_false(member_lease_may_grant(7, 1, 7, 1)); /* accepted in instance 7 */
    assert_false(member_lease_may_grant(7, 0, 6, 1)); /* the holder lags */
    assert_false(member_lease_may_grant(7, 0, 8, 1)); /* this node lags */
    assert_false(member_lease_may_grant(7, 0, 7, 0)); /* not a member */
    assert_false(member_lease_may_grant(0, 0, 0, 1)); /* no configuration */
}

static void test_limits_and_rounding(void **state)
{
    member_lease_t *l = member_lease_create(1, 5000000);

    (void)state;
    /* Clamped to the minimum duration and the maximum drift (10 %). */
    member_lease_install(l, 1, ids5, 1, 11);
    (void)member_lease_round(l, T0, 1);
    assert_int_equal(member_lease_until(l), T0 + MEMBER_LEASE_MIN_DURATION - 1);
    assert_int_equal(member_lease_takeover_at(l, T0), T0 + MEMBER_LEASE_MIN_DURATION + 1);
    member_lease_destroy(l);
    /* A margin that is not a whole ms rounds against the holder. */
    l = member_lease_create(1500, 1);
    member_lease_install(l, 1, ids5, 1, 11);
    (void)member_lease_round(l, 0, 1);
    assert_int_equal(member_lease_until(l), 1499);
    assert_int_equal(member_lease_takeover_at(l, 0), 1501);
    member_lease_destroy(l);
}

/* The safety argument in virtual real time: a holder whose clock runs at
 * rate (1 - drift) (slow: its ms are longer) renews through random grants;
 * grants stop at a random moment (every grantor then accepts the next
 * configuration), the configuration is decided and installed by a taker
 * whose clock runs at rate (1 + drift) a random delay later. The holder's
 * last valid real instant is always before the taker may serve. */
static void test_takeover_comes_after_every_lease_in_real_time(void **state)
{
    unsigned seed;

    (void)state;
    srand(20261204);
    for (seed = 0; seed < 2000; seed++) {
        member_lease_t *h = member_lease_create(L, DRIFT);
        member_lease_t *q = member_lease_create(L, DRIFT);
        double slow = 1.0 - DRIFT / 1e6, fast = 1.0 + DRIFT / 1e6;
        double real = 1000 + rand() % 1000, stop_grants = real + rand() % 5000;
        double last_valid_real = 0, install_real, t;
        int64_t hclock_base = rand() % 100000, take_at;

        member_lease_install(h, 4, ids5, 5, 11);
        /* Rounds every 100 ms of holder time; each grantor answers after a
         * random delay, unless grants have stopped by then. */
        for (t = real; t < stop_grants + 3000; t += 100 / slow) {
            int64_t hnow = hclock_base + (int64_t)((t - real) * slow);
            uint64_t r = member_lease_round(h, hnow, 1);
            int g;

            for (g = 1; g < 5; g++) {
                double at = t + rand() % 400;

                if (at < stop_grants && rand() % 4 != 0)
                    (void)member_lease_on_grant(h, 4, r, ids5[g]);
            }
        }
        /* The last real instant the holder's clock says it holds. */
        last_valid_real = real + (double)(member_lease_until(h) - hclock_base) / slow;
        install_real = stop_grants + rand() % 50;
        take_at = member_lease_takeover_at(q, 777); /* taker's clock: 777 at install */
        assert_true(install_real + (double)(take_at - 777) / fast >= last_valid_real);
        member_lease_destroy(h);
        member_lease_destroy(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_member_holds_at_once_and_runs_out),
        cmocka_unit_test(test_a_majority_of_grants_extends_it_to_the_send_time),
        cmocka_unit_test(test_grants_that_must_not_count_do_not),
        cmocka_unit_test(test_an_install_voids_rounds_and_keeps_the_end),
        cmocka_unit_test(test_its_own_grant_follows_the_grantor_rule),
        cmocka_unit_test(test_the_grantor_rule),
        cmocka_unit_test(test_limits_and_rounding),
        cmocka_unit_test(test_takeover_comes_after_every_lease_in_real_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
