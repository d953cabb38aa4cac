/* node/data/node_db.c: the keyspace: one intrusive dict of objects (node_obj.h),
 * TTLs stored inline in the object plus a vector of the volatile objects
 * (for sampling by active expiry and volatile-* eviction), lazy and active
 * expiry, maxmemory eviction with a Redis-style candidate pool, the
 * per-slot key index and the change observers.
 * The one rule: the db never reads a clock; time comes from
 * node_db_set_now(), so tests drive expiry with fake time.
 *
 * The per-slot index is an intrusive doubly-linked list per slot threaded
 * through the objects (sprev/snext, as Redis 7.0's slot-to-keys), with a
 * count per slot, and live iterators that the db fixes up when the object
 * they stand on is removed or replaced:
 *
 *   slots[s].head -> obj <-> obj <-> obj -> NULL     slots[s].keys = 3
 *                         ^ iterator->next (moved on by an unlink)
 *
 * Why not one table per slot (Valkey 8's kvstore, which costs no memory per
 * key): it was built and measured first. With 16384 small tables a lookup
 * touches one more header and a scattered bucket array, and the db's
 * command path got 2.5-4x slower from 20k to 100k keys (cache and TLB
 * misses; same code with one slot: no change). The list costs 16 bytes per
 * key and a CRC16 of the key on insert and delete only; lookups, SCAN,
 * RANDOMKEY and eviction sampling stay exactly what they were; a slot's
 * count is O(1), listing n keys O(n), and an iterator returns every key
 * present for its whole life exactly once (new keys go to the head, behind
 * it), whatever happens to other keys or to the table between two calls. */
#include "node/data/node_db.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/data/node_dict.h"
#include "node/data/node_obj.h"
#include "ring/ring.h"

#define LRU_MASK          0xFFFFFFu
#define LRU_SHIFT         10 /* LRU clock unit: 1024 ms, 24 bits: about 194 days */
#define POOL_SIZE         16
#define POOL_INLINE_KEY   48
#define EXPIRE_SAMPLES    20
#define REHASH_CRON_STEPS 1000
#define PEND_SMALL        16 /* pending writes deduplicated by a linear search */

typedef struct pool_entry_s {
    uint64_t score; /* higher: better victim; 0: empty slot */
    size_t klen;
    char *key; /* 'small' or a heap copy */
    char small[POOL_INLINE_KEY];
} pool_entry_t;

typedef struct observer_s {
    node_db_observer_fn *fn;
    void *priv;
} observer_t;

/* Head and count side by side: an insert or delete touches one line. */
typedef struct slot_list_s {
    node_obj_t *head;
    size_t keys;
} slot_list_t;

struct node_db_slot_iter_s {
    node_db_t *db; /* NULL once the db is gone */
    node_obj_t *next;
    node_db_slot_iter_t *prev_it, *next_it;
};

/* A key a command may have written, reported by node_db_end_command(). */
typedef struct pending_s {
    unsigned slot;
    int sure;           /* written by a db function (not only looked up for write) */
    uint64_t mutations; /* node__mutations when it was looked up */
    size_t off, klen;   /* key bytes in pend_keys */
    node_obj_t *obj;    /* the key's object when db->relinks was 'gen', or NULL */
    uint64_t gen;
} pending_t;

struct node_db_s {
    node_dict_t *keys;
    slot_list_t slots[RING_SLOTS]; /* per-slot lists through the objects */
    node_db_slot_iter_t *iters;    /* live slot iterators */
    node_obj_t **vol;              /* objects with a TTL; each stores its index */
    size_t nvol, capvol;
    int64_t now_ms;
    uint32_t lru_clock;
    uint64_t rng;
    node_db_stats_t stats;
    pool_entry_t pool[POOL_SIZE];
    /* eviction: only keys of slots this filter accepts (NULL: any) */
    int (*slot_ok)(void *arg, unsigned slot);
    void *slot_arg;
    unsigned evict_cursor;
    /* observers; WRITE changes only of the slots change_ok accepts */
    int (*change_ok)(void *arg, unsigned slot);
    void *change_arg;
    uint64_t relinks; /* bumped whenever an object leaves the db or is replaced */
    int nobs;
    int notifying; /* inside an observer call: the db must not be written */
    /* node_db_replayable(): the running command's arguments, until its end */
    int cmd_argc;
    const resp_arg_t *cmd_argv;
    observer_t obs[NODE_DB_OBSERVERS_MAX];
    pending_t *pend;
    size_t npend, cappend;
    char *pend_keys;
    size_t pend_used, pend_cap;
};

/* Bumped by every change of a value structure (node_obj_*.c). */
uint64_t node__mutations;

/* ---------------------------------------------------------------- */
/* objects */

static size_t obj_vsize(const node_obj_t *o)
{
    uint32_t len;

    switch (o->enc) {
    case NODE_ENC_INT:
        return 8;
    case NODE_ENC_EMB:
        memcpy(&len, node__obj_val(o), 4);
        return 4 + (size_t)len;
    default:
        return sizeof(void *);
    }
}

static unsigned char *obj_ttl(const node_obj_t *o)
{
    return node__obj_val(o) + obj_vsize(o);
}

int64_t node_obj_expire(const node_obj_t *o)
{
    int64_t when;

    if (!o->vol)
        return -1;
    memcpy(&when, obj_ttl(o), 8);
    return when;
}

static uint32_t obj_vidx(const node_obj_t *o)
{
    uint32_t idx;

    memcpy(&idx, obj_ttl(o) + 8, 4);
    return idx;
}

static void obj_set_vidx(node_obj_t *o, uint32_t idx)
{
    memcpy(obj_ttl(o) + 8, &idx, 4);
}

void node__obj_set_expire(node_obj_t *o, int64_t when)
{
    memcpy(obj_ttl(o), &when, 8);
}

node_obj_t *node__obj_alloc(const char *key, size_t klen, size_t vsize, int vol)
{
    node_obj_t *o = rc_xmalloc(sizeof(*o) + klen + vsize + (vol ? NODE_OBJ_TTL_SIZE : 0));

    o->link.next = NULL;
    o->sprev = o->snext = NULL;
    o->lru = 0;
    o->type = NODE_OBJ_STRING;
    o->enc = NODE_ENC_INT;
    o->vol = vol ? 1 : 0;
    o->stale = 0;
    o->klen = (uint32_t)klen;
    memcpy(o->data, key, klen);
    return o;
}

/* Frees what the value owns, then the object. */
void node_obj_free(node_obj_t *o)
{
    if (o == NULL)
        return;
    node__obj_free_value(o);
    rc_free(o);
}

static const char *obj_dict_key(const node_dict_entry_t *e, size_t *len)
{
    const node_obj_t *o = (const node_obj_t *)e;

    *len = o->klen;
    return (const char *)o->data;
}

static void obj_dict_destroy(node_dict_entry_t *e)
{
    node_obj_free((node_obj_t *)e);
}

static const node_dict_type_t keyspace_type = {obj_dict_key, obj_dict_destroy};

node_obj_type_t node_obj_type(const node_obj_t *o)
{
    return (node_obj_type_t)o->type;
}

const char *node_obj_type_name(const node_obj_t *o)
{
    static const char *const names[] = {"string", "hash", "list", "set", "zset", "stream"};

    return o->type < RC_ARRAY_SIZE(names) ? names[o->type] : "unknown";
}

const char *node_obj_key(const node_obj_t *o, size_t *klen)
{
    *klen = o->klen;
    return (const char *)o->data;
}

const char *node_obj_str(const node_obj_t *o, char *buf, size_t *len)
{
    const unsigned char *v = node__obj_val(o);
    int64_t n;
    uint32_t l;
    node_obj_raw_t *raw;

    switch (o->enc) {
    case NODE_ENC_INT:
        memcpy(&n, v, 8);
        *len = (size_t)snprintf(buf, NODE_OBJ_INTBUF, "%lld", (long long)n);
        return buf;
    case NODE_ENC_EMB:
        memcpy(&l, v, 4);
        *len = l;
        return (const char *)v + 4;
    case NODE_ENC_RAW:
        raw = node__obj_ptr(o);
        *len = (size_t)raw->len;
        return raw->data;
    default:
        RC_ASSERT(0 && "not a string");
    }
    return NULL;
}

size_t node_obj_strlen(const node_obj_t *o)
{
    char buf[NODE_OBJ_INTBUF];
    size_t len;

    node_obj_str(o, buf, &len);
    return len;
}

int node_obj_get_ll(const node_obj_t *o, long long *v)
{
    char buf[NODE_OBJ_INTBUF];
    const char *s;
    size_t len;

    if (o->type != NODE_OBJ_STRING)
        return -EINVAL;
    if (o->enc == NODE_ENC_INT) {
        int64_t n;
        memcpy(&n, node__obj_val(o), 8);
        *v = n;
        return 0;
    }
    s = node_obj_str(o, buf, &len);
    return rc_string2ll(s, len, v);
}

int node__parse_ld(const char *s, size_t len, long double *out)
{
    char buf[NODE__LD_BUF];
    char *end;
    long double v;

    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || end != buf + len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return -EINVAL;
    *out = v;
    return 0;
}

size_t node__format_ld(char *buf, long double v)
{
    int l = snprintf(buf, NODE__LD_BUF, "%.17Lf", v);

    if (l < 0 || l >= NODE__LD_BUF)
        return 0;
    if (strchr(buf, '.') != NULL) {
        char *p = buf + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.')
            l--;
    }
    if (l == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        l = 1;
    }
    buf[l] = '\0';
    return (size_t)l;
}

/* Builds a string object: integer-encoded when 'val' is a canonical
 * integer, embedded when small, out of line otherwise. */
node_obj_t *node__obj_new_str(const char *key, size_t klen, const void *val, size_t vlen, int vol)
{
    node_obj_t *o;
    long long n;

    if (vlen <= 20 && rc_string2ll(val, vlen, &n) == 0) {
        int64_t n64 = n;
        o = node__obj_alloc(key, klen, 8, vol);
        o->enc = NODE_ENC_INT;
        memcpy(node__obj_val(o), &n64, 8);
    } else if (vlen <= NODE_OBJ_EMB_MAX) {
        uint32_t l = (uint32_t)vlen;
        o = node__obj_alloc(key, klen, 4 + vlen, vol);
        o->enc = NODE_ENC_EMB;
        memcpy(node__obj_val(o), &l, 4);
        if (vlen > 0)
            memcpy(node__obj_val(o) + 4, val, vlen);
    } else {
        node_obj_raw_t *raw = rc_xmalloc(sizeof(*raw) + vlen);
        raw->len = vlen;
        memcpy(raw->data, val, vlen);
        o = node__obj_alloc(key, klen, sizeof(void *), vol);
        o->enc = NODE_ENC_RAW;
        node__obj_set_ptr(o, raw);
    }
    return o;
}

/* A copy of 'o' with the same value bytes (ownership of an out-of-line
 * value moves to the copy) and with or without a TTL part. */
static node_obj_t *obj_clone(const node_obj_t *o, int vol)
{
    size_t vsize = obj_vsize(o);
    node_obj_t *c = node__obj_alloc((const char *)o->data, o->klen, vsize, vol);

    c->lru = o->lru;
    c->type = o->type;
    c->enc = o->enc;
    memcpy(node__obj_val(c), node__obj_val(o), vsize);
    return c;
}

/* ---------------------------------------------------------------- */
/* volatile vector */

static void vol_push(node_db_t *db, node_obj_t *o)
{
    if (db->nvol == db->capvol) {
        db->capvol = db->capvol == 0 ? 16 : db->capvol * 2;
        db->vol = rc_xrealloc(db->vol, db->capvol * sizeof(*db->vol));
    }
    obj_set_vidx(o, (uint32_t)db->nvol);
    db->vol[db->nvol++] = o;
}

static void vol_remove(node_db_t *db, node_obj_t *o)
{
    uint32_t idx = obj_vidx(o);
    node_obj_t *last;

    RC_ASSERT(idx < db->nvol && db->vol[idx] == o);
    last = db->vol[--db->nvol];
    if (last != o) {
        db->vol[idx] = last;
        obj_set_vidx(last, idx);
    }
    if (db->nvol == 0) {
        rc_free(db->vol);
        db->vol = NULL;
        db->capvol = 0;
    } else if (db->capvol > 64 && db->nvol < db->capvol / 4) {
        db->capvol /= 2;
        db->vol = rc_xrealloc(db->vol, db->capvol * sizeof(*db->vol));
    }
}

/* ---------------------------------------------------------------- */
/* slot lists */

static unsigned obj_slot(const node_obj_t *o)
{
    return ring_keyslot(o->data, o->klen);
}

static void slot_link(node_db_t *db, node_obj_t *o)
{
    unsigned s = obj_slot(o);
    node_obj_t *head = db->slots[s].head;

    o->sprev = NULL;
    o->snext = head;
    if (head != NULL)
        head->sprev = o;
    db->slots[s].head = o;
    db->slots[s].keys++;
}

/* Returns the slot 'o' was unlinked from. */
static unsigned slot_unlink(node_db_t *db, node_obj_t *o)
{
    unsigned s = obj_slot(o);

    for (node_db_slot_iter_t *it = db->iters; it != NULL; it = it->next_it) {
        if (it->next == o)
            it->next = o->snext;
    }
    if (o->sprev != NULL)
        o->sprev->snext = o->snext;
    else
        db->slots[s].head = o->snext;
    if (o->snext != NULL)
        o->snext->sprev = o->sprev;
    db->slots[s].keys--;
    return s;
}

/* 'repl' takes the place of 'old' (same key) in its slot's list. */
static void slot_replace(node_db_t *db, node_obj_t *old, node_obj_t *repl)
{
    for (node_db_slot_iter_t *it = db->iters; it != NULL; it = it->next_it) {
        if (it->next == old)
            it->next = repl;
    }
    repl->sprev = old->sprev;
    repl->snext = old->snext;
    if (old->sprev != NULL)
        old->sprev->snext = repl;
    else
        db->slots[obj_slot(old)].head = repl;
    if (old->snext != NULL)
        old->snext->sprev = repl;
}

/* ---------------------------------------------------------------- */
/* observers */

/* Reports 'o' (of slot 'slot') to the observers. */
static void notify_args(node_db_t *db, node_db_change_kind_t kind, const node_obj_t *o,
                        unsigned slot, int argc, const resp_arg_t *argv)
{
    node_db_change_t ch;

    ch.kind = kind;
    ch.slot = slot;
    ch.key = (const char *)o->data;
    ch.klen = o->klen;
    ch.obj = o;
    ch.argc = argc;
    ch.argv = argv;
    db->notifying++;
    for (int i = 0; i < db->nobs; i++)
        db->obs[i].fn(db->obs[i].priv, db, &ch);
    db->notifying--;
}

static void notify(node_db_t *db, node_db_change_kind_t kind, const node_obj_t *o, unsigned slot)
{
    notify_args(db, kind, o, slot, 0, NULL);
}

static void pend_mark(node_db_t *db, const char *key, size_t klen, int sure)
{
    unsigned slot = ring_keyslot(key, klen);
    pending_t *p;

    if (db->change_ok != NULL && !db->change_ok(db->change_arg, slot))
        return;
    if (db->npend > 0) { /* the same key again (lookup, then set): one entry */
        p = &db->pend[db->npend - 1];
        if (p->slot == slot && p->klen == klen && memcmp(db->pend_keys + p->off, key, klen) == 0) {
            p->sure |= sure;
            return;
        }
    }
    if (db->npend == db->cappend) {
        db->cappend = db->cappend == 0 ? 16 : db->cappend * 2;
        db->pend = rc_xrealloc(db->pend, db->cappend * sizeof(*db->pend));
    }
    if (db->pend_cap - db->pend_used < klen) {
        size_t cap = db->pend_cap == 0 ? 256 : db->pend_cap;
        while (cap - db->pend_used < klen)
            cap *= 2;
        db->pend_keys = rc_xrealloc(db->pend_keys, cap);
        db->pend_cap = cap;
    }
    p = &db->pend[db->npend++];
    p->obj = NULL;
    p->gen = 0;
    p->slot = slot;
    p->sure = sure;
    p->mutations = node__mutations;
    p->off = db->pend_used;
    p->klen = klen;
    if (klen > 0)
        memcpy(db->pend_keys + db->pend_used, key, klen);
    db->pend_used += klen;
}

/* Records that the current command may have written 'key': 'sure' when a
 * db function wrote it, 0 when it was only looked up for writing. */
static inline void mark_write(node_db_t *db, const char *key, size_t klen, int sure)
{
    if (db->nobs != 0)
        pend_mark(db, key, klen, sure);
}

/* 'o', just written, is the object of the key last marked (if it was): the
 * end of the command reports it without looking it up again, unless an
 * object left the db or was replaced in between (db->relinks moved). */
static inline void mark_obj(node_db_t *db, node_obj_t *o)
{
    pending_t *p;

    if (db->npend == 0)
        return;
    p = &db->pend[db->npend - 1];
    if (p->klen == o->klen && memcmp(db->pend_keys + p->off, o->data, o->klen) == 0) {
        p->obj = o;
        p->gen = db->relinks;
    }
}

int node_db_observer_add(node_db_t *db, node_db_observer_fn *fn, void *priv)
{
    RC_ASSERT(!db->notifying);
    for (int i = 0; i < db->nobs; i++) {
        if (db->obs[i].fn == fn && db->obs[i].priv == priv)
            return -EEXIST;
    }
    if (db->nobs == NODE_DB_OBSERVERS_MAX)
        return -ENOSPC;
    db->obs[db->nobs].fn = fn;
    db->obs[db->nobs].priv = priv;
    db->nobs++;
    return 0;
}

int node_db_observer_remove(node_db_t *db, node_db_observer_fn *fn, void *priv)
{
    RC_ASSERT(!db->notifying);
    for (int i = 0; i < db->nobs; i++) {
        if (db->obs[i].fn == fn && db->obs[i].priv == priv) {
            memmove(&db->obs[i], &db->obs[i + 1], (size_t)(db->nobs - i - 1) * sizeof(db->obs[0]));
            db->nobs--;
            if (db->nobs == 0)
                db->npend = db->pend_used = 0;
            return 0;
        }
    }
    return -ENOENT;
}

void node_db_set_change_filter(node_db_t *db, int (*wants)(void *arg, unsigned slot), void *arg)
{
    db->change_ok = wants;
    db->change_arg = arg;
}

typedef struct pend_ref_s {
    const char *key;
    size_t klen;
    unsigned slot;
    size_t idx;
} pend_ref_t;

static int pend_ref_cmp(const void *a, const void *b)
{
    const pend_ref_t *x = a, *y = b;
    int c;

    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    c = x->klen == 0 ? 0 : memcmp(x->key, y->key, x->klen);
    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : (x->idx > y->idx ? 1 : 0);
}

static int pend_same(const node_db_t *db, const pending_t *a, const pending_t *b)
{
    return a->slot == b->slot && a->klen == b->klen &&
           memcmp(db->pend_keys + a->off, db->pend_keys + b->off, a->klen) == 0;
}

/* Marks the later entries of a key written twice in one command as
 * duplicates (sure = -1), folding what they knew into the first one. */
static void pend_dedupe(node_db_t *db)
{
    size_t n = db->npend;

    if (n <= PEND_SMALL) {
        for (size_t i = 1; i < n; i++) {
            for (size_t j = 0; j < i; j++) {
                if (db->pend[j].sure >= 0 && pend_same(db, &db->pend[j], &db->pend[i])) {
                    db->pend[j].sure |= db->pend[i].sure;
                    db->pend[i].sure = -1;
                    break;
                }
            }
        }
        return;
    }
    pend_ref_t *refs = rc_xmalloc(n * sizeof(*refs));
    for (size_t i = 0; i < n; i++) {
        refs[i].key = db->pend_keys + db->pend[i].off;
        refs[i].klen = db->pend[i].klen;
        refs[i].slot = db->pend[i].slot;
        refs[i].idx = i;
    }
    qsort(refs, n, sizeof(*refs), pend_ref_cmp);
    for (size_t i = 1; i < n; i++) {
        size_t first = i - 1;
        while (i < n && pend_same(db, &db->pend[refs[first].idx], &db->pend[refs[i].idx])) {
            db->pend[refs[first].idx].sure |= db->pend[refs[i].idx].sure;
            db->pend[refs[i].idx].sure = -1;
            i++;
        }
    }
    rc_free(refs);
}

static void end_command_slow(node_db_t *db)
{
    for (size_t i = 0; i < db->npend; i++) {
        /* Looked up for writing only: written if a value changed meanwhile. */
        if (db->pend[i].mutations != node__mutations)
            db->pend[i].sure = 1;
    }
    pend_dedupe(db);
    for (size_t i = 0; i < db->npend; i++) {
        const pending_t *p = &db->pend[i];
        node_obj_t *o;

        if (p->sure <= 0)
            continue;
        if (p->obj != NULL && p->gen == db->relinks)
            o = p->obj; /* nothing left the db since it was written: still it */
        else
            o = (node_obj_t *)node_dict_find(db->keys, db->pend_keys + p->off, p->klen);
        if (o == NULL) /* deleted since: that was reported */
            continue;
        if (db->cmd_argc >= 2 && db->cmd_argv[1].len == o->klen &&
            memcmp(db->cmd_argv[1].ptr, o->data, o->klen) == 0)
            notify_args(db, NODE_DB_CHANGE_WRITE, o, p->slot, db->cmd_argc, db->cmd_argv);
        else
            notify(db, NODE_DB_CHANGE_WRITE, o, p->slot);
    }
    db->npend = 0;
    db->pend_used = 0;
    if (db->pend_cap > 64 * 1024) {
        rc_free(db->pend_keys);
        db->pend_keys = NULL;
        db->pend_cap = 0;
    }
}

void node_db_replayable(node_db_t *db, int argc, const resp_arg_t *argv)
{
    db->cmd_argc = argc;
    db->cmd_argv = argv;
}

void node_db_end_command(node_db_t *db)
{
    if (db->npend != 0)
        end_command_slow(db);
    db->cmd_argc = 0;
}

/* ---------------------------------------------------------------- */
/* linking */

static void db_add(node_db_t *db, node_obj_t *o)
{
    RC_ASSERT(!db->notifying);
    o->lru = db->lru_clock;
    node_dict_add(db->keys, &o->link);
    slot_link(db, o);
    if (o->vol)
        vol_push(db, o);
    mark_obj(db, o);
}

/* Puts 'repl' in place of 'old' (same key) and frees the shell of 'old'
 * (not its value: the caller says whether 'repl' took it over). */
static void db_swap(node_db_t *db, node_obj_t *old, node_obj_t *repl, int free_old_value)
{
    RC_ASSERT(!db->notifying);
    db->relinks++;
    node_dict_replace(db->keys, &old->link, &repl->link);
    slot_replace(db, old, repl);
    if (old->vol && repl->vol) {
        uint32_t idx = obj_vidx(old);
        obj_set_vidx(repl, idx);
        db->vol[idx] = repl;
    } else if (old->vol) {
        vol_remove(db, old);
    } else if (repl->vol) {
        vol_push(db, repl);
    }
    if (free_old_value)
        node_obj_free(old);
    else
        rc_free(old);
    mark_obj(db, repl);
}

/* Unlinks 'o', reports it as 'kind' and frees it. */
static void db_remove(node_db_t *db, node_obj_t *o, node_db_change_kind_t kind)
{
    node_dict_entry_t *e;
    unsigned slot;

    RC_ASSERT(!db->notifying);
    db->relinks++;
    e = node_dict_unlink(db->keys, o->data, o->klen);
    RC_ASSERT(e == &o->link);
    slot = slot_unlink(db, o);
    if (o->vol)
        vol_remove(db, o);
    if (db->nobs != 0)
        notify(db, kind, o, slot);
    node_obj_free(o);
}

/* Redis's rule: a key is expired once now > its expire time; and only
 * where this node decides for its slot (node_db_set_slot_filter). */
static int obj_expired(const node_db_t *db, const node_obj_t *o)
{
    return o->vol && db->now_ms > node_obj_expire(o) &&
           (db->slot_ok == NULL || db->slot_ok(db->slot_arg, obj_slot(o)));
}

/* The object at 'key', expired or not. */
static node_obj_t *find_raw(node_db_t *db, const char *key, size_t klen)
{
    return (node_obj_t *)node_dict_find(db->keys, key, klen);
}

/* The live object at 'key'; an expired one is deleted. */
static node_obj_t *find(node_db_t *db, const char *key, size_t klen)
{
    node_obj_t *o = find_raw(db, key, klen);

    if (o != NULL && obj_expired(db, o)) {
        db->stats.expired_keys++;
        db_remove(db, o, NODE_DB_CHANGE_EXPIRE);
        return NULL;
    }
    return o;
}

uint64_t node_db_prefetch_bucket(const node_db_t *db, const char *key, size_t klen)
{
    uint64_t h = node_dict_hash(key, klen);

    node_dict_prefetch_bucket(db->keys, h);
    return h;
}

void node_db_prefetch_object(const node_db_t *db, uint64_t h)
{
    /* Two lines: the header and the key, then an embedded value. */
    node_dict_prefetch_entry(db->keys, h, 128);
}

void node_db_prefetch_next(const node_db_t *db, uint64_t h)
{
    node_dict_prefetch_next(db->keys, h, 64);
}

/* ---------------------------------------------------------------- */
/* lifecycle */

node_db_t *node_db_create(void)
{
    node_db_t *db = rc_xcalloc(1, sizeof(*db));
    uint8_t seed[16];
    FILE *f = fopen("/dev/urandom", "rb");

    if (f != NULL) {
        if (fread(seed, 1, sizeof(seed), f) == sizeof(seed))
            node_dict_set_hash_key(seed);
        fclose(f);
    }
    db->keys = node_dict_create(&keyspace_type);
    db->rng = 0x853c49e6748fea9bULL ^ (uint64_t)(uintptr_t)db;
    for (int i = 0; i < POOL_SIZE; i++)
        db->pool[i].key = db->pool[i].small;
    return db;
}

static void pool_clear(node_db_t *db)
{
    for (int i = 0; i < POOL_SIZE; i++) {
        pool_entry_t *p = &db->pool[i];
        if (p->key != p->small)
            rc_free(p->key);
        p->key = p->small;
        p->score = 0;
        p->klen = 0;
    }
}

static void notify_all(node_db_t *db)
{
    node_dict_iter_t it;
    node_dict_entry_t *e;

    node_dict_iter_init(&it, db->keys);
    while ((e = node_dict_iter_next(&it)) != NULL)
        notify(db, NODE_DB_CHANGE_DELETE, (node_obj_t *)e, obj_slot((node_obj_t *)e));
    node_dict_iter_done(&it);
}

void node_db_flush(node_db_t *db)
{
    RC_ASSERT(!db->notifying);
    if (db->nobs != 0)
        notify_all(db);
    db->relinks++;
    node_dict_clear(db->keys);
    memset(db->slots, 0, sizeof(db->slots));
    for (node_db_slot_iter_t *it = db->iters; it != NULL; it = it->next_it)
        it->next = NULL;
    rc_free(db->vol);
    db->vol = NULL;
    db->nvol = 0;
    db->capvol = 0;
    pool_clear(db);
}

size_t node_db_flush_decided(node_db_t *db)
{
    size_t n = 0;

    if (db->slot_ok == NULL) {
        n = node_dict_size(db->keys);
        node_db_flush(db);
        return n;
    }
    for (unsigned slot = 0; slot < RING_SLOTS; slot++) {
        if (db->slots[slot].keys == 0 || !db->slot_ok(db->slot_arg, slot))
            continue;
        while (db->slots[slot].head != NULL) {
            db_remove(db, db->slots[slot].head, NODE_DB_CHANGE_DELETE);
            n++;
        }
    }
    return n;
}

void node_db_destroy(node_db_t *db)
{
    if (db == NULL)
        return;
    db->nobs = 0; /* destruction is not a change */
    node_db_flush(db);
    for (node_db_slot_iter_t *it = db->iters; it != NULL; it = it->next_it)
        it->db = NULL; /* node_db_slot_iter_destroy() still frees them */
    node_dict_destroy(db->keys);
    rc_free(db->pend);
    rc_free(db->pend_keys);
    rc_free(db);
}

void node_db_set_now(node_db_t *db, int64_t now_ms)
{
    db->now_ms = now_ms;
    db->lru_clock = (uint32_t)((uint64_t)now_ms >> LRU_SHIFT) & LRU_MASK;
}

int64_t node_db_now(const node_db_t *db)
{
    return db->now_ms;
}

size_t node_db_size(const node_db_t *db)
{
    return node_dict_size(db->keys);
}

size_t node_db_buckets(const node_db_t *db)
{
    return node_dict_buckets(db->keys);
}

size_t node_db_rehashing_bytes(const node_db_t *db)
{
    return node_dict_rehashing_bytes(db->keys);
}

size_t node_db_expires(const node_db_t *db)
{
    return db->nvol;
}

int64_t node_db_avg_ttl(const node_db_t *db)
{
    size_t n = db->nvol < 64 ? db->nvol : 64, counted = 0;
    int64_t sum = 0;

    for (size_t i = 0; i < n; i++) {
        int64_t ttl = node_obj_expire(db->vol[i * db->nvol / n]) - db->now_ms;
        if (ttl > 0) {
            sum += ttl;
            counted++;
        }
    }
    return counted == 0 ? 0 : sum / (int64_t)counted;
}

const node_db_stats_t *node_db_stats(const node_db_t *db)
{
    return &db->stats;
}

void node_db_reset_stats(node_db_t *db)
{
    memset(&db->stats, 0, sizeof(db->stats));
}

static uint64_t rng_next(node_db_t *db)
{
    db->rng ^= db->rng >> 12;
    db->rng ^= db->rng << 25;
    db->rng ^= db->rng >> 27;
    return db->rng * 0x2545F4914F6CDD1DULL;
}

/* A random object (expired or not), or NULL when empty. */
static node_obj_t *random_obj(node_db_t *db)
{
    return (node_obj_t *)node_dict_random(db->keys);
}

/* ---------------------------------------------------------------- */
/* cron: active expiry and rehashing */

/* Samples keys with a TTL and deletes the expired ones, repeating while
 * more than a quarter of a sample was expired. The budget is counted in
 * work (about 4 samples per microsecond), not read from a clock. */
static void active_expire(node_db_t *db, int64_t budget_us)
{
    int64_t max_checks = budget_us * 4, checks = 0;
    size_t n, expired;

    if (max_checks < EXPIRE_SAMPLES)
        max_checks = EXPIRE_SAMPLES;
    do {
        n = db->nvol < EXPIRE_SAMPLES ? db->nvol : EXPIRE_SAMPLES;
        expired = 0;
        for (size_t i = 0; i < n && db->nvol > 0; i++) {
            node_obj_t *o = db->vol[rng_next(db) % db->nvol];
            if (obj_expired(db, o)) {
                db->stats.expired_keys++;
                db_remove(db, o, NODE_DB_CHANGE_EXPIRE);
                expired++;
            }
        }
        checks += (int64_t)n;
    } while (n > 0 && expired * 4 > n && checks < max_checks);
}

void node_db_cron(node_db_t *db, int64_t budget_us)
{
    active_expire(db, budget_us);
    node_dict_rehash(db->keys, REHASH_CRON_STEPS);
}

/* ---------------------------------------------------------------- */
/* eviction */

static int policy_volatile(node_mm_policy_t policy)
{
    return policy == NODE_MM_VOLATILE_LRU || policy == NODE_MM_VOLATILE_TTL;
}

static node_obj_t *sample(node_db_t *db, int vol_only)
{
    if (vol_only)
        return db->nvol == 0 ? NULL : db->vol[rng_next(db) % db->nvol];
    return random_obj(db);
}

static uint64_t score(const node_db_t *db, const node_obj_t *o, node_mm_policy_t policy)
{
    if (policy == NODE_MM_VOLATILE_TTL)
        return UINT64_MAX - (uint64_t)node_obj_expire(o); /* sooner: better */
    return 1 + ((db->lru_clock - o->lru) & LRU_MASK);     /* idle time + 1 */
}

/* Inserts a candidate into the pool, kept sorted by score, ascending
 * (slot POOL_SIZE-1 holds the best victim). Skips keys already there. */
static void pool_insert(node_db_t *db, const node_obj_t *o, uint64_t sc)
{
    pool_entry_t *pool = db->pool, tmp;
    int i;

    for (i = 0; i < POOL_SIZE; i++) {
        if (pool[i].score != 0 && pool[i].klen == o->klen &&
            memcmp(pool[i].key, o->data, o->klen) == 0)
            return;
    }
    if (pool[0].score != 0 && sc <= pool[0].score)
        return; /* full and not better than the worst */
    /* Drop slot 0 (empty or worst), store there, bubble up into place. */
    if (pool[0].key != pool[0].small)
        rc_free(pool[0].key);
    pool[0].key = o->klen <= POOL_INLINE_KEY ? pool[0].small : rc_xmalloc(o->klen);
    memcpy(pool[0].key, o->data, o->klen);
    pool[0].klen = o->klen;
    pool[0].score = sc;
    for (i = 0; i + 1 < POOL_SIZE && pool[i].score > pool[i + 1].score; i++) {
        tmp = pool[i];
        pool[i] = pool[i + 1];
        pool[i + 1] = tmp;
        /* the structs moved: re-point inline keys at their own buffers */
        if (pool[i].key == pool[i + 1].small)
            pool[i].key = pool[i].small;
        if (pool[i + 1].key == pool[i].small)
            pool[i + 1].key = pool[i + 1].small;
    }
}

/* Takes the best victim out of the pool: returns its live object or NULL. */
static node_obj_t *pool_pop(node_db_t *db, int vol_only)
{
    for (int i = POOL_SIZE - 1; i >= 0; i--) {
        pool_entry_t *p = &db->pool[i];
        node_obj_t *o;

        if (p->score == 0)
            continue;
        o = find_raw(db, p->key, p->klen);
        if (p->key != p->small)
            rc_free(p->key);
        p->key = p->small;
        p->score = 0;
        p->klen = 0;
        if (o != NULL && (!vol_only || o->vol))
            return o;
    }
    return NULL;
}

static int may_evict(const node_db_t *db, const node_obj_t *o)
{
    return db->slot_ok == NULL || db->slot_ok(db->slot_arg, obj_slot(o));
}

static node_obj_t *pick_victim(node_db_t *db, node_mm_policy_t policy, int samples)
{
    int vol_only = policy_volatile(policy);
    size_t avail = vol_only ? db->nvol : node_dict_size(db->keys);

    if (avail == 0)
        return NULL;
    if (samples < 1)
        samples = 1;
    for (int tries = 0; tries < 16; tries++) {
        node_obj_t *o;

        if (policy == NODE_MM_ALLKEYS_RANDOM) {
            o = sample(db, 0);
            if (o != NULL && may_evict(db, o))
                return o;
            continue;
        }
        for (int i = 0; i < samples; i++) {
            o = sample(db, vol_only);
            if (o != NULL && may_evict(db, o))
                pool_insert(db, o, score(db, o, policy));
        }
        while ((o = pool_pop(db, vol_only)) != NULL) {
            if (may_evict(db, o)) /* the filter may have changed since */
                return o;
        }
    }
    if (db->slot_ok != NULL) {
        /* Sampling missed (most keys are refused): the first key, from a
         * rotating slot, of a slot the filter accepts. */
        for (unsigned n = 0; n < RING_SLOTS; n++) {
            unsigned slot = (db->evict_cursor + n) % RING_SLOTS;
            node_obj_t *o;

            if (db->slots[slot].keys == 0 || !db->slot_ok(db->slot_arg, slot))
                continue;
            for (o = db->slots[slot].head; o != NULL && vol_only && !o->vol; o = o->snext)
                ;
            if (o != NULL) {
                db->evict_cursor = slot;
                return o;
            }
        }
    }
    return NULL;
}

void node_db_set_slot_filter(node_db_t *db, int (*ok)(void *arg, unsigned slot), void *arg)
{
    db->slot_ok = ok;
    db->slot_arg = arg;
}

int node_db_evict(node_db_t *db, uint64_t maxmemory, node_mm_policy_t policy, int samples)
{
    while (rc_used_memory() > maxmemory) {
        node_obj_t *o;
        node_db_change_kind_t kind = NODE_DB_CHANGE_EVICT;

        if (policy == NODE_MM_NOEVICTION)
            return -ENOMEM;
        o = pick_victim(db, policy, samples);
        if (o == NULL)
            return -ENOMEM;
        if (obj_expired(db, o)) {
            db->stats.expired_keys++;
            kind = NODE_DB_CHANGE_EXPIRE;
        } else {
            db->stats.evicted_keys++;
        }
        db_remove(db, o, kind);
    }
    return 0;
}

/* ---------------------------------------------------------------- */
/* object API */

node_obj_t *node_db_lookup(node_db_t *db, const char *key, size_t klen, int flags)
{
    node_obj_t *o = find(db, key, klen);

    if (!(flags & NODE_LOOKUP_WRITE)) {
        if (o != NULL)
            db->stats.keyspace_hits++;
        else
            db->stats.keyspace_misses++;
    } else if (o != NULL) {
        mark_write(db, key, klen, 0); /* the command may change it in place */
        mark_obj(db, o);
    }
    if (o != NULL && !(flags & NODE_LOOKUP_NOTOUCH))
        o->lru = db->lru_clock;
    return o;
}

/* Puts the new object 'o' where 'old' (or nothing) was, with TTL 'when'. */
static void put_str_obj(node_db_t *db, node_obj_t *old, node_obj_t *o, int64_t when)
{
    if (o->vol)
        node__obj_set_expire(o, when);
    o->lru = db->lru_clock;
    if (old != NULL)
        db_swap(db, old, o, 1);
    else
        db_add(db, o);
}

/* Makes 'key' (whose object, live or not, is 'old', or NULL) the string
 * 'val' with TTL 'when' (ms, -1: none): in place when the old value is an
 * embedded string of the same length (no malloc), else a new object. */
static void put_str(node_db_t *db, node_obj_t *old, const char *key, size_t klen, const void *val,
                    size_t vlen, int64_t when)
{
    long long n;

    mark_write(db, key, klen, 1);
    if (old != NULL && old->type == NODE_OBJ_STRING && old->enc == NODE_ENC_EMB &&
        old->vol == (when >= 0) && (vlen > 20 || rc_string2ll(val, vlen, &n) != 0)) {
        uint32_t olen;

        memcpy(&olen, node__obj_val(old), 4);
        if (olen == vlen) { /* same size: overwrite in place, no malloc */
            memcpy(node__obj_val(old) + 4, val, vlen);
            if (old->vol)
                node__obj_set_expire(old, when);
            old->lru = db->lru_clock;
            old->stale = 0;
            mark_obj(db, old);
            return;
        }
    }
    put_str_obj(db, old, node__obj_new_str(key, klen, val, vlen, when >= 0), when);
}

_Static_assert(offsetof(node_obj_raw_t, data) == NODE_DB_BLOCK_HEAD,
               "a block's head holds raw's length");

static void put_str_block(node_db_t *db, node_obj_t *old, const char *key, size_t klen, char *block,
                          size_t vlen, int64_t when)
{
    node_obj_raw_t *raw = (node_obj_raw_t *)(void *)block;
    node_obj_t *o;

    RC_ASSERT(vlen > NODE_OBJ_EMB_MAX);
    mark_write(db, key, klen, 1);
    raw->len = vlen;
    o = node__obj_alloc(key, klen, sizeof(void *), when >= 0);
    o->enc = NODE_ENC_RAW;
    node__obj_set_ptr(o, raw);
    put_str_obj(db, old, o, when);
}

void node_db_set_str_block(node_db_t *db, const char *key, size_t klen, char *block, size_t vlen,
                           int64_t expire_at, int keepttl)
{
    node_obj_t *old = find(db, key, klen);

    put_str_block(db, old, key, klen, block, vlen,
                  keepttl && old != NULL ? node_obj_expire(old) : expire_at);
}

void node_db_insert_str_block(node_db_t *db, const char *key, size_t klen, char *block, size_t vlen,
                              int64_t expire_at)
{
    put_str_block(db, find_raw(db, key, klen), key, klen, block, vlen, expire_at);
}

void node_db_set_str(node_db_t *db, const char *key, size_t klen, const void *val, size_t vlen,
                     int64_t expire_at, int keepttl)
{
    node_obj_t *old = find(db, key, klen);

    put_str(db, old, key, klen, val, vlen,
            keepttl && old != NULL ? node_obj_expire(old) : expire_at);
}

void node_db_insert_str(node_db_t *db, const char *key, size_t klen, const void *val, size_t vlen,
                        int64_t expire_at)
{
    put_str(db, find_raw(db, key, klen), key, klen, val, vlen, expire_at);
}

void node_db_set_ll(node_db_t *db, const char *key, size_t klen, long long v)
{
    node_obj_t *old = find(db, key, klen), *o;
    int64_t when = old != NULL ? node_obj_expire(old) : -1, n = v;

    mark_write(db, key, klen, 1);
    if (old != NULL && old->enc == NODE_ENC_INT) {
        memcpy(node__obj_val(old), &n, 8); /* same size: in place */
        old->lru = db->lru_clock;
        return;
    }
    o = node__obj_alloc(key, klen, 8, when >= 0);
    o->enc = NODE_ENC_INT;
    memcpy(node__obj_val(o), &n, 8);
    put_str_obj(db, old, o, when);
}

char *node_db_str_resize(node_db_t *db, const char *key, size_t klen, size_t newlen)
{
    node_obj_t *o = find(db, key, klen);
    node_obj_raw_t *raw;
    size_t cap;

    RC_ASSERT(o != NULL && o->type == NODE_OBJ_STRING);
    mark_write(db, key, klen, 1);
    if (o->enc != NODE_ENC_RAW) {
        /* Move the value out of line: it is being appended to or patched. */
        char buf[NODE_OBJ_INTBUF];
        size_t len;
        const char *s = node_obj_str(o, buf, &len);
        node_obj_t *c;

        raw = rc_xmalloc(sizeof(*raw) + (newlen > len ? newlen : len));
        raw->len = len;
        memcpy(raw->data, s, len);
        c = node__obj_alloc((const char *)o->data, o->klen, sizeof(void *), o->vol);
        c->enc = NODE_ENC_RAW;
        c->lru = o->lru;
        node__obj_set_ptr(c, raw);
        if (c->vol)
            node__obj_set_expire(c, node_obj_expire(o));
        db_swap(db, o, c, 1);
        o = c;
    }
    raw = node__obj_ptr(o);
    cap = rc_alloc_size(raw) - sizeof(*raw);
    if (newlen > cap) {
        /* Greedy growth as Redis's sdsMakeRoomFor: double up to 1 MB. */
        size_t want = newlen < 1024 * 1024 ? newlen * 2 : newlen + 1024 * 1024;
        raw = rc_xrealloc(raw, sizeof(*raw) + want);
        node__obj_set_ptr(o, raw);
    }
    if (newlen > raw->len)
        memset(raw->data + raw->len, 0, newlen - raw->len);
    raw->len = newlen;
    o->lru = db->lru_clock;
    return raw->data;
}

int node_db_delete(node_db_t *db, const char *key, size_t klen)
{
    node_obj_t *o = find(db, key, klen);

    if (o == NULL)
        return 0;
    db_remove(db, o, NODE_DB_CHANGE_DELETE);
    return 1;
}

void node_db_set_expire(node_db_t *db, const char *key, size_t klen, int64_t when)
{
    node_obj_t *o = find_raw(db, key, klen), *c;

    RC_ASSERT(o != NULL);
    mark_write(db, key, klen, 1);
    if (o->vol) {
        node__obj_set_expire(o, when);
        return;
    }
    c = obj_clone(o, 1);
    node__obj_set_expire(c, when);
    db_swap(db, o, c, 0);
}

int node_db_persist(node_db_t *db, const char *key, size_t klen)
{
    node_obj_t *o = find(db, key, klen), *c;

    if (o == NULL || !o->vol)
        return 0;
    mark_write(db, key, klen, 1);
    c = obj_clone(o, 0);
    db_swap(db, o, c, 0);
    return 1;
}

node_obj_t *node_db_random(node_db_t *db)
{
    for (;;) {
        node_obj_t *o = random_obj(db);

        if (o == NULL)
            return NULL;
        if (!obj_expired(db, o))
            return o;
        db->stats.expired_keys++;
        db_remove(db, o, NODE_DB_CHANGE_EXPIRE);
    }
}

typedef struct scan_ctx_s {
    node_db_obj_fn *fn;
    void *priv;
} scan_ctx_t;

static void scan_cb(void *priv, const node_dict_entry_t *e)
{
    scan_ctx_t *ctx = priv;

    ctx->fn(ctx->priv, (node_obj_t *)e);
}

uint64_t node_db_scan(node_db_t *db, uint64_t cursor, node_db_obj_fn *fn, void *priv)
{
    scan_ctx_t ctx = {fn, priv};

    return node_dict_scan(db->keys, cursor, scan_cb, &ctx);
}

void node_db_foreach(node_db_t *db, node_db_obj_fn *fn, void *priv)
{
    node_dict_iter_t it;
    node_dict_entry_t *e;

    node_dict_iter_init(&it, db->keys);
    while ((e = node_dict_iter_next(&it)) != NULL) {
        node_obj_t *o = (node_obj_t *)e;
        if (!obj_expired(db, o))
            fn(priv, o);
    }
    node_dict_iter_done(&it);
}

node_obj_t *node_db_hash_create(node_db_t *db, const char *key, size_t klen)
{
    node_obj_t *o = node__obj_alloc(key, klen, sizeof(void *), 0);

    o->type = NODE_OBJ_HASH;
    o->enc = NODE_ENC_LP;
    node__obj_set_ptr(o, NULL); /* an empty compact hash has no buffer */
    mark_write(db, key, klen, 1);
    db_add(db, o);
    return o;
}

node_obj_t *node_db_ptr_create(node_db_t *db, const char *key, size_t klen, node_obj_type_t type,
                               void *ptr)
{
    node_obj_t *o = node__obj_alloc(key, klen, sizeof(void *), 0);

    o->type = type;
    o->enc = NODE_ENC_PTR;
    node__obj_set_ptr(o, ptr);
    mark_write(db, key, klen, 1);
    db_add(db, o);
    return o;
}

void *node_obj_ptr(const node_obj_t *o)
{
    return node__obj_ptr(o);
}

void node_db_insert(node_db_t *db, node_obj_t *o)
{
    node_obj_t *old = find_raw(db, (const char *)o->data, o->klen);
    size_t vsize;

    mark_write(db, (const char *)o->data, o->klen, 1);
    if (old != NULL && old->vol == o->vol && (vsize = obj_vsize(o)) == obj_vsize(old)) {
        /* Same shape (a replica's usual case): the new value moves into the
         * old shell, which keeps its place in the dict, the slot's list and
         * the volatile vector; no relinking, no allocation. */
        node__obj_free_value(old);
        old->type = o->type;
        old->enc = o->enc;
        old->lru = db->lru_clock;
        memcpy(node__obj_val(old), node__obj_val(o), vsize);
        if (o->vol)
            node__obj_set_expire(old, node_obj_expire(o));
        old->stale = 0;
        rc_free(o); /* the shell: its value is old's now */
        mark_obj(db, old);
        return;
    }
    if (old != NULL) {
        o->lru = db->lru_clock;
        db_swap(db, old, o, 1);
    } else {
        db_add(db, o);
    }
}

/* ---------------------------------------------------------------- */
/* slots */

size_t node_db_slot_count(const node_db_t *db, unsigned slot)
{
    RC_ASSERT(slot < RING_SLOTS);
    return db->slots[slot].keys;
}

node_db_slot_iter_t *node_db_slot_iter_create(node_db_t *db, unsigned slot)
{
    node_db_slot_iter_t *it = rc_xmalloc(sizeof(*it));

    RC_ASSERT(slot < RING_SLOTS);
    it->db = db;
    it->next = db->slots[slot].head;
    it->prev_it = NULL;
    it->next_it = db->iters;
    if (db->iters != NULL)
        db->iters->prev_it = it;
    db->iters = it;
    return it;
}

size_t node_db_slot_iter_next(node_db_slot_iter_t *it, size_t max, node_db_obj_fn *fn, void *priv)
{
    size_t n = 0;

    while (n < max && it->next != NULL) {
        node_obj_t *o = it->next;

        it->next = o->snext; /* first: 'fn' must not write, but be safe */
        fn(priv, o);
        n++;
    }
    return n;
}

int node_db_slot_iter_done(const node_db_slot_iter_t *it)
{
    return it->next == NULL;
}

void node_db_slot_iter_destroy(node_db_slot_iter_t *it)
{
    if (it == NULL)
        return;
    if (it->db != NULL) {
        if (it->prev_it != NULL)
            it->prev_it->next_it = it->next_it;
        else
            it->db->iters = it->next_it;
        if (it->next_it != NULL)
            it->next_it->prev_it = it->prev_it;
    }
    rc_free(it);
}

size_t node_db_slot_mark_stale(node_db_t *db, unsigned slot)
{
    size_t n = 0;

    RC_ASSERT(slot < RING_SLOTS);
    for (node_obj_t *o = db->slots[slot].head; o != NULL; o = o->snext, n++)
        o->stale = 1;
    return n;
}

size_t node_db_slot_sweep_stale(node_db_t *db, unsigned slot)
{
    node_obj_t *o, *next;
    size_t n = 0;

    RC_ASSERT(slot < RING_SLOTS);
    for (o = db->slots[slot].head; o != NULL; o = next) {
        next = o->snext;
        if (o->stale) {
            db_remove(db, o, NODE_DB_CHANGE_DROP);
            n++;
        }
    }
    return n;
}

size_t node_db_slot_drop(node_db_t *db, unsigned slot, size_t max)
{
    RC_ASSERT(slot < RING_SLOTS);
    for (size_t i = 0; i < max && db->slots[slot].head != NULL; i++)
        db_remove(db, db->slots[slot].head, NODE_DB_CHANGE_DROP);
    return db->slots[slot].keys;
}
