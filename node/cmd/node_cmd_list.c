/* node/cmd/node_cmd_list.c: the list commands: LPUSH RPUSH LPUSHX RPUSHX LPOP
 * RPOP LLEN LRANGE LINDEX LSET LREM LTRIM, and the lookup/parse helpers the
 * set, zset and stream commands share. The one rule: replies, errors and
 * the order of checks are Redis 7.0's, and an emptied list is deleted. */
#include <errno.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/cmd/node_cmd.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "node/data/node_types.h"
#include "node/net/node_reply.h"

node_obj_t *node__lookup_typed(node_client_t *c, node_obj_type_t type, int flags, int *err)
{
    node_obj_t *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, flags);

    *err = 0;
    if (o != NULL && node_obj_type(o) != type) {
        node_reply_wrongtype(c);
        *err = -EINVAL;
        return NULL;
    }
    return o;
}

int node__get_ll_or_reply(node_client_t *c, int argi, long long *out)
{
    if (rc_string2ll(c->argv[argi].ptr, c->argv[argi].len, out) != 0) {
        node_reply_not_integer(c);
        return -EINVAL;
    }
    return 0;
}

int node__get_positive_or_reply(node_client_t *c, int argi, long long *out)
{
    if (rc_string2ll(c->argv[argi].ptr, c->argv[argi].len, out) != 0 || *out < 0) {
        node_reply_error(c, "ERR value is out of range, must be positive");
        return -EINVAL;
    }
    return 0;
}

static node_list_t *list_of(const node_obj_t *o)
{
    return node_obj_ptr(o);
}

static void push_generic(node_client_t *c, int where, int xx)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_LIST, NODE_LOOKUP_WRITE, &err);
    node_list_t *l;

    if (err != 0)
        return;
    if (o == NULL) {
        if (xx) {
            node_reply_int(c, 0);
            return;
        }
        o = node_db_ptr_create(c->db, c->argv[1].ptr, c->argv[1].len, NODE_OBJ_LIST,
                               node_list_create());
    }
    l = list_of(o);
    for (int i = 2; i < c->argc; i++)
        node_list_push(l, where, c->argv[i].ptr, c->argv[i].len);
    node_reply_int(c, (long long)node_list_len(l));
}

static void cmd_lpush(node_client_t *c)
{
    push_generic(c, NODE_LIST_HEAD, 0);
}

static void cmd_rpush(node_client_t *c)
{
    push_generic(c, NODE_LIST_TAIL, 0);
}

static void cmd_lpushx(node_client_t *c)
{
    push_generic(c, NODE_LIST_HEAD, 1);
}

static void cmd_rpushx(node_client_t *c)
{
    push_generic(c, NODE_LIST_TAIL, 1);
}

static void delete_if_empty(node_client_t *c, node_list_t *l)
{
    if (node_list_len(l) == 0)
        node_db_delete(c->db, c->argv[1].ptr, c->argv[1].len);
}

static void pop_generic(node_client_t *c, int where, const char *name)
{
    long long count = 0;
    int hascount = 0, err;
    node_obj_t *o;
    node_list_t *l;
    node_list_elem_t *e;

    if (c->argc > 3) {
        node_reply_arity_error(c, name);
        return;
    }
    if (c->argc == 3) {
        if (node__get_positive_or_reply(c, 2, &count) != 0)
            return;
        hascount = 1;
    }
    o = node__lookup_typed(c, NODE_OBJ_LIST, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        if (hascount)
            node_reply_null_array(c);
        else
            node_reply_null(c);
        return;
    }
    l = list_of(o);
    if (!hascount) {
        e = node_list_pop(l, where);
        node_reply_bulk(c, e->data, e->len);
        rc_free(e);
    } else if (count == 0) {
        node_reply_array(c, 0);
        return;
    } else {
        size_t n = node_list_len(l) < (unsigned long long)count ? node_list_len(l) : (size_t)count;
        node_reply_array(c, (long)n);
        for (size_t i = 0; i < n; i++) {
            e = node_list_pop(l, where);
            node_reply_bulk(c, e->data, e->len);
            rc_free(e);
        }
    }
    delete_if_empty(c, l);
}

static void cmd_lpop(node_client_t *c)
{
    pop_generic(c, NODE_LIST_HEAD, "lpop");
}

static void cmd_rpop(node_client_t *c)
{
    pop_generic(c, NODE_LIST_TAIL, "rpop");
}

static void cmd_llen(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_LIST, 0, &err);

    if (err != 0)
        return;
    node_reply_int(c, o == NULL ? 0 : (long long)node_list_len(list_of(o)));
}

/* Redis's range rule: negative indexes count from the end; returns 0 and
 * the [start, start+n) slice, or -1 for an empty range. */
static int norm_range(long long start, long long end, size_t len, size_t *from, size_t *n)
{
    long long llen = (long long)len;

    if (start < 0)
        start = llen + start;
    if (end < 0)
        end = llen + end;
    if (start < 0)
        start = 0;
    if (start > end || start >= llen)
        return -1;
    if (end >= llen)
        end = llen - 1;
    *from = (size_t)start;
    *n = (size_t)(end - start + 1);
    return 0;
}

static void cmd_lrange(node_client_t *c)
{
    long long start, end;
    node_obj_t *o;
    node_list_t *l;
    size_t from, n;
    int err;

    if (node__get_ll_or_reply(c, 2, &start) != 0 || node__get_ll_or_reply(c, 3, &end) != 0)
        return;
    o = node__lookup_typed(c, NODE_OBJ_LIST, 0, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_array(c, 0);
        return;
    }
    l = list_of(o);
    if (norm_range(start, end, node_list_len(l), &from, &n) != 0) {
        node_reply_array(c, 0);
        return;
    }
    node_reply_array(c, (long)n);
    for (size_t i = 0; i < n; i++) {
        const node_list_elem_t *e = node_list_at(l, from + i);
        node_reply_bulk(c, e->data, e->len);
    }
}

/* Maps a possibly negative index to a position, or returns -1 when out of range. */
static int norm_index(long long index, size_t len, size_t *pos)
{
    if (index < 0)
        index += (long long)len;
    if (index < 0 || index >= (long long)len)
        return -1;
    *pos = (size_t)index;
    return 0;
}

static void cmd_lindex(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_LIST, 0, &err);
    long long index;
    size_t pos;
    const node_list_elem_t *e;

    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_null(c);
        return;
    }
    if (node__get_ll_or_reply(c, 2, &index) != 0)
        return;
    if (norm_index(index, node_list_len(list_of(o)), &pos) != 0) {
        node_reply_null(c);
        return;
    }
    e = node_list_at(list_of(o), pos);
    node_reply_bulk(c, e->data, e->len);
}

static void cmd_lset(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_LIST, NODE_LOOKUP_WRITE, &err);
    long long index;
    size_t pos;

    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_error(c, "ERR no such key");
        return;
    }
    if (node__get_ll_or_reply(c, 2, &index) != 0)
        return;
    if (norm_index(index, node_list_len(list_of(o)), &pos) != 0) {
        node_reply_error(c, "ERR index out of range");
        return;
    }
    node_list_set(list_of(o), pos, c->argv[3].ptr, c->argv[3].len);
    node_reply_ok(c);
}

static void cmd_lrem(node_client_t *c)
{
    long long count;
    node_obj_t *o;
    size_t removed;
    int err;

    if (node__get_ll_or_reply(c, 2, &count) != 0)
        return;
    o = node__lookup_typed(c, NODE_OBJ_LIST, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_int(c, 0);
        return;
    }
    removed = node_list_rem(list_of(o), count, c->argv[3].ptr, c->argv[3].len);
    delete_if_empty(c, list_of(o));
    node_reply_int(c, (long long)removed);
}

static void cmd_ltrim(node_client_t *c)
{
    long long start, end;
    node_obj_t *o;
    node_list_t *l;
    size_t from, n;
    int err;

    if (node__get_ll_or_reply(c, 2, &start) != 0 || node__get_ll_or_reply(c, 3, &end) != 0)
        return;
    o = node__lookup_typed(c, NODE_OBJ_LIST, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_ok(c);
        return;
    }
    l = list_of(o);
    if (norm_range(start, end, node_list_len(l), &from, &n) != 0) {
        from = 0;
        n = 0;
    }
    node_list_keep(l, from, n);
    delete_if_empty(c, l);
    node_reply_ok(c);
}

#define W NODE_CMD_WRITE
#define R NODE_CMD_READONLY
#define F NODE_CMD_FAST
#define P NODE_CMD_REPLAY
#define M NODE_CMD_DENYOOM

const node_cmd_t node_cmds_list[] = {
    {"lpush", cmd_lpush, -3, W | M | F | P, 1, 1, 1, "list",
     "Prepend one or multiple elements to a list"},
    {"rpush", cmd_rpush, -3, W | M | F | P, 1, 1, 1, "list",
     "Append one or multiple elements to a list"},
    {"lpushx", cmd_lpushx, -3, W | M | F | P, 1, 1, 1, "list",
     "Prepend an element to a list, only if the list exists"},
    {"rpushx", cmd_rpushx, -3, W | M | F | P, 1, 1, 1, "list",
     "Append an element to a list, only if the list exists"},
    {"lpop", cmd_lpop, -2, W | F | P, 1, 1, 1, "list",
     "Remove and get the first elements in a list"},
    {"rpop", cmd_rpop, -2, W | F | P, 1, 1, 1, "list",
     "Remove and get the last elements in a list"},
    {"llen", cmd_llen, 2, R | F, 1, 1, 1, "list", "Get the length of a list"},
    {"lrange", cmd_lrange, 4, R, 1, 1, 1, "list", "Get a range of elements from a list"},
    {"lindex", cmd_lindex, 3, R, 1, 1, 1, "list", "Get an element from a list by its index"},
    {"lset", cmd_lset, 4, W | M | P, 1, 1, 1, "list",
     "Set the value of an element in a list by its index"},
    {"lrem", cmd_lrem, 4, W | P, 1, 1, 1, "list", "Remove elements from a list"},
    {"ltrim", cmd_ltrim, 4, W | P, 1, 1, 1, "list", "Trim a list to the specified range"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
