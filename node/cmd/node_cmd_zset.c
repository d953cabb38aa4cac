/* node/cmd/node_cmd_zset.c: the sorted-set commands: ZADD (NX XX GT LT CH INCR)
 * ZINCRBY ZPOPMIN ZPOPMAX ZCARD ZSCORE ZRANK ZREVRANK ZREM ZRANGE (by rank
 * or BYSCORE or BYLEX, REV, LIMIT, WITHSCORES) ZCOUNT. The one
 * rule: replies, errors and the order of checks are Redis 7.0's, and an
 * emptied sorted set is deleted.
 *
 * Documented differences from Redis 7.0:
 * - ZRANGE ... BYLEX on members with different scores (where Redis calls the
 *   result unspecified) walks the skiplist as Redis's skiplist encoding
 *   does; Redis's compact encoding scans linearly and may answer otherwise.
 * - A score of -0 is stored as 0, as Redis's compact (listpack) encoding
 *   does; Redis's skiplist encoding (over 128 members or a member over 64
 *   bytes) keeps the sign, so its ZSCORE can answer "-0" where ours says "0".
 *   ZADD ... INCR replies the computed score (which can be "-0") in both. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/rc.h"
#include "node/cmd/node_cmd.h"
#include "node/data/node_db.h"
#include "node/data/node_obj.h"
#include "node/data/node_types.h"
#include "node/net/node_reply.h"

static node_zset_t *zset_of(const node_obj_t *o)
{
    return node_obj_ptr(o);
}

static void delete_if_empty(node_client_t *c, node_zset_t *z)
{
    if (node_zset_len(z) == 0)
        node_db_delete(c->db, c->argv[1].ptr, c->argv[1].len);
}

/* Redis's getDoubleFromObject: strtod over the whole argument, no leading
 * space, no overflow, no NaN. */
static int parse_double(const resp_arg_t *a, double *out)
{
    char *end;
    double v;

    if (a->len == 0 || isspace((unsigned char)a->ptr[0]))
        return -EINVAL;
    errno = 0;
    v = strtod(a->ptr, &end);
    if ((size_t)(end - a->ptr) != a->len ||
        (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return -EINVAL;
    *out = v;
    return 0;
}

enum zadd_flag_e {
    ZADD_NX = 1 << 0,
    ZADD_XX = 1 << 1,
    ZADD_GT = 1 << 2,
    ZADD_LT = 1 << 3,
    ZADD_INCR = 1 << 4,
    ZADD_CH = 1 << 5,
};

enum zadd_out_e {
    OUT_NOP = 1 << 0,
    OUT_ADDED = 1 << 1,
    OUT_UPDATED = 1 << 2,
};

/* Redis's zsetAdd. Returns -EDOM when an increment gives NaN. */
static int zset_add(node_zset_t *z, int flags, double score, const resp_arg_t *m, int *out,
                    double *newscore)
{
    double cur;

    *out = 0;
    if (node_zset_score(z, m->ptr, m->len, &cur)) {
        if (flags & ZADD_NX) {
            *out = OUT_NOP;
            return 0;
        }
        if (flags & ZADD_INCR) {
            score += cur;
            if (isnan(score))
                return -EDOM;
        }
        if (((flags & ZADD_LT) && score >= cur) || ((flags & ZADD_GT) && score <= cur)) {
            *out = OUT_NOP;
            return 0;
        }
        *newscore = score;
        if (score != cur) {
            node_zset_add(z, m->ptr, m->len, score == 0 ? 0.0 : score);
            *out = OUT_UPDATED;
        }
        return 0;
    }
    if (flags & ZADD_XX) {
        *out = OUT_NOP;
        return 0;
    }
    node_zset_add(z, m->ptr, m->len, score == 0 ? 0.0 : score); /* -0 stored as 0 */
    *newscore = score;
    *out = OUT_ADDED;
    return 0;
}

static void zadd_generic(node_client_t *c, int flags, int scoreidx)
{
    int elements = c->argc - scoreidx, err;
    long long added = 0, updated = 0, processed = 0;
    double *scores = NULL, score = 0;
    node_obj_t *o;
    node_zset_t *z;

    if (elements % 2 != 0 || elements == 0) {
        node_reply_syntax_error(c);
        return;
    }
    elements /= 2;
    if ((flags & ZADD_NX) && (flags & ZADD_XX)) {
        node_reply_error(c, "ERR XX and NX options at the same time are not compatible");
        return;
    }
    if (((flags & ZADD_GT) && (flags & ZADD_NX)) || ((flags & ZADD_LT) && (flags & ZADD_NX)) ||
        ((flags & ZADD_GT) && (flags & ZADD_LT))) {
        node_reply_error(c, "ERR GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if ((flags & ZADD_INCR) && elements > 1) {
        node_reply_error(c, "ERR INCR option supports a single increment-element pair");
        return;
    }
    scores = rc_xmalloc((size_t)elements * sizeof(*scores));
    for (int j = 0; j < elements; j++) {
        if (parse_double(&c->argv[scoreidx + j * 2], &scores[j]) != 0) {
            node_reply_not_float(c);
            goto done;
        }
    }
    o = node__lookup_typed(c, NODE_OBJ_ZSET, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        goto done;
    if (o == NULL) {
        if (flags & ZADD_XX)
            goto reply;
        o = node_db_ptr_create(c->db, c->argv[1].ptr, c->argv[1].len, NODE_OBJ_ZSET,
                               node_zset_create());
    }
    z = zset_of(o);
    for (int j = 0; j < elements; j++) {
        int out;
        double newscore = scores[j];

        if (zset_add(z, flags, scores[j], &c->argv[scoreidx + j * 2 + 1], &out, &newscore) != 0) {
            node_reply_error(c, "ERR resulting score is not a number (NaN)");
            goto done;
        }
        if (out & OUT_ADDED)
            added++;
        if (out & OUT_UPDATED)
            updated++;
        if (!(out & OUT_NOP))
            processed++;
        score = newscore;
    }
reply:
    if (flags & ZADD_INCR) {
        if (processed)
            node_reply_double(c, score);
        else
            node_reply_null(c);
    } else {
        node_reply_int(c, (flags & ZADD_CH) ? added + updated : added);
    }
done:
    rc_free(scores);
}

static void cmd_zadd(node_client_t *c)
{
    static const struct {
        const char *name;
        int flag;
    } opts[] = {{"nx", ZADD_NX},     {"xx", ZADD_XX}, {"ch", ZADD_CH},
                {"incr", ZADD_INCR}, {"gt", ZADD_GT}, {"lt", ZADD_LT}};
    int flags = 0, scoreidx = 2;

    while (scoreidx < c->argc) {
        size_t k;
        for (k = 0; k < RC_ARRAY_SIZE(opts); k++) {
            if (strcasecmp(c->argv[scoreidx].ptr, opts[k].name) == 0)
                break;
        }
        if (k == RC_ARRAY_SIZE(opts))
            break;
        flags |= opts[k].flag;
        scoreidx++;
    }
    zadd_generic(c, flags, scoreidx);
}

static void cmd_zincrby(node_client_t *c)
{
    zadd_generic(c, ZADD_INCR, 2);
}

static void reply_node(node_client_t *c, const node_zset_node_t *n, int withscores, int pair)
{
    size_t mlen;
    const char *m = node_zset_node_member(n, &mlen);

    if (pair)
        node_reply_array(c, 2);
    node_reply_bulk(c, m, mlen);
    if (withscores)
        node_reply_double(c, node_zset_node_score(n));
}

static void zpop_generic(node_client_t *c, int max)
{
    long long count = 1;
    node_obj_t *o;
    node_zset_t *z;
    size_t n;
    int err;

    if (c->argc > 3) {
        node_reply_syntax_error(c);
        return;
    }
    if (c->argc == 3) {
        if (node__get_positive_or_reply(c, 2, &count) != 0)
            return;
    }
    o = node__lookup_typed(c, NODE_OBJ_ZSET, NODE_LOOKUP_WRITE, &err);
    if (err != 0)
        return;
    if (o == NULL || count == 0) {
        node_reply_array(c, 0);
        return;
    }
    z = zset_of(o);
    n = (unsigned long long)count < node_zset_len(z) ? (size_t)count : node_zset_len(z);
    if (c->resp >= 3 && c->argc == 3)
        node_reply_array(c, (long)n);
    else
        node_reply_array(c, (long)n * 2);
    for (size_t i = 0; i < n; i++) {
        node_zset_node_t *nd = node_zset_at(z, max ? node_zset_len(z) - 1 : 0);
        size_t mlen;
        const char *m;

        reply_node(c, nd, 1, c->resp >= 3 && c->argc == 3);
        m = node_zset_node_member(nd, &mlen);
        node_zset_rem(z, m, mlen);
    }
    delete_if_empty(c, z);
}

static void cmd_zpopmin(node_client_t *c)
{
    zpop_generic(c, 0);
}

static void cmd_zpopmax(node_client_t *c)
{
    zpop_generic(c, 1);
}

static void cmd_zcard(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_ZSET, 0, &err);

    if (err != 0)
        return;
    node_reply_int(c, o == NULL ? 0 : (long long)node_zset_len(zset_of(o)));
}

static void cmd_zscore(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_ZSET, 0, &err);
    double score;

    if (err != 0)
        return;
    if (o == NULL || !node_zset_score(zset_of(o), c->argv[2].ptr, c->argv[2].len, &score))
        node_reply_null(c);
    else
        node_reply_double(c, score);
}

static void rank_generic(node_client_t *c, int rev)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_ZSET, 0, &err);
    long long rank;

    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_null(c);
        return;
    }
    rank = node_zset_rank(zset_of(o), c->argv[2].ptr, c->argv[2].len);
    if (rank < 0)
        node_reply_null(c);
    else
        node_reply_int(c, rev ? (long long)node_zset_len(zset_of(o)) - 1 - rank : rank);
}

static void cmd_zrank(node_client_t *c)
{
    rank_generic(c, 0);
}

static void cmd_zrevrank(node_client_t *c)
{
    rank_generic(c, 1);
}

static void cmd_zrem(node_client_t *c)
{
    int err;
    node_obj_t *o = node__lookup_typed(c, NODE_OBJ_ZSET, NODE_LOOKUP_WRITE, &err);
    long long removed = 0;

    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_int(c, 0);
        return;
    }
    for (int i = 2; i < c->argc; i++) {
        removed += node_zset_rem(zset_of(o), c->argv[i].ptr, c->argv[i].len);
        if (node_zset_len(zset_of(o)) == 0)
            break;
    }
    delete_if_empty(c, zset_of(o));
    node_reply_int(c, removed);
}

typedef struct zrange_spec_s {
    double min, max;
    int minex, maxex;
} zrange_spec_t;

/* Redis's zslParseRange: "(" makes a bound exclusive; the rest goes to
 * strtod as a C string and must be consumed up to its NUL. */
static int parse_bound(const char *s, double *v, int *ex)
{
    char *end;

    *ex = s[0] == '(';
    if (*ex)
        s++;
    *v = strtod(s, &end);
    if (end[0] != '\0' || isnan(*v))
        return -EINVAL;
    return 0;
}

static int parse_range(const resp_arg_t *min, const resp_arg_t *max, zrange_spec_t *r)
{
    if (parse_bound(min->ptr, &r->min, &r->minex) != 0 ||
        parse_bound(max->ptr, &r->max, &r->maxex) != 0)
        return -EINVAL;
    return 0;
}

static int gte_min(double v, const zrange_spec_t *r)
{
    return r->minex ? v > r->min : v >= r->min;
}

static int lte_max(double v, const zrange_spec_t *r)
{
    return r->maxex ? v < r->max : v <= r->max;
}

static void cmd_zcount(node_client_t *c)
{
    zrange_spec_t r = {0, 0, 0, 0};
    node_obj_t *o;
    node_zset_t *z;
    size_t lo, hi;
    int err;

    if (parse_range(&c->argv[2], &c->argv[3], &r) != 0) {
        node_reply_error(c, "ERR min or max is not a float");
        return;
    }
    o = node__lookup_typed(c, NODE_OBJ_ZSET, 0, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_int(c, 0);
        return;
    }
    z = zset_of(o);
    lo = node_zset_count_below(z, r.min, r.minex);
    hi = node_zset_count_below(z, r.max, !r.maxex);
    node_reply_int(c, hi > lo ? (long long)(hi - lo) : 0);
}

static void zrange_rank(node_client_t *c, node_zset_t *z, long long start, long long end, int rev,
                        int withscores)
{
    long long llen = (long long)node_zset_len(z);
    node_zset_node_t *n;
    int pair = withscores && c->resp >= 3;

    if (start < 0)
        start = llen + start;
    if (end < 0)
        end = llen + end;
    if (start < 0)
        start = 0;
    if (start > end || start >= llen) {
        node_reply_array(c, 0);
        return;
    }
    if (end >= llen)
        end = llen - 1;
    node_reply_array(c, (long)((end - start + 1) * (withscores && !pair ? 2 : 1)));
    n = node_zset_at(z, (size_t)(rev ? llen - 1 - start : start));
    for (long long i = start; i <= end; i++) {
        reply_node(c, n, withscores, pair);
        n = rev ? node_zset_prev(n) : node_zset_next(n);
    }
}

static void zrange_score(node_client_t *c, node_zset_t *z, const zrange_spec_t *r, int rev,
                         int withscores, long long offset, long long limit)
{
    int pair = withscores && c->resp >= 3;
    node_zset_node_t *n = NULL;
    size_t first;
    long emitted = 0;
    void *len;

    if (offset > 0 && (unsigned long long)offset >= node_zset_len(z)) {
        node_reply_array(c, 0);
        return;
    }
    if (rev) {
        first = node_zset_count_below(z, r->max, !r->maxex);
        if (first > 0)
            n = node_zset_at(z, first - 1);
    } else {
        first = node_zset_count_below(z, r->min, r->minex);
        if (first < node_zset_len(z))
            n = node_zset_at(z, first);
    }
    if (offset < 0)
        n = NULL; /* Redis walks off the end: an empty reply */
    while (n != NULL && offset-- > 0)
        n = rev ? node_zset_prev(n) : node_zset_next(n);
    len = node_reply_defer_array(c);
    while (n != NULL && limit-- != 0) {
        double v = node_zset_node_score(n);
        if (rev ? !gte_min(v, r) : !lte_max(v, r))
            break;
        reply_node(c, n, withscores, pair);
        emitted++;
        n = rev ? node_zset_prev(n) : node_zset_next(n);
    }
    node_reply_set_deferred_array(c, len, emitted * (withscores && !pair ? 2 : 1));
}

/* A ZRANGE ... BYLEX bound: '-' (below all), '+' (above all), '[x' or '(x'. */
typedef struct lex_bound_s {
    int kind; /* -1: '-', 1: '+', 0: a string */
    int ex;
    const char *p;
    size_t len;
} lex_bound_t;

typedef struct lex_range_s {
    lex_bound_t min, max;
} lex_range_t;

static int parse_lex(const resp_arg_t *a, lex_bound_t *b)
{
    b->kind = 0;
    b->ex = 0;
    b->p = a->ptr + 1;
    b->len = a->len > 0 ? a->len - 1 : 0;
    if (a->len == 1 && a->ptr[0] == '+')
        b->kind = 1;
    else if (a->len == 1 && a->ptr[0] == '-')
        b->kind = -1;
    else if (a->len >= 1 && a->ptr[0] == '(')
        b->ex = 1;
    else if (a->len < 1 || a->ptr[0] != '[')
        return -EINVAL;
    return 0;
}

/* Compares a member with a bound: <0, 0, >0. */
static int lex_cmp(const char *m, size_t mlen, const lex_bound_t *b)
{
    size_t n = mlen < b->len ? mlen : b->len;
    int r;

    if (b->kind != 0)
        return -b->kind;
    r = memcmp(m, b->p, n);
    if (r != 0 || mlen == b->len)
        return r;
    return mlen < b->len ? -1 : 1;
}

static int lex_gte_min(const char *m, size_t mlen, const lex_range_t *r)
{
    int c = lex_cmp(m, mlen, &r->min);

    return r->min.ex ? c > 0 : c >= 0;
}

static int lex_lte_max(const char *m, size_t mlen, const lex_range_t *r)
{
    int c = lex_cmp(m, mlen, &r->max);

    return r->max.ex ? c < 0 : c <= 0;
}

static int pred_below_min(void *priv, const char *m, size_t mlen)
{
    return !lex_gte_min(m, mlen, priv);
}

static int pred_lte_max(void *priv, const char *m, size_t mlen)
{
    return lex_lte_max(m, mlen, priv);
}

/* Redis's empty-lex-range test: min above max, or equal with an exclusion. */
static int lex_range_empty(const lex_range_t *r)
{
    int c;

    if (r->min.kind == 1 || r->max.kind == -1 || (r->min.kind != 0 && r->min.kind == r->max.kind))
        return 1;
    if (r->min.kind == -1 || r->max.kind == 1)
        return 0;
    c = lex_cmp(r->min.p, r->min.len, &r->max);
    return c > 0 || (c == 0 && (r->min.ex || r->max.ex));
}

static void zrange_lex(node_client_t *c, node_zset_t *z, const lex_range_t *r, int rev,
                       long long offset, long long limit)
{
    node_zset_node_t *n = NULL;
    size_t first, mlen;
    const char *m;
    long emitted = 0;
    void *len;

    if (lex_range_empty(r) || offset < 0 ||
        (offset > 0 && (unsigned long long)offset >= node_zset_len(z))) {
        node_reply_array(c, 0);
        return;
    }
    if (rev) {
        first = node_zset_count_while(z, pred_lte_max, (void *)r);
        if (first > 0)
            n = node_zset_at(z, first - 1);
    } else {
        first = node_zset_count_while(z, pred_below_min, (void *)r);
        if (first < node_zset_len(z))
            n = node_zset_at(z, first);
    }
    while (n != NULL && offset-- > 0)
        n = rev ? node_zset_prev(n) : node_zset_next(n);
    len = node_reply_defer_array(c);
    while (n != NULL && limit-- != 0) {
        m = node_zset_node_member(n, &mlen);
        if (rev ? !lex_gte_min(m, mlen, r) : !lex_lte_max(m, mlen, r))
            break;
        node_reply_bulk(c, m, mlen);
        emitted++;
        n = rev ? node_zset_prev(n) : node_zset_next(n);
    }
    node_reply_set_deferred_array(c, len, emitted);
}

static void cmd_zrange(node_client_t *c)
{
    int withscores = 0, rev = 0, byscore = 0, bylex = 0, minidx = 2, maxidx = 3, err;
    long long offset = 0, limit = -1, start = 0, end = 0;
    zrange_spec_t r = {0, 0, 0, 0};
    lex_range_t lex;
    node_obj_t *o;

    memset(&lex, 0, sizeof(lex));
    for (int j = 4; j < c->argc; j++) {
        int left = c->argc - j - 1;
        const char *opt = c->argv[j].ptr;

        if (strcasecmp(opt, "withscores") == 0) {
            withscores = 1;
        } else if (strcasecmp(opt, "limit") == 0 && left >= 2) {
            if (node__get_ll_or_reply(c, j + 1, &offset) != 0 ||
                node__get_ll_or_reply(c, j + 2, &limit) != 0)
                return;
            j += 2;
        } else if (!rev && strcasecmp(opt, "rev") == 0) {
            rev = 1;
        } else if (!byscore && !bylex && strcasecmp(opt, "bylex") == 0) {
            bylex = 1;
        } else if (!byscore && !bylex && strcasecmp(opt, "byscore") == 0) {
            byscore = 1;
        } else {
            node_reply_syntax_error(c);
            return;
        }
    }
    if (limit != -1 && !byscore && !bylex) {
        node_reply_error(c, "ERR syntax error, LIMIT is only supported in combination with "
                            "either BYSCORE or BYLEX");
        return;
    }
    if (withscores && bylex) {
        node_reply_error(c, "ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    if (rev && (byscore || bylex)) {
        minidx = 3;
        maxidx = 2;
    }
    if (bylex) {
        if (parse_lex(&c->argv[minidx], &lex.min) != 0 ||
            parse_lex(&c->argv[maxidx], &lex.max) != 0) {
            node_reply_error(c, "ERR min or max not valid string range item");
            return;
        }
    } else if (byscore) {
        if (parse_range(&c->argv[minidx], &c->argv[maxidx], &r) != 0) {
            node_reply_error(c, "ERR min or max is not a float");
            return;
        }
    } else if (node__get_ll_or_reply(c, minidx, &start) != 0 ||
               node__get_ll_or_reply(c, maxidx, &end) != 0) {
        return;
    }
    o = node__lookup_typed(c, NODE_OBJ_ZSET, 0, &err);
    if (err != 0)
        return;
    if (o == NULL) {
        node_reply_array(c, 0);
        return;
    }
    if (bylex)
        zrange_lex(c, zset_of(o), &lex, rev, offset, limit);
    else if (byscore)
        zrange_score(c, zset_of(o), &r, rev, withscores, offset, limit);
    else
        zrange_rank(c, zset_of(o), start, end, rev, withscores);
}

#define W NODE_CMD_WRITE
#define R NODE_CMD_READONLY
#define F NODE_CMD_FAST
#define P NODE_CMD_REPLAY
#define M NODE_CMD_DENYOOM

const node_cmd_t node_cmds_zset[] = {
    {"zadd", cmd_zadd, -4, W | M | F | P, 1, 1, 1, "sorted_set",
     "Add one or more members to a sorted set, or update its score if it already exists"},
    {"zincrby", cmd_zincrby, 4, W | M | F | P, 1, 1, 1, "sorted_set",
     "Increment the score of a member in a sorted set"},
    {"zpopmin", cmd_zpopmin, -2, W | F | P, 1, 1, 1, "sorted_set",
     "Remove and return members with the lowest scores in a sorted set"},
    {"zpopmax", cmd_zpopmax, -2, W | F | P, 1, 1, 1, "sorted_set",
     "Remove and return members with the highest scores in a sorted set"},
    {"zcard", cmd_zcard, 2, R | F, 1, 1, 1, "sorted_set",
     "Get the number of members in a sorted set"},
    {"zscore", cmd_zscore, 3, R | F, 1, 1, 1, "sorted_set",
     "Get the score associated with the given member in a sorted set"},
    {"zrank", cmd_zrank, 3, R | F, 1, 1, 1, "sorted_set",
     "Determine the index of a member in a sorted set"},
    {"zrevrank", cmd_zrevrank, 3, R | F, 1, 1, 1, "sorted_set",
     "Determine the index of a member in a sorted set, with scores ordered from high to low"},
    {"zrem", cmd_zrem, -3, W | F | P, 1, 1, 1, "sorted_set",
     "Remove one or more members from a sorted set"},
    {"zrange", cmd_zrange, -4, R, 1, 1, 1, "sorted_set",
     "Return a range of members in a sorted set"},
    {"zcount", cmd_zcount, 4, R | F, 1, 1, 1, "sorted_set",
     "Count the members in a sorted set with scores within the given values"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
