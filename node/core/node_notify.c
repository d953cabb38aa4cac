/* node/core/node_notify.c: systemd's notify protocol spoken directly: one
 * AF_UNIX datagram per message to $NOTIFY_SOCKET. The one rule: a failure
 * here is logged once and dropped; the node never waits for the service
 * manager. */
#include "node/core/node_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/rc.h"

struct node_notify_s {
    int fd;
    struct sockaddr_un addr;
    socklen_t addrlen;
    char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1]; /* for messages */
    int warned;                                                 /* a failed send was logged */
    int ready_sent;                                             /* READY=1 went out */
    int stopping_sent;                                          /* STOPPING=1 went out */
    int64_t status_ms;                    /* when the last STATUS= went out, -1: never */
    char status[NODE_NOTIFY_STATUS_LEN];  /* last sent */
    char pending[NODE_NOTIFY_STATUS_LEN]; /* wanted, not sent yet ("" none) */
};

node_notify_t *node_notify_create(void)
{
    const char *addr = getenv("NOTIFY_SOCKET");

    if (addr == NULL || addr[0] == '\0')
        return NULL;
    return node_notify_create_for(addr);
}

node_notify_t *node_notify_create_for(const char *addr)
{
    node_notify_t *n;
    size_t len = strlen(addr);
    int fd, flags;

    if (addr[0] != '/' && addr[0] != '@') {
        rc_log(
            RC_LOG_WARNING,
            "NOTIFY_SOCKET '%s' is neither a path nor an abstract socket: not notifying the service manager",
            addr);
        return NULL;
    }
    if (len < 2 || len > sizeof(n->addr.sun_path)) {
        rc_log(
            RC_LOG_WARNING,
            "NOTIFY_SOCKET of %zu bytes does not fit a unix socket address: not notifying the service manager",
            len);
        return NULL;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0) {
        rc_log(RC_LOG_WARNING, "NOTIFY_SOCKET: socket: %s: not notifying the service manager",
               rc_strerror(-errno));
        return NULL;
    }
    /* Never block the loop on a slow service manager; no child gets it. */
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        rc_log(RC_LOG_WARNING, "NOTIFY_SOCKET: fcntl: %s: not notifying the service manager",
               rc_strerror(-errno));
        close(fd);
        return NULL;
    }
    n = rc_xcalloc(1, sizeof(*n));
    n->fd = fd;
    n->status_ms = -1;
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, addr, len);
    if (addr[0] == '@')
        n->addr.sun_path[0] = '\0'; /* abstract: the name is the bytes after the NUL */
    n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    memcpy(n->name, addr, len);
    n->name[len] = '\0';
    rc_log(RC_LOG_VERBOSE, "Notifying the service manager at %s", n->name);
    return n;
}

void node_notify_destroy(node_notify_t *n)
{
    if (n == NULL)
        return;
    close(n->fd);
    rc_free(n);
}

int node_notify_send(node_notify_t *n, const char *msg)
{
    ssize_t r;
    int err;

    if (n == NULL)
        return 0;
    do {
        r = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&n->addr, n->addrlen);
    } while (r < 0 && errno == EINTR);
    if (r >= 0)
        return 0;
    err = -errno;
    if (!n->warned) {
        n->warned = 1;
        rc_log(
            RC_LOG_WARNING,
            "Cannot notify the service manager at %s: %s (further failures are logged at verbose level)",
            n->name, rc_strerror(err));
    } else {
        rc_log(RC_LOG_VERBOSE, "Cannot notify the service manager at %s: %s", n->name,
               rc_strerror(err));
    }
    return err;
}

/* Appends "STATUS=<pending>\n" to 'buf' and marks it sent. */
static void take_status(node_notify_t *n, int64_t now_ms, char *buf, size_t cap)
{
    size_t used = strlen(buf);

    snprintf(buf + used, cap - used, "STATUS=%s\n", n->pending);
    memcpy(n->status, n->pending, sizeof(n->status));
    n->pending[0] = '\0';
    n->status_ms = now_ms;
}

void node_notify_update(node_notify_t *n, int64_t now_ms, node_notify_phase_t phase,
                        const char *status, uint64_t stop_extend_us)
{
    char msg[NODE_NOTIFY_STATUS_LEN + 96];
    int urgent = 0;

    if (n == NULL)
        return;
    msg[0] = '\0';
    if (status != NULL) {
        if (strcmp(status, n->status) == 0)
            n->pending[0] = '\0'; /* back to what the manager shows */
        else
            snprintf(n->pending, sizeof(n->pending), "%s", status);
    }
    if (phase == NODE_NOTIFY_SERVING && !n->ready_sent && !n->stopping_sent) {
        n->ready_sent = 1;
        urgent = 1;
        snprintf(msg, sizeof(msg), "READY=1\n");
    }
    if (phase == NODE_NOTIFY_STOPPING && !n->stopping_sent) {
        n->stopping_sent = 1;
        urgent = 1;
        if (stop_extend_us != 0)
            snprintf(msg, sizeof(msg), "STOPPING=1\nEXTEND_TIMEOUT_USEC=%llu\n",
                     (unsigned long long)stop_extend_us);
        else
            snprintf(msg, sizeof(msg), "STOPPING=1\n");
    }
    if (n->pending[0] != '\0' &&
        (urgent || n->status_ms < 0 || now_ms - n->status_ms >= NODE_NOTIFY_STATUS_MS))
        take_status(n, now_ms, msg, sizeof(msg));
    if (msg[0] != '\0')
        node_notify_send(n, msg);
}

int node_notify_ready_sent(const node_notify_t *n)
{
    return n != NULL && n->ready_sent;
}

int node_notify_stopping_sent(const node_notify_t *n)
{
    return n != NULL && n->stopping_sent;
}
