/* node/data/node_db.h: the keyspace: keys to values of every type, TTLs, lazy
 * and active expiry, maxmemory eviction, memory accounting, the per-slot key
 * index and the change observers. Implemented in node_db.c (+ node_dict for
 * the tables). The one rule: the db never looks at a clock; its owner sets
 * the time with node_db_set_now() so expiry is deterministic in tests.
 *
 * The part of this header below "object API" is for the node_cmd_keys.c,
 * node_cmd_string.c and node_cmd_hash.c commands; the server uses the
 * lifecycle, cron, eviction and stats parts. */
#ifndef RC_NODE_NODE_DB_H
#define RC_NODE_NODE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "node/core/node.h"

typedef struct node_db_stats_s {
    uint64_t expired_keys;
    uint64_t evicted_keys;
    uint64_t keyspace_hits;
    uint64_t keyspace_misses;
} node_db_stats_t;

node_db_t *node_db_create(void);
void node_db_destroy(node_db_t *db);

/* Sets the time the db uses for expiry decisions (milliseconds). */
void node_db_set_now(node_db_t *db, int64_t now_ms);

/* Keys, including expired ones not yet reclaimed (as Redis's DBSIZE). */
size_t node_db_size(const node_db_t *db);
/* Buckets of the keyspace table (tests, memory estimates). */
size_t node_db_buckets(const node_db_t *db);
/* Bytes of the keyspace's old bucket table while a rehash moves away from
 * it, 0 otherwise (INFO's mem_overhead_db_hashtable_rehashing, as Redis 7.4). */
size_t node_db_rehashing_bytes(const node_db_t *db);
/* Keys with a TTL. */
size_t node_db_expires(const node_db_t *db);
/* Average TTL in ms of keys with a TTL (sampled estimate as Redis's), 0 if none. */
int64_t node_db_avg_ttl(const node_db_t *db);
/* Deletes every key. */
void node_db_flush(node_db_t *db);
/* FLUSHALL on a cluster node: deletes every key of the slots this node
 * decides for (node_db_set_slot_filter; all of them without a filter),
 * each reported as a DELETE, so the slots' replicas delete them too; the
 * copies it holds as a replica stay, as their primaries' keys do. Returns
 * the keys deleted. */
size_t node_db_flush_decided(node_db_t *db);

/* Prefetching for a batch of commands (hints: nothing changes). Stage 1
 * hashes 'key' and prefetches its bucket, returning the hash; stage 2,
 * called with that hash once the batch's buckets are on their way,
 * prefetches the object the bucket points to (its header, key and a
 * small value); stage 3, once that object has arrived, prefetches the
 * next object of the chain (its header and key: a lookup walks past the
 * first object about a quarter of the time, the table being at load
 * 0.5-1). A lookup of a key whose stages ran a few hundred nanoseconds
 * before finds them in the cache instead of missing two or three times. */
uint64_t node_db_prefetch_bucket(const node_db_t *db, const char *key, size_t klen);
void node_db_prefetch_object(const node_db_t *db, uint64_t h);
void node_db_prefetch_next(const node_db_t *db, uint64_t h);

/* Periodic work, called 'hz' times a second: an active expiry cycle that
 * spends at most 'budget_us' microseconds, and incremental rehash steps. */
void node_db_cron(node_db_t *db, int64_t budget_us);

/* Eviction and expiry touch only keys whose slot 'ok' accepts ('arg'
 * passed back); NULL: any key. A cluster node decides only for the slots
 * it serves: the copies it holds as a replica follow their primary, whose
 * evictions and expirations arrive as deletes, never the replica's own
 * clock. A key past its TTL in a refused slot stays, and reads as live,
 * until its delete arrives (or the slot becomes this node's to decide). */
void node_db_set_slot_filter(node_db_t *db, int (*ok)(void *arg, unsigned slot), void *arg);

/* Frees keys by 'policy' (sampling 'samples' keys per round) until the
 * process's rc_used_memory() is at most 'maxmemory'. Returns 0 when under
 * the limit, -ENOMEM when it cannot get there (noeviction, or no candidate
 * left): the caller then refuses DENYOOM commands with Redis's -OOM error. */
int node_db_evict(node_db_t *db, uint64_t maxmemory, node_mm_policy_t policy, int samples);

const node_db_stats_t *node_db_stats(const node_db_t *db);
void node_db_reset_stats(node_db_t *db);

/* ------------------------------------------------------------------ */
/* Object API, for the data commands (node_cmd_keys/string/hash.c).     */
/* A node_obj_t pointer is valid until the next call that writes the db   */
/* (set, delete, expire, lookup of an expired key): writes may move it.   */

typedef struct node_obj_s node_obj_t;

typedef enum node_obj_type_e {
    NODE_OBJ_STRING = 0,
    NODE_OBJ_HASH = 1,
    NODE_OBJ_LIST = 2,
    NODE_OBJ_SET = 3,
    NODE_OBJ_ZSET = 4,
    NODE_OBJ_STREAM = 5,
} node_obj_type_t;

/* Lookup flags. */
enum node_lookup_flag_e {
    NODE_LOOKUP_WRITE = 1 << 0,   /* a write: no keyspace hit/miss stats */
    NODE_LOOKUP_NOTOUCH = 1 << 1, /* leave the LRU clock of the key alone */
};

/* Buffer size node_obj_str() needs for integer-encoded strings. */
#define NODE_OBJ_INTBUF 24

/* Returns the live object at 'key', or NULL. An expired key is deleted on
 * the way (counted in expired_keys), as Redis's lazy expiry does. */
node_obj_t *node_db_lookup(node_db_t *db, const char *key, size_t klen, int flags);
/* The time set by node_db_set_now(). */
int64_t node_db_now(const node_db_t *db);

node_obj_type_t node_obj_type(const node_obj_t *o);
/* TYPE's name of the object's type: "string", "hash", "list", "set", "zset", "stream". */
const char *node_obj_type_name(const node_obj_t *o);
const char *node_obj_key(const node_obj_t *o, size_t *klen);
/* Absolute expire time in ms, or -1 when the key has no TTL. */
int64_t node_obj_expire(const node_obj_t *o);
/* Bytes of a string object; 'buf' (NODE_OBJ_INTBUF bytes) holds them when
 * the value is stored as an integer. Valid until the object changes. */
const char *node_obj_str(const node_obj_t *o, char *buf, size_t *len);
size_t node_obj_strlen(const node_obj_t *o);
/* Parses a string object as a long long (Redis's strict rules): 0 or -EINVAL. */
int node_obj_get_ll(const node_obj_t *o, long long *v);

/* Sets 'key' to the string 'val' whatever it held. The key gets TTL
 * 'expire_at' (ms, -1: none), or keeps its old TTL when 'keepttl'. */
void node_db_set_str(node_db_t *db, const char *key, size_t klen, const void *val, size_t vlen,
                     int64_t expire_at, int keepttl);
/* The same with the value's bytes already in 'block' (from rc_x*), after
 * NODE_DB_BLOCK_HEAD bytes left free: the block becomes the value's
 * storage (no copy of a big value), the db owns it. 'vlen' > 64. */
enum {
    NODE_DB_BLOCK_HEAD = 8
};
void node_db_set_str_block(node_db_t *db, const char *key, size_t klen, char *block, size_t vlen,
                           int64_t expire_at, int keepttl);
/* Sets 'key' to the integer 'v', keeping its TTL (INCR and friends). */
void node_db_set_ll(node_db_t *db, const char *key, size_t klen, long long v);
/* Makes the string at 'key' (which must exist) 'newlen' bytes long, keeping
 * its bytes and zero-filling the growth, and returns its writable bytes
 * (valid until the next db write). */
char *node_db_str_resize(node_db_t *db, const char *key, size_t klen, size_t newlen);
/* Deletes 'key'. Returns 1 if a live key was deleted, 0 otherwise. */
int node_db_delete(node_db_t *db, const char *key, size_t klen);
/* Sets the TTL of the existing 'key' to 'when' (absolute ms). */
void node_db_set_expire(node_db_t *db, const char *key, size_t klen, int64_t when);
/* Removes the TTL of 'key'. Returns 1 if it had one. */
int node_db_persist(node_db_t *db, const char *key, size_t klen);
/* A random live key (expired ones met on the way are deleted), or NULL. */
node_obj_t *node_db_random(node_db_t *db);

/* Keyspace SCAN step: calls 'fn' for each object in the bucket(s) at
 * 'cursor' and returns the next cursor (0: done). 'fn' must not write the db;
 * the objects may be expired (check with node_db_lookup afterwards). */
typedef void node_db_obj_fn(void *priv, node_obj_t *o);
uint64_t node_db_scan(node_db_t *db, uint64_t cursor, node_db_obj_fn *fn, void *priv);
/* Calls 'fn' for every live key (expired ones are skipped, not deleted). */
void node_db_foreach(node_db_t *db, node_db_obj_fn *fn, void *priv);

/* Hashes. A hash object is changed in place: these never move it. */
/* Adds an empty hash at 'key' (which must not exist) and returns it. */
node_obj_t *node_db_hash_create(node_db_t *db, const char *key, size_t klen);
/* Converts a compact hash to a table when 'maxlen' (the longest field or
 * value a command is about to write) is over 64 bytes, as Redis's
 * hashTypeTryConversion does. */
void node_hash_try_convert(node_obj_t *o, size_t maxlen);
/* Sets field 'f' to 'v' (converting past 128 fields). Returns 1 if the
 * field is new, 0 if updated. */
int node_hash_set(node_obj_t *o, const char *f, size_t flen, const char *v, size_t vlen);
/* Finds field 'f': returns 1 and its value (valid until the hash changes), or 0. */
int node_hash_get(node_obj_t *o, const char *f, size_t flen, const char **v, size_t *vlen);
/* Deletes field 'f'. Returns 1 if it existed. The caller deletes an empty hash. */
int node_hash_del(node_obj_t *o, const char *f, size_t flen);
size_t node_hash_len(const node_obj_t *o);
/* Calls 'fn' for every field in order (insertion order while compact). */
typedef void node_hash_fn(void *priv, const char *f, size_t flen, const char *v, size_t vlen);
void node_hash_foreach(node_obj_t *o, node_hash_fn *fn, void *priv);
/* 1 when the hash is in the compact (listpack-like) encoding. */
int node_hash_is_compact(const node_obj_t *o);

/* Lists, sets, sorted sets, streams (types helper, node_obj_*.c): the
 * value is a pointer to the type's own structure, changed in place. */
/* Adds an object of 'type' at 'key' (which must not exist) owning 'ptr'. */
node_obj_t *node_db_ptr_create(node_db_t *db, const char *key, size_t klen, node_obj_type_t type,
                               void *ptr);
/* The structure of a list/set/zset/stream object. */
void *node_obj_ptr(const node_obj_t *o);

/* ------------------------------------------------------------------ */
/* Per-slot key index. Every key is on the list of its slot              */
/* (ring_keyslot(): CRC16 with {hash tags}, 0..RING_SLOTS-1).            */

/* Keys in 'slot', expired ones not yet reclaimed included (as Redis's
 * CLUSTER COUNTKEYSINSLOT), in O(1). */
size_t node_db_slot_count(const node_db_t *db, unsigned slot);

/* An iterator over the keys of one slot, for streaming a slot while writes
 * go on (the hand-off's snapshot, GETKEYSINSLOT). It returns every key that
 * is in the slot for its whole life exactly once, whatever happens between
 * two calls: keys of the slot added (not returned: they go in behind it),
 * modified, replaced, deleted, expired, evicted, tables rehashing. The db
 * keeps it valid (an O(1) fix-up per removal for each live iterator). */
typedef struct node_db_slot_iter_s node_db_slot_iter_t;
/* Returns a new iterator over 'slot'; free with node_db_slot_iter_destroy()
 * (which may come after node_db_destroy()). */
node_db_slot_iter_t *node_db_slot_iter_create(node_db_t *db, unsigned slot);
/* Calls 'fn' for up to 'max' next keys and returns how many; fewer than
 * 'max' means the end. 'fn' must not write the db; the objects may be
 * expired. */
size_t node_db_slot_iter_next(node_db_slot_iter_t *it, size_t max, node_db_obj_fn *fn, void *priv);
/* 1 once every key has been returned. */
int node_db_slot_iter_done(const node_db_slot_iter_t *it);
void node_db_slot_iter_destroy(node_db_slot_iter_t *it);

/* Deletes up to 'max' keys of 'slot' (O('max') work) and returns how many
 * keys the slot still holds: call it from a timer until it returns 0.
 * Observers see each key as NODE_DB_CHANGE_DROP. */
size_t node_db_slot_drop(node_db_t *db, unsigned slot, size_t max);

/* A replica reconciling the copy it holds with a new primary's snapshot:
 * node_db_slot_mark_stale() marks every key of 'slot' (and returns how
 * many); writing a key (a new value, in place or not) clears its mark;
 * node_db_slot_sweep_stale() deletes the keys still marked (observers see
 * NODE_DB_CHANGE_DROP) and returns how many. O(keys in the slot) each. */
size_t node_db_slot_mark_stale(node_db_t *db, unsigned slot);
size_t node_db_slot_sweep_stale(node_db_t *db, unsigned slot);

/* ------------------------------------------------------------------ */
/* Change observers. The db reports every change of a key, with its slot: */
/*   WRITE   the key's value or TTL was created or modified (SET, APPEND,   */
/*           HINCRBY, LPUSH, ZADD, XADD, EXPIRE, PERSIST...), reported once */
/*           per key and command by node_db_end_command(), after the        */
/*           command's change is complete: 'obj' is the value then.         */
/*   DELETE  a command removed it (DEL, UNLINK, GETDEL, FLUSHALL, EXPIRE in */
/*           the past, a pop or removal that emptied a container)           */
/*   EXPIRE  lazy or active expiry removed it                               */
/*   EVICT   maxmemory eviction removed it                                  */
/*   DROP    node_db_slot_drop() removed it (the slot left this node)        */
/* Removals are reported when they happen, before the object is freed.     */
/* Writes are found at two choke points, so a command cannot forget one:    */
/* every db function that writes a key (node_db_set_*, node_db_str_resize,   */
/* node_db_*_create, node_db_set_expire, node_db_persist, node_db_insert),   */
/* and every node_db_lookup() with NODE_LOOKUP_WRITE that returns an object */
/* (the command may then change it in place: node_hash_set, node_list_push, */
/* ...; such a key is reported if any value structure changed during the   */
/* command). With no observer registered all of this is one branch.       */

typedef enum node_db_change_kind_e {
    NODE_DB_CHANGE_WRITE = 1,
    NODE_DB_CHANGE_DELETE = 2,
    NODE_DB_CHANGE_EXPIRE = 3,
    NODE_DB_CHANGE_EVICT = 4,
    NODE_DB_CHANGE_DROP = 5,
} node_db_change_kind_t;

typedef struct node_db_change_s {
    node_db_change_kind_t kind;
    unsigned slot;
    const char *key; /* valid during the call only */
    size_t klen;
    /* WRITE: the object as the command left it; removals: the object being
     * removed (no longer in the db, or about to be cleared by a flush; freed
     * right after the call). */
    const node_obj_t *obj;
    /* WRITE by a command node_db_replayable() named, of its key: its
     * arguments (valid during the call only), which replayed on a copy of
     * the key as it was before the command leave a copy of 'obj'; else
     * argc 0 and argv NULL. */
    int argc;
    const resp_arg_t *argv;
} node_db_change_t;

/* Called for each change. It must not write 'db' (it may read it), nor add or
 * remove observers. */
typedef void node_db_observer_fn(void *priv, node_db_t *db, const node_db_change_t *change);

enum {
    NODE_DB_OBSERVERS_MAX = 8,
};

/* Registers 'fn' with 'priv'; observers are called in registration order.
 * Returns 0, -EEXIST if that pair is registered, -ENOSPC past
 * NODE_DB_OBSERVERS_MAX. */
int node_db_observer_add(node_db_t *db, node_db_observer_fn *fn, void *priv);
/* Unregisters the pair. Returns 0 or -ENOENT. */
int node_db_observer_remove(node_db_t *db, node_db_observer_fn *fn, void *priv);
/* WRITE changes are reported only for keys of slots 'wants' accepts ('arg'
 * passed back); NULL: every slot. It is asked when a command writes, so its
 * answer must not change while a command runs. Saves the work of recording
 * and finding again the keys no observer would use (a replica's copies). */
void node_db_set_change_filter(node_db_t *db, int (*wants)(void *arg, unsigned slot), void *arg);
/* The command about to run writes only its key, argv[1], and its effect on
 * that key is a function of the key's value and its arguments alone (no
 * clock, no chance): the WRITE of that key carries argv (node_db_change_t),
 * so that a replica may replay the command instead of copying the value.
 * 'argv' must stay valid until node_db_end_command(), which forgets it. */
void node_db_replayable(node_db_t *db, int argc, const resp_arg_t *argv);
/* Ends a command: reports the WRITE of every key it wrote that still exists.
 * The dispatcher calls it after every command (and after the local part of
 * a split one); anything else that writes the db calls it when done. */
void node_db_end_command(node_db_t *db);

/* ------------------------------------------------------------------ */
/* Detached objects: the unit replication and hand-off ship (node_codec.h */
/* turns them into bytes and back).                                      */

/* Frees an object that is not in a db (from node_obj_deserialize()). NULL
 * is a no-op. */
void node_obj_free(node_obj_t *o);
/* Links the detached object 'o' into 'db' (takes ownership), replacing the
 * key's current value if any. Observers see a WRITE at the end of the
 * command. */
void node_db_insert(node_db_t *db, node_obj_t *o);
/* node_db_insert() of the string 'val' with TTL 'expire_at' (ms, -1: none)
 * at 'key', without building the detached object first: whatever the key
 * held, expired or not, is replaced (in place when it is a string of the
 * same length). */
void node_db_insert_str(node_db_t *db, const char *key, size_t klen, const void *val, size_t vlen,
                        int64_t expire_at);
/* The same with the value's bytes in 'block', as node_db_set_str_block()
 * takes them. */
void node_db_insert_str_block(node_db_t *db, const char *key, size_t klen, char *block, size_t vlen,
                              int64_t expire_at);

#endif /* RC_NODE_NODE_DB_H */
