/* tests/unit/node_config_test.c: redis.conf parsing, command-line options,
 * memory units, CONFIG SET validation (glob patterns: rc_str_test.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "node/core/node_config.h"

static int setup(void **state)
{
    node_config_t *cfg = test_calloc(1, sizeof(*cfg));

    node_config_defaults(cfg);
    *state = cfg;
    return 0;
}

static int teardown(void **state)
{
    node_config_t *cfg = *state;

    node_config_free(cfg);
    test_free(cfg);
    return 0;
}

static void test_config_defaults_are_redis_defaults(void **state)
{
    node_config_t *cfg = *state;

    assert_int_equal(cfg->port, 6379);
    assert_string_equal(cfg->bind, "127.0.0.1");
    assert_null(cfg->requirepass);
    assert_int_equal(cfg->protected_mode, 1);
    assert_int_equal(cfg->proto_max_bulk_len, 512LL * 1024 * 1024);
    assert_int_equal(cfg->client_query_buffer_limit, 1024LL * 1024 * 1024);
    assert_int_equal(cfg->hz, 10);
    assert_int_equal(cfg->maxmemory_policy, NODE_MM_NOEVICTION);
}

/* R beyond what the slot table can place (PAXOS_MAX_REPLICAS, equal to
 * ring's RING_MAX_REPLICAS) is a startup error naming the range. */
static void test_config_cluster_replicas_is_bounded_by_the_ring(void **state)
{
    node_config_t *cfg = *state;
    const char *ok[] = {"4"}, *bad[] = {"5"};
    char err[256];

    assert_int_equal(node_config_set(cfg, "cluster-replicas", 1, ok, 0, err, sizeof(err)), 0);
    assert_int_equal(cfg->cluster_replicas, 4);
    assert_int_equal(node_config_set(cfg, "cluster-replicas", 1, bad, 0, err, sizeof(err)),
                     RC_EBADCONF);
    assert_string_equal(err, "argument must be between 0 and 4 inclusive");
    assert_int_equal(cfg->cluster_replicas, 4);
}

static void test_config_memory_units_follow_redis(void **state)
{
    long long v;

    (void)state;
    assert_int_equal(node_config_parse_memory("100", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(node_config_parse_memory("1k", &v), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(node_config_parse_memory("1kb", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(node_config_parse_memory("2MB", &v), 0);
    assert_int_equal(v, 2 * 1024 * 1024);
    assert_int_equal(node_config_parse_memory("1m", &v), 0);
    assert_int_equal(v, 1000000);
    assert_int_equal(node_config_parse_memory("1gb", &v), 0);
    assert_int_equal(v, 1024LL * 1024 * 1024);
    assert_int_equal(node_config_parse_memory("3g", &v), 0);
    assert_int_equal(v, 3000000000LL);
    assert_int_equal(node_config_parse_memory("1x", &v), -1);
    assert_int_equal(node_config_parse_memory("-1", &v), -1);
    assert_int_equal(node_config_parse_memory("", &v), -1);
    assert_int_equal(node_config_parse_memory("mb", &v), -1);
    assert_int_equal(node_config_parse_memory("99999999999999999999", &v), -1);
    assert_int_equal(node_config_parse_memory("9999999999gb", &v), -1);
}

static void test_config_file_text_with_quotes_and_comments(void **state)
{
    node_config_t *cfg = *state;
    static const char text[] = "# a comment\n"
                               "\n"
                               "  port 7001  \r\n"
                               "bind 127.0.0.1 ::1\n"
                               "requirepass \"se cret\\n\"\n"
                               "maxmemory 100mb\n"
                               "MAXMEMORY-POLICY allkeys-lru\n"
                               "protected-mode no\n"
                               "loglevel warning\n";
    char err[512];

    assert_int_equal(node_config_load_text(cfg, text, sizeof(text) - 1, err, sizeof(err)), 0);
    assert_int_equal(cfg->port, 7001);
    assert_string_equal(cfg->bind, "127.0.0.1 ::1");
    assert_string_equal(cfg->requirepass, "se cret\n");
    assert_int_equal(cfg->maxmemory, 100 * 1024 * 1024);
    assert_int_equal(cfg->maxmemory_policy, NODE_MM_ALLKEYS_LRU);
    assert_int_equal(cfg->protected_mode, 0);
    assert_int_equal(cfg->loglevel, RC_LOG_WARNING);
}

static void test_config_bad_directive_names_the_line(void **state)
{
    node_config_t *cfg = *state;
    static const char text[] = "port 7001\nnosuch-option 1\n";
    char err[512];

    assert_int_equal(node_config_load_text(cfg, text, sizeof(text) - 1, err, sizeof(err)),
                     RC_EBADCONF);
    assert_non_null(strstr(err, "at line 2"));
    assert_non_null(strstr(err, ">>> 'nosuch-option 1'"));
    assert_non_null(strstr(err, "Bad directive or wrong number of arguments"));
}

static void test_config_bad_value_names_the_reason(void **state)
{
    node_config_t *cfg = *state;
    static const char port[] = "port abc\n";
    static const char mem[] = "maxmemory 1x\n";
    static const char range[] = "port 70000\n";
    static const char quotes[] = "requirepass \"abc\n";
    char err[512];

    assert_int_equal(node_config_load_text(cfg, port, sizeof(port) - 1, err, sizeof(err)),
                     RC_EBADCONF);
    assert_non_null(strstr(err, "argument couldn't be parsed into an integer"));
    assert_int_equal(node_config_load_text(cfg, mem, sizeof(mem) - 1, err, sizeof(err)),
                     RC_EBADCONF);
    assert_non_null(strstr(err, "argument must be a memory value"));
    assert_int_equal(node_config_load_text(cfg, range, sizeof(range) - 1, err, sizeof(err)),
                     RC_EBADCONF);
    assert_non_null(strstr(err, "argument must be between 0 and 65535 inclusive"));
    assert_int_equal(node_config_load_text(cfg, quotes, sizeof(quotes) - 1, err, sizeof(err)),
                     RC_EBADCONF);
    assert_non_null(strstr(err, "Unbalanced quotes"));
    assert_int_equal(cfg->port, 6379); /* unchanged by the failures */
}

static void test_config_command_line_options(void **state)
{
    node_config_t *cfg = *state;
    static char a0[] = "--port", a1[] = "7002", a2[] = "--bind", a3[] = "127.0.0.1", a4[] = "::1",
                a5[] = "--maxmemory", a6[] = "1gb", b2[] = "--maxmemory-policy", b3[] = "lfu";
    char *argv[] = {a0, a1, a2, a3, a4, a5, a6};
    char *bad[] = {a0, a1, b2, b3};
    const char *file = NULL;
    char err[512];

    assert_int_equal(node_config_load(cfg, 7, argv, &file, err, sizeof(err)), 0);
    assert_null(file);
    assert_int_equal(cfg->port, 7002);
    assert_string_equal(cfg->bind, "127.0.0.1 ::1");
    assert_int_equal(cfg->maxmemory, 1024LL * 1024 * 1024);
    assert_int_equal(node_config_load(cfg, 4, bad, &file, err, sizeof(err)), RC_EBADCONF);
    assert_non_null(strstr(err, "maxmemory-policy"));
    assert_non_null(strstr(err, "argument(s) must be one of the following"));
}

static void test_config_missing_file_is_an_error(void **state)
{
    node_config_t *cfg = *state;
    static char path[] = "/nonexistent/ringcached.conf";
    char *argv[] = {path};
    const char *file = NULL;
    char err[512];

    assert_int_equal(node_config_load(cfg, 1, argv, &file, err, sizeof(err)), RC_EBADCONF);
    assert_non_null(strstr(err, "/nonexistent/ringcached.conf"));
}

static void test_config_runtime_set_refuses_immutable_and_keeps_value(void **state)
{
    node_config_t *cfg = *state;
    const char *v1 = "7005", *v2 = "yes", *v3 = "maybe", *v4 = "2mb";
    char err[256];

    assert_int_equal(node_config_set(cfg, "port", 1, &v1, 1, err, sizeof(err)), -EPERM);
    assert_int_equal(cfg->port, 6379);
    assert_int_equal(node_config_set(cfg, "daemonize", 1, &v2, 0, err, sizeof(err)), RC_EBADCONF);
    assert_int_equal(node_config_set(cfg, "protected-mode", 1, &v3, 1, err, sizeof(err)),
                     RC_EBADCONF);
    assert_string_equal(err, "argument must be 'yes' or 'no'");
    assert_int_equal(node_config_set(cfg, "nosuch", 1, &v1, 1, err, sizeof(err)), -ENOENT);
    assert_int_equal(node_config_set(cfg, "Proto-Max-Bulk-Len", 1, &v4, 1, err, sizeof(err)), 0);
    assert_int_equal(cfg->proto_max_bulk_len, 2 * 1024 * 1024);
}

static void test_config_proto_max_bulk_len_fits_32_bits(void **state)
{
    node_config_t *cfg = *state;
    const char *ok = "4gb", *max = "4294967295", *big = "4294967296";
    char err[256];

    /* The keyspace stores lengths in 32 bits: 4gb (2^32) is one too many. */
    assert_int_equal(node_config_set(cfg, "proto-max-bulk-len", 1, &ok, 1, err, sizeof(err)),
                     RC_EBADCONF);
    assert_string_equal(err, "argument must be between 1048576 and 4294967295 inclusive");
    assert_int_equal(node_config_set(cfg, "proto-max-bulk-len", 1, &big, 0, err, sizeof(err)),
                     RC_EBADCONF);
    assert_int_equal(cfg->proto_max_bulk_len, 512LL * 1024 * 1024);
    assert_int_equal(node_config_set(cfg, "proto-max-bulk-len", 1, &max, 1, err, sizeof(err)), 0);
    assert_int_equal(cfg->proto_max_bulk_len, 4294967295LL);
}

static void test_config_get_lists_every_option(void **state)
{
    node_config_t *cfg = *state;
    char value[256];
    const char *name;
    size_t i;
    int found = 0;

    for (i = 0; (name = node_config_get_nth(cfg, i, value, sizeof(value))) != NULL; i++) {
        if (strcmp(name, "maxmemory-policy") == 0) {
            assert_string_equal(value, "noeviction");
            found++;
        }
        if (strcmp(name, "bind") == 0) {
            assert_string_equal(value, "127.0.0.1");
            found++;
        }
    }
    assert_int_equal(found, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_defaults_are_redis_defaults, setup, teardown),
        cmocka_unit_test(test_config_memory_units_follow_redis),
        cmocka_unit_test_setup_teardown(test_config_file_text_with_quotes_and_comments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_bad_directive_names_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_bad_value_names_the_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_command_line_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_missing_file_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_runtime_set_refuses_immutable_and_keeps_value,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_proto_max_bulk_len_fits_32_bits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_get_lists_every_option, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_cluster_replicas_is_bounded_by_the_ring, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
