/* node/fwd/node_fwd.c: forwarding to the owner of a key. Outgoing data links
 * are pooled per (member id, incarnation, RESP version) and pipelined:
 * requests are appended to the link's output as RESP arrays and written
 * once per loop iteration (a check handle), replies are delimited with the
 * resumable RESP scanner and matched in FIFO order to the waiting requests.
 * The one rule: every request queued on a link gets exactly one reply, the
 * peer's or a TRYAGAIN error when the link fails or times out.
 *
 *   client conn --node_fwd_command--> link.out --check--> socket
 *        ^ node_conn_seg_complete        |            (HELLO, AUTH, DATA first)
 *        '------- link.q (FIFO) <-- scan <-- link.in <-- socket
 */
#include "node/fwd/node_fwd.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "common/rc.h"
#include "node/bus/node_bus_proto.h"
#include "node/cluster/node_cluster.h"
#include "node/net/node_reply.h"
#include "resp/resp_scan.h"
#include "node/net/node_server.h"

enum {
    NO_PART = UINT32_MAX, /* a pend_t for a whole request, not a split part */
    LINK_READ = 64 * 1024,
    LINK_BUF_KEEP = 1024 * 1024, /* larger idle link buffers are freed */
    BACKOFF_MAX_ENTRIES = 64,
    ERR_MAX = 256,
};

typedef struct pend_s {
    node_conn_seg_t *seg;
    uint32_t part; /* split part, or NO_PART */
    int64_t t_ms;  /* queued at */
} pend_t;

typedef enum link_state_e {
    LINK_CONNECTING = 0,
    LINK_HANDSHAKE = 1, /* connected: HELLO/AUTH, then DATA both ways */
    LINK_OPEN = 2,      /* raw RESP */
} link_state_t;

typedef struct link_s link_t;

struct link_s {
    node_fwd_t *fwd;
    link_t *next; /* the forwarder's list */
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t wreq;
    node_bus_session_t sess;
    uint64_t member_id;
    uint64_t incarnation;
    int resp;
    char addr[NODE_CLUSTER_ADDR_MAX + 8]; /* the member's client address, for errors */
    link_state_t state;
    unsigned closing : 1;
    unsigned writing : 1;
    unsigned sent_data : 1;
    unsigned got_data : 1;
    unsigned bad : 1;

    char *hs; /* handshake frames not yet written */
    size_t hslen, hscap;
    char *out; /* requests not yet written */
    size_t olen, ocap;
    char *whs; /* the write in flight (swapped with hs/out) */
    size_t whscap;
    char *wout;
    size_t woutcap;

    char *in; /* bytes read, in[ipos..ilen) not consumed yet */
    size_t ilen, icap, ipos;
    resp_scanner_t sc;

    pend_t *q; /* ring of waiting requests */
    size_t qcap, qhead, qlen;
};

typedef struct backoff_s {
    uint64_t id, incarnation;
    int64_t until_ms;
    int64_t delay_ms;
    char reason[96];
} backoff_t;

struct node_fwd_s {
    node_server_t *server;
    node_cluster_t *cl;
    uv_timer_t timer;
    uv_check_t check;
    link_t *links;
    link_t **bymember; /* [2 * nbymember]: open link per member index and RESP 2/3 */
    size_t nbymember;
    node_conn_t *bus_conns;
    node_conn_t *defer_head; /* connections to pump in on_check() */
    backoff_t backoff[BACKOFF_MAX_ENTRIES];
    size_t nbackoff;
    int shut;
};

/* A split request in flight: the replies of its parts, gathered when the
 * last one arrives. One allocation holds it all. */
typedef struct gather_s {
    node_fwd_merge_t kind;
    uint32_t nkeys, nparts, nleft;
    uint32_t *part_of;       /* [nkeys] */
    uint32_t *index_in_part; /* [nkeys] */
    char **replies;          /* [nparts] */
    size_t *lens;            /* [nparts] */
} gather_t;

static void link_fail(link_t *l, const char *reason);
static void backoff_clear(node_fwd_t *fwd, uint64_t id, uint64_t incarnation);

/* ---- merge (pure) ---- */

static void out_append(node_conn_seg_t *out, const char *p, size_t len)
{
    if (out->cap - out->len < len || out->buf == NULL) {
        size_t cap = out->cap < 64 ? 64 : out->cap;

        while (cap - out->len < len)
            cap *= 2;
        out->buf = rc_xrealloc(out->buf, cap);
        out->cap = cap;
    }
    memcpy(out->buf + out->len, p, len);
    out->len += len;
}

/* Appends "<prefix><v>\r\n". */
static void out_header(node_conn_seg_t *out, char prefix, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%c%lld\r\n", prefix, v);

    out_append(out, tmp, (size_t)n);
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

/* ---- links: output ---- */

static void buf_append(char **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (*cap - *len < n || *buf == NULL) {
        size_t want = *cap < 4096 ? 4096 : *cap;

        while (want - *len < n)
            want *= 2;
        *buf = rc_xrealloc(*buf, want);
        *cap = want;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
}

static size_t fmt_len(char *p, char prefix, size_t v)
{
    char tmp[24];
    size_t n = 0, len = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    p[len++] = prefix;
    while (n > 0)
        p[len++] = tmp[--n];
    p[len++] = '\r';
    p[len++] = '\n';
    return len;
}

/* Appends the request argv[0..argc) as a RESP array. */
static void link_append_request(link_t *l, int argc, const resp_arg_t *const *argv)
{
    size_t need = 24, n;
    char *p;
    int i;

    for (i = 0; i < argc; i++)
        need += argv[i]->len + 26;
    if (l->ocap - l->olen < need || l->out == NULL) {
        size_t want = l->ocap < 16384 ? 16384 : l->ocap;

        while (want - l->olen < need)
            want *= 2;
        l->out = rc_xrealloc(l->out, want);
        l->ocap = want;
    }
    p = l->out + l->olen;
    n = fmt_len(p, '*', (size_t)argc);
    for (i = 0; i < argc; i++) {
        n += fmt_len(p + n, '$', argv[i]->len);
        memcpy(p + n, argv[i]->ptr, argv[i]->len);
        n += argv[i]->len;
        p[n++] = '\r';
        p[n++] = '\n';
    }
    l->olen += n;
}

static void on_link_write(uv_write_t *req, int status)
{
    link_t *l = req->data;

    l->writing = 0;
    if (l->closing)
        return;
    if (status < 0) {
        link_fail(l, rc_strerror(status));
        return;
    }
    if (l->woutcap > LINK_BUF_KEEP) {
        rc_free(l->wout); /* after a huge request */
        l->wout = NULL;
        l->woutcap = 0;
    }
}

/* Writes the handshake frames and, once open, the queued requests: one
 * write per link per loop iteration. */
static void link_flush(link_t *l)
{
    uv_buf_t bufs[2];
    unsigned nbufs = 0;
    size_t total = 0, done;
    int n, err;
    char *tmp;

    if (l->closing || l->writing || l->state == LINK_CONNECTING)
        return;
    if (l->hslen > 0) {
        bufs[nbufs++] = uv_buf_init(l->hs, (unsigned)l->hslen);
        total += l->hslen;
    }
    if (l->state == LINK_OPEN && l->olen > 0) {
        bufs[nbufs++] = uv_buf_init(l->out, (unsigned)l->olen);
        total += l->olen;
    }
    if (nbufs == 0)
        return;
    n = uv_try_write((uv_stream_t *)&l->tcp, bufs, nbufs);
    if (n < 0 && n != UV_EAGAIN) {
        link_fail(l, rc_strerror(n));
        return;
    }
    done = n < 0 ? 0 : (size_t)n;
    if (done == total) {
        l->hslen = 0;
        if (l->state == LINK_OPEN)
            l->olen = 0;
        if (l->ocap > LINK_BUF_KEEP) {
            rc_free(l->out); /* after a huge request */
            l->out = NULL;
            l->ocap = 0;
        }
        return;
    }
    /* The rest goes in one uv_write that keeps the buffers: swap them with
     * the spare pair so new requests go on queueing. */
    nbufs = 0;
    if (l->hslen > 0) {
        size_t skip = done < l->hslen ? done : l->hslen;

        size_t cap = l->whscap;

        tmp = l->whs;
        l->whs = l->hs;
        l->hs = tmp;
        l->whscap = l->hscap;
        l->hscap = cap;
        if (skip < l->hslen)
            bufs[nbufs++] = uv_buf_init(l->whs + skip, (unsigned)(l->hslen - skip));
        done -= skip;
        l->hslen = 0;
    }
    if (l->state == LINK_OPEN && l->olen > 0) {
        size_t cap = l->woutcap;

        tmp = l->wout;
        l->wout = l->out;
        l->out = tmp;
        l->woutcap = l->ocap;
        l->ocap = cap;
        bufs[nbufs++] = uv_buf_init(l->wout + done, (unsigned)(l->olen - done));
        l->olen = 0;
    }
    l->wreq.data = l;
    err = uv_write(&l->wreq, (uv_stream_t *)&l->tcp, bufs, nbufs, on_link_write);
    if (err != 0) {
        link_fail(l, rc_strerror(err));
        return;
    }
    l->writing = 1;
}

/* ---- links: input ---- */

static void hs_emit(void *arg, const void *bytes, size_t len)
{
    link_t *l = arg;

    buf_append(&l->hs, &l->hslen, &l->hscap, bytes, len);
}

static int on_hs_frame(void *arg, const node_bus_header_t *h, const uint8_t *payload)
{
    link_t *l = arg;

    (void)payload;
    if (h->type == NODE_BUS_DATA)
        l->got_data = 1;
    else
        l->bad = 1;
    return 1;
}

static pend_t *q_head(link_t *l)
{
    return &l->q[l->qhead];
}

static void q_pop(link_t *l)
{
    l->qhead = (l->qhead + 1) & (l->qcap - 1);
    l->qlen--;
}

static void q_push(link_t *l, node_conn_seg_t *seg, uint32_t part, int64_t now)
{
    pend_t *pd;

    if (l->qlen == l->qcap) {
        size_t cap = l->qcap == 0 ? 64 : l->qcap * 2, i;
        pend_t *q = rc_xmalloc(cap * sizeof(*q));

        for (i = 0; i < l->qlen; i++)
            q[i] = l->q[(l->qhead + i) & (l->qcap - 1)];
        rc_free(l->q);
        l->q = q;
        l->qcap = cap;
        l->qhead = 0;
    }
    pd = &l->q[(l->qhead + l->qlen) & (l->qcap - 1)];
    pd->seg = seg;
    pd->part = part;
    pd->t_ms = now;
    l->qlen++;
}

/* Handshake bytes from the peer; returns the bytes consumed or -1 when the
 * link failed. */
static ssize_t link_handshake(link_t *l, const char *data, size_t len)
{
    ssize_t n =
        node_bus_session_feed(&l->sess, (const uint8_t *)data, len, hs_emit, l, on_hs_frame, l);

    if (n < 0) {
        node_cluster_bus_failed(l->fwd->cl, &l->sess, l->addr);
        link_fail(l, node_bus_session_error(&l->sess)[0] != '\0' ? node_bus_session_error(&l->sess)
                                                                 : "bus handshake failed");
        return -1;
    }
    if (l->bad) {
        link_fail(l, "unexpected bus frame");
        return -1;
    }
    if (node_bus_session_is_open(&l->sess) && !l->sent_data) {
        uint8_t frame[NODE_BUS_HEADER];
        size_t fl = node_bus_frame(frame, sizeof(frame), NODE_BUS_DATA, l->sess.id,
                                   l->sess.incarnation, l->sess.epoch, NULL, 0);

        hs_emit(l, frame, fl);
        l->sent_data = 1;
    }
    if (l->got_data) {
        l->state = LINK_OPEN;
        backoff_clear(l->fwd, l->member_id, l->incarnation);
        rc_log(RC_LOG_VERBOSE, "data link to %s open (resp %d)", l->addr, l->resp);
    }
    return n;
}

static void link_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    link_t *l = handle->data;

    (void)suggested;
    if (l->icap - l->ilen < LINK_READ) {
        size_t cap = l->icap < 2 * LINK_READ ? 2 * LINK_READ : l->icap;

        while (cap - l->ilen < LINK_READ)
            cap *= 2;
        l->in = rc_xrealloc(l->in, cap);
        l->icap = cap;
    }
    *buf = uv_buf_init(l->in + l->ilen, (unsigned)(l->icap - l->ilen));
}

static void on_link_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    link_t *l = stream->data;

    (void)buf;
    if (l->closing || nread == 0)
        return;
    if (nread < 0) {
        link_fail(l, nread == UV_EOF ? "connection closed by peer" : rc_strerror((int)nread));
        return;
    }
    l->ilen += (size_t)nread;
    if (l->state == LINK_HANDSHAKE) {
        ssize_t n = link_handshake(l, l->in + l->ipos, l->ilen - l->ipos);

        if (n < 0)
            return;
        l->ipos += (size_t)n;
    }
    /* Completing a reply may run more of that client's commands, which
     * may queue more requests here: re-read the state every round. */
    while (l->state == LINK_OPEN && !l->closing && l->ipos < l->ilen) {
        ssize_t n = resp_scanner_scan(&l->sc, l->in + l->ipos, l->ilen - l->ipos);
        pend_t pd;

        if (n == 0)
            break;
        if (n < 0) {
            link_fail(l, "protocol error in a reply");
            return;
        }
        if (l->qlen == 0) {
            link_fail(l, "reply without a request");
            return;
        }
        pd = *q_head(l);
        q_pop(l);
        deliver(l->fwd, &pd, l->in + l->ipos, (size_t)n, 0);
        l->ipos += (size_t)n;
    }
    if (l->closing)
        return;
    if (l->ipos == l->ilen) {
        l->ipos = l->ilen = 0;
        if (l->icap > LINK_BUF_KEEP) {
            rc_free(l->in);
            l->in = NULL;
            l->icap = 0;
        }
    } else if (l->ipos > 0 && l->icap - l->ilen < LINK_READ) {
        memmove(l->in, l->in + l->ipos, l->ilen - l->ipos);
        l->ilen -= l->ipos;
        l->ipos = 0;
    }
}

/* ---- links: lifetime ---- */

static void on_link_close(uv_handle_t *handle)
{
    link_t *l = handle->data;

    node_bus_session_free(&l->sess);
    rc_free(l->hs);
    rc_free(l->out);
    rc_free(l->whs);
    rc_free(l->wout);
    rc_free(l->in);
    rc_free(l->q);
    rc_free(l);
}

static backoff_t *backoff_find(node_fwd_t *fwd, uint64_t id, uint64_t incarnation)
{
    size_t i;

    for (i = 0; i < fwd->nbackoff; i++) {
        if (fwd->backoff[i].id == id && fwd->backoff[i].incarnation == incarnation)
            return &fwd->backoff[i];
    }
    return NULL;
}

static void backoff_note(node_fwd_t *fwd, link_t *l, const char *reason)
{
    backoff_t *b = backoff_find(fwd, l->member_id, l->incarnation);
    int64_t now = fwd->server->now_ms;

    if (b == NULL) {
        if (fwd->nbackoff == BACKOFF_MAX_ENTRIES)
            fwd->nbackoff--; /* drop the last: it only delays a reconnect less */
        b = &fwd->backoff[fwd->nbackoff++];
        b->id = l->member_id;
        b->incarnation = l->incarnation;
        b->delay_ms = NODE_FWD_BACKOFF_MIN_MS;
    } else if (now - b->until_ms < 2 * NODE_FWD_BACKOFF_MAX_MS) {
        b->delay_ms =
            b->delay_ms * 2 > NODE_FWD_BACKOFF_MAX_MS ? NODE_FWD_BACKOFF_MAX_MS : b->delay_ms * 2;
    } else {
        b->delay_ms = NODE_FWD_BACKOFF_MIN_MS; /* long since the last failure */
    }
    b->until_ms = now + b->delay_ms;
    snprintf(b->reason, sizeof(b->reason), "%s", reason);
}

static void backoff_clear(node_fwd_t *fwd, uint64_t id, uint64_t incarnation)
{
    backoff_t *b = backoff_find(fwd, id, incarnation);

    if (b != NULL)
        *b = fwd->backoff[--fwd->nbackoff];
}

/* Fails every request waiting on 'l' with a TRYAGAIN error and closes it.
 * The link is unlisted first, so a client that retries from inside its
 * error reply gets a new link (or the backoff error). */
static void link_fail(link_t *l, const char *reason)
{
    node_fwd_t *fwd = l->fwd;
    link_t **pp;
    char err[ERR_MAX];
    size_t elen;

    if (l->closing)
        return;
    l->closing = 1;
    for (pp = &fwd->links; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    l->next = NULL;
    for (size_t i = 0; i < 2 * fwd->nbymember; i++) {
        if (fwd->bymember[i] == l)
            fwd->bymember[i] = NULL;
    }
    if (!fwd->shut)
        backoff_note(fwd, l, reason);
    rc_log(RC_LOG_VERBOSE, "data link to %s failed: %s (%zu requests pending)", l->addr, reason,
           l->qlen);
    uv_close((uv_handle_t *)&l->tcp, on_link_close);
    elen = format_error(err, l->addr, reason);
    while (l->qlen > 0) {
        pend_t pd = *q_head(l);

        q_pop(l);
        deliver(fwd, &pd, err, elen, 1);
    }
}

static void on_link_connect(uv_connect_t *req, int status)
{
    link_t *l = req->data;

    if (l->closing)
        return;
    if (status < 0) {
        link_fail(l, rc_strerror(status));
        return;
    }
    uv_tcp_nodelay(&l->tcp, 1);
    l->state = LINK_HANDSHAKE;
    node_bus_session_start(&l->sess, hs_emit, l);
    status = uv_read_start((uv_stream_t *)&l->tcp, link_alloc, on_link_read);
    if (status != 0)
        link_fail(l, rc_strerror(status));
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    if (strcmp(host, "localhost") == 0)
        return uv_ip4_addr("127.0.0.1", port, (struct sockaddr_in *)ss);
    return UV_EINVAL;
}

static void cache_put(node_fwd_t *fwd, int idx, int resp, link_t *l)
{
    if ((size_t)idx >= fwd->nbymember) {
        size_t n = (size_t)idx + 8;

        fwd->bymember = rc_xrealloc(fwd->bymember, 2 * n * sizeof(*fwd->bymember));
        memset(fwd->bymember + 2 * fwd->nbymember, 0,
               2 * (n - fwd->nbymember) * sizeof(*fwd->bymember));
        fwd->nbymember = n;
    }
    fwd->bymember[2 * (size_t)idx + (resp == 3)] = l;
}

/* Forgets the cached links (member indexes change with the configuration). */
static void cache_clear(node_fwd_t *fwd)
{
    if (fwd->nbymember > 0)
        memset(fwd->bymember, 0, 2 * fwd->nbymember * sizeof(*fwd->bymember));
}

/* The open or opening link to member 'idx' for RESP 'resp', or NULL with
 * the reason in 'why' and the member's address in 'addr'. */
static link_t *link_get(node_fwd_t *fwd, int idx, int resp, char *addr, size_t addrsize,
                        const char **why)
{
    node_cluster_member_t m;
    struct sockaddr_storage ss;
    backoff_t *b;
    link_t *l;
    int err;

    if (idx >= 0 && (size_t)idx < fwd->nbymember &&
        (l = fwd->bymember[2 * (size_t)idx + (resp == 3)]) != NULL)
        return l; /* the fast path: no member lookup */
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
    for (l = fwd->links; l != NULL; l = l->next) {
        if (l->member_id == m.id && l->incarnation == m.incarnation && l->resp == resp) {
            cache_put(fwd, idx, resp, l);
            return l;
        }
    }
    b = backoff_find(fwd, m.id, m.incarnation);
    if (b != NULL && fwd->server->now_ms < b->until_ms) {
        *why = b->reason;
        return NULL;
    }
    if (parse_addr(m.host, m.bus_port, &ss) != 0) {
        *why = "bad bus address";
        return NULL;
    }
    l = rc_xcalloc(1, sizeof(*l));
    err = uv_tcp_init(fwd->server->loop, &l->tcp);
    if (err != 0) {
        rc_free(l);
        *why = rc_strerror(err);
        return NULL;
    }
    l->tcp.data = l;
    l->fwd = fwd;
    l->member_id = m.id;
    l->incarnation = m.incarnation;
    l->resp = resp;
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    resp_scanner_init(&l->sc);
    node_cluster_session_init(fwd->cl, &l->sess, 1, NODE_BUS_ROLE_DATA, resp);
    l->connect.data = l;
    err = uv_tcp_connect(&l->connect, &l->tcp, (const struct sockaddr *)&ss, on_link_connect);
    if (err != 0) {
        l->closing = 1;
        uv_close((uv_handle_t *)&l->tcp, on_link_close);
        *why = rc_strerror(err);
        return NULL;
    }
    l->next = fwd->links;
    fwd->links = l;
    cache_put(fwd, idx, resp, l);
    rc_log(RC_LOG_VERBOSE, "data link to %s (bus port %d, resp %d): connecting", addr, m.bus_port,
           resp);
    return l;
}

/* Queues argv[0..argc) on 'l' for 'seg' (part 'part'). Returns 0, or
 * -ENOBUFS when the link is full. */
static int link_send(link_t *l, int argc, const resp_arg_t *const *argv, node_conn_seg_t *seg,
                     uint32_t part)
{
    if (l->qlen >= NODE_FWD_LINK_MAX_PENDING || l->olen > NODE_FWD_LINK_MAX_OUT)
        return -ENOBUFS;
    link_append_request(l, argc, argv);
    q_push(l, seg, part, l->fwd->server->now_ms);
    return 0;
}

/* ---- the forwarder ---- */

void node_fwd_defer(node_fwd_t *fwd, node_conn_t *c)
{
    if (fwd == NULL || fwd->shut) {
        node_conn_resume(c);
        return;
    }
    c->deferred = 1;
    c->defer_next = fwd->defer_head;
    fwd->defer_head = c;
}

/* Once per loop iteration, after the I/O callbacks: the clients whose
 * forwarded replies arrived write them (and run what a pause left), then
 * every link writes what was queued. A failing link completes requests,
 * which may defer more clients: repeat until quiet, so nothing waits for
 * the next iteration (the loop could block in poll with data unwritten).
 * Connections closed meanwhile are still allocated: libuv frees them in
 * the closing phase, after this one. */
static void on_check(uv_check_t *check)
{
    node_fwd_t *fwd = check->data;
    link_t *l, *next;

    do {
        node_conn_t *c;

        while ((c = fwd->defer_head) != NULL) {
            fwd->defer_head = c->defer_next;
            c->defer_next = NULL;
            c->deferred = 0;
            node_conn_resume(c);
        }
        for (l = fwd->links; l != NULL; l = next) {
            next = l->next; /* a failing flush unlists 'l' */
            link_flush(l);
        }
    } while (fwd->defer_head != NULL);
}

static void on_tick(uv_timer_t *timer)
{
    node_fwd_t *fwd = timer->data;
    int64_t limit = 2 * node_cluster_node_timeout(fwd->cl), now;
    node_conn_t *c, *cnext;
    link_t *l, *next;

    node_server_update_time(fwd->server);
    now = fwd->server->now_ms;
    if (limit < NODE_FWD_MIN_TIMEOUT_MS)
        limit = NODE_FWD_MIN_TIMEOUT_MS;
    for (l = fwd->links; l != NULL; l = next) {
        next = l->next;
        if (l->qlen > 0 && now - q_head(l)->t_ms > limit)
            link_fail(l, "timed out"); /* a later reply would land on the wrong request */
    }
    for (c = fwd->bus_conns; c != NULL; c = cnext) {
        cnext = c->next;
        node_conn_bus_expire(c, now);
    }
}

static int member_present(const node_cluster_member_t *ms, size_t n, const link_t *l)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (ms[i].id == l->member_id && ms[i].incarnation == l->incarnation)
            return 1;
    }
    return 0;
}

static void on_config(void *arg, int closing)
{
    node_fwd_t *fwd = arg;
    node_cluster_member_t *ms;
    size_t n, cap;
    link_t *l, *next;

    if (closing) {
        node_fwd_shutdown(fwd->server);
        return;
    }
    cache_clear(fwd);
    cap = node_cluster_members(fwd->cl, NULL, 0);
    ms = rc_xcalloc(cap + 1, sizeof(*ms));
    n = node_cluster_members(fwd->cl, ms, cap);
    if (n > cap)
        n = cap;
    for (l = fwd->links; l != NULL; l = next) {
        next = l->next;
        if (!member_present(ms, n, l))
            link_fail(l, "member left the cluster");
    }
    rc_free(ms);
}

node_fwd_t *node_fwd_get(node_server_t *server)
{
    node_fwd_t *fwd = server->fwd;

    if (fwd != NULL)
        return fwd;
    if (server->cluster == NULL || server->shutting_down)
        return NULL;
    fwd = rc_xcalloc(1, sizeof(*fwd));
    fwd->server = server;
    fwd->cl = server->cluster;
    uv_timer_init(server->loop, &fwd->timer);
    fwd->timer.data = fwd;
    uv_timer_start(&fwd->timer, on_tick, NODE_FWD_TICK_MS, NODE_FWD_TICK_MS);
    uv_check_init(server->loop, &fwd->check);
    fwd->check.data = fwd;
    uv_check_start(&fwd->check, on_check);
    node_cluster_set_hook(fwd->cl, on_config, fwd);
    server->fwd = fwd;
    return fwd;
}

void node_fwd_shutdown(node_server_t *server)
{
    node_fwd_t *fwd = server->fwd;

    if (fwd == NULL || fwd->shut)
        return;
    fwd->shut = 1;
    node_cluster_set_hook(fwd->cl, NULL, NULL);
    while (fwd->links != NULL)
        link_fail(fwd->links, "shutting down");
    while (fwd->bus_conns != NULL)
        node_conn_close(fwd->bus_conns, 0);
    uv_close((uv_handle_t *)&fwd->timer, NULL);
    uv_close((uv_handle_t *)&fwd->check, NULL);
}

void node_fwd_destroy(node_fwd_t *fwd)
{
    if (fwd == NULL)
        return;
    RC_ASSERT(fwd->links == NULL && fwd->bus_conns == NULL);
    rc_free(fwd->bymember);
    rc_free(fwd);
}

void node_fwd_bus_add(node_fwd_t *fwd, node_conn_t *c)
{
    c->prev = NULL;
    c->next = fwd->bus_conns;
    if (fwd->bus_conns != NULL)
        fwd->bus_conns->prev = c;
    fwd->bus_conns = c;
}

void node_fwd_bus_remove(node_fwd_t *fwd, node_conn_t *c)
{
    if (fwd == NULL || (c->prev == NULL && fwd->bus_conns != c))
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        fwd->bus_conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* ---- forwarding ---- */

enum {
    SMALL_ARGS = 64,
};

void node_fwd_command(node_client_t *c, int idx)
{
    node_fwd_t *fwd = node_fwd_get(c->server);
    resp_arg_t *small[SMALL_ARGS], **argv = small;
    char addr[NODE_CLUSTER_ADDR_MAX + 16], err[ERR_MAX];
    const char *why = "no forwarder";
    link_t *l = NULL;
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
        node_conn_seg_complete(seg, err, n);
    }
    if (argv != small)
        rc_free(argv);
}

void node_fwd_split(node_client_t *c, node_fwd_merge_t kind, int step, const int *owners, int myidx,
                    void (*proc)(node_client_t *))
{
    node_fwd_t *fwd = node_fwd_get(c->server);
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
            g->nleft--;
        } else {
            char addr[NODE_CLUSTER_ADDR_MAX + 16], err[ERR_MAX];
            const char *why = "no forwarder";
            link_t *l = fwd != NULL ? link_get(fwd, part_owner[p], c->resp >= 3 ? 3 : 2, addr,
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
                g->replies[p] = rc_xmemdup(err, n);
                g->lens[p] = n;
                g->nleft--;
            }
        }
    }
    rc_free(part_owner);
    rc_free(part_count);
    rc_free(argv);
    if (g->nleft == 0)
        gather_finish(fwd, seg);
}
