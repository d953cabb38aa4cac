/* node/cmd/node_cmd_stats.c: per-command statistics, one record per command
 * created on its first call, indexed by the command's table slot. The one
 * rule: the recording path is a few additions and a count-leading-zeros;
 * the histogram's bounds never change (they are part of the Prometheus
 * output). */
#include "node/cmd/node_cmd_stats.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "common/rc.h"

struct node_cmd_stat_s {
    const char *name;
    uint64_t calls;
    uint64_t nsec;
    uint64_t rejected_calls;
    uint64_t failed_calls;
    uint64_t hist_count;
    uint64_t buckets[NODE_CMD_STATS_NBUCKETS];
};

enum {
    MIN_SHIFT = 7,  /* bucket 0: below 2^7 ns */
    MAX_SHIFT = 34, /* the last bucket: 2^34 ns and more */
    SUB = 4,        /* buckets per power of two */
};

static node_cmd_stat_t *records[NODE_CMD_STATS_MAX];

node_cmd_clock_t node_cmd_clock = {0, 0, 1.0, 0, 0, 0};

enum {
    CALIBRATE_NS = 2000000, /* the first calibration: 2 ms */
};

uint64_t node_cmd_stats_ticks_slow(void)
{
    return uv_hrtime();
}

/* CPUID 0x80000007, EDX bit 8: the TSC runs at a constant rate in every
 * power state (and is synchronized across cores on such parts). */
static int invariant_tsc(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;

    if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000007u)
        return 0;
    if (__get_cpuid(0x80000007u, &a, &b, &c, &d) == 0)
        return 0;
    return (d & (1u << 8)) != 0;
#else
    return 0;
#endif
}

void node_cmd_stats_clock_init(void)
{
    node_cmd_clock_t *k = &node_cmd_clock;

    if (k->ready)
        return;
    k->ready = 1;
    k->ns_per_tick = 1.0;
#if defined(__x86_64__)
    if (getenv("RINGCACHED_NO_TSC") == NULL && invariant_tsc()) {
        uint64_t hr;

        k->tsc0 = (uint64_t)__rdtsc();
        k->hr0 = uv_hrtime();
        do
            hr = uv_hrtime();
        while (hr - k->hr0 < CALIBRATE_NS);
        k->ns_per_tick = (double)(hr - k->hr0) / (double)((uint64_t)__rdtsc() - k->tsc0);
        if (k->ns_per_tick > 0.0 && k->ns_per_tick < 100.0)
            k->tsc = 1; /* a 10 MHz .. THz counter: sane */
        else
            k->ns_per_tick = 1.0;
    }
#endif
}

void node_cmd_stats_clock_refine(void)
{
#if defined(__x86_64__)
    node_cmd_clock_t *k = &node_cmd_clock;
    uint64_t hr, tsc;

    if (!k->tsc)
        return;
    hr = uv_hrtime();
    tsc = (uint64_t)__rdtsc();
    if (tsc > k->tsc0 && hr > k->hr0)
        k->ns_per_tick = (double)(hr - k->hr0) / (double)(tsc - k->tsc0);
#endif
}

size_t node_cmd_stats_bucket_of(uint64_t ns)
{
    unsigned msb;

    if (ns < (1ULL << MIN_SHIFT))
        return 0;
    msb = 63u - (unsigned)__builtin_clzll(ns);
    if (msb >= MAX_SHIFT)
        return NODE_CMD_STATS_NBUCKETS - 1;
    return 1 + (size_t)(msb - MIN_SHIFT) * SUB + (size_t)((ns >> (msb - 2)) & (SUB - 1));
}

uint64_t node_cmd_stats_bucket_bound_ns(size_t i)
{
    unsigned shift;
    uint64_t sub;

    if (i == 0)
        return 1ULL << MIN_SHIFT;
    if (i >= NODE_CMD_STATS_NBUCKETS - 1)
        return UINT64_MAX;
    shift = MIN_SHIFT + (unsigned)((i - 1) / SUB);
    sub = (uint64_t)((i - 1) % SUB) + 1;
    return (1ULL << shift) + (sub << (shift - 2));
}

double node_cmd_stats_percentile_usec(const uint64_t *buckets, double p)
{
    uint64_t total = 0, seen = 0, rank;
    size_t i;

    for (i = 0; i < NODE_CMD_STATS_NBUCKETS; i++)
        total += buckets[i];
    if (total == 0)
        return 0.0;
    if (p > 100.0)
        p = 100.0;
    /* The smallest value with at least p% of the samples at or below it. */
    rank = (uint64_t)((p / 100.0) * (double)total + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > total)
        rank = total;
    for (i = 0; i < NODE_CMD_STATS_NBUCKETS; i++) {
        uint64_t lo, hi;

        if (seen + buckets[i] < rank) {
            seen += buckets[i];
            continue;
        }
        lo = i == 0 ? 0 : node_cmd_stats_bucket_bound_ns(i - 1);
        hi = node_cmd_stats_bucket_bound_ns(i);
        if (hi == UINT64_MAX)
            return (double)lo / 1000.0;
        /* The samples spread evenly over the bucket, each at the middle
         * of its share. */
        return ((double)lo +
                (double)(hi - lo) * ((double)(rank - seen) - 0.5) / (double)buckets[i]) /
               1000.0;
    }
    return 0.0; /* not reached: rank <= total */
}

node_cmd_stat_t *node_cmd_stats_get(size_t id, const char *name)
{
    node_cmd_stat_t *st;

    RC_ASSERT(id < NODE_CMD_STATS_MAX);
    st = records[id];
    if (st == NULL) {
        st = rc_xcalloc(1, sizeof(*st));
        st->name = name;
        records[id] = st;
    }
    return st;
}

void node_cmd_stats_call(node_cmd_stat_t *st, uint64_t ns, int failed, int track)
{
    st->calls++;
    st->nsec += ns;
    st->failed_calls += failed != 0;
    if (track) {
        st->hist_count++;
        st->buckets[node_cmd_stats_bucket_of(ns)]++;
    }
}

void node_cmd_stats_reject(node_cmd_stat_t *st)
{
    st->rejected_calls++;
}

static void fill(const node_cmd_stat_t *st, node_cmd_stats_view_t *out)
{
    out->name = st->name;
    out->calls = st->calls;
    out->nsec = st->nsec;
    out->usec = st->nsec / 1000;
    out->rejected_calls = st->rejected_calls;
    out->failed_calls = st->failed_calls;
    out->hist_count = st->hist_count;
    out->buckets = st->buckets;
}

static int active(const node_cmd_stat_t *st)
{
    return st != NULL && (st->calls != 0 || st->rejected_calls != 0 || st->failed_calls != 0);
}

int node_cmd_stats_next(size_t *iter, node_cmd_stats_view_t *out)
{
    while (*iter < NODE_CMD_STATS_MAX) {
        const node_cmd_stat_t *st = records[(*iter)++];

        if (active(st)) {
            fill(st, out);
            return 1;
        }
    }
    return 0;
}

int node_cmd_stats_find(const char *name, node_cmd_stats_view_t *out)
{
    size_t i;

    for (i = 0; i < NODE_CMD_STATS_MAX; i++) {
        if (active(records[i]) && strcmp(records[i]->name, name) == 0) {
            fill(records[i], out);
            return 1;
        }
    }
    return 0;
}

void node_cmd_stats_reset(void)
{
    size_t i;

    for (i = 0; i < NODE_CMD_STATS_MAX; i++) {
        if (records[i] != NULL) {
            const char *name = records[i]->name;

            memset(records[i], 0, sizeof(*records[i]));
            records[i]->name = name;
        }
    }
}

void node_cmd_stats_free(void)
{
    size_t i;

    for (i = 0; i < NODE_CMD_STATS_MAX; i++) {
        rc_free(records[i]);
        records[i] = NULL;
    }
}
