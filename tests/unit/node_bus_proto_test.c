/* tests/unit/node_bus_proto_test.c: node/node_bus_proto.c, the cluster bus
 * wire format, frame reader and authenticated handshake: round trips, golden
 * bytes, every rejection path, and splits at every byte boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "node/bus/node_bus_proto.h"

enum {
    OUTBOX = 4096,
    MAX_SEEN = 16
};

typedef struct outbox_s {
    uint8_t buf[OUTBOX];
    size_t len;
} outbox_t;

typedef struct seen_s {
    size_t n;
    int stop_at; /* 1-based frame index at which the callback stops, 0: never */
    node_bus_header_t h[MAX_SEEN];
    uint8_t first[MAX_SEEN]; /* first payload byte, 0 if none */
} seen_t;

typedef struct fix_s {
    node_bus_session_t a, b; /* a initiates, b accepts */
    outbox_t out_a, out_b;
    seen_t seen_a, seen_b;
    uint8_t stream[2 * OUTBOX];
} fix_t;

static int setup(void **state)
{
    fix_t *f = test_malloc(sizeof(*f));

    memset(f, 0, sizeof(*f));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;

    node_bus_session_free(&f->a);
    node_bus_session_free(&f->b);
    test_free(f);
    return 0;
}

static void emit(void *arg, const void *bytes, size_t len)
{
    outbox_t *o = arg;

    assert_true(o->len + len <= OUTBOX);
    memcpy(o->buf + o->len, bytes, len);
    o->len += len;
}

static int on_frame(void *arg, const node_bus_header_t *h, const uint8_t *payload)
{
    seen_t *s = arg;

    assert_true(s->n < MAX_SEEN);
    s->h[s->n] = *h;
    s->first[s->n] = h->len > 0 ? payload[0] : 0;
    s->n++;
    return s->stop_at != 0 && (size_t)s->stop_at == s->n;
}

static void hello_of(node_bus_hello_t *h, uint8_t nonce_byte, uint8_t role, uint8_t resp)
{
    memset(h, 0, sizeof(*h));
    memset(h->nonce, nonce_byte, sizeof(h->nonce));
    h->role = role;
    h->resp = resp;
    h->placement = UINT64_C(0x0123456789abcdef);
    snprintf(h->bus_addr, sizeof(h->bus_addr), "127.0.0.%u:17001", nonce_byte);
    snprintf(h->client_addr, sizeof(h->client_addr), "127.0.0.%u:7001", nonce_byte);
}

static void sessions(fix_t *f, const char *secret_a, const char *secret_b, uint8_t role)
{
    node_bus_hello_t ha, hb;

    hello_of(&ha, 1, role, role == NODE_BUS_ROLE_DATA ? 3 : 0);
    hello_of(&hb, 2, NODE_BUS_ROLE_CONTROL, 0);
    node_bus_session_init(&f->a, 1, &ha, secret_a, 11, 111, 5);
    node_bus_session_init(&f->b, 0, &hb, secret_b, 22, 222, 6);
}

/* Moves bytes between the two sessions until neither has any left to read.
 * Returns the last results of feeding a and b. */
static void pump(fix_t *f, ssize_t *ra, ssize_t *rb)
{
    *ra = *rb = 0;
    node_bus_session_start(&f->a, emit, &f->out_a);
    node_bus_session_start(&f->b, emit, &f->out_b);
    while (f->out_a.len > 0 || f->out_b.len > 0) {
        outbox_t in_a = f->out_b, in_b = f->out_a;

        f->out_a.len = f->out_b.len = 0;
        if (in_b.len > 0 && *rb >= 0)
            *rb = node_bus_session_feed(&f->b, in_b.buf, in_b.len, emit, &f->out_b, on_frame,
                                        &f->seen_b);
        if (in_a.len > 0 && *ra >= 0)
            *ra = node_bus_session_feed(&f->a, in_a.buf, in_a.len, emit, &f->out_a, on_frame,
                                        &f->seen_a);
        if (*ra < 0 && *rb < 0)
            break;
    }
}

static size_t frame_of(uint8_t *out, uint8_t type, const void *payload, size_t len)
{
    size_t n =
        node_bus_frame(out, NODE_BUS_HEADER + NODE_BUS_MAX_PAYLOAD, type, 7, 8, 9, payload, len);

    assert_int_equal(n, NODE_BUS_HEADER + len);
    return n;
}

/* ---- header, frame ---- */

static void test_header_matches_golden_bytes_and_round_trips(void **state)
{
    static const uint8_t golden[NODE_BUS_HEADER] = {
        'R',  'C',  'B', '1', 3, 4,          /* magic, version, PING */
        0x34, 0x12, 20,  0,   0, 0,          /* flags, len */
        1,    0,    0,   0,   0, 0, 0, 0,    /* id */
        2,    0,    0,   0,   0, 0, 0, 0x80, /* incarnation */
        0xff, 0,    0,   0,   0, 0, 0, 0,    /* epoch */
    };
    node_bus_header_t h = {NODE_BUS_PING, 0x1234, 20, 1, 0x8000000000000002ull, 255}, h2;
    uint8_t out[NODE_BUS_HEADER];

    (void)state;
    node_bus_header_encode(&h, out);
    assert_memory_equal(out, golden, sizeof(golden));
    assert_int_equal(node_bus_header_decode(out, sizeof(out), &h2), 0);
    assert_int_equal(h2.type, NODE_BUS_PING);
    assert_int_equal(h2.flags, 0x1234);
    assert_int_equal(h2.len, 20);
    assert_int_equal(h2.id, 1);
    assert_int_equal(h2.incarnation, 0x8000000000000002ull);
    assert_int_equal(h2.epoch, 255);
}

static void test_header_bad_input_is_eproto(void **state)
{
    node_bus_header_t h = {NODE_BUS_PAXOS, 0, NODE_BUS_MAX_PAYLOAD, 1, 2, 3}, h2;
    uint8_t out[NODE_BUS_HEADER], bad[NODE_BUS_HEADER];
    size_t i;

    (void)state;
    node_bus_header_encode(&h, out);
    assert_int_equal(node_bus_header_decode(out, sizeof(out), &h2), 0);
    for (i = 0; i < NODE_BUS_HEADER; i++)
        assert_int_equal(node_bus_header_decode(out, i, &h2), RC_EPROTO); /* short */
    for (i = 0; i < 4; i++) {
        memcpy(bad, out, sizeof(bad));
        bad[i] ^= 0x20; /* magic */
        assert_int_equal(node_bus_header_decode(bad, sizeof(bad), &h2), RC_EPROTO);
    }
    memcpy(bad, out, sizeof(bad));
    bad[4] = NODE_BUS_VERSION - 1; /* version */
    assert_int_equal(node_bus_header_decode(bad, sizeof(bad), &h2), RC_EPROTO);
    bad[4] = NODE_BUS_VERSION + 1;
    assert_int_equal(node_bus_header_decode(bad, sizeof(bad), &h2), RC_EPROTO);
    bad[4] = NODE_BUS_VERSION;
    bad[5] = 0; /* type */
    assert_int_equal(node_bus_header_decode(bad, sizeof(bad), &h2), RC_EPROTO);
    bad[5] = NODE_BUS_DATA + 1;
    assert_int_equal(node_bus_header_decode(bad, sizeof(bad), &h2), RC_EPROTO);
    h.len = NODE_BUS_MAX_PAYLOAD + 1;
    node_bus_header_encode(&h, bad);
    assert_int_equal(node_bus_header_decode(bad, sizeof(bad), &h2), RC_EPROTO);
}

static void test_frame_small_cap_or_big_payload_is_zero(void **state)
{
    static uint8_t out[NODE_BUS_HEADER + NODE_BUS_MAX_PAYLOAD + 1];
    node_bus_header_t h;

    (void)state;
    assert_int_equal(node_bus_frame(out, NODE_BUS_HEADER + 2, NODE_BUS_DATA, 1, 2, 3, "abc", 3), 0);
    assert_int_equal(
        node_bus_frame(out, sizeof(out), NODE_BUS_DATA, 1, 2, 3, out, NODE_BUS_MAX_PAYLOAD + 1), 0);
    assert_int_equal(node_bus_frame(out, NODE_BUS_HEADER + 3, NODE_BUS_DATA, 1, 2, 3, "abc", 3),
                     NODE_BUS_HEADER + 3);
    assert_int_equal(node_bus_header_decode(out, NODE_BUS_HEADER, &h), 0);
    assert_int_equal(h.type, NODE_BUS_DATA);
    assert_int_equal(h.len, 3);
    assert_int_equal(h.epoch, 3);
    assert_memory_equal(out + NODE_BUS_HEADER, "abc", 3);
    assert_int_equal(node_bus_frame(out, NODE_BUS_HEADER, NODE_BUS_PING, 1, 2, 3, NULL, 0),
                     NODE_BUS_HEADER);
}

/* ---- HELLO ---- */

static void test_hello_round_trips_canonically(void **state)
{
    node_bus_hello_t h, h2;
    uint8_t buf[NODE_BUS_HELLO_MAX], buf2[NODE_BUS_HELLO_MAX];
    int n, role;

    (void)state;
    for (role = 0; role <= 1; role++) {
        hello_of(&h, 9, (uint8_t)role, role ? 2 : 0);
        n = node_bus_hello_encode(&h, buf, sizeof(buf));
        assert_int_equal(n, NODE_BUS_NONCE + 2 + 8 + 2 + strlen(h.bus_addr) + 2 +
                                strlen(h.client_addr));
        assert_int_equal(node_bus_hello_decode(buf, (size_t)n, &h2), 0);
        assert_memory_equal(h.nonce, h2.nonce, NODE_BUS_NONCE);
        assert_int_equal(h2.role, role);
        assert_int_equal(h2.resp, role ? 2 : 0);
        assert_int_equal(h2.placement, UINT64_C(0x0123456789abcdef));
        assert_int_equal(buf[NODE_BUS_NONCE + 2], 0xef); /* little endian */
        assert_string_equal(h2.bus_addr, h.bus_addr);
        assert_string_equal(h2.client_addr, h.client_addr);
        assert_int_equal(node_bus_hello_encode(&h2, buf2, sizeof(buf2)), n);
        assert_memory_equal(buf, buf2, (size_t)n);
    }
    /* Longest addresses and empty ones both fit. */
    memset(h.bus_addr, 'x', NODE_BUS_ADDR_MAX - 1);
    h.bus_addr[NODE_BUS_ADDR_MAX - 1] = '\0';
    memset(h.client_addr, 'y', NODE_BUS_ADDR_MAX - 1);
    h.client_addr[NODE_BUS_ADDR_MAX - 1] = '\0';
    assert_int_equal(node_bus_hello_encode(&h, buf, sizeof(buf)), NODE_BUS_HELLO_MAX);
    assert_int_equal(node_bus_hello_decode(buf, NODE_BUS_HELLO_MAX, &h2), 0);
    assert_string_equal(h2.client_addr, h.client_addr);
    h.bus_addr[0] = h.client_addr[0] = '\0';
    n = node_bus_hello_encode(&h, buf, sizeof(buf));
    assert_int_equal(n, NODE_BUS_NONCE + 14);
    assert_int_equal(node_bus_hello_decode(buf, (size_t)n, &h2), 0);
    assert_string_equal(h2.bus_addr, "");
}

static void test_hello_truncation_and_trailing_byte_are_eproto(void **state)
{
    node_bus_hello_t h, h2;
    uint8_t buf[NODE_BUS_HELLO_MAX + 1];
    int n, i;

    (void)state;
    hello_of(&h, 3, NODE_BUS_ROLE_DATA, 3);
    n = node_bus_hello_encode(&h, buf, sizeof(buf));
    assert_true(n > 0);
    for (i = 0; i < n; i++)
        assert_int_equal(node_bus_hello_decode(buf, (size_t)i, &h2), RC_EPROTO);
    buf[n] = 0;
    assert_int_equal(node_bus_hello_decode(buf, (size_t)n + 1, &h2), RC_EPROTO);
}

static void test_hello_bad_role_resp_or_address_is_eproto(void **state)
{
    const size_t addr0 = NODE_BUS_NONCE + 2 + 8; /* the bus address's length */
    static const uint8_t pairs[][2] = {{0, 2}, {0, 3}, {1, 0}, {1, 1}, {1, 4}, {2, 0}, {255, 3}};
    node_bus_hello_t h, h2;
    uint8_t buf[NODE_BUS_HELLO_MAX + 64], bad[sizeof(buf)];
    size_t i;
    int n;

    (void)state;
    hello_of(&h, 4, NODE_BUS_ROLE_CONTROL, 0);
    n = node_bus_hello_encode(&h, buf, sizeof(buf));
    for (i = 0; i < RC_ARRAY_SIZE(pairs); i++) {
        memcpy(bad, buf, (size_t)n);
        bad[NODE_BUS_NONCE] = pairs[i][0];
        bad[NODE_BUS_NONCE + 1] = pairs[i][1];
        assert_int_equal(node_bus_hello_decode(bad, (size_t)n, &h2), RC_EPROTO);
    }
    /* A NUL inside the bus address. */
    memcpy(bad, buf, (size_t)n);
    bad[addr0 + 2 + 1] = '\0';
    assert_int_equal(node_bus_hello_decode(bad, (size_t)n, &h2), RC_EPROTO);
    /* An address of NODE_BUS_ADDR_MAX bytes: no room for the NUL. */
    memset(bad, 'a', sizeof(bad));
    memcpy(bad, buf, addr0);
    bad[addr0] = NODE_BUS_ADDR_MAX;
    bad[addr0 + 1] = 0;
    bad[addr0 + 2 + NODE_BUS_ADDR_MAX] = 0;
    bad[addr0 + 3 + NODE_BUS_ADDR_MAX] = 0;
    assert_int_equal(node_bus_hello_decode(bad, addr0 + 4 + NODE_BUS_ADDR_MAX, &h2), RC_EPROTO);
    bad[addr0] = NODE_BUS_ADDR_MAX - 1; /* one less fits */
    bad[addr0 + 1 + NODE_BUS_ADDR_MAX] = 0;
    bad[addr0 + 2 + NODE_BUS_ADDR_MAX] = 0;
    assert_int_equal(node_bus_hello_decode(bad, addr0 + 3 + NODE_BUS_ADDR_MAX, &h2), 0);
    assert_int_equal(strlen(h2.bus_addr), NODE_BUS_ADDR_MAX - 1);
    bad[addr0 + 2 + NODE_BUS_ADDR_MAX] = 0xff; /* client address length 0xff00 */
    assert_int_equal(node_bus_hello_decode(bad, sizeof(bad), &h2), RC_EPROTO);
    /* A huge u16 length. */
    bad[addr0] = 0xff;
    bad[addr0 + 1] = 0xff;
    assert_int_equal(node_bus_hello_decode(bad, sizeof(bad), &h2), RC_EPROTO);
}

static void test_hello_encode_refuses_small_cap_long_address_bad_role(void **state)
{
    node_bus_hello_t h;
    uint8_t buf[NODE_BUS_HELLO_MAX];
    int n;

    (void)state;
    hello_of(&h, 5, NODE_BUS_ROLE_CONTROL, 0);
    n = node_bus_hello_encode(&h, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(node_bus_hello_encode(&h, buf, (size_t)n - 1), RC_ETOOBIG);
    h.resp = 2;
    assert_int_equal(node_bus_hello_encode(&h, buf, sizeof(buf)), RC_EPROTO);
    h.resp = 0;
    memset(h.client_addr, 'z', sizeof(h.client_addr)); /* not NUL-terminated */
    assert_int_equal(node_bus_hello_encode(&h, buf, sizeof(buf)), RC_ETOOBIG);
}

/* ---- PING / PONG ---- */

static void test_ping_round_trips_with_no_and_max_suspects(void **state)
{
    node_bus_ping_t p, p2;
    uint8_t buf[NODE_BUS_PING_MAX], buf2[NODE_BUS_PING_MAX];
    uint32_t i, k;
    int n;

    (void)state;
    memset(&p, 0, sizeof(p));
    p.seq = 0x0102030405060708ull;
    p.sent_ms = 1700000000000ull;
    for (k = 0; k <= NODE_BUS_MAX_SUSPECTS; k += NODE_BUS_MAX_SUSPECTS) {
        p.nsuspects = k;
        for (i = 0; i < k; i++)
            p.suspects[i] = 1000 + i;
        n = node_bus_ping_encode(&p, buf, sizeof(buf));
        assert_int_equal(n, 20 + 8 * k);
        assert_int_equal(buf[0], 0x08);
        assert_int_equal(node_bus_ping_decode(buf, (size_t)n, &p2), 0);
        assert_memory_equal(&p, &p2, sizeof(p));
        assert_int_equal(node_bus_ping_encode(&p2, buf2, sizeof(buf2)), n);
        assert_memory_equal(buf, buf2, (size_t)n);
        /* A PONG that grants the lease round: one more byte, 1. */
        p.lease = 1;
        n = node_bus_ping_encode(&p, buf, sizeof(buf));
        assert_int_equal(n, 20 + 8 * k + 1);
        assert_int_equal(buf[n - 1], 1);
        assert_int_equal(node_bus_ping_decode(buf, (size_t)n, &p2), 0);
        assert_memory_equal(&p, &p2, sizeof(p));
        assert_int_equal(node_bus_ping_encode(&p2, buf2, sizeof(buf2)), n);
        assert_memory_equal(buf, buf2, (size_t)n);
        p.lease = 0;
    }
}

static void test_ping_bad_input_is_rejected(void **state)
{
    node_bus_ping_t p, p2;
    uint8_t buf[NODE_BUS_PING_MAX + 8];
    int n, i;

    (void)state;
    memset(&p, 0, sizeof(p));
    p.nsuspects = 2;
    p.suspects[0] = 4;
    p.suspects[1] = 5;
    n = node_bus_ping_encode(&p, buf, sizeof(buf));
    assert_int_equal(n, 36);
    for (i = 0; i < n; i++)
        assert_int_equal(node_bus_ping_decode(buf, (size_t)i, &p2), RC_EPROTO);
    buf[n] = 0; /* a lease byte is 1 or absent: 0 is not canonical */
    assert_int_equal(node_bus_ping_decode(buf, (size_t)n + 1, &p2), RC_EPROTO);
    buf[n] = 2;
    assert_int_equal(node_bus_ping_decode(buf, (size_t)n + 1, &p2), RC_EPROTO);
    buf[n] = 1;
    buf[n + 1] = 1;
    assert_int_equal(node_bus_ping_decode(buf, (size_t)n + 2, &p2), RC_EPROTO); /* trailing */
    assert_int_equal(node_bus_ping_decode(buf, (size_t)n + 1, &p2), 0);
    assert_int_equal(p2.lease, 1);
    assert_int_equal(node_bus_ping_encode(&p, buf, (size_t)n - 1), RC_ETOOBIG);
    p.nsuspects = NODE_BUS_MAX_SUSPECTS + 1;
    assert_int_equal(node_bus_ping_encode(&p, buf, sizeof(buf)), RC_ETOOBIG);
    /* A count over the limit, with the bytes to back it. */
    memset(buf, 0, sizeof(buf));
    buf[16] = NODE_BUS_MAX_SUSPECTS + 1;
    assert_int_equal(node_bus_ping_decode(buf, 20 + 8 * (NODE_BUS_MAX_SUSPECTS + 1), &p2),
                     RC_EPROTO);
    buf[16] = 0xff;
    buf[19] = 0xff; /* 4 billion suspects */
    assert_int_equal(node_bus_ping_decode(buf, sizeof(buf), &p2), RC_EPROTO);
}

/* ---- MAC ---- */

/* An initiator's DATA payload: the member it means to reach, two u64 LE;
 * empty (an acceptor's, an older peer's) names none; other sizes fail. */
static void test_data_to_matches_golden_bytes_and_round_trips(void **state)
{
    static const uint8_t golden[NODE_BUS_DATA_TO] = {
        0x07, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
    uint8_t out[NODE_BUS_DATA_TO];
    uint64_t id = 1, inc = 1;

    (void)state;
    node_bus_data_to_encode(7, 0x0102030405060708ull, out);
    assert_memory_equal(out, golden, sizeof(golden));
    assert_int_equal(node_bus_data_to_decode(out, sizeof(out), &id, &inc), 0);
    assert_int_equal(id, 7);
    assert_int_equal(inc, 0x0102030405060708ull);
    assert_int_equal(node_bus_data_to_decode(out, 0, &id, &inc), 0);
    assert_int_equal(id, 0);
    assert_int_equal(inc, 0);
    assert_int_equal(node_bus_data_to_decode(out, 8, &id, &inc), RC_EPROTO);
    assert_int_equal(node_bus_data_to_decode(out, sizeof(out) - 1, &id, &inc), RC_EPROTO);
}

static void test_mac_matches_golden_vectors(void **state)
{
    static const uint8_t secret_i[NODE_BUS_MAC] = {0x47, 0xf2, 0x58, 0xc2, 0x99, 0x37, 0xa2, 0x71,
                                                   0x0e, 0x8d, 0x4c, 0x37, 0x7b, 0x14, 0xc8, 0xcc,
                                                   0xf3, 0x60, 0x60, 0x5a, 0x32, 0x0a, 0x5c, 0xe1,
                                                   0x69, 0x06, 0x6b, 0xec, 0x48, 0x1e, 0xe1, 0x7f};
    static const uint8_t empty_a[NODE_BUS_MAC] = {0xa0, 0x47, 0x7b, 0xe6, 0x14, 0xff, 0x7f, 0xac,
                                                  0x2d, 0xae, 0x22, 0x9d, 0x54, 0x5a, 0x0d, 0xb3,
                                                  0x11, 0x18, 0x03, 0xba, 0x8b, 0x8d, 0x4d, 0x2c,
                                                  0x27, 0x30, 0x62, 0x0f, 0xce, 0x2c, 0x08, 0x7a};
    uint8_t ni[NODE_BUS_NONCE], na[NODE_BUS_NONCE], out[NODE_BUS_MAC], out2[NODE_BUS_MAC];
    int i;

    (void)state;
    for (i = 0; i < NODE_BUS_NONCE; i++) {
        ni[i] = (uint8_t)i;
        na[i] = (uint8_t)(32 + i);
    }
    /* Python: hmac.new(key, b"ringcache-bus-v1" + side + ni + na, sha256) */
    node_bus_mac("s3cret", 6, 1, ni, na, out);
    assert_memory_equal(out, secret_i, NODE_BUS_MAC);
    node_bus_mac(NULL, 0, 0, ni, na, out);
    assert_memory_equal(out, empty_a, NODE_BUS_MAC);
    node_bus_mac("", 0, 0, ni, na, out2);
    assert_memory_equal(out2, empty_a, NODE_BUS_MAC);
    node_bus_mac(NULL, 0, 1, ni, na, out2); /* the side matters */
    assert_memory_not_equal(out, out2, NODE_BUS_MAC);
    node_bus_mac(NULL, 0, 0, na, ni, out2); /* the nonce order matters */
    assert_memory_not_equal(out, out2, NODE_BUS_MAC);
}

/* ---- reader ---- */

/* Three frames: PING (20 bytes), PAXOS (empty), DATA (1000 bytes). */
static size_t three_frames(uint8_t *out)
{
    static uint8_t payload[1000];
    size_t n = 0;

    memset(payload, 0xab, sizeof(payload));
    payload[0] = 0x11;
    n += frame_of(out + n, NODE_BUS_PING, payload, 20);
    n += frame_of(out + n, NODE_BUS_PAXOS, NULL, 0);
    payload[0] = 0x33;
    n += frame_of(out + n, NODE_BUS_DATA, payload, sizeof(payload));
    return n;
}

static void check_three(const seen_t *s)
{
    assert_int_equal(s->n, 3);
    assert_int_equal(s->h[0].type, NODE_BUS_PING);
    assert_int_equal(s->h[0].len, 20);
    assert_int_equal(s->first[0], 0x11);
    assert_int_equal(s->h[1].type, NODE_BUS_PAXOS);
    assert_int_equal(s->h[1].len, 0);
    assert_int_equal(s->h[2].type, NODE_BUS_DATA);
    assert_int_equal(s->h[2].len, 1000);
    assert_int_equal(s->first[2], 0x33);
    assert_int_equal(s->h[2].id, 7);
    assert_int_equal(s->h[2].incarnation, 8);
    assert_int_equal(s->h[2].epoch, 9);
}

static void test_reader_splits_at_every_byte_boundary(void **state)
{
    fix_t *f = *state;
    size_t n = three_frames(f->stream), cut, i;
    node_bus_reader_t r;

    for (cut = 0; cut <= n; cut++) {
        memset(&f->seen_a, 0, sizeof(f->seen_a));
        node_bus_reader_init(&r);
        assert_int_equal(node_bus_reader_feed(&r, f->stream, cut, on_frame, &f->seen_a), cut);
        assert_int_equal(node_bus_reader_feed(&r, f->stream + cut, n - cut, on_frame, &f->seen_a),
                         n - cut);
        assert_int_equal(node_bus_reader_pending(&r), 0);
        check_three(&f->seen_a);
        node_bus_reader_free(&r);
    }
    /* One byte at a time. */
    memset(&f->seen_a, 0, sizeof(f->seen_a));
    node_bus_reader_init(&r);
    for (i = 0; i < n; i++)
        assert_int_equal(node_bus_reader_feed(&r, f->stream + i, 1, on_frame, &f->seen_a), 1);
    check_three(&f->seen_a);
    node_bus_reader_free(&r);
}

static void test_reader_stop_leaves_exact_remainder(void **state)
{
    fix_t *f = *state;
    size_t n = three_frames(f->stream), end2 = NODE_BUS_HEADER * 2 + 20, cut;
    node_bus_reader_t r;
    ssize_t got;

    /* Stop at the second frame; it may arrive whole or completed from the
     * buffer: either way the rest is data[ret..len). */
    for (cut = 0; cut < end2; cut++) {
        memset(&f->seen_a, 0, sizeof(f->seen_a));
        f->seen_a.stop_at = 2;
        node_bus_reader_init(&r);
        assert_int_equal(node_bus_reader_feed(&r, f->stream, cut, on_frame, &f->seen_a), cut);
        got = node_bus_reader_feed(&r, f->stream + cut, n - cut, on_frame, &f->seen_a);
        assert_int_equal(got, end2 - cut);
        assert_int_equal(f->seen_a.n, 2);
        assert_int_equal(node_bus_reader_pending(&r), 0);
        /* The caller may resume with the rest. */
        f->seen_a.stop_at = 0;
        assert_int_equal(node_bus_reader_feed(&r, f->stream + end2, n - end2, on_frame, &f->seen_a),
                         n - end2);
        check_three(&f->seen_a);
        node_bus_reader_free(&r);
    }
}

static void test_reader_bad_header_is_sticky_eproto(void **state)
{
    fix_t *f = *state;
    size_t n = three_frames(f->stream);
    node_bus_reader_t r;

    node_bus_reader_init(&r);
    f->stream[NODE_BUS_HEADER + 20] = 'X'; /* magic of the second frame */
    assert_int_equal(node_bus_reader_feed(&r, f->stream, n, on_frame, &f->seen_a), RC_EPROTO);
    assert_int_equal(f->seen_a.n, 1);
    three_frames(f->stream);
    assert_int_equal(node_bus_reader_feed(&r, f->stream, n, on_frame, &f->seen_a), RC_EPROTO);
    assert_int_equal(f->seen_a.n, 1);
    node_bus_reader_free(&r);
    /* Garbage that is no frame at all is refused from its first byte, not
     * after a header's worth of it (a RESP client on the bus port). */
    node_bus_reader_init(&r);
    assert_int_equal(node_bus_reader_feed(&r, (const uint8_t *)"GET", 3, on_frame, &f->seen_a),
                     RC_EPROTO);
    assert_int_equal(node_bus_reader_feed(&r, f->stream, n, on_frame, &f->seen_a), RC_EPROTO);
    node_bus_reader_free(&r);
    /* A valid prefix is buffered; a wrong byte later in it fails once it arrives. */
    node_bus_reader_init(&r);
    assert_int_equal(node_bus_reader_feed(&r, f->stream, 3, on_frame, &f->seen_a), 3);
    assert_int_equal(node_bus_reader_feed(&r, (const uint8_t *)"X", 1, on_frame, &f->seen_a),
                     RC_EPROTO);
    node_bus_reader_free(&r);
    assert_int_equal(f->seen_a.n, 1);
}

static void test_reader_buffers_at_most_one_frame(void **state)
{
    static uint8_t big[2 * (NODE_BUS_HEADER + NODE_BUS_MAX_PAYLOAD)], payload[NODE_BUS_MAX_PAYLOAD];
    fix_t *f = *state;
    node_bus_reader_t r;
    size_t n, i, step = 1000;

    n = frame_of(big, NODE_BUS_PAXOS, payload, NODE_BUS_MAX_PAYLOAD);
    n += frame_of(big + n, NODE_BUS_PAXOS, payload, NODE_BUS_MAX_PAYLOAD);
    node_bus_reader_init(&r);
    for (i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;

        assert_int_equal(node_bus_reader_feed(&r, big + i, k, on_frame, &f->seen_a), k);
        assert_true(r.in.cap <=
                    2 * (NODE_BUS_HEADER + NODE_BUS_MAX_PAYLOAD)); /* one frame, doubled */
    }
    assert_int_equal(f->seen_a.n, 2);
    node_bus_reader_free(&r);
}

/* ---- session ---- */

static void test_session_same_secret_opens_both_sides(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb;

    sessions(f, "s3cret", "s3cret", NODE_BUS_ROLE_CONTROL);
    assert_null(node_bus_session_peer(&f->a));
    pump(f, &ra, &rb);
    assert_true(ra > 0 && rb > 0);
    assert_true(node_bus_session_is_open(&f->a));
    assert_true(node_bus_session_is_open(&f->b));
    assert_string_equal(node_bus_session_error(&f->a), "");
    assert_string_equal(node_bus_session_peer(&f->a)->client_addr, "127.0.0.2:7001");
    assert_string_equal(node_bus_session_peer(&f->b)->bus_addr, "127.0.0.1:17001");
    assert_int_equal(node_bus_session_peer_header(&f->a)->id, 22);
    assert_int_equal(node_bus_session_peer_header(&f->b)->incarnation, 111);
    assert_int_equal(node_bus_session_peer_header(&f->b)->epoch, 5);
    assert_int_equal(f->seen_a.n + f->seen_b.n, 0); /* handshake frames stay inside */
    /* Each HELLO's header flags carry its sender's features. */
    assert_int_equal(node_bus_session_peer_header(&f->a)->flags, NODE_BUS_FEATURES);
    assert_int_equal(node_bus_session_peer_header(&f->b)->flags, NODE_BUS_FEATURES);
}

/* A node without a feature (an older version: features 0) still opens a
 * session with one that has it; each side sees what the other announced. */
static void test_session_features_travel_in_the_hello_flags(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb;

    sessions(f, "s3cret", "s3cret", NODE_BUS_ROLE_CONTROL);
    f->b.features = 0;
    pump(f, &ra, &rb);
    assert_true(node_bus_session_is_open(&f->a));
    assert_true(node_bus_session_is_open(&f->b));
    assert_int_equal(node_bus_session_peer_header(&f->a)->flags, 0);
    assert_int_equal(node_bus_session_peer_header(&f->b)->flags, NODE_BUS_FEATURES);
    assert_int_equal(NODE_BUS_FEATURES, NODE_BUS_FEATURE_LIVE | NODE_BUS_FEATURE_LIVEPACK |
                                            NODE_BUS_FEATURE_RESYNC | NODE_BUS_FEATURE_DONEWAIT |
                                            NODE_BUS_FEATURE_REPLAY);
}

static void test_session_data_role_opens_with_resp_version(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb;

    sessions(f, NULL, NULL, NODE_BUS_ROLE_DATA);
    pump(f, &ra, &rb);
    assert_true(node_bus_session_is_open(&f->a) && node_bus_session_is_open(&f->b));
    assert_int_equal(node_bus_session_peer(&f->b)->role, NODE_BUS_ROLE_DATA);
    assert_int_equal(node_bus_session_peer(&f->b)->resp, 3);
}

static void test_session_no_secret_on_both_sides_opens(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb;

    sessions(f, NULL, "", NODE_BUS_ROLE_CONTROL); /* NULL and "" are the same empty key */
    pump(f, &ra, &rb);
    assert_true(node_bus_session_is_open(&f->a) && node_bus_session_is_open(&f->b));
}

static void test_session_different_secret_is_eauth_on_both_sides(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb;

    sessions(f, "s3cret", "other", NODE_BUS_ROLE_CONTROL);
    pump(f, &ra, &rb);
    assert_int_equal(ra, RC_EAUTH);
    assert_int_equal(rb, RC_EAUTH);
    assert_false(node_bus_session_is_open(&f->a) || node_bus_session_is_open(&f->b));
    assert_string_equal(node_bus_session_error(&f->a), "bad cluster secret (HMAC mismatch)");
    assert_string_equal(node_bus_session_error(&f->b), "bad cluster secret (HMAC mismatch)");
    /* Sticky. */
    assert_int_equal(
        node_bus_session_feed(&f->a, f->stream, 0, emit, &f->out_a, on_frame, &f->seen_a),
        RC_EAUTH);
}

/* Nodes that would build different slot tables for the same members must not
 * form one cluster: both sides refuse before AUTH, and say why. */
static void test_session_different_placement_is_refused_on_both_sides(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb;

    sessions(f, "s3cret", "s3cret", NODE_BUS_ROLE_CONTROL);
    f->b.mine.placement = UINT64_C(0xfedcba9876543210);
    pump(f, &ra, &rb);
    assert_int_equal(ra, RC_EPROTO);
    assert_int_equal(rb, RC_EPROTO);
    assert_false(node_bus_session_is_open(&f->a) || node_bus_session_is_open(&f->b));
    assert_string_equal(node_bus_session_error(&f->a),
                        "peer places slots differently (placement fedcba9876543210, ours "
                        "0123456789abcdef)");
    assert_string_equal(node_bus_session_error(&f->b),
                        "peer places slots differently (placement 0123456789abcdef, ours "
                        "fedcba9876543210)");
    /* Equal placement (and nothing else changed) opens. */
    node_bus_session_free(&f->a);
    node_bus_session_free(&f->b);
    sessions(f, "s3cret", "s3cret", NODE_BUS_ROLE_CONTROL);
    f->a.mine.placement = f->b.mine.placement = UINT64_C(0xfedcba9876543210);
    f->out_a.len = f->out_b.len = 0;
    pump(f, &ra, &rb);
    assert_true(node_bus_session_is_open(&f->a) && node_bus_session_is_open(&f->b));
}

static void test_session_secret_against_none_is_eauth(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb;

    sessions(f, NULL, "s3cret", NODE_BUS_ROLE_CONTROL);
    pump(f, &ra, &rb);
    assert_int_equal(ra, RC_EAUTH);
    assert_int_equal(rb, RC_EAUTH);
}

static void test_session_long_secret_works_and_differs_by_tail(void **state)
{
    fix_t *f = *state;
    char s1[400], s2[400];
    ssize_t ra, rb;

    memset(s1, 'k', sizeof(s1) - 1);
    s1[sizeof(s1) - 1] = '\0';
    memcpy(s2, s1, sizeof(s1));
    sessions(f, s1, s2, NODE_BUS_ROLE_CONTROL);
    pump(f, &ra, &rb);
    assert_true(node_bus_session_is_open(&f->a) && node_bus_session_is_open(&f->b));
    node_bus_session_free(&f->a);
    node_bus_session_free(&f->b);
    memset(f, 0, sizeof(*f));
    s2[sizeof(s2) - 2] = 'j'; /* the tail past NODE_BUS_SECRET_MAX still counts */
    sessions(f, s1, s2, NODE_BUS_ROLE_CONTROL);
    pump(f, &ra, &rb);
    assert_int_equal(ra, RC_EAUTH);
    assert_int_equal(rb, RC_EAUTH);
}

/* Delivers b's HELLO to a; returns a's AUTH frame in f->out_a. */
static void half_handshake(fix_t *f)
{
    node_bus_session_start(&f->a, emit, &f->out_a);
    node_bus_session_start(&f->b, emit, &f->out_b);
    f->out_a.len = 0;
    assert_int_equal(node_bus_session_feed(&f->a, f->out_b.buf, f->out_b.len, emit, &f->out_a,
                                           on_frame, &f->seen_a),
                     f->out_b.len);
    assert_int_equal(f->out_a.len, NODE_BUS_HEADER + NODE_BUS_MAC);
}

static void test_session_reflected_auth_is_eauth(void **state)
{
    fix_t *f = *state;
    outbox_t own;

    sessions(f, "s3cret", "s3cret", NODE_BUS_ROLE_CONTROL);
    half_handshake(f);
    own = f->out_a;
    assert_int_equal(
        node_bus_session_feed(&f->a, own.buf, own.len, emit, &f->out_a, on_frame, &f->seen_a),
        RC_EAUTH);
    assert_string_equal(node_bus_session_error(&f->a), "bad cluster secret (HMAC mismatch)");
}

static void test_session_reflected_hello_is_eproto(void **state)
{
    fix_t *f = *state;
    outbox_t own;

    sessions(f, NULL, NULL, NODE_BUS_ROLE_CONTROL);
    node_bus_session_start(&f->a, emit, &f->out_a);
    own = f->out_a;
    assert_int_equal(
        node_bus_session_feed(&f->a, own.buf, own.len, emit, &f->out_a, on_frame, &f->seen_a),
        RC_EPROTO);
    assert_string_equal(node_bus_session_error(&f->a), "peer echoed our own nonce (reflection)");
}

static void test_session_bad_handshake_frames_are_eproto(void **state)
{
    fix_t *f = *state;
    node_bus_hello_t h;
    uint8_t payload[NODE_BUS_HELLO_MAX] = {0}, frame[2 * (NODE_BUS_HEADER + NODE_BUS_HELLO_MAX)];
    const char *want = NULL;
    size_t n = 0;
    int c, plen;

    for (c = 0; c < 6; c++) {
        memset(f, 0, sizeof(*f));
        sessions(f, NULL, NULL, NODE_BUS_ROLE_CONTROL);
        node_bus_session_start(&f->a, emit, &f->out_a);
        node_bus_session_start(&f->b, emit, &f->out_b);
        switch (c) {
        case 0:
            n = frame_of(frame, NODE_BUS_PING, payload, 0);
            want = "unexpected PING frame before the handshake ended";
            break;
        case 1:
            n = frame_of(frame, NODE_BUS_AUTH, payload, NODE_BUS_MAC);
            want = "AUTH from peer before its HELLO";
            break;
        case 2:
            hello_of(&h, 2, NODE_BUS_ROLE_DATA, 2); /* an acceptor must not pick a role */
            plen = node_bus_hello_encode(&h, payload, sizeof(payload));
            n = frame_of(frame, NODE_BUS_HELLO, payload, (size_t)plen);
            want = "acceptor sent a data-role HELLO";
            break;
        case 3:
            n = frame_of(frame, NODE_BUS_HELLO, "short", 5);
            want = "malformed HELLO from peer";
            break;
        case 4:
            memcpy(frame, f->out_b.buf, f->out_b.len); /* the real HELLO, twice */
            memcpy(frame + f->out_b.len, f->out_b.buf, f->out_b.len);
            n = 2 * f->out_b.len;
            want = "second HELLO from peer";
            break;
        default:
            memcpy(frame, f->out_b.buf, f->out_b.len);
            n = f->out_b.len + frame_of(frame + f->out_b.len, NODE_BUS_AUTH, payload, 31);
            want = "malformed AUTH from peer (wrong length)";
            break;
        }
        assert_int_equal(
            node_bus_session_feed(&f->a, frame, n, emit, &f->out_a, on_frame, &f->seen_a),
            RC_EPROTO);
        assert_string_equal(node_bus_session_error(&f->a), want);
        assert_false(node_bus_session_is_open(&f->a));
        node_bus_session_free(&f->a);
        node_bus_session_free(&f->b);
    }
    memset(f, 0, sizeof(*f));
}

static void test_session_garbage_is_eproto(void **state)
{
    fix_t *f = *state;

    sessions(f, NULL, NULL, NODE_BUS_ROLE_CONTROL);
    assert_int_equal(node_bus_session_feed(&f->b,
                                           (const uint8_t *)"*1\r\n$4\r\nPING\r\n"
                                                            "*1\r\n$4\r\nPING\r\n"
                                                            "*1\r\n$4\r\nPING\r\n",
                                           42, emit, &f->out_b, on_frame, &f->seen_b),
                     RC_EPROTO);
    assert_string_equal(node_bus_session_error(&f->b), "garbage on the bus (bad frame header)");
    assert_true(f->out_b.len > 0); /* feed sent our HELLO first */
}

static void test_session_open_delivers_frames_and_data_stops(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb, got;
    size_t n = 0;

    sessions(f, "s3cret", "s3cret", NODE_BUS_ROLE_DATA);
    pump(f, &ra, &rb);
    assert_true(node_bus_session_is_open(&f->b));
    n += frame_of(f->stream + n, NODE_BUS_PING, "12345678901234567890", 20);
    n += frame_of(f->stream + n, NODE_BUS_DATA, "x", 1);
    memcpy(f->stream + n, "*1\r\n$4\r\nPING\r\n", 14);
    got = node_bus_session_feed(&f->b, f->stream, n + 14, emit, &f->out_b, on_frame, &f->seen_b);
    assert_int_equal(got, n);
    assert_int_equal(f->seen_b.n, 2);
    assert_int_equal(f->seen_b.h[0].type, NODE_BUS_PING);
    assert_int_equal(f->seen_b.h[1].type, NODE_BUS_DATA);
    assert_int_equal(f->seen_b.first[1], 'x');
    /* A stopping callback stops too. */
    f->seen_b.stop_at = 3;
    got = node_bus_session_feed(&f->b, f->stream, n, emit, &f->out_b, on_frame, &f->seen_b);
    assert_int_equal(got, NODE_BUS_HEADER + 20);
}

static void test_session_auth_after_open_is_eproto(void **state)
{
    fix_t *f = *state;
    ssize_t ra, rb;
    size_t n;

    sessions(f, NULL, NULL, NODE_BUS_ROLE_CONTROL);
    pump(f, &ra, &rb);
    n = frame_of(f->stream, NODE_BUS_AUTH, f->stream + 100, NODE_BUS_MAC);
    assert_int_equal(
        node_bus_session_feed(&f->a, f->stream, n, emit, &f->out_a, on_frame, &f->seen_a),
        RC_EPROTO);
    assert_string_equal(node_bus_session_error(&f->a), "unexpected AUTH after the handshake");
    assert_false(node_bus_session_is_open(&f->a));
}

static void test_session_handshake_at_every_split(void **state)
{
    fix_t *f = *state;
    outbox_t *from_a = &f->out_a;
    uint8_t auth[NODE_BUS_HEADER + NODE_BUS_MAC];
    node_bus_hello_t hb;
    size_t cut;
    ssize_t r1, r2;

    /* a's whole stream (HELLO, AUTH, then a PONG) depends only on b's fixed
     * nonce, so a fresh b can take it cut anywhere. */
    sessions(f, "s3cret", "s3cret", NODE_BUS_ROLE_CONTROL);
    half_handshake(f);
    memcpy(auth, from_a->buf, sizeof(auth));
    node_bus_session_free(&f->a);
    from_a->len = 0;
    hello_of(&hb, 1, NODE_BUS_ROLE_CONTROL, 0);
    node_bus_session_init(&f->a, 1, &hb, "s3cret", 11, 111, 5);
    node_bus_session_start(&f->a, emit, from_a); /* a's HELLO again, same bytes */
    emit(from_a, auth, sizeof(auth));
    from_a->len += frame_of(from_a->buf + from_a->len, NODE_BUS_PONG, "12345678901234567890", 20);
    hello_of(&hb, 2, NODE_BUS_ROLE_CONTROL, 0);
    for (cut = 0; cut <= from_a->len; cut++) {
        memset(&f->seen_b, 0, sizeof(f->seen_b));
        f->out_b.len = 0;
        node_bus_session_free(&f->b);
        node_bus_session_init(&f->b, 0, &hb, "s3cret", 22, 222, 6);
        r1 = node_bus_session_feed(&f->b, from_a->buf, cut, emit, &f->out_b, on_frame, &f->seen_b);
        r2 = node_bus_session_feed(&f->b, from_a->buf + cut, from_a->len - cut, emit, &f->out_b,
                                   on_frame, &f->seen_b);
        assert_int_equal(r1, cut);
        assert_int_equal(r2, from_a->len - cut);
        assert_true(node_bus_session_is_open(&f->b));
        assert_int_equal(f->seen_b.n, 1);
        assert_int_equal(f->seen_b.h[0].type, NODE_BUS_PONG);
        /* b sent its HELLO then its AUTH. */
        assert_int_equal(f->out_b.len, 2 * NODE_BUS_HEADER + 32 + 14 + 29 + NODE_BUS_MAC);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_matches_golden_bytes_and_round_trips),
        cmocka_unit_test(test_header_bad_input_is_eproto),
        cmocka_unit_test(test_frame_small_cap_or_big_payload_is_zero),
        cmocka_unit_test(test_hello_round_trips_canonically),
        cmocka_unit_test(test_hello_truncation_and_trailing_byte_are_eproto),
        cmocka_unit_test(test_hello_bad_role_resp_or_address_is_eproto),
        cmocka_unit_test(test_hello_encode_refuses_small_cap_long_address_bad_role),
        cmocka_unit_test(test_ping_round_trips_with_no_and_max_suspects),
        cmocka_unit_test(test_ping_bad_input_is_rejected),
        cmocka_unit_test(test_data_to_matches_golden_bytes_and_round_trips),
        cmocka_unit_test(test_mac_matches_golden_vectors),
        cmocka_unit_test_setup_teardown(test_reader_splits_at_every_byte_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_stop_leaves_exact_remainder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_bad_header_is_sticky_eproto, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_buffers_at_most_one_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_same_secret_opens_both_sides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_features_travel_in_the_hello_flags, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_different_placement_is_refused_on_both_sides,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_data_role_opens_with_resp_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_no_secret_on_both_sides_opens, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_different_secret_is_eauth_on_both_sides, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_secret_against_none_is_eauth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_long_secret_works_and_differs_by_tail, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_reflected_auth_is_eauth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_reflected_hello_is_eproto, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_bad_handshake_frames_are_eproto, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_garbage_is_eproto, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_open_delivers_frames_and_data_stops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_session_auth_after_open_is_eproto, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_handshake_at_every_split, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
