/* node/node_db.h: the keyspace: keys to string or hash values, TTLs, lazy
 * and active expiry, maxmemory eviction, memory accounting. Implemented in
 * node_db.c (+ node_dict for the tables). The one rule: the db never looks
 * at a clock; its owner sets the time with node_db_set_now() so expiry is
 * deterministic in tests.
 *
 * The part of this header below "object API" is for the node_cmd_keys.c,
 * node_cmd_string.c and node_cmd_hash.c commands; the server uses the
 * lifecycle, cron, eviction and stats parts. */
#ifndef RC_NODE_NODE_DB_H
#define RC_NODE_NODE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "node/node.h"

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
/* Keys with a TTL. */
size_t node_db_expires(const node_db_t *db);
/* Average TTL in ms of keys with a TTL (sampled estimate as Redis's), 0 if none. */
int64_t node_db_avg_ttl(const node_db_t *db);
/* Deletes every key. */
void node_db_flush(node_db_t *db);

/* Periodic work, called 'hz' times a second: an active expiry cycle that
 * spends at most 'budget_us' microseconds, and incremental rehash steps. */
void node_db_cron(node_db_t *db, int64_t budget_us);

/* Frees keys by 'policy' (sampling 'samples' keys per round) until the
 * process's rc_used_memory() is at most 'maxmemory'. Returns 0 when under
 * the limit, -ENOMEM when it cannot get there (noeviction, or no candidate
 * left): the caller then refuses DENYOOM commands with Redis's -OOM error. */
int node_db_evict(node_db_t *db, uint64_t maxmemory, node_mm_policy_t policy, int samples);

const node_db_stats_t *node_db_stats(const node_db_t *db);
void node_db_reset_stats(node_db_t *db);

#endif /* RC_NODE_NODE_DB_H */
