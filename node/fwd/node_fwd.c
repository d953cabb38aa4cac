/* node/fwd/node_fwd.c: forwarding to the owner of a key. Requests travel on
 * the bus's data links (node_link_t, pooled per member, incarnation and
 * RESP version) and are pipelined: appended to the link's output as RESP
 * arrays, written once per loop iteration in one BATCH frame; replies are
 * delimited with the resumable RESP scanner and matched in FIFO order to
 * the waiting requests. The one rule: every request queued on a link gets
 * exactly one reply, the peer's or a TRYAGAIN error when the link fails or
 * times out.
 *
 *   client conn --node_fwd_command--> node_link (BATCH) --> peer
 *        ^ node_conn_seg_complete
 *        '------- fl->q (FIFO) <-- scan <-- on_data <-- node_link
 */
#include "node/fwd/node_fwd.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "common/rc.h"
#include "node/bus/node_bus.h"
#include "node/cluster/node_cluster.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"
#include "resp/resp_scan.h"
#include "resp/resp_write.h"

enum {
    NO_PART = UINT32_MAX, /* a pend_t for a whole request, not a split part */
    ERR_MAX = 256,
};

typedef struct pend_s {
    node_conn_seg_t *seg;
    uint32_t part; /* split part, or NO_PART */
    int64_t t_ms;  /* queued at */
} pend_t;

typedef struct flink_s flink_t;

/* The forwarder's side of one data link: the requests waiting for their
 * replies, in order. */
struct flink_s {
    node_fwd_t *fwd;
    flink_t *next;
    node_link_t *link;
    uint64_t member_id;
    uint64_t incarnation;
    int resp;
    char addr[NODE_CLUSTER_ADDR_MAX + 8]; /* the member's client address, for errors */
    resp_scanner_t sc;
    pend_t *q; /* ring of waiting requests */
    size_t qcap, qhead, qlen;
    int gone; /* its member left: dropped once its requests are answered */
};

struct node_fwd_s {
    node_server_t *server;
    node_cluster_t *cl;
    node_bus_t *bus;
    uv_timer_t timer;
    flink_t *links;
    flink_t **bymember; /* [2 * nbymember]: link per member index and RESP 2/3 */
    size_t nbymember;
    int shut;
    int timing_out; /* on_tick() closes a link for a late reply */
    uint64_t errors[NODE_FWD_ERR_COUNT];
};

/* A split request in flight: the replies of its parts, gathered when the
 * last one arrives. One allocation holds it all. */
typedef struct gather_s {
    node_fwd_merge_t kind;
    uint32_t nkeys, nparts, nleft;
    uint32_t held;           /* the local part, until released; or NO_PART */
    uint32_t *part_of;       /* [nkeys] */
    uint32_t *index_in_part; /* [nkeys] */
    char **replies;          /* [nparts] */
    size_t *lens;            /* [nparts] */
} gather_t;

/* ---- merge (pure) ---- */

static void out_append(node_conn_seg_t *out, const char *p, size_t len)
{
    node_conn_seg_append(out, p, len);
}

/* Appends "<prefix><v>\r\n". */
static void out_header(node_conn_seg_t *out, char prefix, long long v)
{
    char tmp[RESP_HEADER_MAX];

    out_append(out, tmp, resp_write_header(tmp, prefix, v));
}

static int is_error(const char *reply, size_t len)
{
    return len > 0 && (reply[0] == '-' || reply[0] == '!');
}

static int malformed(node_conn_seg_t *out)
{
    static const char msg[] = "-ERR forwarding: unexpected reply from a peer\r\n";

    out_append(out, msg, sizeof(msg) - 1);
    return RC_EPROTO;
}

static int merge_mget(size_t nkeys, const uint32_t *part_of, const uint32_t *index_in_part,
                      size_t nparts, const char *const *replies, const size_t *lens,
                      node_conn_seg_t *out)
{
    size_t *base = rc_xcalloc(nparts + 1, sizeof(*base));
    size_t *count = rc_xcalloc(nparts + 1, sizeof(*count));
    size_t *off = rc_xmalloc((nkeys + 1) * sizeof(*off));
    size_t *elen = rc_xmalloc((nkeys + 1) * sizeof(*elen));
    size_t p, k, total = 0;
    int err = 0;

    for (k = 0; k < nkeys && err == 0; k++) {
        if (part_of[k] >= nparts)
            err = RC_EPROTO;
        else
            count[part_of[k]]++;
    }
    for (p = 0; p < nparts && err == 0; p++) {
        size_t first, pos;
        long n = resp_scan_aggregate(replies[p], lens[p], &first);
        long j;

        base[p] = total;
        if (n < 0 || (size_t)n != count[p]) {
            err = RC_EPROTO;
            break;
        }
        pos = first;
        for (j = 0; j < n; j++) {
            ssize_t l = resp_scan(replies[p] + pos, lens[p] - pos);

            if (l <= 0) {
                err = RC_EPROTO;
                break;
            }
            off[total] = pos;
            elen[total] = (size_t)l;
            total++;
            pos += (size_t)l;
        }
    }
    for (k = 0; k < nkeys && err == 0; k++) {
        if (index_in_part[k] >= count[part_of[k]])
            err = RC_EPROTO;
    }
    if (err == 0) {
        out_header(out, '*', (long long)nkeys);
        for (k = 0; k < nkeys; k++) {
            size_t e = base[part_of[k]] + index_in_part[k];

            out_append(out, replies[part_of[k]] + off[e], elen[e]);
        }
    }
    rc_free(base);
    rc_free(count);
    rc_free(off);
    rc_free(elen);
    return err == 0 ? 0 : malformed(out);
}

int node_fwd_merge(node_fwd_merge_t kind, size_t nkeys, const uint32_t *part_of,
                   const uint32_t *index_in_part, size_t nparts, const char *const *replies,
                   const size_t *lens, node_conn_seg_t *out)
{
    long long sum = 0;
    size_t p;

    for (p = 0; p < nparts; p++) {
        if (is_error(replies[p], lens[p])) {
            out_append(out, replies[p], lens[p]);
            return 0;
        }
    }
    switch (kind) {
    case NODE_FWD_MGET:
        return merge_mget(nkeys, part_of, index_in_part, nparts, replies, lens, out);
    case NODE_FWD_MSET:
        for (p = 0; p < nparts; p++) {
            if (lens[p] != 5 || memcmp(replies[p], "+OK\r\n", 5) != 0)
                return malformed(out);
        }
        out_append(out, "+OK\r\n", 5);
        return 0;
    case NODE_FWD_SUM:
        for (p = 0; p < nparts; p++) {
            long long v;

            if (resp_scan_integer(replies[p], lens[p], &v) != 0)
                return malformed(out);
            sum += v;
        }
        out_header(out, ':', sum);
        return 0;
    }
    return malformed(out);
}

/* ---- replies to waiting requests ---- */

static void gather_finish(node_fwd_t *fwd, node_conn_seg_t *seg)
{
    gather_t *g = seg->gather;

    seg->gather = NULL;
    if (seg->conn != NULL)
        (void)node_fwd_merge(g->kind, g->nkeys, g->part_of, g->index_in_part, g->nparts,
                             (const char *const *)g->replies, g->lens, seg);
    (void)fwd;
    for (uint32_t p = 0; p < g->nparts; p++)
        rc_free(g->replies[p]);
    rc_free(g->replies);
    rc_free(g->lens);
    rc_free(g);
    node_conn_seg_complete(seg, NULL, 0);
}

/* Delivers 'reply' to the request 'pd' ('error' 1: a local error). */
static void deliver(node_fwd_t *fwd, const pend_t *pd, const char *reply, size_t len, int error)
{
    node_conn_seg_t *seg = pd->seg;
    gather_t *g = seg->gather;

    node_cluster_count_forward(fwd->cl, error);
    if (pd->part == NO_PART) {
        node_conn_seg_complete(seg, reply, len);
        return;
    }
    RC_ASSERT(g != NULL && pd->part < g->nparts && g->nleft > 0);
    g->replies[pd->part] = rc_xmemdup(reply, len);
    g->lens[pd->part] = len;
    if (--g->nleft == 0)
        gather_finish(fwd, seg);
}

static size_t format_error(char *buf, const char *addr, const char *reason)
{
    int n = snprintf(buf, ERR_MAX, "-TRYAGAIN forwarding to %s failed: %s", addr, reason);
    size_t len = n < 0 ? 0 : (size_t)n >= ERR_MAX - 2 ? ERR_MAX - 3 : (size_t)n;
    size_t i;

    for (i = 1; i < len; i++) {
        if (buf[i] == '\r' || buf[i] == '\n')
            buf[i] = ' ';
    }
    buf[len++] = '\r';
    buf[len++] = '\n';
    return len;
}

/* ---- links ---- */

/* Appends the request argv[0..argc) to the link's batch as a RESP array. */
static void append_request(flink_t *fl, int argc, const resp_arg_t *const *argv)
{
    size_t need = RESP_HEADER_MAX, n;
    char *p;
    int i;

    for (i = 0; i < argc; i++)
        need += argv[i]->len + RESP_HEADER_MAX + 2;
    p = node_link_reserve(fl->link, need);
    n = resp_write_header(p, '*', argc);
    for (i = 0; i < argc; i++) {
        n += resp_write_header(p + n, '$', (long long)argv[i]->len);
        memcpy(p + n, argv[i]->ptr, argv[i]->len);
        n += argv[i]->len;
        p[n++] = '\r';
        p[n++] = '\n';
    }
    node_link_commit(fl->link, n);
}

static pend_t *q_head(flink_t *fl)
{
    return &fl->q[fl->qhead];
}

static void q_pop(flink_t *fl)
{
    fl->qhead = (fl->qhead + 1) & (fl->qcap - 1);
    fl->qlen--;
}

static void q_push(flink_t *fl, node_conn_seg_t *seg, uint32_t part, int64_t now)
{
    pend_t *pd;

    if (fl->qlen == fl->qcap) {
        size_t cap = fl->qcap == 0 ? 64 : fl->qcap * 2, i;
        pend_t *q = rc_xmalloc(cap * sizeof(*q));

        for (i = 0; i < fl->qlen; i++)
            q[i] = fl->q[(fl->qhead + i) & (fl->qcap - 1)];
        rc_free(fl->q);
        fl->q = q;
        fl->qcap = cap;
        fl->qhead = 0;
    }
    pd = &fl->q[(fl->qhead + fl->qlen) & (fl->qcap - 1)];
    pd->seg = seg;
    pd->part = part;
    pd->t_ms = now;
    fl->qlen++;
}

/* Replies from the peer: each complete one answers the oldest request. */
static ssize_t on_link_data(void *arg, node_link_t *l, const char *data, size_t len)
{
    flink_t *fl = arg;
    size_t pos = 0;

    /* Completing a reply may run more of that client's commands, which may
     * queue more requests here or fail the link: check every round. */
    while (pos < len && node_link_is_open(l)) {
        ssize_t n = resp_scanner_scan(&fl->sc, data + pos, len - pos);
        pend_t pd;

        if (n == 0)
            break;
        if (n < 0)
            return RC_EPROTO;
        if (fl->qlen == 0)
            return RC_EPROTO; /* a reply without a request */
        pd = *q_head(fl);
        q_pop(fl);
        deliver(fl->fwd, &pd, data + pos, (size_t)n, 0);
        pos += (size_t)n;
    }
    return (ssize_t)pos;
}

/* Counts one local error reply of reason 'why' (a link_get() reason). */
static void count_error(node_fwd_t *fwd, const char *why)
{
    node_fwd_error_t e = NODE_FWD_ERR_LINK_DOWN;

    if (fwd == NULL)
        return;
    if (fwd->shut || strcmp(why, "shutting down") == 0)
        e = NODE_FWD_ERR_SHUTDOWN;
    else if (strcmp(why, "no such member") == 0 || strcmp(why, "bad bus address") == 0)
        e = NODE_FWD_ERR_NO_ROUTE;
    else if (strcmp(why, "too many requests in flight") == 0)
        e = NODE_FWD_ERR_OVERLOAD;
    fwd->errors[e]++;
}

const char *node_fwd_error_name(node_fwd_error_t e)
{
    static const char *const names[NODE_FWD_ERR_COUNT] = {"timeout", "link_down", "no_route",
                                                          "overload", "shutdown"};

    return (unsigned)e < NODE_FWD_ERR_COUNT ? names[e] : "unknown";
}

void node_fwd_errors(const node_fwd_t *fwd, uint64_t out[NODE_FWD_ERR_COUNT])
{
    for (int i = 0; i < NODE_FWD_ERR_COUNT; i++)
        out[i] = fwd != NULL ? fwd->errors[i] : 0;
}

/* The link failed: every request waiting on it gets a TRYAGAIN error. */
static void on_link_fail(void *arg, node_link_t *l, const char *reason)
{
    flink_t *fl = arg;
    char err[ERR_MAX];
    size_t elen = format_error(err, fl->addr, reason);
    node_fwd_error_t e = fl->fwd->timing_out ? NODE_FWD_ERR_TIMEOUT
                         : fl->fwd->shut     ? NODE_FWD_ERR_SHUTDOWN
                                             : NODE_FWD_ERR_LINK_DOWN;

    (void)l;
    rc_log(RC_LOG_VERBOSE, "data link to %s failed: %s (%zu requests pending)", fl->addr, reason,
           fl->qlen);
    resp_scanner_init(&fl->sc);
    while (fl->qlen > 0) {
        pend_t pd = *q_head(fl);

        q_pop(fl);
        fl->fwd->errors[e]++;
        deliver(fl->fwd, &pd, err, elen, 1);
    }
}

static const node_link_ops_t link_ops = {NULL, NULL, on_link_data, on_link_fail, NULL};

static void cache_put(node_fwd_t *fwd, int idx, int resp, flink_t *fl)
{
    if ((size_t)idx >= fwd->nbymember) {
        size_t n = (size_t)idx + 8;

        fwd->bymember = rc_xrealloc(fwd->bymember, 2 * n * sizeof(*fwd->bymember));
        memset(fwd->bymember + 2 * fwd->nbymember, 0,
               2 * (n - fwd->nbymember) * sizeof(*fwd->bymember));
        fwd->nbymember = n;
    }
    fwd->bymember[2 * (size_t)idx + (resp == 3)] = fl;
}

/* Forgets the cached links (member indexes change with the configuration). */
static void cache_clear(node_fwd_t *fwd)
{
    if (fwd->nbymember > 0)
        memset(fwd->bymember, 0, 2 * fwd->nbymember * sizeof(*fwd->bymember));
}

/* Closes 'fl' for good: its requests fail, the bus forgets the link. */
static void flink_drop(flink_t *fl, const char *reason)
{
    node_fwd_t *fwd = fl->fwd;
    flink_t **pp;

    for (pp = &fwd->links; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == fl) {
            *pp = fl->next;
            break;
        }
    }
    for (size_t i = 0; i < 2 * fwd->nbymember; i++) {
        if (fwd->bymember[i] == fl)
            fwd->bymember[i] = NULL;
    }
    node_link_close(fl->link, reason, 1); /* on_link_fail() fails the requests */
    if (fl->qlen > 0)
        on_link_fail(fl, fl->link, reason); /* a link that never connected */
    rc_free(fl->q);
    rc_free(fl);
}

/* The link to member 'idx' for RESP 'resp', ready for requests, or NULL
 * with the reason in 'why' and the member's address in 'addr'. */
static flink_t *link_get(node_fwd_t *fwd, int idx, int resp, char *addr, size_t addrsize,
                         const char **why)
{
    node_cluster_member_t m;
    node_link_opts_t o;
    char bus_addr[NODE_CLUSTER_ADDR_MAX + 8];
    flink_t *fl = NULL;

    if (idx >= 0 && (size_t)idx < fwd->nbymember)
        fl = fwd->bymember[2 * (size_t)idx + (resp == 3)];
    if (fl == NULL) {
        snprintf(addr, addrsize, "member %d", idx);
        if (fwd->shut) {
            *why = "shutting down";
            return NULL;
        }
        if (node_cluster_member(fwd->cl, idx, &m) != 0) {
            *why = "no such member";
            return NULL;
        }
        snprintf(addr, addrsize, "%s:%d", m.host, m.port);
        for (fl = fwd->links; fl != NULL; fl = fl->next) {
            if (fl->member_id == m.id && fl->incarnation == m.incarnation && fl->resp == resp)
                break;
        }
        if (fl == NULL) {
            node_link_t *l;

            memset(&o, 0, sizeof(o));
            o.role = NODE_BUS_ROLE_DATA;
            o.resp = resp;
            o.peer_id = m.id;
            o.peer_incarnation = m.incarnation;
            o.name = addr;
            o.backoff_min_ms = NODE_FWD_BACKOFF_MIN_MS;
            o.backoff_max_ms = NODE_FWD_BACKOFF_MAX_MS;
            o.handshake_ms = NODE_FWD_MIN_TIMEOUT_MS;
            snprintf(bus_addr, sizeof(bus_addr), strchr(m.host, ':') ? "[%s]:%d" : "%s:%d", m.host,
                     m.bus_port);
            fl = rc_xcalloc(1, sizeof(*fl));
            l = node_link_get(fwd->bus, bus_addr, &o, &link_ops, fl);
            if (l == NULL) {
                rc_free(fl);
                *why = "bad bus address";
                return NULL;
            }
            fl->fwd = fwd;
            fl->link = l;
            fl->member_id = m.id;
            fl->incarnation = m.incarnation;
            fl->resp = resp;
            snprintf(fl->addr, sizeof(fl->addr), "%s", addr);
            resp_scanner_init(&fl->sc);
            fl->next = fwd->links;
            fwd->links = fl;
        }
        cache_put(fwd, idx, resp, fl);
    } else {
        snprintf(addr, addrsize, "%s", fl->addr);
    }
    if (node_link_ready(fl->link, why) != 0)
        return NULL;
    return fl;
}

/* Queues argv[0..argc) on 'fl' for 'seg' (part 'part'). Returns 0, or
 * -ENOBUFS when the link is full. */
static int link_send(flink_t *fl, int argc, const resp_arg_t *const *argv, node_conn_seg_t *seg,
                     uint32_t part)
{
    if (fl->qlen >= NODE_FWD_LINK_MAX_PENDING || node_link_queued(fl->link) > NODE_FWD_LINK_MAX_OUT)
        return -ENOBUFS;
    append_request(fl, argc, argv);
    q_push(fl, seg, part, fl->fwd->server->now_ms);
    return 0;
}

/* ---- the forwarder ---- */

static void on_tick(uv_timer_t *timer)
{
    node_fwd_t *fwd = timer->data;
    int64_t timeout = node_cluster_node_timeout(fwd->cl), limit = 2 * timeout, now;
    int64_t repl = fwd->server->config.cluster_repl_timeout;
    flink_t *fl, *next;

    node_server_update_time(fwd->server);
    now = fwd->server->now_ms;
    /* A write's owner answers within cluster-repl-timeout of applying it
     * (its replicas applied it, or -TRYAGAIN): a forward waits that, and a
     * node timeout more, before it gives the link up (and every request
     * in flight on it). */
    if (limit < repl + timeout)
        limit = repl + timeout;
    if (limit < NODE_FWD_MIN_TIMEOUT_MS)
        limit = NODE_FWD_MIN_TIMEOUT_MS;
    for (fl = fwd->links; fl != NULL; fl = next) {
        next = fl->next;
        /* A later reply would land on the wrong request: fail the link.
         * Counted from the request's queueing and from the link's last
         * bytes in or out, whichever is later: a big request (or reply)
         * may take longer than the limit to pass while it is moving. */
        if (fl->qlen > 0 && now - q_head(fl)->t_ms > limit &&
            node_link_still_ms(fl->link) > limit) {
            fwd->timing_out = 1;
            node_link_close(fl->link, "timed out", 0);
            fwd->timing_out = 0;
        }
        if (fl->gone && fl->qlen == 0)
            flink_drop(fl, "member left the cluster");
    }
}

static int member_present(const node_cluster_member_t *ms, size_t n, const flink_t *fl)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (ms[i].id == fl->member_id && ms[i].incarnation == fl->incarnation)
            return 1;
    }
    return 0;
}

static void on_config(void *arg)
{
    node_fwd_t *fwd = arg;
    node_cluster_member_t *ms;
    size_t n, cap;
    flink_t *fl, *next;

    if (fwd->shut)
        return;
    cache_clear(fwd);
    cap = node_cluster_members(fwd->cl, NULL, 0);
    ms = rc_xcalloc(cap + 1, sizeof(*ms));
    n = node_cluster_members(fwd->cl, ms, cap);
    if (n > cap)
        n = cap;
    for (fl = fwd->links; fl != NULL; fl = next) {
        next = fl->next;
        /* A leaver still answers what was sent to it before it left
         * (it hands its slots over, then passes late requests on): its
         * link goes once they are answered (on_tick). */
        fl->gone = !member_present(ms, n, fl);
        if (fl->gone && fl->qlen == 0)
            flink_drop(fl, "member left the cluster");
    }
    rc_free(ms);
}

static int on_shutdown(void *arg)
{
    node_fwd_t *fwd = arg;

    if (fwd->shut)
        return 0;
    fwd->shut = 1;
    while (fwd->links != NULL)
        flink_drop(fwd->links, "shutting down");
    uv_close((uv_handle_t *)&fwd->timer, NULL);
    return 0;
}

static void on_cluster_close(void *arg)
{
    (void)on_shutdown(arg);
}

static const node_cluster_observer_t cluster_observer = {on_config, NULL, on_cluster_close};

node_fwd_t *node_fwd_create(node_server_t *server, node_cluster_t *cl)
{
    node_fwd_t *fwd = rc_xcalloc(1, sizeof(*fwd));

    fwd->server = server;
    fwd->cl = cl;
    fwd->bus = node_cluster_bus(cl);
    uv_timer_init(server->loop, &fwd->timer);
    fwd->timer.data = fwd;
    uv_timer_start(&fwd->timer, on_tick, NODE_FWD_TICK_MS, NODE_FWD_TICK_MS);
    node_cluster_observe(cl, &cluster_observer, fwd);
    node_server_on_shutdown(server, on_shutdown, fwd);
    return fwd;
}

void node_fwd_destroy(node_fwd_t *fwd)
{
    if (fwd == NULL)
        return;
    RC_ASSERT(fwd->links == NULL);
    rc_free(fwd->bymember);
    rc_free(fwd);
}

/* ---- forwarding ---- */

enum {
    SMALL_ARGS = 64,
};

void node_fwd_command(node_fwd_t *fwd, node_client_t *c, int idx)
{
    resp_arg_t *small[SMALL_ARGS], **argv = small;
    char addr[NODE_CLUSTER_ADDR_MAX + 16], err[ERR_MAX];
    const char *why = "no forwarder";
    flink_t *l = NULL;
    node_conn_seg_t *seg;
    int i;

    if (fwd != NULL)
        l = link_get(fwd, idx, c->resp >= 3 ? 3 : 2, addr, sizeof(addr), &why);
    else
        snprintf(addr, sizeof(addr), "member %d", idx);
    if (l == NULL) {
        size_t n = format_error(err, addr, why);

        if (fwd != NULL)
            node_cluster_count_forward(fwd->cl, 1);
        count_error(fwd, why);
        node_reply_raw(c, err, n);
        return;
    }
    if (c->argc > SMALL_ARGS)
        argv = rc_xmalloc((size_t)c->argc * sizeof(*argv));
    for (i = 0; i < c->argc; i++)
        argv[i] = &c->argv[i];
    seg = node_conn_seg_push(c->conn);
    if (link_send(l, c->argc, (const resp_arg_t *const *)argv, seg, NO_PART) != 0) {
        size_t n = format_error(err, l->addr, "too many requests in flight");

        node_cluster_count_forward(fwd->cl, 1);
        fwd->errors[NODE_FWD_ERR_OVERLOAD]++;
        node_conn_seg_complete(seg, err, n);
    }
    if (argv != small)
        rc_free(argv);
}

node_conn_seg_t *node_fwd_split(node_fwd_t *fwd, node_client_t *c, node_fwd_merge_t kind, int step,
                                const int *owners, int myidx, void (*proc)(node_client_t *))
{
    uint32_t nkeys = (uint32_t)((c->argc - 1) / step), k, p, nparts = 0;
    int *part_owner = rc_xmalloc(nkeys * sizeof(*part_owner));
    uint32_t *part_count = rc_xcalloc(nkeys, sizeof(*part_count));
    resp_arg_t **argv = rc_xmalloc((size_t)c->argc * sizeof(*argv));
    resp_arg_t *local_argv = NULL;
    gather_t *g;
    node_conn_seg_t *seg;
    char *mem;
    size_t size;

    /* Parts in the order their owner first appears. */
    size = sizeof(*g) + 2 * nkeys * sizeof(uint32_t);
    mem = rc_xcalloc(1, size);
    g = (gather_t *)(void *)mem;
    g->part_of = (uint32_t *)(void *)(mem + sizeof(*g));
    g->index_in_part = g->part_of + nkeys;
    for (k = 0; k < nkeys; k++) {
        for (p = 0; p < nparts && part_owner[p] != owners[k]; p++)
            ;
        if (p == nparts)
            part_owner[nparts++] = owners[k];
        g->part_of[k] = p;
        g->index_in_part[k] = part_count[p]++;
    }
    g->kind = kind;
    g->nkeys = nkeys;
    g->nparts = nparts;
    g->replies = rc_xcalloc(nparts, sizeof(*g->replies));
    g->lens = rc_xcalloc(nparts, sizeof(*g->lens));
    g->nleft = nparts;
    g->held = NO_PART;
    seg = node_conn_seg_push(c->conn);
    seg->gather = g;

    for (p = 0; p < nparts; p++) {
        int argc = 1;

        argv[0] = &c->argv[0];
        for (k = 0; k < nkeys; k++) {
            if (g->part_of[k] != p)
                continue;
            for (int s = 0; s < step; s++)
                argv[argc++] = &c->argv[1 + (int)k * step + s];
        }
        if (part_owner[p] == myidx) {
            /* Run here, the reply captured for the gather. */
            node_conn_seg_t *cap = node_conn_seg_get(c->conn);
            int save_argc = c->argc;
            resp_arg_t *save_argv = c->argv;

            local_argv = rc_xmalloc((size_t)argc * sizeof(*local_argv));
            for (int i = 0; i < argc; i++)
                local_argv[i] = *argv[i];
            c->argc = argc;
            c->argv = local_argv;
            c->conn->capture = cap;
            proc(c);
            c->conn->capture = NULL;
            c->conn->out_seg = NULL;
            c->argc = save_argc;
            c->argv = save_argv;
            rc_free(local_argv);
            local_argv = NULL;
            g->replies[p] = rc_xmemdup(cap->buf != NULL ? cap->buf : "", cap->len);
            g->lens[p] = cap->len;
            node_conn_seg_release(c->conn, cap);
            g->held = p; /* counted in nleft until node_fwd_split_release() */
        } else {
            char addr[NODE_CLUSTER_ADDR_MAX + 16], err[ERR_MAX];
            const char *why = "no forwarder";
            flink_t *l = fwd != NULL ? link_get(fwd, part_owner[p], c->resp >= 3 ? 3 : 2, addr,
                                                sizeof(addr), &why)
                                     : NULL;

            if (l == NULL || link_send(l, argc, (const resp_arg_t *const *)argv, seg, p) != 0) {
                size_t n;

                if (l == NULL && fwd == NULL)
                    snprintf(addr, sizeof(addr), "member %d", part_owner[p]);
                n = l == NULL ? format_error(err, addr, why)
                              : format_error(err, l->addr, "too many requests in flight");
                if (fwd != NULL)
                    node_cluster_count_forward(fwd->cl, 1);
                count_error(fwd, l == NULL ? why : "too many requests in flight");
                g->replies[p] = rc_xmemdup(err, n);
                g->lens[p] = n;
                g->nleft--;
            }
        }
    }
    rc_free(part_owner);
    rc_free(part_count);
    rc_free(argv);
    if (g->held != NO_PART)
        return seg; /* nleft > 0: the held part */
    if (g->nleft == 0)
        gather_finish(fwd, seg);
    return NULL;
}

void node_fwd_split_release(node_fwd_t *fwd, node_conn_seg_t *seg, const char *err, size_t len)
{
    gather_t *g = seg->gather;

    RC_ASSERT(g != NULL && g->held != NO_PART && g->nleft > 0);
    if (err != NULL) {
        rc_free(g->replies[g->held]);
        g->replies[g->held] = rc_xmemdup(err, len);
        g->lens[g->held] = len;
    }
    g->held = NO_PART;
    if (--g->nleft == 0)
        gather_finish(fwd, seg);
}
