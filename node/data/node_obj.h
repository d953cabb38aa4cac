/* node/data/node_obj.h: the layout of a keyspace object, shared by node_db.c and
 * node_obj_hash.c only (node_internal). The one rule: a key and its small
 * value live in ONE allocation, so a 16-byte key with a 16-byte value costs
 * one malloc of 68 bytes plus its bucket slot.
 *
 *   +------+-------------+---------------------+------+-------------------+-----------+
 *   | next | sprev snext | lru:24 type enc vol | klen | key bytes | value | [ttl: 12] |
 *   +------+-------------+---------------------+------+-------------------+-----------+
 *     8      8     8       4                     4      klen        vsize   expire+idx
 *
 *   sprev/snext: the list of the keys of the object's slot (node_db.c).
 *
 *   value: INT  int64 (8)          EMB  uint32 len + bytes
 *          RAW  pointer to node_obj_raw_t (large or growing strings)
 *          LP   pointer to a compact hash buffer
 *          HT   pointer to a node_dict_t of hash fields
 *          PTR  pointer to a list/set/zset/stream (node_obj_list.c ...)
 * Unaligned fields are read and written with memcpy. */
#ifndef RC_NODE_NODE_OBJ_H
#define RC_NODE_NODE_OBJ_H

#include <stdint.h>
#include <string.h>

#include "node/data/node_db.h"
#include "node/data/node_dict.h"

enum node_obj_enc_e {
    NODE_ENC_INT = 0,
    NODE_ENC_EMB = 1,
    NODE_ENC_RAW = 2,
    NODE_ENC_LP = 3,
    NODE_ENC_HT = 4,
    NODE_ENC_PTR = 5, /* list/set/zset/stream: pointer to its own structure */
};

#define NODE_OBJ_EMB_MAX  64 /* strings up to this size are embedded */
#define NODE_OBJ_TTL_SIZE 12

struct node_obj_s {
    node_dict_entry_t link;           /* first: the keyspace dict links objects directly */
    struct node_obj_s *sprev, *snext; /* the slot's list, while in a db */
    uint32_t lru : 24;
    uint32_t type : 3; /* node_obj_type_t */
    uint32_t enc : 3;
    uint32_t vol : 1;   /* has a TTL part */
    uint32_t stale : 1; /* node_db_slot_mark_stale(): not written since */
    uint32_t klen;
    unsigned char data[];
};

/* A string stored out of line; its capacity is the allocation's usable size. */
typedef struct node_obj_raw_s {
    uint64_t len;
    char data[];
} node_obj_raw_t;

static inline unsigned char *node__obj_val(const node_obj_t *o)
{
    return (unsigned char *)o->data + o->klen;
}

static inline void *node__obj_ptr(const node_obj_t *o)
{
    void *p;

    memcpy(&p, node__obj_val(o), sizeof(p));
    return p;
}

static inline void node__obj_set_ptr(node_obj_t *o, void *p)
{
    memcpy(node__obj_val(o), &p, sizeof(p));
}

/* Object construction (node_db.c), for the codec. */
/* A new detached object for 'key' with 'vsize' value bytes (to fill) and,
 * when 'vol', room for a TTL (set it with node__obj_set_expire()). Its type
 * is string/INT until the caller sets them. */
node_obj_t *node__obj_alloc(const char *key, size_t klen, size_t vsize, int vol);
/* A new detached string object, encoded as SET would (INT, EMB or RAW). */
node_obj_t *node__obj_new_str(const char *key, size_t klen, const void *val, size_t vlen, int vol);
/* Sets the absolute expire time of an object that has a TTL part. */
void node__obj_set_expire(node_obj_t *o, int64_t when);

/* Bumped by every change of a value structure (hash, list, set, zset,
 * stream: node_obj_*.c), so that node_db_end_command() can tell whether a
 * key looked up for writing was changed in place. One thread only. */
extern uint64_t node__mutations;

/* Helpers shared by the data commands (node_db.c). */
/* Redis's string2ld: strtold over the whole string, no leading space, no NaN. 0 or -EINVAL. */
int node__parse_ld(const char *s, size_t len, long double *out);
/* Formats 'v' as Redis's INCRBYFLOAT does ("%.17Lf", trailing zeros
 * trimmed). 'buf' holds NODE__LD_BUF bytes. Returns the length. */
#define NODE__LD_BUF 5120
size_t node__format_ld(char *buf, long double v);

/* node_obj_hash.c */
void node__hash_free(node_obj_t *o);

/* node_codec.c: frees what the value of 'o' owns, through its type's row of
 * the type table (serialize, deserialize, free: the three operations every
 * type has). */
void node__obj_free_value(node_obj_t *o);

#endif /* RC_NODE_NODE_OBJ_H */
