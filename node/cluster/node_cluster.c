/* node/cluster/node_cluster.c: drives paxos/ over the cluster bus: the state file,
 * the failure detector, outgoing control links, and the view commands read
 * (members, slot table from ring/). The one rule: the Paxos state is on
 * disk (write, fsync, rename) before any message that depends on it
 * leaves, and everything routing reads comes from an installed
 * configuration.
 *
 *   bus frames (node_bus.c) --> on_bus_frame --> paxos_node_on_msg
 *   fd timer (100 ms): PING every member, suspect the silent, report a
 *   failure once a majority of the members I hear from agree
 *   effects: persist --> send (links) --> timer --> install (ring, observers)
 *
 * Outgoing control links are the bus's links (node_link_t), one per bus
 * address, opened on demand; frames wait in a bounded queue while a link
 * connects. Frames that arrive on accepted connections come here through
 * the bus's handlers, and every reply leaves over this node's own link to
 * the sender's bus address. */
#include "node/cluster/node_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <uv.h>

#include "common/rc.h"
#include "member/member.h"
#include "member/member_lease.h"
#include "node/net/node_server.h"
#include "paxos/paxos.h"
#include "ring/ring.h"

enum cluster_limit_e {
    FD_INTERVAL_MS = 100,              /* ping period and failure-detector tick */
    LEASE_MIN_MS = 3 * FD_INTERVAL_MS, /* a lease outlives two lost rounds */
    LEASE_DRIFT_PPM = 10000,           /* clock rates differ by 1 % at most */
    LINK_BACKOFF_MIN_MS = 100,
    LINK_BACKOFF_MAX_MS = 2000,
    LINK_HANDSHAKE_MS = 2000, /* an open that takes longer is retried */
    LINK_IDLE_MS = 30000,     /* links to non-members close when idle */
    LEAVE_LINGER_MS = 500,    /* a leaver removed stays this long (catch-up for the others) */
    LEAVE_RETRY_MS = 500,     /* a leave the configuration does not show is asked again */
    REFUSAL_LOG_MS = 10000,   /* a refused change request is logged this often */
    MAX_OBSERVERS = 8,
    JOIN_RESOLVE_FIRST_MS = 250, /* --join by name: first retry after a failed lookup */
    JOIN_RESOLVE_MAX_MS = 5000,  /* ... doubling up to this */
    JOIN_NAME_MAX = 253,         /* a DNS name's longest text form */
};

/* The lease: half the node timeout (a silent primary stops serving well
 * before the others can remove it), never under LEASE_MIN_MS. */
static int64_t lease_ms(int64_t node_timeout)
{
    return node_timeout / 2 > LEASE_MIN_MS ? node_timeout / 2 : LEASE_MIN_MS;
}

/* A suspicion list from member/ fits in a PING. */
_Static_assert((long)MEMBER_MAX_SUSPECTS <= (long)NODE_BUS_MAX_SUSPECTS, "suspects fit a PING");
_Static_assert((long)MEMBER_NAME_LEN == (long)NODE_CLUSTER_NAME_LEN, "one name format");

struct node_cluster_s {
    node_server_t *server;
    uv_loop_t *loop;
    paxos_node_t *px;
    uv_timer_t paxos_timer;
    uv_timer_t fd_timer;
    node_bus_t *bus;

    char *state_path;
    char client_addr[PAXOS_ADDR_MAX];
    char bus_addr[PAXOS_ADDR_MAX];
    char join_addr[PAXOS_ADDR_MAX]; /* seed's bus address, "" when none */
    /* --join by DNS name: looked up on the loop (uv_getaddrinfo), again
     * with a doubling backoff while it does not resolve; paxos then retries
     * the join by itself while the seed is not up. */
    char join_host[JOIN_NAME_MAX + 1]; /* the name, "" when --join is an address */
    int join_bus_port;
    uv_getaddrinfo_t join_req;
    uv_timer_t join_timer;
    int join_resolving; /* join_req is in flight */
    unsigned join_tries;
    uint64_t join_backoff_ms;
    char myname[NODE_CLUSTER_NAME_LEN + 1];
    uint64_t placement; /* ring_placement_id(): sent in every HELLO */

    /* The installed view. */
    paxos_config_t config;
    ring_t *serving;                      /* the serving placement (member_ring_build2) */
    ring_t *target;                       /* where slots are going (== serving out of transition) */
    member_handoff_t *handoff;            /* per slot: serving and target member index */
    uint64_t departed[PAXOS_MAX_MEMBERS]; /* leavers the last install removed */
    size_t ndeparted;
    int myindex;
    unsigned nprimaries[PAXOS_MAX_MEMBERS];
    member_fd_t *fd;        /* failure detector (member/), aligned with config.members */
    member_lease_t *lease;  /* this node's primary lease (member/member_lease.h) */
    int64_t installed_at;   /* when the installed configuration was */
    int64_t lease_lost_at;  /* when the lease lapsed, 0: holds it (or never did) */
    uint64_t ping_seq;      /* the lease round of the last PINGs */
    uint64_t refused_token; /* last change request refused (logged), by token */
    int64_t refused_log;

    const node_cluster_observer_t *obs[MAX_OBSERVERS];
    void *obs_arg[MAX_OBSERVERS];
    int nobs;
    node_cluster_stats_t stats;
    paxos_msg_t scratch; /* decode buffer, too big for the stack */

    int leave_requested; /* graceful leave asked (CLUSTER LEAVE, shutdown) */
    int stopping;        /* the leave is over (decided or given up): just close */
    int was_member;      /* a member once: not a member now means removed */
    int shutdown_after_leave;
    int64_t leave_deadline;
    int64_t leave_asked_at; /* the last LEAVE request sent */
    int64_t departed_at;    /* removed after leaving: hand-off, then stop */
    int ready_pending;      /* node_cluster_request_ready() asked */
    int (*leave_busy)(void *arg);
    int (*leave_receiving)(void *arg);
    void *leave_busy_arg;
    int closed;
    int persist_failed;
    int64_t proposing_since;                /* ms this node's running proposal started, 0: none */
    uint64_t suspects[MEMBER_MAX_SUSPECTS]; /* the last tick's suspicion list */
    uint32_t nsuspects;
};

static const int64_t latency_bounds_ms[NODE_CLUSTER_LATENCY_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
};

static void link_send(node_cluster_t *cl, const char *addr, uint8_t type, const void *payload,
                      size_t len);
static node_link_t *link_find(node_cluster_t *cl, const char *addr);
static void handle_effects(node_cluster_t *cl, paxos_effects_t *eff);
static int request_own(node_cluster_t *cl, uint8_t kind, uint32_t weight, uint64_t transition);
static void close_handles(node_cluster_t *cl);

/* cluster-secret, "" when none (immutable: CONFIG SET cannot change it). */
static const char *secret_of(const node_cluster_t *cl)
{
    const char *s = cl->server->config.cluster_secret;

    return s != NULL ? s : "";
}

/* rc_mono_ms(), read afresh: lease rounds, installs and takeover bounds
 * are compared with node_migrate's times (the same clock). */
static int64_t now_ms(const node_cluster_t *cl)
{
    (void)cl;
    return rc_mono_ms();
}

enum notify_e {
    NOTIFY_CONFIG,
    NOTIFY_LEAVE_DONE,
    NOTIFY_CLOSE,
};

static void notify(node_cluster_t *cl, enum notify_e what)
{
    int i;

    for (i = 0; i < cl->nobs; i++) {
        const node_cluster_observer_t *o = cl->obs[i];
        void (*fn)(void *) = what == NOTIFY_CONFIG       ? o->on_config
                             : what == NOTIFY_LEAVE_DONE ? o->on_leave_done
                                                         : o->on_close;

        if (fn != NULL)
            fn(cl->obs_arg[i]);
    }
}

/* Frames carry this node's id, incarnation and epoch. */
static void bus_identity(node_cluster_t *cl)
{
    const paxos_state_t *st = paxos_node_state(cl->px);

    node_bus_set_identity(cl->bus, st->id, st->incarnation);
    node_bus_set_epoch(cl->bus, paxos_node_epoch(cl->px));
}

static void random_bytes(void *buf, size_t len)
{
    if (RAND_bytes(buf, (int)len) != 1)
        RC_ASSERT(!"RAND_bytes failed");
}

static uint64_t random_u64_nonzero(void)
{
    uint64_t v = 0;

    while (v == 0)
        random_bytes(&v, sizeof(v));
    return v;
}

/* A member's name, as Redis's 40-hex node ids: its random incarnation
 * (16 hex digits) then its id (24), unique and telling nodes apart at a
 * glance. It is also the member's id on the ring. */
static void make_name(uint64_t id, uint64_t incarnation, char out[NODE_CLUSTER_NAME_LEN + 1])
{
    member_ring_name(id, incarnation, out);
}

/* Splits "host:port" at its last colon. Returns 0 or -EINVAL. */
static int split_addr(const char *addr, char *host, size_t hostsize, int *port)
{
    const char *colon = strrchr(addr, ':');
    char *end;
    long p;

    if (colon == NULL || (size_t)(colon - addr) >= hostsize || colon == addr)
        return -EINVAL;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || p <= 0 || p > 65535)
        return -EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
    }
    *port = (int)p;
    return 0;
}

/* Formats "host:port" ("[host]:port" for IPv6), truncating the host. */
static void join_addr(char *out, size_t size, const char *host, int port)
{
    unsigned p = (unsigned)port & 0xffff;

    if (strchr(host, ':') != NULL)
        snprintf(out, size, "[%.45s]:%u", host, p);
    else
        snprintf(out, size, "%.45s:%u", host, p);
}

static int to_sockaddr(const char *addr, struct sockaddr_storage *ss)
{
    char host[PAXOS_ADDR_MAX];
    int port;

    if (split_addr(addr, host, sizeof(host), &port) != 0)
        return -EINVAL;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0 ||
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    return -EINVAL;
}

/* ---- state file ---------------------------------------------------------- */

static int persist_state(node_cluster_t *cl)
{
    uint8_t *buf = rc_xmalloc(PAXOS_ENCODED_MAX);
    char tmp[4096];
    int n, fd, err = 0;
    size_t off = 0;

    n = paxos_state_encode(paxos_node_state(cl->px), buf, PAXOS_ENCODED_MAX);
    if (n < 0) {
        rc_free(buf);
        return n;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", cl->state_path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc_free(buf);
        return -errno;
    }
    while (off < (size_t)n) {
        ssize_t w = write(fd, buf + off, (size_t)n - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (err == 0 && fsync(fd) != 0)
        err = -errno;
    close(fd);
    rc_free(buf);
    if (err == 0 && rename(tmp, cl->state_path) != 0)
        err = -errno;
    if (err == 0) {
        char dir[4096];
        const char *slash = strrchr(cl->state_path, '/');
        int dfd;

        if (slash != NULL)
            snprintf(dir, sizeof(dir), "%.*s", (int)(slash - cl->state_path + 1), cl->state_path);
        else
            snprintf(dir, sizeof(dir), ".");
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (fsync(dfd) != 0)
                err = -errno;
            close(dfd);
        }
    }
    if (err != 0)
        unlink(tmp);
    return err;
}

/* Reads the state file. Returns 1 with '*st' filled, 0 when there is none,
 * or a negative error (logged). */
static int load_state(const char *path, paxos_state_t *st)
{
    uint8_t *buf;
    FILE *fp = fopen(path, "rb");
    size_t n;
    int err;

    if (fp == NULL) {
        if (errno == ENOENT)
            return 0;
        rc_log(RC_LOG_WARNING, "Cannot open the cluster state file %s: %s", path, strerror(errno));
        return -errno;
    }
    buf = rc_xmalloc(PAXOS_ENCODED_MAX + 1);
    n = fread(buf, 1, PAXOS_ENCODED_MAX + 1, fp);
    fclose(fp);
    err = paxos_state_decode(buf, n, st);
    rc_free(buf);
    if (err != 0) {
        rc_log(RC_LOG_WARNING,
               "The cluster state file %s is corrupt (%zu bytes): move it away to start this "
               "node as a new member",
               path, n);
        return err;
    }
    return 1;
}

/* ---- view ----------------------------------------------------------------- */

static int member_index(const node_cluster_t *cl, uint64_t id)
{
    return paxos_config_find(&cl->config, id);
}

static void update_name(node_cluster_t *cl)
{
    const paxos_state_t *st = paxos_node_state(cl->px);
    char name[NODE_CLUSTER_NAME_LEN + 1];

    make_name(st->id, st->incarnation, name);
    if (strcmp(name, cl->myname) != 0 && cl->myname[0] != '\0')
        rc_log(RC_LOG_NOTICE, "cluster: this node is now %s", name);
    memcpy(cl->myname, name, sizeof(name));
}

/* Rebuilds the view from the newly installed configuration 'c'. */
static void install(node_cluster_t *cl, const paxos_config_t *c)
{
    ring_t *serving = NULL, *target = NULL;
    member_handoff_t *h = rc_xmalloc(sizeof(*h));
    uint32_t i;
    int err;

    err = member_ring_build2(c, &serving, &target);
    if (err == 0)
        err = member_handoff_build(c, serving, target, h);
    if (err != 0) {
        rc_log(RC_LOG_WARNING, "cluster: cannot build the slot table of epoch %" PRIu64 ": %s",
               c->epoch, rc_strerror(err));
        member_ring_free2(serving, target);
        serving = target = NULL;
        rc_free(h);
        h = NULL;
    }
    /* Leavers of the previous configuration that this one removed: they
     * hand their slots over before they go. */
    cl->ndeparted = 0;
    for (i = 0; i < cl->config.nmembers && cl->config.epoch != 0; i++) {
        const paxos_member_t *pm = &cl->config.members[i];

        if (pm->weight == 0 && paxos_config_find(c, pm->id) < 0)
            cl->departed[cl->ndeparted++] = pm->id;
    }
    cl->config = *c;
    member_ring_free2(cl->serving, cl->target);
    cl->serving = serving;
    cl->target = target;
    rc_free(cl->handoff);
    cl->handoff = h;
    memset(cl->nprimaries, 0, sizeof(cl->nprimaries));
    for (i = 0; h != NULL && i < c->nmembers; i++)
        cl->nprimaries[i] = h->nserve[i];
    member_fd_install(cl->fd, now_ms(cl), c, paxos_node_id(cl->px));
    {
        uint64_t ids[PAXOS_MAX_MEMBERS];

        for (i = 0; i < c->nmembers; i++)
            ids[i] = c->members[i].id;
        member_lease_install(cl->lease, c->epoch, ids, c->nmembers, paxos_node_id(cl->px));
    }
    cl->installed_at = now_ms(cl);
    cl->myindex = member_index(cl, paxos_node_id(cl->px));
    if (cl->myindex >= 0)
        cl->was_member = 1;
    update_name(cl);
    cl->stats.configs_installed++;
}

static void log_installed(node_cluster_t *cl)
{
    char line[1024];
    size_t used = 0;
    uint32_t i;

    for (i = 0; i < cl->config.nmembers && used < sizeof(line); i++)
        used += (size_t)snprintf(line + used, sizeof(line) - used, "%s%" PRIu64 "@%s", i ? " " : "",
                                 cl->config.members[i].id, cl->config.members[i].client_addr);
    rc_log(RC_LOG_NOTICE, "cluster: epoch %" PRIu64 " installed, %u member(s): %s%s",
           cl->config.epoch, cl->config.nmembers, line,
           cl->myindex >= 0 ? "" : " (this node is not a member)");
}

/* ---- effects -------------------------------------------------------------- */

static void request_ready(node_cluster_t *cl);

static void on_paxos_timer(uv_timer_t *t)
{
    node_cluster_t *cl = t->data;
    paxos_effects_t eff;

    paxos_node_tick(cl->px, (uint64_t)now_ms(cl), &eff);
    handle_effects(cl, &eff);
    if (cl->ready_pending)
        request_ready(cl);
}

static const char *seed_for_rejoin(const node_cluster_t *cl)
{
    uint64_t me = paxos_node_id(cl->px);
    uint32_t i;

    for (i = 0; i < cl->config.nmembers; i++) {
        if (cl->config.members[i].id != me)
            return cl->config.members[i].bus_addr;
    }
    return cl->join_addr[0] != '\0' ? cl->join_addr : NULL;
}

/* Counts the epochs 'eff' installed, and the latency of this node's
 * proposal that led to them. */
static void count_decisions(node_cluster_t *cl, const paxos_effects_t *eff, int64_t now)
{
    int64_t ms;
    int i;

    cl->stats.paxos_decisions +=
        eff->installed_to - (eff->installed_from != 0 ? eff->installed_from : eff->installed_to) +
        1;
    if (cl->proposing_since == 0)
        return;
    ms = now > cl->proposing_since ? now - cl->proposing_since : 0;
    cl->proposing_since = 0;
    for (i = 0; i < NODE_CLUSTER_LATENCY_BUCKETS; i++) {
        if (ms <= latency_bounds_ms[i])
            cl->stats.decision_buckets[i]++;
    }
    cl->stats.decision_count++;
    cl->stats.decision_sum_ms += (uint64_t)ms;
}

int64_t node_cluster_latency_bound_ms(int i)
{
    RC_ASSERT(i >= 0 && i < NODE_CLUSTER_LATENCY_BUCKETS);
    return latency_bounds_ms[i];
}

static void handle_effects(node_cluster_t *cl, paxos_effects_t *eff)
{
    paxos_out_t *out;
    uint8_t *buf;
    int64_t now = now_ms(cl);

    if (cl->closed)
        return;
    if (eff->persist) {
        int err = persist_state(cl);

        if (err != 0) {
            /* Nothing that depends on the unwritten state may leave. */
            paxos_out_t drop;

            if (!cl->persist_failed)
                rc_log(RC_LOG_WARNING,
                       "cluster: cannot write the state file %s: %s; not answering the bus "
                       "until it works",
                       cl->state_path, rc_strerror(err));
            cl->persist_failed = 1;
            while (paxos_node_pop(cl->px, &drop))
                ;
            eff->nsend = 0;
        } else {
            cl->persist_failed = 0;
        }
    }
    if (eff->nsend > 0) {
        out = rc_xmalloc(sizeof(*out));
        buf = rc_xmalloc(PAXOS_ENCODED_MAX);
        while (paxos_node_pop(cl->px, out)) {
            int n = paxos_msg_encode(&out->msg, buf, PAXOS_ENCODED_MAX);

            if (n > 0)
                link_send(cl, out->addr, NODE_BUS_PAXOS, buf, (size_t)n);
        }
        rc_free(buf);
        rc_free(out);
    }
    if (eff->installed_to != 0)
        count_decisions(cl, eff, now);
    else if (!paxos_node_proposing(cl->px))
        cl->proposing_since = 0; /* gave up, or another coordinator took over */
    if (cl->proposing_since == 0 && paxos_node_proposing(cl->px))
        cl->proposing_since = now > 0 ? now : 1;
    if (eff->installed_to != 0) {
        const paxos_config_t *c = paxos_node_config(cl->px, eff->installed_to);

        if (c != NULL) {
            install(cl, c);
            bus_identity(cl);
            log_installed(cl);
            notify(cl, NOTIFY_CONFIG);
        }
    }
    if (eff->removed) {
        if (cl->shutdown_after_leave) {
            if (cl->departed_at == 0) {
                rc_log(RC_LOG_NOTICE,
                       "cluster: left the cluster (epoch %" PRIu64
                       "); handing the last slots over, then shutting down",
                       paxos_node_epoch(cl->px));
                cl->departed_at = now;
                /* Its hand-overs end when their targets are removed
                 * too: it goes on learning the configurations. */
                paxos_node_follow(cl->px, 1);
            }
        } else if (!cl->stopping) { /* a node that left stays out until it stops */
            const char *seed = seed_for_rejoin(cl);
            uint64_t inc = random_u64_nonzero();
            paxos_effects_t e2;

            if (seed != NULL && paxos_node_rejoin(cl->px, (uint64_t)now, inc, seed, &e2) == 0) {
                rc_log(RC_LOG_NOTICE,
                       "cluster: this node was removed (epoch %" PRIu64
                       "); rejoining through %s as incarnation %016" PRIx64,
                       paxos_node_epoch(cl->px), seed, inc);
                cl->leave_requested = 0;
                update_name(cl);
                bus_identity(cl);
                handle_effects(cl, &e2);
                return;
            }
        }
    }
    if (eff->wake_at != 0) {
        uint64_t delay = eff->wake_at > (uint64_t)now ? eff->wake_at - (uint64_t)now : 0;

        uv_timer_start(&cl->paxos_timer, on_paxos_timer, delay, 0);
    }
}

/* ---- outgoing links ------------------------------------------------------- */

static int on_link_frame(void *arg, node_link_t *l, const node_bus_header_t *h,
                         const uint8_t *payload);

static const node_link_ops_t link_ops = {NULL, on_link_frame, NULL, NULL, NULL};

static node_link_t *link_get(node_cluster_t *cl, const char *addr)
{
    node_link_opts_t o;

    memset(&o, 0, sizeof(o));
    o.role = NODE_BUS_ROLE_CONTROL;
    o.backoff_min_ms = LINK_BACKOFF_MIN_MS;
    o.backoff_max_ms = LINK_BACKOFF_MAX_MS;
    o.handshake_ms = LINK_HANDSHAKE_MS;
    return node_link_get(cl->bus, addr, &o, &link_ops, cl);
}

static void link_send(node_cluster_t *cl, const char *addr, uint8_t type, const void *payload,
                      size_t len)
{
    node_link_t *l;

    if (cl->closed || addr[0] == '\0' || strcmp(addr, cl->bus_addr) == 0)
        return;
    l = link_get(cl, addr);
    if (l != NULL)
        (void)node_link_send(l, type, payload, len); /* dropped when full: paxos retries */
}

static int is_member_addr(const node_cluster_t *cl, const char *addr)
{
    uint32_t i;

    for (i = 0; i < cl->config.nmembers; i++) {
        if (strcmp(cl->config.members[i].bus_addr, addr) == 0)
            return 1;
    }
    return 0;
}

/* Links to non-members close when idle (joiners and removed nodes we
 * answered). */
static void links_tick(node_cluster_t *cl)
{
    node_link_t *ls[64];
    size_t n = node_bus_links(cl->bus, NODE_BUS_ROLE_CONTROL, ls, RC_ARRAY_SIZE(ls)), i;

    for (i = 0; i < n && i < RC_ARRAY_SIZE(ls); i++) {
        if (node_link_idle_ms(ls[i]) > LINK_IDLE_MS && !is_member_addr(cl, node_link_addr(ls[i])))
            node_link_close(ls[i], "idle link to a non-member", 1);
    }
}

static node_link_t *link_find(node_cluster_t *cl, const char *addr)
{
    return node_bus_find_link(cl->bus, addr, NODE_BUS_ROLE_CONTROL);
}

/* ---- failure detector (rules and state: member/member_fd.c) --------------- */

/* Hands the detector what it reads from elsewhere: the node timeout
 * (CONFIG SET may change it) and each member's count of consecutive
 * connection refusals on its link. */
static void fd_sync(node_cluster_t *cl)
{
    uint32_t i;

    member_fd_set_timeout(cl->fd, cl->server->config.cluster_node_timeout);
    for (i = 0; i < cl->config.nmembers; i++) {
        node_link_t *l = link_find(cl, cl->config.members[i].bus_addr);

        member_fd_set_refused(cl->fd, cl->config.members[i].id,
                              l != NULL ? (unsigned)node_link_refusals(l) : 0);
    }
}

/* A PING or PONG from a member: its suspects; a PONG (the answer to one of
 * my pings) also shows it hears me, which is what "alive" means here: a
 * node that can send but not receive (a one-way partition) is failed. */
static void heard(node_cluster_t *cl, const node_bus_header_t *h, const node_bus_ping_t *p)
{
    paxos_effects_t eff;
    int i;

    if (!member_fd_on_heard(cl->fd, now_ms(cl), h->id, h->incarnation, h->type == NODE_BUS_PONG,
                            p->suspects, p->nsuspects))
        return;
    i = member_index(cl, h->id);
    rc_log(RC_LOG_NOTICE, "cluster: member %" PRIu64 " (%s) answers again", h->id,
           i >= 0 ? cl->config.members[i].client_addr : "?");
    paxos_node_on_fd(cl->px, (uint64_t)now_ms(cl), h->id, 1, &eff);
    handle_effects(cl, &eff);
}

/* This node has accepted a value in the instance after its installed
 * configuration (a change is being decided). */
static int accepted_next(const node_cluster_t *cl)
{
    const paxos_state_t *st = paxos_node_state(cl->px);

    return st->accepted.round != 0 && st->accepted_value.epoch > cl->config.epoch;
}

/* The grantor's rule (member_lease_may_grant()): a PING of my epoch from a
 * member of it (same incarnation), while I have accepted nothing in this
 * instance; so every grant precedes the decision of the next configuration. */
static int may_grant(const node_cluster_t *cl, const node_bus_header_t *h)
{
    int i = member_index(cl, h->id);

    return member_lease_may_grant(cl->config.epoch, accepted_next(cl), h->epoch,
                                  i >= 0 && cl->config.members[i].incarnation == h->incarnation &&
                                      cl->myindex >= 0);
}

/* Logs when the lease lapses (a member that serves nothing until a
 * majority grants a round again) and when it is back, with how long. */
static void lease_watch(node_cluster_t *cl, int64_t now)
{
    int valid = member_lease_valid(cl->lease, now);

    if (!valid && cl->lease_lost_at == 0 && member_lease_until(cl->lease) != 0) {
        cl->lease_lost_at = member_lease_until(cl->lease);
        cl->stats.lease_lapses++;
        rc_log(RC_LOG_WARNING,
               "cluster: lease lapsed (no majority granted a round for %" PRId64
               " ms): this node's slots wait",
               now - cl->lease_lost_at + lease_ms(cl->server->config.cluster_node_timeout));
    } else if (valid && cl->lease_lost_at != 0) {
        rc_log(RC_LOG_NOTICE, "cluster: lease back after %" PRId64 " ms", now - cl->lease_lost_at);
        cl->lease_lost_at = 0;
    }
}

/* The same rule for this node's own grant in its rounds. */
static int self_may_grant(const node_cluster_t *cl)
{
    return member_lease_may_grant(cl->config.epoch, accepted_next(cl), cl->config.epoch,
                                  cl->myindex >= 0);
}

static void send_ping(node_cluster_t *cl, const char *addr, uint8_t type, uint64_t seq,
                      uint64_t sent, const node_bus_ping_t *mine)
{
    uint8_t buf[NODE_BUS_PING_MAX];
    node_bus_ping_t p = *mine;
    int n;

    p.seq = seq;
    p.sent_ms = sent;
    n = node_bus_ping_encode(&p, buf, sizeof(buf));
    if (n > 0)
        link_send(cl, addr, type, buf, (size_t)n);
}

static void my_suspects(node_cluster_t *cl, int64_t now, node_bus_ping_t *p)
{
    memset(p, 0, sizeof(*p));
    fd_sync(cl);
    p->nsuspects = member_fd_suspect_list(cl->fd, now, p->suspects, NODE_BUS_MAX_SUSPECTS);
}

/* Counts the members in this tick's suspicion list that were not in the
 * last one. */
static void count_suspicions(node_cluster_t *cl, const member_fd_tick_t *t)
{
    uint32_t i, j, n = t->nsuspects < MEMBER_MAX_SUSPECTS ? t->nsuspects : MEMBER_MAX_SUSPECTS;

    for (i = 0; i < n; i++) {
        for (j = 0; j < cl->nsuspects && cl->suspects[j] != t->suspects[i]; j++)
            ;
        if (j == cl->nsuspects)
            cl->stats.fd_suspicions++;
    }
    memcpy(cl->suspects, t->suspects, n * sizeof(*cl->suspects));
    cl->nsuspects = n;
}

static void fd_tick(node_cluster_t *cl)
{
    int64_t now = now_ms(cl);
    member_fd_tick_t *t = rc_xmalloc(sizeof(*t));
    node_bus_ping_t mine;
    uint32_t i;
    uint64_t epoch = cl->config.epoch;

    if (cl->myindex < 0)
        goto done; /* not a member: no pings, no reports */
    my_suspects(cl, now, &mine);
    /* Every PING is a lease round; the PONGs that grant it renew the lease
     * (a one-member configuration holds it at once). */
    cl->ping_seq = member_lease_round(cl->lease, now, self_may_grant(cl));
    lease_watch(cl, now);
    for (i = 0; i < cl->config.nmembers; i++) {
        if ((int)i != cl->myindex)
            send_ping(cl, cl->config.members[i].bus_addr, NODE_BUS_PING, cl->ping_seq,
                      (uint64_t)now, &mine);
    }
    /* A send can fail a link at once (a reset): decide on the links as
     * they are now, as the pings above were sent with the list before. */
    fd_sync(cl);
    member_fd_tick(cl->fd, now, t);
    count_suspicions(cl, t);
    if (t->minority_changed)
        rc_log(RC_LOG_WARNING,
               t->minority ? "cluster: this node hears from %u of %u members, not a majority: "
                             "it cannot change the membership"
                           : "cluster: this node hears from %u of %u members again",
               t->alive, t->nmembers);
    /* Each report: a majority of the members I hear from (me included)
     * suspect it too, so one bad link cannot remove anybody. */
    for (i = 0; i < t->nreports; i++) {
        const member_fd_report_t *r = &t->reports[i];
        int m = member_index(cl, r->id);
        paxos_effects_t eff;

        rc_log(RC_LOG_WARNING,
               "cluster: member %" PRIu64 " (%s) silent for %" PRId64
               " ms, %u of %u monitors agree: asking for its removal",
               r->id, m >= 0 ? cl->config.members[m].client_addr : "?", r->silent, r->agree,
               r->voters);
        cl->stats.fd_removals_requested++;
        paxos_node_on_fd(cl->px, (uint64_t)now, r->id, 0, &eff);
        handle_effects(cl, &eff);
        if (cl->closed || cl->config.epoch != epoch)
            break; /* a new configuration: the detector starts over on it */
    }
done:
    rc_free(t);
}

/* The graceful leave is over (handed off, or given up): observers stop
 * the process. */
static void leave_over(node_cluster_t *cl)
{
    cl->leave_deadline = 0;
    cl->shutdown_after_leave = 0;
    cl->leave_requested = 0;
    cl->stopping = 1;
    notify(cl, NOTIFY_LEAVE_DONE);
}

/* Sends this node's LEAVE request to the coordinator (again: a request the
 * configuration cannot take is dropped, and applying one twice is a no-op). */
static int request_leave(node_cluster_t *cl)
{
    cl->leave_asked_at = now_ms(cl);
    return request_own(cl, PAXOS_CHANGE_LEAVE, 0, 0);
}

static void on_fd_timer(uv_timer_t *t)
{
    node_cluster_t *cl = t->data;
    int leaving_member; /* asked to leave, still a member */

    if (cl->closed)
        return;
    fd_tick(cl);
    if (cl->closed)
        return;
    links_tick(cl);
    leaving_member =
        cl->leave_requested && cl->departed_at == 0 && !cl->stopping && cl->myindex >= 0;
    if (cl->departed_at != 0 && !cl->stopping && now_ms(cl) - cl->departed_at >= LEAVE_LINGER_MS &&
        (cl->leave_busy == NULL || !cl->leave_busy(cl->leave_busy_arg))) {
        rc_log(RC_LOG_NOTICE, "cluster: every slot handed over; shutting down");
        leave_over(cl);
    } else if (leaving_member && cl->config.nmembers <= 1 &&
               (cl->leave_receiving == NULL || !cl->leave_receiving(cl->leave_busy_arg))) {
        /* The others left first (every node stopped at once, say): the
         * last member cannot leave (a configuration keeps one member) and
         * has no one to hand its slots to, so waiting for the leave would
         * only hold it until cluster-leave-timeout. It takes the slots the
         * leavers hand it first: they wait for that to end. */
        rc_log(RC_LOG_NOTICE, "cluster: the last member: no one to hand the slots over to; "
                              "shutting down");
        leave_over(cl);
    } else if (cl->leave_deadline != 0 && now_ms(cl) > cl->leave_deadline && !cl->stopping) {
        rc_log(RC_LOG_WARNING,
               "cluster: the leave did not finish within %lld ms (cluster-leave-timeout)%s; "
               "shutting down anyway",
               (long long)cl->server->config.cluster_leave_timeout,
               cl->departed_at != 0 ? " (slots still being handed over)"
                                    : " (the hand-off was not agreed yet)");
        leave_over(cl);
    } else if (leaving_member && cl->config.nmembers > 1 &&
               cl->config.members[cl->myindex].weight > 0 &&
               now_ms(cl) - cl->leave_asked_at >= LEAVE_RETRY_MS) {
        /* Its leave is not in the configuration: the request was a no-op
         * (only leavers would have been left to take its slots), or the
         * removal of the last member that was staying gave the leavers
         * their weights back (paxos_config.c). Several nodes stopped at
         * once while one of them dies, say: ask again, so one leaver after
         * the other hands its slots to the rest and the last one exits. */
        (void)request_leave(cl);
    }
}

/* ---- bus entry points ----------------------------------------------------- */

/* A change request the installed configuration cannot take (paxos drops it
 * as a no-op): says why, once per requester token per REFUSAL_LOG_MS (a
 * joiner retries). Requests with a weight outside 1..PAXOS_MAX_WEIGHT do
 * not get here: they do not decode. */
static void log_refused_request(node_cluster_t *cl, const paxos_change_t *ch, const char *addr)
{
    int64_t now = now_ms(cl);
    const char *why;
    int err;

    if (cl->myindex < 0 || (err = paxos_config_admits(&cl->config, ch)) == 0)
        return;
    if (ch->incarnation == cl->refused_token && now - cl->refused_log < REFUSAL_LOG_MS)
        return;
    cl->refused_token = ch->incarnation;
    cl->refused_log = now;
    why = err == -ENOSPC ? "the cluster has the most members it can have"
                         : "the members' total weight would pass what the slot table can place";
    if (ch->kind == PAXOS_CHANGE_JOIN)
        rc_log(RC_LOG_WARNING,
               "cluster: refusing the join of %s (token %016" PRIx64 ", weight %u, via %s) at "
               "epoch %" PRIu64 ": %s",
               ch->bus_addr, ch->incarnation, ch->weight, addr, cl->config.epoch, why);
    else
        rc_log(RC_LOG_WARNING,
               "cluster: refusing weight %u for member %" PRIu64 " (via %s) at epoch %" PRIu64
               ": %s",
               ch->weight, ch->id, addr, cl->config.epoch, why);
}

/* A control frame from the authenticated peer 'peer', on an accepted
 * connection or on one of our links. */
static int on_bus_frame(void *arg, const node_bus_hello_t *peer, const node_bus_header_t *h,
                        const uint8_t *payload)
{
    node_cluster_t *cl = arg;
    paxos_effects_t eff;
    node_bus_ping_t p;
    int err;

    if (cl->closed)
        return 0;
    switch (h->type) {
    case NODE_BUS_PAXOS:
        err = paxos_msg_decode(payload, h->len, &cl->scratch);
        if (err != 0)
            return err;
        if (cl->scratch.type == PAXOS_MSG_REQUEST)
            log_refused_request(cl, &cl->scratch.change,
                                peer != NULL && peer->bus_addr[0] != '\0' ? peer->bus_addr : "?");
        paxos_node_on_msg(cl->px, (uint64_t)now_ms(cl), &cl->scratch, &eff);
        handle_effects(cl, &eff);
        return 0;
    case NODE_BUS_PING:
    case NODE_BUS_PONG:
        err = node_bus_ping_decode(payload, h->len, &p);
        if (err != 0)
            return err;
        heard(cl, h, &p);
        if (h->type == NODE_BUS_PONG && p.lease &&
            member_lease_on_grant(cl->lease, h->epoch, p.seq, h->id))
            cl->stats.lease_renewals++;
        if (h->type == NODE_BUS_PING && peer != NULL && peer->bus_addr[0] != '\0') {
            node_bus_ping_t mine;

            my_suspects(cl, now_ms(cl), &mine);
            mine.lease = (uint8_t)may_grant(cl, h);
            send_ping(cl, peer->bus_addr, NODE_BUS_PONG, p.seq, p.sent_ms, &mine);
        }
        return 0;
    default:
        return RC_EPROTO;
    }
}

static int on_link_frame(void *arg, node_link_t *l, const node_bus_header_t *h,
                         const uint8_t *payload)
{
    return on_bus_frame(arg, node_link_peer(l), h, payload) != 0;
}

/* A frame says its sender installed a newer epoch: catch up now rather
 * than at the next anti-entropy round. */
static void on_newer_epoch(void *arg, uint64_t epoch)
{
    node_cluster_t *cl = arg;
    paxos_effects_t eff;

    if (cl->closed || cl->px == NULL)
        return;
    paxos_node_note_epoch(cl->px, (uint64_t)now_ms(cl), epoch, &eff);
    handle_effects(cl, &eff);
}

/* ---- lifecycle ------------------------------------------------------------ */

/* A host name as --join may give it: letters, digits, '-', '_' and '.'. */
static int valid_hostname(const char *h)
{
    size_t n = strlen(h);

    if (n == 0 || n > JOIN_NAME_MAX || h[0] == '-' || h[0] == '.')
        return 0;
    return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

/* Parses --join "host:port[@busport]" into the seed's bus address, or, when
 * host is a name rather than an address, into cl->join_host and
 * cl->join_bus_port (resolved later, on the loop). */
static int parse_join(node_cluster_t *cl, const char *join)
{
    char host[PAXOS_ADDR_MAX], buf[PAXOS_ADDR_MAX];
    const char *at = strchr(join, '@');
    int port, bus;
    char *end;

    if (strlen(join) >= sizeof(buf))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%.*s", at != NULL ? (int)(at - join) : (int)strlen(join), join);
    if (split_addr(buf, host, sizeof(host), &port) != 0)
        return -EINVAL;
    if (at != NULL) {
        long v;

        errno = 0;
        v = strtol(at + 1, &end, 10);
        if (errno != 0 || *end != '\0' || end == at + 1 || v <= 0 || v > 65535)
            return -EINVAL;
        bus = (int)v;
    } else {
        bus = port + 10000;
        if (bus > 65535)
            return -EINVAL;
    }
    join_addr(cl->join_addr, sizeof(cl->join_addr), host, bus);
    if (to_sockaddr(cl->join_addr, &(struct sockaddr_storage){0}) == 0)
        return 0;
    cl->join_addr[0] = '\0';
    if (strchr(host, ':') != NULL || !valid_hostname(host))
        return -EINVAL;
    snprintf(cl->join_host, sizeof(cl->join_host), "%s", host);
    cl->join_bus_port = bus;
    return 0;
}

static int bus_port_of(const node_config_t *cfg)
{
    return cfg->cluster_port != 0 ? cfg->cluster_port : cfg->port + 10000;
}

static void my_addresses(node_cluster_t *cl)
{
    const node_config_t *cfg = &cl->server->config;
    char host[PAXOS_ADDR_MAX];
    const char *b = cfg->bind != NULL ? cfg->bind : "127.0.0.1";
    size_t len = strcspn(b, " ");

    if (cfg->cluster_announce_ip != NULL) {
        snprintf(host, sizeof(host), "%s", cfg->cluster_announce_ip);
    } else {
        if (b[0] == '-') {
            b++;
            len--;
        }
        snprintf(host, sizeof(host), "%.*s", (int)len, b);
        if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::*") == 0 ||
            strcmp(host, "::") == 0) {
            rc_log(RC_LOG_WARNING, "cluster: bound to a wildcard address and no "
                                   "cluster-announce-ip: announcing 127.0.0.1");
            snprintf(host, sizeof(host), "127.0.0.1");
        }
    }
    join_addr(cl->client_addr, sizeof(cl->client_addr), host, cfg->port);
    join_addr(cl->bus_addr, sizeof(cl->bus_addr), host, bus_port_of(cfg));
}

static void init_handles(node_cluster_t *cl)
{
    uv_timer_init(cl->loop, &cl->paxos_timer);
    cl->paxos_timer.data = cl;
    uv_timer_init(cl->loop, &cl->fd_timer);
    cl->fd_timer.data = cl;
    uv_timer_start(&cl->fd_timer, on_fd_timer, FD_INTERVAL_MS, FD_INTERVAL_MS);
    uv_timer_init(cl->loop, &cl->join_timer);
    cl->join_timer.data = cl;
}

static void join_resolve(node_cluster_t *cl);

static void on_join_timer(uv_timer_t *t)
{
    join_resolve(t->data);
}

/* The seed's name resolved (or not): join through its first IPv4 address
 * (an IPv6 one when it has none), or try again after the backoff. */
static void on_join_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    node_cluster_t *cl = req->data;
    const struct addrinfo *ai, *pick = NULL;
    char ip[64] = "";
    paxos_effects_t eff;

    cl->join_resolving = 0;
    if (cl->closed || status != 0) {
        if (!cl->closed) {
            rc_log(RC_LOG_WARNING,
                   "cluster: cannot resolve the --join name '%s' (attempt %u): %s; "
                   "retrying in %" PRIu64 " ms",
                   cl->join_host, cl->join_tries, uv_strerror(status), cl->join_backoff_ms);
            uv_timer_start(&cl->join_timer, on_join_timer, cl->join_backoff_ms, 0);
            cl->join_backoff_ms *= 2;
            if (cl->join_backoff_ms > JOIN_RESOLVE_MAX_MS)
                cl->join_backoff_ms = JOIN_RESOLVE_MAX_MS;
        }
        uv_freeaddrinfo(res);
        return;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
        if (ai->ai_family == AF_INET6 && pick == NULL)
            pick = ai;
    }
    if (pick != NULL && pick->ai_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)(const void *)pick->ai_addr, ip, sizeof(ip));
    else if (pick != NULL)
        uv_ip6_name((const struct sockaddr_in6 *)(const void *)pick->ai_addr, ip, sizeof(ip));
    uv_freeaddrinfo(res);
    if (ip[0] == '\0') {
        rc_log(RC_LOG_WARNING,
               "cluster: the --join name '%s' has no IPv4 or IPv6 address; retrying in %" PRIu64
               " ms",
               cl->join_host, cl->join_backoff_ms);
        uv_timer_start(&cl->join_timer, on_join_timer, cl->join_backoff_ms, 0);
        return;
    }
    join_addr(cl->join_addr, sizeof(cl->join_addr), ip, cl->join_bus_port);
    rc_log(RC_LOG_NOTICE, "cluster: '%s' resolved to %s: joining through %s", cl->join_host, ip,
           cl->join_addr);
    memset(&eff, 0, sizeof(eff));
    paxos_node_join(cl->px, (uint64_t)now_ms(cl), cl->join_addr, &eff);
    handle_effects(cl, &eff);
}

/* Looks the seed's name up without blocking the loop (libuv's threadpool). */
static void join_resolve(node_cluster_t *cl)
{
    struct addrinfo hints;
    int err;

    if (cl->closed || cl->join_resolving)
        return;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    cl->join_tries++;
    cl->join_req.data = cl;
    err = uv_getaddrinfo(cl->loop, &cl->join_req, on_join_resolved, cl->join_host, NULL, &hints);
    if (err != 0) {
        rc_log(RC_LOG_WARNING, "cluster: cannot look up '%s': %s; retrying in %" PRIu64 " ms",
               cl->join_host, uv_strerror(err), cl->join_backoff_ms);
        uv_timer_start(&cl->join_timer, on_join_timer, cl->join_backoff_ms, 0);
        return;
    }
    cl->join_resolving = 1;
}

/* Starts paxos: restored, founding, or joining. */
static void start_paxos(node_cluster_t *cl, const paxos_state_t *restored)
{
    paxos_params_t params;
    paxos_effects_t eff;
    uint64_t now = (uint64_t)now_ms(cl);

    paxos_params_default(&params, restored != NULL ? restored->incarnation : random_u64_nonzero(),
                         cl->client_addr, cl->bus_addr, (uint32_t)cl->server->config.cluster_weight,
                         random_u64_nonzero());
    cl->px = paxos_node_create(&params, restored);
    memset(&eff, 0, sizeof(eff));
    if (restored != NULL && restored->chosen.epoch != 0) {
        const paxos_config_t *c = &restored->chosen;
        int me = paxos_config_find(c, restored->id);

        if (me >= 0 && c->nmembers > 1 && c->replicas > 0) {
            uint32_t i = me == 0 ? 1 : 0;

            /* Restarted without its data, with replicas: its slots' copies
             * live on the others. Leaving would hand its empty copies over
             * and empty theirs; it joins as a new incarnation instead
             * (through another member of its configuration), the others
             * remove the old one as failed, and its replicas serve its
             * slots with their copies. Its acceptor state goes with the old
             * incarnation, which never votes again. */
            rc_log(RC_LOG_NOTICE,
                   "cluster: restarted as member %" PRIu64 " of epoch %" PRIu64
                   " with its data lost: rejoining as a new incarnation through %s; its replicas "
                   "take its slots over",
                   restored->id, c->epoch, c->members[i].bus_addr);
            snprintf(cl->join_addr, sizeof(cl->join_addr), "%s", c->members[i].bus_addr);
            paxos_node_destroy(cl->px);
            cl->px = NULL;
            start_paxos(cl, NULL);
            return;
        }
        install(cl, c);
        if (me >= 0 && c->nmembers > 1) {
            paxos_change_t ch;

            /* Restarted with its state but without its data: leave and come
             * back as a new incarnation, so no one trusts the lost data. */
            memset(&ch, 0, sizeof(ch));
            ch.kind = PAXOS_CHANGE_LEAVE;
            ch.id = restored->id;
            ch.incarnation = restored->incarnation;
            rc_log(RC_LOG_NOTICE,
                   "cluster: restarted as member %" PRIu64 " of epoch %" PRIu64
                   " with its data lost: leaving, then rejoining as a new incarnation",
                   restored->id, c->epoch);
            (void)paxos_node_request(cl->px, now, &ch, &eff);
        } else {
            rc_log(RC_LOG_NOTICE, "cluster: restarted from %s at epoch %" PRIu64, cl->state_path,
                   c->epoch);
            paxos_node_tick(cl->px, now, &eff);
        }
    } else if (cl->join_host[0] != '\0') {
        rc_log(RC_LOG_NOTICE, "cluster: joining through %s (bus port %d): resolving the name",
               cl->join_host, cl->join_bus_port);
        cl->join_backoff_ms = JOIN_RESOLVE_FIRST_MS;
        join_resolve(cl);
    } else if (cl->join_addr[0] != '\0') {
        rc_log(RC_LOG_NOTICE, "cluster: joining through %s", cl->join_addr);
        paxos_node_join(cl->px, now, cl->join_addr, &eff);
    } else if (restored != NULL) {
        rc_log(RC_LOG_WARNING,
               "cluster: the state file %s has no configuration and no --join "
               "was given: founding a new cluster",
               cl->state_path);
        paxos_node_destroy(cl->px);
        cl->px = NULL;
        start_paxos(cl, NULL);
        return;
    } else {
        paxos_config_t *g = rc_xcalloc(1, sizeof(*g));

        g->epoch = 1;
        g->next_id = 1;
        g->replicas = (uint32_t)cl->server->config.cluster_replicas;
        paxos_config_add(g, params.incarnation, cl->client_addr, cl->bus_addr, 1);
        if (paxos_node_bootstrap(cl->px, now, g, &eff) == 0)
            rc_log(RC_LOG_NOTICE, "cluster: founded a new one-node cluster (R=%u)", g->replicas);
        rc_free(g);
    }
    update_name(cl);
    handle_effects(cl, &eff);
}

static int on_server_shutdown(void *arg)
{
    return node_cluster_shutdown(arg);
}

int node_cluster_create(node_server_t *server, node_cluster_t **out)
{
    const node_config_t *cfg = &server->config;
    node_cluster_t *cl = rc_xcalloc(1, sizeof(*cl));
    paxos_state_t *st = rc_xcalloc(1, sizeof(*st));
    node_bus_handlers_t handlers;
    node_bus_config_t bc;
    char path[4096];
    int err, have_state;

    *out = NULL;
    cl->server = server;
    cl->loop = server->loop;
    cl->myindex = -1;
    if (bus_port_of(cfg) > 65535 || bus_port_of(cfg) == cfg->port) {
        rc_log(RC_LOG_WARNING, "cluster-port %d is not usable with port %d: set cluster-port",
               bus_port_of(cfg), cfg->port);
        err = -EINVAL;
        goto fail;
    }
    if (cfg->join != NULL && parse_join(cl, cfg->join) != 0) {
        rc_log(RC_LOG_WARNING, "Bad --join '%s': expected host:port[@busport]", cfg->join);
        err = -EINVAL;
        goto fail;
    }
    err = ring_placement_id(&cl->placement);
    if (err != 0)
        goto fail;
    my_addresses(cl);
    if (cfg->cluster_config_file != NULL)
        snprintf(path, sizeof(path), "%s", cfg->cluster_config_file);
    else
        snprintf(path, sizeof(path), "ringcache-%d.state", cfg->port);
    cl->state_path = rc_xstrdup(path);
    have_state = load_state(cl->state_path, st);
    if (have_state < 0) {
        err = have_state;
        goto fail;
    }
    cl->fd = member_fd_create(cfg->cluster_node_timeout);
    cl->lease = member_lease_create(lease_ms(cfg->cluster_node_timeout), LEASE_DRIFT_PPM);
    memset(&bc, 0, sizeof(bc));
    bc.secret = secret_of(cl);
    bc.bind = cfg->bind;
    bc.port = bus_port_of(cfg);
    bc.placement = cl->placement;
    bc.bus_addr = cl->bus_addr;
    bc.client_addr = cl->client_addr;
    err = node_bus_create(server, &bc, &cl->bus);
    if (err != 0)
        goto fail;
    /* The cluster's first: a graceful leave needs the bus to go on. */
    node_server_on_shutdown(server, on_server_shutdown, cl);
    node_server_on_shutdown(server, node_bus_shutdown, cl->bus);
    handlers.on_frame = on_bus_frame;
    handlers.on_newer_epoch = on_newer_epoch;
    handlers.arg = cl;
    node_bus_set_handlers(cl->bus, &handlers);
    init_handles(cl);
    start_paxos(cl, have_state > 0 ? st : NULL);
    bus_identity(cl);
    rc_free(st);
    *out = cl;
    return 0;

fail:
    member_fd_destroy(cl->fd);
    member_lease_destroy(cl->lease);
    rc_free(st);
    rc_free(cl->state_path);
    rc_free(cl);
    return err;
}

static void close_handles(node_cluster_t *cl)
{
    cl->closed = 1;
    notify(cl, NOTIFY_CLOSE);
    uv_close((uv_handle_t *)&cl->paxos_timer, NULL);
    uv_close((uv_handle_t *)&cl->fd_timer, NULL);
    uv_close((uv_handle_t *)&cl->join_timer, NULL);
    if (cl->join_resolving)
        (void)uv_cancel((uv_req_t *)&cl->join_req); /* or it ends on its own: on_join_resolved */
    /* The bus closes its links and listeners in its own shutdown. */
}

/* Returns 1 when shutdown waits for a graceful leave first (the cluster
 * calls node_server_shutdown() again once it is decided or timed out). */
int node_cluster_shutdown(node_cluster_t *cl)
{
    if (cl == NULL || cl->closed)
        return 0;
    if (!cl->stopping) {
        if (!cl->shutdown_after_leave && node_cluster_leave(cl) == 0)
            rc_log(RC_LOG_NOTICE, "cluster: leaving the cluster before shutting down");
        if (cl->shutdown_after_leave) {
            return 1;
        }
    }
    close_handles(cl);
    return 0;
}

void node_cluster_destroy(node_cluster_t *cl)
{
    if (cl == NULL)
        return;
    node_bus_destroy(cl->bus);
    paxos_node_destroy(cl->px);
    member_fd_destroy(cl->fd);
    member_lease_destroy(cl->lease);
    member_ring_free2(cl->serving, cl->target);
    rc_free(cl->handoff);
    rc_free(cl->state_path);
    rc_free(cl);
}

/* ---- view API ------------------------------------------------------------- */

node_bus_t *node_cluster_bus(const node_cluster_t *cl)
{
    return cl->bus;
}

void node_cluster_observe(node_cluster_t *cl, const node_cluster_observer_t *o, void *arg)
{
    RC_ASSERT(cl->nobs < MAX_OBSERVERS);
    cl->obs[cl->nobs] = o;
    cl->obs_arg[cl->nobs++] = arg;
}

uint64_t node_cluster_epoch(const node_cluster_t *cl)
{
    return cl->config.epoch;
}

uint64_t node_cluster_placement(const node_cluster_t *cl)
{
    return cl->placement;
}

node_cluster_state_t node_cluster_state(const node_cluster_t *cl)
{
    if (cl->myindex < 0)
        return cl->was_member ? NODE_CLUSTER_REMOVED : NODE_CLUSTER_JOINING;
    if (member_fd_minority(cl->fd))
        return NODE_CLUSTER_MINORITY;
    return NODE_CLUSTER_OK;
}

const char *node_cluster_state_name(node_cluster_state_t st)
{
    switch (st) {
    case NODE_CLUSTER_OK:
        return "ok";
    case NODE_CLUSTER_JOINING:
        return "joining";
    case NODE_CLUSTER_MINORITY:
        return "minority";
    case NODE_CLUSTER_REMOVED:
        return "removed";
    }
    return "unknown";
}

int node_cluster_member(const node_cluster_t *cl, int idx, node_cluster_member_t *out)
{
    const paxos_member_t *m;
    char host[PAXOS_ADDR_MAX];
    int port;

    if (idx < 0 || (uint32_t)idx >= cl->config.nmembers)
        return -ENOENT;
    m = &cl->config.members[idx];
    memset(out, 0, sizeof(*out));
    out->id = m->id;
    out->incarnation = m->incarnation;
    make_name(m->id, m->incarnation, out->name);
    if (split_addr(m->client_addr, host, sizeof(host), &port) == 0) {
        snprintf(out->host, sizeof(out->host), "%s", host);
        out->port = port;
    }
    if (split_addr(m->bus_addr, host, sizeof(host), &port) == 0)
        out->bus_port = port;
    out->weight = m->weight;
    out->live_weight = m->live_weight;
    out->myself = idx == cl->myindex;
    out->nprimaries = cl->nprimaries[idx];
    if (out->myself) {
        out->alive = 1;
        out->last_pong = cl->server->now_ms;
    } else {
        int64_t silent = now_ms(cl) - member_fd_last_heard(cl->fd, (uint32_t)idx);
        int64_t last_ping = member_fd_last_ping(cl->fd, (uint32_t)idx);

        out->alive = silent <= cl->server->config.cluster_node_timeout;
        out->last_pong = cl->server->now_ms - silent;
        if (last_ping != 0)
            out->last_ping = cl->server->now_ms - (now_ms(cl) - last_ping);
    }
    return 0;
}

size_t node_cluster_members(const node_cluster_t *cl, node_cluster_member_t *out, size_t cap)
{
    size_t i;

    for (i = 0; i < cl->config.nmembers && i < cap; i++)
        node_cluster_member(cl, (int)i, &out[i]);
    return cl->config.nmembers;
}

const char *node_cluster_myname(const node_cluster_t *cl)
{
    return cl->myname;
}

int node_cluster_myindex(const node_cluster_t *cl)
{
    return cl->myindex;
}

uint64_t node_cluster_former_self(const node_cluster_t *cl, int idx)
{
    const paxos_member_t *pm;

    if (idx < 0 || (uint32_t)idx >= cl->config.nmembers || idx == cl->myindex)
        return 0;
    pm = &cl->config.members[idx];
    return strcmp(pm->bus_addr, cl->bus_addr) == 0 ? pm->id : 0;
}

int node_cluster_slot_primary(const node_cluster_t *cl, unsigned slot)
{
    if (cl->handoff == NULL || slot >= RING_SLOTS)
        return -1;
    return cl->handoff->serve[slot];
}

int node_cluster_slot_target(const node_cluster_t *cl, unsigned slot)
{
    if (cl->handoff == NULL || slot >= RING_SLOTS)
        return -1;
    return cl->handoff->target[slot];
}

size_t node_cluster_slot_replicas(const node_cluster_t *cl, unsigned slot, int *out, size_t cap)
{
    const member_handoff_t *h = cl->handoff;
    size_t n = 0;
    unsigned k;

    if (h == NULL || slot >= RING_SLOTS)
        return 0;
    for (k = 0; k < h->nscopy[slot] && k < MEMBER_COPIES_MAX; k++) {
        int m = h->scopy[slot][k];

        /* scopy[slot][0] is the primary: skip it by value, not by place. */
        if (m < 0 || m == h->serve[slot] || (uint32_t)m >= cl->config.nmembers)
            continue;
        if (n < cap)
            out[n] = m;
        n++;
    }
    return n < cap ? n : cap;
}

void node_cluster_copies(const node_cluster_t *cl, node_cluster_copies_t *out)
{
    const member_handoff_t *h = cl->handoff;
    unsigned want = cl->config.replicas + 1, slot;

    memset(out, 0, sizeof(*out));
    if (h == NULL)
        return;
    if (want > cl->config.nmembers)
        want = cl->config.nmembers;
    for (slot = 0; slot < RING_SLOTS; slot++) {
        out->served += h->serve[slot] >= 0;
        out->degraded += h->nscopy[slot] < want;
        out->lost += h->nscopy[slot] == 0;
    }
}

const paxos_config_t *node_cluster_config(const node_cluster_t *cl)
{
    return cl->config.epoch != 0 ? &cl->config : NULL;
}

const member_handoff_t *node_cluster_handoff(const node_cluster_t *cl)
{
    return cl->handoff;
}

size_t node_cluster_departed(const node_cluster_t *cl, uint64_t *out, size_t cap)
{
    size_t i;

    for (i = 0; i < cl->ndeparted && i < cap; i++)
        out[i] = cl->departed[i];
    return cl->ndeparted < cap ? cl->ndeparted : cap;
}

int node_cluster_in_transition(const node_cluster_t *cl)
{
    return cl->config.epoch != 0 && paxos_config_in_transition(&cl->config);
}

int node_cluster_leaving(const node_cluster_t *cl)
{
    return cl->shutdown_after_leave;
}

void node_cluster_request_ready(node_cluster_t *cl)
{
    if (cl->closed || cl->myindex < 0)
        return;
    /* From the paxos timer, never from inside an observer's call. */
    cl->ready_pending = 1;
    uv_timer_start(&cl->paxos_timer, on_paxos_timer, 0, 0);
}

/* Asks paxos for a change of this member ('kind' with 'weight' or
 * 'transition'). Returns 0, or what paxos_config_admits() or
 * paxos_node_request() refuse it for. */
static int request_own(node_cluster_t *cl, uint8_t kind, uint32_t weight, uint64_t transition)
{
    const paxos_state_t *st = paxos_node_state(cl->px);
    paxos_change_t ch;
    paxos_effects_t eff;
    int err;

    memset(&ch, 0, sizeof(ch));
    ch.kind = kind;
    ch.id = st->id;
    ch.incarnation = st->incarnation;
    ch.weight = weight;
    ch.transition = transition;
    err = paxos_config_admits(&cl->config, &ch);
    if (err != 0)
        return err;
    memset(&eff, 0, sizeof(eff));
    err = paxos_node_request(cl->px, (uint64_t)now_ms(cl), &ch, &eff);
    if (err == 0)
        handle_effects(cl, &eff);
    return err;
}

static void request_ready(node_cluster_t *cl)
{
    cl->ready_pending = 0;
    if (cl->closed || cl->myindex < 0 || !paxos_config_in_transition(&cl->config))
        return;
    (void)request_own(cl, PAXOS_CHANGE_READY, 0, cl->config.transition);
}

int node_cluster_set_weight(node_cluster_t *cl, uint32_t weight)
{
    int err;

    if (cl->myindex < 0)
        return -ENOENT;
    if (cl->config.members[cl->myindex].weight == 0)
        return -EBUSY; /* leaving */
    err = request_own(cl, PAXOS_CHANGE_WEIGHT, weight, 0);
    if (err == 0)
        rc_log(RC_LOG_NOTICE, "cluster: asked for weight %u", weight);
    return err;
}

void node_cluster_set_leave_hold(node_cluster_t *cl, int (*busy)(void *arg),
                                 int (*receiving)(void *arg), void *arg)
{
    cl->leave_busy = busy;
    cl->leave_receiving = receiving;
    cl->leave_busy_arg = arg;
}

uint64_t node_cluster_coordinator(const node_cluster_t *cl)
{
    return paxos_node_coordinator(cl->px);
}

unsigned node_cluster_replicas(const node_cluster_t *cl)
{
    return cl->config.replicas;
}

int node_cluster_lease_valid(const node_cluster_t *cl)
{
    /* Asked for every request: a bound of the time that errs early. */
    return member_lease_valid(cl->lease, rc_mono_ms_upper());
}

int64_t node_cluster_lease_remaining(const node_cluster_t *cl)
{
    int64_t left = member_lease_until(cl->lease) - now_ms(cl);

    return left > 0 && cl->myindex >= 0 ? left : 0;
}

int64_t node_cluster_takeover_at(const node_cluster_t *cl)
{
    return member_lease_takeover_at(cl->lease, cl->installed_at);
}

void node_cluster_stats(const node_cluster_t *cl, node_cluster_stats_t *out)
{
    const node_bus_stats_t *b = node_bus_stats(cl->bus);

    *out = cl->stats;
    out->bus_frames_sent = b->frames_sent;
    out->bus_frames_received = b->frames_received;
    out->bus_auth_failures = b->auth_failures;
    out->bus_bad_frames = b->bad_frames;
}

int node_cluster_redirects(const node_cluster_t *cl)
{
    return cl->server->config.cluster_redirects;
}

int64_t node_cluster_node_timeout(const node_cluster_t *cl)
{
    return cl->server->config.cluster_node_timeout;
}

void node_cluster_count_forward(node_cluster_t *cl, int error)
{
    cl->stats.forwarded_commands++;
    if (error)
        cl->stats.forward_errors++;
}

int node_cluster_leave(node_cluster_t *cl)
{
    const paxos_state_t *st = paxos_node_state(cl->px);
    int err;

    if (cl->myindex < 0)
        return -ENOENT;
    if (cl->config.nmembers <= 1)
        return -EINVAL;
    if (cl->leave_requested)
        return 0;
    cl->leave_requested = 1;
    cl->shutdown_after_leave = 1; /* a node that left has nothing to serve */
    cl->leave_deadline = now_ms(cl) + cl->server->config.cluster_leave_timeout;
    err = request_leave(cl);
    if (err != 0) {
        cl->leave_requested = 0;
        cl->shutdown_after_leave = 0;
        cl->leave_deadline = 0;
        return err;
    }
    rc_log(RC_LOG_NOTICE, "cluster: asked to leave the cluster (member %" PRIu64 ")", st->id);
    return 0;
}
