/* bench/lat_probe.c: one client, one request at a time, timed to the
 * nanosecond. redis-benchmark records latencies in a histogram whose
 * finest step here is 8 us (its lowest trackable value is 10 us, at two
 * significant digits), so a p50 it prints moves in 8 us steps: too coarse
 * for "a write at R=1 costs at most one extra round trip" when the round
 * trip is 20-40 us. This tool sends SET (or PING) to one node over one
 * connection, each request only after the reply to the one before, and
 * prints the p50, p99, mean and min of the round trips it timed.
 *
 * SET keys are "key:%012ld" drawn at random below -r, keeping only keys
 * whose slot the node is primary of (its CLUSTER SLOTS), so every request
 * runs on that node, as `redis-benchmark --cluster` sends it: no forward
 * (with -f, only keys of other nodes' slots: each SET is forwarded, one
 * node-to-node round trip, the hop a replicated write makes too).
 *
 * The one rule: every figure is a request's own round trip, from before its
 * write to after its reply's last byte, read with CLOCK_MONOTONIC. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "ring/ring.h"

enum {
    VALUE_MAX = 4096,
    REPLY_MAX = 512,
};

typedef struct opts_s {
    const char *host;
    int port;
    int ping;    /* -t ping instead of set */
    int foreign; /* -f: keys of slots the node is not primary of (forwarded) */
    long n;
    long warmup;
    long range;
    int size;
} opts_t;

/* xorshift64*: the keys' order (seeded from the clock) */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int usage(void)
{
    fprintf(stderr, "usage: lat-probe [-h host] -p port [-t set|ping] [-n requests] [-w warmup]\n"
                    "                 [-r keyrange] [-d valuesize] [-f]\n"
                    "  -f: SET keys of slots the node is not primary of (it forwards them)\n");
    return 2;
}

static int parse(opts_t *o, int argc, char **argv)
{
    int i;

    *o = (opts_t){"127.0.0.1", 0, 0, 0, 20000, 2000, 100000, 16};
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        long x = 0;

        if (strcmp(a, "-f") == 0) {
            o->foreign = 1;
            continue;
        }
        if (v == NULL)
            return -1;
        i++;
        if (strcmp(a, "-h") == 0) {
            o->host = v;
            continue;
        }
        if (strcmp(a, "-t") == 0) {
            if (strcmp(v, "set") != 0 && strcmp(v, "ping") != 0)
                return -1;
            o->ping = strcmp(v, "ping") == 0;
            continue;
        }
        errno = 0;
        x = strtol(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0' || x < 0)
            return -1;
        if (strcmp(a, "-p") == 0 && x > 0 && x < 65536)
            o->port = (int)x;
        else if (strcmp(a, "-n") == 0 && x > 0 && x <= 100000000)
            o->n = x;
        else if (strcmp(a, "-w") == 0 && x <= 100000000)
            o->warmup = x;
        else if (strcmp(a, "-r") == 0 && x > 0 && x <= 1000000000000L)
            o->range = x;
        else if (strcmp(a, "-d") == 0 && x <= VALUE_MAX)
            o->size = (int)x;
        else
            return -1;
    }
    return o->port == 0 ? -1 : 0;
}

/* Marks in 'own' the slots whose primary (first node of a CLUSTER SLOTS
 * range) listens on 'port'. Returns how many, or -1. */
static int own_slots(redisContext *c, int port, uint8_t *own)
{
    redisReply *r = redisCommand(c, "CLUSTER SLOTS");
    int count = 0;
    size_t i;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "lat-probe: CLUSTER SLOTS: %s\n",
                r == NULL                      ? c->errstr
                : r->type == REDIS_REPLY_ERROR ? r->str
                                               : "not an array");
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    for (i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        long long s;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->element[1]->integer != port)
            continue;
        for (s = e->element[0]->integer < 0 ? 0 : e->element[0]->integer;
             s <= e->element[1]->integer && s < RING_SLOTS; s++) {
            if (!own[s]) {
                own[s] = 1;
                count++;
            }
        }
    }
    freeReplyObject(r);
    return count;
}

/* Writes the request for the next key (SET) or PING into 'buf'. */
static size_t next_request(const opts_t *o, const uint8_t *own, char *buf, size_t cap)
{
    char key[32];
    int klen, n;

    if (o->ping)
        return (size_t)snprintf(buf, cap, "*1\r\n$4\r\nPING\r\n");
    do {
        long k = (long)(rng_next() % (uint64_t)o->range);

        klen = snprintf(key, sizeof(key), "key:%012ld", k);
    } while (own[ring_keyslot(key, (size_t)klen)] == o->foreign);
    n = snprintf(buf, cap, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", klen, key, o->size);
    memset(buf + n, 'x', (size_t)o->size);
    memcpy(buf + n + o->size, "\r\n", 2);
    return (size_t)n + (size_t)o->size + 2;
}

/* One request's round trip in ns, or -1 (a broken connection, a timeout,
 * or a reply other than a status). */
static int64_t round_trip(int fd, const char *req, size_t len)
{
    char reply[REPLY_MAX];
    size_t got = 0, off = 0;
    int64_t t0 = now_ns();

    while (off < len) {
        ssize_t w = write(fd, req + off, len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    for (;;) {
        ssize_t r = read(fd, reply + got, sizeof(reply) - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
        if (got >= 2 && reply[got - 2] == '\r' && reply[got - 1] == '\n')
            break;
        if (got == sizeof(reply))
            return -1;
    }
    if (reply[0] != '+') {
        fprintf(stderr, "lat-probe: reply %.*s", (int)got, reply);
        return -1;
    }
    return now_ns() - t0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    static uint8_t own[RING_SLOTS];
    static char req[VALUE_MAX + 128];
    struct timeval tv = {5, 0};
    redisContext *c;
    int64_t *t;
    double sum = 0;
    opts_t o;
    long i;

    if (parse(&o, argc, argv) != 0)
        return usage();
    c = redisConnect(o.host, o.port);
    if (c == NULL || c->err) {
        fprintf(stderr, "lat-probe: connect %s:%d: %s\n", o.host, o.port,
                c != NULL ? c->errstr : "out of memory");
        return 1;
    }
    if (!o.ping && own_slots(c, o.port, own) <= 0) {
        fprintf(stderr, "lat-probe: %s:%d is primary of no slot\n", o.host, o.port);
        return 1;
    }
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    t = calloc((size_t)o.n, sizeof(*t));
    if (t == NULL)
        return 1;
    rng_state = (uint64_t)now_ns() | 1;
    for (i = -o.warmup; i < o.n; i++) {
        size_t len = next_request(&o, own, req, sizeof(req));
        int64_t ns = round_trip(c->fd, req, len);

        if (ns < 0) {
            fprintf(stderr, "lat-probe: request %ld failed\n", i + o.warmup);
            return 1;
        }
        if (i >= 0) {
            t[i] = ns;
            sum += (double)ns;
        }
    }
    qsort(t, (size_t)o.n, sizeof(*t), cmp_i64);
    printf("p50_us=%.2f p99_us=%.2f mean_us=%.2f min_us=%.2f n=%ld\n", (double)t[o.n / 2] / 1e3,
           (double)t[o.n * 99 / 100] / 1e3, sum / (double)o.n / 1e3, (double)t[0] / 1e3, o.n);
    free(t);
    redisFree(c);
    return 0;
}
