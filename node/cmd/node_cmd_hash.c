/* node/cmd/node_cmd_hash.c: the hash commands: HSET HSETNX HGET HMGET HMSET
 * HDEL HGETALL HEXISTS HINCRBY HINCRBYFLOAT HLEN HKEYS HVALS HSTRLEN. The
 * one rule: replies, errors and their order of checks are Redis 7.0's; a
 * hash is never left empty in the keyspace. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/cmd/node_cmd.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "node/net/node_reply.h"

/* Looks up a hash for reading: returns it, or NULL with '*err' set after a
 * WRONGTYPE reply, or NULL with '*err' 0 when missing. */
static node_obj_t *lookup_read(node_client_t *c, int *err)
{
    node_obj_t *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, 0);

    *err = 0;
    if (o != NULL && node_obj_type(o) != NODE_OBJ_HASH) {
        node_reply_wrongtype(c);
        *err = -EINVAL;
        return NULL;
    }
    return o;
}

/* Looks up a hash for writing, -EINVAL after a WRONGTYPE reply. '*o' is
 * NULL when the key does not exist yet (create it with get_or_create). */
static int lookup_write_or_reply(node_client_t *c, node_obj_t **o)
{
    *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, NODE_LOOKUP_WRITE);
    if (*o != NULL && node_obj_type(*o) != NODE_OBJ_HASH) {
        node_reply_wrongtype(c);
        return -EINVAL;
    }
    return 0;
}

static node_obj_t *get_or_create(node_client_t *c, node_obj_t *o)
{
    return o != NULL ? o : node_db_hash_create(c->db, c->argv[1].ptr, c->argv[1].len);
}

static size_t max_arg_len(const node_client_t *c, int from)
{
    size_t max = 0;

    for (int i = from; i < c->argc; i++) {
        if (c->argv[i].len > max)
            max = c->argv[i].len;
    }
    return max;
}

static int hset_generic(node_client_t *c, const char *name, long long *added)
{
    node_obj_t *o;

    if (c->argc % 2 == 1) {
        node_reply_arity_error(c, name);
        return -EINVAL;
    }
    if (lookup_write_or_reply(c, &o) != 0)
        return -EINVAL;
    o = get_or_create(c, o);
    node_hash_try_convert(o, max_arg_len(c, 2));
    *added = 0;
    for (int i = 2; i < c->argc; i += 2)
        *added += node_hash_set(o, c->argv[i].ptr, c->argv[i].len, c->argv[i + 1].ptr,
                                c->argv[i + 1].len);
    return 0;
}

static void cmd_hset(node_client_t *c)
{
    long long added;

    if (hset_generic(c, "hset", &added) == 0)
        node_reply_int(c, added);
}

static void cmd_hmset(node_client_t *c)
{
    long long added;

    if (hset_generic(c, "hmset", &added) == 0)
        node_reply_ok(c);
}

static void cmd_hsetnx(node_client_t *c)
{
    node_obj_t *o;
    const char *v;
    size_t vlen;

    if (lookup_write_or_reply(c, &o) != 0)
        return;
    if (o != NULL && node_hash_get(o, c->argv[2].ptr, c->argv[2].len, &v, &vlen)) {
        node_reply_int(c, 0);
        return;
    }
    o = get_or_create(c, o);
    node_hash_try_convert(o, max_arg_len(c, 2));
    node_hash_set(o, c->argv[2].ptr, c->argv[2].len, c->argv[3].ptr, c->argv[3].len);
    node_reply_int(c, 1);
}

static void cmd_hget(node_client_t *c)
{
    int err;
    node_obj_t *o = lookup_read(c, &err);
    const char *v;
    size_t vlen;

    if (err != 0)
        return;
    if (o == NULL || !node_hash_get(o, c->argv[2].ptr, c->argv[2].len, &v, &vlen))
        node_reply_null(c);
    else
        node_reply_bulk(c, v, vlen);
}

static void cmd_hmget(node_client_t *c)
{
    int err;
    node_obj_t *o = lookup_read(c, &err);

    if (err != 0)
        return;
    node_reply_array(c, c->argc - 2);
    for (int i = 2; i < c->argc; i++) {
        const char *v;
        size_t vlen;

        if (o == NULL || !node_hash_get(o, c->argv[i].ptr, c->argv[i].len, &v, &vlen))
            node_reply_null(c);
        else
            node_reply_bulk(c, v, vlen);
    }
}

static void cmd_hdel(node_client_t *c)
{
    node_obj_t *o;
    long long deleted = 0;

    if (lookup_write_or_reply(c, &o) != 0)
        return;
    if (o == NULL) {
        node_reply_int(c, 0);
        return;
    }
    for (int i = 2; i < c->argc; i++) {
        deleted += node_hash_del(o, c->argv[i].ptr, c->argv[i].len);
        if (node_hash_len(o) == 0) {
            node_db_delete(c->db, c->argv[1].ptr, c->argv[1].len);
            break;
        }
    }
    node_reply_int(c, deleted);
}

enum {
    WANT_KEYS = 1,
    WANT_VALS = 2
};

typedef struct dump_ctx_s {
    node_client_t *c;
    int what;
} dump_ctx_t;

static void dump_pair(void *priv, const char *f, size_t flen, const char *v, size_t vlen)
{
    dump_ctx_t *ctx = priv;

    if (ctx->what & WANT_KEYS)
        node_reply_bulk(ctx->c, f, flen);
    if (ctx->what & WANT_VALS)
        node_reply_bulk(ctx->c, v, vlen);
}

static void dump_generic(node_client_t *c, int what)
{
    int err;
    node_obj_t *o = lookup_read(c, &err);
    long n = o == NULL ? 0 : (long)node_hash_len(o);
    dump_ctx_t ctx = {c, what};

    if (err != 0)
        return;
    if (what == (WANT_KEYS | WANT_VALS))
        node_reply_map(c, n);
    else
        node_reply_array(c, n);
    if (o != NULL)
        node_hash_foreach(o, dump_pair, &ctx);
}

static void cmd_hgetall(node_client_t *c)
{
    dump_generic(c, WANT_KEYS | WANT_VALS);
}

static void cmd_hkeys(node_client_t *c)
{
    dump_generic(c, WANT_KEYS);
}

static void cmd_hvals(node_client_t *c)
{
    dump_generic(c, WANT_VALS);
}

static void cmd_hexists(node_client_t *c)
{
    int err;
    node_obj_t *o = lookup_read(c, &err);
    const char *v;
    size_t vlen;

    if (err != 0)
        return;
    node_reply_int(c, o != NULL && node_hash_get(o, c->argv[2].ptr, c->argv[2].len, &v, &vlen));
}

static void cmd_hlen(node_client_t *c)
{
    int err;
    node_obj_t *o = lookup_read(c, &err);

    if (err != 0)
        return;
    node_reply_int(c, o == NULL ? 0 : (long long)node_hash_len(o));
}

static void cmd_hstrlen(node_client_t *c)
{
    int err;
    node_obj_t *o = lookup_read(c, &err);
    const char *v;
    size_t vlen;

    if (err != 0)
        return;
    if (o == NULL || !node_hash_get(o, c->argv[2].ptr, c->argv[2].len, &v, &vlen))
        vlen = 0;
    node_reply_int(c, (long long)vlen);
}

static void cmd_hincrby(node_client_t *c)
{
    long long incr, value = 0;
    node_obj_t *o;
    const char *v;
    size_t vlen;
    char buf[24];
    int n;

    if (rc_string2ll(c->argv[3].ptr, c->argv[3].len, &incr) != 0) {
        node_reply_not_integer(c);
        return;
    }
    if (lookup_write_or_reply(c, &o) != 0)
        return;
    if (o != NULL && node_hash_get(o, c->argv[2].ptr, c->argv[2].len, &v, &vlen)) {
        if (rc_string2ll(v, vlen, &value) != 0) {
            node_reply_error(c, "ERR hash value is not an integer");
            return;
        }
    }
    if ((incr < 0 && value < 0 && incr < (LLONG_MIN - value)) ||
        (incr > 0 && value > 0 && incr > (LLONG_MAX - value))) {
        node_reply_error(c, "ERR increment or decrement would overflow");
        return;
    }
    value += incr;
    n = snprintf(buf, sizeof(buf), "%lld", value);
    o = get_or_create(c, o);
    node_hash_set(o, c->argv[2].ptr, c->argv[2].len, buf, (size_t)n);
    node_reply_int(c, value);
}

static void cmd_hincrbyfloat(node_client_t *c)
{
    long double incr, value = 0;
    node_obj_t *o;
    const char *v;
    size_t vlen, len;
    char *buf;

    if (node__parse_ld(c->argv[3].ptr, c->argv[3].len, &incr) != 0) {
        node_reply_not_float(c);
        return;
    }
    if (isnan(incr) || isinf(incr)) {
        node_reply_error(c, "ERR value is NaN or Infinity");
        return;
    }
    if (lookup_write_or_reply(c, &o) != 0)
        return;
    if (o != NULL && node_hash_get(o, c->argv[2].ptr, c->argv[2].len, &v, &vlen)) {
        if (node__parse_ld(v, vlen, &value) != 0) {
            node_reply_error(c, "ERR hash value is not a float");
            return;
        }
    }
    value += incr;
    if (isnan(value) || isinf(value)) {
        node_reply_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    buf = rc_xmalloc(NODE__LD_BUF);
    len = node__format_ld(buf, value);
    o = get_or_create(c, o);
    node_hash_set(o, c->argv[2].ptr, c->argv[2].len, buf, len);
    node_reply_bulk(c, buf, len);
    rc_free(buf);
}

#define W NODE_CMD_WRITE
#define R NODE_CMD_READONLY
#define F NODE_CMD_FAST
#define P NODE_CMD_REPLAY
#define M NODE_CMD_DENYOOM

const node_cmd_t node_cmds_hash[] = {
    {"hset", cmd_hset, -4, W | M | F | P, 1, 1, 1, "hash", "Set the string value of a hash field"},
    {"hsetnx", cmd_hsetnx, 4, W | M | F | P, 1, 1, 1, "hash",
     "Set the value of a hash field, only if the field does not exist"},
    {"hget", cmd_hget, 3, R | F, 1, 1, 1, "hash", "Get the value of a hash field"},
    {"hmget", cmd_hmget, -3, R | F, 1, 1, 1, "hash", "Get the values of all the given hash fields"},
    {"hmset", cmd_hmset, -4, W | M | F | P, 1, 1, 1, "hash",
     "Set multiple hash fields to multiple values"},
    {"hdel", cmd_hdel, -3, W | F | P, 1, 1, 1, "hash", "Delete one or more hash fields"},
    {"hgetall", cmd_hgetall, 2, R, 1, 1, 1, "hash", "Get all the fields and values in a hash"},
    {"hexists", cmd_hexists, 3, R | F, 1, 1, 1, "hash", "Determine if a hash field exists"},
    {"hincrby", cmd_hincrby, 4, W | M | F | P, 1, 1, 1, "hash",
     "Increment the integer value of a hash field by the given number"},
    {"hincrbyfloat", cmd_hincrbyfloat, 4, W | M | F, 1, 1, 1, "hash",
     "Increment the float value of a hash field by the given amount"},
    {"hlen", cmd_hlen, 2, R | F, 1, 1, 1, "hash", "Get the number of fields in a hash"},
    {"hkeys", cmd_hkeys, 2, R, 1, 1, 1, "hash", "Get all the fields in a hash"},
    {"hvals", cmd_hvals, 2, R, 1, 1, 1, "hash", "Get all the values in a hash"},
    {"hstrlen", cmd_hstrlen, 3, R | F, 1, 1, 1, "hash",
     "Get the length of the value of a hash field"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
