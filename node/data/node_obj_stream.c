/* node/data/node_obj_stream.c: the stream value: a vector of entries sorted by
 * id (appends only at the end, since ids only grow), found by binary
 * search. The one rule: the last id is kept apart from the entries, so
 * deleting or trimming never lets a new entry reuse an old id. */
#include "node/data/node_types.h"

#include <string.h>

#include "common/rc.h"
#include "node/data/node_obj.h"

struct node_stream_s {
    node_stream_entry_t **v;
    size_t head, len, cap; /* live entries are v[head .. head+len) */
    node_stream_id_t last_id;
};

node_stream_t *node_stream_create(void)
{
    return rc_xcalloc(1, sizeof(node_stream_t));
}

void node_stream_destroy(node_stream_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->len; i++)
        rc_free(s->v[s->head + i]);
    rc_free(s->v);
    rc_free(s);
}

size_t node_stream_len(const node_stream_t *s)
{
    return s->len;
}

node_stream_id_t node_stream_last_id(const node_stream_t *s)
{
    return s->last_id;
}

int node_stream_id_cmp(node_stream_id_t a, node_stream_id_t b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

/* Keeps the live entries at the start of a buffer sized to fit. */
static void compact(node_stream_t *s, size_t want)
{
    size_t cap = 8;

    while (cap < want)
        cap *= 2;
    if (s->len == 0 && want == 0) {
        rc_free(s->v);
        s->v = NULL;
        s->cap = 0;
        s->head = 0;
        return;
    }
    if (s->head > 0)
        memmove(s->v, s->v + s->head, s->len * sizeof(*s->v));
    s->head = 0;
    if (cap != s->cap) {
        s->v = rc_xrealloc(s->v, cap * sizeof(*s->v));
        s->cap = cap;
    }
}

void node_stream_append(node_stream_t *s, node_stream_id_t id, size_t n, const char *const *ptrs,
                        const size_t *lens)
{
    size_t size = sizeof(node_stream_entry_t), off = 0;
    node_stream_entry_t *e;

    RC_ASSERT(node_stream_id_cmp(id, s->last_id) > 0);
    node__mutations++;
    for (size_t i = 0; i < 2 * n; i++)
        size += 4 + lens[i];
    e = rc_xmalloc(size);
    e->id = id;
    e->nfields = (uint32_t)n;
    for (size_t i = 0; i < 2 * n; i++) {
        uint32_t l = (uint32_t)lens[i];
        memcpy(e->data + off, &l, 4);
        off += 4;
        if (l > 0)
            memcpy(e->data + off, ptrs[i], l);
        off += l;
    }
    if (s->head + s->len == s->cap)
        compact(s, s->len + 1 > s->cap / 2 ? s->len * 2 + 1 : s->len + 1);
    s->v[s->head + s->len++] = e;
    s->last_id = id;
}

size_t node_stream_lower_bound(const node_stream_t *s, node_stream_id_t id)
{
    size_t lo = 0, hi = s->len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (node_stream_id_cmp(s->v[s->head + mid]->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const node_stream_entry_t *node_stream_at(const node_stream_t *s, size_t i)
{
    RC_ASSERT(i < s->len);
    return s->v[s->head + i];
}

static void maybe_shrink(node_stream_t *s)
{
    if (s->len == 0 || (s->cap > 64 && s->len < s->cap / 4))
        compact(s, s->len);
}

int node_stream_del(node_stream_t *s, node_stream_id_t id)
{
    size_t i = node_stream_lower_bound(s, id);

    if (i == s->len || node_stream_id_cmp(s->v[s->head + i]->id, id) != 0)
        return 0;
    node__mutations++;
    rc_free(s->v[s->head + i]);
    if (i == 0) {
        s->head++;
    } else {
        memmove(s->v + s->head + i, s->v + s->head + i + 1, (s->len - i - 1) * sizeof(*s->v));
    }
    s->len--;
    maybe_shrink(s);
    return 1;
}

void node_stream_trim_head(node_stream_t *s, size_t n)
{
    RC_ASSERT(n <= s->len);
    if (n > 0)
        node__mutations++;
    for (size_t i = 0; i < n; i++)
        rc_free(s->v[s->head + i]);
    s->head += n;
    s->len -= n;
    maybe_shrink(s);
}

void node__stream_set_last_id(node_stream_t *s, node_stream_id_t id)
{
    RC_ASSERT(s->len == 0 || node_stream_id_cmp(id, s->v[s->head + s->len - 1]->id) >= 0);
    s->last_id = id;
}

const char *node_stream_entry_item(const node_stream_entry_t *e, size_t *pos, size_t *len)
{
    uint32_t l;
    const char *p;

    memcpy(&l, e->data + *pos, 4);
    p = (const char *)e->data + *pos + 4;
    *pos += 4 + (size_t)l;
    *len = l;
    return p;
}
