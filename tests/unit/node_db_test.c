/* tests/unit/node_db_test.c: the keyspace with fake time: lazy and active
 * expiry, eviction by policy, string and hash objects, memory accounting,
 * (the KEYS/SCAN glob matcher: rc_str_test.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "ring/ring.h"

#define T0 1700000000000LL /* fake "now" in ms */

typedef struct fixture_s {
    node_db_t *db;
    size_t baseline; /* rc_used_memory() with the empty db */
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

static void set_key(node_db_t *db, int i, int64_t expire_at)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "key:%012d", i);

    node_db_set_str(db, key, (size_t)n, "0123456789abcdef", 16, expire_at, 0);
}

static node_obj_t *get_key(node_db_t *db, int i)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "key:%012d", i);

    return node_db_lookup(db, key, (size_t)n, NODE_LOOKUP_NOTOUCH);
}

static node_obj_t *peek(node_db_t *db, const char *key)
{
    return node_db_lookup(db, key, strlen(key), NODE_LOOKUP_NOTOUCH | NODE_LOOKUP_WRITE);
}

static void test_db_set_get_roundtrips_each_encoding(void **state)
{
    fixture_t *f = *state;
    char big[300], buf[NODE_OBJ_INTBUF];
    const char *s;
    size_t len;
    long long v;

    memset(big, 'x', sizeof(big));
    node_db_set_str(f->db, "i", 1, "-1234", 5, -1, 0);
    node_db_set_str(f->db, "z", 1, "0123", 4, -1, 0); /* not canonical: kept as bytes */
    node_db_set_str(f->db, "b", 1, big, sizeof(big), -1, 0);
    node_db_set_str(f->db, "e", 1, "", 0, -1, 0);
    s = node_obj_str(peek(f->db, "i"), buf, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "-1234", 5);
    assert_int_equal(node_obj_get_ll(peek(f->db, "i"), &v), 0);
    assert_int_equal(v, -1234);
    s = node_obj_str(peek(f->db, "z"), buf, &len);
    assert_memory_equal(s, "0123", 4);
    assert_int_equal(node_obj_get_ll(peek(f->db, "z"), &v), -EINVAL);
    s = node_obj_str(peek(f->db, "b"), buf, &len);
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(s, big, sizeof(big));
    assert_int_equal(node_obj_strlen(peek(f->db, "e")), 0);
    assert_int_equal(node_db_size(f->db), 4);
}

static void test_db_str_resize_appends_and_zero_fills(void **state)
{
    fixture_t *f = *state;
    char buf[NODE_OBJ_INTBUF], *p;
    const char *s;
    size_t len;

    node_db_set_str(f->db, "k", 1, "12", 2, T0 + 5000, 0);
    p = node_db_str_resize(f->db, "k", 1, 6);
    memcpy(p + 4, "ab", 2);
    s = node_obj_str(peek(f->db, "k"), buf, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(s, "12\0\0ab", 6);
    assert_int_equal(node_obj_expire(peek(f->db, "k")), T0 + 5000); /* TTL kept */
}

/* A block with the value's bytes after NODE_DB_BLOCK_HEAD free bytes
 * becomes the value's storage: the bytes are where they were (no copy),
 * the memory counted once, the TTL set or kept, the block freed with the
 * value it holds (and under ASan, leaks are checked). */
static void test_db_str_block_becomes_the_value(void **state)
{
    fixture_t *f = *state;
    size_t vlen = 100000, before, len;
    char buf[NODE_OBJ_INTBUF], *block = rc_xmalloc(NODE_DB_BLOCK_HEAD + vlen + 1), *b2;
    const char *s;

    for (size_t i = 0; i < vlen; i++)
        block[NODE_DB_BLOCK_HEAD + i] = (char)('a' + i % 26);
    node_db_set_str(f->db, "k", 1, "old", 3, T0 + 50, 0);
    before = rc_used_memory();
    node_db_set_str_block(f->db, "k", 1, block, vlen, -1, 1);
    s = node_obj_str(peek(f->db, "k"), buf, &len);
    assert_ptr_equal(s, block + NODE_DB_BLOCK_HEAD);
    assert_int_equal(len, vlen);
    assert_int_equal(s[vlen - 1], (char)('a' + (vlen - 1) % 26));
    assert_int_equal(node_obj_expire(peek(f->db, "k")), T0 + 50); /* kept */
    assert_true(rc_used_memory() - before < 256);                 /* the object, not the value */
    before = rc_used_memory();

    b2 = rc_xmalloc(NODE_DB_BLOCK_HEAD + 70);
    memset(b2 + NODE_DB_BLOCK_HEAD, 'z', 70);
    node_db_insert_str_block(f->db, "k", 1, b2, 70, T0 + 9000); /* replaces, frees 'block' */
    s = node_obj_str(peek(f->db, "k"), buf, &len);
    assert_ptr_equal(s, b2 + NODE_DB_BLOCK_HEAD);
    assert_int_equal(len, 70);
    assert_int_equal(node_obj_expire(peek(f->db, "k")), T0 + 9000);
    assert_true(before - rc_used_memory() >= vlen - 1024); /* "block" freed, "b2" held */
    assert_int_equal(node_db_delete(f->db, "k", 1), 1);
}

static void test_db_lazy_expiry_deletes_key_after_its_time(void **state)
{
    fixture_t *f = *state;

    set_key(f->db, 1, T0 + 100);
    node_db_set_now(f->db, T0 + 100);
    assert_non_null(get_key(f->db, 1)); /* expired only once now > when */
    node_db_set_now(f->db, T0 + 101);
    assert_null(get_key(f->db, 1));
    assert_int_equal(node_db_stats(f->db)->expired_keys, 1);
    assert_int_equal(node_db_size(f->db), 0);
    assert_int_equal(node_db_expires(f->db), 0);
}

static void test_db_active_expiry_reclaims_expired_keys(void **state)
{
    fixture_t *f = *state;

    for (int i = 0; i < 2000; i++)
        set_key(f->db, i, i < 1990 ? T0 + 1000 : -1);
    node_db_set_now(f->db, T0 + 2000);
    for (int round = 0; round < 100 && node_db_size(f->db) > 10; round++)
        node_db_cron(f->db, 100000);
    assert_int_equal(node_db_size(f->db), 10);
    assert_int_equal(node_db_expires(f->db), 0);
    assert_int_equal(node_db_stats(f->db)->expired_keys, 1990);
}

static void test_db_active_expiry_keeps_live_keys(void **state)
{
    fixture_t *f = *state;

    for (int i = 0; i < 500; i++)
        set_key(f->db, i, T0 + 1000 + (i % 2) * 10000);
    node_db_set_now(f->db, T0 + 5000);
    for (int round = 0; round < 200 && node_db_size(f->db) > 250; round++)
        node_db_cron(f->db, 100000);
    /* the cycle stops when few of a sample are expired: finish lazily */
    for (int i = 0; i < 500; i++)
        (void)get_key(f->db, i);
    assert_int_equal(node_db_size(f->db), 250);
    assert_int_equal(node_db_expires(f->db), 250);
}

static void test_db_persist_and_expire_keep_ttl_index_consistent(void **state)
{
    fixture_t *f = *state;
    char key[32];

    for (int i = 0; i < 300; i++) {
        set_key(f->db, i, -1);
        int n = snprintf(key, sizeof(key), "key:%012d", i);
        node_db_set_expire(f->db, key, (size_t)n, T0 + 10);
    }
    for (int i = 0; i < 300; i += 2) {
        int n = snprintf(key, sizeof(key), "key:%012d", i);
        assert_int_equal(node_db_persist(f->db, key, (size_t)n), 1);
    }
    assert_int_equal(node_db_expires(f->db), 150);
    node_db_set_now(f->db, T0 + 11);
    for (int round = 0; round < 100 && node_db_expires(f->db) > 0; round++)
        node_db_cron(f->db, 100000);
    assert_int_equal(node_db_size(f->db), 150);
    for (int i = 0; i < 300; i += 2)
        assert_non_null(get_key(f->db, i));
}

static void test_db_keepttl_and_plain_set(void **state)
{
    fixture_t *f = *state;

    node_db_set_str(f->db, "k", 1, "a", 1, T0 + 50, 0);
    node_db_set_str(f->db, "k", 1, "b", 1, -1, 1);
    assert_int_equal(node_obj_expire(peek(f->db, "k")), T0 + 50);
    node_db_set_ll(f->db, "k", 1, 42);
    assert_int_equal(node_obj_expire(peek(f->db, "k")), T0 + 50);
    node_db_set_str(f->db, "k", 1, "c", 1, -1, 0);
    assert_int_equal(node_obj_expire(peek(f->db, "k")), -1);
    assert_int_equal(node_db_expires(f->db), 0);
}

static void test_db_noeviction_returns_enomem(void **state)
{
    fixture_t *f = *state;

    for (int i = 0; i < 100; i++)
        set_key(f->db, i, -1);
    assert_int_equal(node_db_evict(f->db, rc_used_memory(), NODE_MM_NOEVICTION, 5), 0);
    assert_int_equal(node_db_evict(f->db, rc_used_memory() - 1, NODE_MM_NOEVICTION, 5), -ENOMEM);
    assert_int_equal(node_db_size(f->db), 100);
}

static void test_db_volatile_policies_evict_only_keys_with_ttl(void **state)
{
    fixture_t *f = *state;
    node_mm_policy_t policies[] = {NODE_MM_VOLATILE_LRU, NODE_MM_VOLATILE_TTL};

    for (size_t p = 0; p < RC_ARRAY_SIZE(policies); p++) {
        node_db_flush(f->db);
        for (int i = 0; i < 200; i++)
            set_key(f->db, i, i % 2 ? T0 + 100000 + i : -1);
        assert_int_equal(node_db_evict(f->db, 0, policies[p], 5), -ENOMEM);
        assert_int_equal(node_db_size(f->db), 100);
        for (int i = 0; i < 200; i += 2)
            assert_non_null(get_key(f->db, i));
    }
    assert_int_equal(node_db_stats(f->db)->evicted_keys, 200);
}

static void test_db_volatile_ttl_evicts_soonest_expiring_first(void **state)
{
    fixture_t *f = *state;

    for (int i = 0; i < 5; i++)
        set_key(f->db, i, T0 + 1000 * (10 - i)); /* key 4 expires first */
    assert_int_equal(node_db_evict(f->db, rc_used_memory() - 1, NODE_MM_VOLATILE_TTL, 100), 0);
    assert_int_equal(node_db_size(f->db), 4);
    assert_null(get_key(f->db, 4));
}

static void test_db_allkeys_lru_evicts_idle_keys(void **state)
{
    fixture_t *f = *state;
    int touched_evicted = 0;

    for (int i = 0; i < 1000; i++)
        set_key(f->db, i, -1);
    node_db_set_now(f->db, T0 + 3600 * 1000);
    for (int i = 0; i < 1000; i += 2) { /* even keys are recent */
        char key[32];
        int n = snprintf(key, sizeof(key), "key:%012d", i);
        assert_non_null(node_db_lookup(f->db, key, (size_t)n, 0));
    }
    /* free room for about 50 keys */
    assert_int_equal(node_db_evict(f->db, rc_used_memory() - 50 * 64, NODE_MM_ALLKEYS_LRU, 10), 0);
    assert_true(node_db_size(f->db) < 1000);
    for (int i = 0; i < 1000; i += 2)
        touched_evicted += get_key(f->db, i) == NULL;
    assert_true(touched_evicted <= 1);
}

static void test_db_allkeys_random_evicts_until_under_limit(void **state)
{
    fixture_t *f = *state;
    size_t target;

    for (int i = 0; i < 1000; i++)
        set_key(f->db, i, -1);
    target = rc_used_memory() - 100 * 64;
    assert_int_equal(node_db_evict(f->db, target, NODE_MM_ALLKEYS_RANDOM, 5), 0);
    assert_true(rc_used_memory() <= target);
    assert_true(node_db_size(f->db) < 1000);
}

/* Keeps the even slots: a cluster node's filter keeps its replicas' copies. */
static int even_slots_only(void *arg, unsigned slot)
{
    (void)arg;
    return slot % 2 == 0;
}

static void test_db_evict_filter_spares_refused_slots(void **state)
{
    fixture_t *f = *state;
    node_mm_policy_t policies[] = {NODE_MM_ALLKEYS_LRU, NODE_MM_ALLKEYS_RANDOM};

    for (size_t p = 0; p < RC_ARRAY_SIZE(policies); p++) {
        size_t odd = 0, left = 0, even_left = 0;

        node_db_flush(f->db);
        node_db_set_slot_filter(f->db, NULL, NULL);
        for (int i = 0; i < 400; i++)
            set_key(f->db, i, -1);
        for (int i = 0; i < 400; i++) {
            char key[32];
            int n = snprintf(key, sizeof(key), "key:%012d", i);

            odd += ring_keyslot(key, (size_t)n) % 2;
        }
        node_db_set_slot_filter(f->db, even_slots_only, NULL);
        /* What it may evict goes (past sampling, by the slot lists), the
         * rest always stays; then -ENOMEM. */
        assert_int_equal(node_db_evict(f->db, 0, policies[p], 5), -ENOMEM);
        for (int i = 0; i < 400; i++) {
            char key[32];
            int n = snprintf(key, sizeof(key), "key:%012d", i);
            int present = get_key(f->db, i) != NULL;

            if (ring_keyslot(key, (size_t)n) % 2)
                assert_true(present);
            else
                even_left += (size_t)present;
            left += (size_t)present;
        }
        assert_int_equal(left, odd + even_left);
        assert_int_equal(even_left, 0);
        assert_true(odd > 100 && odd < 300);
    }
    node_db_set_slot_filter(f->db, NULL, NULL);
}

/* A replica's copies never expire on its own clock: past their TTL they
 * stay (and read as live) until the primary's delete; the slots the node
 * decides for expire as always, lazily and by the active cycle. */
static void test_db_slot_filter_keeps_expired_copies_of_refused_slots(void **state)
{
    fixture_t *f = *state;
    size_t odd = 0;

    node_db_set_slot_filter(f->db, even_slots_only, NULL);
    for (int i = 0; i < 400; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "key:%012d", i);

        set_key(f->db, i, T0 + 100);
        odd += ring_keyslot(key, (size_t)n) % 2;
    }
    node_db_set_now(f->db, T0 + 101);
    /* the active cycle samples: the last even-slot keys take a few rounds */
    for (int i = 0; i < 10000 && node_db_size(f->db) > odd; i++)
        node_db_cron(f->db, 1000);
    assert_int_equal(node_db_size(f->db), odd); /* the even slots' keys went */
    assert_int_equal(node_db_stats(f->db)->expired_keys, 400 - odd);
    for (int i = 0; i < 400; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "key:%012d", i);

        assert_int_equal(get_key(f->db, i) != NULL, ring_keyslot(key, (size_t)n) % 2);
    }
    /* the node decides for every slot again (a failover): they expire */
    node_db_set_slot_filter(f->db, NULL, NULL);
    for (int i = 0; i < 400; i++)
        (void)get_key(f->db, i);
    assert_int_equal(node_db_size(f->db), 0);
    assert_int_equal(node_db_stats(f->db)->expired_keys, 400);
}

/* FLUSHALL on a cluster node: the slots it decides for are emptied, the
 * copies it holds as a replica stay. */
static void test_db_flush_decided_keeps_refused_slots(void **state)
{
    fixture_t *f = *state;
    size_t odd = 0;

    for (int i = 0; i < 400; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "key:%012d", i);

        set_key(f->db, i, -1);
        odd += ring_keyslot(key, (size_t)n) % 2;
    }
    node_db_set_slot_filter(f->db, even_slots_only, NULL);
    assert_int_equal(node_db_flush_decided(f->db), 400 - odd);
    assert_int_equal(node_db_size(f->db), odd);
    for (int i = 0; i < 400; i++) {
        char key[32];
        int n = snprintf(key, sizeof(key), "key:%012d", i);

        assert_int_equal(get_key(f->db, i) != NULL, ring_keyslot(key, (size_t)n) % 2);
    }
    node_db_set_slot_filter(f->db, NULL, NULL);
    assert_int_equal(node_db_flush_decided(f->db), odd); /* no filter: every key */
    assert_int_equal(node_db_size(f->db), 0);
}

static void test_db_hash_converts_to_dict_past_128_fields(void **state)
{
    fixture_t *f = *state;
    node_obj_t *h = node_db_hash_create(f->db, "h", 1);
    char fld[16], val[16];
    const char *v;
    size_t vlen;

    for (int i = 0; i < 129; i++) {
        int fl = snprintf(fld, sizeof(fld), "f%d", i), vl = snprintf(val, sizeof(val), "v%d", i);
        assert_int_equal(node_hash_set(h, fld, (size_t)fl, val, (size_t)vl), 1);
        assert_int_equal(node_hash_is_compact(h), i < 128);
    }
    assert_int_equal(node_hash_set(h, "f7", 2, "new", 3), 0);
    assert_int_equal(node_hash_len(h), 129);
    assert_int_equal(node_hash_get(h, "f7", 2, &v, &vlen), 1);
    assert_memory_equal(v, "new", 3);
    assert_int_equal(node_hash_get(h, "f128", 4, &v, &vlen), 1);
    assert_memory_equal(v, "v128", 4);
    assert_int_equal(node_hash_del(h, "f0", 2), 1);
    assert_int_equal(node_hash_del(h, "f0", 2), 0);
    assert_int_equal(node_hash_len(h), 128);
}

static void test_db_compact_hash_updates_in_place_and_keeps_order(void **state)
{
    fixture_t *f = *state;
    node_obj_t *h = node_db_hash_create(f->db, "h", 1);
    const char *v;
    size_t vlen;

    node_hash_set(h, "a", 1, "1", 1);
    node_hash_set(h, "b", 1, "2", 1);
    node_hash_set(h, "c", 1, "3", 1);
    node_hash_set(h, "b", 1, "a much longer value", 19);
    node_hash_set(h, "a", 1, "", 0);
    assert_int_equal(node_hash_get(h, "b", 1, &v, &vlen), 1);
    assert_int_equal(vlen, 19);
    assert_int_equal(node_hash_get(h, "c", 1, &v, &vlen), 1);
    assert_memory_equal(v, "3", 1);
    assert_int_equal(node_hash_get(h, "a", 1, &v, &vlen), 1);
    assert_int_equal(vlen, 0);
    node_hash_set(h, "long", 4,
                  "0123456789012345678901234567890123456789012345678901234567890123456789", 70);
    assert_true(node_hash_is_compact(h)); /* as Redis: only HSET's args convert */
    node_hash_try_convert(h, 70);
    node_hash_set(h, "big", 3,
                  "0123456789012345678901234567890123456789012345678901234567890123456789", 70);
    assert_false(node_hash_is_compact(h));
    assert_int_equal(node_hash_len(h), 5);
    assert_int_equal(node_hash_get(h, "long", 4, &v, &vlen), 1);
    assert_int_equal(vlen, 70);
}

static void test_db_flush_returns_memory_to_baseline(void **state)
{
    fixture_t *f = *state;
    char big[200];

    memset(big, 'y', sizeof(big));
    for (int i = 0; i < 5000; i++)
        set_key(f->db, i, i % 3 ? -1 : T0 + 1000);
    node_db_set_str(f->db, "raw", 3, big, sizeof(big), -1, 0);
    (void)node_db_str_resize(f->db, "raw", 3, 5000);
    for (int k = 0; k < 3; k++) {
        char key[8];
        node_obj_t *h;
        int n = snprintf(key, sizeof(key), "h%d", k);

        h = node_db_hash_create(f->db, key, (size_t)n);
        for (int i = 0; i < (k == 0 ? 5 : 300); i++) {
            char fld[16];
            int fl = snprintf(fld, sizeof(fld), "f%d", i);
            node_hash_try_convert(h, k == 2 ? sizeof(big) : 8);
            node_hash_set(h, fld, (size_t)fl, big, k == 2 ? sizeof(big) : 8);
        }
    }
    (void)node_db_evict(f->db, rc_used_memory() - 1000, NODE_MM_ALLKEYS_LRU, 5);
    assert_true(rc_used_memory() > f->baseline);
    node_db_flush(f->db);
    assert_int_equal(node_db_size(f->db), 0);
    assert_int_equal(rc_used_memory(), f->baseline);
}

static void test_db_random_skips_and_deletes_expired_keys(void **state)
{
    fixture_t *f = *state;
    node_obj_t *o;
    size_t klen;

    for (int i = 0; i < 50; i++)
        set_key(f->db, i, T0 + 10);
    node_db_set_str(f->db, "live", 4, "v", 1, -1, 0);
    node_db_set_now(f->db, T0 + 11);
    o = node_db_random(f->db);
    assert_non_null(o);
    assert_memory_equal(node_obj_key(o, &klen), "live", 4);
    node_db_delete(f->db, "live", 4);
    assert_null(node_db_random(f->db));
}

static void test_format_ld_trims_like_redis(void **state)
{
    char buf[NODE__LD_BUF];

    (void)state;
    assert_int_equal(node__format_ld(buf, 10.6L), 4);
    assert_string_equal(buf, "10.6");
    node__format_ld(buf, 3.0L);
    assert_string_equal(buf, "3");
    node__format_ld(buf, -0.0L);
    assert_string_equal(buf, "0");
}

#define DB_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DB_TEST(test_db_set_get_roundtrips_each_encoding),
        DB_TEST(test_db_str_resize_appends_and_zero_fills),
        DB_TEST(test_db_str_block_becomes_the_value),
        DB_TEST(test_db_lazy_expiry_deletes_key_after_its_time),
        DB_TEST(test_db_active_expiry_reclaims_expired_keys),
        DB_TEST(test_db_active_expiry_keeps_live_keys),
        DB_TEST(test_db_persist_and_expire_keep_ttl_index_consistent),
        DB_TEST(test_db_keepttl_and_plain_set),
        DB_TEST(test_db_noeviction_returns_enomem),
        DB_TEST(test_db_volatile_policies_evict_only_keys_with_ttl),
        DB_TEST(test_db_volatile_ttl_evicts_soonest_expiring_first),
        DB_TEST(test_db_allkeys_lru_evicts_idle_keys),
        DB_TEST(test_db_allkeys_random_evicts_until_under_limit),
        DB_TEST(test_db_evict_filter_spares_refused_slots),
        DB_TEST(test_db_slot_filter_keeps_expired_copies_of_refused_slots),
        DB_TEST(test_db_flush_decided_keeps_refused_slots),
        DB_TEST(test_db_hash_converts_to_dict_past_128_fields),
        DB_TEST(test_db_compact_hash_updates_in_place_and_keeps_order),
        DB_TEST(test_db_flush_returns_memory_to_baseline),
        DB_TEST(test_db_random_skips_and_deletes_expired_keys),
        cmocka_unit_test(test_format_ld_trims_like_redis),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
