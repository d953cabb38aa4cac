/* tests/unit/rc_test.c: common/rc.c — error names, log levels, counted
 * allocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/rc.h"

static void test_strerror_names_project_and_errno_codes(void **state)
{
    (void)state;
    assert_string_equal(rc_strerror(RC_ENOQUORUM), "no quorum");
    assert_string_equal(rc_strerror(-ENOMEM), strerror(ENOMEM));
    assert_string_equal(rc_strerror(-999999), "unknown error");
}

static void test_log_level_parse_accepts_redis_names_only(void **state)
{
    (void)state;
    assert_int_equal(rc_log_level_parse("debug"), RC_LOG_DEBUG);
    assert_int_equal(rc_log_level_parse("warning"), RC_LOG_WARNING);
    assert_int_equal(rc_log_level_parse("loud"), -1);
}

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

static void test_log_filtered_level_does_not_evaluate_arguments(void **state)
{
    (void)state;
    rc_log_level = RC_LOG_WARNING;
    rc_log(RC_LOG_DEBUG, "value %d", side_effect());
    assert_int_equal(evaluated, 0);
    rc_log_level = RC_LOG_NOTICE;
}

static void test_xalloc_counts_and_releases_bytes(void **state)
{
    size_t before = rc_used_memory();
    char *p;

    (void)state;
    p = rc_xmalloc(100);
    assert_true(rc_used_memory() >= before + 100);
    p = rc_xrealloc(p, 1000);
    assert_true(rc_used_memory() >= before + 1000);
    rc_free(p);
    assert_int_equal(rc_used_memory(), before);
    rc_free(NULL);
    assert_int_equal(rc_used_memory(), before);
}

static void test_xmemdup_copies_binary_data(void **state)
{
    static const char data[] = {'a', '\0', 'b'};
    char *p = rc_xmemdup(data, sizeof(data));

    (void)state;
    assert_memory_equal(p, data, sizeof(data));
    rc_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_names_project_and_errno_codes),
        cmocka_unit_test(test_log_level_parse_accepts_redis_names_only),
        cmocka_unit_test(test_log_filtered_level_does_not_evaluate_arguments),
        cmocka_unit_test(test_xalloc_counts_and_releases_bytes),
        cmocka_unit_test(test_xmemdup_copies_binary_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
