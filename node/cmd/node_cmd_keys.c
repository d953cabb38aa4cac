/* node/cmd/node_cmd_keys.c: the generic key commands: DEL UNLINK EXISTS TOUCH
 * TYPE EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST RANDOMKEY SCAN
 * KEYS (glob matching: rc_strmatch). The one rule: replies,
 * errors and their order of checks are Redis 7.0's, checked against a real
 * redis-server. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/cmd/node_cmd.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "node/net/node_reply.h"

static void cmd_del(node_client_t *c)
{
    long long n = 0;

    for (int i = 1; i < c->argc; i++)
        n += node_db_delete(c->db, c->argv[i].ptr, c->argv[i].len);
    node_reply_int(c, n);
}

static void cmd_exists(node_client_t *c)
{
    long long n = 0;

    for (int i = 1; i < c->argc; i++) {
        if (node_db_lookup(c->db, c->argv[i].ptr, c->argv[i].len, NODE_LOOKUP_NOTOUCH) != NULL)
            n++;
    }
    node_reply_int(c, n);
}

static void cmd_touch(node_client_t *c)
{
    long long n = 0;

    for (int i = 1; i < c->argc; i++) {
        if (node_db_lookup(c->db, c->argv[i].ptr, c->argv[i].len, 0) != NULL)
            n++;
    }
    node_reply_int(c, n);
}

static void cmd_type(node_client_t *c)
{
    node_obj_t *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, NODE_LOOKUP_NOTOUCH);

    if (o == NULL)
        node_reply_status(c, "none");
    else
        node_reply_status(c, node_obj_type_name(o));
}

enum expire_flag_e {
    EXPIRE_NX = 1 << 0,
    EXPIRE_XX = 1 << 1,
    EXPIRE_GT = 1 << 2,
    EXPIRE_LT = 1 << 3,
};

static int parse_expire_flags_or_reply(node_client_t *c, int *flags)
{
    for (int i = 3; i < c->argc; i++) {
        const char *opt = c->argv[i].ptr;

        if (strcasecmp(opt, "nx") == 0)
            *flags |= EXPIRE_NX;
        else if (strcasecmp(opt, "xx") == 0)
            *flags |= EXPIRE_XX;
        else if (strcasecmp(opt, "gt") == 0)
            *flags |= EXPIRE_GT;
        else if (strcasecmp(opt, "lt") == 0)
            *flags |= EXPIRE_LT;
        else {
            node_reply_errorf(c, "ERR Unsupported option %s", opt);
            return -EINVAL;
        }
    }
    if ((*flags & EXPIRE_NX) && (*flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT))) {
        node_reply_error(c, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return -EINVAL;
    }
    if ((*flags & EXPIRE_GT) && (*flags & EXPIRE_LT)) {
        node_reply_error(c, "ERR GT and LT options at the same time are not compatible");
        return -EINVAL;
    }
    return 0;
}

/* EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT: 'base' is now (relative) or 0. */
static void expire_generic(node_client_t *c, long long base, int seconds, const char *name)
{
    const char *key = c->argv[1].ptr;
    size_t klen = c->argv[1].len;
    int flags = 0;
    long long when;
    int64_t cur;
    node_obj_t *o;

    if (parse_expire_flags_or_reply(c, &flags) != 0)
        return;
    if (rc_string2ll(c->argv[2].ptr, c->argv[2].len, &when) != 0) {
        node_reply_not_integer(c);
        return;
    }
    if (seconds) {
        if (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000) {
            node_reply_errorf(c, "ERR invalid expire time in '%s' command", name);
            return;
        }
        when *= 1000;
    }
    if (when > LLONG_MAX - base) {
        node_reply_errorf(c, "ERR invalid expire time in '%s' command", name);
        return;
    }
    when += base;
    o = node_db_lookup(c->db, key, klen, NODE_LOOKUP_WRITE);
    if (o == NULL) {
        node_reply_int(c, 0);
        return;
    }
    cur = node_obj_expire(o);
    if (((flags & EXPIRE_NX) && cur != -1) || ((flags & EXPIRE_XX) && cur == -1) ||
        ((flags & EXPIRE_GT) && (cur == -1 || when <= cur)) ||
        ((flags & EXPIRE_LT) && cur != -1 && when >= cur)) {
        node_reply_int(c, 0);
        return;
    }
    if (when <= node_db_now(c->db))
        node_db_delete(c->db, key, klen);
    else
        node_db_set_expire(c->db, key, klen, when);
    node_reply_int(c, 1);
}

static void cmd_expire(node_client_t *c)
{
    expire_generic(c, node_db_now(c->db), 1, "expire");
}

static void cmd_pexpire(node_client_t *c)
{
    expire_generic(c, node_db_now(c->db), 0, "pexpire");
}

static void cmd_expireat(node_client_t *c)
{
    expire_generic(c, 0, 1, "expireat");
}

static void cmd_pexpireat(node_client_t *c)
{
    expire_generic(c, 0, 0, "pexpireat");
}

static void ttl_generic(node_client_t *c, int ms)
{
    node_obj_t *o = node_db_lookup(c->db, c->argv[1].ptr, c->argv[1].len, NODE_LOOKUP_NOTOUCH);
    int64_t when, ttl;

    if (o == NULL) {
        node_reply_int(c, -2);
        return;
    }
    when = node_obj_expire(o);
    if (when == -1) {
        node_reply_int(c, -1);
        return;
    }
    ttl = when - node_db_now(c->db);
    if (ttl < 0)
        ttl = 0;
    node_reply_int(c, ms ? ttl : (ttl + 500) / 1000);
}

static void cmd_ttl(node_client_t *c)
{
    ttl_generic(c, 0);
}

static void cmd_pttl(node_client_t *c)
{
    ttl_generic(c, 1);
}

static void cmd_persist(node_client_t *c)
{
    node_reply_int(c, node_db_persist(c->db, c->argv[1].ptr, c->argv[1].len));
}

static void cmd_randomkey(node_client_t *c)
{
    node_obj_t *o = node_db_random(c->db);
    const char *key;
    size_t klen;

    if (o == NULL) {
        node_reply_null(c);
        return;
    }
    key = node_obj_key(o, &klen);
    node_reply_bulk(c, key, klen);
}

typedef struct obj_vec_s {
    node_obj_t **v;
    size_t n, cap;
} obj_vec_t;

static void vec_push(void *priv, node_obj_t *o)
{
    obj_vec_t *vec = priv;

    if (vec->n == vec->cap) {
        vec->cap = vec->cap == 0 ? 16 : vec->cap * 2;
        vec->v = rc_xrealloc(vec->v, vec->cap * sizeof(*vec->v));
    }
    vec->v[vec->n++] = o;
}

static void cmd_scan(node_client_t *c)
{
    const char *pat = NULL, *type = NULL;
    char *endp;
    size_t plen = 0;
    long long count = 10;
    unsigned long long cursor;
    obj_vec_t vec = {NULL, 0, 0};
    long long maxiter;
    char buf[24];
    size_t kept = 0;
    int use_pat;

    errno = 0;
    cursor = strtoull(c->argv[1].ptr, &endp, 10);
    if (isspace((unsigned char)c->argv[1].ptr[0]) || endp[0] != '\0' || errno == ERANGE) {
        node_reply_error(c, "ERR invalid cursor");
        return;
    }
    for (int i = 2; i < c->argc; i += 2) {
        const char *opt = c->argv[i].ptr;

        if (i + 1 >= c->argc) {
            node_reply_syntax_error(c);
            return;
        }
        if (strcasecmp(opt, "count") == 0) {
            if (rc_string2ll(c->argv[i + 1].ptr, c->argv[i + 1].len, &count) != 0) {
                node_reply_not_integer(c);
                return;
            }
            if (count < 1) {
                node_reply_syntax_error(c);
                return;
            }
        } else if (strcasecmp(opt, "match") == 0) {
            pat = c->argv[i + 1].ptr;
            plen = c->argv[i + 1].len;
        } else if (strcasecmp(opt, "type") == 0) {
            type = c->argv[i + 1].ptr;
        } else {
            node_reply_syntax_error(c);
            return;
        }
    }
    use_pat = pat != NULL && !(plen == 1 && pat[0] == '*');
    maxiter = count * 10;
    do {
        cursor = node_db_scan(c->db, cursor, vec_push, &vec);
    } while (cursor != 0 && maxiter-- > 0 && (long long)vec.n < count);
    /* Filter; expired keys are deleted (which never moves other objects). */
    for (size_t i = 0; i < vec.n; i++) {
        node_obj_t *o = vec.v[i];
        size_t klen;
        const char *key = node_obj_key(o, &klen);

        if (use_pat && !rc_strmatch(pat, plen, key, klen, 0))
            continue;
        if (node_obj_expire(o) != -1 && node_obj_expire(o) < node_db_now(c->db)) {
            node_db_lookup(c->db, key, klen, NODE_LOOKUP_WRITE | NODE_LOOKUP_NOTOUCH);
            continue;
        }
        if (type != NULL && strcasecmp(type, node_obj_type_name(o)) != 0)
            continue;
        vec.v[kept++] = o;
    }
    node_reply_array(c, 2);
    node_reply_bulk(c, buf, (size_t)snprintf(buf, sizeof(buf), "%llu", cursor));
    node_reply_array(c, (long)kept);
    for (size_t i = 0; i < kept; i++) {
        size_t klen;
        const char *key = node_obj_key(vec.v[i], &klen);
        node_reply_bulk(c, key, klen);
    }
    rc_free(vec.v);
}

static void cmd_keys(node_client_t *c)
{
    obj_vec_t vec = {NULL, 0, 0};
    const char *pat = c->argv[1].ptr;
    size_t plen = c->argv[1].len, kept = 0;
    int all = plen == 1 && pat[0] == '*';

    node_db_foreach(c->db, vec_push, &vec);
    for (size_t i = 0; i < vec.n; i++) {
        size_t klen;
        const char *key = node_obj_key(vec.v[i], &klen);

        if (all || rc_strmatch(pat, plen, key, klen, 0))
            vec.v[kept++] = vec.v[i];
    }
    node_reply_array(c, (long)kept);
    for (size_t i = 0; i < kept; i++) {
        size_t klen;
        const char *key = node_obj_key(vec.v[i], &klen);
        node_reply_bulk(c, key, klen);
    }
    rc_free(vec.v);
}

#define W   NODE_CMD_WRITE
#define R   NODE_CMD_READONLY
#define F   NODE_CMD_FAST
#define RND NODE_CMD_RANDOM

const node_cmd_t node_cmds_keys[] = {
    {"del", cmd_del, -2, W, 1, -1, 1, "generic", "Delete a key"},
    {"unlink", cmd_del, -2, W | F, 1, -1, 1, "generic",
     "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking."},
    {"exists", cmd_exists, -2, R | F, 1, -1, 1, "generic", "Determine if a key exists"},
    {"touch", cmd_touch, -2, R | F, 1, -1, 1, "generic",
     "Alters the last access time of a key(s). Returns the number of existing keys specified."},
    {"type", cmd_type, 2, R | F, 1, 1, 1, "generic", "Determine the type stored at key"},
    {"expire", cmd_expire, -3, W | F, 1, 1, 1, "generic", "Set a key's time to live in seconds"},
    {"pexpire", cmd_pexpire, -3, W | F, 1, 1, 1, "generic",
     "Set a key's time to live in milliseconds"},
    {"expireat", cmd_expireat, -3, W | F, 1, 1, 1, "generic",
     "Set the expiration for a key as a UNIX timestamp"},
    {"pexpireat", cmd_pexpireat, -3, W | F, 1, 1, 1, "generic",
     "Set the expiration for a key as a UNIX timestamp specified in milliseconds"},
    {"ttl", cmd_ttl, 2, R | F, 1, 1, 1, "generic", "Get the time to live for a key in seconds"},
    {"pttl", cmd_pttl, 2, R | F, 1, 1, 1, "generic",
     "Get the time to live for a key in milliseconds"},
    {"persist", cmd_persist, 2, W | F, 1, 1, 1, "generic", "Remove the expiration from a key"},
    {"randomkey", cmd_randomkey, 1, R | RND, 0, 0, 0, "generic",
     "Return a random key from the keyspace"},
    {"scan", cmd_scan, -2, R | RND, 0, 0, 0, "generic", "Incrementally iterate the keys space"},
    {"keys", cmd_keys, 2, R, 0, 0, 0, "generic", "Find all keys matching the given pattern"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
