/* tests/unit/node_bus_test.c: node/bus/ at run time, two buses on one loop
 * over loopback: control links deliver frames to the peer's handlers, a
 * wrong secret fails the handshake, data links carry requests in BATCH
 * frames and bring the replies back in order, epochs are checked (newer
 * reported, fenced older batches refused), failed links back off, and
 * shutdown fails links and closes accepted connections. Every test ends
 * with uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/rc.h"
#include "node/bus/node_bus.h"
#include "node/bus/node_bus_internal.h"
#include "node/bus/node_bus_proto.h"
#include "node/core/node_config.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"
#include "tests/unit/node_test_loop.h"

enum {
    PLACEMENT = 0x5eed,
    BIG_LEN = 64 * 1024,
    BIG_COUNT = 70, /* replies past NODE_CONN_OUT_PAUSE: the connection pauses */
};

static char big[BIG_LEN];

typedef struct fx_s fx_t;

/* One node: a server and its bus. */
typedef struct side_s {
    fx_t *fx;
    node_server_t *server;
    node_bus_t *bus;
    int port; /* bus port */
    char addr[64];
    /* bus handlers */
    int nframes;
    node_bus_header_t last;
    char peer_addr[NODE_BUS_ADDR_MAX];
    uint64_t ping_seq;
    int nnewer;
    int refuse; /* on_frame refuses every frame */
    uint64_t newer;
    /* requests from data links */
    int nrequests;
    int from_peer;
} side_t;

struct fx_s {
    uv_loop_t loop;
    side_t s[2];
    /* link callbacks (links of s[0]) */
    int nopen;
    int nfail;
    char why[128];
    int nlink_frames;
    char data[4096];
    size_t data_len;
    uint64_t data_total; /* every reply byte, kept or not */
    char data_tail[64];  /* the last bytes received */
    /* a hand-made data peer */
    test_client_t client;
    node_bus_session_t sess;
    int has_sess;
    size_t fed;
    int got_data;
    /* a listener that never answers */
    uv_tcp_t silent;
    int silent_open;
};

/* ---- handlers ---- */

static int on_bus_frame(void *arg, const node_bus_hello_t *peer, const node_bus_header_t *h,
                        const uint8_t *payload)
{
    side_t *s = arg;
    node_bus_ping_t p;

    s->nframes++;
    s->last = *h;
    snprintf(s->peer_addr, sizeof(s->peer_addr), "%s", peer != NULL ? peer->bus_addr : "");
    if (h->type == NODE_BUS_PING && node_bus_ping_decode(payload, h->len, &p) == 0)
        s->ping_seq = p.seq;
    return s->refuse ? RC_EPROTO : 0;
}

static void on_newer_epoch(void *arg, uint64_t epoch)
{
    side_t *s = arg;

    s->nnewer++;
    s->newer = epoch;
}

static int is(const resp_arg_t *a, const char *str)
{
    return a->len == strlen(str) && memcmp(a->ptr, str, a->len) == 0;
}

static void on_request(void *arg, node_client_t *c)
{
    side_t *s = arg;

    s->nrequests++;
    s->from_peer = c->conn->peer;
    if (is(&c->argv[0], "PING"))
        node_reply_status(c, "PONG");
    else if (is(&c->argv[0], "ECHO") && c->argc == 2)
        node_reply_bulk(c, c->argv[1].ptr, c->argv[1].len);
    else if (is(&c->argv[0], "BIG"))
        node_reply_bulk(c, big, sizeof(big));
    else
        node_reply_error(c, "ERR unknown command");
}

static void on_link_open(void *arg, node_link_t *l)
{
    fx_t *fx = arg;

    (void)l;
    fx->nopen++;
}

static int on_link_frame(void *arg, node_link_t *l, const node_bus_header_t *h,
                         const uint8_t *payload)
{
    fx_t *fx = arg;

    (void)l;
    (void)h;
    (void)payload;
    fx->nlink_frames++;
    return 0;
}

static ssize_t on_link_data(void *arg, node_link_t *l, const char *data, size_t len)
{
    fx_t *fx = arg;

    size_t keep = len, tail = sizeof(fx->data_tail);

    (void)l;
    fx->data_total += len;
    if (len >= tail) {
        memcpy(fx->data_tail, data + len - tail, tail);
    } else {
        memmove(fx->data_tail, fx->data_tail + len, tail - len);
        memcpy(fx->data_tail + tail - len, data, len);
    }
    if (keep > sizeof(fx->data) - fx->data_len)
        keep = sizeof(fx->data) - fx->data_len;
    memcpy(fx->data + fx->data_len, data, keep);
    fx->data_len += keep;
    return (ssize_t)len;
}

static void on_link_fail(void *arg, node_link_t *l, const char *reason)
{
    fx_t *fx = arg;

    (void)l;
    fx->nfail++;
    snprintf(fx->why, sizeof(fx->why), "%s", reason);
}

static const node_link_ops_t link_ops = {on_link_open, on_link_frame, on_link_data, on_link_fail,
                                         NULL};

/* ---- fixture ---- */

static long cfg_timeout; /* the servers' idle client timeout (s) */

static void side_create(fx_t *fx, side_t *s, const char *secret, uint64_t id, uint64_t epoch)
{
    node_config_t cfg;
    node_bus_config_t bc;
    node_bus_handlers_t h = {on_bus_frame, on_newer_epoch, s};

    s->fx = fx;
    node_config_defaults(&cfg);
    cfg.port = 0;
    cfg.timeout = cfg_timeout;
    assert_int_equal(node_server_create(&fx->loop, &cfg, NULL, &s->server), 0);
    node_config_free(&cfg);
    memset(&bc, 0, sizeof(bc));
    bc.secret = secret;
    bc.bind = "127.0.0.1";
    bc.port = 0; /* any free port: read back below */
    bc.placement = PLACEMENT;
    bc.bus_addr = "127.0.0.1:0";
    bc.client_addr = "127.0.0.1:0";
    assert_int_equal(node_bus_create(s->server, &bc, &s->bus), 0);
    s->port = test_loop_bound_port(&s->bus->listeners[0]);
    assert_true(s->port > 0);
    snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
    snprintf(s->bus->bus_addr, sizeof(s->bus->bus_addr), "%s", s->addr); /* announced in HELLO */
    node_server_on_shutdown(s->server, node_bus_shutdown, s->bus);
    node_bus_set_handlers(s->bus, &h);
    node_bus_set_request_handler(s->bus, on_request, s);
    node_bus_set_identity(s->bus, id, id * 100);
    node_bus_set_epoch(s->bus, epoch);
}

static int setup_with(void **state, const char *secret_b, uint64_t epoch_a, uint64_t epoch_b)
{
    fx_t *fx = test_calloc(1, sizeof(*fx));

    rc_log_level = getenv("TEST_LOG") ? RC_LOG_DEBUG : RC_LOG_WARNING;
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    side_create(fx, &fx->s[0], "the secret", 1, epoch_a);
    side_create(fx, &fx->s[1], secret_b, 2, epoch_b);
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, "the secret", 3, 3);
}

static int setup_wrong_secret(void **state)
{
    return setup_with(state, "another secret", 3, 3);
}

static int setup_a_newer(void **state)
{
    return setup_with(state, "the secret", 5, 3);
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    int i;

    test_client_close(&fx->client);
    if (fx->silent_open)
        uv_close((uv_handle_t *)&fx->silent, NULL);
    for (i = 0; i < 2; i++)
        node_server_shutdown(fx->s[i].server);
    assert_true(test_loop_drain(&fx->loop));
    for (i = 0; i < 2; i++) {
        node_bus_destroy(fx->s[i].bus);
        node_server_destroy(fx->s[i].server);
    }
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    if (fx->client.nconnect > 0)
        assert_int_equal(fx->client.nclose, 1);
    test_client_free(&fx->client);
    if (fx->has_sess)
        node_bus_session_free(&fx->sess);
    test_free(fx);
    return 0;
}

static node_link_t *control_link(fx_t *fx, const char *addr)
{
    node_link_opts_t o;

    memset(&o, 0, sizeof(o));
    o.role = NODE_BUS_ROLE_CONTROL;
    return node_link_get(fx->s[0].bus, addr, &o, &link_ops, fx);
}

static node_link_t *data_link(fx_t *fx, const char *addr, int backoff_ms)
{
    node_link_opts_t o;

    memset(&o, 0, sizeof(o));
    o.role = NODE_BUS_ROLE_DATA;
    o.resp = 2;
    o.peer_id = 2;
    o.peer_incarnation = 200;
    o.backoff_min_ms = backoff_ms;
    o.backoff_max_ms = 20 * backoff_ms; /* no reset of the backoff on a slow machine */
    return node_link_get(fx->s[0].bus, addr, &o, &link_ops, fx);
}

static void send_ping(node_link_t *l, uint64_t seq)
{
    node_bus_ping_t p;
    uint8_t buf[NODE_BUS_PING_MAX];
    int n;

    memset(&p, 0, sizeof(p));
    p.seq = seq;
    n = node_bus_ping_encode(&p, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(node_link_send(l, NODE_BUS_PING, buf, (size_t)n), 0);
}

/* ---- conditions ---- */

static int b_got_frame(void *arg)
{
    const fx_t *fx = arg;

    return fx->s[1].nframes > 0;
}

static int want_fails = 1;

static int link_failed(void *arg)
{
    const fx_t *fx = arg;

    return fx->nfail >= want_fails;
}

static size_t want_len;

static int got_data(void *arg)
{
    const fx_t *fx = arg;

    return fx->data_len >= want_len;
}

static int b_no_conns(void *arg)
{
    const fx_t *fx = arg;

    return fx->s[1].bus->conns == NULL;
}

/* ---- control links ---- */

static void test_bus_control_link_delivers_ping_to_peer_handler(void **state)
{
    fx_t *fx = *state;
    node_link_t *l = control_link(fx, fx->s[1].addr);

    assert_non_null(l);
    assert_ptr_equal(control_link(fx, fx->s[1].addr), l); /* pooled */
    assert_false(node_link_is_open(l));
    send_ping(l, 42);
    assert_true(test_loop_run_until(&fx->loop, b_got_frame, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->s[1].nframes, 1);
    assert_int_equal(fx->s[1].last.type, NODE_BUS_PING);
    assert_int_equal(fx->s[1].last.id, 1);
    assert_int_equal(fx->s[1].last.incarnation, 100);
    assert_int_equal(fx->s[1].last.epoch, 3);
    assert_int_equal(fx->s[1].ping_seq, 42);
    assert_string_equal(fx->s[1].peer_addr, fx->s[0].addr);
    assert_int_equal(fx->nopen, 1);
    assert_true(node_link_is_open(l));
    assert_int_equal(node_link_peer(l)->placement, PLACEMENT);
    assert_int_equal(node_bus_stats(fx->s[0].bus)->frames_sent, 1);
    assert_int_equal(node_bus_stats(fx->s[1].bus)->frames_received, 1);
    assert_int_equal(fx->nfail, 0);
    assert_int_equal(fx->s[1].nnewer, 0); /* same epoch */
    assert_int_equal(node_bus_stats(fx->s[1].bus)->older_frames, 0);
}

static void test_bus_wrong_secret_fails_the_handshake(void **state)
{
    fx_t *fx = *state;
    node_link_t *l = control_link(fx, fx->s[1].addr);

    send_ping(l, 1);
    assert_true(test_loop_run_until(&fx->loop, link_failed, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(test_loop_run_until(&fx->loop, b_no_conns, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->nfail, 1);
    assert_true(fx->why[0] != '\0');
    assert_non_null(strstr(fx->why, "secret"));
    assert_int_equal(fx->nopen, 0);
    assert_int_equal(fx->s[1].nframes, 0); /* nothing crossed */
    assert_int_equal(node_bus_stats(fx->s[1].bus)->auth_failures, 1);
    assert_int_equal(node_bus_stats(fx->s[0].bus)->auth_failures, 1);
    assert_false(node_link_is_open(l));
}

/* ---- epochs ---- */

static int b_heard_newer(void *arg)
{
    const fx_t *fx = arg;

    return fx->s[1].nnewer > 0;
}

static void test_bus_frame_from_newer_epoch_calls_on_newer_epoch(void **state)
{
    fx_t *fx = *state; /* A at epoch 5, B at 3 */

    send_ping(control_link(fx, fx->s[1].addr), 1);
    assert_true(test_loop_run_until(&fx->loop, b_heard_newer, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->s[1].newer, 5);
    assert_int_equal(fx->s[1].nframes, 1); /* still delivered */
    assert_int_equal(node_bus_stats(fx->s[1].bus)->older_frames, 0);
}

static void test_bus_control_frame_from_older_epoch_is_counted_and_delivered(void **state)
{
    fx_t *fx = *state; /* A at epoch 3, B at 5 */

    send_ping(control_link(fx, fx->s[1].addr), 1);
    assert_true(test_loop_run_until(&fx->loop, b_got_frame, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->s[1].last.epoch, 3);
    assert_int_equal(node_bus_stats(fx->s[1].bus)->older_frames, 1);
    assert_int_equal(fx->s[1].nnewer, 0);
}

static int setup_b_newer(void **state)
{
    return setup_with(state, "the secret", 3, 5);
}

/* ---- data links ---- */

static void queue(node_link_t *l, const char *req)
{
    size_t n = strlen(req);

    memcpy(node_link_reserve(l, n), req, n);
    node_link_commit(l, n);
}

static void test_bus_data_link_runs_batched_requests_and_returns_replies_in_order(void **state)
{
    fx_t *fx = *state;
    node_link_t *l = data_link(fx, fx->s[1].addr, 100);
    const char *why = NULL;
    static const char want[] = "$1\r\na\r\n+PONG\r\n$1\r\nb\r\n-ERR unknown command\r\n";

    assert_non_null(l);
    assert_int_equal(node_link_ready(l, &why), 0); /* starts connecting */
    queue(l, "*2\r\n$4\r\nECHO\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n");
    queue(l, "*2\r\n$4\r\nECHO\r\n$1\r\nb\r\n*1\r\n$3\r\nBAD\r\n");
    assert_int_equal(node_link_queued(l), 69);
    want_len = strlen(want);
    assert_true(test_loop_run_until(&fx->loop, got_data, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->data_len, strlen(want));
    assert_memory_equal(fx->data, want, fx->data_len);
    assert_int_equal(fx->s[1].nrequests, 4);
    assert_true(fx->s[1].from_peer);       /* a data link from a peer: never forwarded again */
    assert_int_equal(fx->s[1].nframes, 0); /* not control traffic */
    assert_int_equal(node_bus_stats(fx->s[0].bus)->batches_sent, 1);
    assert_int_equal(node_bus_stats(fx->s[1].bus)->batches_received, 1);
    assert_int_equal(node_link_queued(l), 0);

    /* Once open, the next batch goes out in the same iteration's check. */
    fx->data_len = 0;
    queue(l, "*1\r\n$4\r\nPING\r\n");
    want_len = 7;
    assert_true(test_loop_run_until(&fx->loop, got_data, fx, TEST_LOOP_TIMEOUT_MS));
    assert_memory_equal(fx->data, "+PONG\r\n", 7);
    assert_int_equal(node_bus_stats(fx->s[1].bus)->batches_received, 2);
}

/* A data peer made by hand: a client on B's bus port running the
 * initiator's side of the handshake, so the test can write BATCH frames
 * with any flags and epoch. */

static void peer_emit(void *arg, const void *bytes, size_t len)
{
    fx_t *fx = arg;

    test_client_send(&fx->client, bytes, len);
}

static int peer_frame(void *arg, const node_bus_header_t *h, const uint8_t *payload)
{
    fx_t *fx = arg;

    (void)payload;
    if (h->type == NODE_BUS_DATA)
        fx->got_data = 1;
    return 0;
}

static int peer_pump(void *arg)
{
    fx_t *fx = arg;
    ssize_t n;

    if (fx->got_data || fx->client.in_len == fx->fed)
        return fx->got_data || fx->client.eof;
    n = node_bus_session_feed(&fx->sess, (const uint8_t *)fx->client.in + fx->fed,
                              fx->client.in_len - fx->fed, peer_emit, fx, peer_frame, fx);
    assert_true(n >= 0);
    fx->fed += (size_t)n;
    return fx->got_data;
}

static int peer_open(void *arg)
{
    fx_t *fx = arg;

    (void)peer_pump(fx);
    return node_bus_session_is_open(&fx->sess) || fx->client.eof;
}

static int client_connected(void *arg)
{
    const fx_t *fx = arg;

    return fx->client.nconnect > 0;
}

static void peer_connect(fx_t *fx, uint64_t epoch)
{
    node_bus_hello_t h;
    uint8_t frame[NODE_BUS_HEADER];
    size_t n;

    assert_int_equal(test_client_connect(&fx->client, &fx->loop, fx->s[1].port, 0), 0);
    assert_true(test_loop_run_until(&fx->loop, client_connected, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.connect_status, 0);
    memset(&h, 0, sizeof(h));
    memset(h.nonce, 0xa5, sizeof(h.nonce));
    h.role = NODE_BUS_ROLE_DATA;
    h.resp = 2;
    h.placement = PLACEMENT;
    snprintf(h.bus_addr, sizeof(h.bus_addr), "127.0.0.1:1");
    snprintf(h.client_addr, sizeof(h.client_addr), "127.0.0.1:1");
    node_bus_session_init(&fx->sess, 1, &h, "the secret", 9, 900, epoch);
    fx->has_sess = 1;
    node_bus_session_start(&fx->sess, peer_emit, fx);
    assert_true(test_loop_run_until(&fx->loop, peer_open, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(node_bus_session_is_open(&fx->sess));
    n = node_bus_frame(frame, sizeof(frame), NODE_BUS_DATA, 9, 900, epoch, NULL, 0);
    test_client_send(&fx->client, frame, n);
    assert_true(test_loop_run_until(&fx->loop, peer_pump, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(fx->got_data);
}

static void peer_batch(fx_t *fx, uint16_t flags, uint64_t epoch, const char *reqs)
{
    uint8_t hdr[NODE_BUS_HEADER];

    node_bus_batch_header(hdr, flags, 9, 900, epoch, (uint32_t)strlen(reqs));
    test_client_send(&fx->client, hdr, sizeof(hdr));
    test_client_send_str(&fx->client, reqs);
}

static int peer_got(void *arg)
{
    const fx_t *fx = arg;

    return fx->client.in_len - fx->fed >= want_len || fx->client.eof;
}

static void peer_expect(fx_t *fx, const char *want)
{
    want_len = strlen(want);
    assert_true(test_loop_run_until(&fx->loop, peer_got, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len - fx->fed, strlen(want));
    assert_memory_equal(fx->client.in + fx->fed, want, strlen(want));
    fx->fed = fx->client.in_len;
}

static void test_bus_fenced_batch_from_older_epoch_is_refused(void **state)
{
    fx_t *fx = *state; /* B at epoch 5 */
    static const char reqs[] = "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nq\r\n";
    static const char stale[] = "-TRYAGAIN stale epoch: the sender's configuration is older\r\n";

    peer_connect(fx, 4);
    peer_batch(fx, NODE_BUS_F_FENCED, 4, reqs);
    {
        char want[256];

        snprintf(want, sizeof(want), "%s%s", stale, stale);
        peer_expect(fx, want);
    }
    assert_int_equal(fx->s[1].nrequests, 0); /* never ran */
    assert_int_equal(node_bus_stats(fx->s[1].bus)->fenced, 1);

    /* Unfenced from the same old epoch: counted, and run. */
    peer_batch(fx, 0, 4, reqs);
    peer_expect(fx, "+PONG\r\n$1\r\nq\r\n");
    assert_int_equal(fx->s[1].nrequests, 2);
    assert_int_equal(node_bus_stats(fx->s[1].bus)->fenced, 1);
    assert_true(node_bus_stats(fx->s[1].bus)->older_frames >= 2);

    /* Fenced at the current epoch: run. */
    peer_batch(fx, NODE_BUS_F_FENCED, 5, reqs);
    peer_expect(fx, "+PONG\r\n$1\r\nq\r\n");
    assert_int_equal(fx->s[1].nrequests, 4);
    assert_int_equal(node_bus_stats(fx->s[1].bus)->batches_received, 3);
}

static int peer_got_len(void *arg)
{
    const fx_t *fx = arg;

    return fx->client.in_len - fx->fed >= want_len || fx->client.eof;
}

static void test_bus_fenced_batch_behind_a_paused_batch_is_still_refused(void **state)
{
    fx_t *fx = *state; /* B at epoch 5 */
    static const char big_req[] = "*1\r\n$3\r\nBIG\r\n";
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    static const char stale[] = "-TRYAGAIN stale epoch: the sender's configuration is older\r\n";
    size_t plen = BIG_COUNT * (sizeof(big_req) - 1), off = 0, reply_len;
    char *buf = test_malloc(2 * NODE_BUS_HEADER + plen + sizeof(ping));
    char header[32];
    int i;

    memset(big, 'x', sizeof(big));
    peer_connect(fx, 4);
    /* One write, two batches: the first (unfenced) pauses the connection
     * on output; the second (fenced, older epoch) arrives in the same read
     * and must still be refused when its turn comes. */
    node_bus_batch_header((uint8_t *)buf, 0, 9, 900, 4, (uint32_t)plen);
    off += NODE_BUS_HEADER;
    for (i = 0; i < BIG_COUNT; i++, off += sizeof(big_req) - 1)
        memcpy(buf + off, big_req, sizeof(big_req) - 1);
    node_bus_batch_header((uint8_t *)buf + off, NODE_BUS_F_FENCED, 9, 900, 4,
                          (uint32_t)(sizeof(ping) - 1));
    off += NODE_BUS_HEADER;
    memcpy(buf + off, ping, sizeof(ping) - 1);
    off += sizeof(ping) - 1;
    test_client_send(&fx->client, buf, off);
    test_free(buf);

    reply_len = (size_t)snprintf(header, sizeof(header), "$%d\r\n", BIG_LEN) + BIG_LEN + 2;
    want_len = BIG_COUNT * reply_len + strlen("+PONG\r\n"); /* the shorter answer */
    assert_true(test_loop_run_until(&fx->loop, peer_got_len, fx, 4 * TEST_LOOP_TIMEOUT_MS));
    test_loop_iterations(&fx->loop, 3);
    assert_int_equal(fx->client.in_len - fx->fed, BIG_COUNT * reply_len + strlen(stale));
    assert_int_equal(fx->s[1].nrequests, BIG_COUNT); /* PING never ran */
    assert_memory_equal(fx->client.in + fx->fed + BIG_COUNT * reply_len, stale, strlen(stale));
    assert_int_equal(node_bus_stats(fx->s[1].bus)->fenced, 1);
}

static void test_bus_batch_from_newer_epoch_calls_on_newer_epoch(void **state)
{
    fx_t *fx = *state; /* B at epoch 3 */

    peer_connect(fx, 3);
    peer_batch(fx, 0, 8, "*1\r\n$4\r\nPING\r\n");
    peer_expect(fx, "+PONG\r\n");
    assert_int_equal(fx->s[1].nnewer, 1);
    assert_int_equal(fx->s[1].newer, 8);
}

/* ---- failures ---- */

static int ready_again(void *arg)
{
    node_link_t *l = arg;
    const char *why;

    return node_link_ready(l, &why) == 0;
}

static void test_bus_link_to_closed_port_fails_then_backs_off(void **state)
{
    fx_t *fx = *state;
    char addr[64];
    node_link_t *l;
    const char *why = NULL;
    uint64_t failed_at;

    snprintf(addr, sizeof(addr), "127.0.0.1:%d", test_loop_free_port());
    l = data_link(fx, addr, 300);
    assert_int_equal(node_link_ready(l, &why), 0);
    queue(l, "*1\r\n$4\r\nPING\r\n");
    assert_true(test_loop_run_until(&fx->loop, link_failed, fx, TEST_LOOP_TIMEOUT_MS));
    failed_at = uv_now(&fx->loop);
    assert_int_equal(fx->nfail, 1);
    assert_int_equal(node_link_queued(l), 0); /* dropped with the failure */
    assert_int_equal(node_link_refusals(l), 1);
    assert_int_equal(node_link_ready(l, &why), -EAGAIN);
    assert_string_equal(why, fx->why);
    assert_true(test_loop_run_until(&fx->loop, ready_again, l, TEST_LOOP_TIMEOUT_MS));
    assert_true(uv_now(&fx->loop) - failed_at >= 250);
    /* It reconnected, failed again, and waits twice as long now. */
    want_fails = 2;
    assert_true(test_loop_run_until(&fx->loop, link_failed, fx, TEST_LOOP_TIMEOUT_MS));
    want_fails = 1;
    assert_int_equal(fx->nfail, 2);
    assert_int_equal(node_link_refusals(l), 2);
    assert_int_equal(l->retry_at - l->failed_at, 600); /* doubled */
    assert_int_equal(fx->nopen, 0);
}

static int link_open(void *arg)
{
    return node_link_is_open(arg);
}

static void test_bus_shutdown_fails_open_links(void **state)
{
    fx_t *fx = *state;
    node_link_t *c = control_link(fx, fx->s[1].addr);
    node_link_t *d = data_link(fx, fx->s[1].addr, 100);
    const char *why = NULL;

    send_ping(c, 1);
    assert_int_equal(node_link_ready(d, &why), 0);
    assert_true(test_loop_run_until(&fx->loop, link_open, c, TEST_LOOP_TIMEOUT_MS));
    assert_true(test_loop_run_until(&fx->loop, link_open, d, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->nopen, 2);
    assert_non_null(fx->s[1].bus->conns);

    assert_int_equal(node_bus_shutdown(fx->s[0].bus), 0);
    assert_int_equal(fx->nfail, 2); /* each owner hears it at once */
    assert_string_equal(fx->why, "shutting down");
    assert_int_equal(node_link_ready(d, &why), -EAGAIN);
    assert_string_equal(why, "shutting down");
    /* The peer sees both connections go. */
    assert_true(test_loop_run_until(&fx->loop, b_no_conns, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->nfail, 2);
}

static void test_bus_shutdown_closes_accepted_connections(void **state)
{
    fx_t *fx = *state;
    node_link_t *c = control_link(fx, fx->s[1].addr);

    send_ping(c, 1);
    assert_true(test_loop_run_until(&fx->loop, b_got_frame, fx, TEST_LOOP_TIMEOUT_MS));
    assert_non_null(fx->s[1].bus->conns);
    assert_int_equal(node_bus_shutdown(fx->s[1].bus), 0);
    assert_true(test_loop_run_until(&fx->loop, b_no_conns, fx, TEST_LOOP_TIMEOUT_MS));
    /* Our link hears the close. */
    assert_true(test_loop_run_until(&fx->loop, link_failed, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->nfail, 1);
    assert_false(node_link_is_open(c));
}

static void test_bus_frame_the_handler_refuses_closes_the_connection(void **state)
{
    fx_t *fx = *state;
    node_link_t *l = control_link(fx, fx->s[1].addr);

    fx->s[1].refuse = 1;
    send_ping(l, 1);
    assert_true(test_loop_run_until(&fx->loop, link_failed, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(test_loop_run_until(&fx->loop, b_no_conns, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->s[1].nframes, 1);
    assert_int_equal(node_bus_stats(fx->s[1].bus)->bad_frames, 1);
    assert_int_equal(fx->nopen, 1);
    assert_int_equal(fx->nfail, 1);
    assert_int_equal(node_link_refusals(l), 1); /* closed by the peer */
}

/* Never accepts: the kernel completes the connect, nobody answers HELLO. */
static void on_silent(uv_stream_t *listener, int status)
{
    (void)listener;
    (void)status;
}

static void test_bus_link_without_an_answer_fails_after_the_handshake_time(void **state)
{
    fx_t *fx = *state;
    uv_tcp_t *silent = &fx->silent;
    struct sockaddr_in sin;
    node_link_opts_t o;
    node_link_t *l;
    char addr[64];
    uint64_t start;

    uv_ip4_addr("127.0.0.1", 0, &sin);
    assert_int_equal(uv_tcp_init(&fx->loop, silent), 0);
    fx->silent_open = 1; /* closed by teardown */
    assert_int_equal(uv_tcp_bind(silent, (const struct sockaddr *)&sin, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)silent, 4, on_silent), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", test_loop_bound_port(silent));
    memset(&o, 0, sizeof(o));
    o.role = NODE_BUS_ROLE_CONTROL;
    o.handshake_ms = 300;
    l = node_link_get(fx->s[0].bus, addr, &o, &link_ops, fx);
    start = uv_now(&fx->loop);
    send_ping(l, 1);
    assert_true(test_loop_run_until(&fx->loop, link_failed, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(uv_now(&fx->loop) - start >= 300);
    assert_string_equal(fx->why, "no answer (connect or handshake)");
    assert_int_equal(fx->nopen, 0);
}

static void test_bus_control_queue_is_bounded_while_the_link_connects(void **state)
{
    fx_t *fx = *state;
    node_link_t *l = control_link(fx, fx->s[1].addr);
    static uint8_t payload[NODE_BUS_MAX_PAYLOAD];
    int sent = 0, err = 0;

    while (sent < 1000 && (err = node_link_send(l, NODE_BUS_PING, payload, sizeof(payload))) == 0)
        sent++;
    assert_int_equal(err, -ENOBUFS);
    assert_int_equal(sent, NODE_LINK_QUEUE_MAX / (NODE_BUS_HEADER + NODE_BUS_MAX_PAYLOAD));
    assert_true(node_link_queued(l) <= NODE_LINK_QUEUE_MAX);
}

static uint64_t want_total;

static int got_total(void *arg)
{
    const fx_t *fx = arg;

    return fx->data_total >= want_total || fx->nfail > 0;
}

static void test_bus_data_link_streams_batches_larger_than_the_socket_buffers(void **state)
{
    fx_t *fx = *state;
    node_link_t *l = data_link(fx, fx->s[1].addr, 100);
    enum {
        VLEN = 4096,
        NREQ = 1024
    }; /* 4 MB each way, per round */
    char *req = test_malloc(VLEN + 64), last[64];
    size_t rlen, reply_len;
    const char *why;
    int round, i;

    rlen = (size_t)snprintf(req, 64, "*2\r\n$4\r\nECHO\r\n$%d\r\n", VLEN);
    memset(req + rlen, 'v', VLEN);
    rlen += VLEN;
    memcpy(req + rlen, "\r\n", 2);
    rlen += 2;
    reply_len = (size_t)snprintf(last, sizeof(last), "$%d\r\n", VLEN) + VLEN + 2;
    assert_int_equal(node_link_ready(l, &why), 0);
    for (round = 1; round <= 2; round++) {
        for (i = 0; i < NREQ; i++) {
            memcpy(node_link_reserve(l, rlen), req, rlen);
            node_link_commit(l, rlen);
        }
        /* The second round is queued while the first is still streaming. */
        want_total = (uint64_t)(round == 1 ? NREQ / 2 : 2 * NREQ) * reply_len;
        assert_true(test_loop_run_until(&fx->loop, got_total, fx, 4 * TEST_LOOP_TIMEOUT_MS));
    }
    assert_int_equal(fx->nfail, 0);
    assert_int_equal(fx->data_total, (uint64_t)2 * NREQ * reply_len);
    assert_int_equal(fx->s[1].nrequests, 2 * NREQ);
    assert_memory_equal(fx->data_tail + sizeof(fx->data_tail) - 2, "\r\n", 2);
    assert_memory_equal(fx->data, last, strlen(last));
    assert_true(node_bus_stats(fx->s[0].bus)->batches_sent >= 2);
    assert_int_equal(node_bus_stats(fx->s[1].bus)->batches_received,
                     node_bus_stats(fx->s[0].bus)->batches_sent);
    test_free(req);
}

static node_link_t *trim_link;

static int link_trimmed(void *arg)
{
    (void)arg;
    return node_link_buffers(trim_link) <= 5 * 16 * 1024;
}

/* A burst grows a link's buffers (kept up to 1 MB each, so the next burst
 * need not grow them again); a link quiet for a second gives them back. */
static void test_bus_quiet_link_gives_its_buffers_back(void **state)
{
    fx_t *fx = *state;
    node_link_t *l = data_link(fx, fx->s[1].addr, 100);
    enum {
        VLEN = 4096,
        NREQ = 128
    }; /* 512 KB each way */
    char *req = test_malloc(VLEN + 64);
    size_t rlen, reply_len;
    const char *why;
    uint64_t quiet;
    int i;

    rlen = (size_t)snprintf(req, 64, "*2\r\n$4\r\nECHO\r\n$%d\r\n", VLEN);
    memset(req + rlen, 'v', VLEN);
    rlen += VLEN;
    memcpy(req + rlen, "\r\n", 2);
    rlen += 2;
    reply_len = (size_t)snprintf(req + rlen, 64, "$%d\r\n", VLEN) + VLEN + 2;
    assert_int_equal(node_link_ready(l, &why), 0);
    for (i = 0; i < NREQ; i++) {
        memcpy(node_link_reserve(l, rlen), req, rlen);
        node_link_commit(l, rlen);
    }
    want_total = (uint64_t)NREQ * reply_len;
    assert_true(test_loop_run_until(&fx->loop, got_total, fx, 4 * TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->nfail, 0);
    assert_true(node_link_buffers(l) >= 256 * 1024); /* kept after the burst */
    quiet = uv_now(&fx->loop);
    trim_link = l;
    assert_true(test_loop_run_until(&fx->loop, link_trimmed, fx, 3 * TEST_LOOP_TIMEOUT_MS));
    assert_true(uv_now(&fx->loop) - quiet >= 800); /* not before it was quiet */
    /* It still works, and grows again for the next burst. */
    queue(l, "*1\r\n$4\r\nPING\r\n");
    want_total = fx->data_total + 7;
    assert_true(test_loop_run_until(&fx->loop, got_total, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->nfail, 0);
    test_free(req);
}

/* A data link names the member it is opened to (its DATA frame), and the
 * acceptor tells an earlier member at its address from itself: once it
 * rejoined with a new id, its old id, its own id with another incarnation
 * and lower ids are earlier ones; a later id is not (a member it may not
 * know it is yet). */
static void test_bus_data_link_names_its_member_and_earlier_ones_are_told_apart(void **state)
{
    fx_t *fx = *state;
    node_bus_t *b = fx->s[1].bus;
    node_link_t *l = data_link(fx, fx->s[1].addr, 100);
    const char *why;

    assert_int_equal(node_link_ready(l, &why), 0);
    queue(l, "*1\r\n$4\r\nPING\r\n");
    want_len = 7;
    assert_true(test_loop_run_until(&fx->loop, got_data, fx, TEST_LOOP_TIMEOUT_MS));
    assert_non_null(b->conns);
    assert_int_equal(b->conns->conn->peer_to_id, 2);
    assert_int_equal(b->conns->conn->peer_to_incarnation, 200);
    assert_false(node_bus_addressed_before(b, 2, 200)); /* this node */
    assert_true(node_bus_addressed_before(b, 2, 201));
    assert_true(node_bus_addressed_before(b, 1, 100));
    assert_false(node_bus_addressed_before(b, 9, 900));
    assert_false(node_bus_addressed_before(b, 0, 0)); /* none named */

    node_bus_set_identity(b, 0, 700); /* removed: rejoining */
    assert_true(node_bus_addressed_before(b, 2, 200));
    assert_false(node_bus_addressed_before(b, 7, 700));
    node_bus_set_identity(b, 7, 700); /* rejoined as member 7 */
    assert_true(node_bus_addressed_before(b, 2, 200));
    assert_false(node_bus_addressed_before(b, 7, 700));
    assert_false(node_bus_addressed_before(b, 9, 900));
    node_bus_set_identity(b, 7, 700); /* the same again: nothing changes */
    assert_false(node_bus_addressed_before(b, 7, 700));
    assert_int_equal(fx->nfail, 0);
}

static int setup_idle_timeout(void **state)
{
    cfg_timeout = 1;
    setup(state);
    cfg_timeout = 0;
    return 0;
}

static void test_bus_idle_data_connection_is_closed_after_the_server_timeout(void **state)
{
    fx_t *fx = *state;
    node_link_t *l = data_link(fx, fx->s[1].addr, 100);
    const char *why;
    uint64_t start;

    assert_int_equal(node_link_ready(l, &why), 0);
    queue(l, "*1\r\n$4\r\nPING\r\n");
    want_len = 7;
    assert_true(test_loop_run_until(&fx->loop, got_data, fx, TEST_LOOP_TIMEOUT_MS));
    start = uv_now(&fx->loop);
    /* Accepted data connections are clients: 'timeout' applies to them. */
    assert_true(test_loop_run_until(&fx->loop, b_no_conns, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(uv_now(&fx->loop) - start >= 900);
    assert_true(test_loop_run_until(&fx->loop, link_failed, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->nfail, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bus_control_link_delivers_ping_to_peer_handler, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bus_wrong_secret_fails_the_handshake,
                                        setup_wrong_secret, teardown),
        cmocka_unit_test_setup_teardown(test_bus_frame_from_newer_epoch_calls_on_newer_epoch,
                                        setup_a_newer, teardown),
        cmocka_unit_test_setup_teardown(
            test_bus_control_frame_from_older_epoch_is_counted_and_delivered, setup_b_newer,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_bus_data_link_runs_batched_requests_and_returns_replies_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_fenced_batch_from_older_epoch_is_refused,
                                        setup_b_newer, teardown),
        cmocka_unit_test_setup_teardown(
            test_bus_fenced_batch_behind_a_paused_batch_is_still_refused, setup_b_newer, teardown),
        cmocka_unit_test_setup_teardown(test_bus_batch_from_newer_epoch_calls_on_newer_epoch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_bus_data_link_names_its_member_and_earlier_ones_are_told_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_quiet_link_gives_its_buffers_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bus_link_to_closed_port_fails_then_backs_off, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bus_shutdown_fails_open_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_shutdown_closes_accepted_connections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bus_frame_the_handler_refuses_closes_the_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_bus_link_without_an_answer_fails_after_the_handshake_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bus_control_queue_is_bounded_while_the_link_connects,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_bus_data_link_streams_batches_larger_than_the_socket_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_bus_idle_data_connection_is_closed_after_the_server_timeout, setup_idle_timeout,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
