/* node/data/node_codec.c: the object format, and the three operations every
 * value type has (serialize, deserialize, free), one table row per type.
 * The one rule: every length and count read from the input is checked
 * against the bytes that remain BEFORE anything is allocated for it.
 *
 * Format, version 1. All integers little-endian; "varint" is unsigned
 * LEB128 (7 bits per byte, low group first, at most 10 bytes, no value
 * above 2^64-1); "str" is varint length + that many bytes.
 *
 *   object := version:u8 (=1) | type:u8 | flags:u8 | [expire:i64] | value
 *     type   0 string, 1 hash, 2 list, 3 set, 4 zset, 5 stream
 *     flags  bit 0: a TTL follows: 'expire' is the absolute expire time in
 *            ms since the epoch (>= 0); other bits must be 0
 *   value of
 *     string := str
 *     hash   := n:varint (>= 1) | n x (field:str | value:str)   no repeats
 *     list   := n:varint (>= 1) | n x elem:str                   head first
 *     set    := n:varint (>= 1) | n x member:str                 no repeats
 *     zset   := n:varint (>= 1) | n x (score:f64 | member:str)   ascending,
 *               no repeats, no NaN (IEEE 754 bits, so -0.0 and inf survive)
 *     stream := n:varint | last_ms:varint | last_seq:varint | n x entry
 *     entry  := ms:varint | seq:varint | pairs:varint (>= 1) |
 *               pairs x (field:str | value:str)
 *               ids strictly increasing, above 0-0, none above last id
 *   The object is exactly 'len' bytes: trailing bytes are an error.
 *
 * Encodings are not shipped: the receiver encodes a value as its commands
 * would (a canonical integer string is INT, a hash with at most 128 fields
 * of at most 64 bytes is compact), so versions may change encodings freely.
 * Values are serialized whole; a future version may split big collections. */
#include "node/data/node_codec.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "common/rc.h"
#include "node/data/node_obj.h"
#include "node/data/node_types.h"

#define FLAG_TTL                 0x01
#define HEADER_LEN               3 /* version, type, flags */
#define TTL_LEN                  8 /* the TTL when FLAG_TTL: u64 little-endian */
#define HASH_COMPACT_MAX_ENTRIES 128
#define HASH_COMPACT_MAX_VALUE   64

/* ---------------------------------------------------------------- */
/* writing */

static void put_u64le(rc_buf_t *b, uint64_t v)
{
    unsigned char *p = (unsigned char *)rc_buf_reserve(b, 8);

    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    rc_buf_commit(b, 8);
}

/* Writes 'v' as a varint at 'p' (at most 10 bytes); returns its length. */
static size_t varint_at(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static void put_varint(rc_buf_t *b, uint64_t v)
{
    unsigned char *p = (unsigned char *)rc_buf_reserve(b, 10);

    rc_buf_commit(b, varint_at(p, v));
}

/* Its length, then its bytes: one reservation (a replicated SET's value
 * goes through here). */
static void put_str(rc_buf_t *b, const void *s, size_t n)
{
    unsigned char *p = (unsigned char *)rc_buf_reserve(b, 10 + n);
    size_t h = varint_at(p, n);

    if (n > 0)
        memcpy(p + h, s, n);
    rc_buf_commit(b, h + n);
}

static void put_double(rc_buf_t *b, double d)
{
    uint64_t bits;

    memcpy(&bits, &d, 8);
    put_u64le(b, bits);
}

/* ---------------------------------------------------------------- */
/* reading: every function fails (returns -EINVAL) rather than read past end */

typedef struct rd_s {
    const unsigned char *p, *end;
} rd_t;

static size_t rd_left(const rd_t *r)
{
    return (size_t)(r->end - r->p);
}

static int get_u8(rd_t *r, unsigned *v)
{
    if (r->p == r->end)
        return -EINVAL;
    *v = *r->p++;
    return 0;
}

static int get_u64le(rd_t *r, uint64_t *v)
{
    if (rd_left(r) < 8)
        return -EINVAL;
    *v = 0;
    for (int i = 0; i < 8; i++)
        *v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    return 0;
}

static int get_varint(rd_t *r, uint64_t *v)
{
    uint64_t x = 0;

    for (int shift = 0; shift < 70; shift += 7) {
        unsigned byte;

        if (get_u8(r, &byte) != 0)
            return -EINVAL;
        if (shift == 63 && byte > 1)
            return -EINVAL; /* beyond 64 bits */
        x |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -EINVAL;
}

/* A string: its bytes stay in the input (no copy, no allocation). */
static int get_str(rd_t *r, const char **p, size_t *n)
{
    uint64_t len;

    if (get_varint(r, &len) != 0 || len > rd_left(r))
        return -EINVAL;
    *p = (const char *)r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}

/* A count of items each at least 'min_bytes' long: bounded by the input. */
static int get_count(rd_t *r, size_t min_bytes, size_t *n)
{
    uint64_t v;

    if (get_varint(r, &v) != 0 || v > rd_left(r) / min_bytes)
        return -EINVAL;
    *n = (size_t)v;
    return 0;
}

static int get_double(rd_t *r, double *d)
{
    uint64_t bits;

    if (get_u64le(r, &bits) != 0)
        return -EINVAL;
    memcpy(d, &bits, 8);
    return 0;
}

/* ---------------------------------------------------------------- */
/* the types */

typedef struct type_ops_s {
    /* Appends the value of 'o' (not its header). */
    void (*serialize)(const node_obj_t *o, rc_buf_t *out);
    /* Parses a value into a new object for 'key' (with a TTL part when
     * 'vol'), stored in '*out' even on failure (then partly filled, for
     * node_obj_free()) or NULL. */
    int (*deserialize)(rd_t *in, const char *key, size_t klen, int vol, node_obj_t **out);
    /* Frees what the value owns (not the object). */
    void (*free)(node_obj_t *o);
} type_ops_t;

/* strings */

static void str_serialize(const node_obj_t *o, rc_buf_t *out)
{
    char buf[NODE_OBJ_INTBUF];
    size_t len;
    const char *s = node_obj_str(o, buf, &len);

    put_str(out, s, len);
}

static int str_deserialize(rd_t *in, const char *key, size_t klen, int vol, node_obj_t **out)
{
    const char *s;
    size_t n;

    if (get_str(in, &s, &n) != 0)
        return -EINVAL;
    *out = node__obj_new_str(key, klen, s, n, vol);
    return 0;
}

static void str_free(node_obj_t *o)
{
    if (o->enc == NODE_ENC_RAW)
        rc_free(node__obj_ptr(o));
}

/* objects whose value is a pointer (hash, list, set, zset, stream) */

static node_obj_t *ptr_obj(const char *key, size_t klen, int vol, node_obj_type_t type, int enc,
                           void *ptr)
{
    node_obj_t *o = node__obj_alloc(key, klen, sizeof(void *), vol);

    o->type = type;
    o->enc = (uint32_t)enc;
    node__obj_set_ptr(o, ptr);
    return o;
}

/* hashes */

static void hash_put_pair(void *priv, const char *f, size_t flen, const char *v, size_t vlen)
{
    put_str(priv, f, flen);
    put_str(priv, v, vlen);
}

static void hash_serialize(const node_obj_t *o, rc_buf_t *out)
{
    put_varint(out, node_hash_len(o));
    node_hash_foreach((node_obj_t *)o, hash_put_pair, out);
}

static int hash_deserialize(rd_t *in, const char *key, size_t klen, int vol, node_obj_t **out)
{
    size_t n;
    node_obj_t *o;
    rd_t peek;

    if (get_count(in, 2, &n) != 0 || n == 0)
        return -EINVAL;
    o = ptr_obj(key, klen, vol, NODE_OBJ_HASH, NODE_ENC_LP, NULL);
    *out = o;
    /* Choose the encoding up front, as HSET would end up with. */
    peek = *in;
    for (size_t i = 0; i < 2 * n; i++) {
        const char *s;
        size_t len;

        if (get_str(&peek, &s, &len) != 0)
            return -EINVAL;
        if (len > HASH_COMPACT_MAX_VALUE || n > HASH_COMPACT_MAX_ENTRIES) {
            node_hash_try_convert(o, HASH_COMPACT_MAX_VALUE + 1);
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *f, *v;
        size_t flen, vlen;

        if (get_str(in, &f, &flen) != 0 || get_str(in, &v, &vlen) != 0)
            return -EINVAL;
        if (node_hash_set(o, f, flen, v, vlen) == 0)
            return -EINVAL; /* a repeated field */
    }
    return 0;
}

/* lists */

static void list_serialize(const node_obj_t *o, rc_buf_t *out)
{
    const node_list_t *l = node__obj_ptr(o);
    size_t n = node_list_len(l);

    put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        const node_list_elem_t *e = node_list_at(l, i);
        put_str(out, e->data, e->len);
    }
}

static int list_deserialize(rd_t *in, const char *key, size_t klen, int vol, node_obj_t **out)
{
    size_t n;
    node_list_t *l;

    if (get_count(in, 1, &n) != 0 || n == 0)
        return -EINVAL;
    l = node_list_create();
    *out = ptr_obj(key, klen, vol, NODE_OBJ_LIST, NODE_ENC_PTR, l);
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;

        if (get_str(in, &s, &len) != 0)
            return -EINVAL;
        node_list_push(l, NODE_LIST_TAIL, s, len);
    }
    return 0;
}

static void list_free(node_obj_t *o)
{
    node_list_destroy(node__obj_ptr(o));
}

/* sets */

static void set_put_member(void *priv, const char *p, size_t len)
{
    put_str(priv, p, len);
}

static void set_serialize(const node_obj_t *o, rc_buf_t *out)
{
    node_set_t *s = node__obj_ptr(o);

    put_varint(out, node_set_len(s));
    node_set_foreach(s, set_put_member, out);
}

static int set_deserialize(rd_t *in, const char *key, size_t klen, int vol, node_obj_t **out)
{
    size_t n;
    node_set_t *s;

    if (get_count(in, 1, &n) != 0 || n == 0)
        return -EINVAL;
    s = node_set_create();
    *out = ptr_obj(key, klen, vol, NODE_OBJ_SET, NODE_ENC_PTR, s);
    for (size_t i = 0; i < n; i++) {
        const char *m;
        size_t len;

        if (get_str(in, &m, &len) != 0 || node_set_add(s, m, len) == 0)
            return -EINVAL;
    }
    return 0;
}

static void set_free(node_obj_t *o)
{
    node_set_destroy(node__obj_ptr(o));
}

/* sorted sets */

static void zset_serialize(const node_obj_t *o, rc_buf_t *out)
{
    const node_zset_t *z = node__obj_ptr(o);
    size_t n = node_zset_len(z);

    put_varint(out, n);
    for (node_zset_node_t *x = n == 0 ? NULL : node_zset_at(z, 0); x != NULL;
         x = node_zset_next(x)) {
        size_t mlen;
        const char *m = node_zset_node_member(x, &mlen);

        put_double(out, node_zset_node_score(x));
        put_str(out, m, mlen);
    }
}

static int zset_deserialize(rd_t *in, const char *key, size_t klen, int vol, node_obj_t **out)
{
    size_t n;
    node_zset_t *z;

    if (get_count(in, 9, &n) != 0 || n == 0)
        return -EINVAL;
    z = node_zset_create();
    *out = ptr_obj(key, klen, vol, NODE_OBJ_ZSET, NODE_ENC_PTR, z);
    for (size_t i = 0; i < n; i++) {
        double score;
        const char *m;
        size_t mlen;

        if (get_double(in, &score) != 0 || isnan(score) || get_str(in, &m, &mlen) != 0)
            return -EINVAL;
        if (node_zset_add(z, m, mlen, score) == 0)
            return -EINVAL; /* a repeated member */
    }
    return 0;
}

static void zset_free(node_obj_t *o)
{
    node_zset_destroy(node__obj_ptr(o));
}

/* streams */

static void stream_serialize(const node_obj_t *o, rc_buf_t *out)
{
    const node_stream_t *s = node__obj_ptr(o);
    size_t n = node_stream_len(s);
    node_stream_id_t last = node_stream_last_id(s);

    put_varint(out, n);
    put_varint(out, last.ms);
    put_varint(out, last.seq);
    for (size_t i = 0; i < n; i++) {
        const node_stream_entry_t *e = node_stream_at(s, i);
        size_t pos = 0;

        put_varint(out, e->id.ms);
        put_varint(out, e->id.seq);
        put_varint(out, e->nfields);
        for (size_t k = 0; k < 2 * (size_t)e->nfields; k++) {
            size_t len;
            const char *item = node_stream_entry_item(e, &pos, &len);
            put_str(out, item, len);
        }
    }
}

static int stream_entry(rd_t *in, node_stream_t *s, node_stream_id_t *prev)
{
    node_stream_id_t id;
    size_t pairs, cap = 16;
    const char *small_p[16], **ptrs = small_p;
    size_t small_l[16], *lens = small_l;
    int err = -EINVAL;

    if (get_varint(in, &id.ms) != 0 || get_varint(in, &id.seq) != 0 ||
        node_stream_id_cmp(id, *prev) <= 0 || get_count(in, 2, &pairs) != 0 || pairs == 0)
        return -EINVAL;
    if (2 * pairs > cap) { /* bounded by the input: 2 bytes per pair at least */
        ptrs = rc_xmalloc(2 * pairs * sizeof(*ptrs));
        lens = rc_xmalloc(2 * pairs * sizeof(*lens));
    }
    for (size_t k = 0; k < 2 * pairs; k++) {
        if (get_str(in, &ptrs[k], &lens[k]) != 0 || lens[k] > UINT32_MAX)
            goto done;
    }
    node_stream_append(s, id, pairs, ptrs, lens);
    *prev = id;
    err = 0;
done:
    if (ptrs != small_p) {
        rc_free(ptrs);
        rc_free(lens);
    }
    return err;
}

static int stream_deserialize(rd_t *in, const char *key, size_t klen, int vol, node_obj_t **out)
{
    size_t n;
    node_stream_id_t last, prev = {0, 0};
    node_stream_t *s;

    if (get_count(in, 5, &n) != 0 || get_varint(in, &last.ms) != 0 ||
        get_varint(in, &last.seq) != 0)
        return -EINVAL;
    s = node_stream_create();
    *out = ptr_obj(key, klen, vol, NODE_OBJ_STREAM, NODE_ENC_PTR, s);
    for (size_t i = 0; i < n; i++) {
        if (stream_entry(in, s, &prev) != 0)
            return -EINVAL;
    }
    if (node_stream_id_cmp(last, prev) < 0)
        return -EINVAL; /* the last id can only be at or above the last entry */
    node__stream_set_last_id(s, last);
    return 0;
}

static void stream_free(node_obj_t *o)
{
    node_stream_destroy(node__obj_ptr(o));
}

/* Indexed by node_obj_type_t. */
static const type_ops_t type_ops[] = {
    {str_serialize, str_deserialize, str_free},          /* NODE_OBJ_STRING */
    {hash_serialize, hash_deserialize, node__hash_free}, /* NODE_OBJ_HASH */
    {list_serialize, list_deserialize, list_free},       /* NODE_OBJ_LIST */
    {set_serialize, set_deserialize, set_free},          /* NODE_OBJ_SET */
    {zset_serialize, zset_deserialize, zset_free},       /* NODE_OBJ_ZSET */
    {stream_serialize, stream_deserialize, stream_free}, /* NODE_OBJ_STREAM */
};

void node__obj_free_value(node_obj_t *o)
{
    RC_ASSERT(o->type < RC_ARRAY_SIZE(type_ops));
    type_ops[o->type].free(o);
}

/* ---------------------------------------------------------------- */
/* objects */

void node_obj_serialize(const node_obj_t *o, rc_buf_t *out)
{
    int64_t when = node_obj_expire(o);
    unsigned char *p = (unsigned char *)rc_buf_reserve(out, HEADER_LEN + TTL_LEN);
    size_t n = HEADER_LEN;

    RC_ASSERT(o->type < RC_ARRAY_SIZE(type_ops));
    /* The header in one reservation: version, type, flags [, TTL]. */
    p[0] = NODE_CODEC_VERSION;
    p[1] = (unsigned char)o->type;
    p[2] = when >= 0 ? FLAG_TTL : 0;
    if (when >= 0) {
        for (int i = 0; i < TTL_LEN; i++)
            p[n++] = (unsigned char)((uint64_t)when >> (8 * i));
    }
    rc_buf_commit(out, n);
    type_ops[o->type].serialize(o, out);
}

size_t node_obj_serialized_size(const node_obj_t *o)
{
    char buf[NODE_OBJ_INTBUF];
    unsigned char v[10];
    size_t len;

    if (o->type != NODE_OBJ_STRING)
        return 0;
    (void)node_obj_str(o, buf, &len);
    /* The header, the TTL if any, then put_str(): varint length, bytes. */
    return HEADER_LEN + (node_obj_expire(o) >= 0 ? TTL_LEN : 0) + varint_at(v, len) + len;
}

/* The header every serialized object starts with: its type, and its TTL
 * ('*when', -1: none). */
static int get_header(rd_t *in, unsigned *type, int64_t *when)
{
    unsigned version, flags;
    uint64_t w = 0;

    if (get_u8(in, &version) != 0)
        return -EINVAL;
    if (version != NODE_CODEC_VERSION)
        return -ENOTSUP;
    if (get_u8(in, type) != 0 || *type >= RC_ARRAY_SIZE(type_ops) || get_u8(in, &flags) != 0 ||
        (flags & ~(unsigned)FLAG_TTL) != 0)
        return -EINVAL;
    if ((flags & FLAG_TTL) && (get_u64le(in, &w) != 0 || w > INT64_MAX))
        return -EINVAL;
    *when = (flags & FLAG_TTL) ? (int64_t)w : -1;
    return 0;
}

int node_obj_deserialize(const char *key, size_t klen, const void *p, size_t len, node_obj_t **out)
{
    rd_t in;
    unsigned type;
    int64_t when;
    node_obj_t *o = NULL;
    int err;

    *out = NULL;
    if (len == 0)
        return -EINVAL; /* and 'p' may be NULL */
    in.p = p;
    in.end = in.p + len;
    err = get_header(&in, &type, &when);
    if (err != 0)
        return err;
    err = type_ops[type].deserialize(&in, key, klen, when >= 0, &o);
    if (err == 0 && in.p != in.end)
        err = -EINVAL; /* trailing bytes */
    if (err != 0) {
        node_obj_free(o);
        return err;
    }
    if (when >= 0)
        node__obj_set_expire(o, when);
    *out = o;
    return 0;
}

int node_obj_string_of(const void *p, size_t len, const char **s, size_t *n, int64_t *when)
{
    rd_t in;
    unsigned type;

    if (len == 0)
        return 0;
    in.p = p;
    in.end = in.p + len;
    return get_header(&in, &type, when) == 0 && type == NODE_OBJ_STRING &&
           get_str(&in, s, n) == 0 && in.p == in.end;
}
