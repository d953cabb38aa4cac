/* node/net/node_server.c: the process-wide server: listeners, the client list,
 * the cron timer (active expiry, idle timeouts, ops sampling), signals and
 * graceful shutdown. The one rule: shutdown closes every handle it opened,
 * so the loop runs out and uv_loop_close() returns 0. */
#define _XOPEN_SOURCE 700 /* realpath() */
#include "node/net/node_server.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/core/node_config.h"
#include "node/data/node_db.h"

node_config_t *node_server_config(node_server_t *server)
{
    return &server->config;
}

int64_t node_server_now_ms(const node_server_t *server)
{
    return server->now_ms;
}

void node_server_update_time(node_server_t *server)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    server->now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    server->mono_ms = rc_mono_ms();
}

void node_server_link_client(node_server_t *server, node_conn_t *c)
{
    node_conn_t **head = c->refused ? &server->refused : &server->clients;

    c->prev = NULL;
    c->next = *head;
    if (*head != NULL)
        (*head)->prev = c;
    *head = c;
    if (!c->refused)
        server->nclients++;
}

void node_server_unlink_client(node_server_t *server, node_conn_t *c)
{
    node_conn_t **head = c->refused ? &server->refused : &server->clients;

    if (c->prev == NULL && *head != c)
        return; /* never linked */
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        *head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (!c->refused)
        server->nclients--;
}

uint64_t node_server_ops_per_sec(const node_server_t *server)
{
    uint64_t sum = 0;
    int i;

    for (i = 0; i < NODE_SERVER_OPS_SAMPLES; i++)
        sum += server->ops_samples[i];
    return sum / NODE_SERVER_OPS_SAMPLES;
}

static void on_handle_closed(uv_handle_t *handle)
{
    node_server_t *server = handle->data;

    server->handles_open--;
}

static void close_handle(uv_handle_t *handle)
{
    if (handle->data == NULL || uv_is_closing(handle))
        return;
    uv_close(handle, on_handle_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
    node_server_t *server = listener->data;
    int err;

    if (status < 0) {
        rc_log(RC_LOG_WARNING, "Accepting client connection: %s", rc_strerror(status));
        return;
    }
    node_server_update_time(server);
    err = node_conn_accept(server, listener);
    if (err != 0)
        rc_log(RC_LOG_VERBOSE, "Accepting client connection: %s", rc_strerror(err));
}

static void sample_ops(node_server_t *server)
{
    int64_t dt = server->now_ms - server->ops_last_ms;
    uint64_t ops;

    if (dt < 100)
        return;
    ops = server->stats.total_commands - server->ops_last_commands;
    server->ops_samples[server->ops_idx] = ops * 1000 / (uint64_t)dt;
    server->ops_idx = (server->ops_idx + 1) % NODE_SERVER_OPS_SAMPLES;
    server->ops_last_commands = server->stats.total_commands;
    server->ops_last_ms = server->now_ms;
}

static void close_idle_clients(node_server_t *server)
{
    node_conn_t *c, *next;
    int64_t limit = (int64_t)server->config.timeout * 1000;

    /* Refused connections get 2 s to read their error and hang up. */
    for (c = server->refused; c != NULL; c = next) {
        next = c->next;
        if (server->now_ms - c->ctime_ms > 2000)
            node_conn_close(c, 0);
    }
    for (c = server->clients; c != NULL; c = next) {
        next = c->next;
        if (limit > 0 && server->now_ms - c->last_ms > limit && !c->writing) {
            rc_log(RC_LOG_VERBOSE, "Closing idle client id=%" PRIu64 " addr=%s", c->id, c->addr);
            node_conn_close(c, 0);
        } else if (server->now_ms - c->last_ms >= NODE_CONN_IDLE_TRIM_MS) {
            node_conn_trim(c); /* as Redis shrinks an idle client's query buffer */
        }
    }
}

static int effective_hz(const node_server_t *server)
{
    int hz = server->config.hz;

    return hz < 1 ? 1 : hz > 500 ? 500 : hz;
}

static void on_cron(uv_timer_t *timer)
{
    node_server_t *server = timer->data;
    int hz = effective_hz(server);

    node_server_update_time(server);
    server->cron_loops++;
    node_db_set_now(server->db, server->now_ms);
    /* Active expiry gets a quarter of each period, as Redis's 25% CPU. */
    node_db_cron(server->db, 1000000 / hz / 4);
    if (server->config.maxmemory != 0 && rc_used_memory() > server->config.maxmemory)
        (void)node_db_evict(server->db, server->config.maxmemory, server->config.maxmemory_policy,
                            server->config.maxmemory_samples);
    sample_ops(server);
    close_idle_clients(server);
    if (rc_used_memory() > server->mem_peak)
        server->mem_peak = rc_used_memory();
}

static void on_prepare(uv_prepare_t *prepare)
{
    node_server_t *server = prepare->data;

    server->loop_iter++;
}

/* Once per iteration, after the I/O callbacks: the clients whose forwarded
 * replies arrived write them (and run what a pause left), then the check
 * observers write what was queued on links. A failing link completes
 * requests, which may defer more clients: repeat until quiet, so nothing
 * waits for the next iteration (the loop could block in poll with data
 * unwritten). Connections closed meanwhile are still allocated: libuv
 * frees them in the closing phase, after this one. */
static void on_check(uv_check_t *check)
{
    node_server_t *server = check->data;
    int i;

    do {
        node_conn_t *c;

        while ((c = server->defer_head) != NULL) {
            server->defer_head = c->defer_next;
            c->defer_next = NULL;
            c->deferred = 0;
            node_conn_resume(c);
        }
        for (i = 0; i < server->non_check; i++)
            server->on_check[i](server->on_check_arg[i]);
    } while (server->defer_head != NULL);
}

void node_server_defer(node_server_t *server, node_conn_t *c)
{
    if (server->shutting_down && uv_is_closing((uv_handle_t *)&server->check)) {
        node_conn_resume(c);
        return;
    }
    c->deferred = 1;
    c->defer_next = server->defer_head;
    server->defer_head = c;
}

void node_server_set_key_finder(node_server_t *server, node_conn_key_fn *fn)
{
    server->key_of = fn;
}

void node_server_set_request_handler(node_server_t *server, node_conn_request_fn *fn, void *arg)
{
    server->on_request = fn;
    server->request_arg = arg;
}

void node_server_on_shutdown(node_server_t *server, node_server_shutdown_fn *fn, void *arg)
{
    RC_ASSERT(server->non_shutdown < NODE_SERVER_MAX_OBSERVERS);
    server->on_shutdown[server->non_shutdown] = fn;
    server->on_shutdown_arg[server->non_shutdown++] = arg;
}

void node_server_on_check(node_server_t *server, node_server_check_fn *fn, void *arg)
{
    RC_ASSERT(server->non_check < NODE_SERVER_MAX_OBSERVERS);
    server->on_check[server->non_check] = fn;
    server->on_check_arg[server->non_check++] = arg;
}

static void on_signal(uv_signal_t *sig, int signum)
{
    node_server_t *server = sig->data;

    rc_log(RC_LOG_WARNING, "Received %s scheduling shutdown...",
           signum == SIGINT ? "SIGINT" : "SIGTERM");
    node_server_shutdown(server);
}

void node_server_config_changed(node_server_t *server, const char *name)
{
    if (strcmp(name, "loglevel") == 0) {
        rc_log_level = server->config.loglevel;
    } else if (strcmp(name, "hz") == 0) {
        int hz = effective_hz(server);

        uv_timer_set_repeat(&server->cron, (uint64_t)(1000 / hz));
    } else if (strcmp(name, "maxmemory") == 0) {
        if (server->config.maxmemory != 0 && rc_used_memory() > server->config.maxmemory)
            (void)node_db_evict(server->db, server->config.maxmemory,
                                server->config.maxmemory_policy, server->config.maxmemory_samples);
    }
}

int node_bind_parse(const char *spec, int port, struct sockaddr_storage *ss, int *optional,
                    const char **addr)
{
    const char *a = spec;

    *optional = 0;
    if (a[0] == '-') {
        *optional = 1;
        a++;
    }
    if (strcmp(a, "*") == 0)
        a = "0.0.0.0";
    else if (strcmp(a, "::*") == 0)
        a = "::";
    *addr = a;
    if (uv_ip4_addr(a, port, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(a, port, (struct sockaddr_in6 *)ss) != 0)
        return -EINVAL;
    return 0;
}

/* Binds one address of the 'bind' list (node_bind_parse()). */
static int listen_one(node_server_t *server, const char *spec)
{
    struct sockaddr_storage ss;
    uv_tcp_t *tcp;
    int optional, err;
    const char *addr;

    if (node_bind_parse(spec, server->config.port, &ss, &optional, &addr) != 0) {
        rc_log(RC_LOG_WARNING, "Invalid bind address '%s'", spec);
        return -EINVAL;
    }
    if (server->nlisteners == NODE_SERVER_MAX_LISTENERS)
        return -E2BIG;
    tcp = &server->listeners[server->nlisteners];
    err = uv_tcp_init(server->loop, tcp);
    if (err != 0)
        return err;
    tcp->data = server;
    server->handles_open++;
    server->nlisteners++;
    err = uv_tcp_bind(tcp, (const struct sockaddr *)&ss,
                      ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)tcp, 511, on_connection);
    if (err != 0) {
        close_handle((uv_handle_t *)tcp);
        if (optional && (err == UV_EADDRNOTAVAIL || err == UV_EAFNOSUPPORT))
            return 0;
        rc_log(RC_LOG_WARNING, "Warning: Could not create server TCP listening socket %s:%d: %s",
               addr, server->config.port, rc_strerror(err));
        return err;
    }
    return 0;
}

static int start_listeners(node_server_t *server)
{
    char *copy = rc_xstrdup(server->config.bind != NULL ? server->config.bind : "127.0.0.1");
    char *save = NULL, *tok;
    int err = 0, public = 0;

    for (tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        if (!rc_is_loopback_host(tok[0] == '-' ? tok + 1 : tok))
        public = 1;
        err = listen_one(server, tok);
        if (err != 0)
            break;
    }
    rc_free(copy);
    if (err == 0 && public && server->config.protected_mode && server->config.requirepass == NULL)
        rc_log(
            RC_LOG_WARNING,
            "WARNING: protected mode is on and no password is set: connections from non-loopback addresses will be refused (-DENIED). Set requirepass or 'protected-mode no'.");
    return err;
}

static int write_pidfile(node_server_t *server)
{
    FILE *fp;

    if (server->config.pidfile == NULL)
        return 0;
    fp = fopen(server->config.pidfile, "w");
    if (fp == NULL) {
        rc_log(RC_LOG_WARNING, "Failed to write PID file %s: %s", server->config.pidfile,
               strerror(errno));
        return 0; /* Redis warns and goes on */
    }
    fprintf(fp, "%d\n", (int)getpid());
    fclose(fp);
    return 0;
}

static void make_run_id(node_server_t *server)
{
    static const char hex[] = "0123456789abcdef";
    unsigned seed = (unsigned)getpid() ^ (unsigned)server->now_ms;
    FILE *fp = fopen("/dev/urandom", "rb");
    unsigned char raw[20];
    size_t i;

    if (fp == NULL || fread(raw, 1, sizeof(raw), fp) != sizeof(raw)) {
        for (i = 0; i < sizeof(raw); i++) {
            seed = seed * 1103515245u + 12345u;
            raw[i] = (unsigned char)(seed >> 16);
        }
    }
    if (fp != NULL)
        fclose(fp);
    for (i = 0; i < sizeof(raw); i++) {
        server->run_id[2 * i] = hex[raw[i] >> 4];
        server->run_id[2 * i + 1] = hex[raw[i] & 15];
    }
    server->run_id[40] = '\0';
}

/* Raises RLIMIT_NOFILE to maxclients + 32 as Redis does, or lowers
 * maxclients to what the limit allows. */
static void adjust_open_files(node_server_t *server)
{
    struct rlimit lim;
    rlim_t want = (rlim_t)server->config.maxclients + 32;

    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= want)
        return;
    lim.rlim_cur = want <= lim.rlim_max ? want : lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0 && getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return;
    if (lim.rlim_cur < want) {
        long maxclients = lim.rlim_cur > 32 ? (long)lim.rlim_cur - 32 : 1;

        rc_log(
            RC_LOG_WARNING,
            "You requested maxclients of %ld requiring at least %lu max file descriptors. Server can't set maximum open files to %lu: maxclients has been reduced to %ld.",
            server->config.maxclients, (unsigned long)want, (unsigned long)want, maxclients);
        server->config.maxclients = maxclients;
    }
}

int node_server_create(uv_loop_t *loop, node_config_t *config, const char *config_file,
                       node_server_t **out)
{
    node_server_t *server = rc_xcalloc(1, sizeof(*server));
    int err, hz;

    *out = NULL;
    server->loop = loop;
    server->config = *config;
    memset(config, 0, sizeof(*config)); /* the strings are ours now */
    if (config_file != NULL) {
        char *abs = realpath(config_file, NULL);

        server->config_file = rc_xstrdup(abs != NULL ? abs : config_file);
        free(abs);
    }
    node_server_update_time(server);
    server->start_ms = server->now_ms;
    server->ops_last_ms = server->now_ms;
    make_run_id(server);
    server->db = node_db_create();
    server->readbuf = rc_xmalloc(NODE_SERVER_READBUF);

    adjust_open_files(server);
    err = start_listeners(server);
    if (err != 0)
        goto fail;
    uv_prepare_init(loop, &server->prepare);
    server->prepare.data = server;
    server->handles_open++;
    uv_prepare_start(&server->prepare, on_prepare);
    uv_check_init(loop, &server->check);
    server->check.data = server;
    server->handles_open++;
    uv_check_start(&server->check, on_check);
    hz = effective_hz(server);
    uv_timer_init(loop, &server->cron);
    server->cron.data = server;
    server->handles_open++;
    uv_timer_start(&server->cron, on_cron, (uint64_t)(1000 / hz), (uint64_t)(1000 / hz));
    uv_signal_init(loop, &server->sigterm);
    server->sigterm.data = server;
    server->handles_open++;
    uv_signal_start(&server->sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &server->sigint);
    server->sigint.data = server;
    server->handles_open++;
    uv_signal_start(&server->sigint, on_signal, SIGINT);
    write_pidfile(server);
    *out = server;
    return 0;

fail:
    node_server_shutdown(server);
    /* Let our closes finish, and only ours: the loop may hold other
     * handles (another server, the caller's), which UV_RUN_DEFAULT would
     * serve until they close. */
    while (server->handles_open > 0)
        uv_run(loop, UV_RUN_ONCE);
    node_server_destroy(server);
    return err;
}

void node_server_shutdown(node_server_t *server)
{
    int i;

    if (server->shutting_down)
        return;
    for (i = 0; i < server->non_shutdown; i++) {
        if (server->on_shutdown[i](server->on_shutdown_arg[i]))
            return; /* e.g. leaving the cluster first; called again when done */
    }
    server->shutting_down = 1;
    rc_log(RC_LOG_WARNING, "User requested shutdown...");
    for (i = 0; i < server->nlisteners; i++)
        close_handle((uv_handle_t *)&server->listeners[i]);
    close_handle((uv_handle_t *)&server->cron);
    close_handle((uv_handle_t *)&server->prepare);
    close_handle((uv_handle_t *)&server->sigterm);
    close_handle((uv_handle_t *)&server->sigint);
    /* Closing the handle gives SIGTERM its default action back: a second
     * one (an operator's or a supervisor's repeat) would kill the process
     * halfway through its exit. It is exiting already. */
    (void)signal(SIGTERM, SIG_IGN);
    while (server->clients != NULL)
        node_conn_close(server->clients, 0);
    while (server->refused != NULL)
        node_conn_close(server->refused, 0);
    /* Last: a connection closed above may have been deferred. */
    close_handle((uv_handle_t *)&server->check);
    while (server->defer_head != NULL) {
        node_conn_t *c = server->defer_head;

        server->defer_head = c->defer_next;
        c->defer_next = NULL;
        c->deferred = 0;
        node_conn_resume(c);
    }
}

void node_server_destroy(node_server_t *server)
{
    if (server == NULL)
        return;
    RC_ASSERT(server->clients == NULL && server->refused == NULL);
    if (server->config.pidfile != NULL)
        unlink(server->config.pidfile);
    node_db_destroy(server->db);
    rc_free(server->readbuf);
    rc_free(server->config_file);
    node_config_free(&server->config);
    rc_free(server);
}
