/* node/core/node_notify.h: the service manager's readiness protocol
 * (systemd's sd_notify): datagrams of "NAME=value" lines sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET. Internal to node/. The one rule:
 * notifying never blocks, never fails the node and never leaks its socket
 * into a child; a bad or missing socket is logged once and then ignored.
 *
 * main.c tells it the node's phase; this module turns phases into
 * messages: STATUS= when the status text changes (at most one every
 * NODE_NOTIFY_STATUS_MS, the latest text wins), READY=1 the first time the
 * node serves, STOPPING=1 once when a graceful stop begins. */
#ifndef RC_NODE_NODE_NOTIFY_H
#define RC_NODE_NODE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

enum node_notify_limit_e {
    NODE_NOTIFY_STATUS_MS = 250, /* at most 4 STATUS= updates a second */
    NODE_NOTIFY_STATUS_LEN = 200,
};

typedef enum node_notify_phase_e {
    NODE_NOTIFY_STARTING = 0, /* no configuration yet, or not a member yet */
    NODE_NOTIFY_FILLING,      /* member, receiving its slots */
    NODE_NOTIFY_SERVING,      /* INFO: cluster_state ok, cluster_my_role serving */
    NODE_NOTIFY_DEGRADED,     /* was serving; no quorum or removed */
    NODE_NOTIFY_STOPPING,     /* graceful stop: leaving, then exit */
} node_notify_phase_t;

typedef struct node_notify_s node_notify_t;

/* Reads $NOTIFY_SOCKET ('/path' or '@abstract') and opens a non-blocking,
 * close-on-exec datagram socket for it. Returns NULL when the variable is
 * unset or empty (nothing to notify), or when it is unusable (logged as a
 * warning: too long, not a path). Free with node_notify_destroy(). */
node_notify_t *node_notify_create(void);
/* As node_notify_create() with the socket name 'addr' (tests). */
node_notify_t *node_notify_create_for(const char *addr);
/* Closes the socket. NULL is a no-op. */
void node_notify_destroy(node_notify_t *n);

/* Sends one datagram 'msg' ("NAME=value\n..."). Returns 0, or a negative
 * errno (the first failure is logged as a warning, later ones at verbose;
 * a full socket drops the message). NULL 'n' is a no-op returning 0. */
int node_notify_send(node_notify_t *n, const char *msg);

/* Reports the node's 'phase' and a one-line 'status' ("serving: ...") at
 * 'now_ms' (a monotonic clock). Sends READY=1 on the first SERVING phase,
 * STOPPING=1 on the first STOPPING phase (with EXTEND_TIMEOUT_USEC=
 * 'stop_extend_us' when not 0), and the status when it changed and the
 * last one is NODE_NOTIFY_STATUS_MS old (otherwise it is kept and sent by
 * a later call). Phase messages are never delayed. NULL 'n' is a no-op. */
void node_notify_update(node_notify_t *n, int64_t now_ms, node_notify_phase_t phase,
                        const char *status, uint64_t stop_extend_us);

/* 1 once READY=1 / STOPPING=1 was sent (or attempted). */
int node_notify_ready_sent(const node_notify_t *n);
int node_notify_stopping_sent(const node_notify_t *n);

#endif /* RC_NODE_NODE_NOTIFY_H */
