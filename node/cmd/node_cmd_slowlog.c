/* node/cmd/node_cmd_slowlog.c: SLOWLOG and LATENCY (LATENCY HISTOGRAM reads
 * node_cmd_stats.h), Redis 7.0's commands and replies. The slowlog keeps the newest slowlog-max-len commands that ran
 * for at least slowlog-log-slower-than us; the latency monitor keeps, per
 * event, the last LAT_SAMPLES seconds that saw an operation take at least
 * latency-monitor-threshold ms. The one rule: memory is bounded: an entry
 * keeps at most SLOW_ARGC arguments of at most SLOW_ARGLEN bytes, and
 * there are at most LAT_EVENTS events. Both live on the loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "common/rc_str.h"
#include "node/cmd/node_cmd.h"
#include "node/cmd/node_cmd_stats.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"

enum {
    SLOW_ARGC = 32,    /* Redis's SLOWLOG_ENTRY_MAX_ARGC */
    SLOW_ARGLEN = 128, /* Redis's SLOWLOG_ENTRY_MAX_STRING */
    SLOW_GET_DEFAULT = 10,
    LAT_SAMPLES = 160, /* Redis's LATENCY_TS_LEN */
    LAT_EVENTS = 16,
    LAT_NAME_MAX = 64,
};

/* --- slowlog --------------------------------------------------------------- */

typedef struct slow_entry_s slow_entry_t;

struct slow_entry_s {
    slow_entry_t *newer;
    slow_entry_t *older;
    uint64_t id;
    int64_t time_s;
    uint64_t usec;
    int argc;
    rc_buf_t argv[SLOW_ARGC];
    char addr[64];
    char name[NODE_CONN_NAME_MAX + 1];
};

static struct {
    slow_entry_t *newest;
    slow_entry_t *oldest;
    long len;
    uint64_t next_id;
} slowlog;

static void slow_entry_free(slow_entry_t *e)
{
    int i;

    for (i = 0; i < e->argc; i++)
        rc_buf_free(&e->argv[i]);
    rc_free(e);
}

static void slowlog_trim(long max)
{
    while (slowlog.len > max) {
        slow_entry_t *e = slowlog.oldest;

        slowlog.oldest = e->newer;
        if (slowlog.oldest != NULL)
            slowlog.oldest->older = NULL;
        else
            slowlog.newest = NULL;
        slowlog.len--;
        slow_entry_free(e);
    }
}

void node_cmd__slowlog_free(void)
{
    slowlog_trim(0);
}

void node_cmd__slowlog_add(node_client_t *c, uint64_t usec)
{
    node_conn_t *conn = c->conn;
    long max = c->server->config.slowlog_max_len;
    slow_entry_t *e;
    int i, argc;

    /* Redis leaves out commands that carry passwords. */
    if (resp_arg_is(&c->argv[0], "auth") || resp_arg_is(&c->argv[0], "hello"))
        return;
    if (max <= 0) {
        slowlog_trim(0); /* as Redis: a push trims to the (new) maximum */
        return;
    }
    e = rc_xcalloc(1, sizeof(*e));
    e->id = slowlog.next_id++;
    e->time_s = c->server->now_ms / 1000;
    e->usec = usec;
    argc = c->argc < SLOW_ARGC ? c->argc : SLOW_ARGC;
    for (i = 0; i < argc; i++) {
        const resp_arg_t *a = &c->argv[i];

        if (argc != c->argc && i == argc - 1) {
            rc_buf_printf(&e->argv[i], "... (%d more arguments)", c->argc - argc + 1);
        } else if (a->len > SLOW_ARGLEN) {
            rc_buf_append(&e->argv[i], a->ptr, SLOW_ARGLEN);
            rc_buf_printf(&e->argv[i], "... (%zu more bytes)", a->len - SLOW_ARGLEN);
        } else {
            rc_buf_append(&e->argv[i], a->ptr, a->len);
        }
    }
    e->argc = argc;
    snprintf(e->addr, sizeof(e->addr), "%s", conn->addr);
    snprintf(e->name, sizeof(e->name), "%s", conn->name != NULL ? conn->name : "");
    e->older = slowlog.newest;
    if (slowlog.newest != NULL)
        slowlog.newest->newer = e;
    else
        slowlog.oldest = e;
    slowlog.newest = e;
    slowlog.len++;
    slowlog_trim(max);
}

static void slowlog_get(node_client_t *c)
{
    long long count = SLOW_GET_DEFAULT;
    const slow_entry_t *e;
    long n, i;
    int a;

    if (c->argc == 3 && (rc_string2ll(c->argv[2].ptr, c->argv[2].len, &count) != 0 || count < -1)) {
        node_reply_error(c, "ERR count should be greater than or equal to -1");
        return;
    }
    if (count == -1 || count > slowlog.len)
        count = slowlog.len;
    n = (long)count;
    node_reply_array(c, n);
    for (e = slowlog.newest, i = 0; i < n; e = e->older, i++) {
        node_reply_array(c, 6);
        node_reply_int(c, (long long)e->id);
        node_reply_int(c, (long long)e->time_s);
        node_reply_int(c, (long long)e->usec);
        node_reply_array(c, e->argc);
        for (a = 0; a < e->argc; a++)
            node_reply_bulk(c, e->argv[a].len > 0 ? e->argv[a].data : "", e->argv[a].len);
        node_reply_bulk_cstr(c, e->addr);
        node_reply_bulk_cstr(c, e->name);
    }
}

static const char *const slowlog_help[] = {
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
};

static void cmd_slowlog(node_client_t *c)
{
    const resp_arg_t *sub = &c->argv[1];

    if (resp_arg_is(sub, "get")) {
        if (c->argc > 3)
            node_reply_errorf(
                c,
                "ERR unknown subcommand or wrong number of arguments for '%.128s'. Try SLOWLOG HELP.",
                sub->ptr);
        else
            slowlog_get(c);
    } else if (resp_arg_is(sub, "len")) {
        if (node_cmd__sub_arity_ok(c, "slowlog|len", 2))
            node_reply_int(c, slowlog.len);
    } else if (resp_arg_is(sub, "reset")) {
        if (node_cmd__sub_arity_ok(c, "slowlog|reset", 2)) {
            slowlog_trim(0);
            node_reply_ok(c);
        }
    } else if (resp_arg_is(sub, "help")) {
        if (node_cmd__sub_arity_ok(c, "slowlog|help", 2))
            node_cmd__reply_help(c, slowlog_help, RC_ARRAY_SIZE(slowlog_help));
    } else {
        node_reply_errorf(c, "ERR unknown subcommand '%.128s'. Try SLOWLOG HELP.", sub->ptr);
    }
}

/* --- latency monitor ------------------------------------------------------- */

typedef struct lat_sample_s {
    int64_t time_s; /* 0: unused */
    uint64_t ms;
} lat_sample_t;

typedef struct lat_event_s {
    char name[LAT_NAME_MAX];
    int used;
    int idx; /* where the next sample goes */
    uint64_t max;
    lat_sample_t samples[LAT_SAMPLES];
} lat_event_t;

static lat_event_t events[LAT_EVENTS];

static lat_event_t *lat_find(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < LAT_EVENTS; i++) {
        if (events[i].used && strlen(events[i].name) == len &&
            memcmp(events[i].name, name, len) == 0)
            return &events[i];
    }
    return NULL;
}

void node_cmd__latency_add(node_server_t *server, const char *event, uint64_t ms)
{
    lat_event_t *ev = lat_find(event, strlen(event));
    int64_t now_s = server->now_ms / 1000;
    int prev;
    size_t i;

    if (ev == NULL) {
        for (i = 0; i < LAT_EVENTS && events[i].used; i++)
            ;
        if (i == LAT_EVENTS)
            return; /* a wiring bug would be the only cause: names are static */
        ev = &events[i];
        memset(ev, 0, sizeof(*ev));
        snprintf(ev->name, sizeof(ev->name), "%s", event);
        ev->used = 1;
    }
    if (ms > ev->max)
        ev->max = ms;
    /* One sample per second: the worst one. */
    prev = (ev->idx + LAT_SAMPLES - 1) % LAT_SAMPLES;
    if (ev->samples[prev].time_s == now_s) {
        if (ms > ev->samples[prev].ms)
            ev->samples[prev].ms = ms;
        return;
    }
    ev->samples[ev->idx].time_s = now_s;
    ev->samples[ev->idx].ms = ms;
    ev->idx = (ev->idx + 1) % LAT_SAMPLES;
}

void node_cmd__latency_free(void)
{
    memset(events, 0, sizeof(events));
}

static void latency_latest(node_client_t *c)
{
    size_t i, n = 0;

    for (i = 0; i < LAT_EVENTS; i++)
        n += events[i].used != 0;
    node_reply_array(c, (long)n);
    for (i = 0; i < LAT_EVENTS; i++) {
        const lat_event_t *ev = &events[i];
        const lat_sample_t *last = &ev->samples[(ev->idx + LAT_SAMPLES - 1) % LAT_SAMPLES];

        if (!ev->used)
            continue;
        node_reply_array(c, 4);
        node_reply_bulk_cstr(c, ev->name);
        node_reply_int(c, (long long)last->time_s);
        node_reply_int(c, (long long)last->ms);
        node_reply_int(c, (long long)ev->max);
    }
}

static void latency_history(node_client_t *c)
{
    const lat_event_t *ev = lat_find(c->argv[2].ptr, c->argv[2].len);
    int i, n = 0;

    if (ev == NULL) {
        node_reply_array(c, 0);
        return;
    }
    for (i = 0; i < LAT_SAMPLES; i++)
        n += ev->samples[i].time_s != 0;
    node_reply_array(c, n);
    for (i = 0; i < LAT_SAMPLES; i++) {
        const lat_sample_t *s = &ev->samples[(ev->idx + i) % LAT_SAMPLES]; /* oldest first */

        if (s->time_s == 0)
            continue;
        node_reply_array(c, 2);
        node_reply_int(c, (long long)s->time_s);
        node_reply_int(c, (long long)s->ms);
    }
}

static void latency_reset(node_client_t *c)
{
    long long n = 0;
    size_t i;
    int a;

    if (c->argc == 2) {
        for (i = 0; i < LAT_EVENTS; i++) {
            n += events[i].used != 0;
            events[i].used = 0;
        }
    } else {
        for (a = 2; a < c->argc; a++) {
            lat_event_t *ev = lat_find(c->argv[a].ptr, c->argv[a].len);

            if (ev != NULL) {
                ev->used = 0;
                n++;
            }
        }
    }
    node_reply_int(c, n);
}

/* A short report of our own (Redis's DOCTOR text is its own). */
static void latency_doctor(node_client_t *c)
{
    long threshold = c->server->config.latency_monitor_threshold;
    rc_buf_t t = {0};
    size_t i, n = 0;

    if (threshold == 0) {
        rc_buf_printf(&t, "Latency monitoring is disabled on this node. Enable it with "
                          "\"CONFIG SET latency-monitor-threshold <milliseconds>\".\n");
    } else {
        for (i = 0; i < LAT_EVENTS; i++) {
            const lat_event_t *ev = &events[i];
            uint64_t sum = 0;
            int k, samples = 0;

            if (!ev->used)
                continue;
            for (k = 0; k < LAT_SAMPLES; k++) {
                if (ev->samples[k].time_s != 0) {
                    sum += ev->samples[k].ms;
                    samples++;
                }
            }
            n++;
            rc_buf_printf(&t,
                          "%zu. %s: %d latency spikes (average %" PRIu64 "ms, worst %" PRIu64
                          "ms) at or above the %ldms threshold.\n",
                          n, ev->name, samples, samples > 0 ? sum / (uint64_t)samples : 0, ev->max,
                          threshold);
        }
        if (n == 0)
            rc_buf_printf(&t, "No latency spike at or above %ldms was recorded on this node.\n",
                          threshold);
        else
            rc_buf_printf(&t, "Look at SLOWLOG GET for the commands involved.\n");
    }
    node_reply_verbatim(c, t.data, t.len);
    rc_buf_free(&t);
}

/* One command's cumulative distribution, as Redis 7 gives it: buckets of
 * powers of two from 1024 ns, keyed by their bound in us, each with the
 * calls at or below it, the empty ones left out. Our buckets' bounds
 * include every power of two, so the sums are exact. */
static void reply_histogram(node_client_t *c, const node_cmd_stats_view_t *v)
{
    uint64_t cum = 0, prev = 0;
    size_t i = 0;
    long n = 0;
    int k;

    node_reply_bulk_cstr(c, v->name);
    node_reply_map(c, 2);
    node_reply_bulk_cstr(c, "calls");
    node_reply_int(c, (long long)v->calls);
    node_reply_bulk_cstr(c, "histogram_usec");
    /* RESP3 needs the map's size first: count, then reply. */
    for (k = 10; k <= 64 && cum < v->hist_count; k++) {
        uint64_t bound = k < 64 ? 1ULL << k : UINT64_MAX;

        while (i < NODE_CMD_STATS_NBUCKETS && node_cmd_stats_bucket_bound_ns(i) <= bound)
            cum += v->buckets[i++];
        if (cum > prev)
            n++;
        prev = cum;
    }
    node_reply_map(c, n);
    cum = prev = 0;
    i = 0;
    for (k = 10; k <= 64 && cum < v->hist_count; k++) {
        uint64_t bound = k < 64 ? 1ULL << k : UINT64_MAX;

        while (i < NODE_CMD_STATS_NBUCKETS && node_cmd_stats_bucket_bound_ns(i) <= bound)
            cum += v->buckets[i++];
        if (cum > prev) {
            node_reply_int(c, (long long)((bound + 500) / 1000));
            node_reply_int(c, (long long)cum);
        }
        prev = cum;
    }
}

static int has_histogram(const node_cmd_stats_view_t *v)
{
    return v->calls > 0 && v->hist_count > 0;
}

static void latency_histogram(node_client_t *c)
{
    node_cmd_stats_view_t v;
    size_t iter = 0;
    long n = 0;
    int a;

    if (c->argc == 2) {
        while (node_cmd_stats_next(&iter, &v))
            n += has_histogram(&v);
        node_reply_map(c, n);
        iter = 0;
        while (node_cmd_stats_next(&iter, &v)) {
            if (has_histogram(&v))
                reply_histogram(c, &v);
        }
        return;
    }
    /* Named commands, in order (a name given twice is replied twice, as
     * Redis does); unknown or idle ones are left out. */
    for (a = 2; a < c->argc; a++) {
        const node_cmd_t *cmd = node_cmd_lookup(c->argv[a].ptr, c->argv[a].len);

        if (cmd != NULL && node_cmd_stats_find(cmd->name, &v) && has_histogram(&v))
            n++;
    }
    node_reply_map(c, n);
    for (a = 2; a < c->argc; a++) {
        const node_cmd_t *cmd = node_cmd_lookup(c->argv[a].ptr, c->argv[a].len);

        if (cmd != NULL && node_cmd_stats_find(cmd->name, &v) && has_histogram(&v))
            reply_histogram(c, &v);
    }
}

static const char *const latency_help[] = {
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
};

static void cmd_latency(node_client_t *c)
{
    const resp_arg_t *sub = &c->argv[1];

    if (resp_arg_is(sub, "latest")) {
        if (node_cmd__sub_arity_ok(c, "latency|latest", 2))
            latency_latest(c);
    } else if (resp_arg_is(sub, "history")) {
        if (node_cmd__sub_arity_ok(c, "latency|history", 3))
            latency_history(c);
    } else if (resp_arg_is(sub, "reset")) {
        latency_reset(c);
    } else if (resp_arg_is(sub, "histogram")) {
        latency_histogram(c);
    } else if (resp_arg_is(sub, "doctor")) {
        if (node_cmd__sub_arity_ok(c, "latency|doctor", 2))
            latency_doctor(c);
    } else if (resp_arg_is(sub, "help")) {
        if (node_cmd__sub_arity_ok(c, "latency|help", 2))
            node_cmd__reply_help(c, latency_help, RC_ARRAY_SIZE(latency_help));
    } else {
        node_reply_errorf(c, "ERR unknown subcommand '%.128s'. Try LATENCY HELP.", sub->ptr);
    }
}

const node_cmd_t node_cmds_observe[] = {
    {"slowlog", cmd_slowlog, -2, NODE_CMD_ADMIN | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0,
     "server", "A container for slow log commands"},
    {"latency", cmd_latency, -2,
     NODE_CMD_ADMIN | NODE_CMD_NOSCRIPT | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0, "server",
     "A container for latency diagnostics commands"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
