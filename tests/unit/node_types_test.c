/* tests/unit/node_types_test.c: the list, set, sorted-set and stream value
 * structures (node/node_types.h): order, ranks, removal, stream ids, and
 * that freeing them (directly or through the db) returns rc_used_memory()
 * to its baseline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "node/data/node_db.h"
#include "node/data/node_types.h"

typedef struct fixture_s {
    size_t baseline;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = test_malloc(sizeof(*f));

    f->baseline = rc_used_memory();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(rc_used_memory(), f->baseline);
    test_free(f);
    return 0;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void assert_elem(const node_list_elem_t *e, const char *s)
{
    assert_int_equal(e->len, strlen(s));
    assert_memory_equal(e->data, s, e->len);
}

/* ---------------------------------------------------------------- lists */

static void test_list_push_both_ends_keeps_order(void **state)
{
    node_list_t *l = node_list_create();
    char buf[16];

    (void)state;
    for (int i = 0; i < 100; i++) {
        int n = snprintf(buf, sizeof(buf), "%d", i);
        node_list_push(l, i % 2 ? NODE_LIST_TAIL : NODE_LIST_HEAD, buf, (size_t)n);
    }
    assert_int_equal(node_list_len(l), 100);
    /* heads: 98 96 ... 0, then tails: 1 3 ... 99 */
    assert_elem(node_list_at(l, 0), "98");
    assert_elem(node_list_at(l, 49), "0");
    assert_elem(node_list_at(l, 50), "1");
    assert_elem(node_list_at(l, 99), "99");
    node_list_destroy(l);
}

static void test_list_pop_returns_ends_and_empties(void **state)
{
    node_list_t *l = node_list_create();
    node_list_elem_t *e;

    (void)state;
    node_list_push(l, NODE_LIST_TAIL, "a", 1);
    node_list_push(l, NODE_LIST_TAIL, "b", 1);
    node_list_push(l, NODE_LIST_TAIL, "c", 1);
    e = node_list_pop(l, NODE_LIST_HEAD);
    assert_elem(e, "a");
    rc_free(e);
    e = node_list_pop(l, NODE_LIST_TAIL);
    assert_elem(e, "c");
    rc_free(e);
    e = node_list_pop(l, NODE_LIST_TAIL);
    assert_elem(e, "b");
    rc_free(e);
    assert_null(node_list_pop(l, NODE_LIST_HEAD));
    assert_int_equal(node_list_len(l), 0);
    node_list_destroy(l);
}

static void test_list_rem_counts_from_head_or_tail(void **state)
{
    const char *items[] = {"x", "a", "x", "b", "x", "c", "x"};
    node_list_t *l = node_list_create();

    (void)state;
    for (size_t i = 0; i < 7; i++)
        node_list_push(l, NODE_LIST_TAIL, items[i], 1);
    assert_int_equal(node_list_rem(l, 1, "x", 1), 1); /* a x b x c x */
    assert_elem(node_list_at(l, 0), "a");
    assert_int_equal(node_list_rem(l, -1, "x", 1), 1); /* a x b x c */
    assert_elem(node_list_at(l, node_list_len(l) - 1), "c");
    assert_int_equal(node_list_rem(l, 0, "x", 1), 2); /* a b c */
    assert_int_equal(node_list_len(l), 3);
    assert_elem(node_list_at(l, 1), "b");
    assert_int_equal(node_list_rem(l, 0, "zz", 2), 0);
    node_list_destroy(l);
}

static void test_list_keep_trims_both_sides_after_wrap(void **state)
{
    node_list_t *l = node_list_create();
    char buf[16];

    (void)state;
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(buf, sizeof(buf), "%d", i);
        node_list_push(l, NODE_LIST_HEAD, buf, (size_t)n); /* 999 ... 0 */
    }
    node_list_keep(l, 10, 5); /* 989 .. 985 */
    assert_int_equal(node_list_len(l), 5);
    assert_elem(node_list_at(l, 0), "989");
    assert_elem(node_list_at(l, 4), "985");
    node_list_set(l, 2, "mid", 3);
    assert_elem(node_list_at(l, 2), "mid");
    node_list_keep(l, 0, 0);
    assert_int_equal(node_list_len(l), 0);
    node_list_destroy(l);
}

/* ---------------------------------------------------------------- sets */

static void test_set_add_rem_has_and_pop_all(void **state)
{
    node_set_t *s = node_set_create();
    char buf[16];
    int seen[500] = {0};

    (void)state;
    for (int i = 0; i < 500; i++) {
        int n = snprintf(buf, sizeof(buf), "m%d", i);
        assert_int_equal(node_set_add(s, buf, (size_t)n), 1);
        assert_int_equal(node_set_add(s, buf, (size_t)n), 0);
    }
    assert_int_equal(node_set_len(s), 500);
    assert_true(node_set_has(s, "m42", 3));
    assert_int_equal(node_set_rem(s, "m42", 3), 1);
    assert_int_equal(node_set_rem(s, "m42", 3), 0);
    assert_false(node_set_has(s, "m42", 3));
    assert_non_null(node_set_random(s));
    seen[42] = 1;
    while (node_set_len(s) > 0) {
        node_set_member_t *m = node_set_pop(s);
        char num[16] = {0};
        int i;

        assert_true(m->len > 1 && m->len < sizeof(num));
        memcpy(num, m->data + 1, m->len - 1); /* members are not NUL-terminated */
        i = atoi(num);
        assert_true(i >= 0 && i < 500);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        rc_free(m);
    }
    for (int i = 0; i < 500; i++)
        assert_int_equal(seen[i], 1);
    assert_null(node_set_pop(s));
    node_set_destroy(s);
}

/* ---------------------------------------------------------------- zsets */

typedef struct ref_s {
    double score;
    char m[16];
} ref_t;

static int ref_cmp(const void *a, const void *b)
{
    const ref_t *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return strcmp(x->m, y->m); /* same-length-prefix-free names: strcmp == memcmp order */
}

static void test_zset_order_and_ranks_match_sorted_reference(void **state)
{
    enum {
        N = 2000
    };
    node_zset_t *z = node_zset_create();
    ref_t *ref = malloc(N * sizeof(*ref));

    (void)state;
    for (int i = 0; i < N; i++) {
        ref[i].score = (double)(next_rand() % 300); /* many ties: member order decides */
        snprintf(ref[i].m, sizeof(ref[i].m), "m%05d", (int)(next_rand() % 100000));
        /* make members unique */
        snprintf(ref[i].m + 6, sizeof(ref[i].m) - 6, "_%04d", i);
        assert_int_equal(node_zset_add(z, ref[i].m, strlen(ref[i].m), ref[i].score), 1);
    }
    /* Update half of the scores: the nodes must move. */
    for (int i = 0; i < N; i += 2) {
        ref[i].score = (double)(next_rand() % 300) - 150;
        assert_int_equal(node_zset_add(z, ref[i].m, strlen(ref[i].m), ref[i].score), 0);
    }
    qsort(ref, N, sizeof(*ref), ref_cmp);
    assert_int_equal(node_zset_len(z), N);
    for (int i = 0; i < N; i++) {
        size_t mlen;
        node_zset_node_t *n = node_zset_at(z, (size_t)i);
        const char *m = node_zset_node_member(n, &mlen);

        assert_int_equal(mlen, strlen(ref[i].m));
        assert_memory_equal(m, ref[i].m, mlen);
        assert_true(node_zset_node_score(n) == ref[i].score);
        assert_int_equal(node_zset_rank(z, ref[i].m, mlen), i);
        if (i > 0)
            assert_ptr_equal(node_zset_prev(n), node_zset_at(z, (size_t)i - 1));
    }
    assert_null(node_zset_next(node_zset_at(z, N - 1)));
    free(ref);
    node_zset_destroy(z);
}

static void test_zset_rem_and_count_below(void **state)
{
    node_zset_t *z = node_zset_create();
    double score;

    (void)state;
    node_zset_add(z, "a", 1, 1);
    node_zset_add(z, "b", 1, 2);
    node_zset_add(z, "c", 1, 2);
    node_zset_add(z, "d", 1, 3);
    assert_int_equal(node_zset_count_below(z, 2, 0), 1);
    assert_int_equal(node_zset_count_below(z, 2, 1), 3);
    assert_int_equal(node_zset_count_below(z, 100, 0), 4);
    assert_int_equal(node_zset_count_below(z, -1, 1), 0);
    assert_int_equal(node_zset_rem(z, "b", 1), 1);
    assert_int_equal(node_zset_rem(z, "b", 1), 0);
    assert_int_equal(node_zset_rank(z, "b", 1), -1);
    assert_int_equal(node_zset_rank(z, "c", 1), 1);
    assert_int_equal(node_zset_score(z, "d", 1, &score), 1);
    assert_true(score == 3);
    assert_int_equal(node_zset_score(z, "zz", 2, &score), 0);
    /* Same score: member bytes decide, a prefix first. */
    node_zset_add(z, "ab", 2, 1);
    assert_int_equal(node_zset_rank(z, "a", 1), 0);
    assert_int_equal(node_zset_rank(z, "ab", 2), 1);
    node_zset_destroy(z);
}

/* ---------------------------------------------------------------- streams */

static node_stream_id_t sid(uint64_t ms, uint64_t seq)
{
    node_stream_id_t id = {ms, seq};

    return id;
}

static void append(node_stream_t *s, uint64_t ms, uint64_t seq, const char *f, const char *v)
{
    const char *ptrs[2] = {f, v};
    size_t lens[2] = {strlen(f), strlen(v)};

    node_stream_append(s, sid(ms, seq), 1, ptrs, lens);
}

static void test_stream_append_search_and_items(void **state)
{
    node_stream_t *s = node_stream_create();
    const node_stream_entry_t *e;
    size_t pos = 0, len;
    const char *p;

    (void)state;
    for (uint64_t i = 1; i <= 300; i++)
        append(s, i, i % 3, "field", "value");
    assert_int_equal(node_stream_len(s), 300);
    assert_int_equal(node_stream_lower_bound(s, sid(0, 0)), 0);
    assert_int_equal(node_stream_lower_bound(s, sid(10, 1)), 9);  /* 10-1 itself */
    assert_int_equal(node_stream_lower_bound(s, sid(10, 2)), 10); /* next: 11-2 */
    assert_int_equal(node_stream_lower_bound(s, sid(1000, 0)), 300);
    e = node_stream_at(s, 9);
    assert_true(e->id.ms == 10 && e->id.seq == 1);
    assert_int_equal(e->nfields, 1);
    p = node_stream_entry_item(e, &pos, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "field", 5);
    p = node_stream_entry_item(e, &pos, &len);
    assert_memory_equal(p, "value", 5);
    node_stream_destroy(s);
}

static void test_stream_del_and_trim_keep_last_id(void **state)
{
    node_stream_t *s = node_stream_create();
    node_stream_id_t last;

    (void)state;
    for (uint64_t i = 1; i <= 200; i++)
        append(s, 5, i, "f", "v");
    assert_int_equal(node_stream_del(s, sid(5, 1)), 1);
    assert_int_equal(node_stream_del(s, sid(5, 1)), 0);
    assert_int_equal(node_stream_del(s, sid(5, 100)), 1);
    assert_int_equal(node_stream_len(s), 198);
    assert_true(node_stream_at(s, 0)->id.seq == 2);
    assert_true(node_stream_at(s, 98)->id.seq == 101);
    node_stream_trim_head(s, 190);
    assert_int_equal(node_stream_len(s), 8);
    assert_int_equal(node_stream_del(s, sid(5, 200)), 1);
    node_stream_trim_head(s, 7);
    assert_int_equal(node_stream_len(s), 0);
    last = node_stream_last_id(s);
    assert_true(last.ms == 5 && last.seq == 200); /* ids never go back */
    assert_true(node_stream_id_cmp(sid(5, 200), sid(6, 0)) < 0);
    assert_true(node_stream_id_cmp(sid(5, 201), sid(5, 200)) > 0);
    node_stream_destroy(s);
}

/* ---------------------------------------------------------------- db */

static void test_db_frees_every_type_on_delete_and_flush(void **state)
{
    fixture_t *f = *state;
    node_db_t *db = node_db_create();
    size_t base = rc_used_memory();
    node_obj_t *o;

    (void)f;
    o = node_db_ptr_create(db, "l", 1, NODE_OBJ_LIST, node_list_create());
    node_list_push(node_obj_ptr(o), NODE_LIST_TAIL, "x", 1);
    assert_string_equal(node_obj_type_name(o), "list");
    o = node_db_ptr_create(db, "s", 1, NODE_OBJ_SET, node_set_create());
    node_set_add(node_obj_ptr(o), "x", 1);
    assert_string_equal(node_obj_type_name(o), "set");
    o = node_db_ptr_create(db, "z", 1, NODE_OBJ_ZSET, node_zset_create());
    node_zset_add(node_obj_ptr(o), "x", 1, 1.5);
    assert_string_equal(node_obj_type_name(o), "zset");
    o = node_db_ptr_create(db, "x", 1, NODE_OBJ_STREAM, node_stream_create());
    append(node_obj_ptr(o), 1, 1, "f", "v");
    assert_string_equal(node_obj_type_name(o), "stream");
    assert_int_equal(node_obj_type(node_db_lookup(db, "z", 1, 0)), NODE_OBJ_ZSET);
    /* A TTL moves the object (clone): the value must follow. */
    node_db_set_expire(db, "z", 1, 5);
    assert_int_equal(node_db_delete(db, "l", 1), 1);
    assert_int_equal(node_db_delete(db, "z", 1), 1);
    assert_true(rc_used_memory() > base);
    node_db_flush(db);
    assert_int_equal(rc_used_memory(), base);
    node_db_destroy(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_push_both_ends_keeps_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pop_returns_ends_and_empties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_rem_counts_from_head_or_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_keep_trims_both_sides_after_wrap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_set_add_rem_has_and_pop_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zset_order_and_ranks_match_sorted_reference, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_zset_rem_and_count_below, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_append_search_and_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_del_and_trim_keep_last_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_frees_every_type_on_delete_and_flush, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
