/* ring/ring.h: where every key lives. Key -> slot by Redis Cluster's CRC16
 * rule; slot -> replica set by bounded-load consistent hashing of the slots
 * on a MurmurHash3 ring of weighted virtual points (ring/README.md).
 * The one rule: the slot table is a pure function of the member set (ids,
 * weights) and the configuration, byte-identical on every machine. No I/O,
 * no clock, no libuv; allocation failures are returned, never fatal. */
#ifndef RC_RING_RING_H
#define RC_RING_RING_H

#include <stddef.h>
#include <stdint.h>

enum ring_limits_e {
    RING_SLOTS = 16384,                 /* Redis Cluster's slot count */
    RING_MAX_REPLICAS = 4,              /* R: copies beyond the primary */
    RING_ID_MAX = 128,                  /* bytes in a member id, without the NUL */
    RING_WEIGHT_MAX = 1000,             /* a member's weight is 1..RING_WEIGHT_MAX */
    RING_TOTAL_WEIGHT_MAX = RING_SLOTS, /* sum of weights (so n <= 16384) */
    RING_POINTS_MAX = 1000,             /* ring_config_t.points */
    RING_BALANCE_PPM_MAX = 10000000,    /* ring_config_t.balance_ppm: epsilon <= 10 */
};

/* Defaults of ring_config_t's zero fields, chosen with bench/ring-stats (see
 * ring/README.md and bench/RESULTS.md). Changing one remaps live keys. */
enum ring_defaults_e {
    RING_DEFAULT_BALANCE_PPM = 50000, /* epsilon = 5% */
    RING_DEFAULT_POINTS = 100,        /* virtual points per unit of weight */
};

/* A member of the ring, as agreed by membership. 'id' is the member's stable
 * id (1..RING_ID_MAX bytes, any bytes but NUL), 'weight' its relative
 * capacity (1..RING_WEIGHT_MAX): it holds about weight/total of the slots. */
typedef struct ring_member_s {
    const char *id;
    uint32_t weight;
} ring_member_t;

/* Placement settings. Every node must use the same values: they are part of
 * the cluster configuration. Zero fields take the RING_DEFAULT_* values. */
typedef struct ring_config_s {
    unsigned replicas;    /* R, 0..RING_MAX_REPLICAS: each slot gets R+1 copies */
    uint32_t balance_ppm; /* epsilon in parts per million: no member holds
                           * more than floor((1+epsilon) * its weighted share)
                           * of the primaries, nor of all copies (where the
                           * weights allow: nobody holds two copies of a slot) */
    uint32_t points;      /* virtual points on the ring per unit of weight */
} ring_config_t;

typedef struct ring_s ring_t;

/* Returns the CRC16 (XMODEM: polynomial 0x1021, init 0, as Redis Cluster) of
 * the 'len' bytes at 'buf'. */
uint16_t ring_crc16(const void *buf, size_t len);

/* Returns the slot (0..RING_SLOTS-1) of the 'len'-byte key at 'key', as Redis
 * Cluster computes it: if the key holds a '{' followed later by a '}' with at
 * least one byte between them, only the bytes between the first '{' and the
 * first '}' after it are hashed; otherwise the whole key. */
uint16_t ring_keyslot(const void *key, size_t len);

/* Builds the slot table of 'epoch' for the 'n' members at 'members' (read,
 * not kept) with 'config' (NULL: all defaults). On success stores a new ring
 * in '*out' (free with ring_destroy()) and returns 0. Returns -EINVAL for an
 * empty list, a NULL, empty, overlong or duplicate id, a weight out of
 * range, a total weight over RING_TOTAL_WEIGHT_MAX, a replica count over
 * RING_MAX_REPLICAS, or 'points' or 'balance_ppm' over their maximum; -ENOMEM when out of memory. The order of 'members' does
 * not matter: any permutation gives the identical table. 'epoch' is stored
 * for the caller and does not change placement. */
int ring_build(uint64_t epoch, const ring_member_t *members, size_t n, const ring_config_t *config,
               ring_t **out);

/* Frees 'ring'. NULL is a no-op. */
void ring_destroy(ring_t *ring);

/* The epoch given to ring_build(). */
uint64_t ring_epoch(const ring_t *ring);

/* Number of members; they are indexed 0..n-1 in order of id (memcmp order
 * of the bytes, shorter first on a common prefix). */
size_t ring_member_count(const ring_t *ring);

/* The id of member 'idx' (< ring_member_count()), valid until the ring is
 * destroyed. */
const char *ring_member_id(const ring_t *ring, size_t idx);

/* The weight of member 'idx'. */
uint32_t ring_member_weight(const ring_t *ring, size_t idx);

/* Returns the index of the member with id 'id', or -1 if there is none. */
int ring_member_find(const ring_t *ring, const char *id);

/* Copies per slot: min(R+1, number of members). */
unsigned ring_copies(const ring_t *ring);

/* The configuration the ring was built with, defaults filled in. */
ring_config_t ring_config(const ring_t *ring);

/* Returns the replica set of 'slot' (< RING_SLOTS) in O(1): ring_copies()
 * distinct member indices, the primary first. The array is valid until the
 * ring is destroyed. */
const uint16_t *ring_slot_replicas(const ring_t *ring, uint16_t slot);

/* The primary of 'slot': ring_slot_replicas(ring, slot)[0]. */
uint16_t ring_slot_primary(const ring_t *ring, uint16_t slot);

/* Returns a 64-bit MurmurHash3 digest of the table: for every slot and role,
 * the id of the member holding it. Equal digests mean equal placement; golden
 * tests pin it so that a change of placement fails the build. */
uint64_t ring_digest(const ring_t *ring);

/* Sets '*out' to the placement id of this build of the library: a hash of a
 * revision number and of the digest of the table it makes for a fixed set of
 * members (mixed weights, two replicas, default configuration). Two nodes
 * with different ids would place the same members differently, so they must
 * not serve one cluster together. Returns 0 or -ENOMEM. */
int ring_placement_id(uint64_t *out);

/* One change of the table between two rings, for a slot and a role (0 is the
 * primary, 1 the first replica, ...). 'from' is NULL when the old ring had no
 * member in that role (it had fewer copies), 'to' is NULL when the new one
 * has none. 'to_has_data' is 1 when 'to' already held a copy of the slot in
 * the old ring (a change of role: nothing to stream), else 0. The strings
 * are valid during the callback only. */
typedef struct ring_move_s {
    uint16_t slot;
    uint8_t role;
    uint8_t to_has_data;
    const char *from;
    const char *to;
} ring_move_t;

/* Called once per move; a negative return stops ring_diff(), which returns
 * that value. */
typedef int (*ring_move_cb)(const ring_move_t *move, void *arg);

/* Lists, in order of slot then role, every (slot, role) whose member differs
 * (by id) between 'from' and 'to', calling 'cb' with 'arg' for each ('cb' may
 * be NULL to just count). Returns the number of moves (>= 0), or the first
 * negative value returned by 'cb'. The two rings may have different members
 * and replica counts. */
long ring_diff(const ring_t *from, const ring_t *to, ring_move_cb cb, void *arg);

#endif /* RC_RING_RING_H */
