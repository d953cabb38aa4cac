/* tests/unit/node_notify_test.c: systemd's notify protocol (node_notify.c)
 * against a real AF_UNIX datagram socket: path and abstract addresses, bad
 * addresses refused, READY=1 and STOPPING=1 once, STATUS= throttled with
 * the latest text winning, a missing socket harmless. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/rc.h"
#include "node/core/node_notify.h"

typedef struct manager_s {
    char dir[64];
    char path[128];
    int fd;
} manager_t;

/* A bound datagram socket at a path in a fresh temp dir, or at an abstract
 * name ('abstract'); 'name' gets what NOTIFY_SOCKET would hold. */
static void manager_open(manager_t *m, int abstract, char *name, size_t cap)
{
    struct sockaddr_un a;
    socklen_t len;

    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    m->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(m->fd >= 0);
    m->dir[0] = '\0';
    if (abstract) {
        snprintf(name, cap, "@rc-notify-test-%d", (int)getpid());
        memcpy(a.sun_path + 1, name + 1, strlen(name) - 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    } else {
        snprintf(m->dir, sizeof(m->dir), "/tmp/rc-notify-XXXXXX");
        assert_non_null(mkdtemp(m->dir));
        snprintf(m->path, sizeof(m->path), "%s/notify.sock", m->dir);
        snprintf(name, cap, "%s", m->path);
        memcpy(a.sun_path, m->path, strlen(m->path));
        len = (socklen_t)sizeof(a);
    }
    assert_int_equal(bind(m->fd, (struct sockaddr *)&a, len), 0);
}

static void manager_close(manager_t *m)
{
    close(m->fd);
    if (m->dir[0] != '\0') {
        unlink(m->path);
        rmdir(m->dir);
    }
}

/* The next datagram as a string, or "" when none is waiting. */
static const char *next(manager_t *m)
{
    static char buf[512];
    ssize_t n = recv(m->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

    if (n < 0) {
        assert_int_equal(errno, EAGAIN);
        n = 0;
    }
    buf[n] = '\0';
    return buf;
}

static void test_notify_unset_or_bad_address_is_null(void **state)
{
    char longname[200];

    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_null(node_notify_create());
    setenv("NOTIFY_SOCKET", "", 1);
    assert_null(node_notify_create());
    setenv("NOTIFY_SOCKET", "relative/notify.sock", 1);
    assert_null(node_notify_create());
    unsetenv("NOTIFY_SOCKET");
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    assert_null(node_notify_create_for(longname));
    assert_null(node_notify_create_for("@"));
    /* NULL is a no-op everywhere. */
    assert_int_equal(node_notify_send(NULL, "READY=1\n"), 0);
    node_notify_update(NULL, 0, NODE_NOTIFY_SERVING, "serving", 0);
    assert_false(node_notify_ready_sent(NULL));
    node_notify_destroy(NULL);
}

static void test_notify_sends_to_a_path_and_an_abstract_socket(void **state)
{
    char name[128];
    manager_t m;
    node_notify_t *n;
    int abstract;

    (void)state;
    for (abstract = 0; abstract <= 1; abstract++) {
        manager_open(&m, abstract, name, sizeof(name));
        setenv("NOTIFY_SOCKET", name, 1);
        n = node_notify_create();
        unsetenv("NOTIFY_SOCKET");
        assert_non_null(n);
        assert_int_equal(node_notify_send(n, "STATUS=hello\n"), 0);
        assert_string_equal(next(&m), "STATUS=hello\n");
        node_notify_destroy(n);
        manager_close(&m);
    }
}

static void test_notify_ready_and_stopping_once_status_throttled(void **state)
{
    char name[128];
    manager_t m;
    node_notify_t *n;

    (void)state;
    manager_open(&m, 0, name, sizeof(name));
    n = node_notify_create_for(name);
    assert_non_null(n);
    node_notify_update(n, 1000, NODE_NOTIFY_STARTING, "joining: x", 0);
    assert_string_equal(next(&m), "STATUS=joining: x\n");
    /* Same text: nothing. New text too soon: kept for later. */
    node_notify_update(n, 1010, NODE_NOTIFY_STARTING, "joining: x", 0);
    node_notify_update(n, 1020, NODE_NOTIFY_FILLING, "filling: 1", 0);
    node_notify_update(n, 1030, NODE_NOTIFY_FILLING, "filling: 2", 0);
    assert_string_equal(next(&m), "");
    node_notify_update(n, 1000 + NODE_NOTIFY_STATUS_MS, NODE_NOTIFY_FILLING, "filling: 3", 0);
    assert_string_equal(next(&m), "STATUS=filling: 3\n");
    /* READY is never delayed, and carries the status. */
    assert_false(node_notify_ready_sent(n));
    node_notify_update(n, 1000 + NODE_NOTIFY_STATUS_MS + 1, NODE_NOTIFY_SERVING, "serving: 9", 0);
    assert_string_equal(next(&m), "READY=1\nSTATUS=serving: 9\n");
    assert_true(node_notify_ready_sent(n));
    node_notify_update(n, 5000, NODE_NOTIFY_SERVING, "serving: 9", 0);
    node_notify_update(n, 5000, NODE_NOTIFY_DEGRADED, "serving: 9", 0);
    node_notify_update(n, 5000, NODE_NOTIFY_SERVING, "serving: 9", 0);
    assert_string_equal(next(&m), "");
    node_notify_update(n, 5001, NODE_NOTIFY_STOPPING, "leaving", 90000000);
    assert_string_equal(next(&m), "STOPPING=1\nEXTEND_TIMEOUT_USEC=90000000\nSTATUS=leaving\n");
    assert_true(node_notify_stopping_sent(n));
    node_notify_update(n, 9000, NODE_NOTIFY_STOPPING, "leaving", 90000000);
    assert_string_equal(next(&m), "");
    node_notify_update(n, 9000, NODE_NOTIFY_STOPPING, "stopping", 0);
    assert_string_equal(next(&m), "STATUS=stopping\n");
    node_notify_destroy(n);
    manager_close(&m);
}

static void test_notify_stopping_before_ready_never_sends_ready(void **state)
{
    char name[128];
    manager_t m;
    node_notify_t *n;

    (void)state;
    manager_open(&m, 1, name, sizeof(name));
    n = node_notify_create_for(name);
    node_notify_update(n, 0, NODE_NOTIFY_STOPPING, "stopping", 0);
    assert_string_equal(next(&m), "STOPPING=1\nSTATUS=stopping\n");
    node_notify_update(n, 1000, NODE_NOTIFY_SERVING, "serving", 0);
    assert_string_equal(next(&m), "STATUS=serving\n");
    assert_false(node_notify_ready_sent(n));
    node_notify_destroy(n);
    manager_close(&m);
}

static void test_notify_missing_socket_fails_softly(void **state)
{
    node_notify_t *n;

    (void)state;
    n = node_notify_create_for("/nonexistent-dir/notify.sock");
    assert_non_null(n); /* it may appear later: keep trying */
    assert_int_equal(node_notify_send(n, "READY=1\n"), -ENOENT);
    assert_int_equal(node_notify_send(n, "READY=1\n"), -ENOENT);
    node_notify_update(n, 0, NODE_NOTIFY_SERVING, "serving", 0);
    assert_true(node_notify_ready_sent(n));
    node_notify_destroy(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_unset_or_bad_address_is_null),
        cmocka_unit_test(test_notify_sends_to_a_path_and_an_abstract_socket),
        cmocka_unit_test(test_notify_ready_and_stopping_once_status_throttled),
        cmocka_unit_test(test_notify_stopping_before_ready_never_sends_ready),
        cmocka_unit_test(test_notify_missing_socket_fails_softly),
    };

    rc_log_level = RC_LOG_WARNING + 1; /* quiet: the warnings are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
