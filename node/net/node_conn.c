/* node/net/node_conn.c: client connections: accept, read, parse, run, write.
 * The one rule: the replies of every command run from one read leave in a
 * single write (uv_try_write, then one uv_write for what the kernel did not
 * take), and a connection is freed only in its close callback.
 *
 *   on_read --> resp_request_feed --> on_command --> request handler (cmd)
 *      |                                              | replies
 *      '--------------------> flush <--- obuf <-------'
 *
 * Output is bounded by pausing: past NODE_CONN_OUT_PAUSE pending bytes the
 * connection stops running commands and stops reading; the unrun bytes of
 * the last read wait in 'pending' until the peer drains the output. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "node/net/node_conn.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "common/rc_str.h"
#include "node/data/node_db.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"

typedef struct write_req_s {
    uv_write_t req;
    char *base; /* the output buffer this write owns */
} write_req_t;

/* Bytes fed to a paused raw connection, waiting with their own 'reject'
 * (a fenced batch behind an unfenced one must stay refused). */
typedef struct node_conn_feed_s {
    struct node_conn_feed_s *next;
    const char *reject;
    rc_buf_t bytes;
} feed_t;

static void process(node_conn_t *c, const char *data, size_t len);
static void run(node_conn_t *c, const char *data, size_t len);

static node_server_t *server_of(node_conn_t *c)
{
    return c->client.server;
}

size_t node_conn_out_pending(const node_conn_t *c)
{
    return c->olen + c->owriting + c->seg_bytes;
}

/* Room for 'n' more bytes in the buffer (*buf, len, *cap): rc_buf's growth
 * on fields a connection keeps apart ('initial' bytes at least, at first). */
static char *grow(char **buf, size_t len, size_t *cap, size_t n, size_t initial)
{
    rc_buf_t b = {*buf, len, *cap};
    char *p;

    if (b.data != NULL && b.cap - b.len > n)
        return *buf + len; /* the common case: room already */
    p = rc_buf_reserve(&b, b.data == NULL && n < initial ? initial : n);
    *buf = b.data;
    *cap = b.cap;
    return p;
}

enum {
    SEG_FREE_MAX = 64,    /* recycled segments kept per connection */
    SEG_KEEP = 16 * 1024, /* larger segment buffers are not kept */
    SEG_INITIAL = 512,
};

/* Segments are carved from blocks of SEG_BLOCK, not allocated one by one.
 * Under replication the reply to every write waits in a segment until the
 * replicas applied it, so a primary's segments come and go by the thousand
 * while the keys of those writes are allocated between them. Freed one by
 * one, they left single 96-byte holes between keys, and glibc hands such a
 * hole whole to a later 80-byte key (a 16-byte remainder cannot be split
 * off): a primary under replication paid 16 bytes more for about one key
 * in seven (a 16-byte key with a 16-byte value) than a replica or a
 * primary without replicas. A block is freed with its last segment, so the
 * holes are whole blocks, which later keys split without loss. One thread
 * (the event loop's) uses them. */
enum {
    SEG_BLOCK = 63, /* segments per block: about 5.5 KB */
};

typedef struct seg_block_s seg_block_t;

typedef struct seg_unit_s {
    seg_block_t *block;
    node_conn_seg_t seg;
} seg_unit_t;

struct seg_block_s {
    seg_block_t *prev, *next; /* on 'seg_partial' while it has a free segment */
    node_conn_seg_t *free;    /* its free segments, linked by 'next' */
    unsigned used;
    seg_unit_t units[SEG_BLOCK];
};

static seg_block_t *seg_partial; /* the blocks with a free segment */

static void block_unlink(seg_block_t *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        seg_partial = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    b->prev = b->next = NULL;
}

static void block_link(seg_block_t *b)
{
    b->prev = NULL;
    b->next = seg_partial;
    if (seg_partial != NULL)
        seg_partial->prev = b;
    seg_partial = b;
}

/* A new zeroed segment; free with seg_dealloc(). */
static node_conn_seg_t *seg_alloc(void)
{
    seg_block_t *b = seg_partial;
    node_conn_seg_t *seg;

    if (b == NULL) {
        b = rc_xmalloc(sizeof(*b));
        b->free = NULL;
        b->used = 0;
        for (int i = SEG_BLOCK - 1; i >= 0; i--) {
            b->units[i].block = b;
            b->units[i].seg.next = b->free;
            b->free = &b->units[i].seg;
        }
        block_link(b);
    }
    seg = b->free;
    b->free = seg->next;
    b->used++;
    if (b->free == NULL)
        block_unlink(b); /* full */
    memset(seg, 0, sizeof(*seg));
    return seg;
}

static void seg_dealloc(node_conn_seg_t *seg)
{
    seg_block_t *b = container_of(seg, seg_unit_t, seg)->block;

    if (b->free == NULL)
        block_link(b); /* it was full */
    seg->next = b->free;
    b->free = seg;
    if (--b->used == 0) {
        block_unlink(b);
        rc_free(b);
    }
}

node_conn_seg_t *node_conn_seg_get(node_conn_t *c)
{
    node_conn_seg_t *seg = c->seg_free;

    if (seg != NULL) {
        c->seg_free = seg->next;
        c->nseg_free--;
    } else {
        seg = seg_alloc();
    }
    seg->next = NULL;
    seg->conn = c;
    seg->len = 0;
    seg->gather = NULL;
    seg->on_done = NULL;
    seg->pending = 0;
    seg->nreq = 0;
    return seg;
}

static void seg_free(node_conn_seg_t *seg)
{
    rc_free(seg->buf);
    seg_dealloc(seg);
}

void node_conn_seg_release(node_conn_t *c, node_conn_seg_t *seg)
{
    if (c == NULL || c->closing || c->nseg_free >= SEG_FREE_MAX || seg->cap > SEG_KEEP) {
        seg_free(seg);
        return;
    }
    seg->next = c->seg_free;
    c->seg_free = seg;
    c->nseg_free++;
}

void node_conn_seg_append(node_conn_seg_t *seg, const char *p, size_t len)
{
    if (len == 0)
        return;
    memcpy(grow(&seg->buf, seg->len, &seg->cap, len, SEG_INITIAL), p, len);
    seg->len += len;
}

static void obuf_append(node_conn_t *c, const char *p, size_t len)
{
    if (len == 0)
        return;
    memcpy(grow(&c->obuf, c->olen, &c->ocap, len, NODE_CONN_OBUF_INITIAL), p, len);
    c->olen += len;
}

/* The output target of reply functions: the explicit capture, else the
 * last segment while any is queued (a new one behind a pending forward),
 * else obuf (NULL). */
static node_conn_seg_t *out_target(node_conn_t *c)
{
    node_conn_seg_t *tail = c->seg_tail;

    if (c->capture != NULL)
        return c->capture;
    if (tail == NULL)
        return NULL;
    if (tail->pending) {
        node_conn_seg_t *seg = node_conn_seg_get(c);

        tail->next = seg;
        c->seg_tail = seg;
        return seg;
    }
    return tail;
}

char *node_conn_out_reserve(node_conn_t *c, size_t n)
{
    node_conn_seg_t *seg = out_target(c);

    c->out_seg = seg;
    if (seg == NULL)
        return grow(&c->obuf, c->olen, &c->ocap, n, NODE_CONN_OBUF_INITIAL);
    return grow(&seg->buf, seg->len, &seg->cap, n, SEG_INITIAL);
}

void node_conn_out_commit(node_conn_t *c, size_t n)
{
    if (c->out_seg != NULL) {
        c->out_seg->len += n;
        if (c->out_seg != c->capture)
            c->seg_bytes += n;
    } else
        c->olen += n;
}

char *node_conn_out_base(node_conn_t *c, size_t *len)
{
    if (c->out_seg != NULL) {
        *len = c->out_seg->len;
        return c->out_seg->buf;
    }
    *len = c->olen;
    return c->obuf;
}

node_conn_seg_t *node_conn_seg_push(node_conn_t *c)
{
    node_conn_seg_t *seg = node_conn_seg_get(c);

    seg->pending = 1;
    seg->nreq = 1;
    if (c->seg_tail != NULL)
        c->seg_tail->next = seg;
    else
        c->seg_head = seg;
    c->seg_tail = seg;
    c->nfwd++;
    c->out_seg = NULL;
    return seg;
}

void node_conn_seg_join(node_conn_t *c, node_conn_seg_t *seg)
{
    RC_ASSERT(seg->pending && seg == c->seg_tail);
    seg->nreq++;
    c->nfwd++;
}

/* Moves the completed segments at the head into obuf. */
static void drain(node_conn_t *c)
{
    node_conn_seg_t *seg;

    while ((seg = c->seg_head) != NULL && !seg->pending) {
        obuf_append(c, seg->buf, seg->len);
        c->seg_bytes -= seg->len;
        c->seg_head = seg->next;
        if (c->seg_head == NULL)
            c->seg_tail = NULL;
        node_conn_seg_release(c, seg);
    }
    c->out_seg = NULL;
}

/* Drops the queued segments of a closing connection: pending ones are
 * orphaned (node_fwd.c still points at them), the rest freed. */
static void orphan_segs(node_conn_t *c)
{
    node_conn_seg_t *seg, *next;

    for (seg = c->seg_head; seg != NULL; seg = next) {
        next = seg->next;
        seg->next = NULL;
        if (seg->pending)
            seg->conn = NULL;
        else
            seg_free(seg);
    }
    c->seg_head = c->seg_tail = NULL;
    c->nfwd = 0;
    c->seg_bytes = 0;
    c->out_seg = NULL;
    c->capture = NULL;
}

static void pump(node_conn_t *c);

void node_conn_seg_complete(node_conn_seg_t *seg, const char *reply, size_t len)
{
    node_conn_t *c = seg->conn;

    if (seg->on_done != NULL) {
        node_conn_seg_done_fn *fn = seg->on_done;

        seg->on_done = NULL;
        fn(seg->done_arg, seg, reply, len);
    }
    if (c == NULL) {
        seg_free(seg); /* orphaned: its client is gone */
        return;
    }
    RC_ASSERT(seg->pending && c->nfwd >= seg->nreq);
    seg->pending = 0;
    c->nfwd -= seg->nreq;
    if (seg == c->seg_head) {
        /* The common case: straight into obuf, no copy into the segment
         * (a gathered reply is in seg->buf already). */
        obuf_append(c, seg->buf, seg->len);
        obuf_append(c, reply, len);
        seg->len = 0;
    } else {
        c->seg_bytes += seg->len + len;
        node_conn_seg_append(seg, reply, len);
    }
    drain(c);
    if (!c->in_batch && !c->closing && !c->deferred)
        node_server_defer(server_of(c), c);
}

void node_conn_resume(node_conn_t *c)
{
    if (!c->closing)
        pump(c);
}

static void on_close(uv_handle_t *handle)
{
    node_conn_t *c = handle->data;

    node_conn_seg_t *seg;

    if (c->raw != NULL && c->raw->on_close != NULL)
        c->raw->on_close(c->raw_arg, c);
    while ((seg = c->seg_free) != NULL) {
        c->seg_free = seg->next;
        seg_free(seg);
    }
    while (c->feed_head != NULL) {
        feed_t *f = c->feed_head;

        c->feed_head = f->next;
        rc_buf_free(&f->bytes);
        rc_free(f);
    }
    resp_request_destroy(c->proto);
    rc_free(c->obuf);
    rc_free(c->pending);
    rc_free(c->name);
    rc_free(c);
}

/* Unlinks 'c' from the server's list of held connections and frees the
 * parked request. */
static void held_drop(node_conn_t *c)
{
    node_server_t *server = server_of(c);

    if (!c->held)
        return;
    if (c->held_prev != NULL)
        c->held_prev->held_next = c->held_next;
    else
        server->held = c->held_next;
    if (c->held_next != NULL)
        c->held_next->held_prev = c->held_prev;
    c->held_prev = c->held_next = NULL;
    server->nheld--;
    c->held = 0;
    rc_free(c->held_argv); /* one allocation: the array, then the bytes */
    c->held_argv = NULL;
    c->held_argc = 0;
}

void node_conn_close(node_conn_t *c, int reason)
{
    if (c->closing)
        return; /* a read error and a write error can both get here */
    c->closing = 1;
    if (reason != 0 && reason != UV_EOF)
        rc_log(RC_LOG_VERBOSE, "conn %" PRIu64 ": closing: %s", c->id, rc_strerror(reason));
    else
        rc_log(RC_LOG_DEBUG, "conn %" PRIu64 ": closed", c->id);
    orphan_segs(c);
    held_drop(c);
    if (c->raw == NULL)
        node_server_unlink_client(server_of(c), c);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

void node_conn_close_after_reply(node_conn_t *c)
{
    c->close_after_reply = 1;
}

static void read_stop(node_conn_t *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
        c->stalled = 1;
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void read_start(node_conn_t *c)
{
    int err;

    if (c->reading || c->closing)
        return;
    err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (err != 0) {
        node_conn_close(c, err);
        return;
    }
    c->reading = 1;
}

static void on_write(uv_write_t *req, int status)
{
    write_req_t *w = (write_req_t *)(void *)req; /* 'req' is the first member */
    node_conn_t *c = req->data;
    size_t done = c->owriting;

    rc_free(w->base);
    rc_free(w);
    c->writing = 0;
    c->owriting = 0;
    if (c->closing)
        return;
    if (status < 0) {
        node_conn_close(c, status);
        return;
    }
    server_of(c)->stats.net_output_bytes += done;
    pump(c);
}

/* Hands the output to the kernel: try a direct write, queue the rest in
 * one uv_write that owns the buffer. */
static void flush(node_conn_t *c)
{
    uv_buf_t buf;
    write_req_t *w;
    int n, err;

    if (c->closing || c->writing || c->olen == 0)
        return;
    buf = uv_buf_init(c->obuf, (unsigned)c->olen);
    n = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
        node_conn_close(c, n);
        return;
    }
    if (n < 0)
        n = 0;
    server_of(c)->stats.net_output_bytes += (uint64_t)n;
    if ((size_t)n == c->olen) {
        c->olen = 0;
        if (c->ocap > NODE_CONN_OBUF_KEEP) {
            rc_free(c->obuf);
            c->obuf = NULL;
            c->ocap = 0;
        }
        return;
    }
    /* The write takes the buffer; the next reply starts a fresh one. */
    w = rc_xmalloc(sizeof(*w));
    w->base = c->obuf;
    w->req.data = c;
    buf = uv_buf_init(c->obuf + n, (unsigned)(c->olen - (size_t)n));
    c->owriting = c->olen - (size_t)n;
    if (c->owriting > c->out_peak)
        c->out_peak = c->owriting;
    c->obuf = NULL;
    c->olen = 0;
    c->ocap = 0;
    c->writing = 1;
    err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
    if (err != 0) {
        rc_free(w->base);
        rc_free(w);
        c->writing = 0;
        c->owriting = 0;
        node_conn_close(c, err);
        return;
    }
    if (node_conn_out_pending(c) > NODE_CONN_OUT_PAUSE)
        read_stop(c);
}

/* ---- prefetching ----
 *
 * A pipelined batch (16 SETs of a client, or a data link's read of a
 * stream's writes) is scanned ahead of the parser: its complete RESP
 * requests give their keys (server->key_of), whose buckets are prefetched,
 * then the objects those buckets point to; PF_NEXT requests before one
 * runs, the second object of its key's chain. When the requests run, their
 * lookups find them in the cache: the misses of a batch overlap instead of
 * stalling one request after the other. Hints only: a scan that meets
 * anything unexpected stops, and the parser alone decides what runs. */
enum {
    PF_BATCH = 16, /* requests scanned at once */
    PF_LOW = 4,    /* scan on when this few scanned requests are left */
    PF_NEXT = 2,   /* a chain's second object: this many requests ahead */
    PF_MAX_ARGS = 1024 * 1024,
};

/* Scans the complete requests after c->pf_pos (at most PF_BATCH) and
 * prefetches their keys; stops scanning for good at a partial or
 * unexpected request. */
static void pf_scan(node_conn_t *c)
{
    node_server_t *server = server_of(c);
    uint64_t h[PF_BATCH];
    int n = 0, nkeys = 0;

    while (n < PF_BATCH) {
        resp_arg_t argv[NODE_CONN_PREFETCH_ARGS], key;
        int argc;
        size_t used = resp_request_peek(c->pf_data + c->pf_pos, c->pf_len - c->pf_pos, PF_MAX_ARGS,
                                        &argc, argv, NODE_CONN_PREFETCH_ARGS);
        unsigned at;

        if (used == 0)
            break;
        at = c->pf_tail++ & (NODE_CONN_PF_RING - 1);
        c->pf_pos += used;
        n++;
        c->pf_key[at] = (uint8_t)server->key_of(argc, argv, &key);
        if (c->pf_key[at])
            c->pf_hash[at] = h[nkeys++] = node_db_prefetch_bucket(c->client.db, key.ptr, key.len);
    }
    for (int i = 0; i < nkeys; i++)
        node_db_prefetch_object(c->client.db, h[i]);
    c->pf_left += (unsigned)n;
    if (n < PF_BATCH)
        c->pf_data = NULL; /* the rest is partial, unexpected or gone */
}

static int on_command(void *ud, int argc, resp_arg_t *argv)
{
    node_conn_t *c = ud;

    if (c->pf_left > 0)
        c->pf_left--;
    if (c->pf_data != NULL && c->pf_left <= PF_LOW)
        pf_scan(c);
    if (c->pf_left >= PF_NEXT) {
        /* The request PF_NEXT after this one: its first object has had
         * time to arrive; a lookup walks past it about a quarter of the
         * time (chains of a table at load 0.5-1). */
        unsigned at = (c->pf_tail - c->pf_left + PF_NEXT - 1) & (NODE_CONN_PF_RING - 1);

        if (c->pf_key[at])
            node_db_prefetch_next(c->client.db, c->pf_hash[at]);
    }
    c->client.argc = argc;
    c->client.argv = argv;
    c->parsed_argv = argv;
    if (c->reject != NULL)
        node_reply_error(&c->client, c->reject);
    else
        c->on_request(c->request_arg, &c->client);
    c->parsed_argv = NULL;
    c->client.argc = 0;
    c->client.argv = NULL;
    c->capture = NULL;
    if (c->seg_head != NULL)
        drain(c);
    if (c->closing || c->close_after_reply || c->held)
        return 1;
    return node_conn_out_pending(c) > NODE_CONN_OUT_PAUSE || c->nfwd >= NODE_CONN_MAX_FORWARDS;
}

/* Runs the commands in 'data' (no flush). */
static void run(node_conn_t *c, const char *data, size_t len)
{
    node_server_t *server = server_of(c);
    long long max_bulk = server->config.proto_max_bulk_len;
    long long max_query = server->config.client_query_buffer_limit;
    ssize_t n;

    if (c->peer) {
        /* A peer sends what one client request held: a forwarded request,
         * or a write's key and value packed in one bulk (LIVEPACK) with a
         * few bytes of framing, more than proto-max-bulk-len when the value
         * is near it. */
        max_bulk += max_query;
        max_query += max_bulk;
    }
    resp_request_set_limits(c->proto, max_bulk, max_query);
    /* requirepass may have been cleared by CONFIG SET since we connected. */
    resp_request_set_authenticated(c->proto,
                                   c->authenticated || server->config.requirepass == NULL);
    c->in_batch = 1;
    c->pf_data = NULL;
    c->pf_left = 0;
    c->pf_tail = 0;
    if (server->key_of != NULL && len > 0 && data[0] == '*' && c->reject == NULL &&
        resp_request_buffered(c->proto) == 0) {
        c->pf_data = data;
        c->pf_len = len;
        c->pf_pos = 0;
        pf_scan(c);
    }
    n = resp_request_feed(c->proto, data, len, on_command, c);
    c->pf_data = NULL;
    c->in_batch = 0;
    if (c->closing)
        return;
    if (n == RC_EPROTO) {
        rc_log(RC_LOG_VERBOSE, "conn %" PRIu64 ": protocol error from client: %s", c->id,
               resp_request_error(c->proto));
        node_reply_error(&c->client, resp_request_error(c->proto));
        c->close_after_reply = 1;
        read_stop(c);
    } else if (n < 0) {
        rc_log(RC_LOG_WARNING,
               "Closing client that reached max query buffer length: id=%" PRIu64 " addr=%s", c->id,
               c->addr);
        node_conn_close(c, n);
        return;
    } else if ((size_t)n < len && !c->close_after_reply) {
        /* Paused on output: keep the unrun bytes, stop reading. */
        c->pending = rc_xmemdup(data + n, len - (size_t)n);
        c->pending_len = len - (size_t)n;
        read_stop(c);
    } else if (c->held) {
        read_stop(c); /* node_conn_release() reads on */
    }
}

/* Writes the output and, once it is all out, closes (QUIT, protocol
 * error), resumes the commands left unrun by a pause, or reads on. A loop,
 * not recursion: each round runs at least one pending command. */
static void pump(node_conn_t *c)
{
    for (;;) {
        char *data;
        size_t len;

        flush(c);
        if (c->closing)
            return;
        if (c->held) {
            read_stop(c); /* node_conn_release() pumps again */
            return;
        }
        if (c->writing) {
            if (node_conn_out_pending(c) > NODE_CONN_OUT_PAUSE)
                read_stop(c);
            return; /* on_write() pumps again */
        }
        if (c->close_after_reply) {
            if (c->seg_head == NULL)
                node_conn_close(c, 0);
            return; /* else once the forwarded replies before it are out */
        }
        if (c->nfwd >= NODE_CONN_MAX_FORWARDS ||
            (c->seg_head != NULL && c->seg_bytes > NODE_CONN_OUT_PAUSE)) {
            read_stop(c); /* a forwarded reply pumps again */
            return;
        }
        if (c->pending == NULL && c->feed_head != NULL) {
            feed_t *f = c->feed_head; /* the next bytes fed while paused */

            c->feed_head = f->next;
            if (c->feed_head == NULL)
                c->feed_tail = NULL;
            c->pending = rc_buf_detach(&f->bytes, &c->pending_len);
            c->reject = f->reject;
            rc_free(f);
        }
        if (c->pending == NULL) {
            read_start(c);
            return;
        }
        data = c->pending;
        len = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        run(c, data, len);
        rc_free(data);
        if (c->pending == NULL)
            c->reject = NULL;
    }
}

static void process(node_conn_t *c, const char *data, size_t len)
{
    run(c, data, len);
    pump(c);
}

/* 1 when the other end of 'c' has closed (its FIN or a reset has arrived),
 * even with requests still unread before it. */
static int hung_up(node_conn_t *c)
{
    uv_os_fd_t fd;
    struct pollfd p;

    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
        return 0;
    p.fd = fd;
    p.events = POLLRDHUP;
    p.revents = 0;
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* The node at the other end of the data link 'c' closed it: it gave up on
 * what it sent (a forward timed out, or it shut down) and answered its
 * clients with an error; they may have retried since. What it sent and
 * this node has not run yet is dropped unrun: run late, it could overwrite
 * a newer write. */
static void peer_gone(node_conn_t *c)
{
    server_of(c)->stats.peer_hangups++;
    rc_log(RC_LOG_VERBOSE,
           "conn %" PRIu64 ": the peer closed the link: what it sent is dropped unrun", c->id);
    node_conn_close(c, 0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    node_conn_t *c = handle->data;
    node_server_t *server = server_of(c);

    (void)suggested;
    /* One read per client per loop iteration, as Redis does: libuv would
     * otherwise keep reading one busy client (up to 32 reads) while the
     * others wait. An empty buffer makes libuv stop with UV_ENOBUFS; the
     * socket stays readable and is read on the next iteration. */
    if (server->readbuf_busy || c->read_iter == server->loop_iter) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    c->read_iter = server->loop_iter;
    server->readbuf_busy = 1;
    /* Small reads keep clients interleaved; a big argument being read
     * gets the whole buffer. */
    /* A data link from a peer carries the requests of many clients. */
    *buf = uv_buf_init(
        server->readbuf,
        c->peer || (c->proto != NULL && resp_request_buffered(c->proto) >= NODE_SERVER_READ_CHUNK)
            ? NODE_SERVER_READBUF
            : NODE_SERVER_READ_CHUNK);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    node_conn_t *c = stream->data;
    node_server_t *server = server_of(c);
    int quiet;

    if (buf->base == server->readbuf)
        server->readbuf_busy = 0;
    if (nread == 0 || c->closing)
        return;
    if (c->close_after_reply && nread > 0) {
        read_stop(c); /* QUIT or a protocol error: nothing more is run */
        return;
    }
    if (nread == UV_ENOBUFS)
        return; /* throttled by on_alloc(): read again next iteration */
    if (nread < 0) {
        node_conn_close(c, (int)nread);
        return;
    }
    server->stats.net_input_bytes += (uint64_t)nread;
    node_server_update_time(server);
    /* A peer's bytes that waited (this node stopped reading, or did not
     * get to it): the peer may have given up on them meanwhile. */
    quiet = c->stalled || server->now_ms - c->last_ms >= NODE_CONN_PEER_QUIET_MS;
    c->stalled = 0;
    c->last_ms = server->now_ms;
    if (c->raw != NULL) {
        if (c->peer && quiet && hung_up(c)) {
            peer_gone(c);
            return;
        }
        c->raw->on_bytes(c->raw_arg, c, buf->base, (size_t)nread);
        if (!c->closing)
            pump(c);
        return;
    }
    process(c, buf->base, (size_t)nread);
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t size)
{
    char ip[64] = "?";
    int port = 0;

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ss;

        uv_ip4_name(sin, ip, sizeof(ip));
        port = ntohs(sin->sin_port);
        snprintf(out, size, "%s:%d", ip, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)ss;

        uv_ip6_name(sin6, ip, sizeof(ip));
        port = ntohs(sin6->sin6_port);
        snprintf(out, size, "[%s]:%d", ip, port);
    } else {
        snprintf(out, size, "?:0");
    }
}

/* Protected mode's rule (rc_is_loopback_ip(): exactly 127.0.0.1 or ::1) on
 * the peer's address; unix sockets are local. */
static int is_loopback(const struct sockaddr_storage *ss)
{
    char ip[64] = "";

    if (ss->ss_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)(const void *)ss, ip, sizeof(ip));
    else if (ss->ss_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)(const void *)ss, ip, sizeof(ip));
    else
        return 1;
    return rc_is_loopback_ip(ip);
}

static const char denied_msg[] =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

static void on_refused_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    rc_free(req);
}

static void on_discard_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    node_conn_t *c = handle->data;
    node_server_t *server = server_of(c);

    (void)suggested;
    if (server->readbuf_busy) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    server->readbuf_busy = 1;
    *buf = uv_buf_init(server->readbuf, NODE_SERVER_READ_CHUNK);
}

static void on_discard_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    node_conn_t *c = stream->data;

    if (buf->base == server_of(c)->readbuf)
        server_of(c)->readbuf_busy = 0;
    if (nread < 0 && nread != UV_ENOBUFS)
        node_conn_close(c, 0); /* the peer hung up (or failed) */
}

/* Answers a connection refused at accept with 'msg', then half-closes and
 * drains it until the peer hangs up (the cron closes it after 2 s): closing
 * with unread input would send a RST that can destroy the message. */
static void refuse(node_conn_t *c, const char *msg)
{
    node_server_t *server = server_of(c);
    uv_buf_t buf = uv_buf_init((char *)msg, (unsigned)strlen(msg));
    uv_shutdown_t *req;

    if (msg[0] == '\0') {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    (void)uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
    c->refused = 1;
    c->ctime_ms = server->now_ms;
    node_server_link_client(server, c);
    req = rc_xmalloc(sizeof(*req));
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_refused_shutdown) != 0) {
        rc_free(req);
        node_conn_close(c, 0);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_discard_alloc, on_discard_read) != 0)
        node_conn_close(c, 0);
}

/* Accepts one pending connection on 'listener' into a new connection with
 * its addresses filled in ('peer' gets the remote one). Returns 0, or a
 * libuv error (the connection is then gone or closing). */
static int accept_one(node_server_t *server, uv_stream_t *listener, node_conn_t **out,
                      struct sockaddr_storage *peer)
{
    node_conn_t *c = rc_xcalloc(1, sizeof(*c));
    struct sockaddr_storage local;
    uv_os_fd_t fd;
    int err, len;

    *out = NULL;
    err = uv_tcp_init(server->loop, &c->tcp);
    if (err != 0) {
        rc_free(c); /* not registered with the loop: free directly */
        return err;
    }
    c->tcp.data = c;
    c->client.server = server;
    c->client.db = server->db;
    c->client.resp = 2;
    c->client.conn = c;
    err = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (err != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return err;
    }
    memset(peer, 0, sizeof(*peer));
    memset(&local, 0, sizeof(local));
    len = sizeof(*peer);
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)peer, &len);
    len = sizeof(local);
    uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&local, &len);
    format_addr(peer, c->addr, sizeof(c->addr));
    format_addr(&local, c->laddr, sizeof(c->laddr));
    c->fd = uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 ? (int)fd : -1;
    uv_tcp_nodelay(&c->tcp, 1);
    *out = c;
    return 0;
}

int node_conn_accept(node_server_t *server, uv_stream_t *listener)
{
    struct sockaddr_storage peer;
    node_conn_t *c;
    int err = accept_one(server, listener, &c, &peer);

    if (err != 0)
        return err;
    if (server->shutting_down) {
        refuse(c, "");
        return 0;
    }
    if (server->nclients >= server->config.maxclients) {
        server->stats.rejected_connections++;
        refuse(c, "-ERR max number of clients reached\r\n");
        return 0;
    }
    if (server->config.protected_mode && server->config.requirepass == NULL &&
        !is_loopback(&peer)) {
        server->stats.rejected_connections++;
        rc_log(RC_LOG_WARNING, "Refusing connection from %s: protected mode", c->addr);
        refuse(c, denied_msg);
        return 0;
    }
    if (server->config.tcp_keepalive > 0)
        uv_tcp_keepalive(&c->tcp, 1, (unsigned)server->config.tcp_keepalive);
    c->id = ++server->next_conn_id;
    c->on_request = server->on_request;
    c->request_arg = server->request_arg;
    c->proto = resp_request_create(server->config.proto_max_bulk_len,
                                   server->config.client_query_buffer_limit);
    node_conn_set_authenticated(c, server->config.requirepass == NULL);
    c->ctime_ms = server->now_ms;
    c->last_ms = server->now_ms;
    server->stats.total_connections++;
    node_server_link_client(server, c);
    rc_log(RC_LOG_DEBUG, "conn %" PRIu64 ": accepted from %s", c->id, c->addr);
    read_start(c);
    return 0;
}

void node_conn_set_authenticated(node_conn_t *c, int authenticated)
{
    c->authenticated = authenticated ? 1 : 0;
    if (c->proto != NULL)
        resp_request_set_authenticated(c->proto, authenticated);
}

int node_conn_accept_raw(node_server_t *server, uv_stream_t *listener, const node_conn_raw_t *raw,
                         void *arg, node_conn_t **out)
{
    struct sockaddr_storage peer;
    node_conn_t *c;
    int err = accept_one(server, listener, &c, &peer);

    *out = NULL;
    if (err != 0)
        return err;
    if (server->shutting_down) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return UV_ECANCELED;
    }
    c->id = ++server->next_conn_id;
    c->raw = raw;
    c->raw_arg = arg;
    c->ctime_ms = server->now_ms;
    c->last_ms = server->now_ms;
    *out = c;
    read_start(c);
    return 0;
}

void node_conn_take_requests(node_conn_t *c, node_conn_request_fn *fn, void *arg, int resp,
                             int peer)
{
    node_server_t *server = server_of(c);

    c->on_request = fn;
    c->request_arg = arg;
    c->client.resp = resp == 3 ? 3 : 2;
    c->peer = peer ? 1 : 0;
    if (c->proto == NULL)
        c->proto = resp_request_create(server->config.proto_max_bulk_len,
                                       server->config.client_query_buffer_limit);
    node_conn_set_authenticated(c, 1);
}

void node_conn_feed(node_conn_t *c, const char *data, size_t len, const char *reject)
{
    RC_ASSERT(c->proto != NULL && c->on_request != NULL);
    if (c->closing || len == 0)
        return;
    if (c->pending != NULL || c->feed_head != NULL || c->held) {
        /* Paused on output or holding a request: these bytes wait behind
         * the ones already waiting, with their own 'reject'. */
        feed_t *f = c->feed_tail;

        if (f == NULL && reject == c->reject) {
            rc_buf_t b = {c->pending, c->pending_len, c->pending_len};

            /* 'pending' is exact-sized (no room, no NUL): grow it as rc_buf. */
            memcpy(grow(&b.data, b.len, &b.cap, len, 0), data, len);
            c->pending = b.data;
            c->pending_len += len;
            return;
        }
        if (f == NULL || f->reject != reject) {
            f = rc_xcalloc(1, sizeof(*f));
            f->reject = reject;
            if (c->feed_tail != NULL)
                c->feed_tail->next = f;
            else
                c->feed_head = f;
            c->feed_tail = f;
        }
        rc_buf_append(&f->bytes, data, len);
        return;
    }
    c->reject = reject;
    run(c, data, len);
    if (c->pending == NULL)
        c->reject = NULL; /* else it applies to the waiting bytes too */
}

char *node_conn_take_arg(node_client_t *client, int i)
{
    node_conn_t *c = client->conn;

    if (c == NULL || c->parsed_argv == NULL || client->argv != c->parsed_argv)
        return NULL;
    return resp_request_take_arg(c->proto, i);
}

void node_conn_hold(node_conn_t *c)
{
    node_server_t *server = server_of(c);
    size_t bytes = 0;
    char *p;
    int i;

    RC_ASSERT(!c->held && c->client.argc > 0);
    for (i = 0; i < c->client.argc; i++)
        bytes += c->client.argv[i].len + 1;
    c->held_argv = rc_xmalloc((size_t)c->client.argc * sizeof(resp_arg_t) + bytes);
    p = (char *)(c->held_argv + c->client.argc);
    for (i = 0; i < c->client.argc; i++) {
        memcpy(p, c->client.argv[i].ptr, c->client.argv[i].len);
        p[c->client.argv[i].len] = '\0';
        c->held_argv[i].ptr = p;
        c->held_argv[i].len = c->client.argv[i].len;
        p += c->client.argv[i].len + 1;
    }
    c->held_argc = c->client.argc;
    if (c->held_since == 0)
        c->held_since = server->now_ms; /* kept across re-parks: the bound is from the first */
    c->held = 1;
    c->held_prev = NULL;
    c->held_next = server->held;
    if (server->held != NULL)
        server->held->held_prev = c;
    server->held = c;
    server->nheld++;
}

void node_conn_release(node_conn_t *c)
{
    resp_arg_t *argv = c->held_argv;
    int argc = c->held_argc;

    if (!c->held || c->closing)
        return;
    if (c->peer && hung_up(c)) {
        peer_gone(c);
        return;
    }
    c->held_argv = NULL; /* held_drop() must not free it: it runs now */
    c->held_argc = 0;
    held_drop(c);
    c->in_batch = 1;
    c->client.argc = argc;
    c->client.argv = argv;
    c->on_request(c->request_arg, &c->client);
    c->client.argc = 0;
    c->client.argv = NULL;
    c->capture = NULL;
    c->in_batch = 0;
    if (!c->held)
        c->held_since = 0;
    rc_free(argv);
    if (c->seg_head != NULL)
        drain(c);
    if (!c->closing)
        pump(c);
}

void node_conn_write(node_conn_t *c, const void *data, size_t len)
{
    memcpy(node_conn_out_reserve(c, len), data, len);
    node_conn_out_commit(c, len);
}

void node_conn_trim(node_conn_t *c)
{
    node_conn_seg_t *seg;

    if (c->closing || c->held || c->deferred || c->writing || c->olen != 0 || c->pending != NULL ||
        c->feed_head != NULL || c->seg_head != NULL || c->capture != NULL)
        return;
    rc_free(c->obuf);
    c->obuf = NULL;
    c->ocap = 0;
    c->out_seg = NULL;
    while ((seg = c->seg_free) != NULL) {
        c->seg_free = seg->next;
        seg_free(seg);
    }
    c->nseg_free = 0;
    resp_request_trim(c->proto);
}

void node_conn_flush(node_conn_t *c)
{
    if (!c->closing && !c->in_batch)
        pump(c);
}

size_t node_conn_describe(const node_conn_t *c, int64_t now_ms, char *buf, size_t size)
{
    size_t qbuf = resp_request_buffered(c->proto);
    size_t mem = resp_request_memory(c->proto) + c->ocap + c->owriting + sizeof(*c);
    int n;

    n = snprintf(
        buf, size,
        "id=%" PRIu64
        " addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=0 argv-mem=0 multi-mem=0 rbs=%d rbp=0 obl=%zu oll=%d omem=%zu tot-mem=%zu events=r%s cmd=%s user=default redir=-1 resp=%d",
        c->id, c->addr, c->laddr, c->fd, c->name != NULL ? c->name : "",
        (long long)((now_ms - c->ctime_ms) / 1000), (long long)((now_ms - c->last_ms) / 1000), qbuf,
        NODE_SERVER_READBUF, c->olen, c->writing ? 1 : 0, c->owriting, mem, c->writing ? "w" : "",
        c->lastcmd != NULL ? c->lastcmd : "NULL", c->client.resp);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}
