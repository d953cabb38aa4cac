/* node/metrics/node_metrics.h: the built-in Prometheus endpoint. With
 * metrics-port set, ringcached answers GET /metrics on its own loop with
 * the text exposition format 0.0.4: what an exporter outside the process
 * cannot know (membership, Paxos, failure detector, forwarding, hand-off).
 * Internal to node/. The one rule: a scrape never blocks or slows the data
 * path: bounded requests, bounded connections, a deadline on each. */
#ifndef RC_NODE_METRICS_H
#define RC_NODE_METRICS_H

#include "common/rc_buf.h"
#include "node/cluster/node_cluster.h"
#include "node/fwd/node_fwd.h"
#include "node/migrate/node_migrate.h"
#include "node/net/node_server.h"

enum node_metrics_limit_e {
    NODE_METRICS_MAX_LISTENERS = 8,
    NODE_METRICS_MAX_CONNS = 16,    /* scrapes at once; more are closed at accept */
    NODE_METRICS_TIMEOUT_MS = 5000, /* a connection's whole life: request, reply, close */
    NODE_METRICS_TICK_MS = 250,     /* deadlines are checked this often */
};

typedef struct node_metrics_s node_metrics_t;

/* Starts the endpoint of 'server' when its config has metrics-port set:
 * binds metrics-bind (or, unset, the addresses of 'bind'), registers a
 * server shutdown observer (listeners and connections close). Stores the
 * endpoint in '*out' (NULL when metrics-port is 0) and returns 0, or a
 * negative error (logged) when an address cannot be bound. 'fwd' and 'mig'
 * may be NULL. Free with node_metrics_destroy() after the loop ran out. */
int node_metrics_create(node_server_t *server, node_cluster_t *cl, node_fwd_t *fwd,
                        node_migrate_t *mig, node_metrics_t **out);

/* Frees the endpoint. NULL is a no-op. */
void node_metrics_destroy(node_metrics_t *m);

/* Appends the exposition text of every metric family to 'out'. */
void node_metrics_render(node_metrics_t *m, rc_buf_t *out);

#endif /* RC_NODE_METRICS_H */
