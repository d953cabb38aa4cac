/* ring/ring.c: the slot function and the slot table.
 * The one rule: the table is a pure function of (member ids, weights,
 * config): no input order, no floating point, no unstable sort, no platform
 * word size leaks into it. */
#include "ring/ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <murmurhash.h>

#include "common/rc.h"
#include "ring/ring_internal.h"

/* Seeds of the two uses of MurmurHash3, and the slot spacing (2^64 /
 * RING_SLOTS = 2^50); all part of the placement function. */
enum {
    SEED_POINT = 0x72696e67u,  /* "ring": virtual points */
    SEED_DIGEST = 0x64696773u, /* "digs": table digest */
    SLOT_SHIFT = 50,
    PPM = 1000000u,
    BUCKETS = 1u << 16, /* point buckets by the top 16 bits of position */
    /* Goes into ring_placement_id(). Raise it by one with any change of
     * placement that its reference table may not show (one that matters only
     * at other sizes, weights or replica counts), so that old and new nodes
     * still refuse each other. */
    PLACEMENT_REVISION = 1,
};

_Static_assert((1ull << (64 - SLOT_SHIFT)) == RING_SLOTS, "slots must tile the ring");

ring__order_t ring__order = RING__ORDER_SETS;

struct ring_s {
    uint64_t epoch;
    ring_config_t config;
    size_t n;
    unsigned copies;
    char **ids;        /* sorted by id; each a separate allocation */
    uint32_t *weights; /* by member index */
    uint16_t *table;   /* RING_SLOTS rows of 'copies' member indices */
    uint64_t digest;
};

typedef struct point_s {
    uint64_t pos;
    uint16_t member;
} point_t;

/* Scratch state of one build; freed before ring_build() returns. */
typedef struct build_s {
    ring_t *ring;
    point_t *points;
    size_t npoints;
    uint64_t slot_pos[RING_SLOTS];
    uint32_t slot_start[RING_SLOTS]; /* first point at or after slot_pos */
    uint32_t *cap;                   /* per member: copies or primaries */
    uint32_t *load;                  /* per member: held so far */
    uint64_t *dist;                  /* per table cell: slot to point */
    uint32_t *bucket;                /* BUCKETS+1 offsets into points */
    int no_rescue;                   /* rescue() found nothing once */
    uint32_t rescue_at;              /* where rescue() resumes */
} build_t;

static const uint16_t crc16_table[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108, 0x9129, 0xa14a, 0xb16b,
    0xc18c, 0xd1ad, 0xe1ce, 0xf1ef, 0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de, 0x2462, 0x3443, 0x0420, 0x1401,
    0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738,
    0xf7df, 0xe7fe, 0xd79d, 0xc7bc, 0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b, 0x5af5, 0x4ad4, 0x7ab7, 0x6a96,
    0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd,
    0xad2a, 0xbd0b, 0x8d68, 0x9d49, 0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78, 0x9188, 0x81a9, 0xb1ca, 0xa1eb,
    0xd10c, 0xc12d, 0xf14e, 0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1, 0x1290, 0x22f3, 0x32d2,
    0x4235, 0x5214, 0x6277, 0x7256, 0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405, 0xa7db, 0xb7fa, 0x8799, 0x97b8,
    0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827,
    0x18c0, 0x08e1, 0x3882, 0x28a3, 0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92, 0xfd2e, 0xed0f, 0xdd6c, 0xcd4d,
    0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74,
    0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

/* crc16_zeros[k - 1][b]: the CRC of byte b followed by k zero bytes (k =
 * 1..3; crc16_table is k = 0), so four bytes cost four independent lookups
 * instead of a chain of four (the CRC is linear: the lookups of the bytes
 * XOR together). Derived from crc16_table before main() runs. */
static uint16_t crc16_zeros[3][256];

__attribute__((constructor)) static void crc16_zeros_init(void)
{
    for (int b = 0; b < 256; b++) {
        uint16_t c = crc16_table[b];

        for (int k = 0; k < 3; k++) {
            c = (uint16_t)((c << 8) ^ crc16_table[c >> 8]); /* one more zero byte */
            crc16_zeros[k][b] = c;
        }
    }
}

uint16_t ring_crc16(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint16_t crc = 0;
    size_t i = 0;

    for (; i + 4 <= len; i += 4) {
        unsigned hi = (unsigned)(crc >> 8) ^ p[i], lo = (unsigned)(crc & 0xff) ^ p[i + 1];

        crc = (uint16_t)(crc16_zeros[2][hi] ^ crc16_zeros[1][lo] ^ crc16_zeros[0][p[i + 2]] ^
                         crc16_table[p[i + 3]]);
    }
    for (; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_table[((crc >> 8) ^ p[i]) & 0xff]);
    return crc;
}

uint16_t ring_keyslot(const void *key, size_t len)
{
    const unsigned char *k = key;
    const unsigned char *open = len > 0 ? memchr(k, '{', len) : NULL;

    if (open != NULL) {
        size_t at = (size_t)(open - k);
        const unsigned char *close = memchr(open + 1, '}', len - at - 1);

        /* The hash tag's slot, if the tag is closed and not empty; "{}"
         * (nothing inside) or no '}' at all: the whole key counts. */
        if (close != NULL && close > open + 1)
            return ring_crc16(open + 1, (size_t)(close - open - 1)) & (RING_SLOTS - 1);
    }
    return ring_crc16(k, len) & (RING_SLOTS - 1);
}

static void store_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void store_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t hash64(const void *buf, size_t len, uint32_t seed)
{
    uint64_t out[2];

    lmmh_x64_128(buf, (unsigned int)len, seed, out);
    return out[0];
}

/* ---- validation and member order ---- */

static int id_cmp(const void *a, const void *b)
{
    const ring_member_t *const *x = a;
    const ring_member_t *const *y = b;

    return strcmp((*x)->id, (*y)->id); /* compares as unsigned char */
}

static int validate(const ring_member_t *members, size_t n, const ring_config_t *config)
{
    uint64_t total = 0;

    if (members == NULL || n == 0 || config->replicas > RING_MAX_REPLICAS)
        return -EINVAL;
    if (config->balance_ppm > RING_BALANCE_PPM_MAX || config->points > RING_POINTS_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        size_t len;

        if (members[i].id == NULL)
            return -EINVAL;
        len = strnlen(members[i].id, RING_ID_MAX + 1);
        if (len == 0 || len > RING_ID_MAX)
            return -EINVAL;
        if (members[i].weight == 0 || members[i].weight > RING_WEIGHT_MAX)
            return -EINVAL;
        total += members[i].weight;
    }
    if (total > RING_TOTAL_WEIGHT_MAX)
        return -EINVAL;
    return 0;
}

/* Copies the members into 'ring' in order of id. Returns -EINVAL on a
 * duplicate id, -ENOMEM. */
static int copy_members(ring_t *ring, const ring_member_t *members, size_t n)
{
    const ring_member_t **order = malloc(n * sizeof(*order));
    int err = 0;

    if (order == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        order[i] = &members[i];
    qsort(order, n, sizeof(*order), id_cmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(order[i - 1]->id, order[i]->id) == 0) {
            err = -EINVAL;
            goto done;
        }
    }
    ring->ids = calloc(n, sizeof(*ring->ids));
    ring->weights = calloc(n, sizeof(*ring->weights));
    if (ring->ids == NULL || ring->weights == NULL) {
        err = -ENOMEM;
        goto done;
    }
    ring->n = n;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(order[i]->id);

        ring->ids[i] = malloc(len + 1);
        if (ring->ids[i] == NULL) {
            err = -ENOMEM;
            goto done;
        }
        memcpy(ring->ids[i], order[i]->id, len + 1);
        ring->weights[i] = order[i]->weight;
    }
done:
    free(order);
    return err;
}

/* ---- the ring of virtual points ---- */

static int point_cmp(const void *a, const void *b)
{
    const point_t *x = a, *y = b;

    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    /* Ties broken by member index, i.e. by id: qsort() is unstable. */
    return (x->member > y->member) - (x->member < y->member);
}

/* Sorts the points by (position, member), stably for nothing: the order is
 * total. Counting sort on the top 16 bits (positions are uniform), then
 * insertion sort inside each bucket; b->bucket keeps the bucket offsets
 * for place_slots(). */
static int sort_points(build_t *b)
{
    point_t *sorted = malloc(b->npoints * sizeof(*sorted));
    uint32_t *off = calloc(BUCKETS + 1, sizeof(*off));

    if (sorted == NULL || off == NULL) {
        free(sorted);
        free(off);
        return -ENOMEM;
    }
    for (size_t i = 0; i < b->npoints; i++)
        off[(b->points[i].pos >> 48) + 1]++;
    for (size_t i = 0; i < BUCKETS; i++)
        off[i + 1] += off[i];
    for (size_t i = 0; i < b->npoints; i++)
        sorted[off[b->points[i].pos >> 48]++] = b->points[i];
    /* off[i] now ends bucket i; shift back so off[i] starts it. */
    memmove(off + 1, off, BUCKETS * sizeof(*off));
    off[0] = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        for (size_t j = off[i] + 1; j < off[i + 1]; j++) {
            point_t p = sorted[j];
            size_t k = j;

            while (k > off[i] && point_cmp(&p, &sorted[k - 1]) < 0) {
                sorted[k] = sorted[k - 1];
                k--;
            }
            sorted[k] = p;
        }
    }
    free(b->points);
    b->points = sorted;
    b->bucket = off;
    return 0;
}

/* Member i gets weight*points points; point k of member i sits at
 * MurmurHash3(id || le32(k)). A member keeps its points when others come
 * and go, which is what makes the placement consistent. */
static int place_points(build_t *b)
{
    const ring_t *ring = b->ring;
    unsigned char buf[RING_ID_MAX + 4];
    size_t total = 0, at = 0;

    for (size_t i = 0; i < ring->n; i++)
        total += (size_t)ring->weights[i] * ring->config.points;
    b->points = malloc(total * sizeof(*b->points));
    if (b->points == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ring->n; i++) {
        size_t len = strlen(ring->ids[i]);
        uint32_t npoints = ring->weights[i] * ring->config.points;

        memcpy(buf, ring->ids[i], len);
        for (uint32_t k = 0; k < npoints; k++) {
            store_le32(buf + len, k);
            b->points[at].pos = hash64(buf, len + 4, SEED_POINT);
            b->points[at].member = (uint16_t)i;
            at++;
        }
    }
    b->npoints = total;
    return sort_points(b);
}

/* Slot s sits at the middle of the s-th of RING_SLOTS equal arcs of the
 * ring, (s + 1/2) * 2^64 / RING_SLOTS: evenly spaced rather than hashed, so
 * a member's count of slots follows the length of its arcs without the
 * extra binomial noise of random positions (bench/RESULTS.md, "Ring
 * placement"), and consecutive slots share owners, which keeps CLUSTER
 * SLOTS short. The walk starts at the first point at or after that
 * position, wrapping around. */
static void place_slots(build_t *b)
{
    for (uint32_t s = 0; s < RING_SLOTS; s++) {
        size_t lo, hi;

        b->slot_pos[s] = ((uint64_t)s << SLOT_SHIFT) + ((uint64_t)1 << (SLOT_SHIFT - 1));
        lo = b->bucket[b->slot_pos[s] >> 48];
        hi = b->bucket[(b->slot_pos[s] >> 48) + 1];
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (b->points[mid].pos < b->slot_pos[s])
                lo = mid + 1;
            else
                hi = mid;
        }
        b->slot_start[s] = (uint32_t)(lo == b->npoints ? 0 : lo);
    }
}

/* ---- bounded loads ---- */

/* Sets b->cap[i] = floor((1+eps) * share_i), in integers, where share_i is
 * member i's weighted share of units * RING_SLOTS placements: a member may
 * hold that many copies (units = copies per slot) or primaries (units = 1).
 * Nobody holds two copies of one slot, so a member whose share would pass
 * RING_SLOTS gets exactly RING_SLOTS and the rest is shared among the
 * others (water-filling).
 *
 * The caps fall short of units * RING_SLOTS only where no table keeps
 * everybody within eps (16384/N just above an integer, e.g. N = 956..963
 * with equal weights: somebody must hold 18 against a share of 17.1). The
 * best bound left is the smallest ratio rho for which the caps
 * floor(rho * share_i) hold every placement, and every member gets that
 * cap: equal shares keep equal caps, instead of a few members taking the
 * extra units and everybody else being held one below what the bound
 * allows (which moved most slots twice as N went from 955 to 956 and
 * back). */
static int compute_caps(build_t *b, uint32_t units)
{
    const ring_t *ring = b->ring;
    const uint64_t need = (uint64_t)RING_SLOTS * units;
    uint64_t left = need, wleft = 0, sum = 0;
    uint8_t *full = calloc(ring->n, 1);
    int changed = 1;

    if (full == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ring->n; i++)
        wleft += ring->weights[i];
    while (changed) {
        changed = 0;
        for (size_t i = 0; i < ring->n; i++) {
            /* share_i = left * w_i / wleft >= RING_SLOTS ? */
            if (!full[i] && left * ring->weights[i] >= (uint64_t)RING_SLOTS * wleft) {
                full[i] = 1;
                left -= RING_SLOTS;
                wleft -= ring->weights[i];
                changed = 1;
            }
        }
    }
    for (size_t i = 0; i < ring->n; i++) {
        if (full[i]) {
            b->cap[i] = RING_SLOTS;
        } else {
            uint64_t num = left * ring->weights[i] * (PPM + ring->config.balance_ppm);
            uint64_t cap = num / (wleft * PPM);

            b->cap[i] = (uint32_t)(cap < RING_SLOTS ? cap : RING_SLOTS);
        }
        sum += b->cap[i];
    }
    /* Short: the next rho is the smallest (cap_i + 1) / share_i over the
     * members with room; raise every member at it. share_i = left * w_i /
     * wleft for all of them, so comparing (cap + 1) / w compares ratios.
     * Every round raises a cap, and the caps start less than n short
     * (each is at least floor(share_i)), so this ends within n rounds. */
    while (sum < need) {
        uint64_t num = 0, den = 1;

        for (size_t i = 0; i < ring->n; i++) {
            uint64_t next = b->cap[i] + 1ull;

            if (b->cap[i] < RING_SLOTS && (num == 0 || next * den < num * ring->weights[i])) {
                num = next;
                den = ring->weights[i];
            }
        }
        RC_ASSERT(num != 0); /* n * RING_SLOTS >= need, so somebody has room */
        for (size_t i = 0; i < ring->n; i++) {
            if (b->cap[i] < RING_SLOTS && (b->cap[i] + 1ull) * den == num * ring->weights[i]) {
                b->cap[i]++;
                sum++;
            }
        }
    }
    free(full);
    return 0;
}

/* ---- a monotone priority queue of slots ----
 *
 * Both greedy passes pop (distance, slot) pairs in increasing order, and a
 * slot is only ever re-queued further away, so a radix heap fits: bucket
 * i > 0 holds keys whose highest bit differing from the last popped key is
 * bit i-1; bucket 0 holds keys equal to it. Equal keys pop by slot number
 * (for determinism; with 64-bit positions they practically never occur). */
enum {
    NIL = UINT32_MAX
};

typedef struct squeue_s {
    uint64_t last;
    uint64_t key[RING_SLOTS];
    uint32_t at[RING_SLOTS]; /* the caller's cursor for each slot */
    uint32_t next[RING_SLOTS];
    uint32_t head[65];
    size_t count;
} squeue_t;

static unsigned sq_bucket(const squeue_t *q, uint64_t key)
{
    uint64_t x = key ^ q->last;

    return x == 0 ? 0 : 64 - (unsigned)__builtin_clzll(x);
}

static void sq_init(squeue_t *q)
{
    q->last = 0;
    q->count = 0;
    for (unsigned i = 0; i < 65; i++)
        q->head[i] = NIL;
}

static void sq_push(squeue_t *q, uint32_t s, uint64_t key, uint32_t at)
{
    unsigned i;

    RC_DEBUG_ASSERT(key >= q->last);
    q->key[s] = key;
    q->at[s] = at;
    i = sq_bucket(q, key);
    q->next[s] = q->head[i];
    q->head[i] = s;
    q->count++;
}

/* Removes and returns the slot with the smallest (key, slot). */
static uint32_t sq_pop(squeue_t *q)
{
    uint32_t best, *link, *best_link;

    if (q->head[0] == NIL) {
        unsigned i = 1;
        uint32_t s, list;

        while (q->head[i] == NIL)
            i++;
        list = q->head[i];
        q->head[i] = NIL;
        q->last = UINT64_MAX;
        for (s = list; s != NIL; s = q->next[s])
            q->last = q->key[s] < q->last ? q->key[s] : q->last;
        while (list != NIL) {
            unsigned j;

            s = list;
            list = q->next[s];
            j = sq_bucket(q, q->key[s]);
            q->next[s] = q->head[j];
            q->head[j] = s;
        }
    }
    best_link = &q->head[0];
    for (link = &q->head[0]; *link != NIL; link = &q->next[*link]) {
        if (*link < *best_link)
            best_link = link;
    }
    best = *best_link;
    *best_link = q->next[best];
    q->count--;
    return best;
}

/* ---- bounded-load passes ---- */

static int in_row(const uint16_t *row, unsigned nrow, uint16_t m)
{
    for (unsigned i = 0; i < nrow; i++) {
        if (row[i] == m)
            return 1;
    }
    return 0;
}

/* Walks clockwise from point 'at' to the first member not already in the
 * first 'role' entries of 'row' and (if 'capped') below its cap. Returns the
 * point index, or npoints after a full turn. */
static size_t walk(const build_t *b, size_t at, const uint16_t *row, unsigned role, int capped)
{
    for (size_t step = 0; step < b->npoints; step++) {
        uint16_t m = b->points[at].member;

        if (!in_row(row, role, m) && (!capped || b->load[m] < b->cap[m]))
            return at;
        if (++at == b->npoints)
            at = 0;
    }
    return b->npoints;
}

/* Puts the member of point 'at' in role 'role' of 'slot'. */
static void take(build_t *b, uint32_t slot, unsigned role, size_t at)
{
    size_t cell = (size_t)slot * b->ring->copies + role;
    uint16_t *row = &b->ring->table[cell - role];

    if (at == b->npoints) {
        /* Every member with room already holds this slot: the caps can't
         * be met here (only when nearly every member holds every slot), so
         * the first distinct member clockwise takes it anyway. */
        at = walk(b, b->slot_start[slot], row, role, 0);
        RC_ASSERT(at < b->npoints);
        b->dist[cell] = UINT64_MAX;
    } else {
        b->dist[cell] = b->points[at].pos - b->slot_pos[slot];
    }
    row[role] = b->points[at].member;
    b->load[row[role]]++;
}

/* Slot 's' needs another member, but every member with room already holds
 * it. Looks, over filled slots in cyclic order from the last success, for a
 * slot t holding (in roles first..full-1) a member v that 's' lacks, while
 * some member x with room lacks t: t passes that copy to x (appended last,
 * as the farthest) and 's' takes v. Loads stay within the caps. Returns 0,
 * or -1 if there is no such pair (the caps then give way). */
static int rescue(build_t *b, uint32_t s, const uint8_t *fill, unsigned first, unsigned full)
{
    ring_t *ring = b->ring;
    unsigned copies = ring->copies;
    uint16_t *srow = &ring->table[(size_t)s * copies];

    for (uint32_t k = 0; k < RING_SLOTS; k++) {
        /* Resume where the last rescue succeeded: amortised linear. */
        uint32_t t = (b->rescue_at + k) % RING_SLOTS;
        uint16_t *row = &ring->table[(size_t)t * copies];
        uint64_t *dist = &b->dist[(size_t)t * copies];

        if (t == s || fill[t] != full)
            continue;
        for (unsigned j = first; j < full; j++) {
            uint16_t v = row[j];

            if (in_row(srow, fill[s], v))
                continue;
            for (uint16_t x = 0; x < ring->n; x++) {
                if (b->load[x] >= b->cap[x] || in_row(row, full, x))
                    continue;
                memmove(row + j, row + j + 1, (full - j - 1) * sizeof(*row));
                memmove(dist + j, dist + j + 1, (full - j - 1) * sizeof(*dist));
                row[full - 1] = x;
                dist[full - 1] = UINT64_MAX;
                b->load[x]++;
                srow[fill[s]] = v;
                b->dist[(size_t)s * copies + fill[s]] = UINT64_MAX;
                b->rescue_at = t;
                return 0;
            }
        }
    }
    b->no_rescue = 1;
    return -1;
}

/* Fills roles first..first+count-1 of every slot. Among all (slot, point)
 * pairs, the one with the shortest clockwise distance whose member has room
 * under b->cap and does not hold the slot yet wins, until every slot is
 * filled. The result is the stable assignment in which slots and members
 * both prefer shorter distances, so no processing order leaks into it. */
static int assign_pass(build_t *b, unsigned first, unsigned count)
{
    ring_t *ring = b->ring;
    squeue_t *q = malloc(sizeof(*q));
    uint8_t *fill = malloc(RING_SLOTS);
    uint32_t *walked = calloc(RING_SLOTS, sizeof(*walked));

    if (q == NULL || fill == NULL || walked == NULL) {
        free(q);
        free(fill);
        free(walked);
        return -ENOMEM;
    }
    sq_init(q);
    b->no_rescue = 0;
    b->rescue_at = 0;
    for (uint32_t s = 0; s < RING_SLOTS; s++) {
        uint32_t at = b->slot_start[s];

        fill[s] = (uint8_t)first;
        sq_push(q, s, b->points[at].pos - b->slot_pos[s], at);
    }
    while (q->count > 0) {
        uint32_t s = sq_pop(q);
        uint16_t *row = &ring->table[(size_t)s * ring->copies];
        size_t at = q->at[s], next;

        if (!in_row(row, fill[s], b->points[at].member) &&
            b->load[b->points[at].member] < b->cap[b->points[at].member]) {
            take(b, s, fill[s], at);
            if (++fill[s] == first + count)
                continue;
        }
        at = at + 1 == b->npoints ? 0 : at + 1;
        next = walk(b, at, row, fill[s], 1);
        walked[s] += 1 + (uint32_t)((next + b->npoints - at) % b->npoints);
        if (next == b->npoints || walked[s] >= b->npoints) {
            /* A full turn: nobody with room is left for this slot. */
            while (fill[s] < first + count) {
                /* Rooms only shrink: after one failed rescue, skip them. */
                if (!b->no_rescue && rescue(b, s, fill, first, first + count) == 0)
                    fill[s]++;
                else
                    take(b, s, fill[s]++, b->npoints);
            }
            continue;
        }
        sq_push(q, s, b->points[next].pos - b->slot_pos[s], (uint32_t)next);
    }
    free(q);
    free(fill);
    free(walked);
    return 0;
}

/* Textbook bounded loads, kept for comparison: one role at a time, slots
 * in index order, each takes the first member clockwise with room. */
static void assign_index_order(build_t *b)
{
    ring_t *ring = b->ring;

    for (unsigned role = 0; role < ring->copies; role++) {
        memset(b->load, 0, ring->n * sizeof(*b->load));
        for (uint32_t s = 0; s < RING_SLOTS; s++) {
            const uint16_t *row = &ring->table[(size_t)s * ring->copies];

            take(b, s, role, walk(b, b->slot_start[s], row, role, 1));
        }
    }
}

/* ---- primaries ---- */

/* Primaries during choose_primaries(): per slot the index in its row of the
 * primary ('copies' while unset), per member the list of its primaries. */
typedef struct prim_s {
    uint8_t idx[RING_SLOTS];
    uint32_t next[RING_SLOTS], prev[RING_SLOTS];
    uint32_t *head; /* per member */
} prim_t;

static void prim_link(build_t *b, prim_t *p, uint32_t s, uint8_t idx)
{
    uint16_t m = b->ring->table[(size_t)s * b->ring->copies + idx];

    p->idx[s] = idx;
    p->prev[s] = NIL;
    p->next[s] = p->head[m];
    if (p->head[m] != NIL)
        p->prev[p->head[m]] = s;
    p->head[m] = s;
    b->load[m]++;
}

static void prim_unlink(build_t *b, prim_t *p, uint32_t s)
{
    uint16_t m = b->ring->table[(size_t)s * b->ring->copies + p->idx[s]];

    if (p->prev[s] != NIL)
        p->next[p->prev[s]] = p->next[s];
    else
        p->head[m] = p->next[s];
    if (p->next[s] != NIL)
        p->prev[p->next[s]] = p->prev[s];
    b->load[m]--;
}

static uint8_t row_index(const uint16_t *row, unsigned copies, uint16_t m)
{
    for (unsigned i = 0; i < copies; i++) {
        if (row[i] == m)
            return (uint8_t)i;
    }
    RC_ASSERT(0);
    return 0;
}

/* Gives slot 's' a primary when all its replicas are at their primary cap:
 * a breadth-first search (members in a deterministic order) for a chain of
 * slots whose primaries can each pass to another of their replicas, ending
 * at a member with room: an augmenting path. Returns 0, or -1 if none. */
static int augment(build_t *b, prim_t *p, uint32_t s, uint32_t *via, uint16_t *queue)
{
    const ring_t *ring = b->ring;
    unsigned copies = ring->copies;
    const uint16_t *srow = &ring->table[(size_t)s * copies];
    size_t qh = 0, qt = 0;
    uint16_t v;

    for (size_t i = 0; i < ring->n; i++)
        via[i] = NIL - 1; /* unvisited */
    for (unsigned j = 0; j < copies; j++) {
        via[srow[j]] = NIL; /* reached from 's' itself */
        queue[qt++] = srow[j];
    }
    while (qh < qt) {
        uint16_t u = queue[qh++];

        for (uint32_t t = p->head[u]; t != NIL; t = p->next[t]) {
            const uint16_t *row = &ring->table[(size_t)t * copies];

            for (unsigned j = 0; j < copies; j++) {
                v = row[j];
                if (via[v] != NIL - 1)
                    continue;
                via[v] = t;
                if (b->load[v] < b->cap[v])
                    goto found;
                queue[qt++] = v;
            }
        }
    }
    return -1;

found:
    while (via[v] != NIL) {
        uint32_t t = via[v];
        const uint16_t *row = &ring->table[(size_t)t * copies];
        uint16_t u = row[p->idx[t]];

        prim_unlink(b, p, t);
        prim_link(b, p, t, row_index(row, copies, v));
        v = u;
    }
    prim_link(b, p, s, row_index(srow, copies, v));
    return 0;
}

/* Picks each slot's primary among its replicas (b->cap holds the primary
 * caps): the closest (slot, replica) pair whose member has room wins; the
 * few slots left over get one by augmenting paths. The other replicas keep
 * their order behind the primary. Only roles change here, never data. */
static int choose_primaries(build_t *b)
{
    ring_t *ring = b->ring;
    unsigned copies = ring->copies;
    squeue_t *q = malloc(sizeof(*q));
    prim_t *p = calloc(1, sizeof(*p));
    uint32_t *via = malloc(ring->n * sizeof(*via));
    uint16_t *queue = malloc(ring->n * sizeof(*queue));
    int err = -ENOMEM;

    if (q == NULL || p == NULL || via == NULL || queue == NULL)
        goto done;
    p->head = malloc(ring->n * sizeof(*p->head));
    if (p->head == NULL)
        goto done;
    for (size_t i = 0; i < ring->n; i++)
        p->head[i] = NIL;
    memset(b->load, 0, ring->n * sizeof(*b->load));
    sq_init(q);
    for (uint32_t s = 0; s < RING_SLOTS; s++) {
        p->idx[s] = (uint8_t)copies;
        sq_push(q, s, b->dist[(size_t)s * copies], 0);
    }
    while (q->count > 0) {
        uint32_t s = sq_pop(q);
        uint32_t j = q->at[s];
        uint16_t m = ring->table[(size_t)s * copies + j];

        if (b->load[m] < b->cap[m])
            prim_link(b, p, s, (uint8_t)j);
        else if (j + 1 < copies)
            sq_push(q, s, b->dist[(size_t)s * copies + j + 1], j + 1);
    }
    for (uint32_t s = 0; s < RING_SLOTS; s++) {
        /* No way to stay under the caps: the closest replica leads. */
        if (p->idx[s] == copies && augment(b, p, s, via, queue) != 0)
            prim_link(b, p, s, 0);
    }
    for (uint32_t s = 0; s < RING_SLOTS; s++) {
        uint16_t *row = &ring->table[(size_t)s * copies];
        uint16_t m = row[p->idx[s]];

        memmove(row + 1, row, p->idx[s] * sizeof(*row));
        row[0] = m;
    }
    err = 0;
done:
    if (p != NULL)
        free(p->head);
    free(p);
    free(q);
    free(via);
    free(queue);
    return err;
}

/* Fills the table. Default (RING__ORDER_SETS): all copies of every slot in
 * one pass under caps on copies held, then primaries chosen among them
 * under caps on primaries held. */
static int assign(build_t *b)
{
    ring_t *ring = b->ring;
    int err = 0;

    switch (ring__order) {
    case RING__ORDER_INDEX:
        err = compute_caps(b, 1);
        if (err == 0)
            assign_index_order(b);
        return err;
    case RING__ORDER_ROLES:
        err = compute_caps(b, 1);
        for (unsigned role = 0; role < ring->copies && err == 0; role++) {
            memset(b->load, 0, ring->n * sizeof(*b->load));
            err = assign_pass(b, role, 1);
        }
        return err;
    case RING__ORDER_SETS:
    default:
        break;
    }
    err = compute_caps(b, ring->copies);
    if (err == 0 && ring->copies == ring->n) {
        /* Every member holds every slot: only the roles need balancing. */
        for (size_t i = 0; i < ring->n; i++)
            b->cap[i] = UINT32_MAX;
    }
    if (err == 0)
        err = assign_pass(b, 0, ring->copies);
    if (err == 0 && ring->copies > 1)
        err = compute_caps(b, 1);
    if (err == 0 && ring->copies > 1)
        err = choose_primaries(b);
    return err;
}

/* ---- digest ---- */

static int compute_digest(ring_t *ring)
{
    size_t cells = (size_t)RING_SLOTS * ring->copies;
    unsigned char *buf = malloc(8 + cells * 8);
    uint64_t *idh = malloc(ring->n * sizeof(*idh));
    int err = -ENOMEM;

    if (buf == NULL || idh == NULL)
        goto done;
    for (size_t i = 0; i < ring->n; i++)
        idh[i] = hash64(ring->ids[i], strlen(ring->ids[i]), SEED_DIGEST);
    store_le64(buf, ring->copies);
    for (size_t c = 0; c < cells; c++)
        store_le64(buf + 8 + 8 * c, idh[ring->table[c]]);
    ring->digest = hash64(buf, 8 + cells * 8, SEED_DIGEST);
    err = 0;
done:
    free(buf);
    free(idh);
    return err;
}

/* ---- public ---- */

static void build_free(build_t *b)
{
    if (b == NULL)
        return;
    free(b->points);
    free(b->bucket);
    free(b->cap);
    free(b->load);
    free(b->dist);
    free(b);
}

int ring_build(uint64_t epoch, const ring_member_t *members, size_t n, const ring_config_t *config,
               ring_t **out)
{
    ring_config_t cfg = {0};
    build_t *b = NULL;
    ring_t *ring = NULL;
    int err;

    *out = NULL;
    if (config != NULL)
        cfg = *config;
    if (cfg.balance_ppm == 0)
        cfg.balance_ppm = RING_DEFAULT_BALANCE_PPM;
    if (cfg.points == 0)
        cfg.points = RING_DEFAULT_POINTS;
    err = validate(members, n, &cfg);
    if (err != 0)
        return err;
    err = -ENOMEM;
    ring = calloc(1, sizeof(*ring));
    b = calloc(1, sizeof(*b));
    if (ring == NULL || b == NULL)
        goto fail;
    ring->epoch = epoch;
    ring->config = cfg;
    ring->copies = cfg.replicas + 1 < n ? cfg.replicas + 1 : (unsigned)n;
    err = copy_members(ring, members, n);
    if (err != 0)
        goto fail;
    err = -ENOMEM;
    b->ring = ring;
    ring->table = calloc((size_t)RING_SLOTS * ring->copies, sizeof(*ring->table));
    b->cap = calloc(n, sizeof(*b->cap));
    b->load = calloc(n, sizeof(*b->load));
    b->dist = calloc((size_t)RING_SLOTS * ring->copies, sizeof(*b->dist));
    if (ring->table == NULL || b->cap == NULL || b->load == NULL || b->dist == NULL)
        goto fail;
    err = place_points(b);
    if (err != 0)
        goto fail;
    place_slots(b);
    err = assign(b);
    if (err == 0)
        err = compute_digest(ring);
    if (err != 0)
        goto fail;
    build_free(b);
    *out = ring;
    return 0;

fail:
    build_free(b);
    ring_destroy(ring);
    return err;
}

void ring_destroy(ring_t *ring)
{
    if (ring == NULL)
        return;
    if (ring->ids != NULL) {
        for (size_t i = 0; i < ring->n; i++)
            free(ring->ids[i]);
    }
    free(ring->ids);
    free(ring->weights);
    free(ring->table);
    free(ring);
}

uint64_t ring_epoch(const ring_t *ring)
{
    return ring->epoch;
}

size_t ring_member_count(const ring_t *ring)
{
    return ring->n;
}

const char *ring_member_id(const ring_t *ring, size_t idx)
{
    RC_ASSERT(idx < ring->n);
    return ring->ids[idx];
}

uint32_t ring_member_weight(const ring_t *ring, size_t idx)
{
    RC_ASSERT(idx < ring->n);
    return ring->weights[idx];
}

int ring_member_find(const ring_t *ring, const char *id)
{
    size_t lo = 0, hi = ring->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ring->ids[mid], id);

        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

unsigned ring_copies(const ring_t *ring)
{
    return ring->copies;
}

ring_config_t ring_config(const ring_t *ring)
{
    return ring->config;
}

const uint16_t *ring_slot_replicas(const ring_t *ring, uint16_t slot)
{
    RC_ASSERT(slot < RING_SLOTS);
    return &ring->table[(size_t)slot * ring->copies];
}

uint16_t ring_slot_primary(const ring_t *ring, uint16_t slot)
{
    return ring_slot_replicas(ring, slot)[0];
}

uint64_t ring_digest(const ring_t *ring)
{
    return ring->digest;
}

int ring_placement_id(uint64_t *out)
{
    static const ring_member_t reference[] = {
        {"alpha", 1}, {"bravo", 1}, {"charlie", 2}, {"delta", 1}, {"echo", 3}, {"foxtrot", 5},
    };
    const ring_config_t config = {.replicas = 2};
    unsigned char buf[16];
    ring_t *ring = NULL;
    int rc = ring_build(0, reference, sizeof(reference) / sizeof(reference[0]), &config, &ring);

    if (rc != 0)
        return rc;
    store_le64(buf, PLACEMENT_REVISION);
    store_le64(buf + 8, ring->digest);
    *out = hash64(buf, sizeof(buf), SEED_DIGEST);
    ring_destroy(ring);
    return 0;
}

static const char *role_id(const ring_t *ring, uint16_t slot, unsigned role)
{
    if (role >= ring->copies)
        return NULL;
    return ring->ids[ring->table[(size_t)slot * ring->copies + role]];
}

static int holds(const ring_t *ring, uint16_t slot, const char *id)
{
    for (unsigned r = 0; r < ring->copies; r++) {
        if (strcmp(role_id(ring, slot, r), id) == 0)
            return 1;
    }
    return 0;
}

long ring_diff(const ring_t *from, const ring_t *to, ring_move_cb cb, void *arg)
{
    unsigned roles = from->copies > to->copies ? from->copies : to->copies;
    long moves = 0;

    for (uint32_t s = 0; s < RING_SLOTS; s++) {
        for (unsigned r = 0; r < roles; r++) {
            ring_move_t mv;

            mv.slot = (uint16_t)s;
            mv.role = (uint8_t)r;
            mv.from = role_id(from, mv.slot, r);
            mv.to = role_id(to, mv.slot, r);
            if (mv.from != NULL && mv.to != NULL && strcmp(mv.from, mv.to) == 0)
                continue;
            mv.to_has_data = mv.to != NULL && holds(from, mv.slot, mv.to);
            moves++;
            if (cb != NULL) {
                int rc = cb(&mv, arg);

                if (rc < 0)
                    return rc;
            }
        }
    }
    return moves;
}
