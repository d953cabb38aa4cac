/* tests/fuzz/node_bus_fuzz.c: libFuzzer target for node/node_bus_proto.c,
 * the cluster bus. The rules it checks beyond "no crash, no leak": decoders
 * are canonical (decode then encode gives the input back), the frame reader
 * sees the same frames however the bytes are split, a session never claims
 * more bytes than it was given and always explains a failure, and garbage
 * never opens a session. The input also runs through an open session (after
 * a real handshake with a fixed peer) so the post-handshake paths are fuzzed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "node/bus/node_bus_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct digest_s {
    uint64_t hash;
    uint64_t frames;
} digest_t;

typedef struct outbox_s {
    uint8_t buf[1024];
    size_t len;
} outbox_t;

static int on_frame(void *arg, const node_bus_header_t *h, const uint8_t *payload)
{
    digest_t *d = arg;
    uint32_t i;

    if (h->len > NODE_BUS_MAX_PAYLOAD || h->type < NODE_BUS_HELLO || h->type > NODE_BUS_DATA)
        abort();
    d->hash = d->hash * 31 + h->type;
    d->hash = d->hash * 31 + h->len;
    d->hash = d->hash * 31 + h->id + h->epoch;
    for (i = 0; i < h->len; i++)
        d->hash = d->hash * 131 + payload[i];
    d->frames++;
    return 0;
}

static void emit(void *arg, const void *bytes, size_t len)
{
    outbox_t *o = arg;

    if (o->len + len > sizeof(o->buf))
        abort(); /* a handshake is never this long */
    memcpy(o->buf + o->len, bytes, len);
    o->len += len;
}

static void check_decoders(const uint8_t *data, size_t size)
{
    static uint8_t out[NODE_BUS_PING_MAX + NODE_BUS_HELLO_MAX];
    node_bus_header_t h;
    node_bus_hello_t hello;
    node_bus_ping_t ping;
    int n;

    if (node_bus_header_decode(data, size, &h) == 0) {
        node_bus_header_encode(&h, out);
        if (memcmp(out, data, NODE_BUS_HEADER) != 0)
            abort();
    }
    if (node_bus_batch_decode(data, size, &h) == 0) {
        /* BATCH headers are canonical too, and never pass the control decoder. */
        node_bus_batch_header(out, h.flags, h.id, h.incarnation, h.epoch, h.len);
        if (memcmp(out, data, NODE_BUS_HEADER) != 0 || node_bus_header_decode(data, size, &h) == 0)
            abort();
    }
    if (node_bus_hello_decode(data, size, &hello) == 0) {
        n = node_bus_hello_encode(&hello, out, sizeof(out));
        if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
            abort();
    }
    if (node_bus_ping_decode(data, size, &ping) == 0) {
        n = node_bus_ping_encode(&ping, out, sizeof(out));
        if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
            abort();
    }
}

/* Feeds 'data' to a reader in chunks of 'chunk'; returns the final status. */
static ssize_t read_all(const uint8_t *data, size_t size, size_t chunk, digest_t *d)
{
    node_bus_reader_t r;
    ssize_t rc = 0;
    size_t off;

    memset(d, 0, sizeof(*d));
    node_bus_reader_init(&r);
    for (off = 0; off < size && rc >= 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;

        rc = node_bus_reader_feed(&r, data + off, n, on_frame, d);
        if (rc >= 0 && (size_t)rc != n)
            abort();
        if (r.in.cap > 2 * (NODE_BUS_HEADER + NODE_BUS_MAX_PAYLOAD))
            abort(); /* bounded: one partial frame at most (the buffer doubles) */
    }
    node_bus_reader_free(&r);
    return rc < 0 ? rc : 0;
}

static void hello_of(node_bus_hello_t *h, uint8_t nonce, uint8_t role, uint8_t resp)
{
    memset(h, 0, sizeof(*h));
    memset(h->nonce, nonce, sizeof(h->nonce));
    h->role = role;
    h->resp = resp;
    memcpy(h->bus_addr, "127.0.0.1:17001", 16);
    memcpy(h->client_addr, "127.0.0.1:7001", 15);
}

static void check_feed(node_bus_session_t *s, ssize_t rc, size_t size)
{
    if (rc >= 0 && (size_t)rc > size)
        abort();
    if (rc < 0 && (rc != RC_EPROTO && rc != RC_EAUTH))
        abort();
    if (rc < 0 && node_bus_session_error(s)[0] == '\0')
        abort();
}

/* Garbage straight into a fresh session, on both sides. */
static void fresh_sessions(const uint8_t *data, size_t size)
{
    static outbox_t out;
    node_bus_session_t s;
    node_bus_hello_t h;
    digest_t d;
    ssize_t rc;
    int side;

    for (side = 0; side <= 1; side++) {
        hello_of(&h, 7, NODE_BUS_ROLE_CONTROL, 0);
        node_bus_session_init(&s, side, &h, side ? "secret" : NULL, 1, 2, 3);
        out.len = 0;
        memset(&d, 0, sizeof(d));
        rc = node_bus_session_feed(&s, data, size, emit, &out, on_frame, &d);
        check_feed(&s, rc, size);
        if (node_bus_session_is_open(&s))
            abort(); /* nobody can forge the MAC */
        node_bus_session_free(&s);
    }
}

/* A real handshake with a fixed initiator, then the input as its next bytes. */
static void open_session(const uint8_t *data, size_t size)
{
    static outbox_t out_a, out_b;
    node_bus_session_t a, b;
    node_bus_hello_t ha, hb;
    digest_t d;
    ssize_t rc;

    hello_of(&ha, 1, NODE_BUS_ROLE_DATA, 2);
    hello_of(&hb, 2, NODE_BUS_ROLE_CONTROL, 0);
    node_bus_session_init(&a, 1, &ha, "secret", 1, 1, 1);
    node_bus_session_init(&b, 0, &hb, "secret", 2, 2, 2);
    out_a.len = out_b.len = 0;
    memset(&d, 0, sizeof(d));
    node_bus_session_start(&a, emit, &out_a);
    rc = node_bus_session_feed(&b, out_a.buf, out_a.len, emit, &out_b, on_frame, &d);
    out_a.len = 0;
    node_bus_session_feed(&a, out_b.buf, out_b.len, emit, &out_a, on_frame, &d);
    rc = node_bus_session_feed(&b, out_a.buf, out_a.len, emit, &out_b, on_frame, &d);
    if (rc < 0 || !node_bus_session_is_open(&a) || !node_bus_session_is_open(&b))
        abort();
    rc = node_bus_session_feed(&b, data, size, emit, &out_b, on_frame, &d);
    check_feed(&b, rc, size);
    if (rc >= 0 && (size_t)rc < size && d.frames == 0)
        abort(); /* stopped early only after a DATA frame */
    node_bus_session_free(&a);
    node_bus_session_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    digest_t whole, split;
    ssize_t rc1, rc2;
    size_t chunk;

    check_decoders(data, size);
    rc1 = read_all(data, size, size > 0 ? size : 1, &whole);
    chunk = size > 0 ? (size_t)data[size - 1] % 41 + 1 : 1;
    rc2 = read_all(data, size, chunk, &split);
    if (rc1 != rc2 || whole.hash != split.hash || whole.frames != split.frames)
        abort(); /* how the bytes are split must not matter */
    fresh_sessions(data, size);
    open_session(data, size);
    return 0;
}
