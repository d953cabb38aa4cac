/* tests/unit/node_data_codec_test.c: node_codec.c, the object format: every
 * type and encoding round-trips with its TTL (big and empty values
 * included), the bytes of the format are pinned by a golden test, and
 * hostile input (every truncation, bad versions, types, flags, lengths,
 * counts, duplicates, NaN, stream ids out of order, random corruption)
 * gets an error, never a crash, and leaves no memory behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "node/data/node_codec.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "node/data/node_types.h"

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

static node_obj_t *get(node_db_t *db, const char *key)
{
    return node_db_lookup(db, key, strlen(key), NODE_LOOKUP_NOTOUCH | NODE_LOOKUP_WRITE);
}

/* Serializes 'key', deserializes it as "copy", checks the copy serializes
 * to the same bytes (when 'same_bytes': every type whose order is fixed)
 * and has the same type, TTL and encoding; returns the copy, linked into
 * the db so callers can inspect it. */
static node_obj_t *roundtrip(node_db_t *db, const char *key, int same_bytes)
{
    node_obj_t *o = get(db, key), *c = NULL;
    rc_buf_t a = {0}, b = {0};

    assert_non_null(o);
    node_obj_serialize(o, &a);
    /* The size known beforehand, for strings only (node_migrate's big
     * values are serialized straight into a batch sized by it). */
    assert_int_equal(node_obj_serialized_size(o), node_obj_type(o) == NODE_OBJ_STRING ? a.len : 0);
    assert_int_equal(node_obj_deserialize("copy", 4, (const unsigned char *)a.data, a.len, &c), 0);
    assert_non_null(c);
    node_obj_serialize(c, &b);
    assert_int_equal(a.len, b.len);
    if (same_bytes)
        assert_memory_equal((const unsigned char *)a.data, (const unsigned char *)b.data, a.len);
    assert_int_equal(node_obj_type(c), node_obj_type(o));
    assert_int_equal(node_obj_expire(c), node_obj_expire(o));
    if (node_obj_type(o) == NODE_OBJ_HASH)
        assert_int_equal(node_hash_is_compact(c), node_hash_is_compact(o));
    node_db_insert(db, c);
    rc_buf_free(&a);
    rc_buf_free(&b);
    return get(db, "copy");
}

static void test_strings_roundtrip_in_every_encoding(void **state)
{
    fixture_t *f = *state;
    static char big[1 << 20];
    static const struct {
        const char *val;
        int enc;
    } cases[] = {
        {"12345", NODE_ENC_INT}, {"-9223372036854775808", NODE_ENC_INT},
        {"", NODE_ENC_EMB},      {"hello", NODE_ENC_EMB},
        {"007", NODE_ENC_EMB}, /* not canonical: stays bytes */
    };

    for (size_t i = 0; i < RC_ARRAY_SIZE(cases); i++) {
        node_obj_t *c;
        char buf[NODE_OBJ_INTBUF];
        size_t len;
        const char *s;

        node_db_set_str(f->db, "k", 1, cases[i].val, strlen(cases[i].val), i % 2 ? T0 + 5000 : -1,
                        0);
        c = roundtrip(f->db, "k", 1);
        assert_int_equal(c->enc, cases[i].enc);
        s = node_obj_str(c, buf, &len);
        assert_int_equal(len, strlen(cases[i].val));
        assert_memory_equal(s, cases[i].val, len);
    }
    memset(big, 'x', sizeof(big));
    big[12345] = '\0'; /* binary safe */
    node_db_set_str(f->db, "k", 1, big, sizeof(big), T0 + 1, 0);
    {
        node_obj_t *c = roundtrip(f->db, "k", 1);
        char buf[NODE_OBJ_INTBUF];
        size_t len;
        const char *s = node_obj_str(c, buf, &len);

        assert_int_equal(c->enc, NODE_ENC_RAW);
        assert_int_equal(len, sizeof(big));
        assert_memory_equal(s, big, len);
    }
    /* A RAW string grown by APPEND comes back encoded as SET would do it. */
    node_db_set_str(f->db, "k", 1, "ab", 2, -1, 0);
    memcpy(node_db_str_resize(f->db, "k", 1, 3) + 2, "c", 1);
    assert_int_equal(roundtrip(f->db, "k", 1)->enc, NODE_ENC_EMB);
}

static void test_hashes_roundtrip_compact_and_table(void **state)
{
    fixture_t *f = *state;
    node_obj_t *o = node_db_hash_create(f->db, "h", 1), *c;
    const char *v;
    size_t vlen;
    char fld[32], val[128];

    node_hash_set(o, "a", 1, "1", 1);
    node_hash_set(o, "", 0, "", 0); /* empty field and value */
    node_hash_set(o, "z", 1, "26", 2);
    c = roundtrip(f->db, "h", 1); /* compact: insertion order kept, same bytes */
    assert_true(node_hash_is_compact(c));
    assert_int_equal(node_hash_len(c), 3);
    assert_true(node_hash_get(c, "", 0, &v, &vlen) && vlen == 0);

    node_db_delete(f->db, "h", 1);
    o = node_db_hash_create(f->db, "h", 1);
    for (int i = 0; i < 300; i++) {
        int n = snprintf(fld, sizeof(fld), "f%d", i);
        node_hash_set(o, fld, (size_t)n, "v", 1);
    }
    node_db_set_expire(f->db, "h", 1, T0 + 100);
    c = roundtrip(f->db, "h", 0);
    assert_false(node_hash_is_compact(c));
    assert_int_equal(node_hash_len(c), 300);
    assert_true(node_hash_get(c, "f299", 4, &v, &vlen));

    /* Few fields but one long value: a table, as HSET makes it. */
    node_db_delete(f->db, "h", 1);
    o = node_db_hash_create(f->db, "h", 1);
    memset(val, 'v', sizeof(val));
    node_hash_try_convert(o, sizeof(val));
    node_hash_set(o, "f", 1, val, sizeof(val));
    c = roundtrip(f->db, "h", 1);
    assert_false(node_hash_is_compact(c));
}

static void test_lists_roundtrip_small_big_and_empty_elements(void **state)
{
    fixture_t *f = *state;
    node_list_t *l = node_list_create();
    static char big[100000];
    const node_list_t *cl;

    node_db_ptr_create(f->db, "l", 1, NODE_OBJ_LIST, l);
    node_list_push(l, NODE_LIST_TAIL, "", 0);
    for (int i = 0; i < 10000; i++)
        node_list_push(l, i % 2 ? NODE_LIST_HEAD : NODE_LIST_TAIL, "elem", 4);
    memset(big, 'b', sizeof(big));
    node_list_push(l, NODE_LIST_TAIL, big, sizeof(big));
    cl = node_obj_ptr(roundtrip(f->db, "l", 1));
    assert_int_equal(node_list_len(cl), 10002);
    assert_int_equal(node_list_at(cl, 10001)->len, sizeof(big));
}

static void test_sets_roundtrip(void **state)
{
    fixture_t *f = *state;
    node_set_t *s = node_set_create();
    node_set_t *cs;
    char m[32];

    node_db_ptr_create(f->db, "s", 1, NODE_OBJ_SET, s);
    node_set_add(s, "", 0);
    for (int i = 0; i < 1000; i++)
        node_set_add(s, m, (size_t)snprintf(m, sizeof(m), "m%d", i));
    cs = node_obj_ptr(roundtrip(f->db, "s", 0));
    assert_int_equal(node_set_len(cs), 1001);
    assert_true(node_set_has(cs, "", 0));
    assert_true(node_set_has(cs, "m999", 4));
}

static void test_zsets_roundtrip_with_odd_scores(void **state)
{
    fixture_t *f = *state;
    node_zset_t *z = node_zset_create();
    node_zset_t *cz;
    double sc;

    node_db_ptr_create(f->db, "z", 1, NODE_OBJ_ZSET, z);
    node_zset_add(z, "neg0", 4, -0.0);
    node_zset_add(z, "inf", 3, INFINITY);
    node_zset_add(z, "minf", 4, -INFINITY);
    node_zset_add(z, "", 0, 1.5);
    node_zset_add(z, "a", 1, 1.5);
    for (int i = 0; i < 500; i++) {
        char m[16];
        node_zset_add(z, m, (size_t)snprintf(m, sizeof(m), "x%d", i), i * 0.25);
    }
    node_db_set_expire(f->db, "z", 1, T0 + 99);
    cz = node_obj_ptr(roundtrip(f->db, "z", 1));
    assert_int_equal(node_zset_len(cz), 505);
    assert_true(node_zset_score(cz, "neg0", 4, &sc) && sc == 0 && signbit(sc));
    assert_true(node_zset_score(cz, "inf", 3, &sc) && isinf(sc) && sc > 0);
    assert_int_equal(node_zset_rank(cz, "minf", 4), 0);
}

static void test_streams_roundtrip_with_last_id_and_empty(void **state)
{
    fixture_t *f = *state;
    node_stream_t *s = node_stream_create();
    node_stream_t *cs;
    const char *ptrs[4] = {"f", "v", "", "empty"};
    size_t lens[4] = {1, 1, 0, 5};

    node_db_ptr_create(f->db, "x", 1, NODE_OBJ_STREAM, s);
    for (uint64_t i = 1; i <= 100; i++)
        node_stream_append(s, (node_stream_id_t){i, i % 3}, 1 + i % 2, ptrs, lens);
    node_stream_del(s, (node_stream_id_t){100, 1}); /* last id stays 100-1 */
    cs = node_obj_ptr(roundtrip(f->db, "x", 1));
    assert_int_equal(node_stream_len(cs), 99);
    assert_int_equal(node_stream_last_id(cs).ms, 100);
    assert_int_equal(node_stream_last_id(cs).seq, 1);
    /* XADD then XDEL everything: an empty stream that remembers its id. */
    node_stream_trim_head(s, node_stream_len(s));
    cs = node_obj_ptr(roundtrip(f->db, "x", 1));
    assert_int_equal(node_stream_len(cs), 0);
    assert_int_equal(node_stream_last_id(cs).ms, 100);
}

/* The wire format is a contract between versions: pin its bytes. */
static void test_format_bytes_are_pinned(void **state)
{
    fixture_t *f = *state;
    rc_buf_t b = {0};
    static const unsigned char want_str[] = {1, 0, 1, 0x10, 0x27, 0,   0,  0,
                                             0, 0, 0, 3,    'a',  'b', 'c'};
    static const unsigned char want_zset[] = {1, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 1, 'm'};

    node_db_set_now(f->db, 0);
    node_db_set_str(f->db, "k", 1, "abc", 3, 10000, 0);
    node_obj_serialize(get(f->db, "k"), &b);
    assert_int_equal(b.len, sizeof(want_str));
    assert_memory_equal((const unsigned char *)b.data, want_str, b.len);
    b.len = 0;
    node_zset_add(
        node_obj_ptr(node_db_ptr_create(f->db, "z", 1, NODE_OBJ_ZSET, node_zset_create())), "m", 1,
        1.5);
    node_obj_serialize(get(f->db, "z"), &b);
    assert_int_equal(b.len, sizeof(want_zset));
    assert_memory_equal((const unsigned char *)b.data, want_zset, b.len);
    rc_buf_free(&b);
}

static void test_insert_replaces_and_keeps_ttl(void **state)
{
    fixture_t *f = *state;
    rc_buf_t b = {0};
    node_obj_t *c;

    node_db_set_str(f->db, "src", 3, "v", 1, T0 + 10, 0);
    node_obj_serialize(get(f->db, "src"), &b);
    node_db_ptr_create(f->db, "dst", 3, NODE_OBJ_LIST, node_list_create());
    assert_int_equal(node_obj_deserialize("dst", 3, (const unsigned char *)b.data, b.len, &c), 0);
    node_db_insert(f->db, c);
    assert_int_equal(node_db_size(f->db), 2);
    assert_int_equal(node_obj_type(get(f->db, "dst")), NODE_OBJ_STRING);
    assert_int_equal(node_db_expires(f->db), 2);
    node_db_set_now(f->db, T0 + 11);
    assert_null(get(f->db, "dst"));
    rc_buf_free(&b);
}

/* node_obj_string_of() reads what node_obj_deserialize() would make a
 * string of, and nothing else; node_db_insert_str() sets it as
 * node_db_insert() would, in place when the old value has the length. */
static void test_string_of_and_insert_str_agree_with_deserialize(void **state)
{
    fixture_t *f = *state;
    static const char *const vals[] = {"12345", "", "hello", "007",
                                       "a value of 32 bytes, not an int"};
    rc_buf_t b = {0};
    const char *s;
    size_t n;
    int64_t when;
    node_obj_t *before;
    char intbuf[NODE_OBJ_INTBUF];

    for (size_t i = 0; i < RC_ARRAY_SIZE(vals); i++) {
        int64_t ttl = i % 2 ? T0 + 5000 : -1;

        b.len = 0;
        node_db_set_str(f->db, "k", 1, vals[i], strlen(vals[i]), ttl, 0);
        node_obj_serialize(get(f->db, "k"), &b);
        assert_int_equal(node_obj_string_of(b.data, b.len, &s, &n, &when), 1);
        assert_int_equal(n, strlen(vals[i]));
        assert_memory_equal(s, vals[i], n);
        assert_int_equal(when, ttl);
        for (size_t cut = 0; cut < b.len; cut++)
            assert_int_equal(node_obj_string_of(b.data, cut, &s, &n, &when), 0);
        rc_buf_putc(&b, 'x'); /* trailing byte */
        assert_int_equal(node_obj_string_of(b.data, b.len, &s, &n, &when), 0);
    }
    b.len = 0;
    node_db_ptr_create(f->db, "l", 1, NODE_OBJ_LIST, node_list_create());
    node_list_push(node_obj_ptr(get(f->db, "l")), 0, "e", 1);
    node_obj_serialize(get(f->db, "l"), &b);
    assert_int_equal(node_obj_string_of(b.data, b.len, &s, &n, &when), 0);

    /* Over a list: a string with its TTL. */
    node_db_insert_str(f->db, "l", 1, "abc", 3, T0 + 10);
    assert_int_equal(node_obj_type(get(f->db, "l")), NODE_OBJ_STRING);
    assert_int_equal(node_obj_expire(get(f->db, "l")), T0 + 10);
    /* Over a string of the same length: in place, the TTL replaced. */
    before = get(f->db, "l");
    node_db_insert_str(f->db, "l", 1, "xyz", 3, T0 + 20);
    assert_ptr_equal(get(f->db, "l"), before);
    assert_int_equal(node_obj_expire(before), T0 + 20);
    assert_memory_equal(node_obj_str(before, intbuf, &n), "xyz", 3);
    /* An expired key is replaced, not first expired (a replica's copy). */
    node_db_set_now(f->db, T0 + 30);
    node_db_insert_str(f->db, "l", 1, "new value", 9, -1);
    assert_int_equal(node_obj_expire(get(f->db, "l")), -1);
    assert_int_equal(node_db_stats(f->db)->expired_keys, 0);
    rc_buf_free(&b);
}

/* ---------------------------------------------------------------- */
/* hostile input */

static int parse(const void *p, size_t len)
{
    node_obj_t *o = NULL;
    int err = node_obj_deserialize("k", 1, p, len, &o);

    if (err == 0) {
        assert_non_null(o);
        node_obj_free(o);
    } else {
        assert_null(o);
    }
    return err;
}

/* One valid blob of each type, with a TTL on some. */
static void sample_blobs(node_db_t *db, rc_buf_t *out, size_t *ends, int *n)
{
    node_obj_t *o;
    const char *ptrs[2] = {"f", "v"};
    size_t lens[2] = {1, 1};
    char m[8];

    *n = 0;
    node_db_set_str(db, "s", 1, "string value", 12, T0 + 5, 0);
    node_db_set_str(db, "i", 1, "42", 2, -1, 0);
    o = node_db_hash_create(db, "h", 1);
    node_hash_set(o, "f", 1, "v", 1);
    node_hash_set(o, "g", 1, "w", 1);
    o = node_db_ptr_create(db, "l", 1, NODE_OBJ_LIST, node_list_create());
    node_list_push(node_obj_ptr(o), NODE_LIST_TAIL, "a", 1);
    node_list_push(node_obj_ptr(o), NODE_LIST_TAIL, "bb", 2);
    o = node_db_ptr_create(db, "t", 1, NODE_OBJ_SET, node_set_create());
    for (int i = 0; i < 5; i++)
        node_set_add(node_obj_ptr(o), m, (size_t)snprintf(m, sizeof(m), "m%d", i));
    o = node_db_ptr_create(db, "z", 1, NODE_OBJ_ZSET, node_zset_create());
    node_zset_add(node_obj_ptr(o), "a", 1, 1);
    node_zset_add(node_obj_ptr(o), "b", 1, 2);
    o = node_db_ptr_create(db, "x", 1, NODE_OBJ_STREAM, node_stream_create());
    node_stream_append(node_obj_ptr(o), (node_stream_id_t){5, 1}, 1, ptrs, lens);
    node_stream_append(node_obj_ptr(o), (node_stream_id_t){7, 0}, 1, ptrs, lens);
    node_db_set_expire(db, "x", 1, T0 + 1000);
    for (const char *k = "sihltzx"; *k; k++) {
        node_obj_serialize(get(db, (char[]){*k, 0}), out);
        ends[(*n)++] = out->len;
    }
}

static void test_every_truncation_is_an_error(void **state)
{
    fixture_t *f = *state;
    rc_buf_t all = {0};
    size_t ends[8], start = 0;
    int n;

    sample_blobs(f->db, &all, ends, &n);
    for (int i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)all.data + start;
        size_t len = ends[i] - start;

        assert_int_equal(parse(p, len), 0);
        for (size_t cut = 0; cut < len; cut++)
            assert_int_equal(parse(p, cut), -EINVAL);
        start = ends[i];
    }
    rc_buf_free(&all);
}

static void test_bad_headers_are_errors(void **state)
{
    (void)state;
    static const unsigned char ok[] = {1, 0, 0, 1, 'v'};
    static const unsigned char v2[] = {2, 0, 0, 1, 'v'};
    static const unsigned char type6[] = {1, 6, 0, 1, 'v'};
    static const unsigned char type255[] = {1, 255, 0, 1, 'v'};
    static const unsigned char flag2[] = {1, 0, 2, 1, 'v'};
    static const unsigned char neg_ttl[] = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x80, 1, 'v'};
    static const unsigned char trailing[] = {1, 0, 0, 1, 'v', 0};

    assert_int_equal(parse(ok, sizeof(ok)), 0);
    assert_int_equal(parse(v2, sizeof(v2)), -ENOTSUP);
    assert_int_equal(parse(type6, sizeof(type6)), -EINVAL);
    assert_int_equal(parse(type255, sizeof(type255)), -EINVAL);
    assert_int_equal(parse(flag2, sizeof(flag2)), -EINVAL);
    assert_int_equal(parse(neg_ttl, sizeof(neg_ttl)), -EINVAL);
    assert_int_equal(parse(trailing, sizeof(trailing)), -EINVAL);
    assert_int_equal(parse(NULL, 0), -EINVAL);
}

static void test_bad_lengths_and_counts_are_errors_without_allocation(void **state)
{
    fixture_t *f = *state;
    /* a 2^62-byte string; a count of 2^63-1 list elements; an 11-byte varint;
     * a 10th varint byte over 1 (beyond 64 bits) */
    static const unsigned char huge_str[] = {1,    0,    0,    0x80, 0x80, 0x80, 0x80,
                                             0x80, 0x80, 0x80, 0x80, 0x40, 'v'};
    static const unsigned char huge_list[] = {1,    2,    0,    0xff, 0xff, 0xff, 0xff,
                                              0xff, 0xff, 0xff, 0xff, 0x7f, 1,    'a'};
    static const unsigned char long_varint[] = {1,    0,    0,    0x81, 0x80, 0x80, 0x80,
                                                0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const unsigned char wide_varint[] = {1,    0,    0,    0x81, 0x80, 0x80, 0x80,
                                                0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
    static const unsigned char huge_stream[] = {1, 5, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0};
    static const unsigned char huge_pairs[] = {1, 5, 0, 1, 9, 0, 1, 0, 0xff, 0xff, 0xff, 0x7f};
    size_t before = rc_used_memory();

    assert_int_equal(parse(huge_str, sizeof(huge_str)), -EINVAL);
    assert_int_equal(parse(huge_list, sizeof(huge_list)), -EINVAL);
    assert_int_equal(parse(long_varint, sizeof(long_varint)), -EINVAL);
    assert_int_equal(parse(wide_varint, sizeof(wide_varint)), -EINVAL);
    assert_int_equal(parse(huge_stream, sizeof(huge_stream)), -EINVAL);
    assert_int_equal(parse(huge_pairs, sizeof(huge_pairs)), -EINVAL);
    assert_int_equal(rc_used_memory(), before);
    (void)f;
}

static void test_bad_contents_are_errors(void **state)
{
    (void)state;
    static const unsigned char empty_list[] = {1, 2, 0, 0};
    static const unsigned char empty_hash[] = {1, 1, 0, 0};
    static const unsigned char empty_set[] = {1, 3, 0, 0};
    static const unsigned char empty_zset[] = {1, 4, 0, 0};
    static const unsigned char dup_member[] = {1, 3, 0, 2, 1, 'a', 1, 'a'};
    static const unsigned char dup_field[] = {1, 1, 0, 2, 1, 'f', 1, 'v', 1, 'f', 1, 'w'};
    static const unsigned char nan_score[] = {1, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 1, 'm'};
    static const unsigned char dup_zset[] = {1, 4,   0, 2, 0, 0, 0, 0, 0, 0,    0xf0, 0x3f,
                                             1, 'm', 0, 0, 0, 0, 0, 0, 0, 0x40, 1,    'm'};
    /* stream: 2 entries, last 9-0, ids 5-0 then 3-0 (out of order) */
    static const unsigned char stream_order[] = {1,   5, 0,   2, 9, 0, 5, 0,   1, 1,
                                                 'f', 1, 'v', 3, 0, 1, 1, 'f', 1, 'v'};
    /* stream: entry 0-0 */
    static const unsigned char stream_zero[] = {1, 5, 0, 1, 9, 0, 0, 0, 1, 1, 'f', 1, 'v'};
    /* stream: last id 4-0 below the entry 5-0 */
    static const unsigned char stream_last[] = {1, 5, 0, 1, 4, 0, 5, 0, 1, 1, 'f', 1, 'v'};
    /* stream: an entry without fields */
    static const unsigned char stream_nofield[] = {1, 5, 0, 1, 9, 0, 5, 0, 0, 0, 0};
    static const unsigned char empty_stream[] = {1, 5, 0, 0, 3, 4};
    size_t before = rc_used_memory();

    assert_int_equal(parse(empty_list, sizeof(empty_list)), -EINVAL);
    assert_int_equal(parse(empty_hash, sizeof(empty_hash)), -EINVAL);
    assert_int_equal(parse(empty_set, sizeof(empty_set)), -EINVAL);
    assert_int_equal(parse(empty_zset, sizeof(empty_zset)), -EINVAL);
    assert_int_equal(parse(dup_member, sizeof(dup_member)), -EINVAL);
    assert_int_equal(parse(dup_field, sizeof(dup_field)), -EINVAL);
    assert_int_equal(parse(nan_score, sizeof(nan_score)), -EINVAL);
    assert_int_equal(parse(dup_zset, sizeof(dup_zset)), -EINVAL);
    assert_int_equal(parse(stream_order, sizeof(stream_order)), -EINVAL);
    assert_int_equal(parse(stream_zero, sizeof(stream_zero)), -EINVAL);
    assert_int_equal(parse(stream_last, sizeof(stream_last)), -EINVAL);
    assert_int_equal(parse(stream_nofield, sizeof(stream_nofield)), -EINVAL);
    assert_int_equal(parse(empty_stream, sizeof(empty_stream)), 0);
    assert_int_equal(rc_used_memory(), before); /* failures free what they built */
}

/* Random corruption of valid blobs: an error or a valid object, never a
 * crash, and memory back to where it was. */
static void test_random_corruption_never_crashes(void **state)
{
    fixture_t *f = *state;
    rc_buf_t all = {0};
    size_t ends[8], before;
    uint64_t rng = 7;
    int n;

    sample_blobs(f->db, &all, ends, &n);
    before = rc_used_memory();
    for (int round = 0; round < 20000; round++) {
        int i = round % n;
        size_t start = i == 0 ? 0 : ends[i - 1], len = ends[i] - start;
        unsigned char blob[256];

        memcpy(blob, (const unsigned char *)all.data + start, len);
        for (int k = 0; k < 1 + round % 3; k++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            blob[(rng >> 33) % len] = (unsigned char)(rng >> 17);
        }
        (void)parse(blob, len);
    }
    assert_int_equal(rc_used_memory(), before);
    rc_buf_free(&all);
}

#define CODEC_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CODEC_TEST(test_strings_roundtrip_in_every_encoding),
        CODEC_TEST(test_hashes_roundtrip_compact_and_table),
        CODEC_TEST(test_lists_roundtrip_small_big_and_empty_elements),
        CODEC_TEST(test_sets_roundtrip),
        CODEC_TEST(test_zsets_roundtrip_with_odd_scores),
        CODEC_TEST(test_streams_roundtrip_with_last_id_and_empty),
        CODEC_TEST(test_format_bytes_are_pinned),
        CODEC_TEST(test_insert_replaces_and_keeps_ttl),
        CODEC_TEST(test_string_of_and_insert_str_agree_with_deserialize),
        CODEC_TEST(test_every_truncation_is_an_error),
        CODEC_TEST(test_bad_headers_are_errors),
        CODEC_TEST(test_bad_lengths_and_counts_are_errors_without_allocation),
        CODEC_TEST(test_bad_contents_are_errors),
        CODEC_TEST(test_random_corruption_never_crashes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
