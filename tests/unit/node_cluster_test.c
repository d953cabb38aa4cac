/* tests/unit/node_cluster_test.c: node/cluster/ on a real loop over
 * loopback, one process: founding a one-node cluster (epoch 1, the state
 * file written and read back on restart, a corrupt one refused), a second
 * node joining with --join (both see two members and one epoch; with R=1
 * each slot's replica is the other one), and the graceful leave (CLUSTER
 * LEAVE, or shutdown of a member) reported to the observers with
 * on_leave_done. Every test ends with uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "common/rc.h"
#include "node/cluster/node_cluster.h"
#include "node/core/node_config.h"
#include "node/net/node_server.h"
#include "tests/unit/node_test_loop.h"

enum {
    MAX_NODES = 3,
    JOIN_TIMEOUT_MS = 20000, /* Paxos rounds on a shared machine */
};

typedef struct tnode_s {
    node_server_t *server;
    node_cluster_t *cl;
    int port;
    int bus_port;
    char path[256]; /* state file */
    int nconfig;
    int nleave_done;
    int nclose;
    int keep_running; /* on_leave_done does not shut the server down */
} tnode_t;

static const char *cfg_secret[MAX_NODES]; /* cluster-secret per node, NULL: none */
static int cfg_replicas;                  /* cluster-replicas of a founder */

typedef struct fx_s {
    uv_loop_t loop;
    char dir[64];
    tnode_t n[MAX_NODES];
} fx_t;

/* ---- observers ---- */

static void on_config(void *arg)
{
    tnode_t *n = arg;

    n->nconfig++;
    /* No data here: every slot this node receives is filled at once (the
     * hand-off, node/migrate, reports it in the daemon). */
    if (node_cluster_in_transition(n->cl))
        node_cluster_request_ready(n->cl);
}

/* As main.c: the leave asked by shutdown is over, shut down for real. */
static void on_leave_done(void *arg)
{
    tnode_t *n = arg;

    n->nleave_done++;
    if (!n->keep_running)
        node_server_shutdown(n->server);
}

static void on_close(void *arg)
{
    tnode_t *n = arg;

    n->nclose++;
}

static const node_cluster_observer_t observer = {on_config, on_leave_done, on_close};

/* ---- fixture ---- */

static int setup(void **state)
{
    fx_t *fx = test_calloc(1, sizeof(*fx));

    rc_log_level = getenv("TEST_LOG") ? RC_LOG_VERBOSE : RC_LOG_WARNING;
    cfg_replicas = 0; /* a test that failed half-way left its own */
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/rc_cluster_test.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    *state = fx;
    return 0;
}

static int server_closed(void *arg)
{
    const node_server_t *server = arg;

    return server->handles_open == 0;
}

/* Starts node 'i' with its state file in the test's directory, joining
 * through node 'seed' (-1: none). Returns what node_cluster_create()
 * returned; on failure the node's server is gone again. */
static int node_start(fx_t *fx, int i, int seed)
{
    tnode_t *n = &fx->n[i];
    node_config_t cfg;
    int err, tries, picked = n->bus_port == 0;

    node_config_defaults(&cfg);
    cfg.cluster_leave_timeout = 3000; /* as long as a test waits for a stop */
    cfg.port = n->port;               /* 0 the first time: read back below */
    if (picked)
        n->bus_port = test_loop_free_port();
    cfg.cluster_port = n->bus_port;
    snprintf(n->path, sizeof(n->path), "%s/node%d.state", fx->dir, i);
    cfg.cluster_config_file = rc_xstrdup(n->path);
    if (cfg_secret[i] != NULL)
        cfg.cluster_secret = rc_xstrdup(cfg_secret[i]);
    cfg.cluster_replicas = cfg_replicas;
    if (seed >= 0) {
        char join[64];

        snprintf(join, sizeof(join), "127.0.0.1:%d@%d", fx->n[seed].port, fx->n[seed].bus_port);
        cfg.join = rc_xstrdup(join);
    }
    assert_int_equal(node_server_create(&fx->loop, &cfg, NULL, &n->server), 0);
    node_config_free(&cfg);
    n->port = test_loop_bound_port(&n->server->listeners[0]);
    n->server->config.port = n->port; /* the cluster announces it */
    if (picked && n->bus_port == n->port) {
        /* Binding port 0 gave the client the bus port picked. */
        n->bus_port = test_loop_free_port_but(n->port);
        n->server->config.cluster_port = n->bus_port;
    }
    err = node_cluster_create(n->server, &n->cl);
    for (tries = 0; err == UV_EADDRINUSE && picked && tries < 5; tries++) {
        /* Another process took the port we picked: pick again. */
        n->bus_port = test_loop_free_port_but(n->port);
        n->server->config.cluster_port = n->bus_port;
        err = node_cluster_create(n->server, &n->cl);
    }
    if (err != 0) {
        node_server_shutdown(n->server);
        assert_true(test_loop_run_until(&fx->loop, server_closed, n->server, TEST_LOOP_TIMEOUT_MS));
        node_server_destroy(n->server);
        n->server = NULL;
        return err;
    }
    node_cluster_observe(n->cl, &observer, n);
    return 0;
}

static int shutting_down(void *arg)
{
    const tnode_t *n = arg;

    return n->server->shutting_down;
}

/* Shuts every live node down, the last started first (each leaves while
 * the others can still decide it), and frees them once the loop ran out. */
static void stop_all(fx_t *fx)
{
    int i;

    for (i = MAX_NODES - 1; i >= 0; i--) {
        if (fx->n[i].server == NULL)
            continue;
        node_server_shutdown(fx->n[i].server);
        assert_true(test_loop_run_until(&fx->loop, shutting_down, &fx->n[i], JOIN_TIMEOUT_MS));
    }
    assert_true(test_loop_drain(&fx->loop));
    for (i = 0; i < MAX_NODES; i++) {
        if (fx->n[i].server == NULL)
            continue;
        assert_true(fx->n[i].server->shutting_down);
        node_cluster_destroy(fx->n[i].cl);
        node_server_destroy(fx->n[i].server);
        fx->n[i].server = NULL;
        fx->n[i].cl = NULL;
    }
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    char path[300];
    int i;

    stop_all(fx);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    for (i = 0; i < MAX_NODES; i++) {
        snprintf(path, sizeof(path), "%s/node%d.state", fx->dir, i);
        unlink(path);
        snprintf(path, sizeof(path), "%s/node%d.state.tmp", fx->dir, i);
        unlink(path);
    }
    assert_int_equal(rmdir(fx->dir), 0);
    test_free(fx);
    return 0;
}

/* ---- conditions ---- */

static int founded(void *arg)
{
    const tnode_t *n = arg;

    return node_cluster_epoch(n->cl) == 1 && node_cluster_myindex(n->cl) == 0;
}

static int two_agree(void *arg)
{
    const fx_t *fx = arg;
    const node_cluster_t *a = fx->n[0].cl, *b = fx->n[1].cl;

    return node_cluster_members(a, NULL, 0) == 2 && node_cluster_members(b, NULL, 0) == 2 &&
           node_cluster_epoch(a) == node_cluster_epoch(b) && node_cluster_myindex(b) >= 0 &&
           node_cluster_state(a) == NODE_CLUSTER_OK && node_cluster_state(b) == NODE_CLUSTER_OK &&
           !node_cluster_in_transition(a) && !node_cluster_in_transition(b);
}

static void found_and_join(fx_t *fx)
{
    assert_int_equal(node_start(fx, 0, -1), 0);
    assert_true(test_loop_run_until(&fx->loop, founded, &fx->n[0], TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(node_start(fx, 1, 0), 0);
    assert_true(test_loop_run_until(&fx->loop, two_agree, fx, JOIN_TIMEOUT_MS));
}

/* ---- founding and the state file ---- */

static void test_cluster_founds_a_one_node_cluster_at_epoch_1(void **state)
{
    fx_t *fx = *state;
    tnode_t *n = &fx->n[0];
    node_cluster_member_t m;
    struct stat st;

    assert_int_equal(node_start(fx, 0, -1), 0);
    assert_true(test_loop_run_until(&fx->loop, founded, n, TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(node_cluster_epoch(n->cl), 1);
    assert_int_equal(node_cluster_members(n->cl, &m, 1), 1);
    assert_true(m.myself);
    assert_int_equal(m.port, n->port);
    assert_int_equal(m.bus_port, n->bus_port);
    assert_string_equal(m.host, "127.0.0.1");
    assert_string_equal(m.name, node_cluster_myname(n->cl));
    assert_int_equal(strlen(node_cluster_myname(n->cl)), NODE_CLUSTER_NAME_LEN);
    assert_int_equal(m.nprimaries, 16384);
    assert_int_equal(node_cluster_slot_primary(n->cl, 0), 0);
    assert_int_equal(node_cluster_slot_primary(n->cl, 16383), 0);
    assert_int_equal(node_cluster_state(n->cl), NODE_CLUSTER_OK);
    assert_string_equal(node_cluster_state_name(node_cluster_state(n->cl)), "ok");
    assert_int_equal(node_bus_epoch(node_cluster_bus(n->cl)), 1); /* frames carry it */
    assert_int_equal(stat(n->path, &st), 0);
    assert_true(st.st_size > 0);
    /* The last member cannot leave. */
    assert_int_equal(node_cluster_leave(n->cl), -EINVAL);
}

static void test_cluster_restart_reads_its_state_file_back(void **state)
{
    fx_t *fx = *state;
    tnode_t *n = &fx->n[0];
    char name[NODE_CLUSTER_NAME_LEN + 1];

    assert_int_equal(node_start(fx, 0, -1), 0);
    assert_true(test_loop_run_until(&fx->loop, founded, n, TEST_LOOP_TIMEOUT_MS));
    snprintf(name, sizeof(name), "%s", node_cluster_myname(n->cl));
    stop_all(fx);
    assert_int_equal(n->nclose, 1);
    assert_int_equal(n->nleave_done, 0); /* nobody to leave: it just closes */

    n->nclose = 0;
    assert_int_equal(node_start(fx, 0, -1), 0); /* same ports, same state file */
    assert_true(test_loop_run_until(&fx->loop, founded, n, TEST_LOOP_TIMEOUT_MS));
    assert_string_equal(node_cluster_myname(n->cl), name); /* same id and incarnation */
    assert_int_equal(node_cluster_epoch(n->cl), 1);
    assert_int_equal(node_cluster_members(n->cl, NULL, 0), 1);
}

static void test_cluster_corrupt_state_file_refuses_to_start(void **state)
{
    fx_t *fx = *state;
    tnode_t *n = &fx->n[0];
    FILE *fp;

    snprintf(n->path, sizeof(n->path), "%s/node0.state", fx->dir);
    fp = fopen(n->path, "wb");
    assert_non_null(fp);
    fputs("not a paxos state", fp);
    fclose(fp);
    assert_true(node_start(fx, 0, -1) < 0);
    assert_null(n->server);
}

static void test_cluster_busy_bus_port_fails_create_and_leaves_nothing(void **state)
{
    fx_t *fx = *state;

    assert_int_equal(node_start(fx, 0, -1), 0);
    fx->n[1].bus_port = fx->n[0].bus_port; /* taken */
    assert_int_equal(node_start(fx, 1, -1), UV_EADDRINUSE);
    assert_null(fx->n[1].server);
    assert_true(test_loop_run_until(&fx->loop, founded, &fx->n[0], TEST_LOOP_TIMEOUT_MS));
}

/* ---- joining ---- */

static void test_cluster_second_node_joins_and_both_agree(void **state)
{
    fx_t *fx = *state;
    node_cluster_member_t a[2], b[2];
    int i;

    assert_int_equal(node_start(fx, 0, -1), 0);
    assert_true(test_loop_run_until(&fx->loop, founded, &fx->n[0], TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(node_start(fx, 1, 0), 0);
    assert_int_equal(node_cluster_state(fx->n[1].cl), NODE_CLUSTER_JOINING);
    assert_true(test_loop_run_until(&fx->loop, two_agree, fx, JOIN_TIMEOUT_MS));
    assert_true(node_cluster_epoch(fx->n[0].cl) >= 2);
    assert_true(fx->n[0].nconfig >= 1);
    assert_true(fx->n[1].nconfig >= 1);
    assert_int_equal(node_cluster_members(fx->n[0].cl, a, 2), 2);
    assert_int_equal(node_cluster_members(fx->n[1].cl, b, 2), 2);
    for (i = 0; i < 2; i++) {
        assert_string_equal(a[i].name, b[i].name);
        assert_int_equal(a[i].port, b[i].port);
        assert_int_equal(a[i].myself, !b[i].myself);
        assert_true(a[i].nprimaries > 0); /* both own slots */
    }
    assert_int_equal(a[0].nprimaries + a[1].nprimaries, 16384);
    /* Both agree on every slot's owner. */
    for (i = 0; i < 16384; i += 97)
        assert_int_equal(node_cluster_slot_primary(fx->n[0].cl, (unsigned)i),
                         node_cluster_slot_primary(fx->n[1].cl, (unsigned)i));
    assert_int_equal(node_bus_epoch(node_cluster_bus(fx->n[1].cl)),
                     node_cluster_epoch(fx->n[1].cl));
}

/* With R=1 a one-node cluster has nothing to copy to; once a second node
 * joins, every slot's replica is the member that is not its primary. */
static void test_cluster_slot_replicas_and_copies_with_r1(void **state)
{
    fx_t *fx = *state;
    node_cluster_copies_t copies;
    int rep[4], i, k;

    cfg_replicas = 1;
    assert_int_equal(node_start(fx, 0, -1), 0);
    assert_true(test_loop_run_until(&fx->loop, founded, &fx->n[0], TEST_LOOP_TIMEOUT_MS));
    assert_int_equal(node_cluster_replicas(fx->n[0].cl), 1);
    assert_int_equal(node_cluster_slot_replicas(fx->n[0].cl, 0, rep, 4), 0);
    node_cluster_copies(fx->n[0].cl, &copies);
    assert_int_equal(copies.served, 16384);
    assert_int_equal(copies.degraded, 0); /* min(R+1, members) = 1 copy */
    assert_int_equal(copies.lost, 0);

    assert_int_equal(node_start(fx, 1, 0), 0);
    assert_true(test_loop_run_until(&fx->loop, two_agree, fx, JOIN_TIMEOUT_MS));
    for (k = 0; k < 2; k++) {
        const node_cluster_t *cl = fx->n[k].cl;

        for (i = 0; i < 16384; i++) {
            int p = node_cluster_slot_primary(cl, (unsigned)i);

            assert_int_equal(node_cluster_slot_replicas(cl, (unsigned)i, rep, 4), 1);
            assert_int_equal(rep[0], 1 - p);
            /* 'cap' bounds what is stored and returned. */
            assert_int_equal(node_cluster_slot_replicas(cl, (unsigned)i, rep, 0), 0);
        }
        assert_int_equal(node_cluster_slot_replicas(cl, 16384, rep, 4), 0);
        node_cluster_copies(cl, &copies);
        assert_int_equal(copies.served, 16384);
        assert_int_equal(copies.degraded, 0);
        assert_int_equal(copies.lost, 0);
    }
}

/* ---- leaving ---- */

static int one_member_left(void *arg)
{
    const fx_t *fx = arg;

    return fx->n[1].nleave_done > 0 && node_cluster_members(fx->n[0].cl, NULL, 0) == 1;
}

static void test_cluster_leave_is_reported_with_on_leave_done(void **state)
{
    fx_t *fx = *state;
    uint64_t epoch;

    found_and_join(fx);
    epoch = node_cluster_epoch(fx->n[0].cl);
    assert_int_equal(node_cluster_leave(fx->n[1].cl), 0);
    assert_int_equal(node_cluster_leave(fx->n[1].cl), 0); /* asked once */
    assert_true(test_loop_run_until(&fx->loop, one_member_left, fx, JOIN_TIMEOUT_MS));
    assert_int_equal(fx->n[1].nleave_done, 1);
    assert_true(node_cluster_epoch(fx->n[0].cl) > epoch);
    assert_int_equal(node_cluster_myindex(fx->n[0].cl), 0);
    assert_true(fx->n[1].server->shutting_down); /* our observer shut it down */
    assert_int_equal(fx->n[1].nclose, 1);
}

static void test_cluster_shutdown_of_a_member_leaves_first(void **state)
{
    fx_t *fx = *state;

    found_and_join(fx);
    node_server_shutdown(fx->n[1].server);
    assert_false(fx->n[1].server->shutting_down); /* waits for the leave */
    assert_int_equal(fx->n[1].nclose, 0);
    assert_true(test_loop_run_until(&fx->loop, one_member_left, fx, JOIN_TIMEOUT_MS));
    assert_int_equal(fx->n[1].nleave_done, 1);
    assert_true(fx->n[1].server->shutting_down);
    assert_int_equal(fx->n[1].nclose, 1);
}

static int three_agree(void *arg)
{
    const fx_t *fx = arg;
    int i;

    for (i = 0; i < 3; i++) {
        if (node_cluster_members(fx->n[i].cl, NULL, 0) != 3 ||
            node_cluster_epoch(fx->n[i].cl) != node_cluster_epoch(fx->n[0].cl) ||
            node_cluster_state(fx->n[i].cl) != NODE_CLUSTER_OK)
            return 0;
    }
    return 1;
}

static int silent_member_removed(void *arg)
{
    const fx_t *fx = arg;

    return node_cluster_members(fx->n[0].cl, NULL, 0) == 2 &&
           node_cluster_members(fx->n[1].cl, NULL, 0) == 2 &&
           node_cluster_epoch(fx->n[0].cl) == node_cluster_epoch(fx->n[1].cl);
}

static void test_cluster_silent_member_is_removed_by_the_others(void **state)
{
    fx_t *fx = *state;
    node_cluster_member_t m[2];
    uint64_t epoch;
    int i;

    found_and_join(fx);
    assert_int_equal(node_start(fx, 2, 0), 0);
    assert_true(test_loop_run_until(&fx->loop, three_agree, fx, JOIN_TIMEOUT_MS));
    epoch = node_cluster_epoch(fx->n[0].cl);
    /* Node 2 goes silent: its bus is closed, it answers nothing. */
    (void)node_bus_shutdown(node_cluster_bus(fx->n[2].cl));
    assert_true(test_loop_run_until(&fx->loop, silent_member_removed, fx, JOIN_TIMEOUT_MS));
    assert_true(node_cluster_epoch(fx->n[0].cl) > epoch);
    assert_int_equal(node_cluster_members(fx->n[0].cl, m, 2), 2);
    for (i = 0; i < 2; i++)
        assert_true(m[i].port == fx->n[0].port || m[i].port == fx->n[1].port);
    assert_int_equal(node_cluster_state(fx->n[0].cl), NODE_CLUSTER_OK);
    assert_true(fx->n[0].nconfig >= 3); /* join, join, removal */
}

static int refused_once(void *arg)
{
    const fx_t *fx = arg;
    node_cluster_stats_t st;

    node_cluster_stats(fx->n[0].cl, &st);
    return st.bus_auth_failures >= 1;
}

static void test_cluster_join_with_the_wrong_secret_is_refused(void **state)
{
    fx_t *fx = *state;

    cfg_secret[0] = "right secret";
    cfg_secret[1] = "wrong secret";
    assert_int_equal(node_start(fx, 0, -1), 0);
    assert_int_equal(node_start(fx, 1, 0), 0);
    cfg_secret[0] = cfg_secret[1] = NULL;
    assert_true(test_loop_run_until(&fx->loop, founded, &fx->n[0], TEST_LOOP_TIMEOUT_MS));
    assert_true(test_loop_run_until(&fx->loop, refused_once, fx, TEST_LOOP_TIMEOUT_MS));
    test_loop_iterations(&fx->loop, 3);
    assert_int_equal(node_cluster_members(fx->n[0].cl, NULL, 0), 1);
    assert_int_equal(node_cluster_state(fx->n[1].cl), NODE_CLUSTER_JOINING);
    assert_int_equal(node_cluster_myindex(fx->n[1].cl), -1);
    assert_int_equal(fx->n[0].nconfig, 0); /* nothing new installed */
}

static int rejoined(void *arg)
{
    const fx_t *fx = arg;

    return node_cluster_members(fx->n[0].cl, NULL, 0) == 2 ||
           node_cluster_myindex(fx->n[1].cl) >= 0;
}

static void test_cluster_node_that_left_does_not_rejoin_before_it_stops(void **state)
{
    fx_t *fx = *state;

    found_and_join(fx);
    fx->n[1].keep_running = 1; /* its owner stops it later */
    assert_int_equal(node_cluster_leave(fx->n[1].cl), 0);
    assert_true(test_loop_run_until(&fx->loop, one_member_left, fx, JOIN_TIMEOUT_MS));
    /* Decided and reported: it must not come back as a new incarnation. */
    assert_false(test_loop_run_until(&fx->loop, rejoined, fx, 3000));
    assert_int_equal(node_cluster_state(fx->n[1].cl), NODE_CLUSTER_REMOVED);
    assert_int_equal(fx->n[1].nleave_done, 1);
    fx->n[1].keep_running = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cluster_founds_a_one_node_cluster_at_epoch_1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_restart_reads_its_state_file_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_corrupt_state_file_refuses_to_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_busy_bus_port_fails_create_and_leaves_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_second_node_joins_and_both_agree, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_slot_replicas_and_copies_with_r1, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_join_with_the_wrong_secret_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_leave_is_reported_with_on_leave_done, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_shutdown_of_a_member_leaves_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cluster_node_that_left_does_not_rejoin_before_it_stops,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cluster_silent_member_is_removed_by_the_others, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
