/* bench/ring_stats.c: balance, movement and build time of ring/ placement.
 * The one rule: every figure it prints comes from ring_build() itself, on
 * member ids and weights the tool states, so anyone can rerun it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring/ring.h"
#include "ring/ring_internal.h"

enum {
    MAX_N = 1001,
    TRIALS = 20, /* joins and leaves per row (mean and max printed) */
};

typedef struct mix_s {
    const char *name;
    uint32_t (*weight)(size_t i);
} mix_t;

static uint32_t w_equal(size_t i)
{
    (void)i;
    return 1;
}

static uint32_t w_124(size_t i)
{
    static const uint32_t w[] = {1, 2, 4};

    return w[i % 3];
}

static uint32_t w_tenth_x3(size_t i)
{
    return i % 10 == 0 ? 3 : 1;
}

static const mix_t mixes[] = {
    {"1", w_equal},
    {"1:2:4", w_124},
    {"10%x3", w_tenth_x3},
};

static char ids[MAX_N][32];

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static ring_t *build(const ring_member_t *m, size_t n, const ring_config_t *cfg, double *ms)
{
    ring_t *ring;
    double t0 = now_ms();
    int err = ring_build(1, m, n, cfg, &ring);

    if (ms != NULL)
        *ms = now_ms() - t0;
    if (err != 0) {
        fprintf(stderr, "ring_build: %s\n", strerror(-err));
        exit(1);
    }
    return ring;
}

/* Max over members of load / (weighted share), for primaries and for all
 * copies. A member can't hold two copies of a slot, so its share of all
 * copies is at most RING_SLOTS; the excess is shared among the others in
 * proportion to weight (water-filling), as ring_build()'s caps do. */
static void balance(const ring_t *ring, double *prim, double *all)
{
    size_t n = ring_member_count(ring);
    unsigned copies = ring_copies(ring);
    static uint32_t load0[MAX_N], loadall[MAX_N];
    static int full[MAX_N];
    double total = 0, left = (double)RING_SLOTS * copies, wleft = 0;
    int changed = 1;

    memset(load0, 0, sizeof(load0));
    memset(loadall, 0, sizeof(loadall));
    memset(full, 0, sizeof(full));
    for (uint32_t s = 0; s < RING_SLOTS; s++) {
        const uint16_t *row = ring_slot_replicas(ring, (uint16_t)s);

        load0[row[0]]++;
        for (unsigned r = 0; r < copies; r++)
            loadall[row[r]]++;
    }
    for (size_t i = 0; i < n; i++)
        total += ring_member_weight(ring, i);
    wleft = total;
    while (changed) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (!full[i] && left * ring_member_weight(ring, i) / wleft >= RING_SLOTS) {
                full[i] = 1;
                left -= RING_SLOTS;
                wleft -= ring_member_weight(ring, i);
                changed = 1;
            }
        }
    }
    *prim = *all = 0;
    for (size_t i = 0; i < n; i++) {
        double share = RING_SLOTS * ring_member_weight(ring, i) / total;
        double share_all = full[i] ? RING_SLOTS : left * ring_member_weight(ring, i) / wleft;
        double p = load0[i] / share, a = loadall[i] / share_all;

        *prim = p > *prim ? p : *prim;
        *all = a > *all ? a : *all;
    }
}

/* Counts (slot, member) copies present in 'to' but not in 'from', and those
 * among them not given to 'who' (NULL: none). */
static void copies_moved(const ring_t *from, const ring_t *to, const char *who, long *moved,
                         long *other)
{
    *moved = *other = 0;
    for (uint32_t s = 0; s < RING_SLOTS; s++) {
        const uint16_t *a = ring_slot_replicas(from, (uint16_t)s);
        const uint16_t *b = ring_slot_replicas(to, (uint16_t)s);

        for (unsigned j = 0; j < ring_copies(to); j++) {
            const char *id = ring_member_id(to, b[j]);
            int found = 0;

            for (unsigned i = 0; i < ring_copies(from) && !found; i++)
                found = strcmp(ring_member_id(from, a[i]), id) == 0;
            if (!found) {
                (*moved)++;
                if (who == NULL || strcmp(who, id) != 0)
                    (*other)++;
            }
        }
    }
}

typedef struct row_s {
    double prim, all, join, join_other, join_max, leave, leave_other, leave_max, ms;
} row_t;

/* Members "node-0000".. of mix 'mix'. Trial t adds "join-t" (weight of
 * member n+t in the mix) and, separately, removes member t*n/trials. */
static row_t measure(size_t n, const mix_t *mix, const ring_config_t *cfg, int trials)
{
    static ring_member_t m[MAX_N + 1];
    row_t out = {0};
    ring_t *base;
    double ms, best = 1e9, wsum = 0;
    unsigned copies;

    for (size_t i = 0; i < n; i++) {
        m[i].id = ids[i];
        m[i].weight = mix->weight(i);
        wsum += m[i].weight;
    }
    for (int t = 0; t < 3; t++) {
        ring_destroy(build(m, n, cfg, &ms));
        best = ms < best ? ms : best;
    }
    out.ms = best;
    base = build(m, n, cfg, NULL);
    copies = ring_copies(base);
    balance(base, &out.prim, &out.all);
    for (int t = 0; t < trials; t++) {
        char jid[32];
        size_t leaver = (size_t)t * n / (size_t)trials;
        ring_member_t keep;
        ring_t *other_ring;
        long moved, other;
        double ideal;

        snprintf(jid, sizeof(jid), "join-%d", t);
        m[n].id = jid;
        m[n].weight = mix->weight(n + (size_t)t);
        other_ring = build(m, n + 1, cfg, NULL);
        copies_moved(base, other_ring, jid, &moved, &other);
        ideal = (double)RING_SLOTS * ring_copies(other_ring) * m[n].weight / (wsum + m[n].weight);
        out.join += moved / ideal;
        out.join_other += other / ideal;
        out.join_max = moved / ideal > out.join_max ? moved / ideal : out.join_max;
        ring_destroy(other_ring);

        if (n < 2)
            continue;
        keep = m[leaver];
        m[leaver] = m[n - 1];
        other_ring = build(m, n - 1, cfg, NULL);
        m[leaver] = keep;
        copies_moved(base, other_ring, NULL, &moved, &other);
        /* The leaver's copies must move; anything beyond is a shift. */
        ideal = (double)RING_SLOTS * copies * keep.weight / wsum;
        if (ring_copies(other_ring) < copies)
            ideal = 0; /* copies drop with the member count: nothing to refill */
        out.leave += ideal > 0 ? moved / ideal : 0;
        out.leave_other += ideal > 0 ? (moved - ideal) / ideal : 0;
        if (ideal > 0 && moved / ideal > out.leave_max)
            out.leave_max = moved / ideal;
        ring_destroy(other_ring);
    }
    out.join /= trials;
    out.join_other /= trials;
    out.leave /= trials;
    out.leave_other /= trials;
    ring_destroy(base);
    return out;
}

static void header(void)
{
    printf("%-6s %5s %2s %7s %7s %7s %7s %7s %7s %7s %7s %9s\n", "mix", "N", "R", "prim", "all",
           "join", "j.other", "j.max", "leave", "l.other", "l.max", "build_ms");
}

static void print_row(const char *mix, size_t n, unsigned r, const row_t *x)
{
    printf("%-6s %5zu %2u %7.4f %7.4f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %9.2f\n", mix, n, r,
           x->prim, x->all, x->join, x->join_other, x->join_max, x->leave, x->leave_other,
           x->leave_max, x->ms);
}

static void usage(void)
{
    fprintf(stderr, "usage: ring-stats [-e eps_ppm] [-p points] [-o sets|roles|index] [-t trials]\n"
                    "                  [-n N,N,...] [-r R,R,...] [-m k]\n"
                    "  -e/-p: epsilon (ppm) and points per unit weight (0: ring defaults)\n"
                    "  -o: placement variant (sets is ring_build()'s; others for comparison)\n"
                    "  -t: joins and leaves per row (mean and max); -m: first k weight mixes\n");
    exit(2);
}

static size_t parse_list(const char *s, size_t *out, size_t max)
{
    size_t k = 0;

    while (*s != '\0' && k < max) {
        char *end;

        out[k++] = strtoul(s, &end, 10);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *end != '\0')
            usage();
    }
    return k;
}

int main(int argc, char **argv)
{
    size_t ns[16] = {3, 5, 10, 30, 100, 300, 1000}, nn = 7;
    size_t rs[8] = {0, 1, 2}, nr = 3;
    size_t nmix = sizeof(mixes) / sizeof(mixes[0]);
    ring_config_t cfg = {0};
    int trials = TRIALS;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "-e") == 0)
            cfg.balance_ppm = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "-p") == 0)
            cfg.points = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "-t") == 0)
            trials = atoi(v);
        else if (strcmp(a, "-m") == 0)
            nmix = strtoul(v, NULL, 10);
        else if (strcmp(a, "-n") == 0)
            nn = parse_list(v, ns, sizeof(ns) / sizeof(ns[0]));
        else if (strcmp(a, "-r") == 0)
            nr = parse_list(v, rs, sizeof(rs) / sizeof(rs[0]));
        else if (strcmp(a, "-o") == 0)
            ring__order = strcmp(v, "index") == 0   ? RING__ORDER_INDEX
                          : strcmp(v, "roles") == 0 ? RING__ORDER_ROLES
                                                    : RING__ORDER_SETS;
        else
            usage();
    }
    for (size_t i = 0; i < MAX_N; i++)
        snprintf(ids[i], sizeof(ids[i]), "node-%04zu", i);
    for (size_t i = 0; i < nn; i++) {
        if (ns[i] < 1 || ns[i] > MAX_N - 1) {
            fprintf(stderr, "N must be 1..%d\n", MAX_N - 1);
            return 2;
        }
    }
    header();
    for (size_t mi = 0; mi < nmix && mi < sizeof(mixes) / sizeof(mixes[0]); mi++) {
        for (size_t ri = 0; ri < nr; ri++) {
            for (size_t ni = 0; ni < nn; ni++) {
                row_t x;

                cfg.replicas = (unsigned)rs[ri];
                x = measure(ns[ni], &mixes[mi], &cfg, trials);
                print_row(mixes[mi].name, ns[ni], cfg.replicas, &x);
                fflush(stdout);
            }
        }
    }
    return 0;
}
