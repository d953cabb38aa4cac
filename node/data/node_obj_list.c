/* node/data/node_obj_list.c: the list value (a ring buffer of element
 * pointers). The one rule: the buffer capacity is a power of two, so an index is masked,
 * never divided. */
#include "node/data/node_types.h"

#include <string.h>

#include "common/rc.h"
#include "node/data/node_obj.h"

struct node_list_s {
    node_list_elem_t **v;
    size_t head, len, cap; /* cap: 0 or a power of two */
};

node_list_t *node_list_create(void)
{
    return rc_xcalloc(1, sizeof(node_list_t));
}

void node_list_destroy(node_list_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->len; i++)
        rc_free(l->v[(l->head + i) & (l->cap - 1)]);
    rc_free(l->v);
    rc_free(l);
}

size_t node_list_len(const node_list_t *l)
{
    return l->len;
}

/* Moves the elements into a new buffer of 'cap' slots, starting at 0. */
static void resize(node_list_t *l, size_t cap)
{
    node_list_elem_t **v = rc_xmalloc(cap * sizeof(*v));

    for (size_t i = 0; i < l->len; i++)
        v[i] = l->v[(l->head + i) & (l->cap - 1)];
    rc_free(l->v);
    l->v = v;
    l->cap = cap;
    l->head = 0;
}

static void maybe_shrink(node_list_t *l)
{
    if (l->len == 0) {
        rc_free(l->v);
        l->v = NULL;
        l->cap = 0;
        l->head = 0;
    } else if (l->cap > 16 && l->len < l->cap / 4) {
        resize(l, l->cap / 2);
    }
}

static node_list_elem_t *elem_new(const void *p, size_t len)
{
    node_list_elem_t *e = rc_xmalloc(sizeof(*e) + len);

    e->len = len;
    if (len > 0)
        memcpy(e->data, p, len);
    return e;
}

void node_list_push(node_list_t *l, int where, const void *p, size_t len)
{
    node_list_elem_t *e = elem_new(p, len);

    node__mutations++;
    if (l->len == l->cap)
        resize(l, l->cap == 0 ? 4 : l->cap * 2);
    if (where == NODE_LIST_HEAD) {
        l->head = (l->head + l->cap - 1) & (l->cap - 1);
        l->v[l->head] = e;
    } else {
        l->v[(l->head + l->len) & (l->cap - 1)] = e;
    }
    l->len++;
}

node_list_elem_t *node_list_pop(node_list_t *l, int where)
{
    node_list_elem_t *e;

    if (l->len == 0)
        return NULL;
    node__mutations++;
    if (where == NODE_LIST_HEAD) {
        e = l->v[l->head];
        l->head = (l->head + 1) & (l->cap - 1);
    } else {
        e = l->v[(l->head + l->len - 1) & (l->cap - 1)];
    }
    l->len--;
    maybe_shrink(l);
    return e;
}

const node_list_elem_t *node_list_at(const node_list_t *l, size_t i)
{
    RC_ASSERT(i < l->len);
    return l->v[(l->head + i) & (l->cap - 1)];
}

void node_list_set(node_list_t *l, size_t i, const void *p, size_t len)
{
    size_t slot = (l->head + i) & (l->cap - 1);

    RC_ASSERT(i < l->len);
    node__mutations++;
    rc_free(l->v[slot]);
    l->v[slot] = elem_new(p, len);
}

static int elem_eq(const node_list_elem_t *e, const void *p, size_t len)
{
    return e->len == len && (len == 0 || memcmp(e->data, p, len) == 0);
}

size_t node_list_rem(node_list_t *l, long long count, const void *p, size_t len)
{
    size_t n = l->len, removed = 0, w;
    unsigned long long limit = count == 0  ? (unsigned long long)-1
                               : count > 0 ? (unsigned long long)count
                                           : (unsigned long long)(-(count + 1)) + 1;
    node_list_elem_t **tmp;

    if (n == 0)
        return 0;
    /* Compact into a linear copy: mark removals first, in the right direction. */
    tmp = rc_xmalloc(n * sizeof(*tmp));
    for (size_t i = 0; i < n; i++)
        tmp[i] = l->v[(l->head + i) & (l->cap - 1)];
    if (count >= 0) {
        for (size_t i = 0; i < n && removed < limit; i++) {
            if (elem_eq(tmp[i], p, len)) {
                rc_free(tmp[i]);
                tmp[i] = NULL;
                removed++;
            }
        }
    } else {
        for (size_t i = n; i-- > 0 && removed < limit;) {
            if (elem_eq(tmp[i], p, len)) {
                rc_free(tmp[i]);
                tmp[i] = NULL;
                removed++;
            }
        }
    }
    w = 0;
    for (size_t i = 0; i < n; i++) {
        if (tmp[i] != NULL)
            tmp[w++] = tmp[i];
    }
    for (size_t i = 0; i < w; i++)
        l->v[i] = tmp[i];
    rc_free(tmp);
    l->head = 0;
    l->len = w;
    maybe_shrink(l);
    if (removed > 0)
        node__mutations++;
    return removed;
}

void node_list_keep(node_list_t *l, size_t start, size_t n)
{
    RC_ASSERT(start <= l->len && n <= l->len - start);
    if (start > 0 || n < l->len)
        node__mutations++;
    for (size_t i = 0; i < start; i++)
        rc_free(l->v[(l->head + i) & (l->cap - 1)]);
    for (size_t i = start + n; i < l->len; i++)
        rc_free(l->v[(l->head + i) & (l->cap - 1)]);
    l->head = (l->head + start) & (l->cap == 0 ? 0 : l->cap - 1);
    l->len = n;
    maybe_shrink(l);
}
