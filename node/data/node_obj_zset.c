/* node/data/node_obj_zset.c: the sorted-set value: a skiplist with spans, as in
 * Pugh's paper and Redis's t_zset.c, whose nodes are also the entries of a
 * node_dict keyed by member. The one rule: a member is ONE allocation that
 * is both its dict entry and its skiplist node, so an update of a score
 * relinks the node instead of reallocating it. */
#include "node/data/node_types.h"

#include <string.h>

#include "common/rc.h"
#include "node/data/node_obj.h"

#define ZSL_MAXLEVEL 32

typedef struct zsl_level_s {
    node_zset_node_t *forward;
    size_t span;
} zsl_level_t;

struct node_zset_node_s {
    node_dict_entry_t link; /* first: the member dict links nodes directly */
    double score;
    node_zset_node_t *backward;
    size_t mlen;
    int height;
    zsl_level_t level[];
    /* then the member bytes */
};

struct node_zset_s {
    node_dict_t *d;
    node_zset_node_t *header, *tail;
    size_t length;
    int level;
    uint64_t rng;
};

static char *node_mem(const node_zset_node_t *n)
{
    return (char *)(n->level + n->height);
}

static const char *zdict_key(const node_dict_entry_t *e, size_t *len)
{
    const node_zset_node_t *n = (const node_zset_node_t *)e;

    *len = n->mlen;
    return node_mem(n);
}

static void zdict_destroy(node_dict_entry_t *e)
{
    rc_free(e);
}

static const node_dict_type_t zset_dict_type = {zdict_key, zdict_destroy};

static node_zset_node_t *node_new(int height, double score, const void *m, size_t mlen)
{
    node_zset_node_t *n = rc_xmalloc(sizeof(*n) + (size_t)height * sizeof(zsl_level_t) + mlen);

    n->link.next = NULL;
    n->score = score;
    n->backward = NULL;
    n->mlen = mlen;
    n->height = height;
    for (int i = 0; i < height; i++) {
        n->level[i].forward = NULL;
        n->level[i].span = 0;
    }
    if (mlen > 0)
        memcpy(node_mem(n), m, mlen);
    return n;
}

node_zset_t *node_zset_create(void)
{
    node_zset_t *z = rc_xmalloc(sizeof(*z));

    z->d = node_dict_create(&zset_dict_type);
    z->header = node_new(ZSL_MAXLEVEL, 0, NULL, 0);
    z->tail = NULL;
    z->length = 0;
    z->level = 1;
    z->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)z;
    return z;
}

void node_zset_destroy(node_zset_t *z)
{
    if (z == NULL)
        return;
    node_dict_destroy(z->d); /* frees every node */
    rc_free(z->header);
    rc_free(z);
}

size_t node_zset_len(const node_zset_t *z)
{
    return z->length;
}

static int random_level(node_zset_t *z)
{
    int level = 1;

    for (;;) {
        z->rng ^= z->rng >> 12;
        z->rng ^= z->rng << 25;
        z->rng ^= z->rng >> 27;
        if (((z->rng * 0x2545F4914F6CDD1DULL) >> 62) != 0 || level >= ZSL_MAXLEVEL)
            return level; /* p = 1/4 to go one level up */
        level++;
    }
}

/* Redis's sdscmp order for members. */
static int mem_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    if (c != 0 || alen == blen)
        return c;
    return alen < blen ? -1 : 1;
}

/* 1 when 'n' sorts before (score, m). */
static int before(const node_zset_node_t *n, double score, const char *m, size_t mlen)
{
    return n->score < score || (n->score == score && mem_cmp(node_mem(n), n->mlen, m, mlen) < 0);
}

static void zsl_link(node_zset_t *z, node_zset_node_t *x)
{
    node_zset_node_t *update[ZSL_MAXLEVEL] = {NULL}, *h = z->header;
    size_t rank[ZSL_MAXLEVEL] = {0};
    const char *m = node_mem(x);
    int i;

    for (i = z->level - 1; i >= 0; i--) {
        rank[i] = i == z->level - 1 ? 0 : rank[i + 1];
        while (h->level[i].forward != NULL && before(h->level[i].forward, x->score, m, x->mlen)) {
            rank[i] += h->level[i].span;
            h = h->level[i].forward;
        }
        update[i] = h;
    }
    if (x->height > z->level) {
        for (i = z->level; i < x->height; i++) {
            rank[i] = 0;
            update[i] = z->header;
            update[i]->level[i].span = z->length;
        }
        z->level = x->height;
    }
    for (i = 0; i < x->height; i++) {
        x->level[i].forward = update[i]->level[i].forward;
        update[i]->level[i].forward = x;
        x->level[i].span = update[i]->level[i].span - (rank[0] - rank[i]);
        update[i]->level[i].span = (rank[0] - rank[i]) + 1;
    }
    for (i = x->height; i < z->level; i++)
        update[i]->level[i].span++;
    x->backward = update[0] == z->header ? NULL : update[0];
    if (x->level[0].forward != NULL)
        x->level[0].forward->backward = x;
    else
        z->tail = x;
    z->length++;
}

static void zsl_unlink(node_zset_t *z, node_zset_node_t *x)
{
    node_zset_node_t *update[ZSL_MAXLEVEL] = {NULL}, *h = z->header;
    const char *m = node_mem(x);
    int i;

    for (i = z->level - 1; i >= 0; i--) {
        while (h->level[i].forward != NULL && before(h->level[i].forward, x->score, m, x->mlen))
            h = h->level[i].forward;
        update[i] = h;
    }
    RC_ASSERT(update[0]->level[0].forward == x);
    for (i = 0; i < z->level; i++) {
        if (update[i]->level[i].forward == x) {
            update[i]->level[i].span += x->level[i].span - 1;
            update[i]->level[i].forward = x->level[i].forward;
        } else {
            update[i]->level[i].span -= 1;
        }
    }
    if (x->level[0].forward != NULL)
        x->level[0].forward->backward = x->backward;
    else
        z->tail = x->backward;
    while (z->level > 1 && z->header->level[z->level - 1].forward == NULL)
        z->level--;
    z->length--;
}

int node_zset_add(node_zset_t *z, const void *m, size_t mlen, double score)
{
    node_zset_node_t *n = (node_zset_node_t *)node_dict_find(z->d, m, mlen);

    if (n != NULL) {
        if (n->score != score) {
            node__mutations++;
            zsl_unlink(z, n);
            n->score = score;
            zsl_link(z, n);
        }
        return 0;
    }
    node__mutations++;
    n = node_new(random_level(z), score, m, mlen);
    node_dict_add(z->d, &n->link);
    zsl_link(z, n);
    return 1;
}

int node_zset_score(node_zset_t *z, const void *m, size_t mlen, double *score)
{
    node_zset_node_t *n = (node_zset_node_t *)node_dict_find(z->d, m, mlen);

    if (n == NULL)
        return 0;
    *score = n->score;
    return 1;
}

int node_zset_rem(node_zset_t *z, const void *m, size_t mlen)
{
    node_zset_node_t *n = (node_zset_node_t *)node_dict_find(z->d, m, mlen);

    if (n == NULL)
        return 0;
    node__mutations++;
    zsl_unlink(z, n);
    node_dict_unlink(z->d, m, mlen);
    rc_free(n);
    return 1;
}

long long node_zset_rank(node_zset_t *z, const void *m, size_t mlen)
{
    node_zset_node_t *n = (node_zset_node_t *)node_dict_find(z->d, m, mlen), *h = z->header;
    size_t rank = 0;

    if (n == NULL)
        return -1;
    for (int i = z->level - 1; i >= 0; i--) {
        while (h->level[i].forward != NULL &&
               (h->level[i].forward == n || before(h->level[i].forward, n->score, m, mlen))) {
            rank += h->level[i].span;
            h = h->level[i].forward;
        }
        if (h == n)
            return (long long)rank - 1;
    }
    RC_ASSERT(0 && "member in dict but not in skiplist");
    return -1;
}

node_zset_node_t *node_zset_at(const node_zset_t *z, size_t rank)
{
    node_zset_node_t *h = z->header;
    size_t traversed = 0;

    RC_ASSERT(rank < z->length);
    for (int i = z->level - 1; i >= 0; i--) {
        while (h->level[i].forward != NULL && traversed + h->level[i].span <= rank + 1) {
            traversed += h->level[i].span;
            h = h->level[i].forward;
        }
        if (traversed == rank + 1)
            return h;
    }
    RC_ASSERT(0 && "rank not found");
    return NULL;
}

node_zset_node_t *node_zset_next(const node_zset_node_t *n)
{
    return n->level[0].forward;
}

node_zset_node_t *node_zset_prev(const node_zset_node_t *n)
{
    return n->backward;
}

double node_zset_node_score(const node_zset_node_t *n)
{
    return n->score;
}

const char *node_zset_node_member(const node_zset_node_t *n, size_t *mlen)
{
    *mlen = n->mlen;
    return node_mem(n);
}

size_t node_zset_count_below(const node_zset_t *z, double v, int inclusive)
{
    node_zset_node_t *h = z->header;
    size_t rank = 0;

    for (int i = z->level - 1; i >= 0; i--) {
        while (h->level[i].forward != NULL &&
               (h->level[i].forward->score < v || (inclusive && h->level[i].forward->score <= v))) {
            rank += h->level[i].span;
            h = h->level[i].forward;
        }
    }
    return rank;
}

size_t node_zset_count_while(const node_zset_t *z, node_zset_pred_fn *pred, void *priv)
{
    node_zset_node_t *h = z->header;
    size_t rank = 0;

    for (int i = z->level - 1; i >= 0; i--) {
        while (h->level[i].forward != NULL &&
               pred(priv, node_mem(h->level[i].forward), h->level[i].forward->mlen)) {
            rank += h->level[i].span;
            h = h->level[i].forward;
        }
    }
    return rank;
}
