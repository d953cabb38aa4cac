/* node/data/node_dict.c: intrusive chained hash table with incremental rehashing.
 * The one rule: while a rehash is in progress, entries live in table 0 at
 * bucket indexes >= rehashidx or in table 1, never anywhere else; every
 * operation moves a bucket forward, so growing to millions of keys never
 * stalls. Sizes are powers of two; a table grows at load 1 and shrinks
 * below load 1/8.
 *
 *   table[0]  [ moved | moved | rehashidx -> chains still here ... ]
 *   table[1]  [ chains already moved, rehashed with mask[1]        ]
 */
#include "node/data/node_dict.h"

#include <string.h>

#include "common/rc.h"

#define DICT_MIN_SIZE     4
#define DICT_SHRINK_RATIO 8

struct node_dict_s {
    const node_dict_type_t *type;
    node_dict_entry_t **table[2];
    size_t size[2]; /* buckets, 0 when the table is absent */
    size_t used[2];
    size_t rehashidx; /* valid when rehashing */
    int rehashing;
    int pause; /* live iterators: no rehash steps while > 0 */
    uint64_t rng;
};

static uint64_t hash_k0 = 0x0706050403020100ULL;
static uint64_t hash_k1 = 0x0f0e0d0c0b0a0908ULL;

void node_dict_set_hash_key(const uint8_t key[16])
{
    memcpy(&hash_k0, key, 8);
    memcpy(&hash_k1, key + 8, 8);
}

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline void sipround(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl(v[0], 32);
    v[2] += v[3];
    v[3] = rotl(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl(v[2], 32);
}

/* SipHash-1-2: one compression round per word, two finalization rounds. */
uint64_t node_dict_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t v[4] = {0x736f6d6570736575ULL ^ hash_k0, 0x646f72616e646f6dULL ^ hash_k1,
                     0x6c7967656e657261ULL ^ hash_k0, 0x7465646279746573ULL ^ hash_k1};
    uint64_t m, b = (uint64_t)len << 56;
    size_t i, words = len / 8;

    for (i = 0; i < words; i++, p += 8) {
        memcpy(&m, p, 8);
        v[3] ^= m;
        sipround(v);
        v[0] ^= m;
    }
    for (i = 0; i < (len & 7); i++)
        b |= (uint64_t)p[i] << (8 * i);
    v[3] ^= b;
    sipround(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    sipround(v);
    sipround(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t rng_next(node_dict_t *d)
{
    /* xorshift64*: sampling only needs to be cheap and well spread. */
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 0x2545F4914F6CDD1DULL;
}

node_dict_t *node_dict_create(const node_dict_type_t *type)
{
    node_dict_t *d = rc_xcalloc(1, sizeof(*d));

    d->type = type;
    d->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)d;
    return d;
}

void node_dict_clear(node_dict_t *d)
{
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < d->size[t]; i++) {
            node_dict_entry_t *e = d->table[t][i], *next;
            for (; e != NULL; e = next) {
                next = e->next;
                if (d->type->destroy != NULL)
                    d->type->destroy(e);
            }
        }
        rc_free(d->table[t]);
        d->table[t] = NULL;
        d->size[t] = 0;
        d->used[t] = 0;
    }
    d->rehashing = 0;
    d->rehashidx = 0;
}

void node_dict_destroy(node_dict_t *d)
{
    if (d == NULL)
        return;
    node_dict_clear(d);
    rc_free(d);
}

size_t node_dict_size(const node_dict_t *d)
{
    return d->used[0] + d->used[1];
}

size_t node_dict_buckets(const node_dict_t *d)
{
    return d->size[0] + d->size[1];
}

int node_dict_is_rehashing(const node_dict_t *d)
{
    return d->rehashing;
}

size_t node_dict_rehashing_bytes(const node_dict_t *d)
{
    return d->rehashing ? d->size[0] * sizeof(*d->table[0]) : 0;
}

static size_t next_pow2(size_t n)
{
    size_t s = DICT_MIN_SIZE;

    while (s < n)
        s <<= 1;
    return s;
}

static int key_eq(const node_dict_t *d, const node_dict_entry_t *e, const void *key, size_t len)
{
    size_t elen;
    const char *ekey = d->type->key(e, &elen);

    return elen == len && memcmp(ekey, key, len) == 0;
}

static uint64_t entry_hash(const node_dict_t *d, const node_dict_entry_t *e)
{
    size_t len;
    const char *key = d->type->key(e, &len);

    return node_dict_hash(key, len);
}

static void start_resize(node_dict_t *d, size_t buckets)
{
    if (buckets == d->size[0])
        return;
    d->table[1] = rc_xcalloc(buckets, sizeof(node_dict_entry_t *));
    d->size[1] = buckets;
    d->used[1] = 0;
    d->rehashidx = 0;
    d->rehashing = 1;
}

static void maybe_shrink(node_dict_t *d)
{
    if (d->rehashing || d->size[0] <= DICT_MIN_SIZE)
        return;
    if (d->used[0] * DICT_SHRINK_RATIO < d->size[0])
        start_resize(d, next_pow2(d->used[0] * 2));
}

int node_dict_rehash(node_dict_t *d, int n)
{
    int empty_visits = n * 10;

    if (!d->rehashing)
        return 0;
    if (d->pause > 0)
        return 1; /* a live iterator relies on entries staying put */
    while (n-- > 0 && d->used[0] != 0) {
        node_dict_entry_t *e, *next;

        RC_ASSERT(d->rehashidx < d->size[0]);
        while (d->table[0][d->rehashidx] == NULL) {
            d->rehashidx++;
            if (--empty_visits == 0)
                return 1;
        }
        for (e = d->table[0][d->rehashidx]; e != NULL; e = next) {
            size_t idx = entry_hash(d, e) & (d->size[1] - 1);

            next = e->next;
            e->next = d->table[1][idx];
            d->table[1][idx] = e;
            d->used[0]--;
            d->used[1]++;
        }
        d->table[0][d->rehashidx++] = NULL;
    }
    if (d->used[0] != 0)
        return 1;
    rc_free(d->table[0]);
    d->table[0] = d->table[1];
    d->size[0] = d->size[1];
    d->used[0] = d->used[1];
    d->table[1] = NULL;
    d->size[1] = 0;
    d->used[1] = 0;
    d->rehashing = 0;
    d->rehashidx = 0;
    maybe_shrink(d); /* entries deleted during the rehash may call for more */
    return d->rehashing;
}

static void rehash_step(node_dict_t *d)
{
    if (d->rehashing)
        node_dict_rehash(d, 1);
}

static node_dict_entry_t **find_ref(node_dict_t *d, const void *key, size_t len)
{
    uint64_t h;

    if (node_dict_size(d) == 0)
        return NULL;
    h = node_dict_hash(key, len);
    for (int t = 0; t <= d->rehashing; t++) {
        node_dict_entry_t **ref = &d->table[t][h & (d->size[t] - 1)];

        for (; *ref != NULL; ref = &(*ref)->next) {
            if (key_eq(d, *ref, key, len))
                return ref;
        }
    }
    return NULL;
}

void node_dict_prefetch_bucket(const node_dict_t *d, uint64_t h)
{
    for (int t = 0; t <= d->rehashing; t++) {
        if (d->size[t] != 0)
            __builtin_prefetch(&d->table[t][h & (d->size[t] - 1)]);
    }
}

void node_dict_prefetch_entry(const node_dict_t *d, uint64_t h, size_t entry_bytes)
{
    for (int t = 0; t <= d->rehashing; t++) {
        const char *e;

        if (d->size[t] == 0)
            continue;
        e = (const char *)d->table[t][h & (d->size[t] - 1)];
        for (size_t off = 0; e != NULL && off < entry_bytes; off += 64)
            __builtin_prefetch(e + off);
    }
}

void node_dict_prefetch_next(const node_dict_t *d, uint64_t h, size_t entry_bytes)
{
    for (int t = 0; t <= d->rehashing; t++) {
        const node_dict_entry_t *e;
        const char *n;

        if (d->size[t] == 0)
            continue;
        e = d->table[t][h & (d->size[t] - 1)];
        n = e != NULL ? (const char *)e->next : NULL;
        for (size_t off = 0; n != NULL && off < entry_bytes; off += 64)
            __builtin_prefetch(n + off);
    }
}

node_dict_entry_t *node_dict_find(node_dict_t *d, const void *key, size_t len)
{
    node_dict_entry_t **ref;

    rehash_step(d);
    ref = find_ref(d, key, len);
    return ref == NULL ? NULL : *ref;
}

void node_dict_add(node_dict_t *d, node_dict_entry_t *e)
{
    int t;
    size_t idx;

    rehash_step(d);
    if (d->size[0] == 0) {
        d->table[0] = rc_xcalloc(DICT_MIN_SIZE, sizeof(node_dict_entry_t *));
        d->size[0] = DICT_MIN_SIZE;
    } else if (!d->rehashing && d->used[0] >= d->size[0]) {
        start_resize(d, next_pow2(d->used[0] + 1));
    }
    t = d->rehashing ? 1 : 0;
    idx = entry_hash(d, e) & (d->size[t] - 1);
    e->next = d->table[t][idx];
    d->table[t][idx] = e;
    d->used[t]++;
}

node_dict_entry_t *node_dict_unlink(node_dict_t *d, const void *key, size_t len)
{
    node_dict_entry_t **ref, *e;
    uint64_t h;

    rehash_step(d);
    if (node_dict_size(d) == 0)
        return NULL;
    h = node_dict_hash(key, len);
    for (int t = 0; t <= d->rehashing; t++) {
        for (ref = &d->table[t][h & (d->size[t] - 1)]; *ref != NULL; ref = &(*ref)->next) {
            if (key_eq(d, *ref, key, len)) {
                e = *ref;
                *ref = e->next;
                e->next = NULL;
                d->used[t]--;
                maybe_shrink(d);
                return e;
            }
        }
    }
    return NULL;
}

void node_dict_replace(node_dict_t *d, node_dict_entry_t *old, node_dict_entry_t *repl)
{
    size_t len;
    const char *key = d->type->key(old, &len);
    node_dict_entry_t **ref = find_ref(d, key, len);

    RC_ASSERT(ref != NULL && *ref == old);
    repl->next = old->next;
    *ref = repl;
    old->next = NULL;
}

node_dict_entry_t *node_dict_random(node_dict_t *d)
{
    node_dict_entry_t *he = NULL, *e;
    size_t n = 0, pick;

    if (node_dict_size(d) == 0)
        return NULL;
    rehash_step(d);
    if (d->rehashing) {
        /* Buckets below rehashidx in table 0 are empty: skip them. */
        size_t span = d->size[0] + d->size[1] - d->rehashidx;
        while (he == NULL) {
            size_t h = d->rehashidx + (size_t)(rng_next(d) % span);
            he = h >= d->size[0] ? d->table[1][h - d->size[0]] : d->table[0][h];
        }
    } else {
        while (he == NULL)
            he = d->table[0][rng_next(d) & (d->size[0] - 1)];
    }
    for (e = he; e != NULL; e = e->next)
        n++;
    pick = (size_t)(rng_next(d) % n);
    for (e = he; pick > 0; pick--)
        e = e->next;
    return e;
}

static uint64_t rev64(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    v = ((v >> 8) & 0x00FF00FF00FF00FFULL) | ((v & 0x00FF00FF00FF00FFULL) << 8);
    v = ((v >> 16) & 0x0000FFFF0000FFFFULL) | ((v & 0x0000FFFF0000FFFFULL) << 16);
    return (v >> 32) | (v << 32);
}

static void emit_bucket(node_dict_entry_t *e, node_dict_scan_fn *fn, void *priv)
{
    for (; e != NULL; e = e->next)
        fn(priv, e);
}

/* The cursor counts up in bit-reversed order over the bucket index: a
 * bucket's high bits vary fastest, so when the table doubles or halves the
 * buckets already visited map onto buckets that stay visited. While
 * rehashing, a bucket of the small table is visited together with all the
 * buckets of the large table it expands to. */
uint64_t node_dict_scan(node_dict_t *d, uint64_t v, node_dict_scan_fn *fn, void *priv)
{
    if (node_dict_size(d) == 0)
        return 0;
    if (!d->rehashing) {
        uint64_t m0 = d->size[0] - 1;

        emit_bucket(d->table[0][v & m0], fn, priv);
        v |= ~m0;
    } else {
        int small = d->size[0] <= d->size[1] ? 0 : 1, large = 1 - small;
        uint64_t m0 = d->size[small] - 1, m1 = d->size[large] - 1;

        emit_bucket(d->table[small][v & m0], fn, priv);
        do {
            emit_bucket(d->table[large][v & m1], fn, priv);
            v |= ~m1;
            v = rev64(v);
            v++;
            v = rev64(v);
        } while (v & (m0 ^ m1));
        return v;
    }
    v = rev64(v);
    v++;
    return rev64(v);
}

void node_dict_iter_init(node_dict_iter_t *it, node_dict_t *d)
{
    memset(it, 0, sizeof(*it));
    it->d = d;
}

node_dict_entry_t *node_dict_iter_next(node_dict_iter_t *it)
{
    node_dict_t *d = it->d;

    if (!it->started) {
        it->started = 1;
        d->pause++;
    }
    for (;;) {
        node_dict_entry_t *e = it->next;

        if (e != NULL) {
            it->next = e->next;
            return e;
        }
        if (it->table > 1)
            return NULL;
        if (it->index < d->size[it->table]) {
            it->next = d->table[it->table][it->index++];
        } else {
            it->table++;
            it->index = 0;
        }
    }
}

void node_dict_iter_done(node_dict_iter_t *it)
{
    if (it->started)
        it->d->pause--;
    it->started = 0;
}
