/* tests/unit/node_net_test.c: node/net/ on a real libuv loop over loopback:
 * the server (listeners, request handler, shutdown and check observers,
 * deferred connections), client connections (pipelining, output pause and
 * resume, ordered reply segments) and raw connections (bytes, close,
 * requests fed with and without a rejection). Every test ends with
 * uv_loop_close() == 0: no handle is left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "common/rc.h"
#include "node/core/node_config.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"
#include "tests/unit/node_test_loop.h"

enum {
    BIG_LEN = 64 * 1024,
    BIG_COUNT = 400, /* 25 MB of replies: more than the kernel buffers hold */
};

typedef struct fx_s {
    uv_loop_t loop;
    node_server_t *server;
    int port;
    test_client_t client;

    /* The request handler. */
    int nrequests;
    node_conn_t *conn;     /* connection of the last request */
    node_conn_seg_t *held; /* HOLD's pending segment (the last one) */
    node_conn_seg_t *holds[2 * NODE_CONN_MAX_FORWARDS];
    int nholds;
    size_t max_pending;    /* output pending after a BIG reply, at most */
    uint64_t request_iter; /* loop iteration of the last request */

    /* Observers. */
    int nshutdown[2];
    int delay; /* the first shutdown observer returns this */
    int nchecks;
    int check_twice;     /* a check observer ran twice in one iteration */
    uint64_t check_iter; /* iteration of the last check */
    uint64_t check_saw;  /* iteration in which a check saw a request's mark */
    int mark;            /* set by MARK, cleared by the check observer */

    /* Raw connections. */
    uv_tcp_t listener;
    int listening;
    int raw_port;
    node_conn_t *raw;
    int nraw_close;
    char raw_in[256];
    size_t raw_in_len;
    int take_requests; /* feed the raw bytes to the request parser */
    int peer;          /* ... as a data link from a peer */
    const char *reject;

    /* Deferred write. */
    uv_timer_t timer;
    int timer_used;
} fx_t;

static char big[BIG_LEN];

static int is(const resp_arg_t *a, const char *s)
{
    return a->len == strlen(s) && memcmp(a->ptr, s, a->len) == 0;
}

static void on_request(void *arg, node_client_t *c)
{
    fx_t *fx = arg;
    const resp_arg_t *a = c->argv;

    fx->nrequests++;
    fx->conn = c->conn;
    fx->request_iter = fx->server->loop_iter;
    if (is(&a[0], "PING")) {
        node_reply_status(c, "PONG");
    } else if (is(&a[0], "ECHO") && c->argc == 2) {
        node_reply_bulk(c, a[1].ptr, a[1].len);
    } else if (is(&a[0], "HOLD")) {
        fx->held = node_conn_seg_push(c->conn); /* answered by the test */
        if (fx->nholds < (int)RC_ARRAY_SIZE(fx->holds))
            fx->holds[fx->nholds++] = fx->held;
    } else if (is(&a[0], "QUIT")) {
        node_reply_ok(c);
        node_conn_close_after_reply(c->conn);
    } else if (is(&a[0], "HELLO3")) {
        c->resp = 3;
        node_reply_ok(c);
    } else if (is(&a[0], "TYPES")) {
        void *h;

        node_reply_null(c);
        node_reply_null_array(c);
        node_reply_map(c, 1);
        node_reply_bulk_cstr(c, "k");
        node_reply_int(c, 7);
        node_reply_set(c, 2);
        node_reply_int(c, 0);
        node_reply_int(c, 1);
        node_reply_double(c, 1.5);
        node_reply_bool(c, 1);
        node_reply_verbatim(c, "hi", 2);
        h = node_reply_defer_array(c);
        node_reply_bulk_ll(c, -5);
        node_reply_status(c, "s");
        node_reply_set_deferred_array(c, h, 2);
        node_reply_error(c, "bad\r\nthing");
        node_reply_arity_error(c, "get");
    } else if (is(&a[0], "MARK")) {
        fx->mark = 1;
        node_reply_ok(c);
    } else if (is(&a[0], "BIG")) {
        size_t pending;

        node_reply_bulk(c, big, sizeof(big));
        pending = node_conn_out_pending(c->conn);
        if (pending > fx->max_pending)
            fx->max_pending = pending;
    } else {
        node_reply_error(c, "ERR unknown command");
    }
}

static long cfg_maxclients; /* 0: the default */
static long cfg_timeout;

static int setup(void **state)
{
    fx_t *fx = test_calloc(1, sizeof(*fx));
    node_config_t cfg;

    rc_log_level = RC_LOG_WARNING;
    memset(big, 'x', sizeof(big));
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    node_config_defaults(&cfg);
    cfg.port = 0; /* any free port: read back from the listener */
    if (cfg_maxclients != 0)
        cfg.maxclients = cfg_maxclients;
    cfg.timeout = cfg_timeout;
    assert_int_equal(node_server_create(&fx->loop, &cfg, NULL, &fx->server), 0);
    node_config_free(&cfg);
    node_server_set_request_handler(fx->server, on_request, fx);
    fx->port = test_loop_bound_port(&fx->server->listeners[0]);
    assert_true(fx->port > 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;

    fx->delay = 0;
    if (fx->raw != NULL)
        node_conn_close(fx->raw, 0); /* raw connections are their owner's to close */
    if (fx->listening)
        uv_close((uv_handle_t *)&fx->listener, NULL);
    if (fx->timer_used)
        uv_close((uv_handle_t *)&fx->timer, NULL);
    test_client_close(&fx->client);
    node_server_shutdown(fx->server);
    assert_true(test_loop_drain(&fx->loop));
    node_server_destroy(fx->server);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    if (fx->client.nconnect > 0)
        assert_int_equal(fx->client.nclose, 1);
    test_client_free(&fx->client);
    test_free(fx);
    return 0;
}

/* ---- conditions ---- */

static int connected(void *arg)
{
    const fx_t *fx = arg;

    return fx->client.nconnect > 0;
}

static size_t want_len;

static int got_bytes(void *arg)
{
    const fx_t *fx = arg;

    return fx->client.in_len >= want_len || fx->client.eof;
}

static void connect_client(fx_t *fx, int port, int no_read)
{
    assert_int_equal(test_client_connect(&fx->client, &fx->loop, port, no_read), 0);
    assert_true(test_loop_run_until(&fx->loop, connected, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.connect_status, 0);
}

/* Sends 'req' and waits for exactly 'want' in reply (all bytes so far). */
static void roundtrip(fx_t *fx, const char *req, const char *want)
{
    want_len = strlen(want);
    test_client_send_str(&fx->client, req);
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len, strlen(want));
    assert_memory_equal(fx->client.in, want, strlen(want));
    fx->client.in_len = 0;
}

static const char ping[] = "*1\r\n$4\r\nPING\r\n";

/* ---- server: requests ---- */

static void test_server_pipelined_requests_get_replies_in_order(void **state)
{
    fx_t *fx = *state;

    connect_client(fx, fx->port, 0);
    roundtrip(
        fx,
        "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*1\r\n$4\r\nNOPE\r\n",
        "+PONG\r\n$5\r\nhello\r\n$0\r\n\r\n-ERR unknown command\r\n");
    assert_int_equal(fx->nrequests, 4);
    assert_int_equal(fx->server->nclients, 1);
}

static void test_server_request_split_across_reads_runs_once_complete(void **state)
{
    fx_t *fx = *state;

    connect_client(fx, fx->port, 0);
    test_client_send_str(&fx->client, "*2\r\n$4\r\nECHO\r\n$5\r\nhe");
    test_loop_iterations(&fx->loop, 3);
    assert_int_equal(fx->nrequests, 0);
    roundtrip(fx, "llo\r\n", "$5\r\nhello\r\n");
    assert_int_equal(fx->nrequests, 1);
}

/* ---- server: observers ---- */

static int on_shutdown_first(void *arg)
{
    fx_t *fx = arg;

    fx->nshutdown[0]++;
    return fx->delay;
}

static int on_shutdown_second(void *arg)
{
    fx_t *fx = arg;

    fx->nshutdown[1]++;
    return 0;
}

static void test_server_shutdown_observer_delays_until_called_again(void **state)
{
    fx_t *fx = *state;

    node_server_on_shutdown(fx->server, on_shutdown_first, fx);
    node_server_on_shutdown(fx->server, on_shutdown_second, fx);
    connect_client(fx, fx->port, 0);
    fx->delay = 1;
    node_server_shutdown(fx->server);
    assert_int_equal(fx->nshutdown[0], 1);
    assert_int_equal(fx->nshutdown[1], 0); /* the first one holds the rest */
    assert_false(fx->server->shutting_down);
    /* Still serving while it waits. */
    roundtrip(fx, ping, "+PONG\r\n");

    fx->delay = 0;
    node_server_shutdown(fx->server);
    assert_int_equal(fx->nshutdown[0], 2);
    assert_int_equal(fx->nshutdown[1], 1);
    assert_true(fx->server->shutting_down);
    /* The clients are closed: ours sees the end of the stream. */
    want_len = 1;
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(fx->client.eof);
    node_server_shutdown(fx->server); /* once shut, observers are not asked again */
    assert_int_equal(fx->nshutdown[0], 2);
}

static void on_check(void *arg)
{
    fx_t *fx = arg;

    if (fx->nchecks > 0 && fx->check_iter == fx->server->loop_iter)
        fx->check_twice = 1;
    fx->nchecks++;
    fx->check_iter = fx->server->loop_iter;
    if (fx->mark) {
        fx->mark = 0;
        fx->check_saw = fx->server->loop_iter;
    }
}

static int checks_done(void *arg)
{
    const fx_t *fx = arg;

    return fx->nchecks >= 5;
}

static void test_server_check_observer_runs_once_per_iteration(void **state)
{
    fx_t *fx = *state;

    node_server_on_check(fx->server, on_check, fx);
    assert_true(test_loop_run_until(&fx->loop, checks_done, fx, TEST_LOOP_TIMEOUT_MS));
    test_loop_iterations(&fx->loop, 5);
    assert_true(fx->nchecks >= 10);
    assert_false(fx->check_twice);
}

static int check_saw_mark(void *arg)
{
    const fx_t *fx = arg;

    return fx->check_saw != 0;
}

static void test_server_check_observer_runs_after_the_requests_of_its_iteration(void **state)
{
    fx_t *fx = *state;

    node_server_on_check(fx->server, on_check, fx);
    connect_client(fx, fx->port, 0);
    test_client_send_str(&fx->client, "*1\r\n$4\r\nMARK\r\n");
    assert_true(test_loop_run_until(&fx->loop, check_saw_mark, fx, TEST_LOOP_TIMEOUT_MS));
    /* What a request queued is seen by the check of the same iteration. */
    assert_int_equal(fx->check_saw, fx->request_iter);
}

static void on_late_write(uv_timer_t *t)
{
    fx_t *fx = t->data;

    /* Outside any read: the output leaves only because it is deferred. */
    node_conn_write(fx->conn, "+LATE\r\n", 7);
    node_server_defer(fx->server, fx->conn);
    assert_true(fx->conn->deferred);
}

static void test_server_defer_writes_the_connection_in_the_check_phase(void **state)
{
    fx_t *fx = *state;

    connect_client(fx, fx->port, 0);
    roundtrip(fx, ping, "+PONG\r\n");
    uv_timer_init(&fx->loop, &fx->timer);
    fx->timer_used = 1;
    fx->timer.data = fx;
    uv_timer_start(&fx->timer, on_late_write, 1, 0);
    want_len = 7;
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(test_client_got(&fx->client, "+LATE\r\n"));
    assert_false(fx->conn->deferred);
}

/* ---- client connections: output pause ---- */

static int stalled(void *arg)
{
    const fx_t *fx = arg;
    const node_conn_t *c = fx->conn;

    /* Not reading, the unrun requests kept, a write the client never takes. */
    return c != NULL && !c->reading && c->pending != NULL && c->writing;
}

static void test_conn_output_pauses_for_a_client_that_does_not_read(void **state)
{
    fx_t *fx = *state;
    static const char req[] = "*1\r\n$3\r\nBIG\r\n";
    char *reqs = test_malloc(BIG_COUNT * (sizeof(req) - 1));
    char header[32];
    size_t reply_len;
    int i, ran;

    for (i = 0; i < BIG_COUNT; i++)
        memcpy(reqs + (size_t)i * (sizeof(req) - 1), req, sizeof(req) - 1);
    connect_client(fx, fx->port, 1);
    uv_recv_buffer_size((uv_handle_t *)&fx->client.tcp, &(int){64 * 1024});
    test_client_send(&fx->client, reqs, BIG_COUNT * (sizeof(req) - 1));
    test_free(reqs);
    assert_true(test_loop_run_until(&fx->loop, stalled, fx, TEST_LOOP_TIMEOUT_MS));
    ran = fx->nrequests;
    test_loop_iterations(&fx->loop, 3);
    assert_int_equal(fx->nrequests, ran); /* nothing runs while paused */
    assert_true(ran < BIG_COUNT);
    /* Bounded: one pause threshold plus the largest single reply. */
    assert_true(fx->max_pending <= NODE_CONN_OUT_PAUSE + BIG_LEN + 64);
    assert_true(node_conn_out_pending(fx->conn) <= NODE_CONN_OUT_PAUSE + BIG_LEN + 64);

    /* The client reads: everything is answered. */
    test_client_read_start(&fx->client);
    reply_len = (size_t)snprintf(header, sizeof(header), "$%d\r\n", BIG_LEN) + BIG_LEN + 2;
    want_len = reply_len * BIG_COUNT;
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, 4 * TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len, want_len);
    assert_int_equal(fx->nrequests, BIG_COUNT);
    assert_memory_equal(fx->client.in + want_len - reply_len, header, strlen(header));
    assert_true(fx->conn->reading);
}

/* ---- client connections: ordered segments ---- */

static int want_requests;

static int ran_requests(void *arg)
{
    const fx_t *fx = arg;

    return fx->nrequests >= want_requests;
}

static void test_conn_pending_segment_holds_later_replies_until_completed(void **state)
{
    fx_t *fx = *state;
    static const char held[] = "$4\r\nheld\r\n";

    connect_client(fx, fx->port, 0);
    test_client_send_str(&fx->client,
                         "*1\r\n$4\r\nHOLD\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n");
    want_requests = 3;
    assert_true(test_loop_run_until(&fx->loop, ran_requests, fx, TEST_LOOP_TIMEOUT_MS));
    test_loop_iterations(&fx->loop, 3);
    assert_int_equal(fx->client.in_len, 0); /* PING and ECHO wait behind HOLD */
    assert_int_equal(fx->conn->nfwd, 1);
    assert_int_equal(fx->conn->seg_bytes, strlen("+PONG\r\n$1\r\nx\r\n"));

    node_conn_seg_complete(fx->held, held, sizeof(held) - 1);
    want_len = strlen("$4\r\nheld\r\n+PONG\r\n$1\r\nx\r\n");
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(test_client_got(&fx->client, "$4\r\nheld\r\n+PONG\r\n$1\r\nx\r\n"));
    assert_int_equal(fx->conn->nfwd, 0);
    assert_int_equal(fx->conn->seg_bytes, 0);
}

static int no_clients(void *arg)
{
    const fx_t *fx = arg;

    return fx->server->nclients == 0;
}

static void test_conn_segment_completed_after_its_client_left_is_freed(void **state)
{
    fx_t *fx = *state;

    connect_client(fx, fx->port, 0);
    test_client_send_str(&fx->client, "*1\r\n$4\r\nHOLD\r\n");
    want_requests = 1;
    assert_true(test_loop_run_until(&fx->loop, ran_requests, fx, TEST_LOOP_TIMEOUT_MS));
    test_client_close(&fx->client);
    assert_true(test_loop_run_until(&fx->loop, no_clients, fx, TEST_LOOP_TIMEOUT_MS));
    assert_null(fx->held->conn);                      /* orphaned */
    node_conn_seg_complete(fx->held, "+late\r\n", 7); /* frees it (ASan: no leak) */
    fx->held = NULL;
}

/* ---- raw connections ---- */

static void on_raw_bytes(void *arg, node_conn_t *c, const char *data, size_t len)
{
    fx_t *fx = arg;

    if (fx->take_requests) {
        if (c->proto == NULL)
            node_conn_take_requests(c, on_request, fx, 2, fx->peer);
        node_conn_feed(c, data, len, fx->reject);
        return;
    }
    if (len > sizeof(fx->raw_in) - fx->raw_in_len)
        len = sizeof(fx->raw_in) - fx->raw_in_len;
    memcpy(fx->raw_in + fx->raw_in_len, data, len);
    fx->raw_in_len += len;
    node_conn_write(c, data, len); /* echo: leaves after the read */
}

static void on_raw_close(void *arg, node_conn_t *c)
{
    fx_t *fx = arg;

    assert_ptr_equal(c, fx->raw);
    fx->raw = NULL;
    fx->nraw_close++;
}

static const node_conn_raw_t raw_ops = {on_raw_bytes, on_raw_close};

static void on_raw_connection(uv_stream_t *listener, int status)
{
    fx_t *fx = listener->data;

    assert_int_equal(status, 0);
    assert_null(fx->raw);
    assert_int_equal(node_conn_accept_raw(fx->server, listener, &raw_ops, fx, &fx->raw), 0);
}

static void raw_listen(fx_t *fx)
{
    struct sockaddr_in sin;

    uv_ip4_addr("127.0.0.1", 0, &sin);
    assert_int_equal(uv_tcp_init(&fx->loop, &fx->listener), 0);
    fx->listening = 1;
    fx->listener.data = fx;
    assert_int_equal(uv_tcp_bind(&fx->listener, (const struct sockaddr *)&sin, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&fx->listener, 16, on_raw_connection), 0);
    fx->raw_port = test_loop_bound_port(&fx->listener);
}

static int raw_closed(void *arg)
{
    const fx_t *fx = arg;

    return fx->nraw_close > 0;
}

static void test_conn_raw_bytes_reach_on_bytes_and_close_runs_once(void **state)
{
    fx_t *fx = *state;

    raw_listen(fx);
    connect_client(fx, fx->raw_port, 0);
    roundtrip(fx, "hello, raw", "hello, raw");
    assert_int_equal(fx->raw_in_len, strlen("hello, raw"));
    assert_memory_equal(fx->raw_in, "hello, raw", fx->raw_in_len);
    assert_int_equal(fx->nrequests, 0);
    assert_int_equal(fx->server->nclients, 0); /* not a client: its owner's */
    test_client_close(&fx->client);
    assert_true(test_loop_run_until(&fx->loop, raw_closed, fx, TEST_LOOP_TIMEOUT_MS));
    test_loop_iterations(&fx->loop, 2);
    assert_int_equal(fx->nraw_close, 1);
}

static void test_conn_raw_close_by_owner_runs_on_close(void **state)
{
    fx_t *fx = *state;

    raw_listen(fx);
    connect_client(fx, fx->raw_port, 0);
    roundtrip(fx, "x", "x");
    node_conn_close(fx->raw, 0);
    node_conn_close(fx->raw, 0); /* twice is fine */
    assert_true(test_loop_run_until(&fx->loop, raw_closed, fx, TEST_LOOP_TIMEOUT_MS));
    want_len = 1;
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(fx->client.eof);
    assert_int_equal(fx->nraw_close, 1);
}

static void test_conn_raw_fed_requests_run_or_get_the_reject_error(void **state)
{
    fx_t *fx = *state;

    raw_listen(fx);
    fx->take_requests = 1;
    connect_client(fx, fx->raw_port, 0);
    roundtrip(fx, ping, "+PONG\r\n");
    assert_int_equal(fx->nrequests, 1);

    fx->reject = "TRYAGAIN rejected by the test";
    roundtrip(fx, "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1\r\ny\r\n",
              "-TRYAGAIN rejected by the test\r\n-TRYAGAIN rejected by the test\r\n");
    assert_int_equal(fx->nrequests, 1); /* rejected requests never run */

    fx->reject = NULL;
    roundtrip(fx, "*2\r\n$4\r\nECHO\r\n$1\r\nz\r\n", "$1\r\nz\r\n");
    assert_int_equal(fx->nrequests, 2);
    assert_true(fx->raw->authenticated);
}

/* A peer's data link read after a quiet spell: if the peer has closed it
 * meanwhile (it gave up on what it sent), nothing it sent runs. */
static void test_conn_peer_link_closed_while_unread_runs_nothing(void **state)
{
    fx_t *fx = *state;

    raw_listen(fx);
    fx->take_requests = 1;
    fx->peer = 1;
    connect_client(fx, fx->raw_port, 0);
    roundtrip(fx, ping, "+PONG\r\n");
    assert_int_equal(fx->nrequests, 1);

    /* Read at once, a request runs even if the peer closes right after. */
    test_client_send_str(&fx->client, ping);
    want_requests = 2;
    assert_true(test_loop_run_until(&fx->loop, ran_requests, fx, TEST_LOOP_TIMEOUT_MS));

    /* Unread for a while, then the peer's close behind its request. */
    fx->raw->last_ms -= 10 * NODE_CONN_PEER_QUIET_MS;
    test_client_send_str(&fx->client, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nlate\r\n");
    test_client_close(&fx->client);
    assert_true(test_loop_run_until(&fx->loop, raw_closed, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->nrequests, 2);
    assert_int_equal(fx->server->stats.peer_hangups, 1);
}

static int setup_one_client(void **state)
{
    cfg_maxclients = 1;
    setup(state);
    cfg_maxclients = 0;
    return 0;
}

static int setup_idle_timeout(void **state)
{
    cfg_timeout = 1;
    setup(state);
    cfg_timeout = 0;
    return 0;
}

static int second_closed(void *arg)
{
    const test_client_t *c = arg;

    return c->nclose > 0;
}

static int second_done(void *arg)
{
    const test_client_t *c = arg;

    return c->eof;
}

static void test_server_client_past_maxclients_is_refused_with_an_error(void **state)
{
    fx_t *fx = *state;
    test_client_t *second = test_calloc(1, sizeof(*second));
    static const char refused[] = "-ERR max number of clients reached\r\n";

    connect_client(fx, fx->port, 0);
    roundtrip(fx, ping, "+PONG\r\n");
    assert_int_equal(test_client_connect(second, &fx->loop, fx->port, 0), 0);
    assert_true(test_loop_run_until(&fx->loop, second_done, second, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(second->in_len, strlen(refused));
    assert_memory_equal(second->in, refused, strlen(refused));
    assert_int_equal(fx->server->stats.rejected_connections, 1);
    assert_int_equal(fx->server->nclients, 1);
    roundtrip(fx, ping, "+PONG\r\n"); /* the first one is served on */
    test_client_close(second);
    assert_true(test_loop_run_until(&fx->loop, second_closed, second, TEST_LOOP_TIMEOUT_MS));
    test_client_free(second);
    test_free(second);
}

static void test_conn_protocol_error_is_answered_then_closed(void **state)
{
    fx_t *fx = *state;
    static const char prefix[] = "-ERR Protocol error: ";

    connect_client(fx, fx->port, 0);
    test_client_send_str(&fx->client, "*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n");
    want_len = (size_t)-1; /* until the server hangs up */
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(fx->client.eof);
    assert_true(fx->client.in_len > 7 + strlen(prefix));
    assert_memory_equal(fx->client.in, "+PONG\r\n", 7);
    assert_memory_equal(fx->client.in + 7, prefix, strlen(prefix));
    assert_int_equal(fx->client.in[fx->client.in_len - 1], '\n');
    assert_int_equal(fx->nrequests, 1); /* nothing after the bad request runs */
}

static void test_server_idle_client_is_closed_after_timeout(void **state)
{
    fx_t *fx = *state;
    uint64_t start;

    connect_client(fx, fx->port, 0);
    roundtrip(fx, ping, "+PONG\r\n");
    start = uv_now(&fx->loop);
    want_len = (size_t)-1;
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(fx->client.eof);
    assert_true(uv_now(&fx->loop) - start >= 900);
    assert_int_equal(fx->server->nclients, 0);
}

static void test_server_create_on_a_busy_port_fails_and_returns(void **state)
{
    fx_t *fx = *state;
    node_server_t *other = NULL;
    node_config_t cfg;

    connect_client(fx, fx->port, 0); /* the loop has live handles */
    node_config_defaults(&cfg);
    cfg.port = fx->port;
    assert_int_equal(node_server_create(&fx->loop, &cfg, NULL, &other), UV_EADDRINUSE);
    node_config_free(&cfg);
    assert_null(other);
    roundtrip(fx, ping, "+PONG\r\n"); /* the first server is untouched */
}

static const char types_resp2[] =
    "$-1\r\n*-1\r\n*2\r\n$1\r\nk\r\n:7\r\n*2\r\n:0\r\n:1\r\n$3\r\n1.5\r\n:1\r\n$2\r\nhi\r\n"
    "*2\r\n$2\r\n-5\r\n+s\r\n-bad  thing\r\n-ERR wrong number of arguments for 'get' command\r\n";
static const char types_resp3[] =
    "_\r\n_\r\n%1\r\n$1\r\nk\r\n:7\r\n~2\r\n:0\r\n:1\r\n,1.5\r\n#t\r\n=6\r\ntxt:hi\r\n"
    "*2\r\n$2\r\n-5\r\n+s\r\n-bad  thing\r\n-ERR wrong number of arguments for 'get' command\r\n";

static void test_reply_types_follow_the_client_resp_version(void **state)
{
    fx_t *fx = *state;
    static const char types[] = "*1\r\n$5\r\nTYPES\r\n";

    connect_client(fx, fx->port, 0);
    roundtrip(fx, types, types_resp2);
    roundtrip(fx, "*1\r\n$6\r\nHELLO3\r\n", "+OK\r\n");
    roundtrip(fx, types, types_resp3);
}

static void test_reply_deferred_array_behind_a_pending_segment_keeps_its_place(void **state)
{
    fx_t *fx = *state;
    static const char held[] = "+held\r\n";
    char want[512];

    connect_client(fx, fx->port, 0);
    test_client_send_str(&fx->client, "*1\r\n$4\r\nHOLD\r\n*1\r\n$5\r\nTYPES\r\n");
    want_requests = 2;
    assert_true(test_loop_run_until(&fx->loop, ran_requests, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len, 0);
    node_conn_seg_complete(fx->held, held, sizeof(held) - 1);
    snprintf(want, sizeof(want), "%s%s", held, types_resp2);
    want_len = strlen(want);
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(test_client_got(&fx->client, want));
}

static void test_conn_close_after_reply_waits_for_a_pending_segment(void **state)
{
    fx_t *fx = *state;
    static const char held[] = "+held\r\n";

    connect_client(fx, fx->port, 0);
    test_client_send_str(&fx->client,
                         "*1\r\n$4\r\nHOLD\r\n*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n");
    want_requests = 2;
    assert_true(test_loop_run_until(&fx->loop, ran_requests, fx, TEST_LOOP_TIMEOUT_MS));
    test_loop_iterations(&fx->loop, 3);
    assert_int_equal(fx->nrequests, 2); /* nothing after QUIT runs */
    assert_int_equal(fx->client.in_len, 0);
    assert_false(fx->client.eof); /* still open: the forwarded reply comes first */
    assert_int_equal(fx->server->nclients, 1);
    node_conn_seg_complete(fx->held, held, sizeof(held) - 1);
    want_len = (size_t)-1;
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_true(fx->client.eof);
    assert_true(test_client_got(&fx->client, "+held\r\n+OK\r\n"));
}

static int paused_on_forwards(void *arg)
{
    const fx_t *fx = arg;

    return fx->conn != NULL && fx->conn->nfwd >= NODE_CONN_MAX_FORWARDS && !fx->conn->reading;
}

static void test_conn_pauses_at_max_forwards_in_flight_and_resumes(void **state)
{
    fx_t *fx = *state;
    static const char hold[] = "*1\r\n$4\r\nHOLD\r\n";
    enum {
        N = NODE_CONN_MAX_FORWARDS + 100
    };
    char *reqs = test_malloc(N * (sizeof(hold) - 1));
    char *want = test_malloc(N * 16), num[16];
    size_t wlen = 0;
    int i;

    for (i = 0; i < N; i++)
        memcpy(reqs + (size_t)i * (sizeof(hold) - 1), hold, sizeof(hold) - 1);
    connect_client(fx, fx->port, 0);
    test_client_send(&fx->client, reqs, N * (sizeof(hold) - 1));
    test_free(reqs);
    assert_true(test_loop_run_until(&fx->loop, paused_on_forwards, fx, TEST_LOOP_TIMEOUT_MS));
    test_loop_iterations(&fx->loop, 3);
    assert_int_equal(fx->nrequests, NODE_CONN_MAX_FORWARDS); /* the rest wait */
    assert_non_null(fx->conn->pending);

    /* Answered last to first: nothing leaves until the first is answered,
     * and each answer lets one more request run. */
    for (i = NODE_CONN_MAX_FORWARDS - 1; i >= 1; i--) {
        snprintf(num, sizeof(num), ":%d\r\n", i);
        node_conn_seg_complete(fx->holds[i], num, strlen(num));
    }
    want_requests = N;
    assert_true(test_loop_run_until(&fx->loop, ran_requests, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len, 0);
    for (i = NODE_CONN_MAX_FORWARDS; i < N; i++) {
        snprintf(num, sizeof(num), ":%d\r\n", i);
        node_conn_seg_complete(fx->holds[i], num, strlen(num));
    }
    node_conn_seg_complete(fx->holds[0], ":0\r\n", 4);
    for (i = 0; i < N; i++)
        wlen += (size_t)snprintf(want + wlen, 16, ":%d\r\n", i);
    want_len = wlen;
    assert_true(test_loop_run_until(&fx->loop, got_bytes, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len, wlen);
    assert_memory_equal(fx->client.in, want, wlen);
    assert_int_equal(fx->conn->nfwd, 0);
    assert_true(fx->conn->reading);
    test_free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_pipelined_requests_get_replies_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_request_split_across_reads_runs_once_complete,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_shutdown_observer_delays_until_called_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_check_observer_runs_once_per_iteration, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_server_check_observer_runs_after_the_requests_of_its_iteration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_defer_writes_the_connection_in_the_check_phase,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_output_pauses_for_a_client_that_does_not_read,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_conn_pending_segment_holds_later_replies_until_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_segment_completed_after_its_client_left_is_freed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_raw_bytes_reach_on_bytes_and_close_runs_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_raw_close_by_owner_runs_on_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_conn_peer_link_closed_while_unread_runs_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_conn_raw_fed_requests_run_or_get_the_reject_error,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_client_past_maxclients_is_refused_with_an_error,
                                        setup_one_client, teardown),
        cmocka_unit_test_setup_teardown(test_conn_protocol_error_is_answered_then_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_idle_client_is_closed_after_timeout,
                                        setup_idle_timeout, teardown),
        cmocka_unit_test_setup_teardown(test_server_create_on_a_busy_port_fails_and_returns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reply_types_follow_the_client_resp_version, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_reply_deferred_array_behind_a_pending_segment_keeps_its_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_close_after_reply_waits_for_a_pending_segment,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_pauses_at_max_forwards_in_flight_and_resumes,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
