/* node/data/node_types.h: the value structures of lists, sets, sorted sets and
 * streams (node_obj_list.c, node_obj_set.c, node_obj_zset.c,
 * node_obj_stream.c), used by their commands (node_cmd_list.c ...) and unit
 * tests. The one rule: every byte is allocated with rc_x* so that
 * rc_used_memory() counts it and returns to its baseline once freed. */
#ifndef RC_NODE_NODE_TYPES_H
#define RC_NODE_NODE_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "node/core/node.h"
#include "node/data/node_db.h"
#include "node/data/node_dict.h"

/* ------------------------------------------------------------------ */
/* Helpers shared by the list/set/zset/stream commands (node_cmd_list.c). */

/* Looks up c->argv[1] with lookup 'flags'. Returns the object, or NULL:
 * with '*err' = 0 when the key is missing, or -EINVAL after replying
 * WRONGTYPE when it holds another type than 'type'. */
node_obj_t *node__lookup_typed(node_client_t *c, node_obj_type_t type, int flags, int *err);
/* Redis's getLongLongFromObjectOrReply: 0, or -EINVAL after replying
 * "ERR value is not an integer or out of range". */
int node__get_ll_or_reply(node_client_t *c, int argi, long long *out);
/* Redis's count parsing of LPOP/SPOP/ZPOPMIN: anything but an integer >= 0
 * gets "ERR value is out of range, must be positive". */
int node__get_positive_or_reply(node_client_t *c, int argi, long long *out);

/* ------------------------------------------------------------------ */
/* Lists: a ring buffer of pointers to elements, so pushes and pops at   */
/* both ends are O(1) amortised and LINDEX/LSET/LRANGE are O(1) per item. */

typedef struct node_list_elem_s {
    size_t len;
    char data[];
} node_list_elem_t;

typedef struct node_list_s node_list_t;

enum node_list_end_e {
    NODE_LIST_HEAD = 0,
    NODE_LIST_TAIL = 1,
};

/* Returns a new empty list; free with node_list_destroy(). */
node_list_t *node_list_create(void);
void node_list_destroy(node_list_t *l);
size_t node_list_len(const node_list_t *l);
void node_list_push(node_list_t *l, int where, const void *p, size_t len);
/* Removes the element at 'where' and returns it (free with rc_free), or NULL when empty. */
node_list_elem_t *node_list_pop(node_list_t *l, int where);
/* The element at 'i' (0 <= i < len): valid until the list changes. */
const node_list_elem_t *node_list_at(const node_list_t *l, size_t i);
void node_list_set(node_list_t *l, size_t i, const void *p, size_t len);
/* Removes up to 'count' elements equal to 'p' (all when 0) from the head
 * (count > 0) or the tail (count < 0). Returns how many were removed. */
size_t node_list_rem(node_list_t *l, long long count, const void *p, size_t len);
/* Keeps only the elements in [start, start + n). */
void node_list_keep(node_list_t *l, size_t start, size_t n);

/* ------------------------------------------------------------------ */
/* Sets: a node_dict of members (one allocation per member). */

typedef struct node_set_member_s {
    node_dict_entry_t link;
    size_t len;
    char data[];
} node_set_member_t;

typedef struct node_set_s node_set_t;

node_set_t *node_set_create(void);
void node_set_destroy(node_set_t *s);
size_t node_set_len(const node_set_t *s);
/* Returns 1 if 'p' was added, 0 if it was there. */
int node_set_add(node_set_t *s, const void *p, size_t len);
/* Returns 1 if 'p' was removed. */
int node_set_rem(node_set_t *s, const void *p, size_t len);
int node_set_has(node_set_t *s, const void *p, size_t len);
/* A random member (valid until the set changes), NULL when empty. */
const node_set_member_t *node_set_random(node_set_t *s);
/* Unlinks a random member and returns it (free with rc_free), or NULL. */
node_set_member_t *node_set_pop(node_set_t *s);
/* Calls 'fn' for every member; 'fn' must not change the set. */
typedef void node_set_fn(void *priv, const char *p, size_t len);
void node_set_foreach(node_set_t *s, node_set_fn *fn, void *priv);
/* Fills 'out' (node_set_len entries) with every member. */
void node_set_members(node_set_t *s, const node_set_member_t **out);

/* ------------------------------------------------------------------ */
/* Sorted sets: a skiplist with spans (rank in O(log n)) plus a node_dict */
/* from member to skiplist node. Order: score, then member bytes.         */

typedef struct node_zset_s node_zset_t;
typedef struct node_zset_node_s node_zset_node_t;

node_zset_t *node_zset_create(void);
void node_zset_destroy(node_zset_t *z);
size_t node_zset_len(const node_zset_t *z);
/* Sets the score of 'm' (adding it when new). Returns 1 if added, 0 if updated. */
int node_zset_add(node_zset_t *z, const void *m, size_t mlen, double score);
/* Returns 1 and the score of 'm', or 0 when absent. */
int node_zset_score(node_zset_t *z, const void *m, size_t mlen, double *score);
/* Returns 1 if 'm' was removed. */
int node_zset_rem(node_zset_t *z, const void *m, size_t mlen);
/* 0-based rank of 'm' in ascending order, or -1 when absent. */
long long node_zset_rank(node_zset_t *z, const void *m, size_t mlen);
/* The node at 0-based ascending rank 'rank' (< len), in O(log n). */
node_zset_node_t *node_zset_at(const node_zset_t *z, size_t rank);
node_zset_node_t *node_zset_next(const node_zset_node_t *n);
node_zset_node_t *node_zset_prev(const node_zset_node_t *n);
double node_zset_node_score(const node_zset_node_t *n);
const char *node_zset_node_member(const node_zset_node_t *n, size_t *mlen);
/* Number of elements whose score is < 'v' (<= 'v' when 'inclusive'). */
size_t node_zset_count_below(const node_zset_t *z, double v, int inclusive);
/* Number of leading elements (in order) whose member satisfies 'pred',
 * which must hold for a prefix of the order (true then false), as lex
 * ranges do when all scores are equal. */
typedef int node_zset_pred_fn(void *priv, const char *m, size_t mlen);
size_t node_zset_count_while(const node_zset_t *z, node_zset_pred_fn *pred, void *priv);

/* ------------------------------------------------------------------ */
/* Streams: an append-only vector of entries sorted by id; lookups by id  */
/* are binary searches. Entries hold their field/value pairs packed.       */

typedef struct node_stream_id_s {
    uint64_t ms;
    uint64_t seq;
} node_stream_id_t;

typedef struct node_stream_entry_s {
    node_stream_id_t id;
    uint32_t nfields; /* pairs */
    /* then nfields * 2 times: uint32_t len + bytes */
    unsigned char data[];
} node_stream_entry_t;

typedef struct node_stream_s node_stream_t;

node_stream_t *node_stream_create(void);
void node_stream_destroy(node_stream_t *s);
size_t node_stream_len(const node_stream_t *s);
node_stream_id_t node_stream_last_id(const node_stream_t *s);
int node_stream_id_cmp(node_stream_id_t a, node_stream_id_t b);
/* Appends an entry with id 'id', which must be greater than the last id,
 * and 'n' field/value pairs from 'ptrs'/'lens' (2n of each). */
void node_stream_append(node_stream_t *s, node_stream_id_t id, size_t n, const char *const *ptrs,
                        const size_t *lens);
/* Index of the first entry with id >= 'id' (len when none). */
size_t node_stream_lower_bound(const node_stream_t *s, node_stream_id_t id);
const node_stream_entry_t *node_stream_at(const node_stream_t *s, size_t i);
/* Deletes the entry with id 'id'; returns 1 if it existed. */
int node_stream_del(node_stream_t *s, node_stream_id_t id);
/* Deletes the 'n' oldest entries. */
void node_stream_trim_head(node_stream_t *s, size_t n);
/* Reads field/value 'k' (0 <= k < 2 * nfields) of an entry, walking from
 * '*pos' (start at 0; advanced past the item). */
const char *node_stream_entry_item(const node_stream_entry_t *e, size_t *pos, size_t *len);
/* Sets the last id (node_codec.c, restoring a stream); it must not be below
 * the id of the last entry. */
void node__stream_set_last_id(node_stream_t *s, node_stream_id_t id);

#endif /* RC_NODE_NODE_TYPES_H */
