/* tests/unit/ring_redis_test.c: ring_keyslot() against a real redis-server
 * (cluster-enabled) on a free port: thousands of random binary keys, many
 * with braces, must get the slot CLUSTER KEYSLOT gives. The server is ours:
 * started here, waited for (no fixed sleep), stopped by PID and reaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "ring/ring.h"

enum {
    NKEYS = 5000,
    MAX_KEY = 40,
    READY_TIMEOUT_MS = 10000,
};

typedef struct server_s {
    pid_t pid;
    int port;
    char dir[64];
    redisContext *c;
} server_t;

static char *find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    static char full[4096];

    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t len = strcspn(path, ":");

        snprintf(full, sizeof(full), "%.*s/%s", (int)len, path, name);
        if (access(full, X_OK) == 0)
            return full;
        path += len;
        if (*path == ':')
            path++;
    }
    return NULL;
}

static int port_is_free(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    assert_true(fd >= 0);
    a.sin_port = htons((uint16_t)port);
    ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* A port that was free a moment ago, as was port+10000 (Redis Cluster's bus
 * port). Chosen at random in [20000, 55535]: a cluster-enabled redis-server
 * refuses a higher port, and the kernel's ephemeral range may lie above
 * 55535, so asking the kernel for a port does not do. */
static int free_port(void)
{
    static unsigned seed;

    if (seed == 0)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    for (int i = 0; i < 1000; i++) {
        int port = 20000 + (int)(rand_r(&seed) % (55535 - 20000 + 1));

        if (port_is_free(port) && port_is_free(port + 10000))
            return port;
    }
    fail_msg("no free port pair found in [20000, 55535]");
    return -1;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void print_log(const server_t *s)
{
    char path[128], buf[2048];
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "%s/redis.log", s->dir);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    print_message("redis-server log:\n%s\n", buf);
}

/* Is the server answering on s->port ours (not a stranger that won a race
 * for the port)? */
static int is_ours(server_t *s, redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO server");
    char want[32];
    int ours;

    snprintf(want, sizeof(want), "process_id:%d\r", (int)s->pid);
    ours = r != NULL && r->type == REDIS_REPLY_STRING && strstr(r->str, want) != NULL;
    freeReplyObject(r);
    return ours;
}

/* Starts redis-server on a free port and waits until it answers. Returns
 * 0, or -1 if it exited (say, the port was taken meanwhile). */
static int start_server(server_t *s, const char *exe)
{
    char port[16], conf[128], log[128];
    long deadline;

    snprintf(s->dir, sizeof(s->dir), "/tmp/ring_redis_test.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    s->port = free_port();
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(conf, sizeof(conf), "%s/nodes.conf", s->dir);
    snprintf(log, sizeof(log), "%s/redis.log", s->dir);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(exe, exe, "--port", port, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
              "--cluster-config-file", conf, "--save", "", "--appendonly", "no", "--dir", s->dir,
              (char *)NULL);
        _exit(127);
    }
    /* Wait until it answers PING, or fail. */
    deadline = now_ms() + READY_TIMEOUT_MS;
    for (;;) {
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", s->port, tv);

        if (c != NULL && c->err == 0) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;

            freeReplyObject(r);
            if (ok && is_ours(s, c)) {
                s->c = c;
                return 0;
            }
        }
        redisFree(c);
        if (waitpid(s->pid, NULL, WNOHANG) != 0) {
            s->pid = 0; /* reaped: never signal that PID again */
            print_log(s);
            return -1;
        }
        if (now_ms() > deadline)
            fail_msg("redis-server on port %d not ready after %d ms", s->port, READY_TIMEOUT_MS);
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL); /* poll interval, not a wait for an outcome */
    }
}

static void stop_server(server_t *s)
{
    char path[128];
    int status;

    if (s->dir[0] == '\0')
        return; /* never started */
    redisFree(s->c);
    s->c = NULL;
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        s->pid = 0;
    }
    snprintf(path, sizeof(path), "%s/nodes.conf", s->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/redis.log", s->dir);
    unlink(path);
    rmdir(s->dir);
    s->dir[0] = '\0';
}

/* Runs even when an assertion fails mid-test: the server never outlives us. */
static int teardown(void **state)
{
    stop_server(*state);
    return 0;
}

/* Deterministic random keys: bytes from a small alphabet rich in braces and
 * NULs, so hash tags of every shape occur. */
static size_t make_key(uint64_t *seed, unsigned char *key)
{
    static const unsigned char alphabet[] = {'{', '}', '{', '}', 'a', 'b', 'z', '0', '\0', 0xff};
    size_t len;

    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    len = (size_t)(*seed >> 33) % (MAX_KEY + 1);
    for (size_t i = 0; i < len; i++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((*seed >> 60) < 8)
            key[i] = alphabet[(*seed >> 40) % sizeof(alphabet)];
        else
            key[i] = (unsigned char)(*seed >> 40);
    }
    return len;
}

static void test_keyslot_agrees_with_redis_cluster_keyslot(void **state)
{
    static unsigned char keys[NKEYS][MAX_KEY];
    static size_t lens[NKEYS];
    const char *exe = find_in_path("redis-server");
    server_t *s = *state;
    uint64_t seed = 42;
    int tagged = 0;

    /* A missing redis-server fails the test: a skip would pass silently.
     * scripts/setup.sh installs it. */
    if (exe == NULL)
        fail_msg("redis-server is not installed (PATH): run scripts/setup.sh");
    for (int attempt = 0; start_server(s, exe) != 0; attempt++) {
        stop_server(s);
        if (attempt == 2)
            fail_msg("redis-server did not start (3 attempts)");
    }
    for (int i = 0; i < NKEYS; i++) {
        lens[i] = make_key(&seed, keys[i]);
        assert_int_equal(redisAppendCommand(s->c, "CLUSTER KEYSLOT %b", keys[i], lens[i]),
                         REDIS_OK);
    }
    for (int i = 0; i < NKEYS; i++) {
        redisReply *r = NULL;

        assert_int_equal(redisGetReply(s->c, (void **)&r), REDIS_OK);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        if (r->integer != ring_keyslot(keys[i], lens[i]))
            fail_msg("key %d (%zu bytes): redis says %lld, ring says %u", i, lens[i], r->integer,
                     ring_keyslot(keys[i], lens[i]));
        tagged += ring_keyslot(keys[i], lens[i]) != (ring_crc16(keys[i], lens[i]) & 16383);
        freeReplyObject(r);
    }
    stop_server(s);
    assert_true(tagged > NKEYS / 10); /* the hash-tag path was exercised */
}

static server_t server;

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_keyslot_agrees_with_redis_cluster_keyslot,
                                                 NULL, teardown, &server),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
