/* node/net/node_server.h: the process-wide server: listeners, clients, timers,
 * signals, stats. Internal to node/. The one rule: everything runs on the
 * one loop thread; shutdown closes every handle so uv_loop_close() is 0. */
#ifndef RC_NODE_NODE_SERVER_H
#define RC_NODE_NODE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "node/core/node.h"
#include "node/net/node_conn.h"

enum node_server_limit_e {
    NODE_SERVER_MAX_LISTENERS = 16,
    NODE_SERVER_READBUF = 64 * 1024, /* shared read buffer */
    NODE_SERVER_READ_CHUNK =
        16 * 1024,                 /* one read per client per iteration (Redis's PROTO_IOBUF_LEN) */
    NODE_SERVER_OPS_SAMPLES = 16,  /* instantaneous_ops_per_sec window */
    NODE_SERVER_MAX_OBSERVERS = 8, /* per kind: shutdown, check */
};

/* Called when shutdown starts, in registration order. Returning 1 makes
 * the shutdown wait: the observer calls node_server_shutdown() again when
 * it is ready (the cluster's graceful leave); 0 lets it go on. */
typedef int node_server_shutdown_fn(void *arg);
/* Called once per loop iteration after the I/O callbacks (a uv_check), in
 * registration order, until no connection waits to be pumped: the place
 * to write what this iteration queued (outgoing links). */
typedef void node_server_check_fn(void *arg);

typedef struct node_stats_s {
    uint64_t total_connections;
    uint64_t total_commands;
    uint64_t rejected_connections;
    uint64_t net_input_bytes;
    uint64_t net_output_bytes;
    uint64_t total_error_replies;
    uint64_t unexpected_error_replies;
    uint64_t oom_rejections;
    uint64_t peer_hangups; /* data links closed by their peer before all they sent ran */
} node_stats_t;

struct node_server_s {
    uv_loop_t *loop;
    node_config_t config;
    node_db_t *db;
    char *config_file; /* absolute path, NULL when none */
    char *executable;

    uv_tcp_t listeners[NODE_SERVER_MAX_LISTENERS];
    int nlisteners;
    uv_timer_t cron;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_prepare_t prepare; /* counts loop iterations, for fair reads */
    uv_check_t check;     /* pumps deferred connections, runs check observers */
    uint64_t loop_iter;
    int handles_open; /* handles still to be closed at shutdown */

    node_conn_t *clients;
    node_conn_t *refused; /* connections refused at accept, draining */
    long nclients;
    uint64_t next_conn_id;
    size_t clients_out_peak;
    size_t mem_peak; /* used_memory_peak */

    int64_t now_ms;  /* wall clock (expiry, as Redis's mstime) */
    int64_t mono_ms; /* rc_mono_ms(), read with it: hand-off timers */
    int64_t start_ms;
    uint64_t cron_loops;
    node_stats_t stats;
    uint64_t ops_samples[NODE_SERVER_OPS_SAMPLES];
    int ops_idx;
    uint64_t ops_last_commands;
    int64_t ops_last_ms;

    node_conn_request_fn *on_request; /* runs the requests of accepted clients */
    void *request_arg;
    node_conn_key_fn *key_of; /* NULL: no prefetching */
    node_conn_t *defer_head;  /* connections to pump once this iteration */
    node_conn_t *held;        /* connections with a parked request (node_conn_hold) */
    size_t nheld;
    node_server_shutdown_fn *on_shutdown[NODE_SERVER_MAX_OBSERVERS];
    void *on_shutdown_arg[NODE_SERVER_MAX_OBSERVERS];
    int non_shutdown;
    node_server_check_fn *on_check[NODE_SERVER_MAX_OBSERVERS];
    void *on_check_arg[NODE_SERVER_MAX_OBSERVERS];
    int non_check;

    char *readbuf;
    int readbuf_busy;
    int shutting_down;
    int exit_code;
    char run_id[41];
};

typedef struct node_server_s node_server_t;

/* Creates the server from parsed 'config' (takes ownership of its strings),
 * binds the listeners, installs the timers and signal handlers. Returns 0
 * and stores the server in '*out', or a negative error (logged). */
int node_server_create(uv_loop_t *loop, node_config_t *config, const char *config_file,
                       node_server_t **out);

/* Sets the handler that runs the requests of every client accepted from
 * now on (main.c: the command dispatcher). */
void node_server_set_request_handler(node_server_t *server, node_conn_request_fn *fn, void *arg);

/* Sets the function that finds a request's key (main.c: the command
 * table's first key): a pipelined batch then has its keys' buckets and
 * objects prefetched before it runs, so their cache misses overlap
 * instead of stalling one command after another. */
void node_server_set_key_finder(node_server_t *server, node_conn_key_fn *fn);

/* Registers a shutdown observer / a check observer (see their types). At
 * most NODE_SERVER_MAX_OBSERVERS of each; aborts past that (a wiring bug). */
void node_server_on_shutdown(node_server_t *server, node_server_shutdown_fn *fn, void *arg);
void node_server_on_check(node_server_t *server, node_server_check_fn *fn, void *arg);

/* Puts 'c' on the list of connections pumped (written, and their paused
 * requests run) once this loop iteration's I/O is done: one write per
 * client per iteration however many forwarded replies arrived. */
void node_server_defer(node_server_t *server, node_conn_t *c);

/* Starts a graceful shutdown: asks the shutdown observers, then stops
 * accepting and closes clients and handles. The loop then runs out; call
 * node_server_destroy() after uv_run(). */
void node_server_shutdown(node_server_t *server);

/* Frees the server once its loop has stopped. NULL is a no-op. */
void node_server_destroy(node_server_t *server);

/* Refreshes the cached clock (called once per loop iteration and at the
 * start of each read batch). */
void node_server_update_time(node_server_t *server);

/* Applies a config change that needs action (loglevel, hz, maxmemory, ...).
 * 'name' is the option just set. */
void node_server_config_changed(node_server_t *server, const char *name);

/* Adds/removes a client to/from the server's list. */
void node_server_link_client(node_server_t *server, node_conn_t *c);
void node_server_unlink_client(node_server_t *server, node_conn_t *c);

/* instantaneous_ops_per_sec. */
uint64_t node_server_ops_per_sec(const node_server_t *server);

/* Parses one address of a bind list for 'port' into '*ss': a leading '-'
 * makes it optional (*optional = 1), as in Redis ("-::*"); "*" and "::*"
 * are every IPv4 / IPv6 address. '*addr' points at the address proper.
 * Returns 0 or -EINVAL. */
int node_bind_parse(const char *spec, int port, struct sockaddr_storage *ss, int *optional,
                    const char **addr);

#endif /* RC_NODE_NODE_SERVER_H */
