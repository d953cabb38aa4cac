/* node/main.c: the ringcached entry point: parse the configuration,
 * run the server on one libuv loop, exit when it has shut down. The one
 * rule: every exit path after startup goes through a clean shutdown, so a
 * leak checker sees nothing. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/rc.h"
#include "common/rc_version.h"
#include "node/bus/node_bus.h"
#include "node/cluster/node_cluster.h"
#include "node/cmd/node_cmd.h"
#include "node/core/node_config.h"
#include "node/core/node_notify.h"
#include "node/fwd/node_fwd.h"
#include "node/metrics/node_metrics.h"
#include "node/migrate/node_migrate.h"
#include "node/net/node_server.h"

int main(int argc, char **argv);

/* The graceful leave asked by shutdown is over: shut down for real. */
static void on_leave_done(void *arg)
{
    node_server_shutdown(arg);
}

static const node_cluster_observer_t main_observer = {NULL, on_leave_done, NULL};

/* The service manager's view of the node ($NOTIFY_SOCKET, node_notify.h):
 * its phase, polled every NOTIFY_POLL_MS and at each installed
 * configuration, and STOPPING=1 as soon as a graceful stop begins. */
enum {
    NOTIFY_POLL_MS = 100
};

typedef struct notify_watch_s {
    node_notify_t *n;
    node_server_t *server;
    node_cluster_t *cl;
    node_migrate_t *mig;
    uv_timer_t timer;
    int timer_open;
    int stopping; /* SIGTERM, SHUTDOWN or CLUSTER LEAVE began */
} notify_watch_t;

/* The phase INFO cluster shows (cluster_state, cluster_my_role) and a
 * one-line status for `systemctl status`. */
static node_notify_phase_t notify_phase(notify_watch_t *w, char *status, size_t cap)
{
    node_cluster_member_t me;
    node_cluster_state_t st;
    const node_config_t *cfg = &w->server->config;

    if (w->cl != NULL && node_cluster_leaving(w->cl))
        w->stopping = 1;
    if (w->stopping) {
        if (w->cl != NULL && node_cluster_leaving(w->cl))
            snprintf(status, cap, "leaving: handing slots over (at most %ld ms)",
                     cfg->cluster_leave_timeout);
        else
            snprintf(status, cap, "stopping");
        return NODE_NOTIFY_STOPPING;
    }
    if (w->cl == NULL) {
        snprintf(status, cap, "starting");
        return NODE_NOTIFY_STARTING;
    }
    st = node_cluster_state(w->cl);
    if (node_cluster_member(w->cl, node_cluster_myindex(w->cl), &me) != 0 ||
        st == NODE_CLUSTER_JOINING) {
        snprintf(status, cap, "joining: waiting for the cluster at %s",
                 cfg->join != NULL ? cfg->join : "(own)");
        return node_notify_ready_sent(w->n) ? NODE_NOTIFY_DEGRADED : NODE_NOTIFY_STARTING;
    }
    if (st != NODE_CLUSTER_OK) {
        snprintf(status, cap, "degraded: %s, epoch %llu", node_cluster_state_name(st),
                 (unsigned long long)node_cluster_epoch(w->cl));
        return node_notify_ready_sent(w->n) ? NODE_NOTIFY_DEGRADED : NODE_NOTIFY_STARTING;
    }
    if (me.weight != 0 && me.live_weight == 0) {
        node_migrate_stats_t ms;

        node_migrate_stats(w->mig, &ms);
        if (ms.slots_incoming == 0)
            snprintf(status, cap, "filling: waiting for the slots, epoch %llu",
                     (unsigned long long)node_cluster_epoch(w->cl));
        else
            snprintf(status, cap, "filling: %u of %u slots received, epoch %llu", ms.slots_filled,
                     ms.slots_incoming, (unsigned long long)node_cluster_epoch(w->cl));
        return NODE_NOTIFY_FILLING;
    }
    snprintf(status, cap, "serving: %u slots, %zu members, epoch %llu", me.nprimaries,
             node_cluster_members(w->cl, NULL, 0), (unsigned long long)node_cluster_epoch(w->cl));
    return me.weight != 0 ? NODE_NOTIFY_SERVING : NODE_NOTIFY_DEGRADED;
}

static void notify_check(notify_watch_t *w)
{
    char status[NODE_NOTIFY_STATUS_LEN];
    node_notify_phase_t phase;

    if (w->n == NULL)
        return;
    phase = notify_phase(w, status, sizeof(status));
    /* A leave may take cluster-leave-timeout: tell the manager to wait
     * that long (and a margin) whatever TimeoutStopSec says. */
    node_notify_update(w->n, (int64_t)uv_now(w->server->loop), phase, status,
                       ((uint64_t)w->server->config.cluster_leave_timeout + 30000) * 1000);
}

static void on_notify_timer(uv_timer_t *t)
{
    notify_check(t->data);
}

static void on_notify_config(void *arg)
{
    notify_check(arg);
}

static void on_notify_close(void *arg)
{
    notify_watch_t *w = arg;

    if (w->timer_open) {
        w->timer_open = 0;
        uv_close((uv_handle_t *)&w->timer, NULL);
    }
}

/* First shutdown observer: STOPPING=1 before the cluster starts its leave. */
static int on_notify_shutdown(void *arg)
{
    notify_watch_t *w = arg;

    w->stopping = 1;
    notify_check(w);
    return 0;
}

static const node_cluster_observer_t notify_observer = {on_notify_config, NULL, on_notify_close};

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: ./ringcached [/path/to/ringcached.conf] [options] [-]\n"
                "       ./ringcached - (read config from stdin)\n"
                "       ./ringcached -v or --version\n"
                "       ./ringcached -h or --help\n"
                "\n"
                "Examples:\n"
                "       ./ringcached (run the server with default config)\n"
                "       ./ringcached /etc/ringcached/7001.conf\n"
                "       ./ringcached --port 7777\n"
                "       ./ringcached /etc/myring.conf --loglevel verbose --requirepass secret\n"
                "\n"
                "Options have the names of redis.conf: port, bind, requirepass, protected-mode,\n"
                "maxmemory, maxmemory-policy, maxmemory-samples, maxclients, timeout,\n"
                "tcp-keepalive, proto-max-bulk-len, client-query-buffer-limit, hz, loglevel,\n"
                "logfile, pidfile, dir; cluster: cluster-port, cluster-secret,\n"
                "cluster-node-timeout, cluster-redirects, cluster-replicas,\n"
                "cluster-announce-ip, cluster-config-file, join (--join ip:port[@busport]),\n"
                "cluster-weight, cluster-leave-timeout, cluster-handoff-timeout,\n"
                "cluster-handoff-hold, cluster-migration-streams, cluster-migration-buffer;\n"
                "metrics: metrics-port (0: off), metrics-bind.\n");
}

int main(int argc, char **argv)
{
    node_config_t config;
    node_server_t *server = NULL;
    node_cluster_t *cl = NULL;
    node_fwd_t *fwd = NULL;
    node_migrate_t *mig = NULL;
    node_metrics_t *metrics = NULL;
    node_cmd_env_t env;
    notify_watch_t watch = {0};
    const char *config_file = NULL;
    char err[1024];
    uv_loop_t loop;
    int rc, exit_code, port;

    if (argc == 2 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
        printf("ringcached server v=" RC_VERSION " bits=%d libuv=%s\n", (int)(sizeof(long) * 8),
               uv_version_string());
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    node_config_defaults(&config);
    rc = node_config_load(&config, argc - 1, argv + 1, &config_file, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        node_config_free(&config);
        return 1;
    }
    rc_log_level = config.loglevel;
    if (config.logfile != NULL && rc_log_open(config.logfile) != 0) {
        fprintf(stderr, "Can't open the log file: %s\n", config.logfile);
        node_config_free(&config);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    rc = uv_loop_init(&loop);
    if (rc != 0) {
        fprintf(stderr, "uv_loop_init: %s\n", rc_strerror(rc));
        node_config_free(&config);
        return 1;
    }
    rc_log(RC_LOG_NOTICE, "oO0OoO0OoO0Oo ringcached is starting oO0OoO0OoO0Oo");
    rc_log(RC_LOG_NOTICE, "ringcached version=" RC_VERSION ", bits=%d, pid=%d, just started",
           (int)(sizeof(long) * 8), (int)getpid());
    if (config_file == NULL)
        rc_log(RC_LOG_WARNING, "Warning: no config file specified, using the default config. "
                               "In order to specify a config file use ringcached "
                               "/path/to/ringcached.conf");
    port = config.port;
    rc = node_server_create(&loop, &config, config_file, &server);
    if (rc != 0) {
        rc_log(RC_LOG_WARNING, "Failed listening on port %d (tcp), aborting.", port);
        node_config_free(&config);
        uv_loop_close(&loop);
        return 1;
    }
    watch.server = server;
    watch.n = node_notify_create();
    if (watch.n != NULL)
        node_server_on_shutdown(server, on_notify_shutdown, &watch);
    /* Wiring, bottom up: server (net) <- cluster (+ bus) <- forwarder <-
     * commands. Each room registers its own shutdown observer in that
     * order; requests reach the dispatcher from clients and from peers. */
    rc = node_cluster_create(server, &cl);
    if (rc != 0) {
        rc_log(RC_LOG_WARNING, "Cannot start the cluster, aborting.");
        node_server_shutdown(server);
        uv_run(&loop, UV_RUN_DEFAULT);
        node_server_destroy(server);
        node_notify_destroy(watch.n);
        uv_loop_close(&loop);
        return 1;
    }
    node_cluster_observe(cl, &main_observer, server);
    fwd = node_fwd_create(server, cl);
    mig = node_migrate_create(server, cl);
    /* Last: its shutdown observer runs once the others let shutdown go on,
     * so a leaving node is still scraped while it hands its slots over. */
    if (node_metrics_create(server, cl, fwd, mig, &metrics) != 0) {
        rc_log(RC_LOG_WARNING, "Cannot start the metrics endpoint (metrics-port), aborting.");
        server->exit_code = 1;
        node_server_shutdown(server);
        uv_run(&loop, UV_RUN_DEFAULT);
        node_metrics_destroy(metrics);
        node_migrate_destroy(mig);
        node_fwd_destroy(fwd);
        node_cluster_destroy(cl);
        node_server_destroy(server);
        node_notify_destroy(watch.n);
        uv_loop_close(&loop);
        return 1;
    }
    if (watch.n != NULL) {
        watch.cl = cl;
        watch.mig = mig;
        node_cluster_observe(cl, &notify_observer, &watch);
        uv_timer_init(&loop, &watch.timer);
        watch.timer.data = &watch;
        watch.timer_open = 1;
        uv_timer_start(&watch.timer, on_notify_timer, 0, NOTIFY_POLL_MS);
    }
    env.server = server;
    env.cluster = cl;
    env.fwd = fwd;
    env.migrate = mig;
    node_cmd_start(&env);
    node_server_set_request_handler(server, node_cmd_dispatch, &env);
    node_bus_set_request_handler(node_cluster_bus(cl), node_cmd_dispatch, &env);
    rc_log(RC_LOG_NOTICE, "Running mode=cluster, port=%d.", server->config.port);
    rc_log(RC_LOG_NOTICE, "Server initialized");
    rc_log(RC_LOG_NOTICE, "Ready to accept connections");
    uv_run(&loop, UV_RUN_DEFAULT);
    exit_code = server->exit_code;
    node_metrics_destroy(metrics);
    node_migrate_destroy(mig);
    node_fwd_destroy(fwd);
    node_cluster_destroy(cl);
    node_server_destroy(server);
    node_notify_destroy(watch.n);
    rc = uv_loop_close(&loop);
    if (rc != 0) {
        rc_log(RC_LOG_WARNING, "uv_loop_close: %s (a handle was left open)", rc_strerror(rc));
        exit_code = 1;
    }
    rc_log(RC_LOG_WARNING, "ringcached is now ready to exit, bye bye...");
    rc_log_open(NULL);
    return exit_code;
}
