/* node/main.c: the ringcached entry point: parse the configuration,
 * run the server on one libuv loop, exit when it has shut down. The one
 * rule: every exit path after startup goes through a clean shutdown, so a
 * leak checker sees nothing. */
#include <errno.h>
#include <execinfo.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* A crash report, as Redis writes one: the signal and the stack, in the
 * log and on stderr (async-signal-safe calls only), then the default
 * action (a core file where enabled). A failed RC_ASSERT (abort) gets one
 * too. Installed in sanitizer builds as well: their heap reports come
 * before any signal, and a bad pointer still leaves the stack. */
static void crash_write(const char *s, size_t len)
{
    int fd = rc_log_fd();

    if (write(fd, s, len) < 0 || fd == STDERR_FILENO)
        return;
    if (write(STDERR_FILENO, s, len) < 0)
        return;
}

static void on_crash(int sig)
{
    static const char head[] = "\n=== RINGCACHED CRASHED === signal ";
    static const char tail[] = ", stack:\n";
    void *frames[64];
    char num[4];
    int n = 0, fd = rc_log_fd();

    crash_write(head, sizeof(head) - 1);
    num[n++] = (char)('0' + sig / 10 % 10);
    num[n++] = (char)('0' + sig % 10);
    crash_write(num, (size_t)n);
    crash_write(tail, sizeof(tail) - 1);
    n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, fd);
    if (fd != STDERR_FILENO)
        backtrace_symbols_fd(frames, n, STDERR_FILENO);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void crash_report_on(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    struct sigaction sa;
    void *warm[1];

    (void)backtrace(warm, 1); /* loads libgcc now, not in the handler */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_crash;
    sa.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

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

/* ---- --probe live|ready [host:]port --------------------------------------
 * A health check for container runtimes and service managers: one blocking
 * connection, a bounded time (PROBE_TIMEOUT_MS in all, an alarm as the
 * backstop for the name lookup), exit 0 when healthy and 1 with a one-line
 * reason on stderr otherwise. live: the node answers PING. ready: it is a
 * member that serves (INFO cluster: cluster_state:ok, cluster_my_role:serving).
 * The password, if any, comes from RINGCACHE_PASSWORD (AUTH). */

enum {
    PROBE_TIMEOUT_MS = 2000,
    PROBE_REPLY_MAX = 65536
};

static void probe_alarm(int sig)
{
    static const char msg[] = "probe: timed out after 2 s\n";

    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        /* nothing more to say */
    }
    _exit(1);
}

static int probe_fail(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int probe_fail(int fd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "probe: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (fd >= 0)
        close(fd);
    return 1;
}

static long probe_left(const uint64_t *start)
{
    return PROBE_TIMEOUT_MS - (long)((uv_hrtime() - *start) / 1000000);
}

/* Waits for 'events' on fd until the deadline: 1 ready, 0 timed out. */
static int probe_wait(int fd, short events, const uint64_t *start)
{
    struct pollfd p;
    long left = probe_left(start);
    int n;

    if (left <= 0)
        return 0;
    p.fd = fd;
    p.events = events;
    do {
        n = poll(&p, 1, (int)left);
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

/* Length of the complete RESP reply at the start of buf (a simple string,
 * error, integer or bulk string), 0 when more bytes are needed, -1 when it
 * is none of those. */
static long probe_reply_len(const char *buf, size_t len)
{
    const char *eol = memchr(buf, '\n', len);
    long n;

    if (eol == NULL)
        return 0;
    if (buf[0] == '+' || buf[0] == '-' || buf[0] == ':')
        return eol - buf + 1;
    if (buf[0] != '$')
        return -1;
    n = strtol(buf + 1, NULL, 10);
    if (n < 0)
        return eol - buf + 1;
    if (n > PROBE_REPLY_MAX)
        return -1;
    return (size_t)(eol - buf + 1) + (size_t)n + 2 <= len ? (eol - buf + 1) + n + 2 : 0;
}

/* Reads the next reply into buf (NUL-terminated). Returns its length, or -1
 * with the reason in why. */
static long probe_read(int fd, char *buf, size_t cap, size_t *have, const uint64_t *start,
                       const char **why)
{
    long n;
    ssize_t r;

    for (;;) {
        if (*have > 0) {
            n = probe_reply_len(buf, *have);
            if (n < 0) {
                *why = "not a RESP reply";
                return -1;
            }
            if (n > 0)
                return n;
        }
        if (*have + 1 >= cap) {
            *why = "reply too long";
            return -1;
        }
        if (!probe_wait(fd, POLLIN, start)) {
            *why = "no reply within 2 s";
            return -1;
        }
        r = read(fd, buf + *have, cap - 1 - *have);
        if (r <= 0) {
            *why = r == 0 ? "connection closed" : strerror(errno);
            return -1;
        }
        *have += (size_t)r;
        buf[*have] = '\0';
    }
}

/* The value of "field:" in an INFO reply, copied to out ("" when absent). */
static void probe_field(const char *info, const char *field, char *out, size_t size)
{
    const char *p = strstr(info, field);
    size_t n;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(field);
    n = strcspn(p, "\r\n");
    snprintf(out, size, "%.*s", (int)n, p);
}

static int probe(int argc, char **argv)
{
    char host[256] = "127.0.0.1", port[16] = "6379", cmd[1024], state[64], role[64];
    const char *mode, *target, *pass = getenv("RINGCACHE_PASSWORD"), *why = NULL, *colon;
    struct addrinfo hints, *res = NULL;
    uint64_t start;
    size_t have = 0, used;
    char *buf;
    long n;
    int fd, err, ready, len;
    socklen_t elen = sizeof(err);

    if (argc < 1 || argc > 2 || (strcmp(argv[0], "live") != 0 && strcmp(argv[0], "ready") != 0))
        return probe_fail(-1, "usage: ringcached --probe live|ready [host:]port");
    mode = argv[0];
    target = argc == 2 ? argv[1] : NULL;
    if (target != NULL) {
        colon = strrchr(target, ':');
        if (colon != NULL) {
            const char *h = target;
            size_t hl = (size_t)(colon - target);

            if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
                h++;
                hl -= 2;
            }
            if (hl == 0 || hl >= sizeof(host))
                return probe_fail(-1, "bad address '%s'", target);
            snprintf(host, sizeof(host), "%.*s", (int)hl, h);
            target = colon + 1;
        }
        n = strspn(target, "0123456789") == strlen(target) ? strtol(target, NULL, 10) : 0;
        if (n <= 0 || n > 65535)
            return probe_fail(-1, "bad port in '%s'", argv[1]);
        snprintf(port, sizeof(port), "%ld", n);
    }
    if (pass != NULL && pass[0] == '\0')
        pass = NULL; /* set but empty: no password, as the entrypoint reads it */
    if (pass != NULL && strlen(pass) > 512)
        return probe_fail(-1, "RINGCACHE_PASSWORD is too long");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, probe_alarm);
    alarm(PROBE_TIMEOUT_MS / 1000 + 1);
    start = uv_hrtime();
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    err = getaddrinfo(host, port, &hints, &res);
    if (err != 0)
        return probe_fail(-1, "cannot resolve '%s': %s", host, gai_strerror(err));
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return probe_fail(-1, "socket: %s", strerror(errno));
    }
    err = connect(fd, res->ai_addr, res->ai_addrlen) == 0 ? 0 : errno;
    freeaddrinfo(res);
    if (err == EINPROGRESS) {
        if (!probe_wait(fd, POLLOUT, &start))
            return probe_fail(fd, "connecting to %s:%s: timed out after 2 s", host, port);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
            err = errno;
    }
    if (err != 0)
        return probe_fail(fd, "cannot connect to %s: %s", host, strerror(err));
    used = 0;
    if (pass != NULL)
        used += (size_t)snprintf(cmd, sizeof(cmd), "*2\r\n$4\r\nAUTH\r\n$%zu\r\n%s\r\n",
                                 strlen(pass), pass);
    len = snprintf(cmd + used, sizeof(cmd) - used, "%s",
                   strcmp(mode, "live") == 0 ? "*1\r\n$4\r\nPING\r\n"
                                             : "*2\r\n$4\r\nINFO\r\n$7\r\ncluster\r\n");
    used += (size_t)len;
    if (!probe_wait(fd, POLLOUT, &start) || write(fd, cmd, used) != (ssize_t)used)
        return probe_fail(fd, "cannot send the request to %s:%s", host, port);
    buf = malloc(PROBE_REPLY_MAX + 64);
    if (buf == NULL)
        return probe_fail(fd, "out of memory");
    if (pass != NULL) {
        n = probe_read(fd, buf, PROBE_REPLY_MAX + 64, &have, &start, &why);
        if (n < 0 || buf[0] != '+') {
            snprintf(cmd, sizeof(cmd), "%.*s", n > 0 ? (int)strcspn(buf, "\r\n") : 0, buf);
            free(buf);
            return probe_fail(fd, "AUTH failed: %s", n < 0 ? why : cmd);
        }
        memmove(buf, buf + n, have - (size_t)n);
        have -= (size_t)n;
        buf[have] = '\0';
    }
    n = probe_read(fd, buf, PROBE_REPLY_MAX + 64, &have, &start, &why);
    close(fd);
    if (n < 0) {
        free(buf);
        return probe_fail(-1, "%s: %s", mode, why);
    }
    if (buf[0] != (strcmp(mode, "live") == 0 ? '+' : '$')) {
        snprintf(cmd, sizeof(cmd), "%.*s", (int)strcspn(buf, "\r\n"), buf);
        free(buf);
        return probe_fail(-1, "%s: unexpected reply '%s'", mode, cmd);
    }
    if (strcmp(mode, "live") == 0) {
        free(buf);
        return 0;
    }
    buf[n] = '\0';
    probe_field(buf, "cluster_state:", state, sizeof(state));
    probe_field(buf, "cluster_my_role:", role, sizeof(role));
    probe_field(buf, "cluster_membership:", cmd, sizeof(cmd));
    free(buf);
    ready = strcmp(state, "ok") == 0 && strcmp(role, "serving") == 0;
    if (!ready) {
        fprintf(stderr, "probe: not ready: cluster_state:%s cluster_my_role:%s membership:%s\n",
                state[0] ? state : "?", role[0] ? role : "?", cmd[0] ? cmd : "?");
        return 1;
    }
    return 0;
}

static void usage(FILE *fp)
{
    fprintf(fp, "Usage: ./ringcached [/path/to/ringcached.conf] [options] [-]\n"
                "       ./ringcached - (read config from stdin)\n"
                "       ./ringcached -v or --version\n"
                "       ./ringcached -h or --help\n"
                "       ./ringcached --probe live|ready [host:]port (health check: exit 0 or 1;\n"
                "                    password from RINGCACHE_PASSWORD)\n"
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
                "cluster-announce-ip, cluster-config-file, join (--join host:port[@busport]),\n"
                "cluster-weight, cluster-leave-timeout, cluster-handoff-timeout,\n"
                "cluster-handoff-hold, cluster-migration-streams, cluster-migration-buffer,\n"
                "cluster-repl-timeout;\n"
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
    if (argc >= 2 && strcmp(argv[1], "--probe") == 0)
        return probe(argc - 2, argv + 2);
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
    crash_report_on();
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
        goto run; /* the loop closes what was opened; the teardown below */
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
    node_server_set_key_finder(server, node_cmd_key_of);
    node_bus_set_request_handler(node_cluster_bus(cl), node_cmd_dispatch, &env);
    rc_log(RC_LOG_NOTICE, "Running mode=cluster, port=%d.", server->config.port);
    rc_log(RC_LOG_NOTICE, "Server initialized");
    rc_log(RC_LOG_NOTICE, "Ready to accept connections");
run:
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
