/* node/bus/node_link.c: the one outgoing link type of the bus, for control
 * traffic (Paxos, pings) and data traffic (forwarded requests) alike:
 * pooled per (address, role, RESP version, channel, peer), authenticated by the
 * handshake, written once per loop iteration, reconnected with backoff.
 * The one rule: a link's owner hears exactly one on_fail() for every
 * failure, after which nothing queued before it is ever sent.
 *
 *   node_link_send / reserve+commit --> out --(server check)--> socket
 *     data links: out leaves as one BATCH frame stamped with the epoch
 *   socket --> session (HELLO/AUTH [DATA]) --> on_frame (control)
 *                                          \-> on_data (data: replies) */
#include "node/bus/node_bus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "node/bus/node_bus_internal.h"

enum {
    LINK_READ = 64 * 1024,
    LINK_BUF_KEEP = 1024 * 1024, /* larger idle buffers are freed */
    LINK_IDLE_TRIM_MS = 1000,    /* a link quiet this long gives its buffers back */
    LINK_LOG_MS = 10000,         /* the same link error is logged at most this often */
    DEFAULT_BACKOFF_MIN_MS = 100,
    DEFAULT_BACKOFF_MAX_MS = 2000,
    DEFAULT_HANDSHAKE_MS = 2000,
};

static int is_control(const node_link_t *l)
{
    return l->o.role == NODE_BUS_ROLE_CONTROL;
}

static int to_sockaddr(const char *addr, struct sockaddr_storage *ss)
{
    char host[NODE_BUS_ADDR_MAX];
    const char *colon = strrchr(addr, ':');
    char *end;
    long port;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
        return -EINVAL;
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port <= 0 || port > 65535)
        return -EINVAL;
    if (addr[0] == '[' && colon > addr + 1 && colon[-1] == ']')
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr - 2), addr + 1);
    else
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    memset(ss, 0, sizeof(*ss));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    if (strcmp(host, "localhost") == 0)
        return uv_ip4_addr("127.0.0.1", (int)port, (struct sockaddr_in *)ss);
    return -EINVAL;
}

/* ---- failure and close ---------------------------------------------------- */

static void log_failure(node_link_t *l, int err, const char *what)
{
    int64_t now = node_bus_now(l->bus);

    if (!is_control(l)) {
        /* The owner logs it with what was waiting on the link. */
        rc_log(RC_LOG_DEBUG, "data link to %s failed: %s", l->name, l->why);
        return;
    }
    if (err == l->last_err && now - l->last_log < LINK_LOG_MS)
        return;
    l->last_err = err;
    l->last_log = now;
    rc_log(RC_LOG_NOTICE, "cluster bus: %s %s: %s; retrying in %d ms", what, l->name,
           err < 0 ? rc_strerror(err) : "closed", l->backoff);
}

static void link_free(node_link_t *l)
{
    node_link_t **pp;

    for (pp = &l->bus->links; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    rc_buf_free(&l->hs);
    rc_buf_free(&l->out);
    rc_buf_free(&l->whs);
    rc_buf_free(&l->wout);
    rc_buf_free(&l->in);
    rc_free(l);
}

static void on_closed(uv_handle_t *h)
{
    node_link_t *l = h->data;

    if (l->has_sess) {
        node_bus_session_free(&l->sess);
        l->has_sess = 0;
    }
    l->state = NODE_LINK_IDLE;
    if (l->forget || l->bus->shut)
        link_free(l);
}

/* The link failed: drop what was queued, close the socket, tell the owner
 * once, and wait out a backoff before the next connect. */
static void link_fail(node_link_t *l, int err, const char *what, const char *reason)
{
    int64_t now = node_bus_now(l->bus);

    if (l->state == NODE_LINK_IDLE || l->state == NODE_LINK_CLOSING)
        return;
    if (err == UV_ECONNREFUSED || err == UV_EOF || err == UV_ECONNRESET)
        l->refusals++;
    /* A failure long after the last one starts the backoff over. */
    if (now - l->failed_at > 2 * (int64_t)l->o.backoff_max_ms)
        l->backoff = l->o.backoff_min_ms;
    l->failed_at = now;
    l->retry_at = now + l->backoff;
    snprintf(l->why, sizeof(l->why), "%s", reason != NULL ? reason : rc_strerror(err));
    log_failure(l, err, what);
    l->backoff = l->backoff * 2 > l->o.backoff_max_ms ? l->o.backoff_max_ms : l->backoff * 2;
    rc_buf_reset(&l->hs);
    rc_buf_reset(&l->out);
    rc_buf_reset(&l->in);
    l->ipos = 0;
    l->state = NODE_LINK_CLOSING;
    uv_close((uv_handle_t *)&l->tcp, on_closed);
    if (l->ops->on_fail != NULL)
        l->ops->on_fail(l->arg, l, l->why);
}

void node_link_close(node_link_t *l, const char *reason, int forget)
{
    if (forget)
        l->forget = 1;
    if (l->state == NODE_LINK_IDLE) {
        if (forget)
            link_free(l);
        return;
    }
    link_fail(l, 0, "closed link to", reason);
}

/* ---- output --------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    node_link_t *l = req->data;

    l->writing = 0;
    l->moved_at = node_bus_now(l->bus);
    rc_buf_reset(&l->whs);
    rc_buf_reset_trim(&l->wout, LINK_BUF_KEEP);
    if (l->state == NODE_LINK_CLOSING || l->state == NODE_LINK_IDLE)
        return;
    if (status < 0)
        link_fail(l, status, "lost link to", NULL);
}

static void swap(rc_buf_t *a, rc_buf_t *b)
{
    rc_buf_t t = *a;

    *a = *b;
    *b = t;
}

/* Writes the handshake frames and, once open, the queued frames or the
 * batch: a direct try, then one uv_write for the rest, which keeps the
 * buffers (swapped with the spare pair so new traffic goes on queueing). */
static void link_flush(node_link_t *l)
{
    uv_buf_t bufs[3];
    unsigned nbufs = 0, i;
    size_t total = 0, done;
    int n, err, open;

    if (l->ops->on_flush != NULL && l->state == NODE_LINK_OPEN && !l->forget)
        l->ops->on_flush(l->arg, l);
    open = l->state == NODE_LINK_OPEN;
    if (l->writing || (l->state != NODE_LINK_HANDSHAKE && !open))
        return;
    if (l->hs.len > 0)
        bufs[nbufs++] = uv_buf_init(l->hs.data, (unsigned)l->hs.len);
    if (open && l->out.len > 0) {
        if (!is_control(l)) {
            node_bus_t *bus = l->bus;

            node_bus_batch_header(l->whdr, 0, bus->id, bus->incarnation, bus->epoch,
                                  (uint32_t)l->out.len);
            bufs[nbufs++] = uv_buf_init((char *)l->whdr, NODE_BUS_HEADER);
            bus->stats.batches_sent++;
        }
        bufs[nbufs++] = uv_buf_init(l->out.data, (unsigned)l->out.len);
    }
    if (nbufs == 0)
        return;
    for (i = 0; i < nbufs; i++)
        total += bufs[i].len;
    n = uv_try_write((uv_stream_t *)&l->tcp, bufs, nbufs);
    if (n < 0 && n != UV_EAGAIN) {
        link_fail(l, n, "lost link to", NULL);
        return;
    }
    done = n < 0 ? 0 : (size_t)n;
    if (done > 0)
        l->moved_at = node_bus_now(l->bus);
    if (done == total) {
        rc_buf_reset(&l->hs);
        if (open)
            rc_buf_reset_trim(&l->out, LINK_BUF_KEEP);
        return;
    }
    /* Skip what the kernel took; the rest stays valid in the w* buffers. */
    if (l->hs.len > 0) {
        swap(&l->hs, &l->whs);
        rc_buf_reset(&l->hs); /* the spare, emptied when its write ended */
    }
    if (open && l->out.len > 0) {
        swap(&l->out, &l->wout);
        rc_buf_reset(&l->out);
    }
    for (i = 0; i < nbufs; i++) {
        /* the bufs point into whs / whdr / wout now (same memory) */
        size_t skip = done < bufs[i].len ? done : bufs[i].len;

        bufs[i].base += skip;
        bufs[i].len -= skip;
        done -= skip;
    }
    for (i = 0; i < nbufs && bufs[i].len == 0; i++)
        ;
    l->wreq.data = l;
    err = uv_write(&l->wreq, (uv_stream_t *)&l->tcp, bufs + i, nbufs - i, on_write);
    if (err != 0) {
        link_fail(l, err, "lost link to", NULL);
        return;
    }
    l->writing = 1;
    l->wq_seen = uv_stream_get_write_queue_size((uv_stream_t *)&l->tcp);
}

void node_bus__links_flush(node_bus_t *bus)
{
    node_link_t *l, *next;

    for (l = bus->links; l != NULL; l = next) {
        next = l->next; /* a failing flush may free nothing, but be safe */
        link_flush(l);
    }
}

/* ---- input ---------------------------------------------------------------- */

static void hs_emit(void *arg, const void *bytes, size_t len)
{
    node_link_t *l = arg;

    rc_buf_append(&l->hs, bytes, len);
}

static int on_frame(void *arg, const node_bus_header_t *h, const uint8_t *payload)
{
    node_link_t *l = arg;

    if (!is_control(l)) {
        if (h->type == NODE_BUS_DATA)
            l->got_data = 1;
        else
            l->bad = 1;
        return 1; /* the rest of the stream is raw RESP replies */
    }
    l->bus->stats.frames_received++;
    node_bus__check_epoch(l->bus, h);
    /* Accepting sides mostly answer over their own links; take anything
     * that comes back here as a frame from that peer all the same. */
    if (l->ops->on_frame != NULL && l->ops->on_frame(l->arg, l, h, payload) != 0) {
        l->bad = 1;
        return 1;
    }
    return 0;
}

static void opened(node_link_t *l)
{
    l->state = NODE_LINK_OPEN;
    l->backoff = l->o.backoff_min_ms;
    l->refusals = 0;
    if (is_control(l)) {
        if (l->last_err != 0)
            rc_log(RC_LOG_NOTICE, "cluster bus: link to %s is up", l->name);
    } else {
        rc_log(RC_LOG_VERBOSE, "data link to %s open (resp %d)", l->name, l->o.resp);
    }
    l->last_err = 0;
    if (l->ops->on_open != NULL)
        l->ops->on_open(l->arg, l);
}

/* Feeds 'len' bytes to the handshake; returns the bytes it consumed, or -1
 * when the link failed. */
static ssize_t handshake(node_link_t *l, const char *data, size_t len)
{
    ssize_t n =
        node_bus_session_feed(&l->sess, (const uint8_t *)data, len, hs_emit, l, on_frame, l);

    if (l->state != NODE_LINK_HANDSHAKE && l->state != NODE_LINK_OPEN)
        return -1; /* an owner callback closed it */
    if (n < 0) {
        const char *e = node_bus_session_error(&l->sess);

        node_bus__refused(l->bus, &l->sess, l->name);
        link_fail(l, (int)n, "bad handshake with", e[0] != '\0' ? e : "bus handshake failed");
        return -1;
    }
    if (l->bad) {
        l->bus->stats.bad_frames++;
        link_fail(l, RC_EPROTO, "bad frame from", "unexpected bus frame");
        return -1;
    }
    if (!is_control(l) && node_bus_session_is_open(&l->sess) && !l->sent_data) {
        /* DATA names the member this link is meant for: the acceptor
         * refuses its batches once it is a later incarnation. */
        uint8_t to[NODE_BUS_DATA_TO], frame[NODE_BUS_HEADER + NODE_BUS_DATA_TO];
        size_t fl;

        node_bus_data_to_encode(l->o.peer_id, l->o.peer_incarnation, to);
        fl = node_bus_frame(frame, sizeof(frame), NODE_BUS_DATA, l->bus->id, l->bus->incarnation,
                            l->bus->epoch, to, l->o.peer_id != 0 ? sizeof(to) : 0);

        hs_emit(l, frame, fl);
        l->sent_data = 1;
    }
    if (l->state == NODE_LINK_HANDSHAKE &&
        (is_control(l) ? node_bus_session_is_open(&l->sess) : l->got_data))
        opened(l);
    return n;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    node_link_t *l = handle->data;

    (void)suggested;
    *buf = uv_buf_init(rc_buf_reserve(&l->in, LINK_READ), LINK_READ);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    node_link_t *l = stream->data;

    (void)buf;
    if (nread == 0 || l->state == NODE_LINK_CLOSING || l->state == NODE_LINK_IDLE)
        return;
    if (nread < 0) {
        link_fail(l, (int)nread, "lost link to",
                  nread == UV_EOF ? "connection closed by peer" : NULL);
        return;
    }
    rc_buf_commit(&l->in, (size_t)nread);
    l->last_used = node_bus_now(l->bus);
    l->moved_at = l->last_used;
    if (is_control(l) || l->state == NODE_LINK_HANDSHAKE) {
        ssize_t n = handshake(l, l->in.data + l->ipos, l->in.len - l->ipos);

        if (n < 0)
            return;
        l->ipos += (size_t)n;
        if (is_control(l) && l->ipos < l->in.len) {
            /* The session stops only at DATA, which a control peer never
             * sends: anything left over is garbage. */
            l->bus->stats.bad_frames++;
            link_fail(l, RC_EPROTO, "bad frame from", "unexpected bus frame");
            return;
        }
    }
    /* Replies: the owner may queue more on this link (or close it) from
     * inside on_data: re-read the state every round. */
    while (l->state == NODE_LINK_OPEN && !is_control(l) && l->ipos < l->in.len) {
        ssize_t n = l->ops->on_data(l->arg, l, l->in.data + l->ipos, l->in.len - l->ipos);

        if (l->state != NODE_LINK_OPEN)
            return;
        if (n < 0) {
            link_fail(l, (int)n, "bad reply from", "protocol error in a reply");
            return;
        }
        if (n == 0)
            break;
        l->ipos += (size_t)n;
    }
    if (l->ipos == l->in.len) {
        l->ipos = 0;
        rc_buf_reset_trim(&l->in, LINK_BUF_KEEP);
    } else if (l->ipos > 0) {
        rc_buf_consume(&l->in, l->ipos);
        l->ipos = 0;
    }
}

/* ---- connect -------------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status)
{
    node_link_t *l = req->data;

    if (l->state != NODE_LINK_CONNECTING)
        return;
    if (status < 0) {
        link_fail(l, status, "cannot connect to", NULL);
        return;
    }
    uv_tcp_nodelay(&l->tcp, 1);
    node_bus__session_init(l->bus, &l->sess, 1, l->o.role, l->o.resp);
    l->has_sess = 1;
    l->sent_data = 0;
    l->got_data = 0;
    l->bad = 0;
    l->state = NODE_LINK_HANDSHAKE;
    if (uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read) != 0) {
        link_fail(l, UV_EIO, "cannot read from", NULL);
        return;
    }
    node_bus_session_start(&l->sess, hs_emit, l);
}

static void link_connect(node_link_t *l)
{
    struct sockaddr_storage ss;
    int err;

    if (l->state != NODE_LINK_IDLE || l->bus->shut)
        return;
    if (to_sockaddr(l->addr, &ss) != 0)
        return; /* refused by node_link_get() */
    err = uv_tcp_init(l->bus->loop, &l->tcp);
    if (err != 0) {
        l->retry_at = node_bus_now(l->bus) + l->backoff;
        return;
    }
    l->tcp.data = l;
    l->connect.data = l;
    l->state = NODE_LINK_CONNECTING;
    l->started = node_bus_now(l->bus);
    if (!is_control(l))
        rc_log(RC_LOG_VERBOSE, "data link to %s (bus %s, resp %d): connecting", l->name, l->addr,
               l->o.resp);
    err = uv_tcp_connect(&l->connect, &l->tcp, (const struct sockaddr *)&ss, on_connect);
    if (err != 0)
        link_fail(l, err, "cannot connect to", NULL);
}

/* A quiet link gives the buffers of its last burst (kept up to
 * LINK_BUF_KEEP each while it was busy) back to the allocator, whatever
 * their size; the next burst grows them again. */
static void idle_trim(node_link_t *l)
{
    if (l->out.len == 0 && l->out.cap > 0)
        rc_buf_free(&l->out);
    if (l->wout.len == 0 && l->wout.cap > 0)
        rc_buf_free(&l->wout);
    if (l->ipos == 0 && l->in.len == 0 && l->in.cap > 0)
        rc_buf_free(&l->in);
}

void node_bus__links_tick(node_bus_t *bus)
{
    int64_t now = node_bus_now(bus);
    node_link_t *l, *next;

    for (l = bus->links; l != NULL; l = next) {
        next = l->next;
        if ((l->state == NODE_LINK_CONNECTING || l->state == NODE_LINK_HANDSHAKE) &&
            now - l->started > l->o.handshake_ms)
            link_fail(l, UV_ETIMEDOUT, "no answer from", "no answer (connect or handshake)");
        else if (l->state == NODE_LINK_IDLE && l->out.len > 0 && now >= l->retry_at)
            link_connect(l);
        else if (l->state == NODE_LINK_OPEN && !l->writing &&
                 now - l->last_used >= LINK_IDLE_TRIM_MS)
            idle_trim(l);
    }
}

void node_bus__links_close_all(node_bus_t *bus)
{
    node_link_t *l, *next;

    for (l = bus->links; l != NULL; l = next) {
        next = l->next;
        if (l->state == NODE_LINK_IDLE)
            continue; /* freed by node_bus__links_free() */
        link_fail(l, 0, "closed link to", "shutting down");
    }
}

void node_bus__links_free(node_bus_t *bus)
{
    while (bus->links != NULL) {
        RC_ASSERT(bus->links->state == NODE_LINK_IDLE);
        link_free(bus->links);
    }
}

/* ---- API ------------------------------------------------------------------ */

node_link_t *node_link_get(node_bus_t *bus, const char *bus_addr, const node_link_opts_t *o,
                           const node_link_ops_t *ops, void *arg)
{
    struct sockaddr_storage ss;
    node_link_t *l;

    for (l = bus->links; l != NULL; l = l->next) {
        if (!l->forget && l->o.role == o->role && l->o.resp == o->resp &&
            l->o.channel == o->channel && l->o.peer_id == o->peer_id &&
            l->o.peer_incarnation == o->peer_incarnation && strcmp(l->addr, bus_addr) == 0) {
            RC_ASSERT(l->ops == ops && l->arg == arg);
            return l;
        }
    }
    if (strlen(bus_addr) >= sizeof(l->addr) || to_sockaddr(bus_addr, &ss) != 0) {
        static int64_t last_log;

        if (node_bus_now(bus) - last_log > LINK_LOG_MS) {
            last_log = node_bus_now(bus);
            rc_log(RC_LOG_WARNING, "cluster bus: '%s' is not an IP address and port", bus_addr);
        }
        return NULL;
    }
    l = rc_xcalloc(1, sizeof(*l));
    l->bus = bus;
    l->o = *o;
    if (l->o.backoff_min_ms <= 0)
        l->o.backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
    if (l->o.backoff_max_ms < l->o.backoff_min_ms)
        l->o.backoff_max_ms = l->o.backoff_min_ms > DEFAULT_BACKOFF_MAX_MS ? l->o.backoff_min_ms
                                                                           : DEFAULT_BACKOFF_MAX_MS;
    if (l->o.handshake_ms <= 0)
        l->o.handshake_ms = DEFAULT_HANDSHAKE_MS;
    snprintf(l->addr, sizeof(l->addr), "%s", bus_addr);
    snprintf(l->name, sizeof(l->name), "%s", o->name != NULL ? o->name : bus_addr);
    l->o.name = NULL;
    l->ops = ops;
    l->arg = arg;
    l->backoff = l->o.backoff_min_ms;
    l->last_used = node_bus_now(bus);
    l->next = bus->links;
    bus->links = l;
    return l;
}

int node_link_send(node_link_t *l, uint8_t type, const void *payload, size_t len)
{
    node_bus_t *bus = l->bus;
    char *p;

    RC_ASSERT(is_control(l));
    if (bus->shut)
        return -ENOBUFS;
    l->last_used = node_bus_now(bus);
    if (l->state != NODE_LINK_OPEN && l->out.len + NODE_BUS_HEADER + len > NODE_LINK_QUEUE_MAX)
        return -ENOBUFS; /* paxos retries what matters; pings are periodic */
    p = rc_buf_reserve(&l->out, NODE_BUS_HEADER + len);
    if (node_bus_frame((uint8_t *)p, NODE_BUS_HEADER + len, type, bus->id, bus->incarnation,
                       bus->epoch, payload, len) == 0)
        return -EINVAL;
    rc_buf_commit(&l->out, NODE_BUS_HEADER + len);
    bus->stats.frames_sent++;
    if (l->state == NODE_LINK_IDLE && node_bus_now(bus) >= l->retry_at)
        link_connect(l);
    return 0;
}

int node_link_ready(node_link_t *l, const char **why)
{
    if (l->bus->shut) {
        *why = "shutting down";
        return -EAGAIN;
    }
    if (l->state == NODE_LINK_CLOSING ||
        (l->state == NODE_LINK_IDLE && node_bus_now(l->bus) < l->retry_at)) {
        *why = l->why;
        return -EAGAIN;
    }
    if (l->state == NODE_LINK_IDLE) {
        link_connect(l);
        if (l->state != NODE_LINK_CONNECTING) {
            *why = l->why[0] != '\0' ? l->why : "cannot connect";
            return -EAGAIN;
        }
    }
    return 0;
}

void node_link_append_buf(node_link_t *l, rc_buf_t *b)
{
    if (l->out.len == 0)
        swap(&l->out, b);
    else
        rc_buf_append(&l->out, b->data, b->len);
    rc_buf_reset(b);
}

char *node_link_reserve(node_link_t *l, size_t n)
{
    return rc_buf_reserve(&l->out, n);
}

void node_link_commit(node_link_t *l, size_t n)
{
    rc_buf_commit(&l->out, n);
    l->last_used = node_bus_now(l->bus);
}

size_t node_link_queued(const node_link_t *l)
{
    return l->out.len;
}

int node_link_is_open(const node_link_t *l)
{
    return l->state == NODE_LINK_OPEN;
}

const char *node_link_name(const node_link_t *l)
{
    return l->name;
}

int node_link_refusals(const node_link_t *l)
{
    return l->refusals;
}

const char *node_link_addr(const node_link_t *l)
{
    return l->addr;
}

const node_bus_hello_t *node_link_peer(const node_link_t *l)
{
    return l->has_sess ? node_bus_session_peer(&l->sess) : NULL;
}

unsigned node_link_peer_features(const node_link_t *l)
{
    const node_bus_header_t *h;

    if (l->state != NODE_LINK_OPEN || !l->has_sess)
        return 0;
    h = node_bus_session_peer_header(&l->sess);
    return h != NULL ? h->flags : 0;
}

size_t node_bus_links(node_bus_t *bus, node_bus_role_t role, node_link_t **out, size_t cap)
{
    node_link_t *l;
    size_t n = 0;

    for (l = bus->links; l != NULL; l = l->next) {
        if (l->o.role != role || l->forget)
            continue;
        if (n < cap)
            out[n] = l;
        n++;
    }
    return n;
}

node_link_t *node_bus_find_link(node_bus_t *bus, const char *bus_addr, node_bus_role_t role)
{
    node_link_t *l;

    for (l = bus->links; l != NULL; l = l->next) {
        if (l->o.role == role && !l->forget && strcmp(l->addr, bus_addr) == 0)
            return l;
    }
    return NULL;
}

size_t node_link_buffers(const node_link_t *l)
{
    return l->hs.cap + l->out.cap + l->whs.cap + l->wout.cap + l->in.cap;
}

int64_t node_link_still_ms(node_link_t *l)
{
    if (l->writing) {
        size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&l->tcp);

        if (q != l->wq_seen) {
            l->wq_seen = q;
            l->moved_at = node_bus_now(l->bus);
        }
    }
    return node_bus_now(l->bus) - l->moved_at;
}

int64_t node_link_idle_ms(const node_link_t *l)
{
    return node_bus_now(l->bus) - l->last_used;
}
