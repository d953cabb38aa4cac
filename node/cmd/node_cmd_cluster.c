/* node/cmd/node_cmd_cluster.c: CLUSTER INFO NODES SLOTS SHARDS REPLICAS
 * SLAVES MYID MYSHARDID KEYSLOT COUNTKEYSINSLOT GETKEYSINSLOT LEAVE HELP,
 * READONLY, READWRITE, ASKING, and the "# Cluster" section of INFO. The one
 * rule: every reply is read from the installed configuration through
 * node_cluster.h and keeps Redis 7.0's format byte for byte, so
 * cluster-aware clients and tools (redis-cli -c, redis-py RedisCluster,
 * ioredis) route by it unchanged.
 *
 * Replicas (cluster-replicas R): every slot has a primary and up to R
 * synchronous replicas, and the replica sets differ from slot to slot (the
 * ring places each slot's copies on its own), so every node is the primary
 * of some slots and a replica of others. What Redis's formats can say:
 *
 *   SLOTS     exact: one entry per maximal run of slots with the same
 *             primary and the same replicas (in ring order), primary first.
 *   SHARDS    one shard per member: its primary slots, the member as
 *             "master", then as "replica" every member that holds a copy of
 *             at least one of those slots. A member is the master of one
 *             shard and a replica in others.
 *   NODES     every member is a "master" line with its primary slots: a
 *             node line has room for one role and one master, and tools
 *             (redis-cli --cluster check) expect replicas to own no slots.
 *   REPLICAS  <id>: the NODES lines of the members SHARDS lists as the
 *             replicas of <id>. */
#include "node/cmd/node_cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "node/cluster/node_cluster.h"
#include "node/data/node_db.h"
#include "node/data/node_types.h"
#include "node/migrate/node_migrate.h"
#include "node/net/node_reply.h"
#include "ring/ring.h"

enum {
    MEMBERS_MAX = 64, /* members a view holds: the cluster's size limit */
};
_Static_assert(MEMBERS_MAX <= 64, "a set of members fits in a uint64_t (replica_masks)");

/* --- the view a command works on ------------------------------------------ */

/* The installed members and the table, read once per command. */
typedef struct view_s {
    node_cluster_t *cl;
    node_cluster_member_t members[MEMBERS_MAX];
    size_t n;
    int me; /* index of this node in 'members', -1 when not a member */
} view_t;

/* A maximal run of consecutive slots with the same primary (and, for
 * CLUSTER SLOTS, the same replicas). */
typedef struct run_s {
    unsigned start;
    unsigned end;  /* inclusive */
    int owner;     /* index into view_t.members */
    unsigned nrep; /* replicas (0 unless the runs were cut by replicas) */
    int rep[MEMBER_COPIES_MAX];
} run_t;

static void view_load(view_t *v, node_cluster_t *cl)
{
    v->cl = cl;
    v->n = node_cluster_members(cl, v->members, MEMBERS_MAX);
    if (v->n > MEMBERS_MAX)
        v->n = MEMBERS_MAX;
    v->me = node_cluster_myindex(cl);
    if (v->me >= (int)v->n)
        v->me = -1;
}

/* The primary of 'slot' as an index into the view, or -1 when unassigned. */
static int slot_owner(const view_t *v, unsigned slot)
{
    int i = node_cluster_slot_primary(v->cl, slot);

    return (i >= 0 && (size_t)i < v->n) ? i : -1;
}

/* The replicas of 'slot' (indexes into the view) into 'rep'; returns their
 * count. */
static unsigned slot_replicas(const view_t *v, unsigned slot, int rep[MEMBER_COPIES_MAX])
{
    int got[MEMBER_COPIES_MAX];
    size_t n = node_cluster_slot_replicas(v->cl, slot, got, MEMBER_COPIES_MAX), i;
    unsigned k = 0;

    for (i = 0; i < n; i++) {
        if (got[i] >= 0 && (size_t)got[i] < v->n)
            rep[k++] = got[i];
    }
    return k;
}

/* Fills 'runs' (RING_SLOTS entries) with the assigned runs of the table in
 * slot order and returns their count (0 without a table): cut where the
 * primary changes, and where the replicas change too if 'by_replicas'. The
 * table is scattered by consistent hashing, so expect thousands of short
 * runs. */
static size_t slot_runs(const view_t *v, run_t *runs, int by_replicas)
{
    int rep[MEMBER_COPIES_MAX];
    unsigned slot, nrep = 0;
    size_t n = 0;

    for (slot = 0; slot < RING_SLOTS; slot++) {
        int owner = slot_owner(v, slot);
        run_t *last = n > 0 ? &runs[n - 1] : NULL;

        if (owner < 0)
            continue;
        if (by_replicas)
            nrep = slot_replicas(v, slot, rep);
        if (last != NULL && last->owner == owner && last->end + 1 == slot && last->nrep == nrep &&
            (nrep == 0 || memcmp(last->rep, rep, nrep * sizeof(rep[0])) == 0)) {
            last->end = slot;
            continue;
        }
        runs[n].start = slot;
        runs[n].end = slot;
        runs[n].owner = owner;
        runs[n].nrep = nrep;
        if (nrep > 0)
            memcpy(runs[n].rep, rep, nrep * sizeof(rep[0]));
        n++;
    }
    return n;
}

/* Sets bit j of 'mask[i]' when member j holds a copy of a slot member i is
 * the primary of: i's replicas for SHARDS and REPLICAS. */
static void replica_masks(const view_t *v, uint64_t mask[MEMBERS_MAX])
{
    int rep[MEMBER_COPIES_MAX];
    unsigned slot, k, nrep;

    memset(mask, 0, MEMBERS_MAX * sizeof(mask[0]));
    for (slot = 0; slot < RING_SLOTS; slot++) {
        int owner = slot_owner(v, slot);

        if (owner < 0)
            continue;
        nrep = slot_replicas(v, slot, rep);
        for (k = 0; k < nrep; k++)
            mask[owner] |= UINT64_C(1) << rep[k];
    }
}

static size_t mask_count(uint64_t mask)
{
    size_t n = 0;

    for (; mask != 0; mask &= mask - 1)
        n++;
    return n;
}

static const char *member_name(const view_t *v, uint64_t id)
{
    size_t i;

    for (i = 0; i < v->n; i++) {
        if (v->members[i].id == id)
            return v->members[i].name;
    }
    return "";
}

/* "ok" when this node serves an installed configuration a quorum backs and
 * every slot has a serving primary ('copies' from node_cluster_copies()). */
static const char *state_word(const node_cluster_t *cl, const node_cluster_copies_t *copies)
{
    return node_cluster_state(cl) == NODE_CLUSTER_OK && copies->served == RING_SLOTS ? "ok"
                                                                                     : "fail";
}

/* Replies Redis's error for a server without cluster support and returns
 * NULL when the server has no cluster (unit tests, early startup). */
static node_cluster_t *cluster_or_reply(node_client_t *c)
{
    node_cluster_t *cl = node_cmd_env(c)->cluster;

    if (cl == NULL)
        node_reply_error(c, "ERR This instance has cluster support disabled");
    return cl;
}

/* --- CLUSTER INFO --------------------------------------------------------- */

static void cluster_info(node_client_t *c, node_cluster_t *cl)
{
    node_cluster_stats_t stats, *st = &stats;
    unsigned assigned = 0, ok = 0, holders = 0, slot;
    unsigned char holds[MEMBERS_MAX] = {0};
    uint64_t epoch = node_cluster_epoch(cl);
    node_cluster_copies_t copies;
    rc_buf_t t = {0};
    view_t v;

    node_cluster_stats(cl, st);
    node_cluster_copies(cl, &copies);
    view_load(&v, cl);
    for (slot = 0; slot < RING_SLOTS; slot++) {
        int owner = slot_owner(&v, slot);

        if (owner < 0)
            continue;
        assigned++;
        if (v.members[owner].alive)
            ok++;
        if (!holds[owner]) {
            holds[owner] = 1;
            holders++;
        }
    }
    rc_buf_printf(&t, "cluster_state:%s\r\n", state_word(cl, &copies));
    rc_buf_printf(&t, "cluster_slots_assigned:%u\r\n", assigned);
    rc_buf_printf(&t, "cluster_slots_ok:%u\r\n", ok);
    rc_buf_printf(&t, "cluster_slots_pfail:0\r\n");
    rc_buf_printf(&t, "cluster_slots_fail:%u\r\n", assigned - ok);
    rc_buf_printf(&t, "cluster_known_nodes:%zu\r\n", v.n);
    rc_buf_printf(&t, "cluster_size:%u\r\n", holders);
    rc_buf_printf(&t, "cluster_current_epoch:%" PRIu64 "\r\n", epoch);
    rc_buf_printf(&t, "cluster_my_epoch:%" PRIu64 "\r\n", v.me >= 0 ? epoch : 0);
    rc_buf_printf(&t, "cluster_stats_messages_sent:%" PRIu64 "\r\n", st->bus_frames_sent);
    rc_buf_printf(&t, "cluster_stats_messages_received:%" PRIu64 "\r\n", st->bus_frames_received);
    rc_buf_printf(&t, "total_cluster_links_buffer_limit_exceeded:0\r\n");
    /* ringcache's own lines, after Redis's so parsers of those keep working. */
    rc_buf_printf(&t, "cluster_coordinator:%s\r\n", member_name(&v, node_cluster_coordinator(cl)));
    rc_buf_printf(&t, "cluster_membership:%s\r\n", node_cluster_state_name(node_cluster_state(cl)));
    rc_buf_printf(&t, "cluster_replicas:%u\r\n", node_cluster_replicas(cl));
    rc_buf_printf(&t, "cluster_in_transition:%d\r\n", node_cluster_in_transition(cl));
    /* Slots with fewer serving copies than min(R+1, members), and slots
     * whose every copy died (they answer misses; counted in both). */
    rc_buf_printf(&t, "cluster_slots_degraded:%u\r\n", copies.degraded);
    rc_buf_printf(&t, "cluster_slots_lost:%u\r\n", copies.lost);
    node_reply_verbatim(c, t.data, t.len);
    rc_buf_free(&t);
}

/* --- CLUSTER NODES -------------------------------------------------------- */

/* Appends member 'i''s CLUSTER NODES line, without its newline. */
static void nodes_line(rc_buf_t *t, const view_t *v, uint64_t epoch, size_t i, const run_t *runs,
                       size_t nruns, const node_migrate_t *mig)
{
    const node_cluster_member_t *m = &v->members[i];
    long long ping_sent = 0, pong_recv = 0;
    size_t r;

    /* Redis prints 0 0 for itself, and a ping only while it is unanswered. */
    if (!m->myself) {
        ping_sent = m->last_ping > m->last_pong ? (long long)m->last_ping : 0;
        pong_recv = (long long)m->last_pong;
    }
    rc_buf_printf(t, "%s %s:%d@%d %s%s - %lld %lld %" PRIu64 " %s", m->name, m->host, m->port,
                  m->bus_port, m->myself ? "myself,master" : "master", m->alive ? "" : ",fail?",
                  ping_sent, pong_recv, epoch, m->alive ? "connected" : "disconnected");
    for (r = 0; r < nruns; r++) {
        if (runs[r].owner != (int)i)
            continue;
        if (runs[r].start == runs[r].end)
            rc_buf_printf(t, " %u", runs[r].start);
        else
            rc_buf_printf(t, " %u-%u", runs[r].start, runs[r].end);
    }
    /* Slots in hand-off, on this node's own line, in Redis's form:
     * [slot->-target] being sent, [slot-<-source] being received. */
    for (r = 0; m->myself && mig != NULL && r < RING_SLOTS; r++) {
        uint64_t to = node_migrate_migrating(mig, (unsigned)r);
        uint64_t from = node_migrate_importing(mig, (unsigned)r);

        if (to != 0)
            rc_buf_printf(t, " [%zu->-%s]", r, member_name(v, to));
        if (from != 0)
            rc_buf_printf(t, " [%zu-<-%s]", r, member_name(v, from));
    }
}

static void cluster_nodes(node_client_t *c, node_cluster_t *cl)
{
    run_t *runs = rc_xmalloc(RING_SLOTS * sizeof(*runs));
    uint64_t epoch = node_cluster_epoch(cl);
    rc_buf_t t = {0};
    size_t nruns, i;
    view_t v;

    view_load(&v, cl);
    nruns = slot_runs(&v, runs, 0);
    for (i = 0; i < v.n; i++) {
        nodes_line(&t, &v, epoch, i, runs, nruns, node_cmd_env(c)->migrate);
        rc_buf_printf(&t, "\n");
    }
    node_reply_verbatim(c, t.len > 0 ? t.data : "", t.len);
    rc_buf_free(&t);
    rc_free(runs);
}

/* --- CLUSTER SLOTS / SHARDS ----------------------------------------------- */

/* One node of a CLUSTER SLOTS entry: [ip, port, id, metadata]. */
static void slots_node(node_client_t *c, const node_cluster_member_t *m)
{
    node_reply_array(c, 4);
    node_reply_bulk_cstr(c, m->host);
    node_reply_int(c, m->port);
    node_reply_bulk_cstr(c, m->name);
    node_reply_map(c, 0);
}

static void cluster_slots(node_client_t *c, node_cluster_t *cl)
{
    run_t *runs = rc_xmalloc(RING_SLOTS * sizeof(*runs));
    size_t nruns, r;
    unsigned k;
    view_t v;

    view_load(&v, cl);
    nruns = slot_runs(&v, runs, 1);
    node_reply_array(c, (long)nruns);
    for (r = 0; r < nruns; r++) {
        /* start, end, the primary, then the replicas in ring order. Redis
         * leaves out replicas flagged FAIL; a member here stays listed
         * until the configuration removes it, so every node answers alike. */
        node_reply_array(c, 3 + (long)runs[r].nrep);
        node_reply_int(c, runs[r].start);
        node_reply_int(c, runs[r].end);
        slots_node(c, &v.members[runs[r].owner]);
        for (k = 0; k < runs[r].nrep; k++)
            slots_node(c, &v.members[runs[r].rep[k]]);
    }
    rc_free(runs);
}

static void shard_node(node_client_t *c, const node_cluster_member_t *m, int primary)
{
    node_reply_map(c, 7);
    node_reply_bulk_cstr(c, "id");
    node_reply_bulk_cstr(c, m->name);
    node_reply_bulk_cstr(c, "port");
    node_reply_int(c, m->port);
    node_reply_bulk_cstr(c, "ip");
    node_reply_bulk_cstr(c, m->host);
    node_reply_bulk_cstr(c, "endpoint");
    node_reply_bulk_cstr(c, m->host);
    node_reply_bulk_cstr(c, "role");
    node_reply_bulk_cstr(c, primary ? "master" : "replica");
    /* Replication is synchronous: an acknowledged write is on every copy,
     * so there is no offset to tell them apart by. */
    node_reply_bulk_cstr(c, "replication-offset");
    node_reply_int(c, 0);
    node_reply_bulk_cstr(c, "health");
    node_reply_bulk_cstr(c, m->alive ? "online" : "fail");
}

/* One shard per member: its primary slots, itself as the master, and as
 * replicas every member holding a copy of one of those slots (the file's
 * head comment says why). */
static void cluster_shards(node_client_t *c, node_cluster_t *cl)
{
    run_t *runs = rc_xmalloc(RING_SLOTS * sizeof(*runs));
    uint64_t mask[MEMBERS_MAX];
    size_t nruns, i, j, r;
    view_t v;

    view_load(&v, cl);
    nruns = slot_runs(&v, runs, 0);
    replica_masks(&v, mask);
    node_reply_array(c, (long)v.n);
    for (i = 0; i < v.n; i++) {
        long mine = 0;

        for (r = 0; r < nruns; r++)
            mine += runs[r].owner == (int)i;
        node_reply_map(c, 2);
        node_reply_bulk_cstr(c, "slots");
        node_reply_array(c, 2 * mine);
        for (r = 0; r < nruns; r++) {
            if (runs[r].owner != (int)i)
                continue;
            node_reply_int(c, runs[r].start);
            node_reply_int(c, runs[r].end);
        }
        node_reply_bulk_cstr(c, "nodes");
        node_reply_array(c, 1 + (long)mask_count(mask[i]));
        shard_node(c, &v.members[i], 1);
        for (j = 0; j < v.n; j++) {
            if (mask[i] & (UINT64_C(1) << j))
                shard_node(c, &v.members[j], 0);
        }
    }
    rc_free(runs);
}

/* CLUSTER REPLICAS|SLAVES <node-id>: the CLUSTER NODES lines (no newline)
 * of the members that hold copies of the node's primary slots. */
static void cluster_replicas(node_client_t *c)
{
    node_cluster_t *cl = cluster_or_reply(c);
    const resp_arg_t *id = &c->argv[2];
    uint64_t mask[MEMBERS_MAX];
    run_t *runs;
    size_t nruns, i, j;
    rc_buf_t t = {0};
    view_t v;

    if (cl == NULL)
        return;
    view_load(&v, cl);
    for (i = 0; i < v.n; i++) {
        if (id->len == strlen(v.members[i].name) &&
            memcmp(id->ptr, v.members[i].name, id->len) == 0)
            break;
    }
    if (i == v.n) {
        node_reply_errorf(c, "ERR Unknown node %.128s", id->ptr); /* Redis 7.0's text */
        return;
    }
    runs = rc_xmalloc(RING_SLOTS * sizeof(*runs));
    nruns = slot_runs(&v, runs, 0);
    replica_masks(&v, mask);
    node_reply_array(c, (long)mask_count(mask[i]));
    for (j = 0; j < v.n; j++) {
        if (!(mask[i] & (UINT64_C(1) << j)))
            continue;
        rc_buf_reset(&t);
        nodes_line(&t, &v, node_cluster_epoch(cl), j, runs, nruns, node_cmd_env(c)->migrate);
        node_reply_bulk(c, t.data, t.len);
    }
    rc_buf_free(&t);
    rc_free(runs);
}

/* --- keys in a slot ------------------------------------------------------- */

/* The keyspace keeps a list of keys per slot (node_db.h): COUNTKEYSINSLOT
 * is O(1) and GETKEYSINSLOT O(count), both counting expired keys not yet
 * reclaimed, as Redis does. */
static void on_slot_key(void *priv, node_obj_t *o)
{
    const char *key;
    size_t klen;

    key = node_obj_key(o, &klen);
    node_reply_bulk(priv, key, klen);
}

static void cluster_countkeysinslot(node_client_t *c)
{
    long long slot;

    if (node__get_ll_or_reply(c, 2, &slot) != 0)
        return;
    if (slot < 0 || slot >= RING_SLOTS) {
        node_reply_error(c, "ERR Invalid slot");
        return;
    }
    node_reply_int(c, (long long)node_db_slot_count(c->db, (unsigned)slot));
}

static void cluster_getkeysinslot(node_client_t *c)
{
    long long slot, max;
    node_db_slot_iter_t *it;
    size_t n;
    void *h;

    if (node__get_ll_or_reply(c, 2, &slot) != 0 || node__get_ll_or_reply(c, 3, &max) != 0)
        return;
    if (slot < 0 || slot >= RING_SLOTS || max < 0) {
        node_reply_error(c, "ERR Invalid slot or number of keys"); /* Redis 7.0's text */
        return;
    }
    h = node_reply_defer_array(c);
    it = node_db_slot_iter_create(c->db, (unsigned)slot);
    n = node_db_slot_iter_next(it, (size_t)max, on_slot_key, c);
    node_db_slot_iter_destroy(it);
    node_reply_set_deferred_array(c, h, (long)n);
}

/* --- CLUSTER -------------------------------------------------------------- */

static const char *const cluster_help[] = {
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "LEAVE",
    "    Leave the cluster gracefully (ringcache): the members agree on the",
    "    membership without this node and its slots move to the others.",
    "MYID",
    "    Return the node id.",
    "MYSHARDID",
    "    Return the node's shard id (its node id: every node is its own shard).",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas (ringcache: the members holding copies of its slots).",
    "SLAVES <node-id>",
    "    Return <node-id> replicas.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "WEIGHT [<weight>]",
    "    Return this node's weight, or ask for a new one (ringcache): its slots move",
    "    to or from the other members by the hand-off.",
    "HELP",
    "    Prints this help.",
};

typedef void cluster_sub_fn(node_client_t *c, node_cluster_t *cl);

static void cluster_myid(node_client_t *c, node_cluster_t *cl)
{
    node_reply_bulk_cstr(c, node_cluster_myname(cl));
}

static void cluster_leave(node_client_t *c, node_cluster_t *cl)
{
    int err = node_cluster_leave(cl);

    if (err == 0)
        node_reply_ok(c);
    else if (node_cluster_myindex(cl) < 0)
        node_reply_error(c, "ERR This node is not a member of the cluster");
    else if (err == -EINVAL)
        node_reply_error(c, "ERR The last member of a cluster cannot leave it");
    else
        node_reply_errorf(c, "ERR Cannot leave the cluster: %s", rc_strerror(err));
}

/* CLUSTER WEIGHT: this node's weight (target, and the one it serves with);
 * CLUSTER WEIGHT <n>: asks for a new one (slots move by the hand-off). */
static void cluster_weight(node_client_t *c)
{
    node_cluster_t *cl = cluster_or_reply(c);
    node_cluster_member_t m;
    long long w;
    int err;

    if (cl == NULL)
        return;
    if (c->argc == 2) {
        if (node_cluster_member(cl, node_cluster_myindex(cl), &m) != 0) {
            node_reply_error(c, "ERR This node is not a member of the cluster");
            return;
        }
        node_reply_array(c, 4);
        node_reply_bulk_cstr(c, "weight");
        node_reply_int(c, m.weight);
        node_reply_bulk_cstr(c, "live-weight");
        node_reply_int(c, m.live_weight);
        return;
    }
    if (node__get_ll_or_reply(c, 2, &w) != 0)
        return;
    if (w < 1 || w > PAXOS_MAX_WEIGHT) {
        node_reply_errorf(c, "ERR weight must be 1..%d", PAXOS_MAX_WEIGHT);
        return;
    }
    err = node_cluster_set_weight(cl, (uint32_t)w);
    if (err == 0)
        node_reply_ok(c);
    else if (err == -ENOENT)
        node_reply_error(c, "ERR This node is not a member of the cluster");
    else if (err == -EBUSY)
        node_reply_error(c, "ERR This node is leaving the cluster");
    else if (err == RC_ETOOBIG)
        node_reply_errorf(c, "ERR The total weight would pass %d", PAXOS_MAX_TOTAL_WEIGHT);
    else
        node_reply_errorf(c, "ERR Cannot change the weight: %s", rc_strerror(err));
}

/* Subcommands that read the cluster view; the others need no cluster. */
static const struct {
    const char *name;
    const char *fullname; /* for the arity error */
    cluster_sub_fn *fn;
} view_subs[] = {
    {"info", "cluster|info", cluster_info},    {"nodes", "cluster|nodes", cluster_nodes},
    {"slots", "cluster|slots", cluster_slots}, {"shards", "cluster|shards", cluster_shards},
    {"myid", "cluster|myid", cluster_myid},    {"myshardid", "cluster|myshardid", cluster_myid},
    {"leave", "cluster|leave", cluster_leave},
};

static void cmd_cluster(node_client_t *c)
{
    const resp_arg_t *sub = &c->argv[1];
    node_cluster_t *cl;
    size_t i;

    for (i = 0; i < RC_ARRAY_SIZE(view_subs); i++) {
        if (!resp_arg_is(sub, view_subs[i].name))
            continue;
        if (!node_cmd__sub_arity_ok(c, view_subs[i].fullname, 2))
            return;
        cl = cluster_or_reply(c);
        if (cl != NULL)
            view_subs[i].fn(c, cl);
        return;
    }
    if (resp_arg_is(sub, "keyslot")) {
        if (node_cmd__sub_arity_ok(c, "cluster|keyslot", 3))
            node_reply_int(c, ring_keyslot(c->argv[2].ptr, c->argv[2].len));
    } else if (resp_arg_is(sub, "countkeysinslot")) {
        if (node_cmd__sub_arity_ok(c, "cluster|countkeysinslot", 3))
            cluster_countkeysinslot(c);
    } else if (resp_arg_is(sub, "getkeysinslot")) {
        if (node_cmd__sub_arity_ok(c, "cluster|getkeysinslot", 4))
            cluster_getkeysinslot(c);
    } else if (resp_arg_is(sub, "replicas") || resp_arg_is(sub, "slaves")) {
        if (node_cmd__sub_arity_ok(
                c, resp_arg_is(sub, "slaves") ? "cluster|slaves" : "cluster|replicas", 3))
            cluster_replicas(c);
    } else if (resp_arg_is(sub, "weight")) {
        if (c->argc > 3)
            node_reply_arity_error(c, "cluster|weight");
        else
            cluster_weight(c);
    } else if (resp_arg_is(sub, "help")) {
        if (node_cmd__sub_arity_ok(c, "cluster|help", 2))
            node_cmd__reply_help(c, cluster_help, RC_ARRAY_SIZE(cluster_help));
    } else {
        node_reply_errorf(c, "ERR unknown subcommand '%.128s'. Try CLUSTER HELP.", sub->ptr);
    }
}

/* READONLY, READWRITE, ASKING: every node serves every key (forwarding),
 * so there is no replica-read mode or import state to switch; Redis in
 * cluster mode answers +OK and so do we. */
static void cmd_cluster_ok(node_client_t *c)
{
    node_reply_ok(c);
}

/* --- INFO cluster --------------------------------------------------------- */

size_t node_cmd_cluster_info_section(const node_cmd_env_t *env, char *buf, size_t cap)
{
    node_cluster_t *cl = env->cluster;
    node_cluster_stats_t stats, *st = &stats;
    node_cluster_copies_t copies;
    rc_buf_t t = {0};
    size_t n;
    view_t v;

    rc_buf_printf(&t, "# Cluster\r\n");
    if (cl == NULL) {
        rc_buf_printf(&t, "cluster_enabled:0\r\n");
    } else {
        node_cluster_stats(cl, st);
        node_cluster_copies(cl, &copies);
        view_load(&v, cl);
        rc_buf_printf(&t, "cluster_enabled:1\r\n");
        rc_buf_printf(&t, "cluster_state:%s\r\n", state_word(cl, &copies));
        rc_buf_printf(&t, "cluster_epoch:%" PRIu64 "\r\n", node_cluster_epoch(cl));
        rc_buf_printf(&t, "cluster_members:%zu\r\n", v.n);
        rc_buf_printf(&t, "cluster_my_id:%s\r\n", node_cluster_myname(cl));
        rc_buf_printf(&t, "cluster_my_slots:%u\r\n", v.me >= 0 ? v.members[v.me].nprimaries : 0);
        rc_buf_printf(&t, "cluster_coordinator:%s\r\n",
                      member_name(&v, node_cluster_coordinator(cl)));
        rc_buf_printf(&t, "cluster_membership:%s\r\n",
                      node_cluster_state_name(node_cluster_state(cl)));
        rc_buf_printf(&t, "cluster_placement:%016" PRIx64 "\r\n", node_cluster_placement(cl));
        rc_buf_printf(&t, "cluster_in_transition:%d\r\n", node_cluster_in_transition(cl));
        rc_buf_printf(&t, "cluster_my_role:%s\r\n",
                      v.me < 0                           ? "none"
                      : v.members[v.me].weight == 0      ? "leaving"
                      : v.members[v.me].live_weight == 0 ? "joining"
                                                         : "serving");
        rc_buf_printf(&t, "cluster_lease_valid:%d\r\n", node_cluster_lease_valid(cl));
        rc_buf_printf(&t, "cluster_lease_remaining_ms:%" PRId64 "\r\n",
                      node_cluster_lease_remaining(cl));
        rc_buf_printf(&t, "cluster_lease_renewals:%" PRIu64 "\r\n", st->lease_renewals);
        rc_buf_printf(&t, "cluster_lease_lapses:%" PRIu64 "\r\n", st->lease_lapses);
        rc_buf_printf(&t, "forwarded_commands:%" PRIu64 "\r\n", st->forwarded_commands);
        rc_buf_printf(&t, "forward_errors:%" PRIu64 "\r\n", st->forward_errors);
    }
    n = t.len;
    if (cap > 0) {
        size_t k = n < cap ? n : cap - 1;

        memcpy(buf, t.data, k);
        buf[k] = '\0';
    }
    rc_buf_free(&t);
    return n;
}

static void cmd_rcmigrate(node_client_t *c)
{
    node_migrate_command(node_cmd_env(c)->migrate, c);
}

const node_cmd_t node_cmds_cluster[] = {
    {"rcmigrate", cmd_rcmigrate, -4, NODE_CMD_REPLICA | NODE_CMD_ADMIN, 0, 0, 0, "cluster",
     "Slot hand-off between ringcache nodes (cluster bus only)"},
    {"cluster", cmd_cluster, -2, 0, 0, 0, 0, "cluster", "A container for Redis Cluster commands"},
    {"readonly", cmd_cluster_ok, 1, NODE_CMD_FAST | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0,
     "cluster", "Enables read queries for a connection to a Redis Cluster replica node"},
    {"readwrite", cmd_cluster_ok, 1, NODE_CMD_FAST | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0,
     "cluster", "Disables read queries for a connection to a Redis Cluster replica node"},
    {"asking", cmd_cluster_ok, 1, NODE_CMD_FAST, 0, 0, 0, "cluster",
     "Sent by cluster clients after an -ASK redirect"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
