/* node/bus/node_bus.c: the bus listener and the connections it accepts.
 * The one rule: an accepted connection carries nothing but handshake
 * frames until the peer is authenticated; then a control peer's frames go
 * to the cluster's handler, and a data peer's BATCH frames are unwrapped
 * into requests for the connection, which the command dispatcher runs.
 *
 *   accepted conn --bytes--> session (HELLO/AUTH) --control--> handlers.on_frame
 *                                                 \--data: DATA--> BATCH reader
 *                                                       --> node_conn_feed (requests)
 *   replies of data peers leave as raw RESP, in request order. */
#include "node/bus/node_bus.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/bus/node_bus_internal.h"

/* ---- identity and checks -------------------------------------------------- */

static const char *secret_of(const node_bus_t *bus)
{
    return bus->secret;
}

void node_bus__session_init(node_bus_t *bus, node_bus_session_t *s, int initiator,
                            node_bus_role_t role, int resp)
{
    node_bus_hello_t h;

    memset(&h, 0, sizeof(h));
    if (RAND_bytes(h.nonce, (int)sizeof(h.nonce)) != 1)
        rc_panic(__FILE__, __LINE__, "RAND_bytes failed");
    h.role = (uint8_t)role;
    h.resp = (uint8_t)(role == NODE_BUS_ROLE_DATA ? resp : 0);
    h.placement = bus->placement;
    snprintf(h.bus_addr, sizeof(h.bus_addr), "%s", bus->bus_addr);
    snprintf(h.client_addr, sizeof(h.client_addr), "%s", bus->client_addr);
    node_bus_session_init(s, initiator, &h, secret_of(bus), bus->id, bus->incarnation, bus->epoch);
    s->features = bus->features;
}

void node_bus_set_features(node_bus_t *bus, unsigned features)
{
    bus->features = (uint16_t)features;
}

void node_bus__refused(node_bus_t *bus, const node_bus_session_t *s, const char *addr)
{
    int64_t now = node_bus_now(bus);

    if (s->err == RC_EAUTH)
        bus->stats.auth_failures++;
    else
        bus->stats.bad_frames++;
    if (now - bus->last_refusal_log < 1000)
        return;
    bus->last_refusal_log = now;
    rc_log(RC_LOG_WARNING, "cluster bus: refused %s: %s", addr,
           s->error[0] != '\0' ? s->error : rc_strerror(s->err));
}

void node_bus__check_epoch(node_bus_t *bus, const node_bus_header_t *h)
{
    if (h->epoch < bus->epoch)
        bus->stats.older_frames++;
    else if (h->epoch > bus->epoch && bus->h.on_newer_epoch != NULL)
        bus->h.on_newer_epoch(bus->h.arg, h->epoch);
}

/* ---- accepted connections ------------------------------------------------- */

static void conn_emit(void *arg, const void *bytes, size_t len)
{
    bus_conn_t *bc = arg;

    node_conn_write(bc->conn, bytes, len);
}

static int conn_frame(void *arg, const node_bus_header_t *h, const uint8_t *payload)
{
    bus_conn_t *bc = arg;
    node_bus_t *bus = bc->bus;
    const node_bus_hello_t *peer = node_bus_session_peer(&bc->sess);

    if (peer->role == NODE_BUS_ROLE_DATA) {
        if (h->type != NODE_BUS_DATA ||
            node_bus_data_to_decode(payload, h->len, &bc->conn->peer_to_id,
                                    &bc->conn->peer_to_incarnation) != 0)
            bc->bad = 1;
        else
            bc->data = 1;
        return 1; /* BATCH frames follow: read by batch_read() */
    }
    bus->stats.frames_received++;
    node_bus__check_epoch(bus, h);
    if (h->type == NODE_BUS_DATA || bus->h.on_frame == NULL ||
        bus->h.on_frame(bus->h.arg, peer, h, payload) < 0) {
        bc->bad = 1;
        return 1;
    }
    return 0;
}

/* The peer's DATA frame arrived: answer with ours; from now on its bytes
 * are BATCH frames of requests, and replies leave as raw RESP in the
 * peer's RESP version. */
static void become_data_link(bus_conn_t *bc)
{
    node_bus_t *bus = bc->bus;
    uint8_t frame[NODE_BUS_HEADER];
    size_t n = node_bus_frame(frame, sizeof(frame), NODE_BUS_DATA, bus->id, bus->incarnation,
                              bus->epoch, NULL, 0);
    int resp = node_bus_session_peer(&bc->sess)->resp == 3 ? 3 : 2;

    node_conn_write(bc->conn, frame, n);
    node_conn_take_requests(bc->conn, bus->on_request, bus->request_arg, resp, 1);
    rc_log(RC_LOG_VERBOSE, "conn %" PRIu64 ": data link from %s open (resp %d)", bc->conn->id,
           bc->conn->addr, resp);
}

/* Unwraps BATCH frames: headers are checked (the epoch fences), payloads
 * stream into the connection's request parser without being buffered. */
static int batch_read(bus_conn_t *bc, const char *data, size_t len)
{
    node_bus_t *bus = bc->bus;
    size_t pos = 0;

    while (pos < len && !bc->conn->closing) {
        if (bc->left == 0) {
            node_bus_header_t h;
            size_t take = NODE_BUS_HEADER - bc->hdr_len;

            if (take > len - pos)
                take = len - pos;
            memcpy(bc->hdr + bc->hdr_len, data + pos, take);
            bc->hdr_len += take;
            pos += take;
            if (bc->hdr_len < NODE_BUS_HEADER)
                break;
            bc->hdr_len = 0;
            if (node_bus_batch_decode(bc->hdr, NODE_BUS_HEADER, &h) != 0)
                return RC_EPROTO;
            bus->stats.batches_received++;
            node_bus__check_epoch(bus, &h);
            if (h.epoch > bc->conn->peer_epoch)
                bc->conn->peer_epoch = h.epoch;
            bc->reject = NULL;
            if ((h.flags & NODE_BUS_F_FENCED) && h.epoch < bus->epoch) {
                bus->stats.fenced++;
                bc->reject = "TRYAGAIN stale epoch: the sender's configuration is older";
            }
            bc->left = h.len;
            continue;
        }
        {
            size_t take = len - pos < bc->left ? len - pos : (size_t)bc->left;

            node_conn_feed(bc->conn, data + pos, take, bc->reject);
            pos += take;
            bc->left -= take;
        }
    }
    return 0;
}

static void conn_bytes(void *arg, node_conn_t *c, const char *data, size_t len)
{
    bus_conn_t *bc = arg;
    node_bus_t *bus = bc->bus;
    ssize_t n;

    if (c->closing)
        return;
    if (bc->data) {
        if (batch_read(bc, data, len) != 0) {
            bus->stats.bad_frames++;
            rc_log(RC_LOG_VERBOSE, "conn %" PRIu64 ": bad batch frame on the bus from %s: closing",
                   c->id, c->addr);
            node_conn_close(c, RC_EPROTO);
        }
        return;
    }
    n = node_bus_session_feed(&bc->sess, (const uint8_t *)data, len, conn_emit, bc, conn_frame, bc);
    if (c->closing)
        return; /* a frame's handler shut the node down */
    if (n < 0) {
        node_bus__refused(bus, &bc->sess, c->addr);
        node_conn_close(c, (int)n);
        return;
    }
    if (bc->bad) {
        bus->stats.bad_frames++;
        rc_log(RC_LOG_VERBOSE, "conn %" PRIu64 ": bad frame on the bus from %s: closing", c->id,
               c->addr);
        node_conn_close(c, RC_EPROTO);
        return;
    }
    if (bc->data) {
        become_data_link(bc);
        node_bus_session_free(&bc->sess);
        if ((size_t)n < len)
            conn_bytes(bc, c, data + n, len - (size_t)n);
        return;
    }
    if (!bc->control && node_bus_session_is_open(&bc->sess) &&
        node_bus_session_peer(&bc->sess)->role == NODE_BUS_ROLE_CONTROL)
        bc->control = 1;
}

static void conn_closed(void *arg, node_conn_t *c)
{
    bus_conn_t *bc = arg;
    node_bus_t *bus = bc->bus;

    (void)c;
    if (bc->prev != NULL)
        bc->prev->next = bc->next;
    else
        bus->conns = bc->next;
    if (bc->next != NULL)
        bc->next->prev = bc->prev;
    if (!bc->data)
        node_bus_session_free(&bc->sess);
    rc_free(bc);
}

static const node_conn_raw_t conn_raw = {conn_bytes, conn_closed};

static void on_connection(uv_stream_t *listener, int status)
{
    node_bus_t *bus = listener->data;
    bus_conn_t *bc;
    node_conn_t *c;

    if (status < 0) {
        rc_log(RC_LOG_WARNING, "cluster bus: accept: %s", rc_strerror(status));
        return;
    }
    node_server_update_time(bus->server);
    bc = rc_xcalloc(1, sizeof(*bc));
    bc->bus = bus;
    if (bus->shut || node_conn_accept_raw(bus->server, listener, &conn_raw, bc, &c) != 0) {
        rc_free(bc);
        return;
    }
    bc->conn = c;
    bc->next = bus->conns;
    if (bus->conns != NULL)
        bus->conns->prev = bc;
    bus->conns = bc;
    /* The acceptor always says CONTROL; the peer's HELLO decides the role. */
    node_bus__session_init(bus, &bc->sess, 0, NODE_BUS_ROLE_CONTROL, 0);
    rc_log(RC_LOG_DEBUG, "conn %" PRIu64 ": bus connection from %s", c->id, c->addr);
    node_bus_session_start(&bc->sess, conn_emit, bc);
    node_conn_flush(c); /* our HELLO leaves now */
}

/* Closes accepted connections still in their handshake after
 * NODE_BUS_HANDSHAKE_MS, and open control connections that received
 * nothing for NODE_BUS_IDLE_MS (a peer gone without a FIN: it pings all
 * the time). Data connections are clients: the server's timeout applies. */
static void conns_expire(node_bus_t *bus, int64_t now)
{
    int64_t idle_limit = (int64_t)bus->server->config.timeout * 1000;
    bus_conn_t *bc, *next;

    for (bc = bus->conns; bc != NULL; bc = next) {
        node_conn_t *c = bc->conn;

        next = bc->next;
        if (c->closing)
            continue;
        if (bc->data) {
            /* The server closes only the clients on its own list, which
             * raw connections are not on: apply its timeout here. */
            if (idle_limit > 0 && now - c->last_ms > idle_limit && !c->writing) {
                rc_log(RC_LOG_VERBOSE, "conn %" PRIu64 ": data link from %s idle: closing", c->id,
                       c->addr);
                node_conn_close(c, 0);
            } else if (now - c->last_ms >= NODE_CONN_IDLE_TRIM_MS) {
                node_conn_trim(c); /* a burst's buffers go back */
            }
            continue;
        }
        if (bc->control) {
            if (now - c->last_ms > NODE_BUS_IDLE_MS) {
                rc_log(RC_LOG_VERBOSE, "conn %" PRIu64 ": bus peer %s silent for %d ms: closing",
                       c->id, c->addr, (int)NODE_BUS_IDLE_MS);
                node_conn_close(c, UV_ETIMEDOUT);
            }
        } else if (now - c->ctime_ms > NODE_BUS_HANDSHAKE_MS) {
            rc_log(RC_LOG_VERBOSE, "conn %" PRIu64 ": bus handshake from %s timed out", c->id,
                   c->addr);
            node_conn_close(c, UV_ETIMEDOUT);
        }
    }
}

static void on_tick(uv_timer_t *timer)
{
    node_bus_t *bus = timer->data;

    node_server_update_time(bus->server);
    conns_expire(bus, bus->server->now_ms);
    node_bus__links_tick(bus);
}

static void on_check(void *arg)
{
    node_bus_t *bus = arg;

    if (!bus->shut)
        node_bus__links_flush(bus);
}

/* ---- listeners ------------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h)
{
    node_bus_t *bus = h->data;

    bus->handles--;
}

static int listen_one(node_bus_t *bus, const char *host, int port)
{
    struct sockaddr_storage ss;
    uv_tcp_t *tcp;
    int err;

    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return -EINVAL;
    if (bus->nlisteners == NODE_BUS_MAX_LISTENERS)
        return 0;
    tcp = &bus->listeners[bus->nlisteners];
    uv_tcp_init(bus->loop, tcp);
    tcp->data = bus;
    bus->nlisteners++;
    bus->handles++;
    err = uv_tcp_bind(tcp, (const struct sockaddr *)&ss,
                      ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)tcp, 511, on_connection);
    if (err != 0)
        rc_log(RC_LOG_WARNING, "Could not create the cluster bus listening socket %s:%d: %s", host,
               port, rc_strerror(err));
    return err;
}

/* Binds the bus on the 'bind' addresses; without a secret on the loopback
 * ones only. */
static int listen_all(node_bus_t *bus, const node_bus_config_t *cfg)
{
    char *copy = rc_xstrdup(cfg->bind != NULL ? cfg->bind : "127.0.0.1");
    char *save = NULL, *tok;
    int err = 0, skipped = 0;

    for (tok = strtok_r(copy, " ", &save); tok != NULL && err == 0;
         tok = strtok_r(NULL, " ", &save)) {
        const char *host = tok[0] == '-' ? tok + 1 : tok;

        if (strcmp(host, "*") == 0)
            host = "0.0.0.0";
        else if (strcmp(host, "::*") == 0)
            host = "::";
        if (secret_of(bus)[0] == '\0' && !rc_is_loopback_host(host)) {
            skipped = 1;
            continue;
        }
        err = listen_one(bus, host, cfg->port);
        if (err != 0 && tok[0] == '-')
            err = 0;
    }
    rc_free(copy);
    if (err == 0 && bus->nlisteners == 0)
        err = listen_one(bus, "127.0.0.1", cfg->port);
    if (err == 0 && secret_of(bus)[0] == '\0')
        rc_log(RC_LOG_WARNING,
               "cluster bus: no cluster-secret set: the bus listens on loopback "
               "only%s; set cluster-secret to let nodes on other hosts in",
               skipped ? " (non-loopback bind addresses skipped)" : "");
    return err;
}

/* ---- lifecycle ------------------------------------------------------------ */

int node_bus_shutdown(void *arg)
{
    node_bus_t *bus = arg;
    bus_conn_t *bc;
    int i;

    if (bus->shut)
        return 0;
    bus->shut = 1;
    for (i = 0; i < bus->nlisteners; i++)
        uv_close((uv_handle_t *)&bus->listeners[i], on_handle_closed);
    uv_close((uv_handle_t *)&bus->timer, on_handle_closed);
    node_bus__links_close_all(bus);
    for (bc = bus->conns; bc != NULL; bc = bc->next)
        node_conn_close(bc->conn, 0); /* unlisted in its close callback */
    return 0;
}

int node_bus_create(node_server_t *server, const node_bus_config_t *cfg, node_bus_t **out)
{
    node_bus_t *bus = rc_xcalloc(1, sizeof(*bus));
    const char *secret = cfg->secret != NULL ? cfg->secret : "";
    int err;

    *out = NULL;
    bus->server = server;
    bus->loop = server->loop;
    bus->secret = rc_xstrdup(secret);
    bus->placement = cfg->placement;
    bus->features = NODE_BUS_FEATURES;
    snprintf(bus->bus_addr, sizeof(bus->bus_addr), "%s", cfg->bus_addr);
    snprintf(bus->client_addr, sizeof(bus->client_addr), "%s", cfg->client_addr);
    uv_timer_init(bus->loop, &bus->timer);
    bus->timer.data = bus;
    bus->handles++;
    err = listen_all(bus, cfg);
    if (err != 0) {
        node_bus_shutdown(bus);
        while (bus->handles > 0)
            uv_run(bus->loop, UV_RUN_ONCE); /* lets the closes finish */
        node_bus_destroy(bus);
        return err;
    }
    uv_timer_start(&bus->timer, on_tick, NODE_BUS_TICK_MS, NODE_BUS_TICK_MS);
    node_server_on_check(server, on_check, bus);
    *out = bus;
    return 0;
}

void node_bus_destroy(node_bus_t *bus)
{
    if (bus == NULL)
        return;
    RC_ASSERT(bus->conns == NULL);
    node_bus__links_free(bus);
    rc_free(bus->secret);
    rc_free(bus);
}

void node_bus_set_handlers(node_bus_t *bus, const node_bus_handlers_t *h)
{
    bus->h = *h;
}

void node_bus_set_request_handler(node_bus_t *bus, node_conn_request_fn *fn, void *arg)
{
    bus->on_request = fn;
    bus->request_arg = arg;
}

void node_bus_set_identity(node_bus_t *bus, uint64_t id, uint64_t incarnation)
{
    if (bus->id != 0 && id != bus->id && bus->id > bus->retired_id)
        bus->retired_id = bus->id;
    bus->id = id;
    bus->incarnation = incarnation;
}

int node_bus_addressed_before(const node_bus_t *bus, uint64_t id, uint64_t incarnation)
{
    if (id == 0)
        return 0;
    if (id == bus->id)
        return incarnation != bus->incarnation;
    return id < bus->id || id <= bus->retired_id;
}

void node_bus_set_epoch(node_bus_t *bus, uint64_t epoch)
{
    bus->epoch = epoch;
}

uint64_t node_bus_epoch(const node_bus_t *bus)
{
    return bus->epoch;
}

const node_bus_stats_t *node_bus_stats(const node_bus_t *bus)
{
    return &bus->stats;
}

int64_t node_bus_now(const node_bus_t *bus)
{
    return (int64_t)uv_now(bus->loop);
}
