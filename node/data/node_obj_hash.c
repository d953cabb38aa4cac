/* node/data/node_obj_hash.c: hash values. Small hashes are one flat buffer of
 * field/value pairs in insertion order (like Redis's listpack); past 128
 * fields, or when HSET brings a field or value over 64 bytes
 * (node_hash_try_convert), they become a node_dict of one-allocation
 * entries. As in Redis, a long HINCRBYFLOAT result does not convert. The one rule: a hash object is changed in place
 * (only the pointer inside it changes), so commands keep their node_obj_t.
 *
 *   compact: | count:4 | used:4 | varint flen | f | varint vlen | v | ... |
 */
#include <string.h>

#include "common/rc.h"
#include "node/data/node_db.h"
#include "node/data/node_dict.h"
#include "node/data/node_obj.h"

#define HASH_MAX_COMPACT_ENTRIES 128
#define HASH_MAX_COMPACT_VALUE   64

typedef struct compact_s {
    uint32_t count; /* pairs */
    uint32_t used;  /* bytes of data[] */
    unsigned char data[];
} compact_t;

typedef struct hfield_s {
    node_dict_entry_t link;
    uint32_t flen;
    uint32_t vlen;
    char data[]; /* field then value */
} hfield_t;

static const char *hfield_key(const node_dict_entry_t *e, size_t *len)
{
    const hfield_t *h = (const hfield_t *)e;

    *len = h->flen;
    return h->data;
}

static void hfield_destroy(node_dict_entry_t *e)
{
    rc_free(e);
}

static const node_dict_type_t hfield_type = {hfield_key, hfield_destroy};

static hfield_t *hfield_new(const char *f, size_t flen, const char *v, size_t vlen)
{
    hfield_t *h = rc_xmalloc(sizeof(*h) + flen + vlen);

    h->link.next = NULL;
    h->flen = (uint32_t)flen;
    h->vlen = (uint32_t)vlen;
    memcpy(h->data, f, flen);
    memcpy(h->data + flen, v, vlen);
    return h;
}

static size_t varint_len(size_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static unsigned char *varint_put(unsigned char *p, size_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

static const unsigned char *varint_get(const unsigned char *p, size_t *v)
{
    size_t r = 0;
    int shift = 0;

    while (*p & 0x80) {
        r |= (size_t)(*p++ & 0x7f) << shift;
        shift += 7;
    }
    *v = r | ((size_t)*p++ << shift);
    return p;
}

/* One pair of a compact buffer, decoded. */
typedef struct pair_s {
    const unsigned char *start, *end;
    const char *f, *v;
    size_t flen, vlen;
} pair_t;

static const unsigned char *pair_decode(const unsigned char *p, pair_t *pr)
{
    pr->start = p;
    p = varint_get(p, &pr->flen);
    pr->f = (const char *)p;
    p = varint_get(p + pr->flen, &pr->vlen);
    pr->v = (const char *)p;
    pr->end = p + pr->vlen;
    return pr->end;
}

static int compact_find(const compact_t *c, const char *f, size_t flen, pair_t *pr)
{
    const unsigned char *p, *end;

    if (c == NULL)
        return 0;
    p = c->data;
    end = c->data + c->used;
    while (p < end) {
        p = pair_decode(p, pr);
        if (pr->flen == flen && memcmp(pr->f, f, flen) == 0)
            return 1;
    }
    return 0;
}

static void to_dict(node_obj_t *o)
{
    compact_t *c = node__obj_ptr(o);
    node_dict_t *d = node_dict_create(&hfield_type);

    if (c != NULL) {
        const unsigned char *p = c->data, *end = c->data + c->used;
        pair_t pr;
        while (p < end) {
            p = pair_decode(p, &pr);
            node_dict_add(d, &hfield_new(pr.f, pr.flen, pr.v, pr.vlen)->link);
        }
        rc_free(c);
    }
    o->enc = NODE_ENC_HT;
    node__obj_set_ptr(o, d);
}

static int dict_set(node_obj_t *o, const char *f, size_t flen, const char *v, size_t vlen)
{
    node_dict_t *d = node__obj_ptr(o);
    node_dict_entry_t *old = node_dict_find(d, f, flen);
    hfield_t *h = hfield_new(f, flen, v, vlen);

    if (old == NULL) {
        node_dict_add(d, &h->link);
        return 1;
    }
    node_dict_replace(d, old, &h->link);
    rc_free(old);
    return 0;
}

int node_hash_set(node_obj_t *o, const char *f, size_t flen, const char *v, size_t vlen)
{
    compact_t *c;
    pair_t pr;
    size_t need;
    unsigned char *p;

    RC_ASSERT(o->type == NODE_OBJ_HASH);
    node__mutations++;
    if (o->enc == NODE_ENC_HT)
        return dict_set(o, f, flen, v, vlen);
    c = node__obj_ptr(o);
    if (compact_find(c, f, flen, &pr)) {
        /* Replace the value in place, shifting the tail. */
        size_t vstart = (size_t)(pr.f + pr.flen - (const char *)c->data);
        size_t tail = c->used - (size_t)(pr.end - c->data);
        size_t oldsz = (size_t)(pr.end - c->data) - vstart;
        size_t newsz = varint_len(vlen) + vlen;

        if (newsz > oldsz)
            c = rc_xrealloc(c, sizeof(*c) + c->used + newsz - oldsz);
        memmove(c->data + vstart + newsz, c->data + vstart + oldsz, tail);
        p = varint_put(c->data + vstart, vlen);
        memcpy(p, v, vlen);
        c->used = (uint32_t)(c->used + newsz - oldsz);
        if (newsz < oldsz)
            c = rc_xrealloc(c, sizeof(*c) + c->used);
        node__obj_set_ptr(o, c);
        return 0;
    }
    if (c != NULL && c->count + 1 > HASH_MAX_COMPACT_ENTRIES) {
        to_dict(o);
        return dict_set(o, f, flen, v, vlen);
    }
    need = varint_len(flen) + flen + varint_len(vlen) + vlen;
    if (c == NULL) {
        c = rc_xmalloc(sizeof(*c) + need);
        c->count = 0;
        c->used = 0;
    } else {
        c = rc_xrealloc(c, sizeof(*c) + c->used + need);
    }
    p = varint_put(c->data + c->used, flen);
    memcpy(p, f, flen);
    p = varint_put(p + flen, vlen);
    memcpy(p, v, vlen);
    c->used = (uint32_t)(c->used + need);
    c->count++;
    node__obj_set_ptr(o, c);
    return 1;
}

void node_hash_try_convert(node_obj_t *o, size_t maxlen)
{
    RC_ASSERT(o->type == NODE_OBJ_HASH);
    if (o->enc == NODE_ENC_LP && maxlen > HASH_MAX_COMPACT_VALUE)
        to_dict(o);
}

int node_hash_get(node_obj_t *o, const char *f, size_t flen, const char **v, size_t *vlen)
{
    pair_t pr;

    RC_ASSERT(o->type == NODE_OBJ_HASH);
    if (o->enc == NODE_ENC_HT) {
        hfield_t *h = (hfield_t *)node_dict_find(node__obj_ptr(o), f, flen);
        if (h == NULL)
            return 0;
        *v = h->data + h->flen;
        *vlen = h->vlen;
        return 1;
    }
    if (!compact_find(node__obj_ptr(o), f, flen, &pr))
        return 0;
    *v = pr.v;
    *vlen = pr.vlen;
    return 1;
}

int node_hash_del(node_obj_t *o, const char *f, size_t flen)
{
    compact_t *c;
    pair_t pr;
    size_t start, end;

    RC_ASSERT(o->type == NODE_OBJ_HASH);
    if (o->enc == NODE_ENC_HT) {
        node_dict_entry_t *e = node_dict_unlink(node__obj_ptr(o), f, flen);

        if (e == NULL)
            return 0;
        rc_free(e);
        node__mutations++;
        return 1;
    }
    c = node__obj_ptr(o);
    if (!compact_find(c, f, flen, &pr))
        return 0;
    node__mutations++;
    start = (size_t)(pr.start - c->data);
    end = (size_t)(pr.end - c->data);
    memmove(c->data + start, c->data + end, c->used - end);
    c->used = (uint32_t)(c->used - (end - start));
    c->count--;
    if (c->count == 0) {
        rc_free(c);
        c = NULL;
    } else {
        c = rc_xrealloc(c, sizeof(*c) + c->used);
    }
    node__obj_set_ptr(o, c);
    return 1;
}

size_t node_hash_len(const node_obj_t *o)
{
    const compact_t *c;

    RC_ASSERT(o->type == NODE_OBJ_HASH);
    if (o->enc == NODE_ENC_HT)
        return node_dict_size(node__obj_ptr(o));
    c = node__obj_ptr(o);
    return c == NULL ? 0 : c->count;
}

void node_hash_foreach(node_obj_t *o, node_hash_fn *fn, void *priv)
{
    RC_ASSERT(o->type == NODE_OBJ_HASH);
    if (o->enc == NODE_ENC_HT) {
        node_dict_iter_t it;
        node_dict_entry_t *e;

        node_dict_iter_init(&it, node__obj_ptr(o));
        while ((e = node_dict_iter_next(&it)) != NULL) {
            const hfield_t *h = (const hfield_t *)e;
            fn(priv, h->data, h->flen, h->data + h->flen, h->vlen);
        }
        node_dict_iter_done(&it);
    } else {
        const compact_t *c = node__obj_ptr(o);
        const unsigned char *p, *end;
        pair_t pr;

        if (c == NULL)
            return;
        p = c->data;
        end = c->data + c->used;
        while (p < end) {
            p = pair_decode(p, &pr);
            fn(priv, pr.f, pr.flen, pr.v, pr.vlen);
        }
    }
}

int node_hash_is_compact(const node_obj_t *o)
{
    return o->type == NODE_OBJ_HASH && o->enc == NODE_ENC_LP;
}

void node__hash_free(node_obj_t *o)
{
    if (o->enc == NODE_ENC_HT)
        node_dict_destroy(node__obj_ptr(o));
    else
        rc_free(node__obj_ptr(o));
}
