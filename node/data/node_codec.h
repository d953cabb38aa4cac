/* node/data/node_codec.h: objects to bytes and back, with their TTL: the unit
 * that replication and slot hand-off ship (the format is described at the
 * top of node_codec.c). The one rule: bytes from a peer are never trusted:
 * deserializing returns an error for anything malformed, never asserts,
 * and allocates at most a constant times the input's size. */
#ifndef RC_NODE_NODE_CODEC_H
#define RC_NODE_NODE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/rc_buf.h"
#include "node/data/node_db.h"

enum {
    NODE_CODEC_VERSION = 1, /* first byte of every serialized object */
};

/* Appends the serialization of 'o' (its type, its TTL as an absolute time
 * in ms, its value; not its key) to 'out'. Works on live and detached
 * objects of every type and encoding. */
void node_obj_serialize(const node_obj_t *o, rc_buf_t *out);

/* The bytes node_obj_serialize() appends for 'o' if that is known without
 * serializing it (strings), else 0. */
size_t node_obj_serialized_size(const node_obj_t *o);

/* Parses exactly the 'len' bytes at 'p' into a new detached object for the
 * key 'key' ('klen' bytes), encoded as the commands would have built it.
 * Returns 0 and stores the object in '*out' (free it with node_obj_free()
 * or give it to node_db_insert()), or leaves '*out' NULL and returns
 * -ENOTSUP for another format version, -EINVAL for anything malformed:
 * truncated, trailing bytes, bad type or flag, lengths or counts beyond
 * the input, an empty hash/list/set/zset, a duplicate field or member, a
 * NaN score, stream ids out of order. */
int node_obj_deserialize(const char *key, size_t klen, const void *p, size_t len, node_obj_t **out);

/* 1 when the 'len' bytes at 'p' are exactly one well-formed string (what
 * node_obj_deserialize() would make a string of): its bytes in '*s' and
 * '*n' (within 'p'), its TTL in '*when' (ms, -1: none). 0 for any other
 * type or anything malformed, with the outputs undefined. */
int node_obj_string_of(const void *p, size_t len, const char **s, size_t *n, int64_t *when);

#endif /* RC_NODE_NODE_CODEC_H */
