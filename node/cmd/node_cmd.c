/* node/cmd/node_cmd.c: the merged command table and the dispatcher that checks
 * a request (known command, arity, auth, maxmemory) before running it. The
 * one rule: every refusal uses Redis's exact error text. */
#include "node/cmd/node_cmd.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "node/bus/node_bus.h"
#include "node/cluster/node_cluster.h"
#include "node/cmd/node_cmd_stats.h"
#include "node/data/node_db.h"
#include "node/fwd/node_fwd.h"
#include "node/migrate/node_migrate.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"
#include "ring/ring.h"

enum {
    TABLE_SIZE = 1024, /* power of two, well above the command count */
};

static const node_cmd_t *const all_tables[] = {
    node_cmds_connection, node_cmds_server,  node_cmds_keys,    node_cmds_string,
    node_cmds_hash,       node_cmds_list,    node_cmds_set,     node_cmds_zset,
    node_cmds_stream,     node_cmds_cluster, node_cmds_observe,
};

static const node_cmd_t *table[TABLE_SIZE];
static size_t ncommands;
static int table_ready;

static unsigned char lower(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + ('a' - 'A')) : ch;
}

static uint32_t hash_name(const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= lower((unsigned char)name[i]);
        h *= 16777619u;
    }
    return h;
}

static int name_eq(const char *cmd, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (cmd[i] == '\0' || cmd[i] != (char)lower((unsigned char)name[i]))
            return 0;
    }
    return cmd[len] == '\0';
}

static void build_table(void)
{
    size_t t;
    const node_cmd_t *cmd;

    for (t = 0; t < RC_ARRAY_SIZE(all_tables); t++) {
        for (cmd = all_tables[t]; cmd->name != NULL; cmd++) {
            size_t len = strlen(cmd->name);
            uint32_t i = hash_name(cmd->name, len) & (TABLE_SIZE - 1);

            while (table[i] != NULL) {
                RC_ASSERT(strcmp(table[i]->name, cmd->name) != 0); /* duplicate command */
                i = (i + 1) & (TABLE_SIZE - 1);
            }
            table[i] = cmd;
            ncommands++;
            RC_ASSERT(ncommands < TABLE_SIZE / 2);
        }
    }
    table_ready = 1;
}

/* The table slot of command 'name', or -1: the command's statistics id. */
static int lookup_slot(const char *name, size_t len)
{
    uint32_t i;

    if (!table_ready)
        build_table();
    i = hash_name(name, len) & (TABLE_SIZE - 1);
    while (table[i] != NULL) {
        if (name_eq(table[i]->name, name, len))
            return (int)i;
        i = (i + 1) & (TABLE_SIZE - 1);
    }
    return -1;
}

const node_cmd_t *node_cmd_lookup(const char *name, size_t len)
{
    int i = lookup_slot(name, len);

    return i >= 0 ? table[i] : NULL;
}

int node_cmd_key_of(int argc, const resp_arg_t *argv, resp_arg_t *key)
{
    int slot = lookup_slot(argv[0].ptr, argv[0].len);
    const node_cmd_t *cmd;
    int k;

    if (slot < 0)
        return 0;
    cmd = table[slot];
    k = cmd->first_key;
    if (k == 0 && (cmd->flags & NODE_CMD_REPLICA) && argc >= 5 &&
        (resp_arg_is(&argv[1], "PUT") || resp_arg_is(&argv[1], "DEL")))
        k = 4; /* RCMIGRATE <op> <src> <slot> <key> ... */
    if (k <= 0 || k >= argc || k >= NODE_CONN_PREFETCH_ARGS)
        return 0;
    *key = argv[k];
    return 1;
}

const node_cmd_t *node_cmd_next(size_t *iter)
{
    if (!table_ready)
        build_table();
    while (*iter < TABLE_SIZE) {
        const node_cmd_t *cmd = table[(*iter)++];

        if (cmd != NULL)
            return cmd;
    }
    return NULL;
}

size_t node_cmd_count(void)
{
    if (!table_ready)
        build_table();
    return ncommands;
}

/* "ERR unknown command 'foo', with args beginning with: 'a' 'b' " */
static void reply_unknown(node_client_t *c)
{
    char args[512];
    size_t used = 0;
    int i;

    args[0] = '\0';
    for (i = 1; i < c->argc && used < 128; i++) {
        int room = 128 - (int)used;
        int n = snprintf(args + used, sizeof(args) - used, "'%.*s' ",
                         (int)(c->argv[i].len < (size_t)room ? c->argv[i].len : (size_t)room),
                         c->argv[i].ptr);

        if (n < 0)
            break;
        used += (size_t)n;
        if (used >= sizeof(args))
            used = sizeof(args) - 1;
    }
    node_reply_errorf(c, "ERR unknown command '%.128s', with args beginning with: %s",
                      c->argv[0].ptr, args);
}

/* Multi-key commands whose keys may span nodes: split and gathered. */
static int split_kind(const node_cmd_t *cmd, node_fwd_merge_t *kind)
{
    static const struct {
        const char *name;
        node_fwd_merge_t kind;
    } splits[] = {
        {"mget", NODE_FWD_MGET},  {"mset", NODE_FWD_MSET},  {"del", NODE_FWD_SUM},
        {"unlink", NODE_FWD_SUM}, {"exists", NODE_FWD_SUM}, {"touch", NODE_FWD_SUM},
    };
    size_t i;

    for (i = 0; i < RC_ARRAY_SIZE(splits); i++) {
        if (strcmp(cmd->name, splits[i].name) == 0) {
            *kind = splits[i].kind;
            return 1;
        }
    }
    return 0;
}

static void reply_moved(node_client_t *c, node_cluster_t *cl, unsigned slot, int owner)
{
    node_cluster_member_t m;

    if (node_cluster_member(cl, owner, &m) != 0) {
        node_reply_error(c, "CLUSTERDOWN The cluster is down");
        return;
    }
    node_reply_errorf(c, "MOVED %u %s:%d", slot, m.host, m.port);
}

enum {
    ROUTE_SMALL = 64,
};

_Static_assert((int)TABLE_SIZE <= (int)NODE_CMD_STATS_MAX, "statistics ids are table slots");

/* A request that must wait for a hand-over (the slot's previous server
 * has not sent its DONE, a stream is over its buffer, or a peer routed it
 * by a configuration this node has not installed yet) is parked on its
 * connection and runs again when the hand-off says so, or is answered
 * TRYAGAIN after cluster-handoff-hold ms. Returns 1 when parked or
 * answered. */
static int wait_or_expire(node_client_t *c, unsigned slot, const char *why, int lasting)
{
    node_conn_t *conn = c->conn;
    node_server_t *server = c->server;

    /* 'lasting' (no lease): a request behind one that just waited out the
     * bound for it does not wait again, so a pipeline gets its answers in
     * one bound, not one bound per request. */
    if ((conn->held_since != 0 &&
         server->now_ms - conn->held_since > server->config.cluster_handoff_hold) ||
        (lasting && conn->held_since == 0 && conn->hold_expired_ms != 0 &&
         server->now_ms - conn->hold_expired_ms < server->config.cluster_handoff_hold)) {
        conn->held_since = 0;
        conn->hold_expired_ms = server->now_ms;
        node_migrate_count_held_expired(node_cmd_env(c)->migrate);
        node_reply_errorf(c, "TRYAGAIN slot %u: %s for more than %ld ms", slot, why,
                          server->config.cluster_handoff_hold);
        return 1;
    }
    node_conn_hold(conn);
    return 1;
}

typedef struct split_wait_s {
    node_fwd_t *fwd;
    node_conn_seg_t *seg;
} split_wait_t;

static void split_fenced(void *arg, const char *err, size_t len)
{
    split_wait_t *sw = arg;

    node_fwd_split_release(sw->fwd, sw->seg, err, len);
    rc_free(sw);
}

/* The local part of a split request ran here: its reply, held in the
 * gather 'held', goes once the replicas applied its writes (and the
 * earlier writes of the slots it read), as a whole command's would
 * (fence_begin()); a failed wait makes the request's answer -TRYAGAIN. */
static void split_fence(node_client_t *c, const node_cmd_t *cmd, node_conn_seg_t *held,
                        const int *owners, int nkeys, int me)
{
    node_migrate_t *mig = node_cmd_env(c)->migrate;
    int write = (cmd->flags & NODE_CMD_WRITE) != 0, step = cmd->key_step > 0 ? cmd->key_step : 1;
    unsigned small[ROUTE_SMALL], *slots = small;
    size_t nslots = 0;
    int needed = 0;
    split_wait_t *sw;

    node_db_end_command(c->db); /* the part's writes go down the streams */
    if (nkeys > ROUTE_SMALL)
        slots = rc_xmalloc((size_t)nkeys * sizeof(*slots));
    for (int k = 0; k < nkeys; k++) {
        const resp_arg_t *key = &c->argv[cmd->first_key + k * step];

        if (owners[k] != me)
            continue;
        slots[nslots] = ring_keyslot(key->ptr, key->len);
        needed |= node_migrate_fence_needed(mig, slots[nslots], write);
        nslots++;
    }
    if (!needed) {
        node_fwd_split_release(node_cmd_env(c)->fwd, held, NULL, 0);
    } else {
        sw = rc_xmalloc(sizeof(*sw));
        sw->fwd = node_cmd_env(c)->fwd;
        sw->seg = held;
        node_migrate_fence_call(mig, slots, nslots, split_fenced, sw);
    }
    if (slots != small)
        rc_free(slots);
}

/* Sends the request where its keys live, as cluster routing says: returns
 * 0 when it runs here, 1 when it was forwarded, parked or answered
 * (CLUSTERDOWN, MOVED, CROSSSLOT, TRYAGAIN). When it runs here with keys,
 * '*key_slot' is its first key's slot (fence_begin() takes it rather
 * than hashing the key again); else it is left alone. */
static int route(node_client_t *c, const node_cmd_t *cmd, int *key_slot)
{
    node_cluster_t *cl = node_cmd_env(c)->cluster;
    node_migrate_t *mig = node_cmd_env(c)->migrate;
    int small[ROUTE_SMALL], *owners = small;
    int me, first_owner = -1, multi_owner = 0, cross = 0, all_local = 1, last, i, n = 0;
    int write = (cmd->flags & NODE_CMD_WRITE) != 0;
    unsigned first_slot = 0;
    uint64_t former;
    node_fwd_merge_t kind;
    int step = cmd->key_step > 0 ? cmd->key_step : 1;

    if (cl == NULL || cmd->first_key <= 0 || c->argc <= cmd->first_key)
        return 0;
    if (c->conn->peer && node_bus_addressed_before(node_cluster_bus(cl), c->conn->peer_to_id,
                                                   c->conn->peer_to_incarnation)) {
        /* Forwarded to an earlier member at this address (this node before
         * a restart, not removed yet): never routed again from here, which
         * could send it back to this very node. */
        node_reply_errorf(
            c, "TRYAGAIN the request was sent to member %" PRIu64 ", no longer at this address",
            c->conn->peer_to_id);
        return 1;
    }
    last = cmd->last_key < 0 ? c->argc + cmd->last_key : cmd->last_key;
    if (last >= c->argc)
        last = c->argc - 1;
    if (last < cmd->first_key || (step > 1 && (last - cmd->first_key + 1) % step != 0))
        return 0; /* no keys, or an odd key/value list: the command's own error */
    if ((last - cmd->first_key) / step + 1 > ROUTE_SMALL)
        owners = rc_xmalloc((size_t)((last - cmd->first_key) / step + 1) * sizeof(*owners));
    me = node_cluster_myindex(cl);
    for (i = cmd->first_key; i <= last; i += step) {
        unsigned slot = ring_keyslot(c->argv[i].ptr, c->argv[i].len);
        int owner = node_cluster_slot_primary(cl, slot);

        if (owner < 0) {
            node_reply_error(c, "CLUSTERDOWN The cluster is down");
            goto answered;
        }
        if (owner != me && (former = node_cluster_former_self(cl, owner)) != 0) {
            /* Served by this node before its restart, until the others
             * remove that member: sent there, it would come back here. */
            node_reply_errorf(c,
                              "TRYAGAIN slot %u is served by member %" PRIu64
                              ", an earlier incarnation at this address, until it is removed",
                              slot, former);
            goto answered;
        }
        if (owner == me && node_migrate_slot_waits(mig, slot, write)) {
            wait_or_expire(c, slot, "waiting for its hand-over", 0);
            goto answered;
        }
        if (owner == me && !node_cluster_lease_valid(cl)) {
            /* Cut off from the majority (or paused): another node may
             * serve this slot by now. */
            wait_or_expire(c, slot, "this node holds no lease", 1);
            goto answered;
        }
        if (n == 0) {
            first_owner = owner;
            first_slot = slot;
        } else {
            cross |= slot != first_slot;
            multi_owner |= owner != first_owner;
        }
        all_local &= owner == me;
        owners[n++] = owner;
    }
    if (all_local) {
        if (owners != small)
            rc_free(owners);
        *key_slot = (int)first_slot;
        return 0;
    }
    if (c->conn->peer && c->conn->peer_epoch > node_cluster_epoch(cl)) {
        /* The sender routed it by a configuration this node has not
         * installed yet: wait for it (Paxos is catching up), never send it
         * back by an older table. */
        wait_or_expire(c, first_slot, "waiting for a newer configuration", 0);
    } else if (c->conn->peer && (cross || multi_owner)) {
        node_reply_errorf(c, "TRYAGAIN slot %u is not served by this node", first_slot);
    } else if (c->conn->peer) {
        /* The sender's table is older: pass it on once (the next hop has
         * this node's epoch and waits if it is behind). */
        node_fwd_command(node_cmd_env(c)->fwd, c, first_owner);
    } else if (node_cluster_redirects(cl)) {
        if (cross)
            node_reply_error(c, "CROSSSLOT Keys in request don't hash to the same slot");
        else
            reply_moved(c, cl, first_slot, first_owner);
    } else if (!multi_owner) {
        node_fwd_command(node_cmd_env(c)->fwd, c, first_owner);
    } else if (split_kind(cmd, &kind) && cmd->first_key == 1 && last == c->argc - 1) {
        node_conn_seg_t *held =
            node_fwd_split(node_cmd_env(c)->fwd, c, kind, step, owners, me, cmd->proc);

        if (held != NULL)
            split_fence(c, cmd, held, owners, n, me);
    } else {
        node_reply_error(c, "CROSSSLOT Keys in request don't hash to the same slot");
    }
answered:
    if (owners != small)
        rc_free(owners);
    return 1;
}

/* Runs the parked requests whose wait may be over, oldest first; each one
 * either runs, is parked again, or is answered TRYAGAIN past the bound. */
static void release_held(void *arg)
{
    node_cmd_env_t *env = arg;
    node_server_t *server = env->server;
    node_conn_t *c, *next;
    size_t budget = server->nheld;

    node_server_update_time(server);
    /* The list is newest first: release from the tail, and only the
     * connections held before this round. */
    for (c = server->held; c != NULL && c->held_next != NULL; c = c->held_next)
        ;
    for (; c != NULL && budget > 0; c = next, budget--) {
        next = c->held_prev;
        node_conn_release(c);
    }
}

/* 'argc' arguments (the name included) fit the command's arity. */
static int arity_ok(const node_cmd_t *cmd, int argc)
{
    return cmd->arity > 0 ? argc == cmd->arity : argc >= -cmd->arity;
}

/* node_migrate_replay_fn: replays on this replica's copy a write its
 * primary sent as its command (a NODE_CMD_REPLAY one): the procedure
 * alone, as it ran there (no routing, waiting, eviction or statistics),
 * its reply captured and dropped. A failure gives the error it answered
 * (its first line). */
static int replay(void *arg, node_client_t *c, int argc, resp_arg_t *argv, char *err, size_t errcap)
{
    node_conn_t *conn = c->conn;
    int slot = lookup_slot(argv[0].ptr, argv[0].len);
    const node_cmd_t *cmd = slot < 0 ? NULL : table[slot];
    int saved_argc = c->argc, failed;
    resp_arg_t *saved_argv = c->argv;
    uint64_t nerrors = conn->nerrors;
    node_conn_seg_t *seg;

    (void)arg;
    if (cmd == NULL || !(cmd->flags & NODE_CMD_REPLAY) || !arity_ok(cmd, argc)) {
        snprintf(err, errcap, "ERR RCMIGRATE LIVEPACK: '%.*s' with %d arguments is not replayed",
                 (int)(argv[0].len < 32 ? argv[0].len : 32), argv[0].ptr, argc);
        return -1;
    }
    RC_ASSERT(conn->capture == NULL);
    seg = node_conn_seg_get(conn);
    conn->capture = seg;
    c->argc = argc;
    c->argv = argv;
    cmd->proc(c);
    c->argc = saved_argc;
    c->argv = saved_argv;
    conn->capture = NULL;
    conn->nerrors = nerrors;
    failed = seg->len > 0 && seg->buf[0] == '-';
    if (failed) {
        const char *eol = memchr(seg->buf, '\r', seg->len);
        size_t n = (eol != NULL ? (size_t)(eol - seg->buf) : seg->len) - 1;

        snprintf(err, errcap, "ERR RCMIGRATE LIVEPACK: replayed '%.*s' failed: %.*s",
                 (int)(argv[0].len < 32 ? argv[0].len : 32), argv[0].ptr, (int)(n < 96 ? n : 96),
                 seg->buf + 1);
    }
    seg->len = 0;
    node_conn_seg_release(conn, seg);
    return failed ? -1 : 0;
}

void node_cmd_start(node_cmd_env_t *env)
{
    if (env->migrate != NULL) {
        node_migrate_on_release(env->migrate, release_held, env);
        node_migrate_set_replayer(env->migrate, replay, env);
    }
}

/* A forwarded command's reply arrived (or its forward failed): its call
 * counts here with its full time. */
static void on_forward_done(void *arg, node_conn_seg_t *seg, const char *reply, size_t len)
{
    node_cmd_stat_t *st = arg;
    node_conn_t *conn = seg->conn;
    int failed;

    if (reply == NULL) { /* gathered: the merged reply is in the segment */
        reply = seg->buf;
        len = seg->len;
    }
    failed = len > 0 && reply != NULL && reply[0] == '-';
    if (failed && conn != NULL)
        conn->client.server->stats.total_error_replies++;
    node_cmd_stats_call(st, node_cmd_stats_elapsed_ns(seg->start_ns), failed,
                        conn == NULL || conn->client.server->config.latency_tracking);
}

/* A request refused before it ran: counted, and its error given. */
static void reject(node_client_t *c, int slot, const char *err)
{
    c->server->stats.total_error_replies++;
    if (!c->conn->peer)
        node_cmd_stats_reject(node_cmd_stats_get((size_t)slot, table[slot]->name));
    if (err != NULL)
        node_reply_error(c, err);
}

/* Routing answered, forwarded or parked the request (route() returned 1). */
static void routed(node_client_t *c, int slot, unsigned nfwd, uint64_t nerrors, uint64_t t0)
{
    node_conn_t *conn = c->conn;

    if (conn->held)
        return; /* parked: it counts when it runs */
    if (conn->nfwd > nfwd && conn->seg_tail != NULL && conn->seg_tail->pending) {
        node_conn_seg_t *seg = conn->seg_tail; /* forwarded or split */

        if (conn->peer)
            return;
        seg->on_done = on_forward_done;
        seg->done_arg = node_cmd_stats_get((size_t)slot, table[slot]->name);
        seg->start_ns = t0;
        return;
    }
    /* MOVED, CROSSSLOT, CLUSTERDOWN, TRYAGAIN (a forward that failed at
     * once, too): refused before running, one error reply. */
    (void)nerrors;
    reject(c, slot, NULL);
}

/* The command ran for 'ns' nanoseconds: statistics, slowlog, latency. */
static void ran(node_client_t *c, int slot, uint64_t ns, uint64_t nerrors)
{
    node_conn_t *conn = c->conn;
    node_server_t *server = c->server;
    const node_config_t *cfg = &server->config;
    int failed = conn->nerrors != nerrors;

    server->stats.total_error_replies += conn->nerrors - nerrors;
    if (!conn->peer)
        node_cmd_stats_call(node_cmd_stats_get((size_t)slot, table[slot]->name), ns, failed,
                            cfg->latency_tracking);
    if (cfg->slowlog_log_slower_than >= 0 && ns >= (uint64_t)cfg->slowlog_log_slower_than * 1000)
        node_cmd__slowlog_add(c, ns / 1000);
    if (cfg->latency_monitor_threshold > 0 &&
        ns >= (uint64_t)cfg->latency_monitor_threshold * 1000000)
        node_cmd__latency_add(server,
                              (table[slot]->flags & NODE_CMD_FAST) ? "fast-command" : "command",
                              ns / 1000000);
}

/* Synchronous replication: a command about to run here whose reply must
 * wait for the slot's replicas (it writes, or it reads a slot with writes
 * they have not applied yet) has its reply captured in a pending segment
 * (the one its pipeline's earlier such commands wait in, if nothing came
 * between), released by node_migrate_fence() once they have. '*fslot' comes in as
 * the first key's slot if route() found it (-1 if not) and goes out as
 * that slot (-1: no key). Returns that segment (c->conn->capture is set to
 * it), or NULL. */
static node_conn_seg_t *fence_begin(node_client_t *c, const node_cmd_t *cmd, int *fslot)
{
    node_migrate_t *mig = node_cmd_env(c)->migrate;
    node_conn_seg_t *seg;

    if (mig == NULL || c->conn->capture != NULL || (cmd->flags & NODE_CMD_REPLICA))
        return NULL; /* no cluster, the local part of a split request, or RCMIGRATE */
    if (*fslot < 0 && cmd->first_key > 0 && c->argc > cmd->first_key)
        *fslot = (int)ring_keyslot(c->argv[cmd->first_key].ptr, c->argv[cmd->first_key].len);
    if (*fslot < 0 && !(cmd->flags & NODE_CMD_WRITE))
        return NULL;
    if (!node_migrate_fence_needed(mig, *fslot < 0 ? 0 : (unsigned)*fslot,
                                   (cmd->flags & NODE_CMD_WRITE) != 0))
        return NULL;
    seg = node_migrate_fence_seg(mig, c->conn);
    c->conn->capture = seg;
    return seg;
}

void node_cmd_dispatch(void *env, node_client_t *c)
{
    node_conn_t *conn = c->conn;
    node_server_t *server = c->server;
    int slot = lookup_slot(c->argv[0].ptr, c->argv[0].len);
    const node_cmd_t *cmd;
    node_conn_seg_t *fence;
    uint64_t nerrors, t0;
    unsigned nfwd;
    int fslot = -1;

    c->env = env;
    if (slot < 0) {
        server->stats.total_error_replies++;
        reply_unknown(c);
        return;
    }
    cmd = table[slot];
    conn->lastcmd = cmd->name;
    if (!arity_ok(cmd, c->argc)) {
        reject(c, slot, NULL);
        node_reply_arity_error(c, cmd->name);
        return;
    }
    if (!conn->authenticated && server->config.requirepass != NULL &&
        !(cmd->flags & NODE_CMD_NOAUTH)) {
        reject(c, slot, "NOAUTH Authentication required.");
        return;
    }
    nerrors = conn->nerrors;
    nfwd = conn->nfwd;
    if (!node_cmd_clock.ready)
        node_cmd_stats_clock_init();
    t0 = node_cmd_stats_ticks();            /* no system call */
    node_db_set_now(c->db, server->now_ms); /* the local part of a split request too */
    if (node_cmd_env(c)->cluster != NULL && route(c, cmd, &fslot)) {
        node_db_end_command(c->db); /* the local part of a split request */
        conn->ncmds++;
        server->stats.total_commands++;
        routed(c, slot, nfwd, nerrors, t0);
        return;
    }
    if (server->config.maxmemory != 0 && !(cmd->flags & NODE_CMD_REPLICA) &&
        rc_used_memory() > server->config.maxmemory) {
        int err = node_db_evict(c->db, server->config.maxmemory, server->config.maxmemory_policy,
                                server->config.maxmemory_samples);

        if (err != 0 && (cmd->flags & NODE_CMD_DENYOOM)) {
            server->stats.oom_rejections++;
            reject(c, slot, "OOM command not allowed when used memory > 'maxmemory'.");
            return;
        }
    }
    fence = fence_begin(c, cmd, &fslot);
    if (cmd->flags & NODE_CMD_REPLAY)
        node_db_replayable(c->db, c->argc, c->argv);
    cmd->proc(c);
    if (fence != NULL)
        conn->capture = NULL;
    node_db_end_command(c->db); /* observers see the command's writes */
    if (fence != NULL)
        node_migrate_fence(node_cmd_env(c)->migrate, fence, fslot);
    ran(c, slot, node_cmd_stats_elapsed_ns(t0), nerrors);
    conn->ncmds++;
    server->stats.total_commands++;
}
