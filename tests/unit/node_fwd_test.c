/* tests/unit/node_fwd_test.c: node/node_fwd.c's gatherer, node_fwd_merge():
 * the replies of a split MGET/MSET/DEL come back in the original key order,
 * errors win, malformed parts become an error reply; node_conn.c's reply
 * segments: replies wait behind a pending forward and leave in request
 * order; and forwarding on a real loop between two cluster nodes in one
 * process: a request for the other member's key gets that member's reply
 * in its place, a closed peer gets a TRYAGAIN error (never a hang), and a
 * split MGET gathers the values in key order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/rc.h"
#include "node/bus/node_bus.h"
#include "node/cluster/node_cluster.h"
#include "node/core/node_config.h"
#include "node/fwd/node_fwd.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"
#include "ring/ring.h"
#include "tests/unit/node_test_loop.h"

static int setup(void **state)
{
    node_conn_seg_t *out = test_calloc(1, sizeof(*out));

    *state = out;
    return 0;
}

static int teardown(void **state)
{
    node_conn_seg_t *out = *state;

    rc_free(out->buf);
    test_free(out);
    return 0;
}

static void assert_out(const node_conn_seg_t *out, const char *want)
{
    assert_int_equal(out->len, strlen(want));
    assert_memory_equal(out->buf, want, out->len);
}

static int merge(node_fwd_merge_t kind, size_t nkeys, const uint32_t *part_of,
                 const uint32_t *index_in_part, size_t nparts, const char *const *replies,
                 node_conn_seg_t *out)
{
    size_t lens[8];
    size_t p;

    for (p = 0; p < nparts; p++)
        lens[p] = strlen(replies[p]);
    return node_fwd_merge(kind, nkeys, part_of, index_in_part, nparts, replies, lens, out);
}

static void test_mget_values_come_back_in_key_order(void **state)
{
    /* keys a b c d e: a c e on part 0, b d on part 1 */
    static const uint32_t part_of[] = {0, 1, 0, 1, 0};
    static const uint32_t index_in_part[] = {0, 0, 1, 1, 2};
    const char *replies[] = {"*3\r\n$1\r\na\r\n$-1\r\n$1\r\ne\r\n",
                             "*2\r\n$2\r\nbb\r\n$1\r\nd\r\n"};

    assert_int_equal(merge(NODE_FWD_MGET, 5, part_of, index_in_part, 2, replies, *state), 0);
    assert_out(*state, "*5\r\n$1\r\na\r\n$2\r\nbb\r\n$-1\r\n$1\r\nd\r\n$1\r\ne\r\n");
}

static void test_mget_resp3_nulls_are_relayed_as_they_are(void **state)
{
    static const uint32_t part_of[] = {1, 0};
    static const uint32_t index_in_part[] = {0, 0};
    const char *replies[] = {"*1\r\n_\r\n", "*1\r\n$1\r\nx\r\n"};

    assert_int_equal(merge(NODE_FWD_MGET, 2, part_of, index_in_part, 2, replies, *state), 0);
    assert_out(*state, "*2\r\n$1\r\nx\r\n_\r\n");
}

static void test_mget_error_part_becomes_the_answer(void **state)
{
    static const uint32_t part_of[] = {0, 1};
    static const uint32_t index_in_part[] = {0, 0};
    const char *replies[] = {"*1\r\n$1\r\nx\r\n",
                             "-TRYAGAIN forwarding to 127.0.0.1:7002 failed: timed out\r\n"};

    assert_int_equal(merge(NODE_FWD_MGET, 2, part_of, index_in_part, 2, replies, *state), 0);
    assert_out(*state, "-TRYAGAIN forwarding to 127.0.0.1:7002 failed: timed out\r\n");
}

static void test_mget_wrong_element_count_is_malformed(void **state)
{
    static const uint32_t part_of[] = {0, 0};
    static const uint32_t index_in_part[] = {0, 1};
    const char *replies[] = {"*1\r\n$1\r\nx\r\n"};
    node_conn_seg_t *out = *state;

    assert_int_equal(merge(NODE_FWD_MGET, 2, part_of, index_in_part, 1, replies, out), RC_EPROTO);
    assert_true(out->len > 0 && out->buf[0] == '-');
}

static void test_mget_non_array_part_is_malformed(void **state)
{
    static const uint32_t part_of[] = {0};
    static const uint32_t index_in_part[] = {0};
    const char *replies[] = {"+OK\r\n"};

    assert_int_equal(merge(NODE_FWD_MGET, 1, part_of, index_in_part, 1, replies, *state),
                     RC_EPROTO);
}

static void test_mset_all_ok_is_ok(void **state)
{
    static const uint32_t part_of[] = {0, 1, 2};
    static const uint32_t index_in_part[] = {0, 0, 0};
    const char *replies[] = {"+OK\r\n", "+OK\r\n", "+OK\r\n"};

    assert_int_equal(merge(NODE_FWD_MSET, 3, part_of, index_in_part, 3, replies, *state), 0);
    assert_out(*state, "+OK\r\n");
}

static void test_mset_first_error_wins(void **state)
{
    static const uint32_t part_of[] = {0, 1, 2};
    static const uint32_t index_in_part[] = {0, 0, 0};
    const char *replies[] = {"+OK\r\n", "-OOM command not allowed\r\n", "-ERR other\r\n"};

    assert_int_equal(merge(NODE_FWD_MSET, 3, part_of, index_in_part, 3, replies, *state), 0);
    assert_out(*state, "-OOM command not allowed\r\n");
}

static void test_sum_adds_the_integers(void **state)
{
    static const uint32_t part_of[] = {0, 1, 1, 2};
    static const uint32_t index_in_part[] = {0, 0, 1, 0};
    const char *replies[] = {":1\r\n", ":2\r\n", ":0\r\n"};

    assert_int_equal(merge(NODE_FWD_SUM, 4, part_of, index_in_part, 3, replies, *state), 0);
    assert_out(*state, ":3\r\n");
}

static void test_sum_non_integer_is_malformed(void **state)
{
    static const uint32_t part_of[] = {0, 1};
    static const uint32_t index_in_part[] = {0, 0};
    const char *replies[] = {":1\r\n", "$1\r\n1\r\n"};

    assert_int_equal(merge(NODE_FWD_SUM, 2, part_of, index_in_part, 2, replies, *state), RC_EPROTO);
}

static void test_merge_appends_after_existing_bytes(void **state)
{
    static const uint32_t part_of[] = {0};
    static const uint32_t index_in_part[] = {0};
    const char *replies[] = {":7\r\n"};
    node_conn_seg_t *out = *state;

    out->buf = rc_xmemdup("+PONG\r\n", 7);
    out->len = out->cap = 7;
    assert_int_equal(merge(NODE_FWD_SUM, 1, part_of, index_in_part, 1, replies, out), 0);
    assert_out(out, "+PONG\r\n:7\r\n");
}

/* ---- reply segments (node_conn.c): order behind pending forwards ---- */

/* A connection with no socket: 'in_batch' keeps node_conn_seg_complete()
 * from writing, so only the buffers are exercised. */
static node_conn_t *fake_conn(void)
{
    node_conn_t *c = test_calloc(1, sizeof(*c));

    c->client.conn = c;
    c->client.resp = 2;
    c->in_batch = 1;
    return c;
}

static void free_conn(node_conn_t *c)
{
    node_conn_seg_t *seg;

    while ((seg = c->seg_free) != NULL) {
        c->seg_free = seg->next;
        node_conn_seg_release(NULL, seg); /* no connection: freed */
    }
    rc_free(c->obuf);
    test_free(c);
}

static void assert_obuf(const node_conn_t *c, const char *want)
{
    assert_int_equal(c->olen, strlen(want));
    assert_memory_equal(c->obuf, want, c->olen);
}

static void test_seg_replies_wait_behind_a_pending_forward(void **state)
{
    node_conn_t *c = fake_conn();
    node_conn_seg_t *a, *b;

    (void)state;
    node_reply_raw(&c->client, "+0\r\n", 4); /* before any forward: straight out */
    a = node_conn_seg_push(c);
    node_reply_raw(&c->client, "+1\r\n", 4);
    b = node_conn_seg_push(c);
    node_reply_int(&c->client, 2);
    assert_obuf(c, "+0\r\n");
    assert_int_equal(c->nfwd, 2);
    assert_true(node_conn_out_pending(c) > 4); /* captured bytes count for the pause */
    node_conn_seg_complete(b, "+b\r\n", 4);
    assert_obuf(c, "+0\r\n"); /* 'a' still blocks */
    node_conn_seg_complete(a, "+a\r\n", 4);
    assert_obuf(c, "+0\r\n+a\r\n+1\r\n+b\r\n:2\r\n");
    assert_int_equal(c->nfwd, 0);
    assert_int_equal(c->seg_bytes, 0);
    assert_null(c->seg_head);
    node_reply_raw(&c->client, "+3\r\n", 4);
    assert_obuf(c, "+0\r\n+a\r\n+1\r\n+b\r\n:2\r\n+3\r\n");
    free_conn(c);
}

static void test_seg_deferred_array_inside_a_segment(void **state)
{
    node_conn_t *c = fake_conn();
    node_conn_seg_t *a;
    void *h;

    (void)state;
    a = node_conn_seg_push(c);
    h = node_reply_defer_array(&c->client);
    node_reply_int(&c->client, 7);
    node_reply_int(&c->client, 8);
    node_reply_set_deferred_array(&c->client, h, 2);
    node_conn_seg_complete(a, "$-1\r\n", 5);
    assert_obuf(c, "$-1\r\n*2\r\n:7\r\n:8\r\n");
    free_conn(c);
}

static void test_seg_capture_target_is_not_queued(void **state)
{
    node_conn_t *c = fake_conn();
    node_conn_seg_t *a, *cap;

    (void)state;
    a = node_conn_seg_push(c);
    cap = node_conn_seg_get(c);
    c->capture = cap;
    node_reply_raw(&c->client, "+local\r\n", 8);
    c->capture = NULL;
    assert_int_equal(cap->len, 8);
    assert_memory_equal(cap->buf, "+local\r\n", 8);
    assert_int_equal(c->seg_bytes, 0);
    node_conn_seg_release(c, cap);
    node_conn_seg_complete(a, "+a\r\n", 4);
    assert_obuf(c, "+a\r\n");
    free_conn(c);
}

/* Segments come from shared blocks (node_conn.c): taken and given back in
 * any order, each is distinct, and every block goes with its last segment. */
static void test_seg_blocks_are_freed_with_their_last_segment(void **state)
{
    enum {
        NSEGS = 200
    };
    node_conn_t *c = fake_conn();
    node_conn_seg_t *segs[NSEGS];
    size_t base = rc_used_memory();
    int i, j;

    (void)state;
    for (i = 0; i < NSEGS; i++) {
        segs[i] = node_conn_seg_get(c);
        assert_null(segs[i]->buf);
        assert_int_equal(segs[i]->len, 0);
        node_conn_seg_append(segs[i], "x", 1);
        for (j = 0; j < i; j++)
            assert_ptr_not_equal(segs[i], segs[j]);
    }
    assert_true(rc_used_memory() > base);
    for (i = 0; i < NSEGS; i += 2)
        node_conn_seg_release(NULL, segs[i]); /* every other one: no block empties */
    for (i = 1; i < NSEGS; i += 2)
        node_conn_seg_release(NULL, segs[i]);
    assert_int_equal(rc_used_memory(), base);
    free_conn(c);
}

/* ---- forwarding on a real loop: two cluster nodes, one process ---- */

enum {
    JOIN_TIMEOUT_MS = 20000,
    NKEYS_MAX = 8,
};

typedef struct tnode_s {
    node_server_t *server;
    node_cluster_t *cl;
    node_fwd_t *fwd;
    int port;
    int bus_port;
    char path[256];
    int nrequests;          /* requests run here (from clients and peers) */
    int npeer;              /* of which from a peer's data link */
    node_conn_seg_t *held;  /* HOLD on the owner: never answered */
    node_conn_seg_t *split; /* MGETHELD: the gather whose local part is held */
} tnode_t;

typedef struct cfx_s {
    uv_loop_t loop;
    char dir[64];
    tnode_t n[2];
    test_client_t client;
} cfx_t;

static cfx_t *cfx; /* the running test's: split requests' local part finds its node */

static tnode_t *node_of(const node_client_t *c)
{
    int i;

    for (i = 0; i < 2; i++) {
        if (cfx->n[i].server == c->server)
            return &cfx->n[i];
    }
    fail();
    return NULL;
}

static int owner_of(const tnode_t *n, const resp_arg_t *key)
{
    return node_cluster_slot_primary(n->cl, ring_keyslot(key->ptr, key->len));
}

/* A value names the member that produced it: "m<index>:<key>". */
static void reply_named(node_client_t *c, const tnode_t *n, const resp_arg_t *key)
{
    char buf[128];

    snprintf(buf, sizeof(buf), "m%d:%.*s", node_cluster_myindex(n->cl), (int)key->len, key->ptr);
    node_reply_bulk_cstr(c, buf);
}

static void local_mget(node_client_t *c)
{
    const tnode_t *n = node_of(c);
    int i;

    node_reply_array(c, c->argc - 1);
    for (i = 1; i < c->argc; i++)
        reply_named(c, n, &c->argv[i]);
}

static int is_cmd(const resp_arg_t *a, const char *s)
{
    return a->len == strlen(s) && memcmp(a->ptr, s, a->len) == 0;
}

/* The request handler of clients and of peers' data links: GET and MGET
 * of keys another member owns are forwarded (never from a peer). */
static void on_node_request(void *arg, node_client_t *c)
{
    tnode_t *n = arg;
    int me = node_cluster_myindex(n->cl), owners[NKEYS_MAX], i, remote = 0;

    n->nrequests++;
    if (c->conn->peer)
        n->npeer++;
    if (is_cmd(&c->argv[0], "GET") && c->argc == 2) {
        int owner = owner_of(n, &c->argv[1]);

        if (owner != me && !c->conn->peer)
            node_fwd_command(n->fwd, c, owner);
        else
            reply_named(c, n, &c->argv[1]);
    } else if (is_cmd(&c->argv[0], "HELLO3")) {
        c->resp = 3;
        node_reply_ok(c);
    } else if (is_cmd(&c->argv[0], "NULL") && c->argc == 2) {
        int owner = owner_of(n, &c->argv[1]);

        if (owner != me && !c->conn->peer)
            node_fwd_command(n->fwd, c, owner);
        else
            node_reply_null(c); /* "$-1" or "_" by the client's RESP version */
    } else if (is_cmd(&c->argv[0], "HOLD") && c->argc == 2) {
        int owner = owner_of(n, &c->argv[1]);

        if (owner != me && !c->conn->peer)
            node_fwd_command(n->fwd, c, owner);
        else
            n->held = node_conn_seg_push(c->conn); /* the owner never answers */
    } else if ((is_cmd(&c->argv[0], "MGET") || is_cmd(&c->argv[0], "MGETHELD")) && c->argc >= 2 &&
               c->argc - 1 <= NKEYS_MAX) {
        /* MGETHELD: the local part's reply is held until the test
         * releases it (as replication does); MGET releases it at once. */
        int keep = is_cmd(&c->argv[0], "MGETHELD");

        for (i = 1; i < c->argc; i++) {
            owners[i - 1] = owner_of(n, &c->argv[i]);
            remote |= owners[i - 1] != me;
        }
        if (remote && !c->conn->peer) {
            node_conn_seg_t *seg =
                node_fwd_split(n->fwd, c, NODE_FWD_MGET, 1, owners, me, local_mget);

            if (seg != NULL && keep)
                n->split = seg;
            else if (seg != NULL)
                node_fwd_split_release(n->fwd, seg, NULL, 0);
        } else {
            local_mget(c);
        }
    } else {
        node_reply_error(c, "ERR unknown command");
    }
}

/* As main.c: the leave asked by shutdown is over, shut down for real. */
static void on_leave_done(void *arg)
{
    tnode_t *n = arg;

    node_server_shutdown(n->server);
}

/* No hand-off engine here: every slot a node receives is filled at once. */
static void on_config(void *arg)
{
    tnode_t *n = arg;

    if (node_cluster_in_transition(n->cl))
        node_cluster_request_ready(n->cl);
}

static const node_cluster_observer_t shutdown_observer = {on_config, on_leave_done, NULL};

static int node_start(cfx_t *fx, int i, int seed)
{
    tnode_t *n = &fx->n[i];
    node_config_t cfg;
    int err, tries;

    node_config_defaults(&cfg);
    cfg.cluster_leave_timeout = 1000; /* what a test waits when a peer cannot answer a leave */
    cfg.port = 0;
    n->bus_port = test_loop_free_port();
    cfg.cluster_port = n->bus_port;
    snprintf(n->path, sizeof(n->path), "%s/node%d.state", fx->dir, i);
    cfg.cluster_config_file = rc_xstrdup(n->path);
    if (seed >= 0) {
        char join[64];

        snprintf(join, sizeof(join), "127.0.0.1:%d@%d", fx->n[seed].port, fx->n[seed].bus_port);
        cfg.join = rc_xstrdup(join);
    }
    assert_int_equal(node_server_create(&fx->loop, &cfg, NULL, &n->server), 0);
    node_config_free(&cfg);
    n->port = test_loop_bound_port(&n->server->listeners[0]);
    n->server->config.port = n->port;
    if (n->bus_port == n->port) {
        /* Binding port 0 gave the client the bus port picked. */
        n->bus_port = test_loop_free_port_but(n->port);
        n->server->config.cluster_port = n->bus_port;
    }
    err = node_cluster_create(n->server, &n->cl);
    for (tries = 0; err == UV_EADDRINUSE && tries < 5; tries++) {
        /* Another process took the port we picked: pick again. */
        n->bus_port = test_loop_free_port_but(n->port);
        n->server->config.cluster_port = n->bus_port;
        err = node_cluster_create(n->server, &n->cl);
    }
    assert_int_equal(err, 0);
    node_cluster_observe(n->cl, &shutdown_observer, n);
    n->fwd = node_fwd_create(n->server, n->cl);
    node_server_set_request_handler(n->server, on_node_request, n);
    node_bus_set_request_handler(node_cluster_bus(n->cl), on_node_request, n);
    return 0;
}

static int founded(void *arg)
{
    const tnode_t *n = arg;

    return node_cluster_epoch(n->cl) == 1 && node_cluster_myindex(n->cl) == 0;
}

static int two_agree(void *arg)
{
    const cfx_t *fx = arg;
    const node_cluster_t *a = fx->n[0].cl, *b = fx->n[1].cl;

    return node_cluster_members(a, NULL, 0) == 2 && node_cluster_members(b, NULL, 0) == 2 &&
           node_cluster_epoch(a) == node_cluster_epoch(b) && node_cluster_myindex(b) >= 0 &&
           !node_cluster_in_transition(a) && !node_cluster_in_transition(b);
}

static int client_connected(void *arg)
{
    const cfx_t *fx = arg;

    return fx->client.nconnect > 0;
}

static int setup_cluster(void **state)
{
    cfx_t *fx = test_calloc(1, sizeof(*fx));

    rc_log_level = getenv("TEST_LOG") ? RC_LOG_VERBOSE : RC_LOG_WARNING;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/rc_fwd_test.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    cfx = fx;
    *state = fx;
    node_start(fx, 0, -1);
    assert_true(test_loop_run_until(&fx->loop, founded, &fx->n[0], TEST_LOOP_TIMEOUT_MS));
    node_start(fx, 1, 0);
    assert_true(test_loop_run_until(&fx->loop, two_agree, fx, JOIN_TIMEOUT_MS));
    assert_int_equal(test_client_connect(&fx->client, &fx->loop, fx->n[0].port, 0), 0);
    assert_true(test_loop_run_until(&fx->loop, client_connected, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.connect_status, 0);
    return 0;
}

static int shutting_down(void *arg)
{
    const tnode_t *n = arg;

    return n->server->shutting_down;
}

static int teardown_cluster(void **state)
{
    cfx_t *fx = *state;
    char path[300];
    int i;

    test_client_close(&fx->client);
    for (i = 1; i >= 0; i--) {
        if (fx->n[i].server == NULL)
            continue;
        node_server_shutdown(fx->n[i].server);
        assert_true(test_loop_run_until(&fx->loop, shutting_down, &fx->n[i], JOIN_TIMEOUT_MS));
    }
    assert_true(test_loop_drain(&fx->loop));
    for (i = 0; i < 2; i++) {
        if (fx->n[i].server == NULL)
            continue;
        if (fx->n[i].held != NULL) {
            assert_null(fx->n[i].held->conn); /* orphaned by the close */
            node_conn_seg_complete(fx->n[i].held, "+late\r\n", 7);
        }
        node_fwd_destroy(fx->n[i].fwd);
        node_cluster_destroy(fx->n[i].cl);
        node_server_destroy(fx->n[i].server);
    }
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    assert_int_equal(fx->client.nclose, 1);
    test_client_free(&fx->client);
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/node%d.state", fx->dir, i);
        unlink(path);
        snprintf(path, sizeof(path), "%s/node%d.state.tmp", fx->dir, i);
        unlink(path);
    }
    assert_int_equal(rmdir(fx->dir), 0);
    cfx = NULL;
    test_free(fx);
    return 0;
}

/* Finds a key named "<prefix><n>" that member 'owner' owns (as node 0
 * sees the table), skipping 'skip' such keys first. */
static void key_owned_by(const cfx_t *fx, int owner, const char *prefix, int skip, char *out,
                         size_t size)
{
    int i;

    for (i = 0; i < 100000; i++) {
        snprintf(out, size, "%s%d", prefix, i);
        if (node_cluster_slot_primary(fx->n[0].cl, ring_keyslot(out, strlen(out))) == owner &&
            skip-- == 0)
            return;
    }
    fail();
}

static void send_command(cfx_t *fx, int argc, const char *const *argv)
{
    char buf[1024];
    size_t len = 0;
    int i;

    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "*%d\r\n", argc);
    for (i = 0; i < argc; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "$%zu\r\n%s\r\n", strlen(argv[i]),
                                argv[i]);
    test_client_send(&fx->client, buf, len);
}

static size_t want_bytes;

static int client_got(void *arg)
{
    const cfx_t *fx = arg;

    return fx->client.in_len >= want_bytes || fx->client.eof;
}

static void expect_reply(cfx_t *fx, const char *want)
{
    want_bytes = strlen(want);
    assert_true(test_loop_run_until(&fx->loop, client_got, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len, strlen(want));
    assert_memory_equal(fx->client.in, want, strlen(want));
    fx->client.in_len = 0;
}

static void bulk(char *out, size_t size, int member, const char *key)
{
    char v[64];

    snprintf(v, sizeof(v), "m%d:%.30s", member, key);
    snprintf(out, size, "$%zu\r\n%s\r\n", strlen(v), v);
}

static void test_fwd_command_relays_the_owners_reply_in_request_order(void **state)
{
    cfx_t *fx = *state;
    int me = node_cluster_myindex(fx->n[0].cl), other = 1 - me;
    char r1[32], r2[32], l1[32], want[512], b1[128], b2[128], b3[128];
    node_cluster_stats_t st;

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    key_owned_by(fx, other, "r", 1, r2, sizeof(r2));
    key_owned_by(fx, me, "l", 0, l1, sizeof(l1));
    send_command(fx, 2, (const char *const[]){"GET", r1});
    send_command(fx, 2, (const char *const[]){"GET", l1});
    send_command(fx, 2, (const char *const[]){"GET", r2});
    bulk(b1, sizeof(b1), other, r1);
    bulk(b2, sizeof(b2), me, l1);
    bulk(b3, sizeof(b3), other, r2);
    snprintf(want, sizeof(want), "%s%s%s", b1, b2, b3);
    expect_reply(fx, want);
    assert_int_equal(fx->n[1].npeer, 2); /* the owner ran both forwarded requests */
    assert_int_equal(fx->n[0].npeer, 0);
    node_cluster_stats(fx->n[0].cl, &st);
    assert_int_equal(st.forwarded_commands, 2);
    assert_int_equal(st.forward_errors, 0);
}

static void test_fwd_closed_peer_bus_port_gets_tryagain_not_a_hang(void **state)
{
    cfx_t *fx = *state;
    int me = node_cluster_myindex(fx->n[0].cl), other = 1 - me;
    char r1[32], l1[32], b2[128], prefix[128];
    node_cluster_stats_t st;
    const char *crlf;

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    key_owned_by(fx, me, "l", 0, l1, sizeof(l1));
    (void)node_bus_shutdown(node_cluster_bus(fx->n[1].cl)); /* its bus port is closed now */
    send_command(fx, 2, (const char *const[]){"GET", r1});
    send_command(fx, 2, (const char *const[]){"GET", l1});
    bulk(b2, sizeof(b2), me, l1);
    /* The error takes the forwarded request's place, before the local reply. */
    want_bytes = 1;
    snprintf(prefix, sizeof(prefix),
             "-TRYAGAIN forwarding to 127.0.0.1:%d failed: ", fx->n[1].port);
    for (;;) {
        assert_true(test_loop_run_until(&fx->loop, client_got, fx, TEST_LOOP_TIMEOUT_MS));
        crlf = memchr(fx->client.in, '\n', fx->client.in_len);
        if (crlf != NULL && fx->client.in_len - (size_t)(crlf + 1 - fx->client.in) >= strlen(b2))
            break;
        want_bytes = fx->client.in_len + 1;
    }
    assert_memory_equal(fx->client.in, prefix, strlen(prefix));
    assert_int_equal(fx->client.in_len - (size_t)(crlf + 1 - fx->client.in), strlen(b2));
    assert_memory_equal(crlf + 1, b2, strlen(b2));
    fx->client.in_len = 0;
    assert_int_equal(fx->n[1].npeer, 0);

    /* While the link waits out its backoff: an error at once. */
    send_command(fx, 2, (const char *const[]){"GET", r1});
    want_bytes = strlen(prefix);
    assert_true(test_loop_run_until(&fx->loop, client_got, fx, TEST_LOOP_TIMEOUT_MS));
    assert_memory_equal(fx->client.in, prefix, strlen(prefix));
    node_cluster_stats(fx->n[0].cl, &st);
    assert_int_equal(st.forward_errors, 2);
}

static void test_fwd_split_mget_gathers_in_key_order(void **state)
{
    cfx_t *fx = *state;
    int me = node_cluster_myindex(fx->n[0].cl), other = 1 - me;
    char r1[32], r2[32], l1[32], l2[32], want[600], b[4][128];

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    key_owned_by(fx, other, "r", 1, r2, sizeof(r2));
    key_owned_by(fx, me, "l", 0, l1, sizeof(l1));
    key_owned_by(fx, me, "l", 1, l2, sizeof(l2));
    send_command(fx, 5, (const char *const[]){"MGET", r1, l1, r2, l2});
    bulk(b[0], sizeof(b[0]), other, r1);
    bulk(b[1], sizeof(b[1]), me, l1);
    bulk(b[2], sizeof(b[2]), other, r2);
    bulk(b[3], sizeof(b[3]), me, l2);
    snprintf(want, sizeof(want), "*4\r\n%s%s%s%s", b[0], b[1], b[2], b[3]);
    expect_reply(fx, want);
    assert_int_equal(fx->n[1].npeer, 1); /* one part for the other member */
    assert_int_equal(fx->n[0].nrequests, 1);
}

static int forward_delivered(void *arg)
{
    const cfx_t *fx = arg;
    node_cluster_stats_t st;

    node_cluster_stats(fx->n[0].cl, &st);
    return st.forwarded_commands >= 1;
}

static int owner_answered_twice(void *arg)
{
    const cfx_t *fx = arg;
    node_cluster_stats_t st;

    node_cluster_stats(fx->n[0].cl, &st);
    return st.forwarded_commands >= 2;
}

static int owner_holds(void *arg)
{
    const cfx_t *fx = arg;

    return fx->n[1].held != NULL;
}

static int client_gone(void *arg)
{
    const cfx_t *fx = arg;

    return fx->n[0].server->nclients == 0;
}

static void test_fwd_reply_for_a_client_that_left_is_dropped(void **state)
{
    cfx_t *fx = *state;
    int other = 1 - node_cluster_myindex(fx->n[0].cl);
    node_conn_seg_t *held;
    char r1[32];

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    send_command(fx, 2, (const char *const[]){"HOLD", r1});
    assert_true(test_loop_run_until(&fx->loop, owner_holds, fx, TEST_LOOP_TIMEOUT_MS));
    test_client_close(&fx->client); /* gone before the owner answers */
    assert_true(test_loop_run_until(&fx->loop, client_gone, fx, TEST_LOOP_TIMEOUT_MS));
    held = fx->n[1].held;
    fx->n[1].held = NULL;
    node_conn_seg_complete(held, "+late\r\n", 7); /* the owner answers now */
    assert_true(test_loop_run_until(&fx->loop, forward_delivered, fx, TEST_LOOP_TIMEOUT_MS));
    /* The orphaned segment took the reply and was freed (ASan: no leak,
     * no use after free); the link still serves the next client. */
    assert_int_equal(fx->client.nclose, 1);
    test_client_free(&fx->client);
    memset(&fx->client, 0, sizeof(fx->client));
    assert_int_equal(test_client_connect(&fx->client, &fx->loop, fx->n[0].port, 0), 0);
    assert_true(test_loop_run_until(&fx->loop, client_connected, fx, TEST_LOOP_TIMEOUT_MS));
    send_command(fx, 2, (const char *const[]){"GET", r1});
    {
        char want[128];

        bulk(want, sizeof(want), other, r1);
        expect_reply(fx, want);
    }
}

static int alone(void *arg)
{
    const cfx_t *fx = arg;

    return node_cluster_members(fx->n[0].cl, NULL, 0) == 1;
}

static void test_fwd_owner_that_never_answers_times_out_with_tryagain(void **state)
{
    cfx_t *fx = *state;
    int other = 1 - node_cluster_myindex(fx->n[0].cl);
    char r1[32], prefix[128];
    uint64_t start = uv_now(&fx->loop);

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    send_command(fx, 2, (const char *const[]){"HOLD", r1});
    snprintf(prefix, sizeof(prefix), "-TRYAGAIN forwarding to 127.0.0.1:%d failed: timed out\r\n",
             fx->n[1].port);
    want_bytes = strlen(prefix);
    assert_true(test_loop_run_until(&fx->loop, client_got, fx, 3 * TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len, strlen(prefix));
    assert_memory_equal(fx->client.in, prefix, strlen(prefix));
    assert_true(uv_now(&fx->loop) - start >= NODE_FWD_MIN_TIMEOUT_MS);
    assert_non_null(fx->n[1].held);
}

static void test_fwd_split_mget_with_an_unreachable_part_answers_the_error(void **state)
{
    cfx_t *fx = *state;
    int me = node_cluster_myindex(fx->n[0].cl), other = 1 - me;
    char r1[32], l1[32], prefix[128];

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    key_owned_by(fx, me, "l", 0, l1, sizeof(l1));
    (void)node_bus_shutdown(node_cluster_bus(fx->n[1].cl));
    send_command(fx, 3, (const char *const[]){"MGET", l1, r1});
    snprintf(prefix, sizeof(prefix),
             "-TRYAGAIN forwarding to 127.0.0.1:%d failed: ", fx->n[1].port);
    want_bytes = strlen(prefix);
    assert_true(test_loop_run_until(&fx->loop, client_got, fx, TEST_LOOP_TIMEOUT_MS));
    assert_memory_equal(fx->client.in, prefix, strlen(prefix));
    test_loop_iterations(&fx->loop, 3);
    /* One reply: the error line, nothing after it. */
    assert_non_null(memchr(fx->client.in, '\n', fx->client.in_len));
    assert_ptr_equal(memchr(fx->client.in, '\n', fx->client.in_len),
                     fx->client.in + fx->client.in_len - 1);
    assert_int_equal(fx->n[0].nrequests, 1);
}

/* A split request whose local part is held (its replicas have not
 * applied it yet) answers only once released, even after every remote
 * part came back; released with an error, the error is the answer. */
static void test_fwd_split_with_a_held_local_part_waits_for_its_release(void **state)
{
    cfx_t *fx = *state;
    int me = node_cluster_myindex(fx->n[0].cl), other = 1 - me;
    char r1[32], l1[32], want[300], b[2][128];
    static const char err[] = "-TRYAGAIN the link to a replica broke\r\n";

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    key_owned_by(fx, me, "l", 0, l1, sizeof(l1));
    send_command(fx, 3, (const char *const[]){"MGETHELD", l1, r1});
    assert_true(test_loop_run_until(&fx->loop, forward_delivered, fx, TEST_LOOP_TIMEOUT_MS));
    test_loop_iterations(&fx->loop, 3);
    assert_int_equal(fx->client.in_len, 0); /* the remote part is in, the local one held */
    assert_non_null(fx->n[0].split);
    node_fwd_split_release(fx->n[0].fwd, fx->n[0].split, NULL, 0);
    fx->n[0].split = NULL;
    bulk(b[0], sizeof(b[0]), me, l1);
    bulk(b[1], sizeof(b[1]), other, r1);
    snprintf(want, sizeof(want), "*2\r\n%s%s", b[0], b[1]);
    expect_reply(fx, want);

    send_command(fx, 3, (const char *const[]){"MGETHELD", r1, l1});
    assert_true(test_loop_run_until(&fx->loop, owner_answered_twice, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(fx->client.in_len, 0);
    node_fwd_split_release(fx->n[0].fwd, fx->n[0].split, err, strlen(err));
    fx->n[0].split = NULL;
    expect_reply(fx, err);
}

static void test_fwd_resp3_client_gets_the_owners_resp3_reply(void **state)
{
    cfx_t *fx = *state;
    int other = 1 - node_cluster_myindex(fx->n[0].cl);
    char r1[32];

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    send_command(fx, 2, (const char *const[]){"NULL", r1});
    expect_reply(fx, "$-1\r\n");
    send_command(fx, 1, (const char *const[]){"HELLO3"});
    send_command(fx, 2, (const char *const[]){"NULL", r1});
    expect_reply(fx, "+OK\r\n_\r\n"); /* over a RESP3 data link */
    send_command(fx, 2, (const char *const[]){"NULL", r1});
    expect_reply(fx, "_\r\n");
    assert_int_equal(fx->n[1].npeer, 3);
    assert_int_equal(node_bus_links(node_cluster_bus(fx->n[0].cl), NODE_BUS_ROLE_DATA, NULL, 0), 2);
}

static void test_fwd_request_to_a_member_that_leaves_gets_tryagain(void **state)
{
    cfx_t *fx = *state;
    int other = 1 - node_cluster_myindex(fx->n[0].cl);
    char r1[32], prefix[128];

    key_owned_by(fx, other, "r", 0, r1, sizeof(r1));
    send_command(fx, 2, (const char *const[]){"HOLD", r1});
    assert_true(test_loop_run_until(&fx->loop, owner_holds, fx, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(node_cluster_leave(fx->n[1].cl), 0); /* it will never answer */
    snprintf(prefix, sizeof(prefix),
             "-TRYAGAIN forwarding to 127.0.0.1:%d failed: ", fx->n[1].port);
    want_bytes = strlen(prefix) + 1;
    assert_true(test_loop_run_until(&fx->loop, client_got, fx, JOIN_TIMEOUT_MS));
    assert_memory_equal(fx->client.in, prefix, strlen(prefix));
    assert_int_equal(fx->client.in[fx->client.in_len - 1], '\n');
    /* The key is this node's now. */
    assert_true(test_loop_run_until(&fx->loop, alone, fx, JOIN_TIMEOUT_MS));
    fx->client.in_len = 0;
    send_command(fx, 2, (const char *const[]){"GET", r1});
    {
        char want[128];

        bulk(want, sizeof(want), 0, r1);
        expect_reply(fx, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mget_values_come_back_in_key_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mget_resp3_nulls_are_relayed_as_they_are, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mget_error_part_becomes_the_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mget_wrong_element_count_is_malformed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mget_non_array_part_is_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mset_all_ok_is_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mset_first_error_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sum_adds_the_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sum_non_integer_is_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_appends_after_existing_bytes, setup, teardown),
        cmocka_unit_test(test_seg_replies_wait_behind_a_pending_forward),
        cmocka_unit_test(test_seg_deferred_array_inside_a_segment),
        cmocka_unit_test(test_seg_capture_target_is_not_queued),
        cmocka_unit_test(test_seg_blocks_are_freed_with_their_last_segment),
        cmocka_unit_test_setup_teardown(test_fwd_command_relays_the_owners_reply_in_request_order,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(test_fwd_closed_peer_bus_port_gets_tryagain_not_a_hang,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(test_fwd_split_mget_gathers_in_key_order, setup_cluster,
                                        teardown_cluster),
        cmocka_unit_test_setup_teardown(test_fwd_split_with_a_held_local_part_waits_for_its_release,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(test_fwd_resp3_client_gets_the_owners_resp3_reply,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(test_fwd_request_to_a_member_that_leaves_gets_tryagain,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(test_fwd_reply_for_a_client_that_left_is_dropped,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(test_fwd_owner_that_never_answers_times_out_with_tryagain,
                                        setup_cluster, teardown_cluster),
        cmocka_unit_test_setup_teardown(
            test_fwd_split_mget_with_an_unreachable_part_answers_the_error, setup_cluster,
            teardown_cluster),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
