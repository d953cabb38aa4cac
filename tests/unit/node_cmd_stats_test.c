/* tests/unit/node_cmd_stats_test.c: the per-command statistics: histogram
 * bounds (fixed: the Prometheus output depends on them), bucket choice,
 * percentiles, the iterator, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "node/cmd/node_cmd_stats.h"

static int teardown(void **state)
{
    (void)state;
    node_cmd_stats_free();
    return 0;
}

static void test_bounds_are_fixed_and_increasing(void **state)
{
    size_t i;

    (void)state;
    assert_int_equal(node_cmd_stats_bucket_bound_ns(0), 128);
    assert_int_equal(node_cmd_stats_bucket_bound_ns(1), 160);
    assert_int_equal(node_cmd_stats_bucket_bound_ns(4), 256);
    assert_int_equal(node_cmd_stats_bucket_bound_ns(5), 320);
    assert_int_equal(node_cmd_stats_bucket_bound_ns(NODE_CMD_STATS_NBUCKETS - 2), 1ULL << 34);
    assert_true(node_cmd_stats_bucket_bound_ns(NODE_CMD_STATS_NBUCKETS - 1) == UINT64_MAX);
    for (i = 1; i < NODE_CMD_STATS_NBUCKETS; i++)
        assert_true(node_cmd_stats_bucket_bound_ns(i) > node_cmd_stats_bucket_bound_ns(i - 1));
}

static void test_bucket_of_matches_bounds(void **state)
{
    size_t i;

    (void)state;
    assert_int_equal(node_cmd_stats_bucket_of(0), 0);
    assert_int_equal(node_cmd_stats_bucket_of(127), 0);
    assert_int_equal(node_cmd_stats_bucket_of(UINT64_MAX), NODE_CMD_STATS_NBUCKETS - 1);
    for (i = 0; i + 1 < NODE_CMD_STATS_NBUCKETS; i++) {
        uint64_t b = node_cmd_stats_bucket_bound_ns(i);

        /* A bound is the first value of the next bucket. */
        assert_int_equal(node_cmd_stats_bucket_of(b - 1), i);
        assert_int_equal(node_cmd_stats_bucket_of(b), i + 1);
    }
}

static void test_percentiles(void **state)
{
    node_cmd_stat_t *st = node_cmd_stats_get(7, "get");
    node_cmd_stats_view_t v;
    double p50, p99;
    int i;

    (void)state;
    for (i = 0; i < 99; i++)
        node_cmd_stats_call(st, 1000, 0, 1); /* 1 us */
    node_cmd_stats_call(st, 1000000, 1, 1);  /* 1 ms, failed */
    assert_true(node_cmd_stats_find("get", &v));
    assert_int_equal(v.calls, 100);
    assert_int_equal(v.failed_calls, 1);
    assert_int_equal(v.usec, 99 + 1000);
    assert_int_equal(v.hist_count, 100);
    p50 = node_cmd_stats_percentile_usec(v.buckets, 50);
    p99 = node_cmd_stats_percentile_usec(v.buckets, 99);
    assert_true(p50 >= 0.75 && p50 <= 1.25);
    assert_true(p99 >= 0.75 && p99 <= 1.25);
    assert_true(node_cmd_stats_percentile_usec(v.buckets, 100) >= 750.0);
    assert_true(node_cmd_stats_percentile_usec(v.buckets, 100) <= 1250.0);
}

static void test_iterator_and_reset(void **state)
{
    node_cmd_stats_view_t v;
    size_t iter = 0;
    int n = 0;

    (void)state;
    node_cmd_stats_reject(node_cmd_stats_get(3, "set"));
    node_cmd_stats_call(node_cmd_stats_get(9, "incr"), 500, 0, 0); /* not tracked */
    (void)node_cmd_stats_get(11, "del");                           /* never called: hidden */
    while (node_cmd_stats_next(&iter, &v)) {
        n++;
        if (strcmp(v.name, "set") == 0) {
            assert_int_equal(v.calls, 0);
            assert_int_equal(v.rejected_calls, 1);
        } else {
            assert_string_equal(v.name, "incr");
            assert_int_equal(v.calls, 1);
            assert_int_equal(v.hist_count, 0);
        }
    }
    assert_int_equal(n, 2);
    node_cmd_stats_reset();
    iter = 0;
    assert_false(node_cmd_stats_next(&iter, &v));
    assert_false(node_cmd_stats_find("set", &v));
    node_cmd_stats_call(node_cmd_stats_get(3, "set"), 1, 0, 1);
    assert_true(node_cmd_stats_find("set", &v));
    assert_int_equal(v.buckets[0], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_are_fixed_and_increasing),
        cmocka_unit_test(test_bucket_of_matches_bounds),
        cmocka_unit_test_teardown(test_percentiles, teardown),
        cmocka_unit_test_teardown(test_iterator_and_reset, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
