/* node/bus/node_bus_proto.c: the cluster bus wire protocol (see node_bus_proto.h
 * for the layout and the handshake). The one rule: pure code that trusts no
 * byte from a peer; the reader never holds more than one partial frame. */
#include "node/bus/node_bus_proto.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/rc.h"

static const char mac_label[] = "ringcache-bus-v1";

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    int i;

    for (i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    int i;

    for (i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- header and frame ---- */

void node_bus_header_encode(const node_bus_header_t *h, uint8_t out[NODE_BUS_HEADER])
{
    put_le(out, NODE_BUS_MAGIC, 4);
    out[4] = NODE_BUS_VERSION;
    out[5] = h->type;
    put_le(out + 6, h->flags, 2);
    put_le(out + 8, h->len, 4);
    put_le(out + 12, h->id, 8);
    put_le(out + 20, h->incarnation, 8);
    put_le(out + 28, h->epoch, 8);
}

int node_bus_header_decode(const uint8_t *buf, size_t len, node_bus_header_t *h)
{
    if (len < NODE_BUS_HEADER || get_le(buf, 4) != NODE_BUS_MAGIC || buf[4] != NODE_BUS_VERSION)
        return RC_EPROTO;
    if (buf[5] < NODE_BUS_HELLO || buf[5] > NODE_BUS_DATA)
        return RC_EPROTO;
    h->type = buf[5];
    h->flags = (uint16_t)get_le(buf + 6, 2);
    h->len = (uint32_t)get_le(buf + 8, 4);
    if (h->len > NODE_BUS_MAX_PAYLOAD)
        return RC_EPROTO;
    h->id = get_le(buf + 12, 8);
    h->incarnation = get_le(buf + 20, 8);
    h->epoch = get_le(buf + 28, 8);
    return 0;
}

void node_bus_batch_header(uint8_t out[NODE_BUS_HEADER], uint16_t flags, uint64_t id,
                           uint64_t incarnation, uint64_t epoch, uint32_t len)
{
    node_bus_header_t h;

    h.type = NODE_BUS_BATCH;
    h.flags = flags;
    h.len = len;
    h.id = id;
    h.incarnation = incarnation;
    h.epoch = epoch;
    node_bus_header_encode(&h, out);
}

int node_bus_batch_decode(const uint8_t *buf, size_t len, node_bus_header_t *h)
{
    if (len < NODE_BUS_HEADER || get_le(buf, 4) != NODE_BUS_MAGIC || buf[4] != NODE_BUS_VERSION ||
        buf[5] != NODE_BUS_BATCH)
        return RC_EPROTO;
    h->type = buf[5];
    h->flags = (uint16_t)get_le(buf + 6, 2);
    h->len = (uint32_t)get_le(buf + 8, 4);
    h->id = get_le(buf + 12, 8);
    h->incarnation = get_le(buf + 20, 8);
    h->epoch = get_le(buf + 28, 8);
    return 0;
}

size_t node_bus_frame(uint8_t *out, size_t cap, uint8_t type, uint64_t id, uint64_t incarnation,
                      uint64_t epoch, const void *payload, size_t len)
{
    node_bus_header_t h;

    if (len > NODE_BUS_MAX_PAYLOAD || cap < NODE_BUS_HEADER + len)
        return 0;
    h.type = type;
    h.flags = 0;
    h.len = (uint32_t)len;
    h.id = id;
    h.incarnation = incarnation;
    h.epoch = epoch;
    node_bus_header_encode(&h, out);
    if (len > 0)
        memcpy(out + NODE_BUS_HEADER, payload, len);
    return NODE_BUS_HEADER + len;
}

/* ---- HELLO ---- */

static int role_ok(uint8_t role, uint8_t resp)
{
    if (role == NODE_BUS_ROLE_CONTROL)
        return resp == 0;
    if (role == NODE_BUS_ROLE_DATA)
        return resp == 2 || resp == 3;
    return 0;
}

int node_bus_hello_encode(const node_bus_hello_t *h, uint8_t *buf, size_t cap)
{
    size_t nb = strnlen(h->bus_addr, NODE_BUS_ADDR_MAX);
    size_t nc = strnlen(h->client_addr, NODE_BUS_ADDR_MAX);
    size_t total = NODE_BUS_NONCE + 2 + 8 + 2 + nb + 2 + nc;
    uint8_t *p = buf;

    if (!role_ok(h->role, h->resp))
        return RC_EPROTO;
    if (nb == NODE_BUS_ADDR_MAX || nc == NODE_BUS_ADDR_MAX || cap < total)
        return RC_ETOOBIG;
    memcpy(p, h->nonce, NODE_BUS_NONCE);
    p += NODE_BUS_NONCE;
    *p++ = h->role;
    *p++ = h->resp;
    put_le(p, h->placement, 8);
    p += 8;
    put_le(p, nb, 2);
    memcpy(p + 2, h->bus_addr, nb);
    p += 2 + nb;
    put_le(p, nc, 2);
    memcpy(p + 2, h->client_addr, nc);
    return (int)total;
}

/* Reads a u16-prefixed address at buf[*pos]; 0 or RC_EPROTO. */
static int get_addr(const uint8_t *buf, size_t len, size_t *pos, char out[NODE_BUS_ADDR_MAX])
{
    size_t n;

    if (len - *pos < 2)
        return RC_EPROTO;
    n = (size_t)get_le(buf + *pos, 2);
    *pos += 2;
    if (n >= NODE_BUS_ADDR_MAX || len - *pos < n || memchr(buf + *pos, '\0', n) != NULL)
        return RC_EPROTO;
    memcpy(out, buf + *pos, n);
    out[n] = '\0';
    *pos += n;
    return 0;
}

int node_bus_hello_decode(const uint8_t *buf, size_t len, node_bus_hello_t *h)
{
    size_t pos = NODE_BUS_NONCE + 2 + 8;

    memset(h, 0, sizeof(*h));
    if (len < pos)
        return RC_EPROTO;
    memcpy(h->nonce, buf, NODE_BUS_NONCE);
    h->role = buf[NODE_BUS_NONCE];
    h->resp = buf[NODE_BUS_NONCE + 1];
    if (!role_ok(h->role, h->resp))
        return RC_EPROTO;
    h->placement = get_le(buf + NODE_BUS_NONCE + 2, 8);
    if (get_addr(buf, len, &pos, h->bus_addr) != 0 || get_addr(buf, len, &pos, h->client_addr) != 0)
        return RC_EPROTO;
    return pos == len ? 0 : RC_EPROTO;
}

/* ---- PING / PONG ---- */

int node_bus_ping_encode(const node_bus_ping_t *p, uint8_t *buf, size_t cap)
{
    size_t total, i;

    if (p->nsuspects > NODE_BUS_MAX_SUSPECTS)
        return RC_ETOOBIG;
    total = 20 + 8 * (size_t)p->nsuspects + (p->lease != 0);
    if (cap < total)
        return RC_ETOOBIG;
    put_le(buf, p->seq, 8);
    put_le(buf + 8, p->sent_ms, 8);
    put_le(buf + 16, p->nsuspects, 4);
    for (i = 0; i < p->nsuspects; i++)
        put_le(buf + 20 + 8 * i, p->suspects[i], 8);
    if (p->lease != 0)
        buf[total - 1] = 1;
    return (int)total;
}

int node_bus_ping_decode(const uint8_t *buf, size_t len, node_bus_ping_t *p)
{
    uint64_t n;
    size_t i;

    memset(p, 0, sizeof(*p));
    if (len < 20)
        return RC_EPROTO;
    n = get_le(buf + 16, 4);
    if (n > NODE_BUS_MAX_SUSPECTS || (len != 20 + 8 * n && len != 20 + 8 * n + 1))
        return RC_EPROTO;
    if (len == 20 + 8 * n + 1) {
        if (buf[len - 1] != 1)
            return RC_EPROTO;
        p->lease = 1;
    }
    p->seq = get_le(buf, 8);
    p->sent_ms = get_le(buf + 8, 8);
    p->nsuspects = (uint32_t)n;
    for (i = 0; i < n; i++)
        p->suspects[i] = get_le(buf + 20 + 8 * i, 8);
    return 0;
}

/* ---- DATA ---- */

void node_bus_data_to_encode(uint64_t id, uint64_t incarnation, uint8_t out[NODE_BUS_DATA_TO])
{
    put_le(out, id, 8);
    put_le(out + 8, incarnation, 8);
}

int node_bus_data_to_decode(const uint8_t *buf, size_t len, uint64_t *id, uint64_t *incarnation)
{
    *id = 0;
    *incarnation = 0;
    if (len == 0)
        return 0;
    if (len != NODE_BUS_DATA_TO)
        return RC_EPROTO;
    *id = get_le(buf, 8);
    *incarnation = get_le(buf + 8, 8);
    return 0;
}

/* ---- MAC ---- */

void node_bus_mac(const void *secret, size_t secret_len, int initiator_side,
                  const uint8_t nonce_initiator[NODE_BUS_NONCE],
                  const uint8_t nonce_acceptor[NODE_BUS_NONCE], uint8_t out[NODE_BUS_MAC])
{
    static const uint8_t empty_key[1] = {0};
    uint8_t msg[sizeof(mac_label) - 1 + 1 + 2 * NODE_BUS_NONCE];
    unsigned int outlen = NODE_BUS_MAC;
    size_t n = sizeof(mac_label) - 1;

    memcpy(msg, mac_label, n);
    msg[n++] = initiator_side ? 'I' : 'A';
    memcpy(msg + n, nonce_initiator, NODE_BUS_NONCE);
    memcpy(msg + n + NODE_BUS_NONCE, nonce_acceptor, NODE_BUS_NONCE);
    if (secret == NULL || secret_len == 0) {
        secret = empty_key; /* OpenSSL wants a pointer even for an empty key */
        secret_len = 0;
    }
    RC_ASSERT(secret_len <= (size_t)INT32_MAX);
    if (HMAC(EVP_sha256(), secret, (int)secret_len, msg, sizeof(msg), out, &outlen) == NULL ||
        outlen != NODE_BUS_MAC)
        rc_panic(__FILE__, __LINE__, "HMAC-SHA256 failed");
}

/* ---- reader ---- */

void node_bus_reader_init(node_bus_reader_t *r)
{
    memset(r, 0, sizeof(*r));
}

void node_bus_reader_free(node_bus_reader_t *r)
{
    rc_buf_free(&r->in);
    memset(r, 0, sizeof(*r));
}

size_t node_bus_reader_pending(const node_bus_reader_t *r)
{
    return r->in.len;
}

/* Appends up to 'want' - r->in.len bytes of data[*pos..len) to the frame. */
static void fill(node_bus_reader_t *r, size_t want, const uint8_t *data, size_t len, size_t *pos)
{
    size_t n = want - r->in.len;

    if (n > len - *pos)
        n = len - *pos;
    rc_buf_append(&r->in, data + *pos, n);
    *pos += n;
}

/* 1 if the 'n' bytes at 'p' can start a header: magic and version are
 * checked as soon as they arrive, so a peer speaking something else (RESP,
 * HTTP) is refused at once instead of waiting for 36 bytes. */
static int prefix_ok(const uint8_t *p, size_t n)
{
    static const uint8_t prefix[5] = {'R', 'C', 'B', '1', NODE_BUS_VERSION};

    return memcmp(p, prefix, n < sizeof(prefix) ? n : sizeof(prefix)) == 0;
}

ssize_t node_bus_reader_feed(node_bus_reader_t *r, const uint8_t *data, size_t len,
                             node_bus_frame_cb cb, void *arg)
{
    node_bus_header_t h;
    size_t pos = 0;

    if (r->err != 0)
        return r->err;
    if (r->in.len > 0) {
        /* Finish the partial frame first: the buffer holds one frame at
         * most (NODE_BUS_HEADER + NODE_BUS_MAX_PAYLOAD, doubled at worst). */
        if (r->in.len < NODE_BUS_HEADER) {
            fill(r, NODE_BUS_HEADER, data, len, &pos);
            if (!prefix_ok((const uint8_t *)r->in.data, r->in.len))
                goto bad;
            if (r->in.len < NODE_BUS_HEADER)
                return (ssize_t)len;
        }
        if (node_bus_header_decode((const uint8_t *)r->in.data, r->in.len, &h) != 0)
            goto bad;
        fill(r, NODE_BUS_HEADER + (size_t)h.len, data, len, &pos);
        if (r->in.len < NODE_BUS_HEADER + (size_t)h.len)
            return (ssize_t)len;
        rc_buf_reset(&r->in);
        if (cb(arg, &h, (const uint8_t *)r->in.data + NODE_BUS_HEADER) != 0)
            return (ssize_t)pos;
    }
    while (pos < len) {
        size_t left = len - pos;

        if (left < NODE_BUS_HEADER) {
            if (!prefix_ok(data + pos, left))
                goto bad;
            fill(r, NODE_BUS_HEADER, data, len, &pos);
            break;
        }
        if (node_bus_header_decode(data + pos, left, &h) != 0)
            goto bad;
        if (left < NODE_BUS_HEADER + (size_t)h.len) {
            fill(r, NODE_BUS_HEADER + (size_t)h.len, data, len, &pos);
            break;
        }
        pos += NODE_BUS_HEADER + (size_t)h.len;
        if (cb(arg, &h, data + pos - h.len) != 0)
            return (ssize_t)pos;
    }
    return (ssize_t)len;

bad:
    r->err = RC_EPROTO;
    rc_buf_reset(&r->in);
    return r->err;
}

/* ---- session ---- */

static const char *type_name(uint8_t type)
{
    static const char *const names[] = {"?", "HELLO", "AUTH", "PAXOS", "PING", "PONG", "DATA"};

    return type < RC_ARRAY_SIZE(names) ? names[type] : "?";
}

static int fail(node_bus_session_t *s, int err, const char *reason)
{
    s->state = NODE_BUS_S_FAILED;
    s->err = err;
    snprintf(s->error, sizeof(s->error), "%s", reason);
    return 1; /* stops the reader */
}

static void emit_frame(node_bus_session_t *s, node_bus_emit_fn emit, void *arg, uint8_t type,
                       const void *payload, size_t len)
{
    uint8_t frame[NODE_BUS_HEADER + NODE_BUS_HELLO_MAX];
    size_t n =
        node_bus_frame(frame, sizeof(frame), type, s->id, s->incarnation, s->epoch, payload, len);

    RC_ASSERT(n > 0);
    if (type == NODE_BUS_HELLO)
        put_le(frame + 6, s->features, 2); /* the header's flags */
    emit(arg, frame, n);
}

void node_bus_session_init(node_bus_session_t *s, int initiator, const node_bus_hello_t *mine,
                           const char *secret, uint64_t id, uint64_t incarnation, uint64_t epoch)
{
    size_t n = secret != NULL ? strlen(secret) : 0;

    memset(s, 0, sizeof(*s));
    s->initiator = initiator != 0;
    s->state = NODE_BUS_S_NEW;
    s->mine = *mine;
    s->features = NODE_BUS_FEATURES;
    if (!s->initiator) {
        /* An acceptor's HELLO is always a control one: the initiator picks
         * the link's role. */
        s->mine.role = NODE_BUS_ROLE_CONTROL;
        s->mine.resp = 0;
    }
    if (n > sizeof(s->secret)) {
        /* HMAC hashes a key longer than its block to its digest, so keeping
         * the SHA-256 of a long secret gives the same MACs. */
        SHA256((const unsigned char *)secret, n, s->secret);
        s->secret_len = SHA256_DIGEST_LENGTH;
    } else {
        memcpy(s->secret, secret != NULL ? secret : "", n);
        s->secret_len = n;
    }
    s->id = id;
    s->incarnation = incarnation;
    s->epoch = epoch;
    node_bus_reader_init(&s->reader);
}

void node_bus_session_free(node_bus_session_t *s)
{
    node_bus_reader_free(&s->reader);
    OPENSSL_cleanse(s->secret, sizeof(s->secret));
    s->secret_len = 0;
}

void node_bus_session_start(node_bus_session_t *s, node_bus_emit_fn emit, void *arg)
{
    uint8_t payload[NODE_BUS_HELLO_MAX];
    int n;

    if (s->state != NODE_BUS_S_NEW)
        return;
    n = node_bus_hello_encode(&s->mine, payload, sizeof(payload));
    if (n < 0) {
        fail(s, RC_EPROTO, "our own HELLO does not encode (bad role or address)");
        return;
    }
    emit_frame(s, emit, arg, NODE_BUS_HELLO, payload, (size_t)n);
    s->state = NODE_BUS_S_HELLO;
}

static void macs(const node_bus_session_t *s, int initiator_side, uint8_t out[NODE_BUS_MAC])
{
    const uint8_t *ni = s->initiator ? s->mine.nonce : s->peer.nonce;
    const uint8_t *na = s->initiator ? s->peer.nonce : s->mine.nonce;

    node_bus_mac(s->secret, s->secret_len, initiator_side, ni, na, out);
}

static int on_hello(node_bus_session_t *s, const node_bus_header_t *h, const uint8_t *payload)
{
    uint8_t mac[NODE_BUS_MAC];

    if (s->state != NODE_BUS_S_HELLO)
        return fail(s, RC_EPROTO, "second HELLO from peer");
    if (node_bus_hello_decode(payload, h->len, &s->peer) != 0)
        return fail(s, RC_EPROTO, "malformed HELLO from peer");
    if (s->initiator && s->peer.role != NODE_BUS_ROLE_CONTROL)
        return fail(s, RC_EPROTO, "acceptor sent a data-role HELLO");
    if (CRYPTO_memcmp(s->peer.nonce, s->mine.nonce, NODE_BUS_NONCE) == 0)
        return fail(s, RC_EPROTO, "peer echoed our own nonce (reflection)");
    if (s->peer.placement != s->mine.placement) {
        char why[sizeof(s->error)];

        snprintf(why, sizeof(why),
                 "peer places slots differently (placement %016llx, ours %016llx)",
                 (unsigned long long)s->peer.placement, (unsigned long long)s->mine.placement);
        return fail(s, RC_EPROTO, why);
    }
    s->peer_header = *h;
    macs(s, s->initiator, mac);
    emit_frame(s, s->emit, s->emit_arg, NODE_BUS_AUTH, mac, sizeof(mac));
    OPENSSL_cleanse(mac, sizeof(mac));
    s->state = NODE_BUS_S_AUTH;
    return 0;
}

static int on_auth(node_bus_session_t *s, const node_bus_header_t *h, const uint8_t *payload)
{
    uint8_t want[NODE_BUS_MAC];
    int ok;

    if (s->state != NODE_BUS_S_AUTH)
        return fail(s, RC_EPROTO, "AUTH from peer before its HELLO");
    if (h->len != NODE_BUS_MAC)
        return fail(s, RC_EPROTO, "malformed AUTH from peer (wrong length)");
    macs(s, !s->initiator, want);
    ok = CRYPTO_memcmp(want, payload, NODE_BUS_MAC) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    if (!ok)
        return fail(s, RC_EAUTH, "bad cluster secret (HMAC mismatch)");
    s->state = NODE_BUS_S_OPEN;
    return 0;
}

static int on_frame(void *arg, const node_bus_header_t *h, const uint8_t *payload)
{
    node_bus_session_t *s = arg;
    char reason[64];

    if (s->state == NODE_BUS_S_OPEN) {
        if (h->type == NODE_BUS_HELLO || h->type == NODE_BUS_AUTH) {
            snprintf(reason, sizeof(reason), "unexpected %s after the handshake",
                     type_name(h->type));
            return fail(s, RC_EPROTO, reason);
        }
        if (s->cb(s->cb_arg, h, payload) != 0)
            return 1;
        return h->type == NODE_BUS_DATA; /* the rest of the stream is raw RESP */
    }
    if (h->type == NODE_BUS_HELLO)
        return on_hello(s, h, payload);
    if (h->type == NODE_BUS_AUTH)
        return on_auth(s, h, payload);
    snprintf(reason, sizeof(reason), "unexpected %s frame before the handshake ended",
             type_name(h->type));
    return fail(s, RC_EPROTO, reason);
}

ssize_t node_bus_session_feed(node_bus_session_t *s, const uint8_t *data, size_t len,
                              node_bus_emit_fn emit, void *emit_arg, node_bus_frame_cb cb,
                              void *cb_arg)
{
    ssize_t n;

    if (s->state == NODE_BUS_S_NEW)
        node_bus_session_start(s, emit, emit_arg);
    if (s->state == NODE_BUS_S_FAILED)
        return s->err;
    s->emit = emit;
    s->emit_arg = emit_arg;
    s->cb = cb;
    s->cb_arg = cb_arg;
    n = node_bus_reader_feed(&s->reader, data, len, on_frame, s);
    s->emit = NULL;
    s->emit_arg = NULL;
    s->cb = NULL;
    s->cb_arg = NULL;
    if (s->state == NODE_BUS_S_FAILED)
        return s->err;
    if (n < 0) {
        fail(s, (int)n, "garbage on the bus (bad frame header)");
        return n;
    }
    return n;
}

int node_bus_session_is_open(const node_bus_session_t *s)
{
    return s->state == NODE_BUS_S_OPEN;
}

const node_bus_hello_t *node_bus_session_peer(const node_bus_session_t *s)
{
    return s->peer_header.type == NODE_BUS_HELLO ? &s->peer : NULL;
}

const node_bus_header_t *node_bus_session_peer_header(const node_bus_session_t *s)
{
    return s->peer_header.type == NODE_BUS_HELLO ? &s->peer_header : NULL;
}

const char *node_bus_session_error(const node_bus_session_t *s)
{
    return s->error;
}
