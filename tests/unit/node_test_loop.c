/* tests/unit/node_test_loop.c: see node_test_loop.h. The one rule: every
 * handle opened here is closed before the function that opened it returns,
 * or belongs to a test_client_t the test closes. */
#include "tests/unit/node_test_loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct watchdog_s {
    uv_timer_t timer;
    int fired;
} watchdog_t;

static void on_watchdog(uv_timer_t *t)
{
    watchdog_t *w = t->data;

    w->fired = 1;
}

static void on_watchdog_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The watchdog is on the heap and freed by its close callback, so this
 * returns as soon as the condition holds: no extra loop iteration runs
 * callbacks the test has not looked at yet. */
int test_loop_run_until(uv_loop_t *loop, int (*cond)(void *), void *arg, uint64_t timeout_ms)
{
    watchdog_t *w = calloc(1, sizeof(*w));
    int ok = 0, alive = 1;

    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_watchdog, timeout_ms, 0);
    uv_unref((uv_handle_t *)&w->timer); /* it must not keep the loop alive */
    for (;;) {
        if (cond != NULL ? cond(arg) : !alive) {
            ok = 1;
            break;
        }
        if (w->fired || (!alive && cond != NULL))
            break;
        alive = uv_run(loop, UV_RUN_ONCE) != 0 || uv_loop_alive(loop);
    }
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_watchdog_closed);
    if (cond == NULL) {
        while (uv_loop_alive(loop)) /* only the watchdog's close is left */
            uv_run(loop, UV_RUN_NOWAIT);
    }
    return ok;
}

int test_loop_drain(uv_loop_t *loop)
{
    return test_loop_run_until(loop, NULL, NULL, TEST_LOOP_TIMEOUT_MS);
}

typedef struct ticker_s {
    uv_timer_t timer;
    int left;
} ticker_t;

static void on_tick(uv_timer_t *t)
{
    ticker_t *k = t->data;

    if (k->left > 0)
        k->left--;
}

static int ticks_done(void *arg)
{
    const ticker_t *k = arg;

    return k->left == 0;
}

static void on_ticker_closed(uv_handle_t *h)
{
    free(h->data);
}

void test_loop_iterations(uv_loop_t *loop, int n)
{
    ticker_t *k = calloc(1, sizeof(*k));

    k->left = n;
    uv_timer_init(loop, &k->timer);
    k->timer.data = k;
    uv_timer_start(&k->timer, on_tick, 5, 5);
    (void)test_loop_run_until(loop, ticks_done, k, TEST_LOOP_TIMEOUT_MS);
    uv_timer_stop(&k->timer);
    uv_close((uv_handle_t *)&k->timer, on_ticker_closed);
}

int test_loop_bound_port(const uv_tcp_t *tcp)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (uv_tcp_getsockname(tcp, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
    return -1;
}

int test_loop_free_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

int test_loop_free_port_but(int taken)
{
    int port;

    do {
        port = test_loop_free_port();
    } while (port == taken);
    return port;
}

/* ---- client ---- */

typedef struct client_write_s {
    uv_write_t req;
    test_client_t *c;
    char data[];
} client_write_t;

static void on_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    test_client_t *c = h->data;

    (void)suggested;
    if (c->in_cap - c->in_len < 65536) {
        c->in_cap = c->in_cap * 2 + 65536;
        c->in = realloc(c->in, c->in_cap);
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    test_client_t *c = s->data;

    (void)buf;
    if (nread > 0)
        c->in_len += (size_t)nread;
    else if (nread < 0)
        c->eof = 1;
    if (nread < 0 && c->reading) {
        uv_read_stop(s);
        c->reading = 0;
    }
}

void test_client_read_start(test_client_t *c)
{
    if (c->reading || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_client_alloc, on_client_read) == 0)
        c->reading = 1;
}

static void on_client_connect(uv_connect_t *req, int status)
{
    test_client_t *c = req->data;

    c->nconnect++;
    c->connect_status = status;
    if (status == 0 && c->reading == -1) {
        c->reading = 0;
        return; /* no_read */
    }
    c->reading = 0;
    if (status == 0)
        test_client_read_start(c);
}

int test_client_connect(test_client_t *c, uv_loop_t *loop, int port, int no_read)
{
    struct sockaddr_in sin;
    int err;

    uv_ip4_addr("127.0.0.1", port, &sin);
    err = uv_tcp_init(loop, &c->tcp);
    if (err != 0)
        return err;
    c->tcp.data = c;
    c->connect.data = c;
    c->reading = no_read ? -1 : 0;
    return uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&sin, on_client_connect);
}

static void on_client_write(uv_write_t *req, int status)
{
    client_write_t *w = (client_write_t *)(void *)req;

    (void)status;
    w->c->nwrites++;
    free(w);
}

void test_client_send(test_client_t *c, const void *data, size_t len)
{
    client_write_t *w = malloc(sizeof(*w) + len);
    uv_buf_t buf;

    memcpy(w->data, data, len);
    w->c = c;
    buf = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_client_write) != 0)
        free(w);
}

void test_client_send_str(test_client_t *c, const char *s)
{
    test_client_send(c, s, strlen(s));
}

static void on_client_closed(uv_handle_t *h)
{
    test_client_t *c = h->data;

    c->nclose++;
}

void test_client_close(test_client_t *c)
{
    if (c->closing || c->tcp.loop == NULL)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

void test_client_free(test_client_t *c)
{
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

int test_client_got(const test_client_t *c, const char *s)
{
    size_t n = strlen(s);

    return c->in_len == n && memcmp(c->in, s, n) == 0;
}
