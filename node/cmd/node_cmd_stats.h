/* node/cmd/node_cmd_stats.h: per-command statistics (INFO commandstats and
 * latencystats, LATENCY HISTOGRAM, the Prometheus endpoint): calls, time,
 * rejected and failed calls and a latency histogram with fixed bounds per
 * command. The one rule: recording costs no system call and no allocation
 * after a command's first call; everything runs on the loop thread (the
 * node has one), so nothing here is atomic.
 *
 * What counts, as Redis 7 counts it:
 *   calls           commands that ran (their reply may be an error)
 *   usec            their total run time, microseconds (kept in ns)
 *   rejected_calls  refused before running: arity, NOAUTH, OOM, MOVED,
 *                   CROSSSLOT, CLUSTERDOWN, TRYAGAIN (not in calls)
 *   failed_calls    ran and replied an error (also in calls)
 * A command the node forwards to the owner of its key counts here, on the
 * node the client sent it to, with its full time (until the owner's reply
 * arrives); the owner does not count requests that peers forward to it,
 * so the cluster-wide sum counts every client command once. Unknown
 * commands count nowhere (Redis has no command to count them on). The
 * slowlog and the latency monitor (node_cmd_slowlog.c) see where a
 * command runs instead: a forwarded command is logged by its owner, with
 * the data link's address as the client. Container commands (CONFIG,
 * CLIENT, ...) count as one command, not per subcommand as in Redis. */
#ifndef RC_NODE_NODE_CMD_STATS_H
#define RC_NODE_NODE_CMD_STATS_H

#include <stddef.h>
#include <stdint.h>

/* The histogram: durations in nanoseconds, bucket i counts the durations d
 * with bound(i - 1) <= d < bound(i) (bound(-1) = 0):
 *
 *   bucket 0            d < 128 ns
 *   buckets 1..108      4 per power of two from 128 ns to 2^34 ns (17.2 s):
 *                       bounds 160, 192, 224, 256, 320, 384, ... ns
 *   bucket 109          d >= 2^34 ns (upper bound UINT64_MAX: +Inf)
 *
 * so a percentile read from it is within 25% of the true value (12% after
 * interpolation, typically). */
enum {
    NODE_CMD_STATS_NBUCKETS = 110,
    NODE_CMD_STATS_MAX = 1024, /* command ids are below this */
};

/* What the read API gives for one command. Pointers are valid until the
 * next command runs (the loop thread) or the stats are reset. */
typedef struct node_cmd_stats_view_s {
    const char *name; /* lower case, as Redis prints it */
    uint64_t calls;
    uint64_t usec; /* total run time of 'calls', microseconds */
    uint64_t nsec; /* the same in nanoseconds */
    uint64_t rejected_calls;
    uint64_t failed_calls;
    uint64_t hist_count;     /* samples in 'buckets' (calls, unless latency-tracking was off) */
    const uint64_t *buckets; /* NODE_CMD_STATS_NBUCKETS counts, not cumulative */
} node_cmd_stats_view_t;

/* Iterates the commands with any of calls, rejected_calls, failed_calls
 * non-zero, in command-table order: start with '*iter' = 0; fills 'out'
 * and returns 1, or returns 0 at the end. */
int node_cmd_stats_next(size_t *iter, node_cmd_stats_view_t *out);

/* The same for the command named 'name' (lower case); returns 0 when it
 * has no statistics. */
int node_cmd_stats_find(const char *name, node_cmd_stats_view_t *out);

/* Upper bound (exclusive) of bucket 'i' in nanoseconds; UINT64_MAX for the
 * last one (+Inf). 'i' < NODE_CMD_STATS_NBUCKETS. */
uint64_t node_cmd_stats_bucket_bound_ns(size_t i);

/* The bucket a duration of 'ns' nanoseconds falls in. */
size_t node_cmd_stats_bucket_of(uint64_t ns);

/* The 'p'-th percentile (0 < p <= 100) of a histogram ('buckets' as in the
 * view), in microseconds: the samples of a bucket are taken as spread
 * evenly over it (the last bucket reports its lower bound). 0 for an
 * empty histogram. */
double node_cmd_stats_percentile_usec(const uint64_t *buckets, double p);

/* Forgets every statistic (CONFIG RESETSTAT). */
void node_cmd_stats_reset(void);

/* Frees the storage (tests; the process exit otherwise). */
void node_cmd_stats_free(void);

/* --- recording: the dispatcher (node_cmd.c) ---------------------------- */

typedef struct node_cmd_stat_s node_cmd_stat_t;

/* The record of command 'id' (below NODE_CMD_STATS_MAX, stable for the
 * process: the dispatcher uses its table slot) named 'name' (static),
 * created on first use. */
node_cmd_stat_t *node_cmd_stats_get(size_t id, const char *name);

/* One call that ran for 'ns' nanoseconds; 'failed' when it replied an
 * error; 'track' adds it to the histogram (latency-tracking). */
void node_cmd_stats_call(node_cmd_stat_t *st, uint64_t ns, int failed, int track);

/* One call refused before it ran. */
void node_cmd_stats_reject(node_cmd_stat_t *st);

/* --- the command clock ------------------------------------------------- */

/* Commands are timed in ticks: the invariant TSC on x86-64 (rdtsc, about
 * 10 ns, a third of a vDSO clock_gettime on a VM's kvm-clock), converted
 * with a factor calibrated against the monotonic clock (2 ms at the first
 * command, refined every NODE_CMD_CLOCK_REFINE commands over the whole
 * uptime); elsewhere uv_hrtime() nanoseconds. */
enum {
    NODE_CMD_CLOCK_REFINE = 1 << 16,
};

typedef struct node_cmd_clock_s {
    int ready;
    int tsc;            /* 1: ticks are TSC cycles */
    double ns_per_tick; /* 1.0 without the TSC */
    uint64_t tsc0, hr0; /* the calibration's origin */
    uint64_t uses;      /* node_cmd_stats_elapsed_ns() calls, for refining */
} node_cmd_clock_t;

extern node_cmd_clock_t node_cmd_clock;

/* Sets the clock up (once; the dispatcher calls it lazily). */
void node_cmd_stats_clock_init(void);
/* Refines the TSC factor (every NODE_CMD_CLOCK_REFINE uses). */
void node_cmd_stats_clock_refine(void);
/* The current time in ticks. */
uint64_t node_cmd_stats_ticks_slow(void);

#if defined(__x86_64__)
#include <x86intrin.h>
static inline uint64_t node_cmd_stats_ticks(void)
{
    return node_cmd_clock.tsc ? (uint64_t)__rdtsc() : node_cmd_stats_ticks_slow();
}
#else
static inline uint64_t node_cmd_stats_ticks(void)
{
    return node_cmd_stats_ticks_slow();
}
#endif

/* Nanoseconds since 'start' (a node_cmd_stats_ticks() value); 0 if the
 * clock went backwards (a TSC read on another core). */
static inline uint64_t node_cmd_stats_elapsed_ns(uint64_t start)
{
    uint64_t now = node_cmd_stats_ticks();

    if (++node_cmd_clock.uses % NODE_CMD_CLOCK_REFINE == 0)
        node_cmd_stats_clock_refine();
    if (now <= start)
        return 0;
    return node_cmd_clock.tsc ? (uint64_t)((double)(now - start) * node_cmd_clock.ns_per_tick)
                              : now - start;
}

#endif /* RC_NODE_NODE_CMD_STATS_H */
