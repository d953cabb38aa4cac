/* node/data/node_obj_set.c: the set value, a node_dict of members. The one
 * rule: a member is one allocation (dict link, length and bytes). */
#include "node/data/node_types.h"

#include <string.h>

#include "common/rc.h"
#include "node/data/node_obj.h"

struct node_set_s {
    node_dict_t *d;
};

static const char *member_key(const node_dict_entry_t *e, size_t *len)
{
    const node_set_member_t *m = (const node_set_member_t *)e;

    *len = m->len;
    return m->data;
}

static void member_destroy(node_dict_entry_t *e)
{
    rc_free(e);
}

static const node_dict_type_t set_type = {member_key, member_destroy};

node_set_t *node_set_create(void)
{
    node_set_t *s = rc_xmalloc(sizeof(*s));

    s->d = node_dict_create(&set_type);
    return s;
}

void node_set_destroy(node_set_t *s)
{
    if (s == NULL)
        return;
    node_dict_destroy(s->d);
    rc_free(s);
}

size_t node_set_len(const node_set_t *s)
{
    return node_dict_size(s->d);
}

int node_set_add(node_set_t *s, const void *p, size_t len)
{
    node_set_member_t *m;

    if (node_dict_find(s->d, p, len) != NULL)
        return 0;
    m = rc_xmalloc(sizeof(*m) + len);
    m->link.next = NULL;
    m->len = len;
    if (len > 0)
        memcpy(m->data, p, len);
    node_dict_add(s->d, &m->link);
    node__mutations++;
    return 1;
}

int node_set_rem(node_set_t *s, const void *p, size_t len)
{
    node_dict_entry_t *e = node_dict_unlink(s->d, p, len);

    if (e == NULL)
        return 0;
    rc_free(e);
    node__mutations++;
    return 1;
}

int node_set_has(node_set_t *s, const void *p, size_t len)
{
    return node_dict_find(s->d, p, len) != NULL;
}

const node_set_member_t *node_set_random(node_set_t *s)
{
    return (const node_set_member_t *)node_dict_random(s->d);
}

node_set_member_t *node_set_pop(node_set_t *s)
{
    node_set_member_t *m = (node_set_member_t *)node_dict_random(s->d);

    if (m == NULL)
        return NULL;
    node_dict_unlink(s->d, m->data, m->len);
    node__mutations++;
    return m;
}

void node_set_foreach(node_set_t *s, node_set_fn *fn, void *priv)
{
    node_dict_iter_t it;
    node_dict_entry_t *e;

    node_dict_iter_init(&it, s->d);
    while ((e = node_dict_iter_next(&it)) != NULL) {
        const node_set_member_t *m = (const node_set_member_t *)e;
        fn(priv, m->data, m->len);
    }
    node_dict_iter_done(&it);
}

void node_set_members(node_set_t *s, const node_set_member_t **out)
{
    node_dict_iter_t it;
    node_dict_entry_t *e;
    size_t i = 0;

    node_dict_iter_init(&it, s->d);
    while ((e = node_dict_iter_next(&it)) != NULL)
        out[i++] = (const node_set_member_t *)e;
    node_dict_iter_done(&it);
}
