/* tests/unit/node_dict_test.c: the intrusive hash table: lookups, growth
 * and shrink by incremental rehash, iteration and SCAN guarantees while it
 * rehashes, random sampling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "node/data/node_dict.h"

typedef struct item_s {
    node_dict_entry_t link;
    int id;
    size_t klen;
    char key[24];
} item_t;

static const char *item_key(const node_dict_entry_t *e, size_t *len)
{
    const item_t *it = (const item_t *)e;

    *len = it->klen;
    return it->key;
}

static void item_destroy(node_dict_entry_t *e)
{
    test_free(e);
}

static const node_dict_type_t item_type = {item_key, item_destroy};

static item_t *item_new(int id)
{
    item_t *it = test_malloc(sizeof(*it));

    it->link.next = NULL;
    it->id = id;
    it->klen = (size_t)snprintf(it->key, sizeof(it->key), "key:%012d", id);
    return it;
}

static item_t *find(node_dict_t *d, int id)
{
    char key[24];
    int n = snprintf(key, sizeof(key), "key:%012d", id);

    return (item_t *)node_dict_find(d, key, (size_t)n);
}

static void del(node_dict_t *d, int id)
{
    char key[24];
    int n = snprintf(key, sizeof(key), "key:%012d", id);
    node_dict_entry_t *e = node_dict_unlink(d, key, (size_t)n);

    assert_non_null(e);
    test_free(e);
}

static void test_dict_find_returns_added_entries_only(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;

    for (int i = 0; i < 100; i++)
        node_dict_add(d, &item_new(i)->link);
    assert_int_equal(node_dict_size(d), 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(find(d, i)->id, i);
    assert_null(find(d, 100));
    assert_null(node_dict_find(d, "key:", 4));
    node_dict_destroy(d);
}

static void test_dict_unlink_removes_entry(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;

    for (int i = 0; i < 50; i++)
        node_dict_add(d, &item_new(i)->link);
    del(d, 7);
    assert_null(find(d, 7));
    assert_null(node_dict_unlink(d, "nope", 4));
    assert_int_equal(node_dict_size(d), 49);
    assert_non_null(find(d, 8));
    node_dict_destroy(d);
}

static void test_dict_replace_keeps_position_and_size(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;
    item_t *old, *repl;

    for (int i = 0; i < 20; i++)
        node_dict_add(d, &item_new(i)->link);
    old = find(d, 5);
    repl = item_new(5);
    repl->id = 500;
    node_dict_replace(d, &old->link, &repl->link);
    test_free(old);
    assert_int_equal(find(d, 5)->id, 500);
    assert_int_equal(node_dict_size(d), 20);
    node_dict_destroy(d);
}

static void test_dict_growth_rehashes_incrementally(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;
    int saw_rehashing = 0;

    for (int i = 0; i < 100000; i++) {
        node_dict_add(d, &item_new(i)->link);
        if (node_dict_is_rehashing(d)) {
            saw_rehashing = 1;
            /* the old table: a third of both (growth doubles) */
            assert_int_equal(node_dict_rehashing_bytes(d),
                             node_dict_buckets(d) / 3 * sizeof(node_dict_entry_t *));
            /* every key stays findable mid-rehash (a step: it may end it) */
            assert_non_null(find(d, i / 2));
        } else {
            assert_int_equal(node_dict_rehashing_bytes(d), 0);
        }
    }
    assert_true(saw_rehashing);
    while (node_dict_rehash(d, 100))
        ;
    assert_int_equal(node_dict_rehashing_bytes(d), 0);
    assert_int_equal(node_dict_buckets(d), 131072);
    for (int i = 0; i < 100000; i++)
        assert_non_null(find(d, i));
    node_dict_destroy(d);
}

/* The three prefetch stages are hints: on an empty table, on chains of one
 * and of several entries (thousands of keys at load 0.5-1 collide), for
 * keys present and absent, and mid-rehash (both tables), they change
 * nothing and read nothing they should not (the sanitizer build runs this
 * too). */
static void prefetch_all(const node_dict_t *d, int id)
{
    char key[24];
    int n = snprintf(key, sizeof(key), "key:%012d", id);
    uint64_t h = node_dict_hash(key, (size_t)n);

    node_dict_prefetch_bucket(d, h);
    node_dict_prefetch_entry(d, h, 128);
    node_dict_prefetch_next(d, h, 64);
}

static void test_dict_prefetch_changes_nothing(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);
    int saw_rehashing = 0;

    (void)state;
    prefetch_all(d, 1); /* no table yet */
    for (int i = 0; i < 5000; i++) {
        node_dict_add(d, &item_new(i)->link);
        saw_rehashing |= node_dict_is_rehashing(d);
        prefetch_all(d, i);
        prefetch_all(d, i / 2);
        prefetch_all(d, -1 - i); /* absent */
        assert_int_equal(node_dict_size(d), (size_t)i + 1);
    }
    assert_true(saw_rehashing);
    for (int i = 0; i < 5000; i++) {
        prefetch_all(d, i);
        assert_int_equal(find(d, i)->id, i);
    }
    node_dict_destroy(d);
}

static void test_dict_shrinks_when_sparse(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;

    for (int i = 0; i < 10000; i++)
        node_dict_add(d, &item_new(i)->link);
    while (node_dict_rehash(d, 100))
        ;
    for (int i = 0; i < 9990; i++)
        del(d, i);
    while (node_dict_rehash(d, 100))
        ;
    assert_true(node_dict_buckets(d) <= 64);
    for (int i = 9990; i < 10000; i++)
        assert_non_null(find(d, i));
    node_dict_destroy(d);
}

static void test_dict_iterator_sees_each_entry_once_while_growing(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;
    static unsigned char seen[5000];
    node_dict_iter_t it;
    node_dict_entry_t *e;
    int added = 1000;

    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < 1000; i++)
        node_dict_add(d, &item_new(i)->link);
    node_dict_iter_init(&it, d);
    while ((e = node_dict_iter_next(&it)) != NULL) {
        item_t *item = (item_t *)e;
        seen[item->id]++;
        if (added < 5000) /* adds force growth during the iteration */
            node_dict_add(d, &item_new(added++)->link);
        node_dict_rehash(d, 100); /* e.g. the cron: must not move entries now */
    }
    node_dict_iter_done(&it);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(seen[i], 1);
    for (int i = 1000; i < added; i++)
        assert_true(seen[i] <= 1);
    node_dict_destroy(d);
}

static void test_dict_iterator_allows_deleting_current_entry(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;
    node_dict_iter_t it;
    node_dict_entry_t *e;

    for (int i = 0; i < 1000; i++)
        node_dict_add(d, &item_new(i)->link);
    node_dict_iter_init(&it, d);
    while ((e = node_dict_iter_next(&it)) != NULL) {
        if (((item_t *)e)->id % 2 == 0)
            del(d, ((item_t *)e)->id);
    }
    node_dict_iter_done(&it);
    assert_int_equal(node_dict_size(d), 500);
    node_dict_destroy(d);
}

static void count_seen(void *priv, const node_dict_entry_t *e)
{
    unsigned char *seen = priv;

    if (seen[((const item_t *)e)->id] < 255)
        seen[((const item_t *)e)->id]++;
}

static void test_dict_scan_returns_every_stable_entry_across_rehash(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;
    static unsigned char seen[40000];
    uint64_t cursor = 0;
    int steps = 0, next = 1000;

    memset(seen, 0, sizeof(seen));
    /* ids 0..999 stay for the whole scan; others come and go */
    for (int i = 0; i < 1000; i++)
        node_dict_add(d, &item_new(i)->link);
    do {
        cursor = node_dict_scan(d, cursor, count_seen, seen);
        steps++;
        if (steps < 40) {
            for (int k = 0; k < 500; k++) /* grow: rehashes across calls */
                node_dict_add(d, &item_new(next++)->link);
        } else if (steps < 80) {
            for (int k = 0; k < 500 && next > 1000; k++) /* shrink back */
                del(d, --next);
        }
        node_dict_rehash(d, 3);
    } while (cursor != 0);
    for (int i = 0; i < 1000; i++)
        assert_true(seen[i] >= 1);
    node_dict_destroy(d);
}

static void test_dict_scan_of_stable_table_visits_each_entry_once(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;
    static unsigned char seen[3000];
    uint64_t cursor = 0;

    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < 3000; i++)
        node_dict_add(d, &item_new(i)->link);
    while (node_dict_rehash(d, 100))
        ;
    do {
        cursor = node_dict_scan(d, cursor, count_seen, seen);
    } while (cursor != 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(seen[i], 1);
    node_dict_destroy(d);
}

static void test_dict_random_reaches_every_entry(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;
    int seen[64] = {0};
    int distinct = 0;

    assert_null(node_dict_random(d));
    for (int i = 0; i < 64; i++)
        node_dict_add(d, &item_new(i)->link);
    for (int n = 0; n < 20000; n++) {
        item_t *it = (item_t *)node_dict_random(d);
        assert_non_null(it);
        if (seen[it->id]++ == 0)
            distinct++;
    }
    assert_int_equal(distinct, 64);
    node_dict_destroy(d);
}

static void test_dict_hash_is_stable_and_spreads(void **state)
{
    (void)state;
    assert_int_equal(node_dict_hash("abc", 3), node_dict_hash("abc", 3));
    assert_int_not_equal(node_dict_hash("abc", 3), node_dict_hash("abd", 3));
    assert_int_not_equal(node_dict_hash("", 0), node_dict_hash("\0", 1));
}

static void test_dict_clear_empties_and_stays_usable(void **state)
{
    node_dict_t *d = node_dict_create(&item_type);

    (void)state;

    for (int i = 0; i < 1000; i++)
        node_dict_add(d, &item_new(i)->link);
    node_dict_clear(d);
    assert_int_equal(node_dict_size(d), 0);
    assert_int_equal(node_dict_buckets(d), 0);
    node_dict_add(d, &item_new(1)->link);
    assert_non_null(find(d, 1));
    node_dict_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dict_find_returns_added_entries_only),
        cmocka_unit_test(test_dict_unlink_removes_entry),
        cmocka_unit_test(test_dict_replace_keeps_position_and_size),
        cmocka_unit_test(test_dict_growth_rehashes_incrementally),
        cmocka_unit_test(test_dict_prefetch_changes_nothing),
        cmocka_unit_test(test_dict_shrinks_when_sparse),
        cmocka_unit_test(test_dict_iterator_sees_each_entry_once_while_growing),
        cmocka_unit_test(test_dict_iterator_allows_deleting_current_entry),
        cmocka_unit_test(test_dict_scan_returns_every_stable_entry_across_rehash),
        cmocka_unit_test(test_dict_scan_of_stable_table_visits_each_entry_once),
        cmocka_unit_test(test_dict_random_reaches_every_entry),
        cmocka_unit_test(test_dict_hash_is_stable_and_spreads),
        cmocka_unit_test(test_dict_clear_empties_and_stays_usable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
