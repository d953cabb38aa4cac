/* tests/unit/node_fwd_test.c: node/node_fwd.c's gatherer, node_fwd_merge():
 * the replies of a split MGET/MSET/DEL come back in the original key order,
 * errors win, malformed parts become an error reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/rc.h"
#include "node/node_fwd.h"

static int setup(void **state)
{
    node_conn_seg_t *out = test_calloc(1, sizeof(*out));

    *state = out;
    return 0;
}

static int teardown(void **state)
{
    node_conn_seg_t *out = *state;

    rc_free(out->buf);
    test_free(out);
    return 0;
}

static void assert_out(const node_conn_seg_t *out, const char *want)
{
    assert_int_equal(out->len, strlen(want));
    assert_memory_equal(out->buf, want, out->len);
}

static int merge(node_fwd_merge_t kind, size_t nkeys, const uint32_t *part_of,
                 const uint32_t *index_in_part, size_t nparts, const char *const *replies,
                 node_conn_seg_t *out)
{
    size_t lens[8];
    size_t p;

    for (p = 0; p < nparts; p++)
        lens[p] = strlen(replies[p]);
    return node_fwd_merge(kind, nkeys, part_of, index_in_part, nparts, replies, lens, out);
}

static void test_mget_values_come_back_in_key_order(void **state)
{
    /* keys a b c d e: a c e on part 0, b d on part 1 */
    static const uint32_t part_of[] = {0, 1, 0, 1, 0};
    static const uint32_t index_in_part[] = {0, 0, 1, 1, 2};
    const char *replies[] = {"*3\r\n$1\r\na\r\n$-1\r\n$1\r\ne\r\n",
                             "*2\r\n$2\r\nbb\r\n$1\r\nd\r\n"};

    assert_int_equal(merge(NODE_FWD_MGET, 5, part_of, index_in_part, 2, replies, *state), 0);
    assert_out(*state, "*5\r\n$1\r\na\r\n$2\r\nbb\r\n$-1\r\n$1\r\nd\r\n$1\r\ne\r\n");
}

static void test_mget_resp3_nulls_are_relayed_as_they_are(void **state)
{
    static const uint32_t part_of[] = {1, 0};
    static const uint32_t index_in_part[] = {0, 0};
    const char *replies[] = {"*1\r\n_\r\n", "*1\r\n$1\r\nx\r\n"};

    assert_int_equal(merge(NODE_FWD_MGET, 2, part_of, index_in_part, 2, replies, *state), 0);
    assert_out(*state, "*2\r\n$1\r\nx\r\n_\r\n");
}

static void test_mget_error_part_becomes_the_answer(void **state)
{
    static const uint32_t part_of[] = {0, 1};
    static const uint32_t index_in_part[] = {0, 0};
    const char *replies[] = {"*1\r\n$1\r\nx\r\n",
                             "-TRYAGAIN forwarding to 127.0.0.1:7002 failed: timed out\r\n"};

    assert_int_equal(merge(NODE_FWD_MGET, 2, part_of, index_in_part, 2, replies, *state), 0);
    assert_out(*state, "-TRYAGAIN forwarding to 127.0.0.1:7002 failed: timed out\r\n");
}

static void test_mget_wrong_element_count_is_malformed(void **state)
{
    static const uint32_t part_of[] = {0, 0};
    static const uint32_t index_in_part[] = {0, 1};
    const char *replies[] = {"*1\r\n$1\r\nx\r\n"};
    node_conn_seg_t *out = *state;

    assert_int_equal(merge(NODE_FWD_MGET, 2, part_of, index_in_part, 1, replies, out), RC_EPROTO);
    assert_true(out->len > 0 && out->buf[0] == '-');
}

static void test_mget_non_array_part_is_malformed(void **state)
{
    static const uint32_t part_of[] = {0};
    static const uint32_t index_in_part[] = {0};
    const char *replies[] = {"+OK\r\n"};

    assert_int_equal(merge(NODE_FWD_MGET, 1, part_of, index_in_part, 1, replies, *state),
                     RC_EPROTO);
}

static void test_mset_all_ok_is_ok(void **state)
{
    static const uint32_t part_of[] = {0, 1, 2};
    static const uint32_t index_in_part[] = {0, 0, 0};
    const char *replies[] = {"+OK\r\n", "+OK\r\n", "+OK\r\n"};

    assert_int_equal(merge(NODE_FWD_MSET, 3, part_of, index_in_part, 3, replies, *state), 0);
    assert_out(*state, "+OK\r\n");
}

static void test_mset_first_error_wins(void **state)
{
    static const uint32_t part_of[] = {0, 1, 2};
    static const uint32_t index_in_part[] = {0, 0, 0};
    const char *replies[] = {"+OK\r\n", "-OOM command not allowed\r\n", "-ERR other\r\n"};

    assert_int_equal(merge(NODE_FWD_MSET, 3, part_of, index_in_part, 3, replies, *state), 0);
    assert_out(*state, "-OOM command not allowed\r\n");
}

static void test_sum_adds_the_integers(void **state)
{
    static const uint32_t part_of[] = {0, 1, 1, 2};
    static const uint32_t index_in_part[] = {0, 0, 1, 0};
    const char *replies[] = {":1\r\n", ":2\r\n", ":0\r\n"};

    assert_int_equal(merge(NODE_FWD_SUM, 4, part_of, index_in_part, 3, replies, *state), 0);
    assert_out(*state, ":3\r\n");
}

static void test_sum_non_integer_is_malformed(void **state)
{
    static const uint32_t part_of[] = {0, 1};
    static const uint32_t index_in_part[] = {0, 0};
    const char *replies[] = {":1\r\n", "$1\r\n1\r\n"};

    assert_int_equal(merge(NODE_FWD_SUM, 2, part_of, index_in_part, 2, replies, *state), RC_EPROTO);
}

static void test_merge_appends_after_existing_bytes(void **state)
{
    static const uint32_t part_of[] = {0};
    static const uint32_t index_in_part[] = {0};
    const char *replies[] = {":7\r\n"};
    node_conn_seg_t *out = *state;

    out->buf = rc_xmemdup("+PONG\r\n", 7);
    out->len = out->cap = 7;
    assert_int_equal(merge(NODE_FWD_SUM, 1, part_of, index_in_part, 1, replies, out), 0);
    assert_out(out, "+PONG\r\n:7\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mget_values_come_back_in_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mget_resp3_nulls_are_relayed_as_they_are, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mget_error_part_becomes_the_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mget_wrong_element_count_is_malformed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mget_non_array_part_is_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mset_all_ok_is_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mset_first_error_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sum_adds_the_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sum_non_integer_is_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_appends_after_existing_bytes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
