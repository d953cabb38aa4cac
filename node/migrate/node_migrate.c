/* node/migrate/node_migrate.c: slot hand-off (see node_migrate.h for the
 * protocol). Three parts:
 *
 *   reconcile  on every installed configuration, each slot's role here
 *              (serving, receiving, sending, handing over, nothing) is
 *              derived from the agreed hand-off map and the previous one;
 *   source     one stream per target member: a FIFO of slots to snapshot,
 *              the live iterator of the current one, live writes from the
 *              db observer, the requests in flight and their replies;
 *   target     the RCMIGRATE command, the fill state of every slot, the
 *              READY report, the DONE that lets a slot be served.
 *
 * The one rule: the source never drops a slot before the target has
 * acknowledged its DONE, and the target never serves it before that DONE
 * (or the source is gone: then it starts empty). */
#include "node/migrate/node_migrate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "common/rc_str.h"
#include "member/member.h"
#include "node/bus/node_bus.h"
#include "node/cluster/node_cluster.h"
#include "node/data/node_codec.h"
#include "node/data/node_db.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "node/repl/node_repl_wait.h"
#include "paxos/paxos.h"
#include "resp/resp_request.h"
#include "resp/resp_scan.h"
#include "resp/resp_write.h"
#include "ring/ring.h"

enum in_state_e {
    IN_NONE = 0,    /* nothing arriving */
    IN_FILLING = 1, /* BEGIN received, snapshot arriving */
    IN_FILLED = 2,  /* snapshot complete (or KEEP), live writes arriving */
    IN_DONE = 3,    /* DONE received: the sender's copy is final */
};

enum out_state_e {
    OUT_NONE = 0,
    OUT_QUEUED = 1, /* waits for its snapshot turn */
    OUT_SNAP = 2,   /* BEGIN (or KEEP) sent, snapshot being read (or KEEP unanswered) */
    OUT_LIVE = 3,   /* SNAPDONE sent (or KEEP answered), live writes follow */
    OUT_DONE = 4,   /* DONE sent, waiting for its +OK */
};

enum hand_e {
    HAND_NONE = 0,
    HAND_OVER = 1,  /* DONE follows the snapshot: the target serves the slot next */
    HAND_FINAL = 2, /* DONE to a replica: this node's copy is final (it lost the slot) */
};

enum op_kind_e {
    OP_BEGIN = 0,
    OP_PUT = 1,
    OP_DEL = 2,
    OP_SNAPDONE = 3,
    OP_DONE = 4,
    OP_KEEP = 5,
};

enum {
    IDLE_TRIM_MS = 1000,       /* a stream that sent nothing this long gives its buffers back */
    DIRECT_PAIR_MIN = 1 << 20, /* a value this big is serialized straight into the batch */
    REPLAY_STRING_MIN = 4096,  /* a string's write is replayed from this length on */
    REPLAY_ARGV_STACK = 16,    /* a replayed command's arguments parsed on the stack */
    KEEP_TRIES = 40,           /* a KEEP the replica cannot take yet is asked again ... */
    KEEP_RETRY_MS = 25,        /* ... this often, then the slot is sent whole */
    /* A DONE's takeover wait is capped here: more than any lease (half the
     * largest cluster-node-timeout), so a garbled one holds a slot no longer */
    DONE_WAIT_MAX_MS = 600000,
};

typedef struct op_s {
    uint8_t kind;
    uint16_t slot;
    uint32_t gen; /* the slot's attempt it belongs to */
    uint64_t bytes;
} op_t;

/* One slot on one stream. */
typedef struct oslot_s {
    uint8_t state; /* OUT_* */
    uint8_t hand;  /* HAND_* */
    uint8_t keep;  /* KEEP instead of BEGIN + snapshot: the target holds the final copy */
    uint8_t sync;  /* the target is a synchronous replica: writes wait while it is not live */
    /* The slot went live on this stream: from then on writes wait while it
     * is not live, whatever the target's role (see stream_break) */
    uint8_t waited;
    uint8_t keep_tries;
    /* A KEEP to a synchronous replica not answered yet (counted in 'nkw'):
     * the slot's reads wait, so this node serves no value the replica may
     * lack (take_over(): 'prior') */
    uint8_t kw;
    uint32_t gen;  /* attempt: an error for an older one is void */
    uint64_t src;  /* the member id this node sends the slot as */
    uint64_t from; /* KEEP: the previous server whose final copy the target holds */
    /* RESYNC instead of BEGIN: the failed server whose copy the target, a
     * synchronous replica of both, may keep and reconcile (see take_over) */
    uint64_t resync;
    uint64_t count;   /* keys sent in this attempt */
    uint64_t seq;     /* the stream's sequence number of the slot's last operation */
    int64_t retry_at; /* a refused slot waits until then */
} oslot_t;

typedef struct ostream_s ostream_t;

/* The stream to one member: its slots (hand-offs and replicas alike). */
struct ostream_s {
    node_migrate_t *m;
    ostream_t *next;
    uint64_t id, incarnation;
    char name[NODE_CLUSTER_ADDR_MAX];
    node_link_t *link;
    resp_scanner_t sc;
    op_t *q; /* ring of requests waiting for their reply */
    size_t qcap, qhead, qlen;
    uint64_t unacked; /* bytes of requests not answered yet */
    uint16_t *todo;   /* ring of slots to snapshot */
    size_t todocap, todohead, todolen;
    int cur; /* slot being read, -1 */
    node_db_slot_iter_t *it;
    rc_buf_t put;      /* the PUT being built: its key/value arguments */
    uint32_t put_keys; /* pairs in 'put' */
    /* The LIVE batch being built (live_add): its operations ('P' or 'D'
     * each), their key and value arguments and how many, and the member id
     * they are sent as. */
    char live_ops[NODE_MIGRATE_LIVEPACK_OPS];
    uint16_t live_slot[NODE_MIGRATE_LIVEPACK_OPS]; /* each one's slot, and ... */
    uint32_t live_off[NODE_MIGRATE_LIVEPACK_OPS];  /* ... where its arguments start */
    rc_buf_t live;
    uint32_t live_n, live_argc;
    uint64_t live_src;
    int broken;
    int64_t retry_at;
    int over;        /* past the buffer bound: writes to its slots wait */
    oslot_t *sl;     /* RING_SLOTS entries */
    unsigned nslots; /* slots with a state */
    /* Replication: operations sent and answered, the replies waiting for
     * them (node/repl), and the command whose writes it carries last. */
    node_repl_link_t rl;
    uint64_t defer_epoch; /* the newest epoch a deferred refusal came from */
    uint64_t touched, cmd_first;
    int64_t sent_ms; /* when it last sent a LIVE batch or a PUT (stream_trim()) */
};

enum {
    VERDICT_WHY_MAX = 128, /* a failed wait's reason, as kept for an open group */
};

struct node_migrate_s {
    node_server_t *server;
    node_cluster_t *cl;
    node_bus_t *bus;
    node_db_t *db;
    node_migrate_replay_fn *replay; /* node_migrate_set_replayer() */
    void *replay_arg;
    char replay_err[160]; /* a refused replay's error */
    uv_timer_t timer;
    uv_idle_t idle;
    int idle_on;
    int closed;
    int have_map;
    unsigned replicas; /* R of the installed configuration */
    uint64_t my_id;    /* member id in the installed configuration, 0: none */
    uint64_t epoch;
    uint64_t serve_id[RING_SLOTS];
    uint64_t target_id[RING_SLOTS];
    /* this node's copy of a slot it does not serve: a replica in the serving
     * placement (synchronous), in the target one, or both */
    uint8_t sync[RING_SLOTS];
    uint8_t copy[RING_SLOTS];
    /* the member whose final copy this node holds ('final_from'), and the
     * one that just handed a slot over to it ('keep_from'): its replicas
     * are asked to KEEP what they have */
    uint64_t final_from[RING_SLOTS];
    uint64_t final_epoch[RING_SLOTS]; /* the epoch that final copy was handed over at */
    uint64_t keep_from[RING_SLOTS];
    /* Serving: the failed server this node took 'slot' over from with a
     * complete copy; its other synchronous replicas are asked to RESYNC
     * (want_replicas). Receiving: the fill is a RESYNC over the copy this
     * node kept (its keys not written since are swept at SNAPDONE). */
    uint64_t resync_from[RING_SLOTS];
    uint8_t resync_in[RING_SLOTS];
    /* Receiving: the failed server whose complete copy this node holds as
     * its synchronous replica (the new server's RESYNC keeps it) */
    uint64_t kept_of[RING_SLOTS];
    uint64_t kept_epoch[RING_SLOTS]; /* the configuration that removed it */
    /* streams' slots sent as RESYNC and not live yet: the slot's reads
     * wait too (node_migrate_slot_waits) */
    unsigned nresync;
    unsigned nkw;                     /* oslot_t.kw set, over every stream */
    uint64_t serve_since[RING_SLOTS]; /* the epoch serve_id last changed at (this node's view) */
    uint64_t serve_prev[RING_SLOTS];  /* serve_id before that change */
    /* receiving */
    uint8_t in_state[RING_SLOTS];
    uint64_t in_src[RING_SLOTS];
    uint64_t in_count[RING_SLOTS];
    /* the epoch the sender began it at (BEGIN, KEEP): ahead of this node's
     * when the sender installed a configuration this node has not yet */
    uint64_t in_epoch[RING_SLOTS];
    /* serving, waiting for the previous server's DONE */
    uint64_t await_src[RING_SLOTS];
    int64_t await_since[RING_SLOTS];
    /* taken over from a primary that did not hand it over: served from
     * 'takeover_until' on, when that primary's lease has surely run out
     * (one time for all: the latest takeover's; cleared once it passed) */
    uint8_t takeover[RING_SLOTS];
    int64_t takeover_until;
    /* Receiving: the DONE that came before this node installed the switch
     * carried the rest of such a wait; the latest end of those waits (a
     * later one only makes the others longer) */
    uint8_t done_wait[RING_SLOTS];
    int64_t done_until;
    unsigned nawait;
    ostream_t *streams;
    /* background drop */
    uint8_t dropping[RING_SLOTS];
    unsigned ndropping;
    unsigned drop_cursor;
    /* READY */
    int ready_dirty;
    uint64_t ready_for;
    int64_t ready_at;
    int64_t ready_checked; /* when check_ready() last ran */
    void (*release_fn)(void *);
    void *release_arg;
    rc_buf_t scratch;
    uint64_t cmd_serial; /* the command whose writes the streams carry now */
    /* The open group: consecutive commands of one connection whose
     * replies wait for the replicas together, in one segment with one
     * waiter, until the end of the loop iteration (node_migrate_fence()) */
    node_repl_waiter_t *group_w;
    node_conn_seg_t *group_seg;
    /* Its wait failed while it was open (a link broke): the replies get
     * the error when it closes, not while a command may still be writing
     * its reply into the segment. */
    int group_failed;
    char group_why[VERDICT_WHY_MAX];
    node_migrate_stats_t st;
    node_migrate_repl_stats_t rst;
    uint64_t rate_mark_keys;
    int64_t rate_mark_ms;
    int64_t leave_log_ms;
    int64_t stale_log_ms; /* the last request logged as sent to a previous incarnation */
    int left;             /* this node left gracefully (its slots went by hand-over) */
};

/* The monotonic clock (rc_mono_ms()) as of the last update of the
 * server's time: takeover bounds come from node_cluster, which reads the
 * same clock, and a time read earlier only makes a wait longer. */
static int64_t now_ms(const node_migrate_t *m)
{
    return m->server->mono_ms;
}

static void kick(node_migrate_t *m);
static void stream_break(ostream_t *s, const char *why);

/* ---- small helpers ---- */

static const paxos_member_t *member_by_id(const paxos_config_t *c, uint64_t id)
{
    int i = id != 0 ? paxos_config_find(c, id) : -1;

    return i >= 0 ? &c->members[i] : NULL;
}

static void release(node_migrate_t *m)
{
    if (m->release_fn != NULL)
        m->release_fn(m->release_arg);
}

/* 1 when this node keeps 'slot's keys: it serves the slot, holds a copy of
 * it, or is being filled with it. */
static int keeps(const node_migrate_t *m, unsigned slot)
{
    return (m->serve_id[slot] == m->my_id && m->my_id != 0) || m->copy[slot] ||
           m->in_state[slot] != 0;
}

/* 1 when this node still hands 'slot' over to its new server (DONE not
 * acknowledged yet): if the stream breaks or the slot is refused, it is
 * sent again from BEGIN, which empties the target's copy, so the keys must
 * stay here until then. */
static int handing_over(const node_migrate_t *m, unsigned slot)
{
    const ostream_t *s;

    for (s = m->streams; s != NULL; s = s->next) {
        if (s->sl[slot].state != OUT_NONE && s->sl[slot].hand == HAND_OVER)
            return 1;
    }
    return 0;
}

/* Empties 'slot' now (a slot about to be served or filled from scratch). */
static void drop_now(node_migrate_t *m, unsigned slot)
{
    size_t before = node_db_slot_count(m->db, slot);

    m->final_from[slot] = 0; /* no copy to KEEP any more */
    m->kept_of[slot] = 0;    /* nor to RESYNC */
    if (before > 0) {
        (void)node_db_slot_drop(m->db, slot, SIZE_MAX);
        m->st.keys_dropped += before;
    }
    if (m->dropping[slot]) {
        m->dropping[slot] = 0;
        m->ndropping--;
    }
}

/* Empties 'slot' in the background (the timer), unless this node keeps it
 * or still hands it over (the hand-over's end calls this again). */
static void drop_later(node_migrate_t *m, unsigned slot)
{
    if (!keeps(m, slot)) {
        m->final_from[slot] = 0; /* no copy to KEEP any more */
        m->kept_of[slot] = 0;
    }
    if (!m->dropping[slot] && !keeps(m, slot) && !handing_over(m, slot) &&
        node_db_slot_count(m->db, slot) > 0) {
        m->dropping[slot] = 1;
        m->ndropping++;
    }
}

static void in_reset(node_migrate_t *m, unsigned slot)
{
    if (m->in_state[slot] != IN_NONE && m->in_src[slot] == m->final_from[slot])
        m->final_from[slot] = 0; /* that copy is no longer followed */
    m->in_state[slot] = IN_NONE;
    m->in_src[slot] = 0;
    m->in_count[slot] = 0;
    m->in_epoch[slot] = 0;
    m->resync_in[slot] = 0;
    m->done_wait[slot] = 0;
    m->ready_dirty = 1;
}

/* 1 when this node follows 'src''s copy of 'slot' whole: its snapshot
 * came (or its final copy was kept), or a RESYNC from it runs over the
 * complete copy this node kept; either way every write 'src' acknowledged
 * is here. */
static int follows_whole(const node_migrate_t *m, unsigned slot, uint64_t src)
{
    uint8_t st = m->in_state[slot];

    return m->in_src[slot] == src &&
           (st == IN_FILLED || st == IN_DONE || (st == IN_FILLING && m->resync_in[slot]));
}

/* 1 when this node holds the final copy of the server 'p' took 'slot'
 * over from (handed over at 'p_since', the epoch 'p' began to serve at,
 * this node a synchronous replica since: else it was forgotten) and
 * received nothing from 'p' since. 'p' never took this copy up, so it
 * acknowledged no write to the slot (each waits for every synchronous
 * replica to be live): the copy holds every acknowledged write, and every
 * value 'p' could have served. */
static int holds_final_before(const node_migrate_t *m, unsigned slot, uint64_t p, uint64_t p_since)
{
    return m->final_from[slot] != 0 && m->in_src[slot] != p && m->final_epoch[slot] == p_since &&
           p_since != 0;
}

/* 'slot' is kept after all: its background drop stops. */
static void undrop(node_migrate_t *m, unsigned slot)
{
    if (m->dropping[slot]) {
        m->dropping[slot] = 0;
        m->ndropping--;
    }
}

static void await_set(node_migrate_t *m, unsigned slot, uint64_t src)
{
    if (m->await_src[slot] == 0)
        m->nawait++;
    m->await_src[slot] = src;
    m->await_since[slot] = now_ms(m);
}

static void await_clear(node_migrate_t *m, unsigned slot)
{
    if (m->await_src[slot] != 0)
        m->nawait--;
    m->await_src[slot] = 0;
}

/* 'slot' is served only from 'until' on (a takeover's bound, see
 * take_over(), or the rest of it a DONE carried). One end for all slots:
 * the latest (a later end only makes the other waits longer). */
static void takeover_wait(node_migrate_t *m, unsigned slot, int64_t until)
{
    m->takeover[slot] = 1;
    if (until > m->takeover_until)
        m->takeover_until = until;
}

/* What is left of 'slot''s takeover wait (ms), 0 when none. */
static int64_t takeover_left(const node_migrate_t *m, unsigned slot)
{
    return m->takeover[slot] && m->takeover_until > now_ms(m) ? m->takeover_until - now_ms(m) : 0;
}

/* ---- replies held for the replicas ---- */

/* A reply's wait is over (node/repl): it goes, or gives way to -TRYAGAIN. */
enum {
    VERDICT_ERR_MAX = 160,
};

/* Counts the verdict of a waiter for 'n' replies; on failure writes its
 * "-TRYAGAIN <why>" reply into 'err' (VERDICT_ERR_MAX bytes) and returns
 * its length, else 0. */
static size_t verdict(node_migrate_t *m, unsigned n, int failed, const char *why, char *err)
{
    int len;

    m->rst.inflight -= n;
    if (!failed) {
        m->rst.writes_acked += n;
        return 0;
    }
    m->rst.write_timeouts += n;
    len = snprintf(err, VERDICT_ERR_MAX, "-TRYAGAIN %s\r\n", why);
    return len > 0 && len < VERDICT_ERR_MAX ? (size_t)len : 0;
}

/* A group's wait is over: its replies go, or each gives way to the error
 * (a reply per command: every command of the group gets it, whichever of
 * their writes failed; each may or may not have taken effect). */
static void group_done(node_migrate_t *m, node_conn_seg_t *seg, int failed, const char *why)
{
    unsigned n = seg->nreq;
    char err[VERDICT_ERR_MAX];
    size_t len = verdict(m, n, failed, why, err);

    if (!failed) {
        node_conn_seg_complete(seg, NULL, 0);
        return;
    }
    seg->len = 0;
    if (n > 1 && len > 0) {
        char *all = rc_xmalloc(len * n);

        for (unsigned i = 0; i < n; i++)
            memcpy(all + (size_t)i * len, err, len);
        node_conn_seg_complete(seg, all, len * n);
        rc_free(all);
        return;
    }
    node_conn_seg_complete(seg, err, len);
}

static void on_waited(void *arg, void *token, int failed, const char *why)
{
    node_migrate_t *m = arg;
    node_conn_seg_t *seg = token;

    if (seg == m->group_seg) {
        /* Still open (only a failure comes this early): group_close(). */
        m->group_failed = 1;
        snprintf(m->group_why, sizeof(m->group_why), "%s", why);
        return;
    }
    group_done(m, seg, failed, why);
}

/* ---- requests on a stream ---- */

static void q_push(ostream_t *s, uint8_t kind, unsigned slot, uint64_t bytes)
{
    op_t *op;

    if (s->qlen == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 64, i;
        op_t *q = rc_xmalloc(cap * sizeof(*q));

        for (i = 0; i < s->qlen; i++)
            q[i] = s->q[(s->qhead + i) & (s->qcap - 1)];
        rc_free(s->q);
        s->q = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    op = &s->q[(s->qhead + s->qlen) & (s->qcap - 1)];
    op->kind = kind;
    op->slot = (uint16_t)slot;
    op->gen = s->sl[slot].gen;
    op->bytes = bytes;
    s->qlen++;
    s->unacked += bytes;
    s->sl[slot].seq = node_repl_link_sent(&s->rl);
}

static void put_bulk(char *p, size_t *n, const void *data, size_t len)
{
    *n += resp_write_header(p + *n, '$', (long long)len);
    memcpy(p + *n, data, len);
    *n += len;
    p[(*n)++] = '\r';
    p[(*n)++] = '\n';
}

static void put_num(char *p, size_t *n, unsigned long long v)
{
    char tmp[24];
    size_t len = rc_ll2str(tmp, (long long)v);

    put_bulk(p, n, tmp, len);
}

/* ---- live writes, batched ----
 * Each live write is one operation on the stream (q_push(): it gets a reply
 * of its own and the replies that wait for it count it), but the writes of
 * one loop iteration travel in one "RCMIGRATE LIVE <src> <ops> <key>
 * [<value>]..." request, 'ops' a letter per write (P: its key and value
 * follow; D: its key, deleted): the target parses and dispatches one
 * request instead of one per write, takes each key's slot from the key,
 * and answers each write in order as it would its own PUT or DEL. Whatever
 * else is sent on the stream goes after the batch (send_cmd() sends it
 * first), and the link sends it before it writes (link_ops.on_flush).
 * A peer that announces LIVEPACK (NODE_BUS_FEATURE_LIVEPACK) gets the keys
 * and values packed in one argument, "RCMIGRATE LIVEPACK <src> <ops>
 * <bulks>", the same bulks back to back: its request parser then reads
 * five arguments, not one or two a write, and cmd_live() splits the last
 * with resp_scan_bulks(). A peer that announces only LIVE gets them
 * as arguments, and one that does not announce LIVE (NODE_BUS_FEATURE_LIVE:
 * an older node, during a rolling upgrade) gets the batch as one PUT or
 * DEL per write. */

static size_t put_cmd(ostream_t *s, const char *op, uint64_t src, unsigned slot,
                      const uint64_t *nums, int nnums, const char *body, size_t bodylen, int nbody);

static void live_reset(ostream_t *s)
{
    s->live_n = 0;
    s->live_argc = 0;
    rc_buf_reset(&s->live);
}

static void live_flush(ostream_t *s)
{
    char *p;
    size_t n;

    if (s->live_n == 0)
        return;
    if (!(node_link_peer_features(s->link) & NODE_BUS_FEATURE_LIVE)) {
        uint32_t i;

        for (i = 0; i < s->live_n; i++) {
            size_t end = i + 1 < s->live_n ? s->live_off[i + 1] : s->live.len;
            int put = s->live_ops[i] == 'P';

            put_cmd(s, put ? "PUT" : "DEL", s->live_src, s->live_slot[i], NULL, 0,
                    s->live.data + s->live_off[i], end - s->live_off[i], put ? 2 : 1);
        }
        live_reset(s);
        return;
    }
    p = node_link_reserve(s->link, 6 * RESP_HEADER_MAX + 64 + s->live_n + s->live.len);
    if (node_link_peer_features(s->link) & NODE_BUS_FEATURE_LIVEPACK) {
        n = resp_write_header(p, '*', 5);
        put_bulk(p, &n, "RCMIGRATE", 9);
        put_bulk(p, &n, "LIVEPACK", 8);
        put_num(p, &n, s->live_src);
        put_bulk(p, &n, s->live_ops, s->live_n);
        put_bulk(p, &n, s->live.data, s->live.len);
    } else {
        n = resp_write_header(p, '*', 4 + (long long)s->live_argc);
        put_bulk(p, &n, "RCMIGRATE", 9);
        put_bulk(p, &n, "LIVE", 4);
        put_num(p, &n, s->live_src);
        put_bulk(p, &n, s->live_ops, s->live_n);
        memcpy(p + n, s->live.data, s->live.len);
        n += s->live.len;
    }
    node_link_commit(s->link, n);
    live_reset(s);
    s->sent_ms = now_ms(s->m);
}

/* The operations a batch to this peer may hold (its link's features are
 * fixed while it is open, and a batch does not outlive the link:
 * stream_break() empties it). */
static uint32_t live_cap(const ostream_t *s)
{
    return node_link_peer_features(s->link) & NODE_BUS_FEATURE_LIVEPACK ? NODE_MIGRATE_LIVEPACK_OPS
                                                                        : NODE_MIGRATE_LIVE_OPS;
}

/* Appends the key/value bulks of object 'o' to 'b' ('vlen': its
 * node_obj_serialized_size(), which the caller looked at already). A big
 * string is serialized straight into 'b' (its size known beforehand), not
 * through the scratch buffer: one copy of a big value less, within one turn
 * of the loop, into fresh pages. */
static void append_pair(node_migrate_t *m, rc_buf_t *b, const node_obj_t *o, size_t vlen)
{
    size_t klen, n = 0, at;
    const char *key = node_obj_key(o, &klen);
    char *p;

    if (vlen >= DIRECT_PAIR_MIN) {
        /* Room for the serializer's own reservations too: no regrowth. */
        p = rc_buf_reserve(b, klen + vlen + 2 * RESP_HEADER_MAX + 32);
        put_bulk(p, &n, key, klen);
        n += resp_write_header(p + n, '$', (long long)vlen);
        rc_buf_commit(b, n);
        at = b->len;
        node_obj_serialize(o, b);
        RC_ASSERT(b->len - at == vlen);
        rc_buf_append(b, "\r\n", 2);
        return;
    }
    rc_buf_reset(&m->scratch);
    node_obj_serialize(o, &m->scratch);
    p = rc_buf_reserve(b, klen + m->scratch.len + 2 * RESP_HEADER_MAX + 4);
    put_bulk(p, &n, key, klen);
    put_bulk(p, &n, m->scratch.data, m->scratch.len);
    rc_buf_commit(b, n);
}

/* The bytes of the key and value bulks of 'o' (a string serializing to
 * 'vlen' bytes) in a batch: each "$<digits>\r\n<bytes>\r\n". */
static size_t pair_len(const node_obj_t *o, size_t vlen)
{
    char tmp[24];
    size_t klen;

    (void)node_obj_key(o, &klen);
    return rc_ll2str(tmp, (long long)klen) + rc_ll2str(tmp, (long long)vlen) + klen + vlen + 10;
}

/* A big string goes in a batch of its own, built where the link sends it
 * from (node_link_append_buf() takes the buffer, not a copy of it): one
 * copy of the value into fresh pages in this turn of the loop, not two
 * (about 1 ms a MB each here). Only to a LIVEPACK peer. */
static int live_alone(const ostream_t *s, size_t vlen)
{
    return vlen >= DIRECT_PAIR_MIN &&
           (node_link_peer_features(s->link) & NODE_BUS_FEATURE_LIVEPACK);
}

/* Sends the big string 'o' (serialized: 'vlen' bytes) of source
 * 's->live_src' in a batch of its own (the batch before it has gone).
 * Returns the bytes of its bulks. */
static size_t live_send_alone(ostream_t *s, const node_obj_t *o, size_t vlen)
{
    size_t pair = pair_len(o, vlen), n = 0, at;
    char *p;

    RC_ASSERT(s->live_n == 0 && s->live.len == 0);
    p = rc_buf_reserve(&s->live, 6 * RESP_HEADER_MAX + 64);
    n = resp_write_header(p, '*', 5);
    put_bulk(p, &n, "RCMIGRATE", 9);
    put_bulk(p, &n, "LIVEPACK", 8);
    put_num(p, &n, s->live_src);
    put_bulk(p, &n, "P", 1);
    n += resp_write_header(p + n, '$', (long long)pair);
    rc_buf_commit(&s->live, n);
    at = s->live.len;
    append_pair(s->m, &s->live, o, vlen);
    RC_ASSERT(s->live.len - at == pair);
    rc_buf_append(&s->live, "\r\n", 2);
    node_link_append_buf(s->link, &s->live);
    live_reset(s);
    s->sent_ms = now_ms(s->m);
    return pair;
}

/* The bytes of the command of 'ch' packed as a replayed write's second
 * bulk: "<argc>\r\n", then its arguments' bulks. */
static size_t replay_len(const node_db_change_t *ch)
{
    char tmp[24];
    size_t n = rc_ll2str(tmp, ch->argc) + 2;

    for (int i = 0; i < ch->argc; i++)
        n += rc_ll2str(tmp, (long long)ch->argv[i].len) + ch->argv[i].len + 5;
    return n;
}

/* 1 when the write 'ch' of 'slot' goes to 's' as its command (a 'C'
 * operation, '*len' bytes packed): the command allows it (ch->argv), the
 * peer's copy of the slot holds every earlier write (OUT_LIVE: after its
 * snapshot or KEEP, in order on this link), the peer takes replays, and the
 * value is a collection, or a string far bigger than the command (APPEND,
 * SETRANGE). A small string costs the same either way. */
static int live_replays(const ostream_t *s, unsigned slot, const node_db_change_t *ch, size_t *len)
{
    const unsigned both = NODE_BUS_FEATURE_LIVEPACK | NODE_BUS_FEATURE_REPLAY;
    size_t vlen;

    if (ch->argc < 2 || s->sl[slot].state != OUT_LIVE ||
        (node_link_peer_features(s->link) & both) != both)
        return 0;
    *len = replay_len(ch);
    if (node_obj_type(ch->obj) != NODE_OBJ_STRING)
        return 1;
    vlen = node_obj_strlen(ch->obj);
    return vlen >= REPLAY_STRING_MIN && *len < vlen / 2;
}

/* Writes the bulks of the write 'ch' as its command ('clen' bytes packed):
 * the key's bulk, then the command's. */
static void live_put_replay(ostream_t *s, const node_db_change_t *ch, size_t clen)
{
    size_t n = 0;
    char *p = rc_buf_reserve(&s->live, ch->klen + clen + 2 * RESP_HEADER_MAX + 8);

    put_bulk(p, &n, ch->key, ch->klen);
    n += resp_write_header(p + n, '$', (long long)clen);
    n += rc_ll2str(p + n, ch->argc);
    p[n++] = '\r';
    p[n++] = '\n';
    for (int i = 0; i < ch->argc; i++)
        put_bulk(p, &n, ch->argv[i].ptr, ch->argv[i].len);
    p[n++] = '\r';
    p[n++] = '\n';
    rc_buf_commit(&s->live, n);
    s->m->rst.writes_replayed++;
}

/* Adds the change 'ch' of a key of 'slot' to the batch, its key (and
 * value, or command) bulks written straight into it; sends the batch when
 * it is full. Returns the bytes it takes. */
static size_t live_add(ostream_t *s, unsigned slot, const node_db_change_t *ch)
{
    uint64_t src = s->sl[slot].src;
    int write = ch->kind == NODE_DB_CHANGE_WRITE;
    size_t clen = 0, at, len, vlen;
    int replay = write && live_replays(s, slot, ch, &clen);

    if (s->live_n > 0 && s->live_src != src)
        live_flush(s);
    /* A replayed write's value is never serialized: that is its point. */
    vlen = write && !replay ? node_obj_serialized_size(ch->obj) : 0;
    if (write && !replay && live_alone(s, vlen)) {
        live_flush(s); /* the writes before it go first */
        s->live_src = src;
        return live_send_alone(s, ch->obj, vlen) + 1;
    }
    at = s->live.len;
    s->live_src = src;
    s->live_slot[s->live_n] = (uint16_t)slot;
    s->live_off[s->live_n] = (uint32_t)at;
    s->live_ops[s->live_n++] = replay ? 'C' : write ? 'P' : 'D';
    s->live_argc += write ? 2 : 1;
    if (replay) {
        live_put_replay(s, ch, clen);
    } else if (write) {
        append_pair(s->m, &s->live, ch->obj, vlen);
    } else {
        size_t n = 0;
        char *p = rc_buf_reserve(&s->live, ch->klen + RESP_HEADER_MAX + 2);

        put_bulk(p, &n, ch->key, ch->klen);
        rc_buf_commit(&s->live, n);
    }
    len = s->live.len - at;
    if (s->live_n == live_cap(s) || s->live.len >= NODE_MIGRATE_PUT_BYTES)
        live_flush(s);
    return len + 1;
}

/* Before the link writes: the batch goes, unless what was sent before it
 * is not all answered yet. Then it waits for those replies (and grows, up
 * to its cap), so that under load one write and one read on each side
 * carry several loop iterations' writes (group commit); a write that
 * finds nothing in flight goes at once. */
static void on_link_flush(void *arg, node_link_t *l)
{
    ostream_t *s = arg;

    (void)l;
    if (s->qlen > s->live_n)
        return;
    live_flush(s);
}

/* Queues "RCMIGRATE <op> <src> <slot> <nums...>" followed by 'body' (the
 * bulks of 'nbody' more arguments). Returns the bytes written. */
static size_t put_cmd(ostream_t *s, const char *op, uint64_t src, unsigned slot,
                      const uint64_t *nums, int nnums, const char *body, size_t bodylen, int nbody)
{
    size_t need = 5 * RESP_HEADER_MAX + 64 + (size_t)nnums * (RESP_HEADER_MAX + 24) + bodylen;
    char *p = node_link_reserve(s->link, need);
    size_t n;
    int i;

    n = resp_write_header(p, '*', 4 + nnums + nbody);
    put_bulk(p, &n, "RCMIGRATE", 9);
    put_bulk(p, &n, op, strlen(op));
    put_num(p, &n, src);
    put_num(p, &n, slot);
    for (i = 0; i < nnums; i++)
        put_num(p, &n, nums[i]);
    if (bodylen > 0)
        memcpy(p + n, body, bodylen);
    n += bodylen;
    node_link_commit(s->link, n);
    return n;
}

/* put_cmd() after the LIVE batch queued before it. */
static size_t send_cmd(ostream_t *s, const char *op, unsigned slot, const uint64_t *nums, int nnums,
                       const char *body, size_t bodylen, int nbody)
{
    live_flush(s);
    return put_cmd(s, op, s->sl[slot].src, slot, nums, nnums, body, bodylen, nbody);
}

static void flush_put(ostream_t *s)
{
    node_migrate_t *m = s->m;
    size_t n;

    if (s->put_keys == 0 || s->cur < 0)
        return;
    n = send_cmd(s, "PUT", (unsigned)s->cur, NULL, 0, s->put.data, s->put.len,
                 2 * (int)s->put_keys);
    q_push(s, OP_PUT, (unsigned)s->cur, n);
    s->sl[s->cur].count += s->put_keys;
    m->st.keys_sent += s->put_keys;
    m->st.bytes_sent += n;
    s->put_keys = 0;
    rc_buf_reset(&s->put);
    s->sent_ms = now_ms(m);
}

/* DONE <count> <epoch> <wait>: 'wait' is what is left of this node's
 * takeover wait for the slot (ms, 0: none). The DONE goes at once; the new
 * server waits out the rest (cmd_done()), so a slot taken over and handed
 * on at once is not served before the failed primary's lease has surely
 * run out, and its final copy is not held back meanwhile. A peer that does
 * not announce NODE_BUS_FEATURE_DONEWAIT (an older version, during a
 * rolling upgrade) gets DONE <count> <epoch>, and serves at once. */
static void send_done(ostream_t *s, unsigned slot)
{
    node_migrate_t *m = s->m;
    uint64_t nums[3] = {s->sl[slot].count, m->epoch, (uint64_t)takeover_left(m, slot)};
    int nnums = node_link_peer_features(s->link) & NODE_BUS_FEATURE_DONEWAIT ? 3 : 2;
    size_t n = send_cmd(s, "DONE", slot, nums, nnums, NULL, 0, 0);

    q_push(s, OP_DONE, slot, n);
    s->sl[slot].state = OUT_DONE;
}

/* ---- streams ---- */

static ssize_t on_link_data(void *arg, node_link_t *l, const char *data, size_t len);
static void on_link_fail(void *arg, node_link_t *l, const char *reason);

static void on_link_flush(void *arg, node_link_t *l);

static void on_link_open(void *arg, node_link_t *l)
{
    ostream_t *s = arg;

    (void)l;
    if (s->cur >= 0 || s->todolen > 0)
        kick(s->m);
}

static const node_link_ops_t link_ops = {on_link_open, NULL, on_link_data, on_link_fail,
                                         on_link_flush};

static ostream_t *stream_find(node_migrate_t *m, uint64_t id)
{
    ostream_t *s;

    for (s = m->streams; s != NULL; s = s->next) {
        if (s->id == id)
            return s;
    }
    return NULL;
}

static ostream_t *stream_get(node_migrate_t *m, const paxos_member_t *pm)
{
    ostream_t *s = stream_find(m, pm->id);
    node_link_opts_t o;

    if (s != NULL)
        return s;
    s = rc_xcalloc(1, sizeof(*s));
    s->m = m;
    s->id = pm->id;
    s->incarnation = pm->incarnation;
    s->cur = -1;
    snprintf(s->name, sizeof(s->name), "%s", pm->client_addr);
    memset(&o, 0, sizeof(o));
    o.role = NODE_BUS_ROLE_DATA;
    o.resp = 2;
    o.channel = 1;
    o.peer_id = pm->id;
    o.peer_incarnation = pm->incarnation;
    o.name = s->name;
    o.backoff_min_ms = 50;
    o.backoff_max_ms = 1000;
    o.handshake_ms = 2000;
    s->link = node_link_get(m->bus, pm->bus_addr, &o, &link_ops, s);
    if (s->link == NULL) {
        rc_free(s);
        return NULL;
    }
    s->sl = rc_xcalloc(RING_SLOTS, sizeof(*s->sl));
    node_repl_link_init(&s->rl);
    resp_scanner_init(&s->sc);
    rc_buf_init(&s->put);
    rc_buf_init(&s->live);
    s->next = m->streams;
    m->streams = s;
    m->st.streams++;
    return s;
}

static void todo_push(ostream_t *s, unsigned slot)
{
    if (s->todolen == s->todocap) {
        size_t cap = s->todocap ? s->todocap * 2 : 256, i;
        uint16_t *t = rc_xmalloc(cap * sizeof(*t));

        for (i = 0; i < s->todolen; i++)
            t[i] = s->todo[(s->todohead + i) & (s->todocap - 1)];
        rc_free(s->todo);
        s->todo = t;
        s->todocap = cap;
        s->todohead = 0;
    }
    s->todo[(s->todohead + s->todolen) & (s->todocap - 1)] = (uint16_t)slot;
    s->todolen++;
}

static void cur_stop(ostream_t *s)
{
    node_db_slot_iter_destroy(s->it);
    s->it = NULL;
    s->cur = -1;
    s->put_keys = 0;
    rc_buf_reset(&s->put);
}

/* 'o' is no longer sent as a RESYNC: its slot's reads stop waiting for it
 * (parked ones are looked at again on the next tick). */
static void resync_clear(node_migrate_t *m, oslot_t *o)
{
    if (o->resync != 0) {
        o->resync = 0;
        m->nresync--;
    }
}

/* Sets 'o''s unanswered-KEEP mark (oslot_t.kw), keeping 'nkw' in step. */
static void kw_set(node_migrate_t *m, oslot_t *o, int on)
{
    if (o->kw != (uint8_t)(on != 0)) {
        o->kw = (uint8_t)(on != 0);
        if (on)
            m->nkw++;
        else
            m->nkw--;
    }
}

/* Stops sending 'slot' on 's' (its target's own reconcile drops what it
 * got, or keeps it as a copy). */
static void out_cancel(ostream_t *s, unsigned slot)
{
    oslot_t *o = &s->sl[slot];

    if (o->state == OUT_NONE)
        return;
    if (s->cur == (int)slot)
        cur_stop(s);
    resync_clear(s->m, o);
    kw_set(s->m, o, 0);
    o->state = OUT_NONE;
    o->hand = HAND_NONE;
    o->keep = 0;
    o->sync = 0;
    o->waited = 0;
    o->count = 0;
    s->nslots--;
}

/* Cancels 'slot' on every stream but 'except'. */
static void out_cancel_all(node_migrate_t *m, unsigned slot, const ostream_t *except)
{
    ostream_t *s;

    for (s = m->streams; s != NULL; s = s->next) {
        if (s != except)
            out_cancel(s, slot);
    }
}

/* Sends 'slot' to member 'to' as member 'src', the id under which this node
 * serves (or served) it. 'hand': HAND_OVER when this node no longer serves
 * it (DONE follows the snapshot); 'keep': the previous server of the slot
 * whose final copy the target may hold (KEEP instead of a snapshot), or 0;
 * 'resync': the failed server whose complete copy the target may keep and
 * reconcile (RESYNC instead of BEGIN; not with 'keep'), or 0; 'sync': the
 * target is a synchronous replica. A node that restarted, or left and joined
 * again, has had other ids: the target expects the slot from the one that
 * served it. */
static void out_want(node_migrate_t *m, const paxos_config_t *c, unsigned slot, uint64_t to,
                     int hand, uint64_t src, uint64_t keep, int sync, uint64_t resync)
{
    const paxos_member_t *pm = member_by_id(c, to);
    ostream_t *s;
    oslot_t *o;

    if (pm == NULL || src == 0)
        return;
    s = stream_find(m, to);
    /* A final notice or a hand-over this node sent 'to' when it lost the
     * slot is not the stream of a replica: if this node serves the slot
     * again (its new server failed), it starts over. Before, the notice's
     * answer ended it (out_cancel()), and 'to' was never filled again: the
     * next transition waited for it for ever. */
    if (s != NULL && s->sl[slot].state != OUT_NONE && s->sl[slot].src == src &&
        !(hand == HAND_NONE && s->sl[slot].hand != HAND_NONE)) {
        o = &s->sl[slot];
        /* A RESYNC from this node itself (stream_break) stays one when the
         * target stops being synchronous: writes have waited for it since
         * it went live ('waited'), so its copy misses none. */
        o->sync = (uint8_t)sync;
        kw_set(m, o, o->keep && o->sync && o->state != OUT_LIVE);
        if (hand == HAND_OVER && o->hand != HAND_OVER) {
            o->hand = HAND_OVER;
            if (o->state == OUT_LIVE && !s->broken)
                send_done(s, slot);
        }
        return;
    }
    if (s != NULL)
        out_cancel(s, slot);
    s = stream_get(m, pm);
    if (s == NULL)
        return;
    o = &s->sl[slot];
    o->state = OUT_QUEUED;
    o->hand = (uint8_t)hand;
    o->keep = keep != 0;
    o->from = keep;
    o->keep_tries = 0;
    o->sync = (uint8_t)sync;
    o->waited = 0;
    o->resync = keep == 0 ? resync : 0;
    if (o->resync != 0)
        m->nresync++;
    o->src = src;
    o->count = 0;
    o->gen++;
    s->nslots++;
    kw_set(m, o, o->keep && sync);
    todo_push(s, slot);
    if (sync && keep == 0 && o->resync == 0 && hand == HAND_NONE)
        rc_log(RC_LOG_VERBOSE,
               "migrate: slot %u to %s: a synchronous replica sent the slot whole (BEGIN), "
               "as member %" PRIu64 " at epoch %" PRIu64,
               slot, s->name, src, m->epoch);
}

/* Starts 'slot' over on its stream after a refusal (BEGIN empties it on
 * the target again), after 'backoff' ms. */
static void slot_restart(ostream_t *s, unsigned slot, const char *why, int64_t backoff)
{
    node_migrate_t *m = s->m;
    oslot_t *o = &s->sl[slot];

    if (s->cur == (int)slot)
        cur_stop(s);
    o->state = OUT_QUEUED;
    o->count = 0;
    o->gen++;
    o->retry_at = now_ms(m) + backoff;
    if (why != NULL) {
        m->st.stream_failures++;
        snprintf(m->st.last_error, sizeof(m->st.last_error), "slot %u to %.40s: %.60s", slot,
                 s->name, why);
        rc_log(RC_LOG_VERBOSE, "migrate: slot %u to %s starts over: %s", slot, s->name, why);
    }
    todo_push(s, slot);
}

/* Frees stream 's' (its slots are cancelled first); 'forget': its member
 * is gone from the configuration, the replies stop waiting for it (else
 * they fail: this node shuts down). */
static void stream_free(ostream_t *s, int forget)
{
    node_migrate_t *m = s->m;
    ostream_t **pp;

    if (forget)
        node_repl_link_forget(&s->rl);
    node_repl_link_free(&s->rl);
    for (pp = &m->streams; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    cur_stop(s);
    node_link_close(s->link, "slot hand-off over", 1);
    rc_free(s->q);
    rc_free(s->todo);
    rc_free(s->sl);
    rc_buf_free(&s->put);
    rc_buf_free(&s->live);
    rc_free(s);
    m->st.streams--;
}

/* Every slot on 's' starts over after a backoff; the replies that waited
 * for it fail (the writes may or may not have reached the replica). A
 * slot that went live (a synchronous replica's, a new copy's filling
 * during a transition, a hand-over's whose DONE is unanswered) starts over
 * as a RESYNC from this node itself: the target keeps its copy, which
 * holds every write this node acknowledged (each waited for it since it
 * went live, and none runs while it is not live: 'waited'), and
 * reconciles it with the snapshot. With BEGIN it emptied the copy, and the
 * slot had one complete copy fewer until the refill ended.
 *
 * Until 2026-12-07 only a synchronous replica's slot was waited for so: a
 * new server filling during a transition (its copy live, its READY sent)
 * whose link broke was left behind while this node acknowledged writes
 * without it, and went on counting its copy as following this node, as
 * nothing told it of the break. Had the switch named it and this node died
 * before its BEGIN arrived, it took the slot over with that copy: the
 * writes acknowledged after the break missing, their keys' old values
 * served. Had this node died after the BEGIN, it took the slot over empty. */
static void stream_break(ostream_t *s, const char *why)
{
    node_migrate_t *m = s->m;
    unsigned slot;

    if (s->broken)
        return;
    s->broken = 1;
    s->retry_at = now_ms(m) + NODE_MIGRATE_BACKOFF_MS;
    m->st.stream_failures++;
    snprintf(m->st.last_error, sizeof(m->st.last_error), "to %.40s: %.80s", s->name, why);
    rc_log(RC_LOG_WARNING, "migrate: stream to %s broken: %s; starting its slots over", s->name,
           why);
    cur_stop(s);
    live_reset(s); /* its operations go with the queue */
    s->qlen = 0;
    s->qhead = 0;
    s->unacked = 0;
    s->over = 0;
    s->todolen = 0;
    s->todohead = 0;
    node_repl_link_break(&s->rl, "the link to a replica broke before it applied the write");
    resp_scanner_init(&s->sc);
    for (slot = 0; slot < RING_SLOTS; slot++) {
        oslot_t *o = &s->sl[slot];

        if (o->state == OUT_NONE)
            continue;
        if (o->hand == HAND_FINAL) {
            out_cancel(s, slot); /* the replica is sent the slot whole by its new server */
            continue;
        }
        if (m->replicas > 0 && o->waited && o->resync == 0 &&
            (o->state == OUT_LIVE || (o->state == OUT_DONE && o->hand == HAND_OVER))) {
            /* A KEEP answered is spent: the replica follows this node now. */
            o->keep = 0;
            kw_set(m, o, 0);
            o->from = 0;
            o->resync = o->src; /* its reads wait for the snapshot, as a take-over's */
            m->nresync++;
        }
        o->state = OUT_QUEUED;
        o->count = 0;
        o->gen++;
        todo_push(s, slot);
    }
    node_link_close(s->link, why, 0); /* replies still on the way are void */
}

static void on_link_fail(void *arg, node_link_t *l, const char *reason)
{
    ostream_t *s = arg;

    (void)l;
    if (!s->broken && (s->qlen > 0 || s->cur >= 0))
        stream_break(s, reason);
    else
        resp_scanner_init(&s->sc);
}

/* 'what' in r[0..len), or NULL. */
static const char *find_in(const char *r, size_t len, const char *what)
{
    size_t n = strlen(what), i;

    for (i = 0; i + n <= len; i++) {
        if (memcmp(r + i, what, n) == 0)
            return r + i;
    }
    return NULL;
}

/* The epoch of a target that refused ('what': "is not received from" for
 * a BEGIN, "is not being filled from" for the rest; "... at epoch <e>"),
 * 0 for any other reply. */
static uint64_t refused_since(const char *r, size_t len, const char *what)
{
    static const char tag[] = " at epoch ";
    const char *p = find_in(r, len, tag);
    uint64_t e = 0;

    if (p == NULL || find_in(r, len, what) == NULL)
        return 0;
    for (p += sizeof(tag) - 1; p < r + len && *p >= '0' && *p <= '9'; p++) {
        if (e > (UINT64_MAX - 9) / 10)
            return 0;
        e = e * 10 + (uint64_t)(*p - '0');
    }
    return e;
}

/* An error reply to 'op' on 's'. */
static void on_refused(ostream_t *s, op_t op, const char *r, size_t len)
{
    node_migrate_t *m = s->m;
    oslot_t *o = &s->sl[op.slot];
    char why[128];
    size_t n = len > 2 ? len - 2 : 0;

    /* One slot's refusal (the target's configuration differs, a count that
     * does not match): that slot starts over. */
    snprintf(why, sizeof(why), "target answered %.*s", (int)(n < 100 ? n : 100), r);
    if (op.gen != o->gen || o->state == OUT_NONE)
        return;
    if (o->hand == HAND_FINAL) {
        out_cancel(s, op.slot); /* a replica that no longer takes it from us */
        return;
    }
    if (op.kind == OP_KEEP) {
        /* Not final yet (the previous server's DONE is on its way): ask
         * again soon; no final copy: send it whole. */
        int again = find_in(r, len, "not final yet") != NULL && ++o->keep_tries < KEEP_TRIES;

        o->keep = (uint8_t)again;
        kw_set(m, o, again && o->sync);
        slot_restart(s, op.slot, again ? NULL : why, KEEP_RETRY_MS);
        return;
    }
    if (op.kind == OP_BEGIN && o->hand == HAND_OVER &&
        refused_since(r, len, "is not received from") >= m->epoch && m->epoch > 0) {
        /* A hand-over the target no longer expects (it gave up waiting,
         * or serves the slot from someone else) in a configuration at
         * least as new as ours: retrying cannot succeed. */
        rc_log(RC_LOG_VERBOSE, "migrate: slot %u to %s dropped: %s", op.slot, s->name, why);
        out_cancel(s, op.slot);
        drop_later(m, op.slot);
        m->st.handovers_refused++;
        return;
    }
    slot_restart(s, op.slot, why, NODE_MIGRATE_BACKOFF_MS);
}

/* A reply: the oldest request is answered. */
static int on_reply(ostream_t *s, const char *r, size_t len)
{
    node_migrate_t *m = s->m;
    uint64_t since;
    int verdict = 0;
    oslot_t *o;
    op_t op;

    if (s->qlen == 0)
        return RC_EPROTO;
    op = s->q[s->qhead];
    s->qhead = (s->qhead + 1) & (s->qcap - 1);
    s->qlen--;
    if (s->qlen == 0 && s->qcap > NODE_MIGRATE_QUEUE_KEEP) {
        rc_free(s->q); /* a fill's queue goes once it drained */
        s->q = NULL;
        s->qcap = s->qhead = 0;
    }
    s->unacked -= op.bytes < s->unacked ? op.bytes : s->unacked;
    o = &s->sl[op.slot];
    if (len == 0 || r[0] != '+') {
        on_refused(s, op, r, len);
    } else if (op.kind == OP_KEEP && o->state == OUT_SNAP && op.gen == o->gen) {
        o->state = OUT_LIVE; /* the replica kept its copy: live writes from here */
        o->waited = 1;
        kw_set(m, o, 0);
        /* This node lost the slot while the KEEP was unanswered, and it is
         * the replica's now (out_want: HAND_OVER, sent no DONE as the slot
         * was not live): the DONE goes now, as after a snapshot. Before,
         * it never went: the new server waited cluster-handoff-timeout,
         * then served the slot empty. */
        if (o->hand != HAND_NONE && !s->broken)
            send_done(s, op.slot);
        release(m);
    } else if (op.kind == OP_DONE && o->state == OUT_DONE && op.gen == o->gen) {
        int over = o->hand == HAND_OVER;

        out_cancel(s, op.slot);
        if (over) {
            m->st.slots_sent++;
            drop_later(m, op.slot);
        }
    }
    /* The replies that waited for it go, or fail if it was refused. A
     * member that no longer takes the slot from this node (its newer
     * configuration moved the slot on) does not count against a write if
     * this node is still a member there, or left gracefully (the slot went
     * by hand-over: its new copies were filled from here); if this node was
     * removed, it does. Until this node knows that configuration, the
     * verdict waits. */
    if (len > 0 && r[0] == '+') {
        verdict = 1;
    } else if ((since = refused_since(r, len, "is not being filled from")) != 0) {
        verdict = 2;
        if (since > s->defer_epoch)
            s->defer_epoch = since;
    }
    if (node_repl_link_answer(&s->rl, verdict) != 0)
        return RC_EPROTO;
    if (verdict == 2 && m->epoch >= s->defer_epoch)
        node_repl_link_resolve(&s->rl, m->my_id != 0 || m->left);
    return 0;
}

/* ':<n>' answers the next 'n' requests, live writes all (cmd_live()), as
 * 'n' +OK would. */
static int on_acked(ostream_t *s, const char *r, size_t len)
{
    long long n;
    uint64_t bytes = 0;

    if (len < 4 || rc_string2ll(r + 1, len - 3, &n) != 0 || n < 1 || (uint64_t)n > s->qlen)
        return RC_EPROTO;
    /* What on_reply() does for each '+OK' of a live write, for all at once:
     * pop them, then release the replies that waited for them. */
    for (long long i = 0; i < n; i++) {
        uint8_t kind = s->q[(s->qhead + (size_t)i) & (s->qcap - 1)].kind;

        if (kind != OP_PUT && kind != OP_DEL)
            return RC_EPROTO;
    }
    for (long long i = 0; i < n; i++) {
        bytes += s->q[s->qhead].bytes;
        s->qhead = (s->qhead + 1) & (s->qcap - 1);
    }
    s->qlen -= (size_t)n;
    if (s->qlen == 0 && s->qcap > NODE_MIGRATE_QUEUE_KEEP) {
        rc_free(s->q); /* a fill's queue goes once it drained */
        s->q = NULL;
        s->qcap = s->qhead = 0;
    }
    s->unacked -= bytes < s->unacked ? bytes : s->unacked;
    return node_repl_link_answer_applied(&s->rl, (uint64_t)n) != 0 ? RC_EPROTO : 0;
}

static ssize_t on_link_data(void *arg, node_link_t *l, const char *data, size_t len)
{
    ostream_t *s = arg;
    size_t pos = 0;

    while (pos < len && node_link_is_open(l) && !s->broken) {
        ssize_t n = resp_scanner_scan(&s->sc, data + pos, len - pos);

        if (n == 0)
            break;
        if (n < 0 || (data[pos] == ':' ? on_acked(s, data + pos, (size_t)n)
                                       : on_reply(s, data + pos, (size_t)n)) != 0)
            return RC_EPROTO;
        pos += (size_t)n;
    }
    if (s->broken)
        return (ssize_t)len;
    if (s->over && s->unacked + node_link_queued(l) <
                       (uint64_t)s->m->server->config.cluster_migration_buffer / 2) {
        s->over = 0;
        release(s->m);
    }
    kick(s->m);
    return (ssize_t)pos;
}

/* ---- snapshot ---- */

typedef struct collect_s {
    ostream_t *s;
    int64_t now;
    int big; /* a big string went (put_alone()): this turn's snapshot work ends */
} collect_t;

/* A big string of the slot being copied goes in a PUT of its own, built
 * where the link sends it from (as live_send_alone() sends a write). */
static void put_alone(ostream_t *s, const node_obj_t *o, size_t vlen)
{
    node_migrate_t *m = s->m;
    unsigned slot = (unsigned)s->cur;
    size_t n = 0;
    char *p;

    flush_put(s);
    live_flush(s); /* as send_cmd() does */
    RC_ASSERT(s->put.len == 0 && s->put_keys == 0);
    p = rc_buf_reserve(&s->put, 5 * RESP_HEADER_MAX + 64);
    n = resp_write_header(p, '*', 6);
    put_bulk(p, &n, "RCMIGRATE", 9);
    put_bulk(p, &n, "PUT", 3);
    put_num(p, &n, s->sl[slot].src);
    put_num(p, &n, slot);
    rc_buf_commit(&s->put, n);
    append_pair(m, &s->put, o, vlen);
    n = s->put.len;
    node_link_append_buf(s->link, &s->put);
    q_push(s, OP_PUT, slot, n);
    s->sl[slot].count++;
    m->st.keys_sent++;
    m->st.bytes_sent += n;
    s->sent_ms = now_ms(m);
}

static void collect(void *priv, node_obj_t *o)
{
    collect_t *cx = priv;
    ostream_t *s = cx->s;
    int64_t exp = node_obj_expire(o);
    size_t vlen;

    if (exp >= 0 && exp <= cx->now)
        return; /* expired: its removal reaches the target as a DEL */
    vlen = node_obj_serialized_size(o);
    if (vlen >= DIRECT_PAIR_MIN) {
        put_alone(s, o, vlen);
        cx->big = 1;
        return;
    }
    append_pair(s->m, &s->put, o, vlen);
    s->put_keys++;
}

/* Starts the next queued slot of 's' (a KEEP needs no snapshot: it goes and
 * the next one is looked at). Returns 0 when there is none. */
static int next_slot(ostream_t *s)
{
    node_migrate_t *m = s->m;
    size_t skipped = 0;

    while (s->todolen > 0) {
        unsigned slot = s->todo[s->todohead];
        oslot_t *o = &s->sl[slot];
        size_t n;

        s->todohead = (s->todohead + 1) & (s->todocap - 1);
        s->todolen--;
        if (o->state != OUT_QUEUED)
            continue;
        if (o->retry_at > now_ms(m)) {
            todo_push(s, slot); /* refused lately: later */
            if (++skipped > s->todolen)
                return 0;
            continue;
        }
        o->count = 0;
        o->state = OUT_SNAP;
        if (o->keep) {
            uint64_t nums[2] = {m->epoch, o->from};

            n = send_cmd(s, "KEEP", slot, nums, 2, NULL, 0, 0);
            q_push(s, OP_KEEP, slot, n);
            continue;
        }
        if (o->resync != 0 && !(node_link_peer_features(s->link) & NODE_BUS_FEATURE_RESYNC))
            resync_clear(m, o); /* a node of an older version: whole */
        if (o->resync != 0) {
            uint64_t nums[2] = {m->epoch, o->resync};

            n = send_cmd(s, "RESYNC", slot, nums, 2, NULL, 0, 0);
            q_push(s, OP_BEGIN, slot, n);
        } else {
            uint64_t nums[1] = {m->epoch};

            n = send_cmd(s, "BEGIN", slot, nums, 1, NULL, 0, 0);
            q_push(s, OP_BEGIN, slot, n);
        }
        s->cur = (int)slot;
        s->it = node_db_slot_iter_create(m->db, slot);
        return 1;
    }
    return 0;
}

/* One turn of snapshot work on 's'. Returns 1 when it has more to do now. */
static int stream_turn(ostream_t *s, uint64_t deadline_ns)
{
    node_migrate_t *m = s->m;
    collect_t cx = {s, now_ms(m), 0};
    const char *why;

    if (s->broken) {
        if (now_ms(m) < s->retry_at)
            return 0;
        s->broken = 0;
    }
    if (s->cur < 0 && s->todolen == 0)
        return 0;
    if (node_link_ready(s->link, &why) != 0)
        return 0; /* backoff: the timer kicks again */
    /* A slot starts once the handshake told the peer's features: a RESYNC
     * sent as BEGIN to a peer that knows RESYNC would empty its copy
     * (on_link_open kicks). */
    if (s->cur < 0 && !node_link_is_open(s->link))
        return 0;
    while (uv_hrtime() < deadline_ns) {
        if (s->unacked + node_link_queued(s->link) >= NODE_MIGRATE_WINDOW)
            return 0; /* replies kick again */
        if (s->cur < 0 && !next_slot(s))
            return 0;
        /* Objects one at a time, so that a big string (its copy into
         * fresh pages costs about 1 ms a MB here) is the last of a turn. */
        while (s->put.len < NODE_MIGRATE_PUT_BYTES && !node_db_slot_iter_done(s->it) && !cx.big)
            (void)node_db_slot_iter_next(s->it, 1, collect, &cx);
        if (s->put.len >= NODE_MIGRATE_PUT_BYTES)
            flush_put(s);
        if (node_db_slot_iter_done(s->it)) {
            unsigned slot = (unsigned)s->cur;
            oslot_t *o = &s->sl[slot];
            int held = o->sync || o->waited; /* writes wait for this slot */
            uint64_t nums[1];
            size_t n;

            flush_put(s);
            nums[0] = o->count;
            n = send_cmd(s, "SNAPDONE", slot, nums, 1, NULL, 0, 0);
            q_push(s, OP_SNAPDONE, slot, n);
            o->state = OUT_LIVE;
            o->waited = 1;
            /* Reads now wait for the SNAPDONE's answer (the slot's last
             * operation), as they wait for any write's. */
            resync_clear(m, o);
            node_db_slot_iter_destroy(s->it);
            s->it = NULL;
            s->cur = -1;
            if (o->hand != HAND_NONE)
                send_done(s, slot);
            else if (held)
                release(m); /* writes held for this replica may go */
        }
        if (cx.big)
            break; /* the loop's other work before the next one */
    }
    flush_put(s);
    return 1;
}

static void on_idle(uv_idle_t *h)
{
    node_migrate_t *m = h->data;
    uint64_t deadline = uv_hrtime() + (uint64_t)NODE_MIGRATE_TURN_US * 1000;
    long limit = m->server->config.cluster_migration_streams;
    int more = 0;
    ostream_t *s;

    node_server_update_time(m->server);
    for (s = m->streams; s != NULL && limit > 0; s = s->next) {
        if (s->cur < 0 && s->todolen == 0)
            continue;
        limit--;
        more |= stream_turn(s, deadline);
    }
    if (!more) {
        uv_idle_stop(&m->idle);
        m->idle_on = 0;
    }
}

static void kick(node_migrate_t *m)
{
    if (!m->idle_on && !m->closed) {
        uv_idle_start(&m->idle, on_idle);
        m->idle_on = 1;
    }
}

/* ---- live writes ---- */

/* 1 when a stream sends 'slot's writes: on_change() has work for them. */
static int streams_slot(const node_migrate_t *m, unsigned slot)
{
    const ostream_t *s;

    for (s = m->streams; s != NULL; s = s->next) {
        uint8_t st = s->sl[slot].state;

        if (!s->broken && (st == OUT_SNAP || st == OUT_LIVE))
            return 1;
    }
    return 0;
}

static int change_wanted(void *arg, unsigned slot)
{
    return streams_slot(arg, slot);
}

/* 's' has operations to send and its link is not open: an idle link
 * connects (one that failed with nothing in flight did not break the
 * stream, and nothing else would reconnect it: the writes queued behind it
 * waited until cluster-repl-timeout, the stream never moving again); one
 * in its backoff is tried again by on_tick. */
static void stream_connect(ostream_t *s)
{
    const char *why;

    if (!s->broken && s->qlen > 0 && !node_link_is_open(s->link))
        (void)node_link_ready(s->link, &why);
}

static void on_change(void *priv, node_db_t *db, const node_db_change_t *ch)
{
    node_migrate_t *m = priv;
    unsigned slot = ch->slot;
    ostream_t *s;

    (void)db;
    if (ch->kind == NODE_DB_CHANGE_DROP)
        return;
    for (s = m->streams; s != NULL; s = s->next) {
        oslot_t *o = &s->sl[slot];
        size_t n;

        if (s->broken || (o->state != OUT_SNAP && o->state != OUT_LIVE))
            continue;
        if (s->cur == (int)slot)
            flush_put(s); /* keeps the snapshot's older values ahead of this one */
        n = live_add(s, slot, ch);
        q_push(s, ch->kind == NODE_DB_CHANGE_WRITE ? OP_PUT : OP_DEL, slot, n);
        if (o->state == OUT_LIVE && s->touched != m->cmd_serial) {
            s->touched = m->cmd_serial; /* the command's reply waits for it */
            s->cmd_first = s->rl.sent - 1;
        }
        o->count++;
        m->st.keys_sent++;
        m->st.bytes_sent += n;
        stream_connect(s);
        if (!s->over && s->unacked + node_link_queued(s->link) >
                            (uint64_t)m->server->config.cluster_migration_buffer) {
            s->over = 1; /* writes to its slots wait (node_migrate_slot_waits) */
            rc_log(RC_LOG_VERBOSE, "migrate: stream to %s over its buffer bound: writes wait",
                   s->name);
        }
    }
}

int node_migrate_fence_needed(const node_migrate_t *m, unsigned slot, int write)
{
    const ostream_t *s;

    if (m == NULL || m->replicas == 0 || slot >= RING_SLOTS)
        return 0;
    for (s = m->streams; s != NULL; s = s->next) {
        const oslot_t *o = &s->sl[slot];

        /* A write may touch other slots (MSET): any live stream counts. */
        if (write ? s->nslots > 0 : (o->state == OUT_LIVE && o->seq > s->rl.answered))
            return 1;
    }
    return 0;
}

/* Makes 'w' wait, on every live stream, for this command's writes and
 * for the earlier writes of 'slots' (what the command read may not be
 * everywhere yet); 'grow': 'w' waits already (a group), its entries grow. */
static void fence_add(node_migrate_t *m, node_repl_waiter_t *w, const unsigned *slots,
                      size_t nslots, int grow)
{
    ostream_t *s;

    m->rst.inflight++;
    for (s = m->streams; s != NULL; s = s->next) {
        uint64_t seq = 0, first = 0;

        if (s->broken)
            continue;
        if (s->touched == m->cmd_serial) {
            seq = s->rl.sent; /* this command's writes */
            first = s->cmd_first;
        }
        for (size_t i = 0; i < nslots; i++) {
            const oslot_t *o = &s->sl[slots[i]];

            if (o->state == OUT_LIVE && o->seq > seq) {
                seq = o->seq;
                first = s->touched == m->cmd_serial ? first : seq - 1;
            }
        }
        if (grow)
            node_repl_waiter_extend(w, &s->rl, first, seq);
        else
            node_repl_waiter_on(w, &s->rl, first, seq);
    }
    m->cmd_serial++;
}

/* The open group is complete: its waiter goes once the links answer (at
 * once if none is to wait for). */
static void group_close(node_migrate_t *m)
{
    node_repl_waiter_t *w = m->group_w;
    node_conn_seg_t *seg = m->group_seg;

    m->group_w = NULL;
    m->group_seg = NULL;
    if (m->group_failed) {
        m->group_failed = 0;
        group_done(m, seg, 1, m->group_why);
    }
    if (w != NULL)
        node_repl_waiter_commit(w);
}

/* At the end of each loop iteration (node_server_on_check). */
static void on_check(void *arg)
{
    group_close(arg);
}

node_conn_seg_t *node_migrate_fence_seg(node_migrate_t *m, node_conn_t *conn)
{
    if (m->group_seg != NULL && m->group_seg == conn->seg_tail && !m->group_failed) {
        node_conn_seg_join(conn, m->group_seg); /* nothing came between: one more joins */
        return m->group_seg;
    }
    return node_conn_seg_push(conn);
}

void node_migrate_fence(node_migrate_t *m, node_conn_seg_t *seg, int slot)
{
    unsigned sl = (unsigned)slot;
    int grow = seg == m->group_seg;

    if (!grow) {
        group_close(m);
        m->group_w = node_repl_waiter_new(seg, on_waited, m, now_ms(m));
        m->group_seg = seg;
    }
    fence_add(m, m->group_w, &sl, slot >= 0 ? 1 : 0, grow);
}

typedef struct fence_call_s {
    node_migrate_fenced_fn *fn;
    void *arg;
} fence_call_t;

static void on_waited_call(void *arg, void *token, int failed, const char *why)
{
    fence_call_t *fc = token;
    char err[VERDICT_ERR_MAX];
    size_t n = verdict(arg, 1, failed, why, err);

    fc->fn(fc->arg, failed ? err : NULL, n);
    rc_free(fc);
}

void node_migrate_fence_call(node_migrate_t *m, const unsigned *slots, size_t nslots,
                             node_migrate_fenced_fn *fn, void *arg)
{
    fence_call_t *fc = rc_xmalloc(sizeof(*fc));
    node_repl_waiter_t *w;

    fc->fn = fn;
    fc->arg = arg;
    w = node_repl_waiter_new(fc, on_waited_call, m, now_ms(m));
    fence_add(m, w, slots, nslots, 0);
    node_repl_waiter_commit(w); /* no link to wait for: it goes now */
}

/* ---- reconcile ---- */

static int was_leaver(const uint64_t *leavers, size_t n, uint64_t id)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (leavers[i] == id)
            return 1;
    }
    return 0;
}

/* 1 when 'id' will hand its slots over: a member, or a leaver that the
 * switch just removed. */
static int hands_over(const paxos_config_t *c, const uint64_t *leavers, size_t nleavers,
                      uint64_t id)
{
    return id != 0 && (member_by_id(c, id) != NULL || was_leaver(leavers, nleavers, id));
}

static int in_copies(const paxos_config_t *c, const int16_t *copies, unsigned n, uint64_t id)
{
    unsigned k;

    for (k = 0; k < n; k++) {
        if (copies[k] >= 0 && c->members[copies[k]].id == id)
            return 1;
    }
    return 0;
}

/* 1 when 'me' holds a copy of 'slot' that it does not serve ('sv'): a
 * replica in the serving placement, the target one, or both. */
static int is_copy(const paxos_config_t *c, const member_handoff_t *h, unsigned slot, uint64_t sv,
                   uint64_t me)
{
    return me != 0 && sv != me &&
           (in_copies(c, h->scopy[slot], h->nscopy[slot], me) ||
            in_copies(c, h->tcopy[slot], h->ntcopy[slot], me));
}

/* The slot's replicas, as its server ('me') sends to them: every copy in
 * the serving and the target placement but this node. A replica of the
 * serving placement is synchronous (writes wait while it is not live). */
static void want_replicas(node_migrate_t *m, const paxos_config_t *c, const member_handoff_t *h,
                          unsigned slot, uint64_t me)
{
    uint64_t want[2 * MEMBER_COPIES_MAX];
    unsigned nwant = 0, k, i;
    ostream_t *s;

    for (k = 0; k < h->nscopy[slot] + h->ntcopy[slot]; k++) {
        int16_t idx = k < h->nscopy[slot] ? h->scopy[slot][k] : h->tcopy[slot][k - h->nscopy[slot]];
        uint64_t id = c->members[idx].id;

        for (i = 0; i < nwant && want[i] != id; i++)
            ;
        if (id != me && i == nwant)
            want[nwant++] = id;
    }
    for (s = m->streams; s != NULL; s = s->next) {
        for (i = 0; i < nwant && want[i] != s->id; i++)
            ;
        if (i == nwant || s->sl[slot].src != me)
            out_cancel(s, slot);
    }
    for (i = 0; i < nwant; i++) {
        int sync = in_copies(c, h->scopy[slot], h->nscopy[slot], want[i]);

        /* KEEP only for a synchronous replica: writes wait for it until
         * its KEEP is answered; another replica could miss the writes
         * made before its KEEP left, so it is sent the slot whole. */
        out_want(m, c, slot, want[i], HAND_NONE, me, sync ? m->keep_from[slot] : 0, sync,
                 sync ? m->resync_from[slot] : 0);
    }
    m->keep_from[slot] = 0;
    m->resync_from[slot] = 0;
}

/* This node serves 'slot' from now on without a hand-over from 'p' (gone):
 * with the copy it holds as a synchronous replica of 'p', else empty
 * (misses, never stale). Either way only once 'p''s lease has run out. A
 * synchronous replica's copy has every write 'p' acknowledged: it follows
 * 'p' (every write waited for it), or it is the final copy of the server
 * before 'p' that 'p' never took up (it was not live on 'p''s stream, so
 * 'p' wrote nothing to the slot: writes wait for their synchronous
 * replicas to be live) and this node has been a synchronous replica of the
 * slot since that hand-over ('p_since': the epoch 'p' began to serve at). */
static void take_over(node_migrate_t *m, const paxos_config_t *c, unsigned slot, uint64_t me,
                      uint64_t p, int was_sync, uint64_t p_since, uint64_t p_prev)
{
    /* A RESYNC from 'p' in progress counts: the copy this node kept holds
     * every write acknowledged before 'p' took the slot over, and every
     * write 'p' acknowledged since came on the live stream. */
    int follows = follows_whole(m, slot, p);
    /* The final copy 'p' started from (holds_final_before()). */
    int final = holds_final_before(m, slot, p, p_since);
    /* The complete copy of the failed server 'p' took the slot over from,
     * kept since the configuration 'p' began to serve at, with nothing
     * received from 'p' since (no RESYNC, no BEGIN): 'p' acknowledged no
     * write to the slot (each waits for this synchronous replica to be
     * live) and served no read (with R >= 2 reads wait for the RESYNC's
     * snapshot, see want_replicas). */
    int resumed = m->kept_of[slot] != 0 && m->kept_of[slot] != p && p_since != 0 &&
                  m->kept_epoch[slot] == p_since && m->in_state[slot] == IN_NONE;
    /* The copy of the server 'p' took the slot over from by hand-over
     * ('p_prev'), followed to the end, with nothing received from 'p':
     * 'p' never took it up (its KEEP unanswered or refused as not final
     * yet; 'p_prev''s final notice, which would make it 'final', lost or
     * late), so 'p' acknowledged no write to the slot (each waits for
     * every synchronous replica to be live) and served no read (reads
     * wait while a synchronous replica's KEEP is not taken:
     * node_migrate_slot_waits()); 'p_prev' acknowledged none this copy
     * lacks. 'p_prev' may be alive: its late writes, refused from here on,
     * fail there (not_filled(): a refusal from the slot's server never
     * counts as applied). Until 2026-12-07 such a slot was served empty:
     * a joiner and the node it took the slot from killed before the
     * switch took hold lost it at R=2 (soak seed 19006), and a joiner
     * killed while that node's final notices were late at R=1 (seed
     * 18112). */
    int prior = p_prev != 0 && p_prev != p && p_since != 0 && m->in_src[slot] == p_prev &&
                m->in_state[slot] == IN_FILLED;
    int kept = c->replicas > 0 && was_sync && p != 0 && (follows || final || resumed || prior);
    /* What this node held of it, logged if it is lost. */
    unsigned had_state = m->in_state[slot];
    uint64_t had_src = m->in_src[slot], had_epoch = m->in_epoch[slot];
    uint64_t had_final = m->final_from[slot], had_kept = m->kept_of[slot];

    if (m->in_state[slot] != IN_NONE)
        in_reset(m, slot);
    await_clear(m, slot);
    if (kept) {
        m->rst.failovers++;
        /* With R >= 2 the other synchronous replicas of 'p' hold complete
         * copies too: they keep them and reconcile with this node's
         * snapshot instead of emptying (want_replicas: RESYNC), so the slot
         * keeps two complete copies while they refill. */
        if (c->replicas >= 2)
            m->resync_from[slot] = resumed && !follows && !final ? m->kept_of[slot] : p;
        m->kept_of[slot] = 0;
    } else {
        if (c->replicas > 0 && p != 0 && p != me) {
            m->rst.slots_lost++;
            rc_log(RC_LOG_WARNING,
                   "repl: slot %u: no complete copy of it survived member %" PRIu64
                   ": served empty",
                   slot, p);
            rc_log(RC_LOG_VERBOSE,
                   "repl: slot %u: this node had (synchronous %d) fill %d from %" PRIu64
                   " at epoch %" PRIu64 ", final copy of %" PRIu64 " at epoch %" PRIu64
                   ", kept copy of %" PRIu64 " at epoch %" PRIu64 "; member %" PRIu64
                   " served it since epoch %" PRIu64 " after %" PRIu64 " (0: still a member)",
                   slot, was_sync, had_state, had_src, had_epoch, had_final, m->final_epoch[slot],
                   had_kept, m->kept_epoch[slot], p, p_since, p_prev);
        }
        drop_now(m, slot);
    }
    if (p != 0 && p != me)
        takeover_wait(m, slot, node_cluster_takeover_at(m->cl));
    rc_log(RC_LOG_VERBOSE,
           "migrate: slot %u: taken over from member %" PRIu64 " at epoch %" PRIu64
           " with %s copy (follows %d, final %d, resumed %d, prior %d), served in %" PRId64 " ms",
           slot, p, c->epoch, kept ? "its" : "an empty", follows, final, resumed, prior,
           takeover_left(m, slot));
}

static void reconcile_slot(node_migrate_t *m, const paxos_config_t *c, const member_handoff_t *h,
                           unsigned slot, uint64_t prev_me, uint64_t me, uint64_t p,
                           uint64_t p_since, uint64_t p_prev, const uint64_t *leavers,
                           size_t nleavers, int i_left)
{
    uint64_t sv = m->serve_id[slot];
    int was_sync = m->sync[slot];
    int copy = is_copy(c, h, slot, sv, me);
    ostream_t *s;

    m->copy[slot] = (uint8_t)copy;
    m->sync[slot] = (uint8_t)(copy && in_copies(c, h->scopy[slot], h->nscopy[slot], me));
    if (!m->sync[slot] && !(sv == me && me != 0)) {
        m->final_from[slot] = 0; /* a final copy counts only while it stays synchronous */
        m->kept_of[slot] = 0;    /* and so does a kept one */
    }
    if (!(sv == me && me != 0) && m->sync[slot] && p != 0 && p != sv && was_sync &&
        follows_whole(m, slot, p) && !hands_over(c, leavers, nleavers, p)) {
        /* A synchronous replica that followed its failed server to the
         * end holds every write that server acknowledged: kept for the new
         * server's RESYNC, or for take_over() if that one fails before it
         * sent anything (the fill state is reset below all the same: the
         * failed server's late writes are refused). */
        m->kept_of[slot] = p;
        m->kept_epoch[slot] = c->epoch;
    } else if (!(sv == me && me != 0) && m->sync[slot] && p != 0 && p != sv && was_sync &&
               holds_final_before(m, slot, p, p_since) && !hands_over(c, leavers, nleavers, p)) {
        /* A synchronous replica with the final copy 'p' started from and
         * never took up holds every write 'p' acknowledged (none) and
         * every one before: kept alike, for the RESYNC of the new server
         * (which takes over with the same final copy: with R >= 2 two
         * complete copies stay while the rest refill) or for take_over(). */
        m->kept_of[slot] = p;
        m->kept_epoch[slot] = c->epoch;
    }
    /* Receiving, as a copy: from the server, or the last writes of the
     * previous one (its DONE says its copy is final). The server's own
     * fill state is for the hand-over below. A fill begun at a newer epoch
     * than this configuration's stays: this node is catching up through
     * configurations its sender has passed (a node that rejoins installs
     * those without itself, then the one that made it a copy; the sender
     * would not fill it again: its slot is live). */
    /* This synchronous replica still follows the server before the
     * current one ('p_prev', which handed the slot to it), whose final
     * notice (DONE) has not come: while 'p_prev' is a member it goes on
     * taking its writes and that DONE (a write refused now would count as
     * applied there: the slot moved on, see on_reply()); once 'p_prev' is
     * removed as failed the copy is kept as a failed server's is
     * ('kept_of'); a leaver's is not (a leaver counts such refusals as
     * applied too), as before. */
    int follows_prev = m->sync[slot] && was_sync && sv == p && p_prev != 0 &&
                       m->in_src[slot] == p_prev && m->in_state[slot] == IN_FILLED;

    if (m->in_state[slot] != IN_NONE && !(sv == me && me != 0) && m->in_epoch[slot] <= c->epoch &&
        (!copy || (m->in_src[slot] != sv &&
                   (m->in_src[slot] != p || !hands_over(c, leavers, nleavers, p)))) &&
        !(follows_prev && member_by_id(c, p_prev) != NULL)) {
        /* The final copy of the server before (its DONE came) stays
         * this synchronous replica's to KEEP, or to take over with should
         * the new server fail before it asked (take_over: 'final'); a
         * later configuration, a join say, only ends the fill state. */
        uint64_t fin = m->in_state[slot] == IN_DONE && m->sync[slot] ? m->final_from[slot] : 0;
        /* The copy of the server before this one, removed as failed now
         * (not a leaver: it cannot have counted a refusal as applied),
         * followed to the end and never taken up by this one: kept, for
         * this server's RESYNC or for take_over() ('resumed') should this
         * one fail too (take_over(): 'prior'). */
        uint64_t prior =
            follows_prev && m->kept_of[slot] == 0 && !hands_over(c, leavers, nleavers, p_prev)
                ? p_prev
                : 0;

        in_reset(m, slot); /* a removed server's late writes are refused from here on */
        if (fin != 0)
            m->final_from[slot] = fin;
        if (prior != 0) {
            m->kept_of[slot] = prior;
            m->kept_epoch[slot] = p_since;
        }
    }
    /* Serving. */
    if (sv == me && me != 0) {
        if (p != prev_me || prev_me == 0) {
            if (hands_over(c, leavers, nleavers, p) && p != me) {
                if (m->in_state[slot] == IN_DONE && m->in_src[slot] == p) {
                    if (m->done_wait[slot] && m->done_until > now_ms(m)) {
                        takeover_wait(m, slot, m->done_until);
                        m->rst.takeover_inherited++;
                    }
                    in_reset(m, slot);
                    m->keep_from[slot] = p;
                    m->st.slots_received++;
                } else {
                    await_set(m, slot, p);
                }
            } else if (m->have_map) {
                take_over(m, c, slot, me, p, was_sync, p_since, p_prev);
            }
        } else if (m->await_src[slot] != 0 && member_by_id(c, m->await_src[slot]) == NULL) {
            /* The server handing it over is gone. */
            take_over(m, c, slot, me, m->await_src[slot], m->replicas > 0, 0, 0);
        }
        if (m->await_src[slot] == 0)
            want_replicas(m, c, h, slot, me);
        else
            out_cancel_all(m, slot, NULL);
        return;
    }
    if (m->await_src[slot] != 0)
        await_clear(m, slot);
    if (p == prev_me && prev_me != 0 && sv != 0 && (me != 0 || i_left)) {
        ostream_t *to = NULL;

        /* Lost it: hand it over to its new server, and tell the replicas
         * this copy is final (so they can keep theirs for the new one). */
        out_want(m, c, slot, sv, HAND_OVER, prev_me, 0, 0, 0);
        to = stream_find(m, sv);
        for (s = m->streams; s != NULL; s = s->next) {
            oslot_t *o = &s->sl[slot];

            if (s == to || o->state == OUT_NONE || o->hand != HAND_NONE)
                continue;
            if (o->state == OUT_LIVE && !s->broken) {
                o->hand = HAND_FINAL;
                send_done(s, slot);
            } else {
                out_cancel(s, slot);
            }
        }
        m->final_from[slot] = prev_me;
        m->final_epoch[slot] = c->epoch;
    } else {
        /* A hand-over from an earlier configuration goes on while its
         * target still serves the slot; final notices go on. */
        for (s = m->streams; s != NULL; s = s->next) {
            oslot_t *o = &s->sl[slot];

            if (o->state == OUT_NONE || (o->hand == HAND_OVER && s->id == sv) ||
                (o->hand == HAND_FINAL && o->state == OUT_DONE))
                continue;
            out_cancel(s, slot);
        }
    }
    drop_later(m, slot);
}

static void on_config(void *arg)
{
    node_migrate_t *m = arg;
    const paxos_config_t *c = node_cluster_config(m->cl);
    const member_handoff_t *h = node_cluster_handoff(m->cl);
    uint64_t leavers[PAXOS_MAX_MEMBERS];
    size_t nleavers = 0;
    uint64_t prev_me = m->my_id, me;
    int myidx, i_left;
    unsigned slot;
    ostream_t *s, *next;

    if (m->closed || c == NULL || h == NULL || c->epoch == m->epoch)
        return;
    myidx = node_cluster_myindex(m->cl);
    me = myidx >= 0 ? c->members[myidx].id : 0;
    /* Leavers of the previous configuration (weight 0) that are gone now. */
    nleavers = node_cluster_departed(m->cl, leavers, RC_ARRAY_SIZE(leavers));
    i_left = me == 0 && prev_me != 0 && was_leaver(leavers, nleavers, prev_me);
    m->replicas = c->replicas;
    m->epoch = c->epoch;
    for (slot = 0; slot < RING_SLOTS; slot++) {
        uint64_t sv = h->serve[slot] >= 0 ? c->members[h->serve[slot]].id : 0;
        uint64_t tg = h->target[slot] >= 0 ? c->members[h->target[slot]].id : 0;
        uint64_t p = m->have_map ? m->serve_id[slot] : sv;
        uint64_t p_since = m->serve_since[slot];
        uint64_t p_prev = m->serve_prev[slot];

        if (sv != m->serve_id[slot] || !m->have_map) {
            m->serve_since[slot] = c->epoch;
            m->serve_prev[slot] = m->have_map ? m->serve_id[slot] : 0;
        }
        m->serve_id[slot] = sv;
        m->target_id[slot] = tg;
        if (!m->have_map) {
            /* A configuration restored at start: this node holds nothing. */
            m->copy[slot] = (uint8_t)is_copy(c, h, slot, sv, me);
            m->sync[slot] = 0;
            if (sv == me && me != 0 && c->replicas == 0)
                want_replicas(m, c, h, slot, me); /* with replicas, never its empty copy */
            continue;
        }
        reconcile_slot(m, c, h, slot, prev_me, me, p, p_since, p_prev, leavers, nleavers, i_left);
    }
    m->my_id = me != 0 ? me : (i_left ? prev_me : 0);
    if (i_left)
        m->left = 1;
    else if (me != 0)
        m->left = 0;
    m->have_map = 1;
    m->ready_dirty = 1;
    for (s = m->streams; s != NULL; s = s->next) {
        /* Removed (not a leave): what it wrote and had not had applied
         * everywhere may be gone; the replies say so. */
        if (prev_me != 0 && me == 0 && !m->left)
            node_repl_link_fail_all(&s->rl, "this node was removed from the cluster before "
                                            "its replicas applied the write");
        if (node_repl_link_deferred(&s->rl) && m->epoch >= s->defer_epoch)
            node_repl_link_resolve(&s->rl, me != 0 || m->left);
    }
    /* Streams to members that are gone (and have nothing to hand over). */
    for (s = m->streams; s != NULL; s = next) {
        next = s->next;
        if (s->nslots == 0 && member_by_id(c, s->id) == NULL)
            stream_free(s, me != 0 || m->left);
    }
    if (i_left)
        rc_log(RC_LOG_NOTICE, "migrate: removed after leaving: handing every slot over");
    kick(m);
    release(m);
}

/* ---- READY ---- */

static void check_ready(node_migrate_t *m)
{
    const paxos_config_t *c = node_cluster_config(m->cl);
    const member_handoff_t *h = node_cluster_handoff(m->cl);
    int myidx = node_cluster_myindex(m->cl);
    unsigned slot, incoming = 0, filled = 0;
    int moving, first = -1;

    m->ready_dirty = 0;
    m->ready_checked = now_ms(m);
    if (c == NULL || h == NULL || myidx < 0)
        return;
    moving = paxos_config_in_transition(c);
    for (slot = 0; slot < RING_SLOTS; slot++) {
        /* Every copy of the target placement here. During a transition
         * a synchronous replica of the serving one counts too: it must be
         * live on its server's stream at the switch, to get the server's
         * DONE and hold the final copy (the new server KEEPs it, or it
         * takes the slot over with it should the new server fail first).
         * One refilled after a takeover (RESYNC, BEGIN) is not live yet:
         * before, the switch went on without it, its refill was cancelled
         * there, and a failure of the new server left no complete copy.
         * Out of a transition (nothing to switch) it is not a new copy. */
        if (m->serve_id[slot] == m->my_id || m->serve_id[slot] == 0 ||
            !in_copies(c, h->tcopy[slot], h->ntcopy[slot], m->my_id) ||
            (m->sync[slot] && m->target_id[slot] != m->my_id && !moving))
            continue;
        incoming++;
        if ((m->in_state[slot] == IN_FILLED || m->in_state[slot] == IN_DONE) &&
            m->in_src[slot] == m->serve_id[slot])
            filled++;
        else if (incoming - filled == 1)
            first = (int)slot;
    }
    m->st.slots_incoming = incoming;
    m->st.slots_filled = filled;
    m->st.unfilled_slot = first;
    if (!paxos_config_in_transition(c) || c->members[myidx].weight == 0 ||
        c->members[myidx].ready == c->transition || filled < incoming)
        return;
    if (m->ready_for == c->transition && now_ms(m) - m->ready_at < NODE_MIGRATE_READY_RETRY_MS)
        return;
    m->ready_for = c->transition;
    m->ready_at = now_ms(m);
    m->st.ready_requests++;
    rc_log(RC_LOG_VERBOSE,
           "migrate: every incoming slot filled (%u): ready for transition %" PRIu64, incoming,
           c->transition);
    node_cluster_request_ready(m->cl);
}

/* ---- timer ---- */

/* 1 when check_ready() is due without a change flagged: every
 * NODE_MIGRATE_READY_CHECK_MS during a transition (a fill may complete by a
 * path that flags nothing; a READY not decided is asked again), never
 * outside one (the scan of every slot every tick cost 2-3 % of a busy
 * node's CPU). */
static int ready_check_due(const node_migrate_t *m)
{
    const paxos_config_t *c = node_cluster_config(m->cl);

    return c != NULL && paxos_config_in_transition(c) &&
           now_ms(m) - m->ready_checked >= NODE_MIGRATE_READY_CHECK_MS;
}

static int leave_busy(void *arg);

/* A leave that waits: which hand-overs it waits for (the log, every 2 s). */
static void leave_report(node_migrate_t *m)
{
    const ostream_t *s;
    unsigned slot;

    for (s = m->streams; s != NULL; s = s->next) {
        unsigned n = 0, first = 0, state = 0;

        for (slot = 0; slot < RING_SLOTS; slot++) {
            if (s->sl[slot].state != OUT_NONE && s->sl[slot].hand == HAND_OVER) {
                if (n++ == 0) {
                    first = slot;
                    state = s->sl[slot].state;
                }
            }
        }
        if (n > 0)
            rc_log(RC_LOG_NOTICE,
                   "migrate: leaving: %u slot(s) still handed over to %s (slot %u in state %u%s)",
                   n, s->name, first, state, s->broken ? ", link broken" : "");
    }
}

/* Replies that waited for their replicas longer than cluster-repl-timeout
 * get -TRYAGAIN (the write may or may not have taken effect). */
static void repl_timeouts(node_migrate_t *m)
{
    int64_t limit = m->server->config.cluster_repl_timeout;
    char why[96];
    ostream_t *s;

    snprintf(why, sizeof(why), "a replica did not apply the write within %" PRId64 " ms", limit);
    for (s = m->streams; s != NULL; s = s->next) {
        size_t i, n = node_repl_link_waiting(&s->rl);

        for (i = 0; i < n; i++) {
            node_repl_waiter_t *w = node_repl_link_waiter(&s->rl, i);

            if (now_ms(m) - w->since <= limit)
                break;
            node_repl_wait_fail(w, why);
        }
    }
}

/* A stream quiet for IDLE_TRIM_MS gives its batch buffers and its queues
 * back to the allocator (a burst grows them to a batch's size,
 * NODE_MIGRATE_PUT_BYTES and more, and to the operations in flight), as a
 * quiet link does; the next burst grows them again. The serialization
 * scratch goes back once every stream is quiet. */
static void stream_trim(node_migrate_t *m)
{
    int64_t now = now_ms(m);
    int quiet = 1; /* every stream */
    ostream_t *s;

    for (s = m->streams; s != NULL; s = s->next) {
        if (now - s->sent_ms < IDLE_TRIM_MS) {
            quiet = 0;
            continue;
        }
        if (s->live_n == 0 && s->live.cap > 0)
            rc_buf_free(&s->live);
        if (s->put_keys == 0 && s->put.cap > 0)
            rc_buf_free(&s->put);
        if (s->qlen == 0 && s->q != NULL) {
            rc_free(s->q);
            s->q = NULL;
            s->qcap = s->qhead = 0;
        }
        node_repl_link_trim(&s->rl);
    }
    if (quiet && m->scratch.cap > 0)
        rc_buf_free(&m->scratch);
}

static void on_tick(uv_timer_t *t)
{
    node_migrate_t *m = t->data;
    size_t budget = NODE_MIGRATE_DROP_KEYS;
    ostream_t *s;
    unsigned n;

    if (m->closed)
        return;
    node_server_update_time(m->server);
    if (m->takeover_until != 0 && now_ms(m) >= m->takeover_until) {
        memset(m->takeover, 0, sizeof(m->takeover));
        m->takeover_until = 0;
    }
    if (m->done_until != 0 && now_ms(m) >= m->done_until)
        m->done_until = 0;
    /* Background drop of the slots that left. */
    for (n = 0; n < RING_SLOTS && m->ndropping > 0 && budget > 0; n++) {
        unsigned slot = (m->drop_cursor + n) % RING_SLOTS;
        size_t before, left;

        if (!m->dropping[slot])
            continue;
        if (keeps(m, slot) || handing_over(m, slot)) { /* a copy again, or sent again: kept */
            m->dropping[slot] = 0;
            m->ndropping--;
            continue;
        }
        before = node_db_slot_count(m->db, slot);
        left = node_db_slot_drop(m->db, slot, budget);
        m->st.keys_dropped += before - left;
        budget -= before - left < budget ? before - left : budget;
        if (left == 0) {
            m->dropping[slot] = 0;
            m->ndropping--;
        } else {
            m->drop_cursor = slot;
            break;
        }
    }
    /* A slot whose previous server never sent its DONE: take it over
     * (with the copy this node holds if it has every write that server
     * acknowledged, take_over(), else empty). A leaver (no longer a
     * member: a removed server is taken over at its removal) that died
     * before its DONEs went is given until its lease has surely run out
     * (it serves nothing after that) and every reply it made wait on its
     * writes to this node has timed out (so none can count a late refusal
     * of this node's as applied), at R >= 1; any other after
     * cluster-handoff-timeout. Until 2026-12-07 every such slot was
     * served empty after cluster-handoff-timeout: a leaver killed between
     * its switch and its DONEs lost its acknowledged writes although its
     * new servers held them, after a 15 s pause. */
    if (m->nawait > 0) {
        int64_t limit = m->server->config.cluster_handoff_timeout;
        const paxos_config_t *c = node_cluster_config(m->cl);
        const member_handoff_t *h = node_cluster_handoff(m->cl);
        int current = c != NULL && h != NULL && c->epoch == m->epoch;
        int64_t leaver_at =
            node_cluster_takeover_at(m->cl) + m->server->config.cluster_repl_timeout;
        unsigned slot;

        for (slot = 0; slot < RING_SLOTS; slot++) {
            uint64_t src = m->await_src[slot];
            int leaver;

            if (src == 0)
                continue;
            leaver = current && m->replicas > 0 && member_by_id(c, src) == NULL;
            if (!(now_ms(m) - m->await_since[slot] > limit || (leaver && now_ms(m) >= leaver_at)))
                continue;
            rc_log(RC_LOG_WARNING,
                   "migrate: no hand-over of slot %u from %s %" PRIu64 " within %" PRId64
                   " ms: taking it over",
                   slot, leaver ? "leaver" : "member", src, now_ms(m) - m->await_since[slot]);
            if (current) {
                take_over(m, c, slot, m->my_id, src, m->replicas > 0, 0, 0);
                m->rst.takeover_unhanded++;
                want_replicas(m, c, h, slot, m->my_id);
            } else {
                await_clear(m, slot);
                in_reset(m, slot);
                drop_now(m, slot);
            }
        }
    }
    repl_timeouts(m);
    if (node_cluster_leaving(m->cl) && now_ms(m) - m->leave_log_ms >= 2000 && leave_busy(m)) {
        m->leave_log_ms = now_ms(m);
        leave_report(m);
    }
    for (s = m->streams; s != NULL; s = s->next) {
        if (s->broken && now_ms(m) >= s->retry_at)
            kick(m);
        if (!s->broken && (s->cur >= 0 || s->todolen > 0))
            kick(m);
        stream_connect(s);
    }
    stream_trim(m);
    if (m->ready_dirty || ready_check_due(m))
        check_ready(m);
    if (now_ms(m) - m->rate_mark_ms >= 1000) {
        m->st.send_rate = (double)(m->st.keys_sent - m->rate_mark_keys) * 1000.0 /
                          (double)(now_ms(m) - m->rate_mark_ms);
        m->rate_mark_keys = m->st.keys_sent;
        m->rate_mark_ms = now_ms(m);
    }
    release(m);
}

/* ---- target side: RCMIGRATE ---- */

static int arg_u64(const resp_arg_t *a, uint64_t *out)
{
    long long v;

    if (rc_string2ll(a->ptr, a->len, &v) != 0 || v < 0)
        return -EINVAL;
    *out = (uint64_t)v;
    return 0;
}

/* 1 when this node takes 'slot' from 'src' (sent at 'epoch'). */
static int takes_from(const node_migrate_t *m, unsigned slot, uint64_t src, uint64_t epoch)
{
    return (m->copy[slot] && m->serve_id[slot] == src) || m->await_src[slot] == src ||
           epoch > m->epoch;
}

/* 'slot' is received from 'src' from now on, begun at 'epoch', in 'state'
 * ('resync': over the copy this node kept, RESYNC). */
static void in_start(node_migrate_t *m, unsigned slot, uint64_t src, uint64_t epoch, int state,
                     int resync)
{
    m->in_state[slot] = (uint8_t)state;
    m->in_src[slot] = src;
    m->in_count[slot] = 0;
    m->in_epoch[slot] = epoch;
    m->final_from[slot] = 0;
    m->kept_of[slot] = 0;
    m->resync_in[slot] = (uint8_t)resync;
    m->done_wait[slot] = 0;
    m->ready_dirty = 1;
}

/* The arguments BEGIN, KEEP and RESYNC share ('op'): <epoch>, and with
 * 'from' <from> after it; 0 when they are good and the slot is received
 * from 'src' here, else -1 with the error answered. */
static int start_args(node_migrate_t *m, node_client_t *c, const char *op, uint64_t src,
                      unsigned slot, uint64_t *epoch, uint64_t *from)
{
    if (c->argc != (from != NULL ? 6 : 5) || arg_u64(&c->argv[4], epoch) != 0 ||
        (from != NULL && arg_u64(&c->argv[5], from) != 0)) {
        node_reply_errorf(c, "ERR RCMIGRATE %s: bad arguments", op);
        return -1;
    }
    if (!takes_from(m, slot, src, *epoch)) {
        node_reply_errorf(
            c, "ERR RCMIGRATE %s: slot %u is not received from %" PRIu64 " at epoch %" PRIu64, op,
            slot, src, m->epoch);
        return -1;
    }
    return 0;
}

static void cmd_begin(node_migrate_t *m, node_client_t *c, uint64_t src, unsigned slot)
{
    uint64_t epoch;

    if (start_args(m, c, "BEGIN", src, slot, &epoch, NULL) != 0)
        return;
    drop_now(m, slot);
    in_start(m, slot, src, epoch, IN_FILLING, 0);
    node_reply_ok(c);
}

/* KEEP <epoch> <from>: the new server of the slot asks this replica to keep
 * the copy it holds of 'from', the previous server, whose DONE said it is
 * final; live writes follow. */
static void cmd_keep(node_migrate_t *m, node_client_t *c, uint64_t src, unsigned slot)
{
    uint64_t epoch, from;

    if (start_args(m, c, "KEEP", src, slot, &epoch, &from) != 0)
        return;
    if (from == 0 || m->final_from[slot] != from) {
        if (m->in_state[slot] == IN_FILLED && m->in_src[slot] == from && from != 0)
            node_reply_errorf(
                c, "ERR RCMIGRATE KEEP: slot %u: the copy of %" PRIu64 " is not final yet", slot,
                from);
        else
            node_reply_errorf(c, "ERR RCMIGRATE KEEP: slot %u: no final copy of %" PRIu64, slot,
                              from);
        return;
    }
    undrop(m, slot);
    in_start(m, slot, src, epoch, IN_FILLED, 0);
    m->rst.slots_kept++;
    node_reply_ok(c);
}

/* RESYNC <epoch> <from>: the new server of the slot, which took it over
 * from 'from' (failed), asks this synchronous replica to keep the copy it
 * holds of 'from' and reconcile it with the snapshot that follows: every
 * key is marked, the snapshot and the live writes rewrite theirs, and
 * SNAPDONE deletes the keys still marked (what the new server no longer
 * has). Until then the new server's reads of the slot wait, so nothing it
 * serves is missing here. A replica with no complete copy of 'from' (or
 * none followed to the end) empties the slot, as BEGIN does. */
static void cmd_resync(node_migrate_t *m, node_client_t *c, uint64_t src, unsigned slot)
{
    uint64_t epoch, from;
    int keep;

    if (start_args(m, c, "RESYNC", src, slot, &epoch, &from) != 0)
        return;
    keep = from != 0 &&
           (m->kept_of[slot] == from ||
            /* this node has not installed the configuration that removed
             * 'from' yet: it still follows it, or it holds the final copy
             * 'from' started from and never took up */
            (m->sync[slot] && follows_whole(m, slot, from)) ||
            (m->sync[slot] && m->serve_id[slot] == from &&
             holds_final_before(m, slot, from, m->serve_since[slot])) ||
            /* the same RESYNC again, after the link broke */
            (m->in_src[slot] == src && m->in_state[slot] == IN_FILLING && m->resync_in[slot]) ||
            /* the sender's own copy, after its link to this node broke:
             * writes waited for this copy since it went live (stream_break),
             * whether or not this node is a synchronous replica (a new
             * server filling during a transition, or awaiting its DONE) */
            (from == src && follows_whole(m, slot, src)));
    if (keep) {
        /* Not inside rc_log(): its arguments are evaluated only when the
         * level is logged, and the sweep relies on this mark. */
        size_t marked = node_db_slot_mark_stale(m->db, slot);

        undrop(m, slot);
        rc_log(RC_LOG_VERBOSE,
               "migrate: slot %u: RESYNC from %" PRIu64 ": keeps the copy of %" PRIu64
               " (%zu keys) and reconciles it",
               slot, src, from, marked);
        m->rst.slots_resynced++;
    } else {
        rc_log(RC_LOG_VERBOSE,
               "migrate: slot %u: RESYNC from %" PRIu64 ": no complete copy of %" PRIu64
               " here, filled whole",
               slot, src, from);
        m->rst.slots_refilled++;
        drop_now(m, slot);
    }
    in_start(m, slot, src, epoch, IN_FILLING, keep);
    node_reply_ok(c);
}

/* A node evicts and expires keys of the slots it serves, or of none it
 * keeps (being dropped); never its replicas' copies, which follow their
 * primary (node_db_set_slot_filter). */
static int slot_ok(void *arg, unsigned slot)
{
    const node_migrate_t *m = arg;

    return m->replicas == 0 || !m->copy[slot];
}

_Static_assert((int)RESP_REQUEST_ARG_HEAD == (int)NODE_DB_BLOCK_HEAD,
               "a parser's block is a value's storage");

/* Stores the big string 's' ('n' bytes, TTL 'exp') at 'key', 's' inside
 * 'block' (a PUT's value or a packed write, taken from the parser; the key
 * may be in it too): its bytes move to the block's front, which becomes
 * the value's storage. A move within pages the parser filled as they
 * arrived, instead of a copy into fresh ones in this turn of the loop
 * (about 1 ms a MB here). The key, which the move may overwrite, goes
 * first to a copy. */
static void insert_block(node_migrate_t *m, char *block, const resp_arg_t *key, const char *s,
                         size_t n, int64_t exp)
{
    char *k = rc_xmemdup(key->ptr, key->len);

    memmove(block + NODE_DB_BLOCK_HEAD, s, n);
    node_db_insert_str_block(m->db, k, key->len, block, n, exp);
    rc_free(k);
}

/* Applies one key and value ('kv') of 'slot'. Returns NULL, or the error to
 * reply (the slot is then refused: it starts over). A string (the usual
 * write) goes in without a detached object (node_db_insert_str). A value
 * that arrives expired is dropped, unless this is a replica's copy, which
 * waits for its primary's DEL.
 * 'c' not NULL: the value is within c's argument 'arg' (a PUT's value, or
 * a pack holding this one pair alone), whose block a big string may keep
 * (insert_block()). */
static const char *put_pair(node_migrate_t *m, unsigned slot, const resp_arg_t *kv, int check,
                            node_client_t *c, int arg)
{
    node_obj_t *o = NULL;
    const char *s;
    size_t n;
    int64_t exp;
    char *block;

    if (check && ring_keyslot(kv[0].ptr, kv[0].len) != slot) {
        in_reset(m, slot);
        return "ERR RCMIGRATE PUT: key not in the slot";
    }
    if (!node_obj_string_of(kv[1].ptr, kv[1].len, &s, &n, &exp)) {
        if (node_obj_deserialize(kv[0].ptr, kv[0].len, kv[1].ptr, kv[1].len, &o) != 0) {
            in_reset(m, slot);
            return "ERR RCMIGRATE PUT: malformed value";
        }
        exp = node_obj_expire(o);
    }
    if (exp >= 0 && exp < node_db_now(m->db) && slot_ok(m, slot)) {
        node_obj_free(o);
        (void)node_db_delete(m->db, kv[0].ptr, kv[0].len);
    } else if (o != NULL) {
        node_db_insert(m->db, o);
    } else if (c != NULL && n >= RESP_REQUEST_BIG_ARG &&
               (block = node_conn_take_arg(c, arg)) != NULL) {
        m->st.bytes_received += kv[0].len + kv[1].len; /* before the move */
        insert_block(m, block, &kv[0], s, n, exp);
        m->in_count[slot]++;
        m->st.keys_received++;
        return NULL;
    } else {
        node_db_insert_str(m->db, kv[0].ptr, kv[0].len, s, n, exp);
    }
    m->in_count[slot]++;
    m->st.keys_received++;
    m->st.bytes_received += kv[0].len + kv[1].len;
    return NULL;
}

static void del_key(node_migrate_t *m, unsigned slot, const resp_arg_t *key)
{
    (void)node_db_delete(m->db, key->ptr, key->len);
    m->in_count[slot]++;
    m->st.keys_received++;
}

static void cmd_put(node_migrate_t *m, node_client_t *c, unsigned slot)
{
    int i;

    if (c->argc < 6 || (c->argc - 4) % 2 != 0) {
        node_reply_error(c, "ERR RCMIGRATE PUT: bad arguments");
        return;
    }
    for (i = 4; i < c->argc; i += 2) {
        /* A PUT of one pair (put_alone()) may keep its value's block: no
         * later pair of the same PUT can free it while argv points there. */
        const char *err = put_pair(m, slot, &c->argv[i], 1, c->argc == 6 ? c : NULL, i + 1);

        if (err != NULL) {
            node_reply_error(c, err);
            return;
        }
    }
    node_reply_ok(c);
}

static int not_filled(node_migrate_t *m, node_client_t *c, uint64_t src, unsigned slot)
{
    if (m->in_state[slot] != IN_NONE && m->in_src[slot] == src)
        return 0;
    if (m->serve_id[slot] == m->my_id && m->my_id != 0 && m->await_src[slot] == 0) {
        /* This node serves the slot, and took it over rather than by a
         * hand-over from 'src' (whose writes all come before its DONE):
         * the refused write may be nowhere else (the server it was handed
         * to failed before this node took that server's copy up, see
         * take_over(): 'prior'), so the sender must not count it as
         * applied ("is not being filled from" would: on_reply()). */
        node_reply_errorf(c,
                          "ERR RCMIGRATE: slot %u is served here since epoch %" PRIu64
                          ", not by a hand-over from %" PRIu64,
                          slot, m->serve_since[slot], src);
        return 1;
    }
    node_reply_errorf(
        c, "ERR RCMIGRATE: slot %u is not being filled from %" PRIu64 " at epoch %" PRIu64, slot,
        src, m->epoch);
    return 1;
}

static int refused_as_stale(node_migrate_t *m, node_client_t *c, uint64_t src, unsigned slot);

enum {
    /* An operation's key: its bucket is fetched LIVE_PREFETCH steps before
     * the first object of its chain, that one LIVE_NEXT steps before the
     * second (a lookup walks past the first about a quarter of the time),
     * and the first LIVE_OBJECT steps before the operation is applied. */
    LIVE_PREFETCH = 16,
    LIVE_NEXT = 4,
    LIVE_OBJECT = 8,
};

/* The bulks a LIVE or LIVEPACK request's operations (argument 3: 'P' or
 * 'D' each, or in LIVEPACK 'C' too) need, or -1 when they are not 1 to
 * NODE_MIGRATE_LIVE_OPS (LIVEPACK: NODE_MIGRATE_LIVEPACK_OPS) such
 * letters. */
static int live_needs(const resp_arg_t *ops, int packed)
{
    int need = 0;
    size_t i;

    if (ops->len == 0 || ops->len > (packed ? NODE_MIGRATE_LIVEPACK_OPS : NODE_MIGRATE_LIVE_OPS))
        return -1;
    for (i = 0; i < ops->len; i++) {
        char op = ops->ptr[i];

        if (op != 'P' && op != 'D' && !(op == 'C' && packed))
            return -1;
        need += op == 'D' ? 1 : 2;
    }
    return need;
}

/* Replays the write 'cmd' of 'key' ('C': "<argc>\r\n" and the command's
 * bulks, its key argument 1) on this node's copy of 'slot'. Returns NULL,
 * or why it was refused: then the copy may differ from the sender's, and
 * the slot is filled again (in_reset(), as a PUT that fails). */
static const char *replay_op(node_migrate_t *m, node_client_t *c, unsigned slot,
                             const resp_arg_t *key, const resp_arg_t *cmd)
{
    resp_arg_t stack[REPLAY_ARGV_STACK], *argv = stack;
    const char *why = NULL, *eol = memchr(cmd->ptr, '\r', cmd->len);
    size_t pos = eol != NULL ? (size_t)(eol - cmd->ptr) : cmd->len;
    long long argc = 0;

    /* Each argument takes 6 bytes at least ("$0\r\n\r\n"). */
    if (pos + 2 > cmd->len || cmd->ptr[pos + 1] != '\n' ||
        rc_string2ll(cmd->ptr, pos, &argc) != 0 || argc < 2 ||
        (size_t)argc > (cmd->len - pos - 2) / 6) {
        why = "ERR RCMIGRATE LIVEPACK: malformed replayed write";
    } else {
        pos += 2;
        if (argc > REPLAY_ARGV_STACK)
            argv = rc_xmalloc((size_t)argc * sizeof(*argv));
        if (resp_scan_bulks(cmd->ptr + pos, cmd->len - pos, argv, (size_t)argc) != 0 ||
            argv[1].len != key->len || memcmp(argv[1].ptr, key->ptr, key->len) != 0)
            why = "ERR RCMIGRATE LIVEPACK: malformed replayed write";
        else if (m->replay == NULL)
            why = "ERR RCMIGRATE LIVEPACK: this node replays no write";
        else if (m->replay(m->replay_arg, c, (int)argc, argv, m->replay_err,
                           sizeof(m->replay_err)) != 0)
            why = m->replay_err;
    }
    if (argv != stack)
        rc_free(argv);
    if (why != NULL) {
        rc_log(RC_LOG_WARNING,
               "migrate: slot %u: a replayed write of key '%.*s' refused (%s): "
               "the copy is filled again",
               slot, (int)(key->len < 64 ? key->len : 64), key->ptr, why);
        in_reset(m, slot);
        m->rst.replays_refused++;
        return why;
    }
    m->in_count[slot]++;
    m->st.keys_received++;
    m->st.bytes_received += key->len + cmd->len;
    m->rst.replays_applied++;
    return NULL;
}

/* The ':<n>' that answers the 'n' operations applied since the last reply. */
static void live_acked(node_client_t *c, int *n)
{
    if (*n > 0)
        node_reply_int(c, *n);
    *n = 0;
}

/* RCMIGRATE LIVE <src> <ops> <key> [<value>]... and RCMIGRATE LIVEPACK
 * <src> <ops> <bulks> (the same keys and values packed in one argument,
 * resp_scan_bulks()): answered operation by operation, in order, as each
 * one's PUT or DEL would be, except that a run of operations applied is
 * answered by one ':<n>' (n of them; an operation refused gets its error,
 * between two runs). The keys' buckets, then the first two objects of
 * their chains, are fetched a few operations ahead of the one applied. */
static void cmd_live(node_migrate_t *m, node_client_t *c, int packed)
{
    const char *ops;
    const resp_arg_t *args = c->argv + 4;
    resp_arg_t unpacked[2 * NODE_MIGRATE_LIVEPACK_OPS];
    uint64_t src, h[NODE_MIGRATE_LIVEPACK_OPS];
    int at[NODE_MIGRATE_LIVEPACK_OPS];
    int nops, need = -1, k, a, applied = 0;

    if (c->argc >= 5 && arg_u64(&c->argv[2], &src) == 0 && src != 0)
        need = live_needs(&c->argv[3], packed);
    if (need >= 0 && packed) {
        if (c->argc != 5 ||
            resp_scan_bulks(c->argv[4].ptr, c->argv[4].len, unpacked, (size_t)need) != 0)
            need = -1;
        args = unpacked;
    } else if (need >= 0 && need != c->argc - 4) {
        need = -1;
    }
    if (need < 0) {
        /* The sender counts one reply per operation it meant: a request
         * that cannot be answered in step with it ends the link. */
        node_reply_error(c, packed ? "ERR RCMIGRATE LIVEPACK: bad arguments"
                                   : "ERR RCMIGRATE LIVE: bad arguments");
        node_conn_close_after_reply(c->conn);
        return;
    }
    ops = c->argv[3].ptr;
    nops = (int)c->argv[3].len;
    for (k = 0, a = 0; k < nops; a += ops[k] == 'D' ? 1 : 2, k++)
        at[k] = a;
    for (k = 0; k < LIVE_PREFETCH + LIVE_OBJECT + nops; k++) {
        const resp_arg_t *key;
        unsigned slot;
        int j = k - LIVE_PREFETCH;

        if (k < nops)
            h[k] = node_db_prefetch_bucket(m->db, args[at[k]].ptr, args[at[k]].len);
        if (j >= 0 && j < nops)
            node_db_prefetch_object(m->db, h[j]);
        if (j - LIVE_NEXT >= 0 && j - LIVE_NEXT < nops)
            node_db_prefetch_next(m->db, h[j - LIVE_NEXT]);
        j -= LIVE_OBJECT;
        if (j < 0)
            continue;
        key = &args[at[j]];
        slot = ring_keyslot(key->ptr, key->len);
        if (m->in_state[slot] == IN_NONE || m->in_src[slot] != src ||
            node_bus_addressed_before(m->bus, c->conn->peer_to_id, c->conn->peer_to_incarnation)) {
            live_acked(c, &applied);
            if (!refused_as_stale(m, c, src, slot))
                (void)not_filled(m, c, src, slot);
        } else if (ops[j] == 'D') {
            del_key(m, slot, key);
            applied++;
        } else if (ops[j] == 'C') {
            const char *err = replay_op(m, c, slot, key, key + 1);

            if (err != NULL) {
                live_acked(c, &applied);
                node_reply_error(c, err);
            } else {
                applied++;
            }
        } else {
            /* A packed write alone in its batch (live_send_alone()) may
             * keep the pack's block as its value. */
            const char *err = put_pair(m, slot, key, 0, packed && nops == 1 ? c : NULL, 4);

            if (err != NULL) {
                live_acked(c, &applied);
                node_reply_error(c, err);
            } else {
                applied++;
            }
        }
    }
    live_acked(c, &applied);
}

static void cmd_done(node_migrate_t *m, node_client_t *c, uint64_t src, unsigned slot,
                     uint64_t count, uint64_t epoch, uint64_t wait)
{
    /* The sender's takeover wait ends within 'wait' ms of now (it sent
     * the DONE earlier). */
    int64_t until =
        wait > 0 ? now_ms(m) + (int64_t)(wait < DONE_WAIT_MAX_MS ? wait : DONE_WAIT_MAX_MS) : 0;

    if (m->in_state[slot] != IN_FILLED || count != m->in_count[slot]) {
        /* The reply first: in_reset() zeroes the count it reports. */
        node_reply_errorf(c, "ERR RCMIGRATE DONE: slot %u count %" PRIu64 " != %" PRIu64, slot,
                          count, m->in_count[slot]);
        in_reset(m, slot);
        return;
    }
    if (m->await_src[slot] == src) {
        const paxos_config_t *cf = node_cluster_config(m->cl);
        const member_handoff_t *h = node_cluster_handoff(m->cl);

        await_clear(m, slot);
        in_reset(m, slot);
        m->st.slots_received++;
        m->keep_from[slot] = src;
        if (until > 0) {
            takeover_wait(m, slot, until);
            m->rst.takeover_inherited++;
            rc_log(RC_LOG_VERBOSE,
                   "migrate: slot %u: handed over by member %" PRIu64
                   " inside its takeover wait: served in %" PRIu64 " ms",
                   slot, src, wait);
        }
        if (cf != NULL && h != NULL && cf->epoch == m->epoch)
            want_replicas(m, cf, h, slot, m->my_id);
        kick(m);
        release(m);
    } else {
        m->in_state[slot] = IN_DONE; /* served once this node installs the switch */
        m->ready_dirty = 1;
        m->final_from[slot] = src; /* or kept as a replica of the new server */
        m->final_epoch[slot] = epoch;
        if (until > 0) {
            m->done_wait[slot] = 1; /* served once the switch is installed and this passed */
            if (until > m->done_until)
                m->done_until = until;
        }
    }
    node_reply_ok(c);
}

/* 1 when 'c''s request was meant for an earlier member at this address (a
 * previous incarnation of this node: a data link a peer opened before this
 * node was removed and rejoined with a new id) and is refused as the target
 * refuses a slot it does not take from 'src' (BEGIN or KEEP: not received;
 * the rest: not being filled), so that the sender, if it still waits for
 * the answer, treats it as the refusal of a newer configuration. A late
 * BEGIN would empty the copy the same sender filled since on its link to
 * the new incarnation, and nothing would fill it again (the transition
 * waits for it); a late write would count one operation too many. */
static int refused_as_stale(node_migrate_t *m, node_client_t *c, uint64_t src, unsigned slot)
{
    const resp_arg_t *op = &c->argv[1];
    const char *start;

    if (!node_bus_addressed_before(m->bus, c->conn->peer_to_id, c->conn->peer_to_incarnation))
        return 0;
    /* the requests that start a slot ("received"), or NULL */
    start = resp_arg_is(op, "BEGIN")    ? "BEGIN"
            : resp_arg_is(op, "KEEP")   ? "KEEP"
            : resp_arg_is(op, "RESYNC") ? "RESYNC"
                                        : NULL;
    m->st.stale_refused++;
    if (now_ms(m) - m->stale_log_ms >= 1000) {
        m->stale_log_ms = now_ms(m);
        rc_log(RC_LOG_VERBOSE,
               "migrate: conn %" PRIu64 ": refused RCMIGRATE %.*s for slot %u from %" PRIu64
               ": sent to member %" PRIu64 ", a previous incarnation of this node",
               c->conn->id, (int)(op->len < 16 ? op->len : 16), op->ptr, slot, src,
               c->conn->peer_to_id);
    }
    node_reply_errorf(c,
                      "ERR RCMIGRATE%s%s: slot %u is not %s from %" PRIu64 " at epoch %" PRIu64
                      " (sent to a previous incarnation of this node)",
                      start != NULL ? " " : "", start != NULL ? start : "", slot,
                      start != NULL ? "received" : "being filled", src, m->epoch);
    return 1;
}

void node_migrate_command(node_migrate_t *m, node_client_t *c)
{
    const resp_arg_t *op;
    uint64_t src, slot64, count, epoch, wait = 0;
    unsigned slot;

    if (m == NULL || !c->conn->peer) {
        node_reply_error(c, "ERR RCMIGRATE is for the cluster bus only");
        return;
    }
    if (c->argc >= 2 && resp_arg_is(&c->argv[1], "LIVEPACK")) {
        cmd_live(m, c, 1);
        return;
    }
    if (c->argc >= 2 && resp_arg_is(&c->argv[1], "LIVE")) {
        cmd_live(m, c, 0);
        return;
    }
    if (c->argc < 4 || arg_u64(&c->argv[2], &src) != 0 || arg_u64(&c->argv[3], &slot64) != 0 ||
        slot64 >= RING_SLOTS || src == 0) {
        node_reply_error(c, "ERR RCMIGRATE: bad arguments");
        return;
    }
    slot = (unsigned)slot64;
    if (refused_as_stale(m, c, src, slot))
        return;
    op = &c->argv[1];
    if (resp_arg_is(op, "BEGIN")) {
        cmd_begin(m, c, src, slot);
        return;
    }
    if (resp_arg_is(op, "KEEP")) {
        cmd_keep(m, c, src, slot);
        return;
    }
    if (resp_arg_is(op, "RESYNC")) {
        cmd_resync(m, c, src, slot);
        return;
    }
    if (not_filled(m, c, src, slot))
        return;
    if (resp_arg_is(op, "PUT")) {
        cmd_put(m, c, slot);
    } else if (resp_arg_is(op, "DEL") && c->argc == 5) {
        del_key(m, slot, &c->argv[4]);
        node_reply_ok(c);
    } else if (resp_arg_is(op, "SNAPDONE") && c->argc == 5 && arg_u64(&c->argv[4], &count) == 0) {
        if (m->in_state[slot] != IN_FILLING || count != m->in_count[slot]) {
            /* The reply first: in_reset() zeroes the count it reports. */
            node_reply_errorf(c, "ERR RCMIGRATE SNAPDONE: slot %u count %" PRIu64 " != %" PRIu64,
                              slot, count, m->in_count[slot]);
            in_reset(m, slot);
            return;
        }
        if (m->resync_in[slot]) {
            /* The kept keys the snapshot did not rewrite: gone there. */
            m->st.keys_dropped += node_db_slot_sweep_stale(m->db, slot);
            m->resync_in[slot] = 0;
        }
        m->in_state[slot] = IN_FILLED;
        m->ready_dirty = 1;
        node_reply_ok(c);
    } else if (resp_arg_is(op, "DONE") && (c->argc == 6 || c->argc == 7) &&
               arg_u64(&c->argv[4], &count) == 0 && arg_u64(&c->argv[5], &epoch) == 0 &&
               (c->argc == 6 || arg_u64(&c->argv[6], &wait) == 0)) {
        cmd_done(m, c, src, slot, count, epoch, wait);
    } else {
        node_reply_error(c, "ERR RCMIGRATE: unknown operation or bad arguments");
    }
}

/* ---- routing, stats ---- */

int node_migrate_slot_waits(const node_migrate_t *m, unsigned slot, int write)
{
    const ostream_t *s;

    if (m == NULL || slot >= RING_SLOTS)
        return 0;
    if (m->await_src[slot] != 0 || (m->takeover[slot] && m->takeover_until > now_ms(m)))
        return 1;
    if (!write && m->nresync == 0 && m->nkw == 0)
        return 0;
    for (s = m->streams; s != NULL; s = s->next) {
        const oslot_t *o = &s->sl[slot];

        if (o->state == OUT_NONE)
            continue;
        /* A replica reconciling its copy (RESYNC) may lack a value this
         * node would serve: reads wait until its snapshot went too. */
        if (o->resync != 0)
            return 1;
        /* A synchronous replica not yet answering this node's KEEP may
         * lack a value of the previous server's stream's tail (its final
         * notice not in yet): nothing is served from here until it has
         * the final copy, so that should this node fail first, that
         * replica's copy of the previous server is everything it served
         * (take_over(): 'prior'). */
        if (o->kw)
            return 1;
        if (!write)
            continue;
        if (s->over)
            return 1;
        /* A synchronous replica being (re)filled, or any copy that went
         * live and is not now (stream_break): a write now could be
         * acknowledged without it. */
        if (m->replicas > 0 && (o->sync || o->waited) && (o->state != OUT_LIVE || s->broken))
            return 1;
    }
    return 0;
}

void node_migrate_set_replayer(node_migrate_t *m, node_migrate_replay_fn *fn, void *arg)
{
    m->replay = fn;
    m->replay_arg = arg;
}

void node_migrate_on_release(node_migrate_t *m, void (*fn)(void *arg), void *arg)
{
    m->release_fn = fn;
    m->release_arg = arg;
}

void node_migrate_count_held_expired(node_migrate_t *m)
{
    if (m != NULL)
        m->st.held_expired++;
}

void node_migrate_stats(const node_migrate_t *m, node_migrate_stats_t *out)
{
    unsigned slot, outgoing = 0, dropping = 0;
    const ostream_t *s;

    *out = m->st;
    for (slot = 0; slot < RING_SLOTS; slot++) {
        int moving = 0;

        for (s = m->streams; s != NULL && !moving; s = s->next)
            moving = s->sl[slot].state != OUT_NONE && !s->sl[slot].sync &&
                     s->sl[slot].hand != HAND_FINAL &&
                     (s->sl[slot].hand == HAND_OVER || s->id == m->target_id[slot]);
        outgoing += moving;
        dropping += m->dropping[slot];
    }
    out->slots_outgoing = outgoing;
    out->slots_awaiting = m->nawait;
    out->slots_dropping = dropping;
}

void node_migrate_repl_stats(const node_migrate_t *m, node_migrate_repl_stats_t *out)
{
    const paxos_config_t *c = node_cluster_config(m->cl);
    const member_handoff_t *h = node_cluster_handoff(m->cl);
    const ostream_t *s;
    unsigned slot, want;

    *out = m->rst;
    out->replicas = m->replicas;
    out->slots_primary = out->slots_replica = out->slots_degraded = 0;
    out->lag_ops = out->lag_bytes = 0;
    out->takeover_slots = 0;
    out->takeover_wait_ms = 0;
    if (m->takeover_until > now_ms(m)) {
        out->takeover_wait_ms = m->takeover_until - now_ms(m);
        for (slot = 0; slot < RING_SLOTS; slot++)
            out->takeover_slots += m->takeover[slot];
    }
    if (c == NULL || h == NULL || m->my_id == 0)
        return;
    want = m->replicas + 1 < c->nmembers ? m->replicas + 1 : c->nmembers;
    for (slot = 0; slot < RING_SLOTS; slot++) {
        if (m->serve_id[slot] == m->my_id) {
            out->slots_primary++;
            out->slots_degraded += h->nscopy[slot] < want;
        } else if (m->sync[slot]) {
            out->slots_replica++;
        }
    }
    for (s = m->streams; s != NULL; s = s->next) {
        out->lag_ops += node_repl_link_lag(&s->rl);
        out->lag_bytes += s->unacked + node_link_queued(s->link);
    }
}

const char *node_migrate_state(const node_migrate_t *m)
{
    node_migrate_stats_t st;

    node_migrate_stats(m, &st);
    if (st.slots_incoming > st.slots_filled)
        return "filling";
    if (st.slots_awaiting > 0)
        return "handing-over";
    if (st.slots_outgoing > 0)
        return "sending";
    return "idle";
}

size_t node_migrate_info(const node_migrate_t *m, char *buf, size_t cap)
{
    static const char *const has[] = {"nothing", "filling", "filled", "final"};
    node_migrate_stats_t st;
    char unfilled[160] = "none";
    int n;

    node_migrate_stats(m, &st);
    if (st.slots_incoming > st.slots_filled && st.unfilled_slot >= 0) {
        unsigned slot = (unsigned)st.unfilled_slot;

        snprintf(unfilled, sizeof(unfilled), "slot=%u,server=%" PRIu64 ",has=%s,from=%" PRIu64,
                 slot, m->serve_id[slot], has[m->in_state[slot] <= IN_DONE ? m->in_state[slot] : 0],
                 m->in_src[slot]);
    }
    n = snprintf(buf, cap,
                 "# Migration\r\n"
                 "migration_state:%s\r\n"
                 "migration_slots_incoming:%u\r\n"
                 "migration_slots_filled:%u\r\n"
                 "migration_slots_outgoing:%u\r\n"
                 "migration_slots_awaiting:%u\r\n"
                 "migration_slots_dropping:%u\r\n"
                 "migration_fills_active:%u\r\n"
                 "migration_streams:%u\r\n"
                 "migration_keys_sent:%" PRIu64 "\r\n"
                 "migration_bytes_sent:%" PRIu64 "\r\n"
                 "migration_keys_received:%" PRIu64 "\r\n"
                 "migration_bytes_received:%" PRIu64 "\r\n"
                 "migration_slots_sent:%" PRIu64 "\r\n"
                 "migration_slots_received:%" PRIu64 "\r\n"
                 "migration_keys_dropped:%" PRIu64 "\r\n"
                 "migration_stream_failures:%" PRIu64 "\r\n"
                 "migration_handovers_refused:%" PRIu64 "\r\n"
                 "migration_stale_refused:%" PRIu64 "\r\n"
                 "migration_ready_reports:%" PRIu64 "\r\n"
                 "migration_held_expired:%" PRIu64 "\r\n"
                 "migration_send_rate_keys_per_sec:%.0f\r\n"
                 "migration_last_error:%s\r\n"
                 "migration_unfilled:%s\r\n",
                 node_migrate_state(m), st.slots_incoming, st.slots_filled, st.slots_outgoing,
                 st.slots_awaiting, st.slots_dropping, st.slots_incoming - st.slots_filled,
                 st.streams, st.keys_sent, st.bytes_sent, st.keys_received, st.bytes_received,
                 st.slots_sent, st.slots_received, st.keys_dropped, st.stream_failures,
                 st.handovers_refused, st.stale_refused, st.ready_requests, st.held_expired,
                 st.send_rate, st.last_error, unfilled);
    return n < 0 ? 0 : (size_t)n;
}

size_t node_migrate_repl_info(const node_migrate_t *m, char *buf, size_t cap)
{
    node_migrate_repl_stats_t r;
    int n;

    node_migrate_repl_stats(m, &r);
    n = snprintf(buf, cap,
                 "repl_replicas:%u\r\n"
                 "repl_slots_primary:%u\r\n"
                 "repl_slots_replica:%u\r\n"
                 "repl_slots_degraded:%u\r\n"
                 "repl_inflight_writes:%" PRIu64 "\r\n"
                 "repl_lag_ops:%" PRIu64 "\r\n"
                 "repl_lag_bytes:%" PRIu64 "\r\n"
                 "repl_writes_acked:%" PRIu64 "\r\n"
                 "repl_write_timeouts:%" PRIu64 "\r\n"
                 "repl_failovers:%" PRIu64 "\r\n"
                 "repl_slots_kept:%" PRIu64 "\r\n"
                 "repl_slots_resynced:%" PRIu64 "\r\n"
                 "repl_slots_refilled:%" PRIu64 "\r\n"
                 "repl_slots_lost:%" PRIu64 "\r\n"
                 "repl_takeover_slots:%u\r\n"
                 "repl_takeover_wait_ms:%" PRId64 "\r\n"
                 "repl_takeover_inherited:%" PRIu64 "\r\n"
                 "repl_takeover_unhanded:%" PRIu64 "\r\n"
                 "repl_writes_replayed:%" PRIu64 "\r\n"
                 "repl_replays_applied:%" PRIu64 "\r\n"
                 "repl_replays_refused:%" PRIu64 "\r\n",
                 r.replicas, r.slots_primary, r.slots_replica, r.slots_degraded, r.inflight,
                 r.lag_ops, r.lag_bytes, r.writes_acked, r.write_timeouts, r.failovers,
                 r.slots_kept, r.slots_resynced, r.slots_refilled, r.slots_lost, r.takeover_slots,
                 r.takeover_wait_ms, r.takeover_inherited, r.takeover_unhanded, r.writes_replayed,
                 r.replays_applied, r.replays_refused);
    return n < 0 ? 0 : (size_t)n;
}

uint64_t node_migrate_importing(const node_migrate_t *m, unsigned slot)
{
    if (m == NULL || slot >= RING_SLOTS || m->my_id == 0)
        return 0;
    if (m->target_id[slot] == m->my_id && m->serve_id[slot] != m->my_id)
        return m->serve_id[slot];
    return 0;
}

uint64_t node_migrate_migrating(const node_migrate_t *m, unsigned slot)
{
    const ostream_t *s;

    if (m == NULL || slot >= RING_SLOTS)
        return 0;
    for (s = m->streams; s != NULL; s = s->next) {
        const oslot_t *o = &s->sl[slot];

        if (o->state != OUT_NONE &&
            (o->hand == HAND_OVER || (o->hand == HAND_NONE && s->id == m->target_id[slot] &&
                                      m->target_id[slot] != m->my_id)))
            return s->id;
    }
    return 0;
}

/* ---- lifecycle ---- */

static int leave_busy(void *arg)
{
    node_migrate_t *m = arg;
    const ostream_t *s;
    unsigned slot;

    for (s = m->streams; s != NULL; s = s->next) {
        if (s->nslots == 0)
            continue;
        for (slot = 0; slot < RING_SLOTS; slot++) {
            if (s->sl[slot].state != OUT_NONE && s->sl[slot].hand == HAND_OVER)
                return 1;
        }
    }
    return 0;
}

/* 1 while a slot is being handed to this node (filled, or its DONE
 * awaited). */
static int leave_receiving(void *arg)
{
    const node_migrate_t *m = arg;
    unsigned slot;

    for (slot = 0; slot < RING_SLOTS; slot++) {
        if (m->in_state[slot] != IN_NONE || m->await_src[slot] != 0)
            return 1;
    }
    return 0;
}

static int on_shutdown(void *arg)
{
    node_migrate_t *m = arg;

    if (m->closed)
        return 0;
    m->closed = 1;
    group_close(m); /* its replies fail with the streams, below */
    node_db_set_slot_filter(m->db, NULL, NULL);
    node_db_set_change_filter(m->db, NULL, NULL);
    while (m->streams != NULL)
        stream_free(m->streams, 0);
    uv_close((uv_handle_t *)&m->timer, NULL);
    uv_close((uv_handle_t *)&m->idle, NULL);
    (void)node_db_observer_remove(m->db, on_change, m);
    return 0;
}

static void on_cluster_close(void *arg)
{
    (void)on_shutdown(arg);
}

static const node_cluster_observer_t cluster_observer = {on_config, NULL, on_cluster_close};

node_migrate_t *node_migrate_create(node_server_t *server, node_cluster_t *cl)
{
    node_migrate_t *m = rc_xcalloc(1, sizeof(*m));

    m->server = server;
    m->cl = cl;
    m->bus = node_cluster_bus(cl);
    m->db = server->db;
    m->cmd_serial = 1;
    m->st.unfilled_slot = -1; /* none until check_ready() says */
    rc_buf_init(&m->scratch);
    uv_timer_init(server->loop, &m->timer);
    m->timer.data = m;
    uv_idle_init(server->loop, &m->idle);
    m->idle.data = m;
    uv_timer_start(&m->timer, on_tick, NODE_MIGRATE_TICK_MS, NODE_MIGRATE_TICK_MS);
    m->rate_mark_ms = server->mono_ms;
    RC_ASSERT(node_db_observer_add(m->db, on_change, m) == 0);
    node_db_set_change_filter(m->db, change_wanted, m);
    node_db_set_slot_filter(m->db, slot_ok, m);
    node_cluster_observe(cl, &cluster_observer, m);
    node_cluster_set_leave_hold(cl, leave_busy, leave_receiving, m);
    node_server_on_shutdown(server, on_shutdown, m);
    node_server_on_check(server, on_check, m);
    on_config(m); /* a configuration restored from the state file */
    return m;
}

void node_migrate_destroy(node_migrate_t *m)
{
    if (m == NULL)
        return;
    RC_ASSERT(m->streams == NULL);
    rc_buf_free(&m->scratch);
    rc_free(m);
}
