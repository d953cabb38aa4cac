/* node/cmd/node_cmd_set.c: the set commands: SADD SREM SPOP SRANDMEMBER SCARD
 * SISMEMBER SMISMEMBER SMEMBERS. The one rule: replies, errors and the
 * order of checks are Redis 7.0's, and an emptied set is deleted. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/rc.h"
#include "node/cmd/node_cmd.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "node/data/node_types.h"
#include "node/net/node_reply.h"

static node_set_t *set_of(const node_obj_t *o)
{
    return node_obj_ptr(o);
}

static void delete_if_empty(node_client_t *c, node_set_t *s)
{
    if (node_set_len(s) == 0)
        node_db_delete(c->db, c->argv[1].ptr, c->argv[1].len);
}

static void cmd_sadd(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_SET, NODE_LOOKUP_WRITE, &err);
    long long added = 0;

    if (err != 0)
        return;
    if (o == NULL)
        o = node_db_ptr_create(c->db, c->argv[1].ptr, c->argv[1].len, NODE_OBJ_SET,
                               node_set_create());
    for (int i = 2; i < c->argc; i++)
        added += node_set_add(set_of(o), c->argv[i].ptr, c->argv[i].len);
    node_reply_int(c, added);
}

static void cmd_srem(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_SET, NODE_LOOKUP_WRITE, &err);
    long long removed = 0;

    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_int(c, 0);
        return;
    }
    for (int i = 2; i < c->argc; i++) {
        removed += node_set_rem(set_of(o), c->argv[i].ptr, c->argv[i].len);
        if (node_set_len(set_of(o)) == 0)
            break;
    }
    delete_if_empty(c, set_of(o));
    node_reply_int(c, removed);
}

static void reply_member(void *priv, const char *p, size_t len)
{
    node_reply_bulk(priv, p, len);
}

static void cmd_spop(node_client_t *c)
{
    long long count = 1;
    node_obj_t *o;
    node_set_t *s;
    int err;

    if (c->argc > 3) {
        node_reply_syntax_error(c);
        return;
    }
    if (c->argc == 3 && node__get_positive_or_reply(c, 2, &count) != 0)
        return;
    o = node__lookup_typed(c, NODE_OBJ_SET, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        if (c->argc == 3)
            node_reply_set(c, 0);
        else
            node_reply_null(c);
        return;
    }
    s = set_of(o);
    if (c->argc == 2) {
        node_set_member_t *m = node_set_pop(s);
        node_reply_bulk(c, m->data, m->len);
        rc_free(m);
    } else if (count == 0) {
        node_reply_set(c, 0);
        return;
    } else if ((unsigned long long)count >= node_set_len(s)) {
        node_reply_set(c, (long)node_set_len(s));
        node_set_foreach(s, reply_member, c);
        node_db_delete(c->db, c->argv[1].ptr, c->argv[1].len);
        return;
    } else {
        node_reply_set(c, (long)count);
        for (long long i = 0; i < count; i++) {
            node_set_member_t *m = node_set_pop(s);
            node_reply_bulk(c, m->data, m->len);
            rc_free(m);
        }
    }
    delete_if_empty(c, s);
}

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* SRANDMEMBER with a positive 'count' smaller than the set: 'count'
 * distinct members, by a partial Fisher-Yates shuffle of all members. */
static void reply_distinct(node_client_t *c, node_set_t *s, size_t count)
{
    size_t n = node_set_len(s);
    const node_set_member_t **v = rc_xmalloc(n * sizeof(*v));

    node_set_members(s, v);
    node_reply_array(c, (long)count);
    for (size_t i = 0; i < count; i++) {
        size_t j = i + (size_t)(rng_next() % (n - i));
        const node_set_member_t *t = v[i];
        v[i] = v[j];
        v[j] = t;
        node_reply_bulk(c, v[i]->data, v[i]->len);
    }
    rc_free(v);
}

static void cmd_srandmember(node_client_t *c)
{
    long long l;
    unsigned long long count;
    node_obj_t *o;
    node_set_t *s;
    int err;

    if (c->argc > 3) {
        node_reply_syntax_error(c);
        return;
    }
    if (c->argc == 2) {
        o = node__lookup_typed(c, NODE_OBJ_SET, 0, &err);
        if (err != 0)
            return;
        if (o == NULL) {
            node_reply_null(c);
        } else {
            const node_set_member_t *m = node_set_random(set_of(o));
            node_reply_bulk(c, m->data, m->len);
        }
        return;
    }
    if (node__get_ll_or_reply(c, 2, &l) != 0)
        return;
    if (l == LLONG_MIN) {
        node_reply_error(c, "ERR value is out of range, value must between -9223372036854775807 "
                            "and 9223372036854775807");
        return;
    }
    count = l < 0 ? (unsigned long long)-l : (unsigned long long)l;
    o = node__lookup_typed(c, NODE_OBJ_SET, 0, &err);
    if (err != 0)
        return;
    if (o == NULL || count == 0) {
        node_reply_array(c, 0);
        return;
    }
    s = set_of(o);
    if (l < 0) {
        node_reply_array(c, (long)count);
        for (unsigned long long i = 0; i < count; i++) {
            const node_set_member_t *m = node_set_random(s);
            node_reply_bulk(c, m->data, m->len);
        }
    } else if (count >= node_set_len(s)) {
        node_reply_array(c, (long)node_set_len(s)); /* an array even in RESP3, as Redis 7.0 */
        node_set_foreach(s, reply_member, c);
    } else {
        reply_distinct(c, s, (size_t)count);
    }
}

static void cmd_scard(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_SET, 0, &err);

    if (err != 0)
        return;
    node_reply_int(c, o == NULL ? 0 : (long long)node_set_len(set_of(o)));
}

static void cmd_sismember(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_SET, 0, &err);

    if (err != 0)
        return;
    node_reply_int(c, o != NULL && node_set_has(set_of(o), c->argv[2].ptr, c->argv[2].len));
}

static void cmd_smismember(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_SET, 0, &err);

    if (err != 0)
        return;
    node_reply_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++)
        node_reply_int(c, o != NULL && node_set_has(set_of(o), c->argv[i].ptr, c->argv[i].len));
}

static void cmd_smembers(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_SET, 0, &err);

    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_set(c, 0);
        return;
    }
    node_reply_set(c, (long)node_set_len(set_of(o)));
    node_set_foreach(set_of(o), reply_member, c);
}

#define W NODE_CMD_WRITE
#define R NODE_CMD_READONLY
#define F NODE_CMD_FAST
#define P NODE_CMD_REPLAY
#define M NODE_CMD_DENYOOM
#define X NODE_CMD_RANDOM

const node_cmd_t node_cmds_set[] = {
    {"sadd", cmd_sadd, -3, W | M | F | P, 1, 1, 1, "set", "Add one or more members to a set"},
    {"srem", cmd_srem, -3, W | F | P, 1, 1, 1, "set", "Remove one or more members from a set"},
    {"spop", cmd_spop, -2, W | F | X, 1, 1, 1, "set",
     "Remove and return one or multiple random members from a set"},
    {"srandmember", cmd_srandmember, -2, R | X, 1, 1, 1, "set",
     "Get one or multiple random members from a set"},
    {"scard", cmd_scard, 2, R | F, 1, 1, 1, "set", "Get the number of members in a set"},
    {"sismember", cmd_sismember, 3, R | F, 1, 1, 1, "set",
     "Determine if a given value is a member of a set"},
    {"smismember", cmd_smismember, -3, R | F, 1, 1, 1, "set",
     "Returns the membership associated with the given elements for a set"},
    {"smembers", cmd_smembers, 2, R, 1, 1, 1, "set", "Get all the members in a set"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
