/* tests/unit/node_data_slots_test.c: the per-slot key index (node_db.c): O(1)
 * counts per slot, slot iterators that return every key that stays exactly
 * once while keys come and go, are replaced and expire and the table
 * rehashes between calls, the incremental slot drop, the mark and sweep
 * of a slot a replica reconciles (RESYNC), and the whole-keyspace SCAN,
 * RANDOMKEY and DBSIZE beside them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "node/data/node_codec.h"
#include "node/data/node_db.h"
#include "ring/ring.h"

#define T0 1700000000000LL

typedef struct fixture_s {
    node_db_t *db;
    size_t baseline;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = test_malloc(sizeof(*f));

    f->db = node_db_create();
    node_db_set_now(f->db, T0);
    f->baseline = rc_used_memory();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    node_db_destroy(f->db);
    test_free(f);
    return 0;
}

/* Key 'i' of the hash tag 'tag' (so of one slot), as "{tag}:i". */
static size_t tagged(char *buf, size_t cap, const char *tag, int i)
{
    return (size_t)snprintf(buf, cap, "{%s}:%d", tag, i);
}

static void set_tagged(node_db_t *db, const char *tag, int i, int64_t expire_at)
{
    char key[64];
    size_t n = tagged(key, sizeof(key), tag, i);

    node_db_set_str(db, key, n, "v", 1, expire_at, 0);
}

static int del_tagged(node_db_t *db, const char *tag, int i)
{
    char key[64];
    size_t n = tagged(key, sizeof(key), tag, i);

    return node_db_delete(db, key, n);
}

/* Records which key indexes a scan saw. */
typedef struct seen_s {
    unsigned char *hit; /* times seen */
    int n;
    long long calls;
} seen_t;

static void on_obj(void *priv, node_obj_t *o)
{
    seen_t *s = priv;
    size_t klen;
    const char *key = node_obj_key(o, &klen);
    const char *colon = memchr(key, ':', klen);
    int i = 0;

    assert_non_null(colon);
    for (const char *p = colon + 1; p < key + klen; p++)
        i = i * 10 + (*p - '0');
    assert_true(i < s->n);
    s->hit[i]++;
}

static void test_slot_count_follows_adds_deletes_and_expiry(void **state)
{
    fixture_t *f = *state;
    unsigned slot = ring_keyslot("a", 1), other = ring_keyslot("b", 1);

    assert_int_equal(node_db_slot_count(f->db, slot), 0);
    for (int i = 0; i < 100; i++)
        set_tagged(f->db, "a", i, i < 10 ? T0 + 5 : -1);
    set_tagged(f->db, "b", 0, -1);
    assert_int_equal(node_db_slot_count(f->db, slot), 100);
    assert_int_equal(node_db_slot_count(f->db, other), 1);
    assert_int_equal(node_db_size(f->db), 101);
    for (int i = 90; i < 100; i++)
        assert_int_equal(del_tagged(f->db, "a", i), 1);
    assert_int_equal(node_db_slot_count(f->db, slot), 90);
    /* Expired keys count until reclaimed, as Redis's COUNTKEYSINSLOT. */
    node_db_set_now(f->db, T0 + 10);
    assert_int_equal(node_db_slot_count(f->db, slot), 90);
    node_db_cron(f->db, 100000);
    assert_int_equal(node_db_slot_count(f->db, slot), 80);
    assert_int_equal(node_db_size(f->db), 81);
}

static void test_slot_iter_of_empty_slot_is_done_at_once(void **state)
{
    fixture_t *f = *state;
    seen_t s = {NULL, 0, 0};
    node_db_slot_iter_t *it = node_db_slot_iter_create(f->db, 123);

    assert_int_equal(node_db_slot_iter_next(it, 10, on_obj, &s), 0);
    assert_true(node_db_slot_iter_done(it));
    node_db_slot_iter_destroy(it);
}

/* The hand-off's guarantee: keys present for the whole iteration are seen
 * exactly once although keys of the same slot are added, replaced and
 * deleted, keys expire and the table grows, shrinks and rehashes between
 * every two calls. */
static void test_slot_iter_sees_every_stable_key_once_while_writes_go_on(void **state)
{
    fixture_t *f = *state;
    enum {
        STABLE = 3000,
        CHURN = 20000
    };
    unsigned slot = ring_keyslot("s", 1);
    seen_t s = {test_calloc(CHURN, 1), CHURN, 0};
    uint64_t rng = 42;
    int next_new;
    node_db_slot_iter_t *it, *it2;

    for (int i = 0; i < STABLE; i++)
        set_tagged(f->db, "s", i, -1);
    for (int i = STABLE; i < STABLE + 500; i++)
        set_tagged(f->db, "s", i, T0 + 1); /* these expire during the walk */
    next_new = STABLE + 500;
    it = node_db_slot_iter_create(f->db, slot);
    it2 = node_db_slot_iter_create(f->db, slot); /* a second one, never advanced */
    while (node_db_slot_iter_next(it, 7, on_obj, &s) == 7) {
        char key[64];
        size_t n;

        s.calls++;
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((rng >> 33) % 3 == 0) {
            for (int k = 0; k < 40 && next_new < CHURN; k++)
                set_tagged(f->db, "s", next_new++, -1);
        } else {
            for (int k = 0; k < 60; k++) {
                int victim = STABLE + (int)((rng >> 20) % (uint64_t)(CHURN - STABLE));
                rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
                del_tagged(f->db, "s", victim);
            }
        }
        /* Replace a stable key by a new object (bigger value, new TTL). */
        n = tagged(key, sizeof(key), "s", (int)((rng >> 40) % STABLE));
        node_db_set_str(f->db, key, n, "a longer value than before", 26, -1, 0);
        node_db_set_expire(f->db, key, n, T0 + 1000000);
        if (s.calls == 10)
            node_db_set_now(f->db, T0 + 100);
        node_db_cron(f->db, 10);
        assert_true(s.calls < 1000000); /* never loops forever */
    }
    assert_true(node_db_slot_iter_done(it));
    for (int i = 0; i < STABLE; i++)
        assert_int_equal(s.hit[i], 1);
    node_db_slot_iter_destroy(it);
    memset(s.hit, 0, CHURN);
    node_db_slot_iter_next(it2, CHURN, on_obj, &s);
    for (int i = 0; i < STABLE; i++)
        assert_int_equal(s.hit[i], 1);
    node_db_slot_iter_destroy(it2);
    test_free(s.hit);
}

static void test_slot_iter_leaves_other_slots_alone(void **state)
{
    fixture_t *f = *state;
    seen_t s = {test_calloc(100, 1), 100, 0};
    node_db_slot_iter_t *it;

    for (int i = 0; i < 50; i++)
        set_tagged(f->db, "x", i, -1);
    for (int i = 50; i < 100; i++)
        set_tagged(f->db, "y", i, -1);
    it = node_db_slot_iter_create(f->db, ring_keyslot("x", 1));
    assert_int_equal(node_db_slot_iter_next(it, 1000, on_obj, &s), 50);
    for (int i = 0; i < 100; i++)
        assert_int_equal(s.hit[i], i < 50);
    node_db_slot_iter_destroy(it);
    test_free(s.hit);
}

static void test_slot_iter_survives_flush_and_db_destroy(void **state)
{
    fixture_t *f = *state;
    seen_t s = {test_calloc(10, 1), 10, 0};
    node_db_slot_iter_t *it;
    node_db_t *db2 = node_db_create();

    for (int i = 0; i < 10; i++)
        set_tagged(f->db, "f", i, -1);
    it = node_db_slot_iter_create(f->db, ring_keyslot("f", 1));
    assert_int_equal(node_db_slot_iter_next(it, 3, on_obj, &s), 3);
    node_db_flush(f->db);
    assert_int_equal(node_db_slot_iter_next(it, 3, on_obj, &s), 0);
    node_db_slot_iter_destroy(it);
    set_tagged(db2, "f", 1, -1);
    it = node_db_slot_iter_create(db2, ring_keyslot("f", 1));
    node_db_destroy(db2);
    node_db_slot_iter_destroy(it); /* after its db: still freed cleanly */
    test_free(s.hit);
}

static void test_slot_drop_is_incremental_and_frees_everything(void **state)
{
    fixture_t *f = *state;
    unsigned slot = ring_keyslot("d", 1);
    size_t left, calls = 0, before;

    set_tagged(f->db, "keep", 0, -1);
    before = rc_used_memory();
    for (int i = 0; i < 5000; i++)
        set_tagged(f->db, "d", i, i % 2 ? T0 + 100000 : -1);
    do {
        size_t had = node_db_slot_count(f->db, slot);
        left = node_db_slot_drop(f->db, slot, 100);
        assert_int_equal(left, node_db_slot_count(f->db, slot));
        assert_int_equal(had - left, had < 100 ? had : 100);
        calls++;
    } while (left != 0);
    assert_int_equal(calls, 50);
    assert_int_equal(node_db_slot_count(f->db, slot), 0);
    assert_int_equal(node_db_size(f->db), 1);
    assert_int_equal(node_db_expires(f->db), 0);
    for (int i = 0; i < 100; i++)
        node_db_cron(f->db, 0); /* let the table finish shrinking */
    /* Everything is freed; the keyspace table may end one size step away
     * from where it started (4 or 8 buckets for one key). */
    assert_true(rc_used_memory() <= before + 64 && rc_used_memory() + 64 >= before);
    assert_int_equal(node_db_slot_drop(f->db, slot, 100), 0);
}

static void count_drops(void *priv, node_db_t *db, const node_db_change_t *ch)
{
    (void)db;
    if (ch->kind == NODE_DB_CHANGE_DROP)
        (*(int *)priv)++;
}

static int has_tagged(node_db_t *db, const char *tag, int i)
{
    char key[64];
    size_t n = tagged(key, sizeof(key), tag, i);

    return node_db_lookup(db, key, n, NODE_LOOKUP_NOTOUCH) != NULL;
}

/* A replica reconciling its copy of a slot (RESYNC): every key marked;
 * each write the snapshot or the live stream makes (a string rewritten in
 * place or replaced, an object inserted into the old shell, a new key)
 * clears its key's mark; the sweep deletes exactly the keys still marked,
 * reported as DROP, and no key of another slot. */
static void test_slot_sweep_deletes_the_keys_not_written_since_the_mark(void **state)
{
    fixture_t *f = *state;
    unsigned slot = ring_keyslot("r", 1);
    node_db_t *scratch = node_db_create();
    rc_buf_t ser = {0};
    node_obj_t *o = NULL;
    char key[64];
    size_t n;
    int drops = 0;

    for (int i = 0; i < 10; i++)
        set_tagged(f->db, "r", i, -1);
    set_tagged(f->db, "other", 0, -1);
    assert_int_equal(node_db_observer_add(f->db, count_drops, &drops), 0);
    assert_int_equal(node_db_slot_mark_stale(f->db, slot), 10);
    assert_int_equal(node_db_slot_mark_stale(f->db, ring_keyslot("empty", 5)), 0);
    /* 0: the same size, rewritten in place; 1: another size, a new object */
    n = tagged(key, sizeof(key), "r", 0);
    node_db_insert_str(f->db, key, n, "w", 1, -1);
    n = tagged(key, sizeof(key), "r", 1);
    node_db_insert_str(f->db, key, n, "a longer value", 14, -1);
    /* 2: a shipped object of the same shape, moved into the old shell */
    n = tagged(key, sizeof(key), "r", 2);
    node_db_set_str(scratch, key, n, "x", 1, -1, 0);
    node_obj_serialize(node_db_lookup(scratch, key, n, NODE_LOOKUP_NOTOUCH), &ser);
    assert_int_equal(node_obj_deserialize(key, n, ser.data, ser.len, &o), 0);
    node_db_insert(f->db, o);
    /* 3: deleted; 10: new */
    assert_int_equal(del_tagged(f->db, "r", 3), 1);
    set_tagged(f->db, "r", 10, -1);
    node_db_end_command(f->db);
    assert_int_equal(drops, 0);

    assert_int_equal(node_db_slot_sweep_stale(f->db, slot), 6); /* 4..9 */
    assert_int_equal(drops, 6);
    for (int i = 0; i <= 10; i++)
        assert_int_equal(has_tagged(f->db, "r", i), i <= 2 || i == 10);
    assert_int_equal(node_db_slot_count(f->db, slot), 4);
    assert_true(has_tagged(f->db, "other", 0));
    /* Nothing marked: nothing swept. Marked and nothing written: all. */
    assert_int_equal(node_db_slot_sweep_stale(f->db, slot), 0);
    assert_int_equal(node_db_slot_mark_stale(f->db, slot), 4);
    assert_int_equal(node_db_slot_sweep_stale(f->db, slot), 4);
    assert_int_equal(node_db_slot_count(f->db, slot), 0);
    assert_int_equal(node_db_size(f->db), 1);
    assert_int_equal(node_db_observer_remove(f->db, count_drops, &drops), 0);
    rc_buf_free(&ser);
    node_db_destroy(scratch);
}

static void test_scan_covers_every_slot_and_random_is_spread(void **state)
{
    fixture_t *f = *state;
    enum {
        N = 20000
    };
    seen_t s = {test_calloc(N, 1), N, 0};
    uint64_t cursor = 0;
    size_t distinct_slots = 0;
    static unsigned char slot_hit[RING_SLOTS];

    for (int i = 0; i < N; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "k:%d", i);
        node_db_set_str(f->db, key, (size_t)n, "v", 1, -1, 0);
    }
    assert_int_equal(node_db_size(f->db), N);
    do {
        cursor = node_db_scan(f->db, cursor, on_obj, &s);
        s.calls++;
    } while (cursor != 0);
    for (int i = 0; i < N; i++)
        assert_true(s.hit[i]);
    assert_true(s.calls < 4 * N);
    memset(slot_hit, 0, sizeof(slot_hit));
    for (int i = 0; i < 2000; i++) {
        node_obj_t *o = node_db_random(f->db);
        size_t klen;
        const char *key = node_obj_key(o, &klen);
        unsigned sl = ring_keyslot(key, klen);

        distinct_slots += !slot_hit[sl];
        slot_hit[sl] = 1;
    }
    assert_true(distinct_slots > 1500); /* ~1790 expected when uniform */
    {
        size_t total = 0;
        for (unsigned sl = 0; sl < RING_SLOTS; sl++)
            total += node_db_slot_count(f->db, sl);
        assert_int_equal(total, N);
    }
    test_free(s.hit);
}

static void test_scan_of_a_sparse_keyspace_jumps_empty_slots(void **state)
{
    fixture_t *f = *state;
    seen_t s = {test_calloc(10, 1), 10, 0};
    uint64_t cursor = 0;

    for (int i = 0; i < 10; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "k:%d", i);
        node_db_set_str(f->db, key, (size_t)n, "v", 1, -1, 0);
    }
    do {
        cursor = node_db_scan(f->db, cursor, on_obj, &s);
        s.calls++;
    } while (cursor != 0);
    for (int i = 0; i < 10; i++)
        assert_true(s.hit[i]);
    assert_true(s.calls <= 10 * 4); /* at most every bucket of every used slot */
    test_free(s.hit);
}

static void test_flush_frees_every_slot_table(void **state)
{
    fixture_t *f = *state;

    for (int i = 0; i < 3000; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "k:%d", i);
        node_db_set_str(f->db, key, (size_t)n, "v", 1, i % 3 ? -1 : T0 + 1000, 0);
    }
    node_db_flush(f->db);
    assert_int_equal(node_db_size(f->db), 0);
    assert_int_equal(node_db_buckets(f->db), 0);
    assert_int_equal(rc_used_memory(), f->baseline);
}

#define SLOT_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SLOT_TEST(test_slot_count_follows_adds_deletes_and_expiry),
        SLOT_TEST(test_slot_iter_of_empty_slot_is_done_at_once),
        SLOT_TEST(test_slot_iter_sees_every_stable_key_once_while_writes_go_on),
        SLOT_TEST(test_slot_iter_leaves_other_slots_alone),
        SLOT_TEST(test_slot_iter_survives_flush_and_db_destroy),
        SLOT_TEST(test_slot_drop_is_incremental_and_frees_everything),
        SLOT_TEST(test_slot_sweep_deletes_the_keys_not_written_since_the_mark),
        SLOT_TEST(test_scan_covers_every_slot_and_random_is_spread),
        SLOT_TEST(test_scan_of_a_sparse_keyspace_jumps_empty_slots),
        SLOT_TEST(test_flush_frees_every_slot_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
