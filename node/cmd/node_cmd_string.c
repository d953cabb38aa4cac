/* node/cmd/node_cmd_string.c: the string commands: GET SET SETNX SETEX PSETEX
 * GETSET GETDEL GETEX MGET MSET MSETNX INCR INCRBY DECR DECRBY INCRBYFLOAT
 * APPEND STRLEN GETRANGE SETRANGE. The one rule: replies, errors and the
 * order in which they are checked are Redis 7.0's. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/cmd/node_cmd.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "resp/resp_request.h"

enum set_flag_e {
    SET_NX = 1 << 0,
    SET_XX = 1 << 1,
    SET_GET = 1 << 2,
    SET_KEEPTTL = 1 << 3,
    SET_PERSIST = 1 << 4,
    SET_EX = 1 << 5,
    SET_PX = 1 << 6,
    SET_EXAT = 1 << 7,
    SET_PXAT = 1 << 8,
};

#define SET_ANY_EXPIRE (SET_EX | SET_PX | SET_EXAT | SET_PXAT)

/* SET's and GETEX's options (Redis's parseExtendedStringArgumentsOrReply),
 * from argv[first]. Stores the expire argument in '*expire'. */
static int parse_set_args_or_reply(node_client_t *c, int first, int is_set, int *flags,
                                   const resp_arg_t **expire)
{
    for (int j = first; j < c->argc; j++) {
        const resp_arg_t *opt = &c->argv[j];
        const resp_arg_t *next = j == c->argc - 1 ? NULL : &c->argv[j + 1];
        int f = *flags;

        if (resp_arg_is(opt, "nx") && !(f & SET_XX) && is_set) {
            *flags |= SET_NX;
        } else if (resp_arg_is(opt, "xx") && !(f & SET_NX) && is_set) {
            *flags |= SET_XX;
        } else if (resp_arg_is(opt, "get") && is_set) {
            *flags |= SET_GET;
        } else if (resp_arg_is(opt, "keepttl") && !(f & (SET_PERSIST | SET_ANY_EXPIRE)) && is_set) {
            *flags |= SET_KEEPTTL;
        } else if (resp_arg_is(opt, "persist") && !is_set &&
                   !(f & (SET_ANY_EXPIRE | SET_KEEPTTL))) {
            *flags |= SET_PERSIST;
        } else if (resp_arg_is(opt, "ex") &&
                   !(f & (SET_KEEPTTL | SET_PERSIST | SET_EXAT | SET_PX | SET_PXAT)) && next) {
            *flags |= SET_EX;
            *expire = next;
            j++;
        } else if (resp_arg_is(opt, "px") &&
                   !(f & (SET_KEEPTTL | SET_PERSIST | SET_EX | SET_EXAT | SET_PXAT)) && next) {
            *flags |= SET_PX;
            *expire = next;
            j++;
        } else if (resp_arg_is(opt, "exat") &&
                   !(f & (SET_KEEPTTL | SET_PERSIST | SET_EX | SET_PX | SET_PXAT)) && next) {
            *flags |= SET_EXAT;
            *expire = next;
            j++;
        } else if (resp_arg_is(opt, "pxat") &&
                   !(f & (SET_KEEPTTL | SET_PERSIST | SET_EX | SET_EXAT | SET_PX)) && next) {
            *flags |= SET_PXAT;
            *expire = next;
            j++;
        } else {
            node_reply_syntax_error(c);
            return -EINVAL;
        }
    }
    return 0;
}

/* Turns an EX/PX/EXAT/PXAT argument into an absolute time in ms. */
static int expire_ms_or_reply(node_client_t *c, const resp_arg_t *arg, int flags, const char *name,
                              long long *ms)
{
    int seconds = (flags & (SET_EX | SET_EXAT)) != 0;

    if (rc_string2ll(arg->ptr, arg->len, ms) != 0) {
        node_reply_not_integer(c);
        return -EINVAL;
    }
    if (*ms <= 0 || (seconds && *ms > LLONG_MAX / 1000)) {
        node_reply_errorf(c, "ERR invalid expire time in '%s' command", name);
        return -EINVAL;
    }
    if (seconds)
        *ms *= 1000;
    if (flags & (SET_EX | SET_PX)) {
        if (*ms > LLONG_MAX - node_db_now(c->db)) {
            node_reply_errorf(c, "ERR invalid expire time in '%s' command", name);
            return -EINVAL;
        }
        *ms += node_db_now(c->db);
    }
    return 0;
}

static void reply_obj(node_client_t *c, const node_obj_t *o)
{
    char buf[NODE_OBJ_INTBUF];
    size_t len;
    const char *s = node_obj_str(o, buf, &len);

    node_reply_bulk(c, s, len);
}

/* GET's reply; -EINVAL after a WRONGTYPE reply. */
static int get_generic(node_client_t *c)
{
    node_obj_t *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, 0);

    if (o == NULL) {
        node_reply_null(c);
        return 0;
    }
    if (node_obj_type(o) != NODE_OBJ_STRING) {
        node_reply_wrongtype(c);
        return -EINVAL;
    }
    reply_obj(c, o);
    return 0;
}

_Static_assert((int)RESP_REQUEST_ARG_HEAD == (int)NODE_DB_BLOCK_HEAD,
               "a parser's block is a value's storage");

/* Sets 'key' to 'val' (an argument of 'c'): a big value's bytes stay in the
 * block the parser read them into (no copy into fresh pages, which costs
 * about 1 ms a MB here, all in one turn of the loop). */
static void set_str_arg(node_client_t *c, const resp_arg_t *key, const resp_arg_t *val,
                        int64_t when, int keepttl)
{
    char *block =
        val->len >= RESP_REQUEST_BIG_ARG ? node_conn_take_arg(c, (int)(val - c->argv)) : NULL;

    if (block != NULL)
        node_db_set_str_block(c->db, key->ptr, key->len, block, val->len, when, keepttl);
    else
        node_db_set_str(c->db, key->ptr, key->len, val->ptr, val->len, when, keepttl);
}

static void set_generic(node_client_t *c, int flags, const resp_arg_t *key, const resp_arg_t *val,
                        const resp_arg_t *expire, const char *name, int nx_reply_int)
{
    long long when = -1;
    node_obj_t *o;

    if (expire != NULL && expire_ms_or_reply(c, expire, flags, name, &when) != 0)
        return;
    if ((flags & SET_GET) && get_generic(c) != 0)
        return;
    o = (flags & (SET_NX | SET_XX)) ? node_db_lookup(c->db, key->ptr, key->len, NODE_LOOKUP_WRITE)
                                    : NULL;
    if (((flags & SET_NX) && o != NULL) || ((flags & SET_XX) && o == NULL)) {
        if (!(flags & SET_GET)) {
            if (nx_reply_int)
                node_reply_int(c, 0);
            else
                node_reply_null(c);
        }
        return;
    }
    set_str_arg(c, key, val, when, (flags & SET_KEEPTTL) != 0);
    if (!(flags & SET_GET)) {
        if (nx_reply_int)
            node_reply_int(c, 1);
        else
            node_reply_ok(c);
    }
}

static void cmd_set(node_client_t *c)
{
    int flags = 0;
    const resp_arg_t *expire = NULL;

    if (parse_set_args_or_reply(c, 3, 1, &flags, &expire) != 0)
        return;
    set_generic(c, flags, &c->argv[1], &c->argv[2], expire, "set", 0);
}

static void cmd_setnx(node_client_t *c)
{
    set_generic(c, SET_NX, &c->argv[1], &c->argv[2], NULL, "setnx", 1);
}

static void cmd_setex(node_client_t *c)
{
    set_generic(c, SET_EX, &c->argv[1], &c->argv[3], &c->argv[2], "setex", 0);
}

static void cmd_psetex(node_client_t *c)
{
    set_generic(c, SET_PX, &c->argv[1], &c->argv[3], &c->argv[2], "psetex", 0);
}

static void cmd_get(node_client_t *c)
{
    (void)get_generic(c);
}

static void cmd_getset(node_client_t *c)
{
    if (get_generic(c) != 0)
        return;
    node_db_set_str(c->db, c->argv[1].ptr, c->argv[1].len, c->argv[2].ptr, c->argv[2].len, -1, 0);
}

static void cmd_getdel(node_client_t *c)
{
    if (get_generic(c) != 0)
        return;
    node_db_delete(c->db, c->argv[1].ptr, c->argv[1].len);
}

static void cmd_getex(node_client_t *c)
{
    int flags = 0;
    const resp_arg_t *expire = NULL;
    long long when = -1;
    node_obj_t *o;

    if (parse_set_args_or_reply(c, 2, 0, &flags, &expire) != 0)
        return;
    o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, 0);
    if (o == NULL) {
        node_reply_null(c);
        return;
    }
    if (node_obj_type(o) != NODE_OBJ_STRING) {
        node_reply_wrongtype(c);
        return;
    }
    if (expire != NULL && expire_ms_or_reply(c, expire, flags, "getex", &when) != 0)
        return;
    reply_obj(c, o);
    if ((flags & (SET_EXAT | SET_PXAT)) && when <= node_db_now(c->db))
        node_db_delete(c->db, c->argv[1].ptr, c->argv[1].len);
    else if (expire != NULL)
        node_db_set_expire(c->db, c->argv[1].ptr, c->argv[1].len, when);
    else if (flags & SET_PERSIST)
        node_db_persist(c->db, c->argv[1].ptr, c->argv[1].len);
}

static void cmd_mget(node_client_t *c)
{
    node_reply_array(c, c->argc - 1);
    for (int i = 1; i < c->argc; i++) {
        node_obj_t *o = node_db_lookup(c->db, c->argv[i].ptr, c->argv[i].len, 0);

        if (o == NULL || node_obj_type(o) != NODE_OBJ_STRING)
            node_reply_null(c);
        else
            reply_obj(c, o);
    }
}

/* 1 when a later pair of MSET 'c' sets the key of pair 'i' again: its
 * value must not keep the parser's block (the later pair frees it while
 * the command's arguments, which SLOWLOG reads after it, point into it). */
static int set_again(const node_client_t *c, int i)
{
    for (int j = i + 2; j < c->argc; j += 2) {
        if (c->argv[j].len == c->argv[i].len &&
            memcmp(c->argv[j].ptr, c->argv[i].ptr, c->argv[i].len) == 0)
            return 1;
    }
    return 0;
}

static int mset_generic(node_client_t *c, int nx)
{
    if (c->argc % 2 == 0) {
        node_reply_arity_error(c, nx ? "msetnx" : "mset");
        return -EINVAL;
    }
    if (nx) {
        for (int i = 1; i < c->argc; i += 2) {
            if (node_db_lookup(c->db, c->argv[i].ptr, c->argv[i].len, NODE_LOOKUP_WRITE) != NULL) {
                node_reply_int(c, 0);
                return -EEXIST;
            }
        }
    }
    for (int i = 1; i < c->argc; i += 2) {
        /* a big value keeps its block (set_str_arg()) unless set again */
        if (c->argv[i + 1].len >= RESP_REQUEST_BIG_ARG && set_again(c, i))
            node_db_set_str(c->db, c->argv[i].ptr, c->argv[i].len, c->argv[i + 1].ptr,
                            c->argv[i + 1].len, -1, 0);
        else
            set_str_arg(c, &c->argv[i], &c->argv[i + 1], -1, 0);
    }
    return 0;
}

static void cmd_mset(node_client_t *c)
{
    if (mset_generic(c, 0) == 0)
        node_reply_ok(c);
}

static void cmd_msetnx(node_client_t *c)
{
    if (mset_generic(c, 1) == 0)
        node_reply_int(c, 1);
}

static void incr_generic(node_client_t *c, long long incr)
{
    node_obj_t *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, NODE_LOOKUP_WRITE);
    long long value = 0;

    if (o != NULL) {
        if (node_obj_type(o) != NODE_OBJ_STRING) {
            node_reply_wrongtype(c);
            return;
        }
        if (node_obj_get_ll(o, &value) != 0) {
            node_reply_not_integer(c);
            return;
        }
    }
    if ((incr < 0 && value < 0 && incr < (LLONG_MIN - value)) ||
        (incr > 0 && value > 0 && incr > (LLONG_MAX - value))) {
        node_reply_error(c, "ERR increment or decrement would overflow");
        return;
    }
    value += incr;
    node_db_set_ll(c->db, c->argv[1].ptr, c->argv[1].len, value);
    node_reply_int(c, value);
}

static void cmd_incr(node_client_t *c)
{
    incr_generic(c, 1);
}

static void cmd_decr(node_client_t *c)
{
    incr_generic(c, -1);
}

static void cmd_incrby(node_client_t *c)
{
    long long incr;

    if (rc_string2ll(c->argv[2].ptr, c->argv[2].len, &incr) != 0) {
        node_reply_not_integer(c);
        return;
    }
    incr_generic(c, incr);
}

static void cmd_decrby(node_client_t *c)
{
    long long incr;

    if (rc_string2ll(c->argv[2].ptr, c->argv[2].len, &incr) != 0) {
        node_reply_not_integer(c);
        return;
    }
    if (incr == LLONG_MIN) {
        node_reply_error(c, "ERR decrement would overflow");
        return;
    }
    incr_generic(c, -incr);
}

static void cmd_incrbyfloat(node_client_t *c)
{
    node_obj_t *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, NODE_LOOKUP_WRITE);
    long double value = 0, incr;
    char *buf;
    size_t len;

    if (o != NULL) {
        char ibuf[NODE_OBJ_INTBUF];
        const char *s;

        if (node_obj_type(o) != NODE_OBJ_STRING) {
            node_reply_wrongtype(c);
            return;
        }
        s = node_obj_str(o, ibuf, &len);
        if (node__parse_ld(s, len, &value) != 0) {
            node_reply_not_float(c);
            return;
        }
    }
    if (node__parse_ld(c->argv[2].ptr, c->argv[2].len, &incr) != 0) {
        node_reply_not_float(c);
        return;
    }
    value += incr;
    if (isnan(value) || isinf(value)) {
        node_reply_error(c, "ERR increment would produce NaN or Infinity");
        return;
    }
    buf = rc_xmalloc(NODE__LD_BUF);
    len = node__format_ld(buf, value);
    node_db_set_str(c->db, c->argv[1].ptr, c->argv[1].len, buf, len, -1, 1);
    node_reply_bulk(c, buf, len);
    rc_free(buf);
}

static int check_len_or_reply(node_client_t *c, long long size, long long append)
{
    long long total = (long long)((unsigned long long)size + (unsigned long long)append);

    if (total > node_server_config(c->server)->proto_max_bulk_len || total < size ||
        total < append) {
        node_reply_error(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return -E2BIG;
    }
    return 0;
}

static void cmd_append(node_client_t *c)
{
    const resp_arg_t *key = &c->argv[1], *val = &c->argv[2];
    node_obj_t *o = node_db_lookup(c->db, key->ptr, key->len, NODE_LOOKUP_WRITE);
    size_t olen;
    char *p;

    if (o == NULL) {
        node_db_set_str(c->db, key->ptr, key->len, val->ptr, val->len, -1, 0);
        node_reply_int(c, (long long)val->len);
        return;
    }
    if (node_obj_type(o) != NODE_OBJ_STRING) {
        node_reply_wrongtype(c);
        return;
    }
    olen = node_obj_strlen(o);
    if (check_len_or_reply(c, (long long)olen, (long long)val->len) != 0)
        return;
    p = node_db_str_resize(c->db, key->ptr, key->len, olen + val->len);
    memcpy(p + olen, val->ptr, val->len);
    node_reply_int(c, (long long)(olen + val->len));
}

static void cmd_strlen(node_client_t *c)
{
    node_obj_t *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, 0);

    if (o == NULL) {
        node_reply_int(c, 0);
        return;
    }
    if (node_obj_type(o) != NODE_OBJ_STRING) {
        node_reply_wrongtype(c);
        return;
    }
    node_reply_int(c, (long long)node_obj_strlen(o));
}

static void cmd_getrange(node_client_t *c)
{
    long long start, end, slen;
    node_obj_t *o;
    char buf[NODE_OBJ_INTBUF];
    const char *s;
    size_t len;

    if (rc_string2ll(c->argv[2].ptr, c->argv[2].len, &start) != 0 ||
        rc_string2ll(c->argv[3].ptr, c->argv[3].len, &end) != 0) {
        node_reply_not_integer(c);
        return;
    }
    o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, 0);
    if (o == NULL) {
        node_reply_bulk(c, "", 0);
        return;
    }
    if (node_obj_type(o) != NODE_OBJ_STRING) {
        node_reply_wrongtype(c);
        return;
    }
    s = node_obj_str(o, buf, &len);
    slen = (long long)len;
    if (start < 0 && end < 0 && start > end) {
        node_reply_bulk(c, "", 0);
        return;
    }
    if (start < 0)
        start = slen + start;
    if (end < 0)
        end = slen + end;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= slen)
        end = slen - 1;
    if (start > end || slen == 0)
        node_reply_bulk(c, "", 0);
    else
        node_reply_bulk(c, s + start, (size_t)(end - start + 1));
}

static void cmd_setrange(node_client_t *c)
{
    const resp_arg_t *key = &c->argv[1], *val = &c->argv[3];
    long long offset;
    node_obj_t *o;
    size_t olen, newlen;
    char *p;

    if (rc_string2ll(c->argv[2].ptr, c->argv[2].len, &offset) != 0) {
        node_reply_not_integer(c);
        return;
    }
    if (offset < 0) {
        node_reply_error(c, "ERR offset is out of range");
        return;
    }
    o = node_db_lookup(c->db, key->ptr, key->len, NODE_LOOKUP_WRITE);
    if (o == NULL) {
        if (val->len == 0) {
            node_reply_int(c, 0);
            return;
        }
        if (check_len_or_reply(c, offset, (long long)val->len) != 0)
            return;
        node_db_set_str(c->db, key->ptr, key->len, "", 0, -1, 0);
        olen = 0;
    } else {
        if (node_obj_type(o) != NODE_OBJ_STRING) {
            node_reply_wrongtype(c);
            return;
        }
        olen = node_obj_strlen(o);
        if (val->len == 0) {
            node_reply_int(c, (long long)olen);
            return;
        }
        if (check_len_or_reply(c, offset, (long long)val->len) != 0)
            return;
    }
    newlen = (size_t)offset + val->len;
    if (newlen < olen)
        newlen = olen;
    p = node_db_str_resize(c->db, key->ptr, key->len, newlen);
    memcpy(p + offset, val->ptr, val->len);
    node_reply_int(c, (long long)newlen);
}

#define W NODE_CMD_WRITE
#define R NODE_CMD_READONLY
#define F NODE_CMD_FAST
#define P NODE_CMD_REPLAY
#define M NODE_CMD_DENYOOM

const node_cmd_t node_cmds_string[] = {
    {"get", cmd_get, 2, R | F, 1, 1, 1, "string", "Get the value of a key"},
    {"set", cmd_set, -3, W | M, 1, 1, 1, "string", "Set the string value of a key"},
    {"setnx", cmd_setnx, 3, W | M | F, 1, 1, 1, "string",
     "Set the value of a key, only if the key does not exist"},
    {"setex", cmd_setex, 4, W | M, 1, 1, 1, "string", "Set the value and expiration of a key"},
    {"psetex", cmd_psetex, 4, W | M, 1, 1, 1, "string",
     "Set the value and expiration in milliseconds of a key"},
    {"getset", cmd_getset, 3, W | M | F, 1, 1, 1, "string",
     "Set the string value of a key and return its old value"},
    {"getdel", cmd_getdel, 2, W | F, 1, 1, 1, "string",
     "Get the value of a key and delete the key"},
    {"getex", cmd_getex, -2, W | F, 1, 1, 1, "string",
     "Get the value of a key and optionally set its expiration"},
    {"mget", cmd_mget, -2, R | F, 1, -1, 1, "string", "Get the values of all the given keys"},
    {"mset", cmd_mset, -3, W | M, 1, -1, 2, "string", "Set multiple keys to multiple values"},
    {"msetnx", cmd_msetnx, -3, W | M, 1, -1, 2, "string",
     "Set multiple keys to multiple values, only if none of the keys exist"},
    {"incr", cmd_incr, 2, W | M | F, 1, 1, 1, "string",
     "Increment the integer value of a key by one"},
    {"decr", cmd_decr, 2, W | M | F, 1, 1, 1, "string",
     "Decrement the integer value of a key by one"},
    {"incrby", cmd_incrby, 3, W | M | F, 1, 1, 1, "string",
     "Increment the integer value of a key by the given amount"},
    {"decrby", cmd_decrby, 3, W | M | F, 1, 1, 1, "string",
     "Decrement the integer value of a key by the given number"},
    {"incrbyfloat", cmd_incrbyfloat, 3, W | M | F, 1, 1, 1, "string",
     "Increment the float value of a key by the given amount"},
    {"append", cmd_append, 3, W | M | F | P, 1, 1, 1, "string", "Append a value to a key"},
    {"strlen", cmd_strlen, 2, R | F, 1, 1, 1, "string",
     "Get the length of the value stored in a key"},
    {"getrange", cmd_getrange, 4, R, 1, 1, 1, "string",
     "Get a substring of the string stored at a key"},
    {"setrange", cmd_setrange, 4, W | M | P, 1, 1, 1, "string",
     "Overwrite part of a string at key starting at the specified offset"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
