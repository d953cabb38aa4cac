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
    /* Wiring, bottom up: server (net) <- cluster (+ bus) <- forwarder <-
     * commands. Each room registers its own shutdown observer in that
     * order; requests reach the dispatcher from clients and from peers. */
    rc = node_cluster_create(server, &cl);
    if (rc != 0) {
        rc_log(RC_LOG_WARNING, "Cannot start the cluster, aborting.");
        node_server_shutdown(server);
        uv_run(&loop, UV_RUN_DEFAULT);
        node_server_destroy(server);
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
        uv_loop_close(&loop);
        return 1;
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
    rc = uv_loop_close(&loop);
    if (rc != 0) {
        rc_log(RC_LOG_WARNING, "uv_loop_close: %s (a handle was left open)", rc_strerror(rc));
        exit_code = 1;
    }
    rc_log(RC_LOG_WARNING, "ringcached is now ready to exit, bye bye...");
    rc_log_open(NULL);
    return exit_code;
}
