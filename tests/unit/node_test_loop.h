/* tests/unit/node_test_loop.h: helpers for unit tests that run node/ modules
 * on a real libuv loop: run the loop until a condition holds (with a
 * watchdog, so a broken test fails instead of hanging), a libuv client in
 * the same loop, and port helpers. The one rule: only libuv and the C
 * library here, so every module's test can use it whatever it links. */
#ifndef RC_TESTS_UNIT_NODE_TEST_LOOP_H
#define RC_TESTS_UNIT_NODE_TEST_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

enum test_loop_limit_e {
    TEST_LOOP_TIMEOUT_MS = 10000, /* generous: the machine is shared */
};

/* Runs 'loop' one iteration at a time until 'cond'('arg') is true or
 * 'timeout_ms' passed. Returns 1 when the condition held, 0 on timeout or
 * when the loop ran out first. 'cond' NULL: runs until the loop is no
 * longer alive. */
int test_loop_run_until(uv_loop_t *loop, int (*cond)(void *), void *arg, uint64_t timeout_ms);
/* Runs until nothing keeps 'loop' alive (every handle closed). Returns 1,
 * or 0 when that did not happen within TEST_LOOP_TIMEOUT_MS. */
int test_loop_drain(uv_loop_t *loop);
/* Runs at least 'n' more loop iterations (a timer wakes each), for checks
 * that something did NOT happen. */
void test_loop_iterations(uv_loop_t *loop, int n);

/* The port a bound TCP handle listens on, or -1. */
int test_loop_bound_port(const uv_tcp_t *tcp);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int test_loop_free_port(void);
/* The same, other than 'taken' (a port bound since, which the kernel may
 * have handed out again: a node's bus port picked before its client port
 * was bound to port 0 can be that very port). */
int test_loop_free_port_but(int taken);

/* A client connection on the test's loop. Allocate it zeroed; every
 * counter is for the test to check. */
typedef struct test_client_s {
    uv_tcp_t tcp;
    uv_connect_t connect;
    int connect_status; /* valid once nconnect == 1 */
    int nconnect;       /* connect callbacks */
    int nclose;         /* close callbacks */
    int nwrites;        /* write callbacks */
    int eof;            /* the peer closed (or a read error) */
    int reading;
    int closing;
    char *in; /* bytes received */
    size_t in_len;
    size_t in_cap;
} test_client_t;

/* Connects 'c' to 127.0.0.1:'port'; reads start once connected unless
 * 'no_read'. Returns 0 or a libuv error. */
int test_client_connect(test_client_t *c, uv_loop_t *loop, int port, int no_read);
/* Starts reading (for a client created with 'no_read'). */
void test_client_read_start(test_client_t *c);
/* Writes a copy of 'len' bytes of 'data'. */
void test_client_send(test_client_t *c, const void *data, size_t len);
void test_client_send_str(test_client_t *c, const char *s);
/* Closes 'c' (once); 'nclose' counts the callback. */
void test_client_close(test_client_t *c);
/* Frees the input buffer (after the close callback). */
void test_client_free(test_client_t *c);
/* 1 when the bytes received so far are exactly 's'. */
int test_client_got(const test_client_t *c, const char *s);

#endif /* RC_TESTS_UNIT_NODE_TEST_LOOP_H */
