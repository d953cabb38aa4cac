/* node/metrics/node_metrics.c: the metrics endpoint: listeners, scrape
 * connections, and the rendering of every metric family. The one rule:
 * each connection reads at most one request head into a fixed buffer,
 * answers once, and is closed by its deadline whatever the peer does. */
#include "node/metrics/node_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "common/rc.h"
#include "common/rc_version.h"
#include "node/cmd/node_cmd_stats.h"
#include "node/data/node_db.h"
#include "node/metrics/node_metrics_http.h"
#include "ring/ring.h"

typedef struct mconn_s {
    uv_tcp_t tcp;
    node_metrics_t *m;
    struct mconn_s *prev, *next;
    int64_t deadline;
    int answered; /* the reply is queued: further input is drained and dropped */
    int closing;
    uv_write_t wr;
    uv_shutdown_t sd;
    char *out; /* the reply being written */
    size_t outlen;
    size_t len; /* bytes of the request head in 'buf' */
    char buf[NODE_METRICS_HTTP_MAX_HEADER];
} mconn_t;

struct node_metrics_s {
    node_server_t *server;
    node_cluster_t *cl;
    node_fwd_t *fwd;
    node_migrate_t *mig;
    uv_tcp_t listeners[NODE_METRICS_MAX_LISTENERS];
    int nlisteners;
    uv_timer_t timer;
    int timer_live;
    mconn_t *conns;
    int nconns;
    int shut;
    uint64_t scrapes;
    uint64_t refused; /* connections closed at accept (too many) */
    char drain[4096]; /* input after the request head goes here, unread */
};

/* ---- rendering ------------------------------------------------------------ */

static void family(rc_buf_t *b, const char *name, const char *type, const char *help)
{
    rc_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(rc_buf_t *b, const char *name, const char *help, double v)
{
    family(b, name, "gauge", help);
    rc_buf_printf(b, "%s %.15g\n", name, v);
}

static void counter(rc_buf_t *b, const char *name, const char *help, uint64_t v)
{
    family(b, name, "counter", help);
    rc_buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(rc_buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            rc_buf_putc(b, '\\');
        if (*s == '\n') {
            rc_buf_append_str(b, "\\n");
            continue;
        }
        rc_buf_putc(b, *s);
    }
}

static void render_identity(node_metrics_t *m, rc_buf_t *b)
{
    node_server_t *s = m->server;
    const char *host = s->config.cluster_announce_ip;
    char addr[NODE_CLUSTER_ADDR_MAX + 8];

    if (host == NULL) {
        const char *bind = s->config.bind != NULL ? s->config.bind : "127.0.0.1";
        size_t n = strcspn(bind, " ");

        if (bind[0] == '-') {
            bind++;
            n--;
        }
        snprintf(addr, sizeof(addr), "%.*s:%d", (int)n, bind, s->config.port);
    } else {
        snprintf(addr, sizeof(addr), "%s:%d", host, s->config.port);
    }
    family(b, "ringcache_node_info", "gauge",
           "Identity of this node: its cluster name, version and client address (always 1).");
    rc_buf_append_str(b, "ringcache_node_info{id=\"");
    label_value(b, node_cluster_myname(m->cl));
    rc_buf_append_str(b, "\",version=\"" RC_VERSION "\",addr=\"");
    label_value(b, addr);
    rc_buf_append_str(b, "\"} 1\n");
    gauge(b, "ringcache_uptime_seconds", "Seconds since this node started.",
          (double)(s->now_ms - s->start_ms) / 1000.0);
}

/* My role: serving, filling (joining, slots not served yet) or leaving. */
static const char *my_role(node_metrics_t *m)
{
    node_cluster_member_t me;
    int idx = node_cluster_myindex(m->cl);

    if (node_cluster_leaving(m->cl))
        return "leaving";
    if (idx < 0 || node_cluster_member(m->cl, idx, &me) != 0)
        return "filling"; /* not a member yet */
    if (me.weight == 0)
        return "leaving";
    return me.live_weight == 0 ? "filling" : "serving";
}

static void render_membership(node_metrics_t *m, rc_buf_t *b)
{
    static const char *const roles[] = {"serving", "filling", "leaving"};
    static const char *const states[] = {"ok", "joining", "minority", "removed"};
    node_cluster_state_t st = node_cluster_state(m->cl);
    node_cluster_member_t *ms = rc_xmalloc(PAXOS_MAX_MEMBERS * sizeof(*ms));
    size_t n = node_cluster_members(m->cl, ms, PAXOS_MAX_MEMBERS), alive = 0, i;
    const char *role = my_role(m);
    int myidx = node_cluster_myindex(m->cl);
    unsigned served = 0, unserved = 0, s;
    node_cluster_copies_t copies;

    node_cluster_copies(m->cl, &copies);
    for (i = 0; i < n && i < PAXOS_MAX_MEMBERS; i++)
        alive += ms[i].alive != 0;
    gauge(b, "ringcache_cluster_epoch",
          "Epoch of the membership configuration this node installed.",
          (double)node_cluster_epoch(m->cl));
    gauge(b, "ringcache_cluster_members", "Members of the installed configuration.", (double)n);
    gauge(b, "ringcache_cluster_members_alive",
          "Members this node's failure detector hears from, itself included.", (double)alive);
    gauge(b, "ringcache_cluster_state_ok",
          "1 when this node is a member backed by a quorum of live members and every slot has "
          "a serving primary (CLUSTER INFO cluster_state ok), else 0.",
          st == NODE_CLUSTER_OK && copies.served == RING_SLOTS ? 1 : 0);
    family(b, "ringcache_cluster_state", "gauge",
           "This node's cluster state: 1 for the current one (ok, joining, minority, removed).");
    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        rc_buf_printf(b, "ringcache_cluster_state{state=\"%s\"} %d\n", states[i],
                      strcmp(states[i], node_cluster_state_name(st)) == 0);
    family(b, "ringcache_node_role", "gauge",
           "This node's role in the cluster: 1 for the current one (serving, filling, leaving).");
    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        rc_buf_printf(b, "ringcache_node_role{role=\"%s\"} %d\n", roles[i],
                      strcmp(roles[i], role) == 0);
    gauge(b, "ringcache_cluster_in_transition",
          "1 while the installed configuration moves slots between members.",
          node_cluster_in_transition(m->cl));
    /* Slots: served by me; with no serving primary this node can reach. */
    if (node_cluster_epoch(m->cl) != 0) {
        for (s = 0; s < RING_SLOTS; s++) {
            int p = node_cluster_slot_primary(m->cl, s);

            if (p >= 0 && p == myidx)
                served++;
            if (p < 0 || (size_t)p >= n || !ms[p].alive)
                unserved++;
        }
    }
    rc_free(ms);
    gauge(b, "ringcache_slots_served", "Slots this node serves as primary.", served);
    gauge(b, "ringcache_slots_unserved",
          "Slots whose serving primary, as this node sees it, is none or a member its failure "
          "detector does not hear from.",
          unserved);
    gauge(b, "ringcache_slots_degraded",
          "Slots with fewer live copies than configured: fewer serving copies on members than "
          "min(cluster-replicas + 1, members), lost slots included (CLUSTER INFO "
          "cluster_slots_degraded).",
          copies.degraded);
    gauge(b, "ringcache_slots_lost",
          "Slots whose every copy died: they start empty and answer misses (CLUSTER INFO "
          "cluster_slots_lost).",
          copies.lost);
}

static void render_paxos(node_metrics_t *m, rc_buf_t *b)
{
    node_cluster_stats_t st;
    int i;

    node_cluster_stats(m->cl, &st);
    counter(b, "ringcache_paxos_decisions_total",
            "Membership configurations decided and installed by this node.", st.paxos_decisions);
    family(b, "ringcache_paxos_decision_duration_seconds", "histogram",
           "Time from the start of a proposal this node ran to its decision being installed.");
    for (i = 0; i < NODE_CLUSTER_LATENCY_BUCKETS; i++)
        rc_buf_printf(b,
                      "ringcache_paxos_decision_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                      (double)node_cluster_latency_bound_ms(i) / 1000.0, st.decision_buckets[i]);
    rc_buf_printf(b,
                  "ringcache_paxos_decision_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                  "ringcache_paxos_decision_duration_seconds_sum %.3f\n"
                  "ringcache_paxos_decision_duration_seconds_count %" PRIu64 "\n",
                  st.decision_count, (double)st.decision_sum_ms / 1000.0, st.decision_count);
    counter(b, "ringcache_fd_suspicions_total",
            "Times this node's failure detector started to suspect a member.", st.fd_suspicions);
    counter(b, "ringcache_fd_removals_requested_total",
            "Failed members this node asked Paxos to remove.", st.fd_removals_requested);
    counter(b, "ringcache_bus_frames_sent_total", "Cluster bus frames sent.", st.bus_frames_sent);
    counter(b, "ringcache_bus_frames_received_total", "Cluster bus frames received.",
            st.bus_frames_received);
    counter(b, "ringcache_bus_auth_failures_total", "Bus peers refused at the handshake.",
            st.bus_auth_failures);
    counter(b, "ringcache_bus_bad_frames_total", "Bus connections closed for a malformed frame.",
            st.bus_bad_frames);
    counter(b, "ringcache_forwarded_requests_total",
            "Client requests this node relayed to the member that owns their keys.",
            st.forwarded_commands);
}

static void render_forwarding(node_metrics_t *m, rc_buf_t *b)
{
    uint64_t errs[NODE_FWD_ERR_COUNT];
    int i;

    node_fwd_errors(m->fwd, errs);
    family(b, "ringcache_forward_errors_total", "counter",
           "Forwarded requests answered with a local error, by reason.");
    for (i = 0; i < NODE_FWD_ERR_COUNT; i++)
        rc_buf_printf(b, "ringcache_forward_errors_total{reason=\"%s\"} %" PRIu64 "\n",
                      node_fwd_error_name((node_fwd_error_t)i), errs[i]);
}

static void render_server(node_metrics_t *m, rc_buf_t *b)
{
    node_server_t *s = m->server;

    gauge(b, "ringcache_connected_clients", "Client connections open.", (double)s->nclients);
    counter(b, "ringcache_connections_received_total", "Client connections accepted.",
            s->stats.total_connections);
    counter(b, "ringcache_commands_processed_total", "Commands run.", s->stats.total_commands);
    gauge(b, "ringcache_memory_used_bytes", "Memory allocated by this node (INFO used_memory).",
          (double)rc_used_memory());
    gauge(b, "ringcache_memory_max_bytes", "The maxmemory setting; 0: no limit.",
          (double)s->config.maxmemory);
    gauge(b, "ringcache_keys", "Keys held by this node.", (double)node_db_size(s->db));
    counter(b, "ringcache_metrics_scrapes_total", "Requests answered by this endpoint.",
            m->scrapes);
}

static void render_handoff(node_metrics_t *m, rc_buf_t *b)
{
    node_migrate_stats_t st;

    memset(&st, 0, sizeof(st));
    if (m->mig != NULL)
        node_migrate_stats(m->mig, &st);
    gauge(b, "ringcache_handoff_slots_incoming", "Slots this node will serve, being filled.",
          st.slots_incoming);
    gauge(b, "ringcache_handoff_slots_filled", "Incoming slots whose snapshot is complete.",
          st.slots_filled);
    gauge(b, "ringcache_handoff_slots_outgoing", "Slots this node serves that move elsewhere.",
          st.slots_outgoing);
    counter(b, "ringcache_handoff_keys_sent_total", "Keys streamed to other members.",
            st.keys_sent);
    counter(b, "ringcache_handoff_bytes_sent_total", "Bytes of keys streamed to other members.",
            st.bytes_sent);
    counter(b, "ringcache_handoff_keys_received_total", "Keys received from other members.",
            st.keys_received);
    counter(b, "ringcache_handoff_bytes_received_total",
            "Bytes of keys received from other members.", st.bytes_received);
    counter(b, "ringcache_handoff_slots_sent_total", "Slots handed over (DONE acknowledged).",
            st.slots_sent);
    counter(b, "ringcache_handoff_slots_received_total", "Slots taken over (DONE received).",
            st.slots_received);
    counter(b, "ringcache_handoff_stream_failures_total", "Hand-off streams broken and restarted.",
            st.stream_failures);
}

/* Per-command families, from node/cmd's command statistics (the numbers
 * of INFO commandstats and latencystats), for every command called since
 * the start or CONFIG RESETSTAT. The duration histogram uses every fourth
 * edge of node/cmd's buckets (powers of two of ns, 8 us to 17 s): a bucket
 * counts durations below its bound, at ns resolution. */
enum {
    CMD_EDGE_FIRST = 12, /* bucket whose bound is 2^13 ns, about 8 us */
    CMD_EDGE_STEP = 4,   /* node/cmd has 4 buckets per power of two */
};

static void render_commands(node_metrics_t *m, rc_buf_t *b)
{
    node_cmd_stats_view_t v;
    size_t iter, i;

    (void)m;
    family(b, "ringcache_command_calls_total", "counter",
           "Commands run, per command (forwarded ones count where the client sent them).");
    for (iter = 0; node_cmd_stats_next(&iter, &v);)
        rc_buf_printf(b, "ringcache_command_calls_total{cmd=\"%s\"} %" PRIu64 "\n", v.name,
                      v.calls);
    family(b, "ringcache_command_errors_total", "counter",
           "Commands answered with an error, per command: rejected before they ran (arity, "
           "NOAUTH, OOM, MOVED, TRYAGAIN...) or failed while running.");
    for (iter = 0; node_cmd_stats_next(&iter, &v);) {
        rc_buf_printf(b,
                      "ringcache_command_errors_total{cmd=\"%s\",kind=\"rejected\"} %" PRIu64 "\n",
                      v.name, v.rejected_calls);
        rc_buf_printf(b, "ringcache_command_errors_total{cmd=\"%s\",kind=\"failed\"} %" PRIu64 "\n",
                      v.name, v.failed_calls);
    }
    family(b, "ringcache_command_duration_seconds", "histogram",
           "Time from a command's dispatch to its reply, per command (latency-tracking).");
    for (iter = 0; node_cmd_stats_next(&iter, &v);) {
        uint64_t cum = 0;
        size_t next = CMD_EDGE_FIRST;

        for (i = 0; i + 1 < NODE_CMD_STATS_NBUCKETS; i++) {
            cum += v.buckets[i];
            if (i != next)
                continue;
            next += CMD_EDGE_STEP;
            rc_buf_printf(
                b,
                "ringcache_command_duration_seconds_bucket{cmd=\"%s\",le=\"%.9g\"} %" PRIu64 "\n",
                v.name, (double)node_cmd_stats_bucket_bound_ns(i) / 1e9, cum);
        }
        rc_buf_printf(
            b, "ringcache_command_duration_seconds_bucket{cmd=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
            v.name, v.hist_count);
        rc_buf_printf(b, "ringcache_command_duration_seconds_sum{cmd=\"%s\"} %.9g\n", v.name,
                      (double)v.nsec / 1e9);
        rc_buf_printf(b, "ringcache_command_duration_seconds_count{cmd=\"%s\"} %" PRIu64 "\n",
                      v.name, v.hist_count);
    }
}

void node_metrics_render(node_metrics_t *m, rc_buf_t *out)
{
    render_identity(m, out);
    render_membership(m, out);
    render_paxos(m, out);
    render_forwarding(m, out);
    render_server(m, out);
    render_handoff(m, out);
    render_commands(m, out);
}

/* ---- connections ---------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h)
{
    mconn_t *c = h->data;

    rc_free(c->out);
    rc_free(c);
}

static void conn_close(mconn_t *c)
{
    node_metrics_t *m = c->m;

    if (c->closing)
        return;
    c->closing = 1;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    m->nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown_done(uv_shutdown_t *req, int status)
{
    mconn_t *c = req->data;

    /* Reading goes on (and drains) until the peer closes or the deadline:
     * closing with unread input would reset the connection and could cut
     * the reply short at the peer. */
    if (status != 0)
        conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
    mconn_t *c = req->data;

    rc_free(c->out);
    c->out = NULL;
    if (status != 0 || c->closing) {
        conn_close(c);
        return;
    }
    c->sd.data = c;
    if (uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0)
        conn_close(c);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "HTTP Version Not Supported";
    }
}

static const char index_page[] = "ringcached metrics endpoint: the Prometheus text format is at "
                                 "/metrics\n";

static void respond(mconn_t *c, const node_metrics_http_req_t *req)
{
    node_metrics_t *m = c->m;
    rc_buf_t body, out;
    const char *type = "text/plain; charset=utf-8";
    uv_buf_t ub;
    int status = req->status;

    rc_buf_init(&body);
    rc_buf_init(&out);
    if (status == 200 && req->page == NODE_METRICS_PAGE_METRICS) {
        m->scrapes++;
        node_metrics_render(m, &body);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (status == 200) {
        rc_buf_append_str(&body, index_page);
    } else {
        rc_buf_printf(&body, "%d %s\n", status, reason_phrase(status));
    }
    rc_buf_printf(&out,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                  "Connection: close\r\n\r\n",
                  status, reason_phrase(status), type, body.len,
                  status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!req->head && body.len > 0)
        rc_buf_append(&out, body.data, body.len);
    rc_buf_free(&body);
    c->answered = 1;
    c->out = rc_buf_detach(&out, &c->outlen);
    ub = uv_buf_init(c->out, (unsigned)c->outlen);
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &ub, 1, on_written) != 0)
        conn_close(c); /* on_conn_closed() frees c->out */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    mconn_t *c = h->data;

    (void)suggested;
    if (c->answered)
        *buf = uv_buf_init(c->m->drain, sizeof(c->m->drain));
    else
        *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    mconn_t *c = stream->data;
    node_metrics_http_req_t req;

    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (c->answered || nread == 0)
        return;
    c->len += (size_t)nread;
    if (node_metrics_http_parse(c->buf, c->len, sizeof(c->buf), &req) == 1)
        respond(c, &req);
}

static void on_connection(uv_stream_t *listener, int status)
{
    node_metrics_t *m = listener->data;
    mconn_t *c;

    if (status != 0 || m->shut)
        return;
    c = rc_xcalloc(1, sizeof(*c));
    c->m = m;
    c->tcp.data = c;
    if (uv_tcp_init(m->server->loop, &c->tcp) != 0) {
        rc_free(c);
        return;
    }
    c->next = m->conns;
    if (m->conns != NULL)
        m->conns->prev = c;
    m->conns = c;
    m->nconns++;
    node_server_update_time(m->server);
    c->deadline = m->server->now_ms + NODE_METRICS_TIMEOUT_MS;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (m->nconns > NODE_METRICS_MAX_CONNS) {
        m->refused++;
        rc_log(RC_LOG_VERBOSE, "metrics: more than %d connections, closing a new one",
               NODE_METRICS_MAX_CONNS);
        conn_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_tick(uv_timer_t *t)
{
    node_metrics_t *m = t->data;
    mconn_t *c, *next;

    node_server_update_time(m->server);
    for (c = m->conns; c != NULL; c = next) {
        next = c->next;
        if (m->server->now_ms >= c->deadline)
            conn_close(c);
    }
}

/* ---- lifecycle ------------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h; /* embedded in node_metrics_t, freed by node_metrics_destroy() */
}

static int on_server_shutdown(void *arg)
{
    node_metrics_t *m = arg;
    int i;

    if (m->shut)
        return 0;
    m->shut = 1;
    for (i = 0; i < m->nlisteners; i++)
        uv_close((uv_handle_t *)&m->listeners[i], on_handle_closed);
    if (m->timer_live)
        uv_close((uv_handle_t *)&m->timer, on_handle_closed);
    while (m->conns != NULL)
        conn_close(m->conns);
    return 0;
}

/* Binds one address, with the syntax of 'bind' (node_bind_parse()). */
static int listen_one(node_metrics_t *m, const char *spec, int port)
{
    struct sockaddr_storage ss;
    uv_tcp_t *tcp;
    int optional, err;
    const char *addr;

    if (node_bind_parse(spec, port, &ss, &optional, &addr) != 0) {
        rc_log(RC_LOG_WARNING, "metrics: invalid bind address '%s'", spec);
        return -EINVAL;
    }
    if (m->nlisteners == NODE_METRICS_MAX_LISTENERS) {
        rc_log(RC_LOG_WARNING, "metrics: more than %d bind addresses", NODE_METRICS_MAX_LISTENERS);
        return -E2BIG;
    }
    tcp = &m->listeners[m->nlisteners];
    err = uv_tcp_init(m->server->loop, tcp);
    if (err != 0)
        return err;
    tcp->data = m;
    m->nlisteners++;
    err = uv_tcp_bind(tcp, (const struct sockaddr *)&ss,
                      ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)tcp, 64, on_connection);
    if (err != 0) {
        /* Keep it counted: on_server_shutdown() closes it. */
        if (optional && (err == UV_EADDRNOTAVAIL || err == UV_EAFNOSUPPORT))
            return 0;
        rc_log(RC_LOG_WARNING, "metrics: cannot listen on %s:%d: %s", addr, port, rc_strerror(err));
        return err;
    }
    return 0;
}

int node_metrics_create(node_server_t *server, node_cluster_t *cl, node_fwd_t *fwd,
                        node_migrate_t *mig, node_metrics_t **out)
{
    const node_config_t *cfg = &server->config;
    const char *addrs = cfg->metrics_bind != NULL ? cfg->metrics_bind : cfg->bind;
    node_metrics_t *m;
    char *copy, *save = NULL, *tok;
    int err = 0;

    *out = NULL;
    if (cfg->metrics_port == 0)
        return 0;
    m = rc_xcalloc(1, sizeof(*m));
    m->server = server;
    m->cl = cl;
    m->fwd = fwd;
    m->mig = mig;
    node_server_on_shutdown(server, on_server_shutdown, m);
    copy = rc_xstrdup(addrs != NULL ? addrs : "127.0.0.1");
    for (tok = strtok_r(copy, " ", &save); tok != NULL && err == 0;
         tok = strtok_r(NULL, " ", &save))
        err = listen_one(m, tok, cfg->metrics_port);
    rc_free(copy);
    if (err == 0) {
        err = uv_timer_init(server->loop, &m->timer);
        if (err == 0) {
            m->timer.data = m;
            m->timer_live = 1;
            err = uv_timer_start(&m->timer, on_tick, NODE_METRICS_TICK_MS, NODE_METRICS_TICK_MS);
        }
    }
    *out = m; /* even on failure: the shutdown observer closes what opened */
    if (err != 0)
        return err;
    rc_log(RC_LOG_NOTICE, "metrics: Prometheus endpoint on port %d (%s)", cfg->metrics_port,
           addrs != NULL ? addrs : "127.0.0.1");
    return 0;
}

void node_metrics_destroy(node_metrics_t *m)
{
    rc_free(m);
}
