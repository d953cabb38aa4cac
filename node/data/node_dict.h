/* node/data/node_dict.h: an intrusive chained hash table with incremental
 * rehashing, used for the keyspace and for large hash values. The one rule:
 * the table never allocates or copies entries; callers embed a
 * node_dict_entry_t as the FIRST member of their entry struct and the table
 * only links them, so an entry costs exactly one allocation. */
#ifndef RC_NODE_NODE_DICT_H
#define RC_NODE_NODE_DICT_H

#include <stddef.h>
#include <stdint.h>

typedef struct node_dict_entry_s {
    struct node_dict_entry_s *next;
} node_dict_entry_t;

typedef struct node_dict_type_s {
    /* Returns the key bytes of 'e' and stores their length in '*len'. */
    const char *(*key)(const node_dict_entry_t *e, size_t *len);
    /* Frees 'e' (node_dict_clear/destroy); may be NULL. */
    void (*destroy)(node_dict_entry_t *e);
} node_dict_type_t;

typedef struct node_dict_s node_dict_t;

/* Returns a new empty table (no buckets allocated until the first add);
 * free with node_dict_destroy(). 'type' must outlive the table. */
node_dict_t *node_dict_create(const node_dict_type_t *type);
/* Destroys every entry through type->destroy, then the table. NULL is a no-op. */
void node_dict_destroy(node_dict_t *d);
/* Destroys every entry and frees the buckets (back to the empty state). */
void node_dict_clear(node_dict_t *d);

size_t node_dict_size(const node_dict_t *d);
/* Buckets allocated in both tables (for tests and INFO). */
size_t node_dict_buckets(const node_dict_t *d);
int node_dict_is_rehashing(const node_dict_t *d);
/* Bytes of the bucket table a rehash is moving away from (freed when it
 * ends), 0 when not rehashing. */
size_t node_dict_rehashing_bytes(const node_dict_t *d);

/* Returns the entry with key 'key' or NULL. */
node_dict_entry_t *node_dict_find(node_dict_t *d, const void *key, size_t len);
/* Links 'e', whose key must not be in the table yet. */
void node_dict_add(node_dict_t *d, node_dict_entry_t *e);
/* Unlinks the entry with key 'key' and returns it (the caller frees it), or
 * returns NULL when absent. */
node_dict_entry_t *node_dict_unlink(node_dict_t *d, const void *key, size_t len);
/* Puts 'repl' in the place of 'old' (same key bytes). 'old' is unlinked, not freed. */
void node_dict_replace(node_dict_t *d, node_dict_entry_t *old, node_dict_entry_t *repl);

/* Prefetching for a batch of lookups (hints only, nothing changes): the
 * bucket(s) of hash 'h' (node_dict_hash of the key), then, once those
 * have had time to arrive, the first entry of each chain and the
 * 'entry_bytes' bytes from its start. */
void node_dict_prefetch_bucket(const node_dict_t *d, uint64_t h);
void node_dict_prefetch_entry(const node_dict_t *d, uint64_t h, size_t entry_bytes);
/* Then, once the first entry has arrived, the second entry of each chain
 * (a lookup walks past the first about a quarter of the time). */
void node_dict_prefetch_next(const node_dict_t *d, uint64_t h, size_t entry_bytes);

/* Returns a random entry (uniform over buckets, then over the chain), or NULL if empty. */
node_dict_entry_t *node_dict_random(node_dict_t *d);

/* SCAN: calls 'fn' for every entry of the bucket(s) at 'cursor' and returns the
 * next cursor (0: done). Every entry present for the whole scan is reported
 * at least once, even if the table grows, shrinks or rehashes in between.
 * 'fn' must not modify the table. */
typedef void node_dict_scan_fn(void *priv, const node_dict_entry_t *e);
uint64_t node_dict_scan(node_dict_t *d, uint64_t cursor, node_dict_scan_fn *fn, void *priv);

/* An iterator that pauses rehashing while it lives: every entry present
 * for the whole iteration is returned exactly once. The loop may unlink the
 * entry just returned and may add entries (which may or may not be seen). */
typedef struct node_dict_iter_s {
    node_dict_t *d;
    int table;
    size_t index;
    node_dict_entry_t *next;
    int started;
} node_dict_iter_t;

void node_dict_iter_init(node_dict_iter_t *it, node_dict_t *d);
node_dict_entry_t *node_dict_iter_next(node_dict_iter_t *it);
void node_dict_iter_done(node_dict_iter_t *it);

/* Moves up to 'n' buckets to the new table (and, once done, starts a shrink if the
 * table became sparse meanwhile). Returns 1 if rehashing goes on. */
int node_dict_rehash(node_dict_t *d, int n);

/* The keyed hash (SipHash-1-2) the tables use. */
uint64_t node_dict_hash(const void *key, size_t len);
/* Sets the process-wide hash key (16 bytes). Call before any table exists. */
void node_dict_set_hash_key(const uint8_t key[16]);

#endif /* RC_NODE_NODE_DICT_H */
