/* tests/unit/node_fwd_test.c: node/node_fwd.c's gatherer, node_fwd_merge():
 * the replies of a split MGET/MSET/DEL come back in the original key order,
 * errors win, malformed parts become an error reply; and node_conn.c's
 * reply segments: replies wait behind a pending forward and leave in
 * request order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/rc.h"
#include "node/net/node_conn.h"
#include "node/fwd/node_fwd.h"
#include "node/net/node_reply.h"

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

/* ---- reply segments (node_conn.c): order behind pending forwards ---- */

/* A connection with no socket: 'in_batch' keeps node_conn_seg_complete()
 * from writing, so only the buffers are exercised. */
static node_conn_t *fake_conn(void)
{
    node_conn_t *c = test_calloc(1, sizeof(*c));

    c->client.conn = c;
    c->client.resp = 2;
    c->in_batch = 1;
    return c;
}

static void free_conn(node_conn_t *c)
{
    node_conn_seg_t *seg;

    while ((seg = c->seg_free) != NULL) {
        c->seg_free = seg->next;
        rc_free(seg->buf);
        rc_free(seg);
    }
    rc_free(c->obuf);
    test_free(c);
}

static void assert_obuf(const node_conn_t *c, const char *want)
{
    assert_int_equal(c->olen, strlen(want));
    assert_memory_equal(c->obuf, want, c->olen);
}

static void test_seg_replies_wait_behind_a_pending_forward(void **state)
{
    node_conn_t *c = fake_conn();
    node_conn_seg_t *a, *b;

    (void)state;
    node_reply_raw(&c->client, "+0\r\n", 4); /* before any forward: straight out */
    a = node_conn_seg_push(c);
    node_reply_raw(&c->client, "+1\r\n", 4);
    b = node_conn_seg_push(c);
    node_reply_int(&c->client, 2);
    assert_obuf(c, "+0\r\n");
    assert_int_equal(c->nfwd, 2);
    assert_true(node_conn_out_pending(c) > 4); /* captured bytes count for the pause */
    node_conn_seg_complete(b, "+b\r\n", 4);
    assert_obuf(c, "+0\r\n"); /* 'a' still blocks */
    node_conn_seg_complete(a, "+a\r\n", 4);
    assert_obuf(c, "+0\r\n+a\r\n+1\r\n+b\r\n:2\r\n");
    assert_int_equal(c->nfwd, 0);
    assert_int_equal(c->seg_bytes, 0);
    assert_null(c->seg_head);
    node_reply_raw(&c->client, "+3\r\n", 4);
    assert_obuf(c, "+0\r\n+a\r\n+1\r\n+b\r\n:2\r\n+3\r\n");
    free_conn(c);
}

static void test_seg_deferred_array_inside_a_segment(void **state)
{
    node_conn_t *c = fake_conn();
    node_conn_seg_t *a;
    void *h;

    (void)state;
    a = node_conn_seg_push(c);
    h = node_reply_defer_array(&c->client);
    node_reply_int(&c->client, 7);
    node_reply_int(&c->client, 8);
    node_reply_set_deferred_array(&c->client, h, 2);
    node_conn_seg_complete(a, "$-1\r\n", 5);
    assert_obuf(c, "$-1\r\n*2\r\n:7\r\n:8\r\n");
    free_conn(c);
}

static void test_seg_capture_target_is_not_queued(void **state)
{
    node_conn_t *c = fake_conn();
    node_conn_seg_t *a, *cap;

    (void)state;
    a = node_conn_seg_push(c);
    cap = node_conn_seg_get(c);
    c->capture = cap;
    node_reply_raw(&c->client, "+local\r\n", 8);
    c->capture = NULL;
    assert_int_equal(cap->len, 8);
    assert_memory_equal(cap->buf, "+local\r\n", 8);
    assert_int_equal(c->seg_bytes, 0);
    node_conn_seg_release(c, cap);
    node_conn_seg_complete(a, "+a\r\n", 4);
    assert_obuf(c, "+a\r\n");
    free_conn(c);
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
        cmocka_unit_test(test_seg_replies_wait_behind_a_pending_forward),
        cmocka_unit_test(test_seg_deferred_array_inside_a_segment),
        cmocka_unit_test(test_seg_capture_target_is_not_queued),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
