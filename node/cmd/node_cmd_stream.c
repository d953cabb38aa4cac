/* node/cmd/node_cmd_stream.c: the stream commands: XADD (NOMKSTREAM, MAXLEN or
 * MINID with = or ~, LIMIT) XLEN XRANGE XREVRANGE XDEL XTRIM. No consumer
 * groups and no XREAD. The one rule: ids only grow: XADD's id is checked
 * against the stream's last id, which deleting entries never lowers.
 *
 * Documented difference: Redis trims "~" (approximately) by whole radix-tree
 * nodes of 100 entries; ringcached trims the same way in multiples of 100
 * oldest entries, which may leave a different number of entries. Exact
 * trimming ("=" or no modifier) is identical. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/cmd/node_cmd.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "node/data/node_types.h"
#include "node/net/node_reply.h"

#define STREAM_NODE_ENTRIES 100 /* Redis's stream-node-max-entries */

static node_stream_t *stream_of(const node_obj_t *o)
{
    return node_obj_ptr(o);
}

static void reply_invalid_id(node_client_t *c)
{
    node_reply_error(c, "ERR Invalid stream ID specified as stream command argument");
}

/* Redis's string2ull on a C string: strict decimal first, else strtoull. */
static int str2ull(const char *s, unsigned long long *v)
{
    long long ll;
    char *end = NULL;

    if (rc_string2ll(s, strlen(s), &ll) == 0) {
        if (ll < 0)
            return -EINVAL;
        *v = (unsigned long long)ll;
        return 0;
    }
    errno = 0;
    *v = strtoull(s, &end, 10);
    if (errno == EINVAL || errno == ERANGE || !(*s != '\0' && *end == '\0'))
        return -EINVAL;
    return 0;
}

/* Redis's streamGenericParseIDOrReply. 'seq_given' may be NULL (then
 * "<ms>-*" is invalid); '-' and '+' are refused when 'strict'. */
static int parse_id(node_client_t *c, const char *p, size_t len, node_stream_id_t *id,
                    uint64_t missing_seq, int strict, int *seq_given)
{
    char buf[128], *dash;
    unsigned long long ms, seq;

    if (len > sizeof(buf) - 1)
        goto invalid;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (strict && (buf[0] == '-' || buf[0] == '+') && buf[1] == '\0')
        goto invalid;
    if (seq_given != NULL)
        *seq_given = 1;
    if (buf[0] == '-' && buf[1] == '\0') {
        id->ms = 0;
        id->seq = 0;
        return 0;
    }
    if (buf[0] == '+' && buf[1] == '\0') {
        id->ms = UINT64_MAX;
        id->seq = UINT64_MAX;
        return 0;
    }
    dash = strchr(buf, '-');
    if (dash != NULL)
        *dash = '\0';
    if (str2ull(buf, &ms) != 0)
        goto invalid;
    if (dash != NULL) {
        if (seq_given != NULL && dash[1] == '*' && dash[2] == '\0') {
            seq = 0;
            *seq_given = 0;
        } else if (str2ull(dash + 1, &seq) != 0) {
            goto invalid;
        }
    } else {
        seq = missing_seq;
    }
    id->ms = ms;
    id->seq = seq;
    return 0;
invalid:
    if (c != NULL)
        reply_invalid_id(c);
    return -EINVAL;
}

static void reply_id(node_client_t *c, node_stream_id_t id)
{
    char buf[48];
    int n = snprintf(buf, sizeof(buf), "%llu-%llu", (unsigned long long)id.ms,
                     (unsigned long long)id.seq);

    node_reply_bulk(c, buf, (size_t)n);
}

enum trim_e {
    TRIM_NONE = 0,
    TRIM_MAXLEN,
    TRIM_MINID,
};

typedef struct trim_args_s {
    int strategy;
    int approx;
    long long maxlen;
    node_stream_id_t minid;
    long long limit;
    int nomkstream;
    int id_given, seq_given;
    node_stream_id_t id;
} trim_args_t;

/* Redis's streamParseAddOrTrimArgsOrReply. Returns the index of the id
 * (XADD) or argc (XTRIM), or -1 after replying an error. */
static int parse_add_or_trim(node_client_t *c, trim_args_t *a, int xadd)
{
    int i = 2, limit_given = 0;

    memset(a, 0, sizeof(*a));
    for (; i < c->argc; i++) {
        int more = c->argc - 1 - i;
        const char *opt = c->argv[i].ptr;

        if (xadd && opt[0] == '*' && opt[1] == '\0') {
            break;
        } else if ((strcasecmp(opt, "maxlen") == 0 || strcasecmp(opt, "minid") == 0) && more) {
            int maxlen = strcasecmp(opt, "maxlen") == 0;
            const char *next = c->argv[i + 1].ptr;

            if (a->strategy != TRIM_NONE) {
                node_reply_error(c, "ERR syntax error, MAXLEN and MINID options at the same time "
                                    "are not compatible");
                return -1;
            }
            a->approx = 0;
            if (more >= 2 && next[0] == '~' && next[1] == '\0') {
                a->approx = 1;
                i++;
            } else if (more >= 2 && next[0] == '=' && next[1] == '\0') {
                i++;
            }
            if (maxlen) {
                if (node__get_ll_or_reply(c, i + 1, &a->maxlen) != 0)
                    return -1;
                if (a->maxlen < 0) {
                    node_reply_error(c, "ERR The MAXLEN argument must be >= 0.");
                    return -1;
                }
            } else if (parse_id(c, c->argv[i + 1].ptr, c->argv[i + 1].len, &a->minid, 0, 1, NULL) !=
                       0) {
                return -1;
            }
            i++;
            a->strategy = maxlen ? TRIM_MAXLEN : TRIM_MINID;
        } else if (strcasecmp(opt, "limit") == 0 && more) {
            if (node__get_ll_or_reply(c, i + 1, &a->limit) != 0)
                return -1;
            if (a->limit < 0) {
                node_reply_error(c, "ERR The LIMIT argument must be >= 0.");
                return -1;
            }
            limit_given = 1;
            i++;
        } else if (xadd && strcasecmp(opt, "nomkstream") == 0) {
            a->nomkstream = 1;
        } else if (xadd) {
            if (parse_id(c, c->argv[i].ptr, c->argv[i].len, &a->id, 0, 1, &a->seq_given) != 0)
                return -1;
            a->id_given = 1;
            break;
        } else {
            node_reply_syntax_error(c);
            return -1;
        }
    }
    if (limit_given && a->strategy == TRIM_NONE) {
        node_reply_error(c, "ERR syntax error, LIMIT cannot be used without specifying a trimming "
                            "strategy");
        return -1;
    }
    if (!xadd && a->strategy == TRIM_NONE) {
        node_reply_error(c, "ERR syntax error, XTRIM must be called with a trimming strategy");
        return -1;
    }
    if (limit_given && !a->approx) {
        node_reply_error(c, "ERR syntax error, LIMIT cannot be used without the special ~ option");
        return -1;
    }
    if (a->approx) {
        if (!limit_given)
            a->limit = 100 * STREAM_NODE_ENTRIES;
    } else {
        a->limit = 0;
    }
    return i;
}

/* Removes entries by the trim arguments; returns how many went. */
static long long stream_trim(node_stream_t *s, const trim_args_t *a)
{
    size_t len = node_stream_len(s), n;

    if (a->strategy == TRIM_MAXLEN)
        n = (unsigned long long)a->maxlen < len ? len - (size_t)a->maxlen : 0;
    else
        n = node_stream_lower_bound(s, a->minid);
    if (a->approx) {
        n -= n % STREAM_NODE_ENTRIES; /* whole "nodes" only */
        if (a->limit > 0 && n > (unsigned long long)a->limit)
            n = (size_t)a->limit - (size_t)a->limit % STREAM_NODE_ENTRIES;
    }
    node_stream_trim_head(s, n);
    return (long long)n;
}

static void cmd_xadd(node_client_t *c)
{
    trim_args_t a;
    int idpos = parse_add_or_trim(c, &a, 1), fpos, err;
    node_stream_id_t last, id;
    node_obj_t *o;
    node_stream_t *s;
    size_t n;
    const char **ptrs;
    size_t *lens;

    if (idpos < 0)
        return;
    fpos = idpos + 1;
    if (c->argc - fpos < 2 || (c->argc - fpos) % 2 == 1) {
        node_reply_arity_error(c, "xadd");
        return;
    }
    if (a.id_given && a.seq_given && a.id.ms == 0 && a.id.seq == 0) {
        node_reply_error(c, "ERR The ID specified in XADD must be greater than 0-0");
        return;
    }
    o = node__lookup_typed(c, NODE_OBJ_STREAM, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        if (a.nomkstream) {
            node_reply_null(c);
            return;
        }
        o = node_db_ptr_create(c->db, c->argv[1].ptr, c->argv[1].len, NODE_OBJ_STREAM,
                               node_stream_create());
    }
    s = stream_of(o);
    last = node_stream_last_id(s);
    if (last.ms == UINT64_MAX && last.seq == UINT64_MAX) {
        node_reply_error(c, "ERR The stream has exhausted the last possible ID, unable to add more "
                            "items");
        return;
    }
    if (a.id_given) {
        id = a.id;
        if (!a.seq_given && last.ms == a.id.ms) {
            if (last.seq == UINT64_MAX)
                goto too_small;
            id.seq = last.seq + 1;
        }
    } else {
        uint64_t now = (uint64_t)node_db_now(c->db);
        if (now > last.ms) {
            id.ms = now;
            id.seq = 0;
        } else if (last.seq == UINT64_MAX) {
            id.ms = last.ms + 1;
            id.seq = 0;
        } else {
            id.ms = last.ms;
            id.seq = last.seq + 1;
        }
    }
    if (node_stream_id_cmp(id, last) <= 0)
        goto too_small;
    n = (size_t)(c->argc - fpos) / 2;
    ptrs = rc_xmalloc(2 * n * sizeof(*ptrs));
    lens = rc_xmalloc(2 * n * sizeof(*lens));
    for (size_t i = 0; i < 2 * n; i++) {
        ptrs[i] = c->argv[fpos + (int)i].ptr;
        lens[i] = c->argv[fpos + (int)i].len;
    }
    node_stream_append(s, id, n, ptrs, lens);
    rc_free(ptrs);
    rc_free(lens);
    reply_id(c, id);
    if (a.strategy != TRIM_NONE)
        stream_trim(s, &a);
    return;
too_small:
    node_reply_error(c, "ERR The ID specified in XADD is equal or smaller than the target stream "
                        "top item");
}

static void cmd_xlen(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_STREAM, 0, &err);

    if (err != 0)
        return;
    node_reply_int(c, o == NULL ? 0 : (long long)node_stream_len(stream_of(o)));
}

/* Redis's streamParseIntervalIDOrReply: "(" makes the bound exclusive. */
static int parse_interval(node_client_t *c, const resp_arg_t *arg, node_stream_id_t *id, int *ex,
                          uint64_t missing_seq)
{
    *ex = arg->len > 1 && arg->ptr[0] == '(';
    if (*ex)
        return parse_id(c, arg->ptr + 1, arg->len - 1, id, missing_seq, 1, NULL);
    return parse_id(c, arg->ptr, arg->len, id, missing_seq, 0, NULL);
}

static void reply_entry(node_client_t *c, const node_stream_entry_t *e)
{
    size_t pos = 0;

    node_reply_array(c, 2);
    reply_id(c, e->id);
    node_reply_array(c, (long)e->nfields * 2);
    for (uint32_t k = 0; k < e->nfields * 2; k++) {
        size_t len;
        const char *p = node_stream_entry_item(e, &pos, &len);
        node_reply_bulk(c, p, len);
    }
}

static void range_generic(node_client_t *c, int rev)
{
    const resp_arg_t *startarg = &c->argv[rev ? 3 : 2], *endarg = &c->argv[rev ? 2 : 3];
    node_stream_id_t start, end;
    int startex, endex, err;
    long long count = -1;
    node_obj_t *o;
    node_stream_t *s;
    size_t lo, hi, emitted = 0;
    void *len;

    if (parse_interval(c, startarg, &start, &startex, 0) != 0)
        return;
    if (startex) {
        if (start.seq == UINT64_MAX && start.ms == UINT64_MAX) {
            node_reply_error(c, "ERR invalid start ID for the interval");
            return;
        }
        if (start.seq == UINT64_MAX) {
            start.ms++;
            start.seq = 0;
        } else {
            start.seq++;
        }
    }
    if (parse_interval(c, endarg, &end, &endex, UINT64_MAX) != 0)
        return;
    if (endex) {
        if (end.seq == 0 && end.ms == 0) {
            node_reply_error(c, "ERR invalid end ID for the interval");
            return;
        }
        if (end.seq == 0) {
            end.ms--;
            end.seq = UINT64_MAX;
        } else {
            end.seq--;
        }
    }
    for (int j = 4; j < c->argc; j++) {
        if (strcasecmp(c->argv[j].ptr, "count") == 0 && c->argc - j - 1 >= 1) {
            if (node__get_ll_or_reply(c, j + 1, &count) != 0)
                return;
            if (count < 0)
                count = 0;
            j++;
        } else {
            node_reply_syntax_error(c);
            return;
        }
    }
    o = node__lookup_typed(c, NODE_OBJ_STREAM, 0, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_array(c, 0);
        return;
    }
    if (count == 0) {
        node_reply_null_array(c);
        return;
    }
    s = stream_of(o);
    len = node_reply_defer_array(c);
    if (node_stream_id_cmp(start, end) <= 0) {
        lo = node_stream_lower_bound(s, start);
        /* hi: first entry > end */
        if (end.seq == UINT64_MAX) {
            hi = end.ms == UINT64_MAX
                     ? node_stream_len(s)
                     : node_stream_lower_bound(s, (node_stream_id_t){end.ms + 1, 0});
        } else {
            hi = node_stream_lower_bound(s, (node_stream_id_t){end.ms, end.seq + 1});
        }
        while (lo < hi && (count < 0 || (long long)emitted < count)) {
            reply_entry(c, node_stream_at(s, rev ? --hi : lo++));
            emitted++;
        }
    }
    node_reply_set_deferred_array(c, len, (long)emitted);
}

static void cmd_xrange(node_client_t *c)
{
    range_generic(c, 0);
}

static void cmd_xrevrange(node_client_t *c)
{
    range_generic(c, 1);
}

static void cmd_xdel(node_client_t *c)
{
    node_stream_id_t *ids = rc_xmalloc((size_t)(c->argc - 2) * sizeof(*ids));
    long long deleted = 0;
    node_obj_t *o;
    int err;

    o = node__lookup_typed(c, NODE_OBJ_STREAM, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        goto done;
    if (o == NULL) {
        node_reply_int(c, 0);
        goto done;
    }
    /* All ids are checked before any is deleted, as Redis does. */
    for (int j = 2; j < c->argc; j++) {
        if (parse_id(c, c->argv[j].ptr, c->argv[j].len, &ids[j - 2], 0, 1, NULL) != 0)
            goto done;
    }
    for (int j = 2; j < c->argc; j++)
        deleted += node_stream_del(stream_of(o), ids[j - 2]);
    node_reply_int(c, deleted);
done:
    rc_free(ids);
}

static void cmd_xtrim(node_client_t *c)
{
    trim_args_t a;
    node_obj_t *o;
    int err;

    if (parse_add_or_trim(c, &a, 0) < 0)
        return;
    o = node__lookup_typed(c, NODE_OBJ_STREAM, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        return;
    node_reply_int(c, o == NULL ? 0 : stream_trim(stream_of(o), &a));
}

#define W NODE_CMD_WRITE
#define R NODE_CMD_READONLY
#define F NODE_CMD_FAST
#define M NODE_CMD_DENYOOM
#define X NODE_CMD_RANDOM

const node_cmd_t node_cmds_stream[] = {
    {"xadd", cmd_xadd, -5, W | M | X | F, 1, 1, 1, "stream", "Appends a new entry to a stream"},
    {"xlen", cmd_xlen, 2, R | F, 1, 1, 1, "stream", "Return the number of entries in a stream"},
    {"xrange", cmd_xrange, -4, R, 1, 1, 1, "stream",
     "Return a range of elements in a stream, with IDs matching the specified IDs interval"},
    {"xrevrange", cmd_xrevrange, -4, R, 1, 1, 1, "stream",
     "Return a range of elements in a stream, with IDs matching the specified IDs interval, in "
     "reverse order (from greater to smaller IDs) compared to XRANGE"},
    {"xdel", cmd_xdel, -3, W | F, 1, 1, 1, "stream",
     "Removes the specified entries from the stream. Returns the number of items actually "
     "deleted, that may be different from the number of IDs passed in case certain IDs do not "
     "exist."},
    {"xtrim", cmd_xtrim, -4, W | X, 1, 1, 1, "stream",
     "Trims the stream to (approximately if '~' is passed) a certain size"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
