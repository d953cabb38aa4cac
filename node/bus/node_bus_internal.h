/* node/bus/node_bus_internal.h: the bus's and the links' structures, shared
 * by node_bus.c (listener, accepted connections) and node_link.c (outgoing
 * links) only. The one rule: a link or a connection is freed in its close
 * callback, never while one of its callbacks runs. */
#ifndef RC_NODE_BUS_NODE_BUS_INTERNAL_H
#define RC_NODE_BUS_NODE_BUS_INTERNAL_H

#include <uv.h>

#include "common/rc_buf.h"
#include "node/bus/node_bus.h"

typedef struct bus_conn_s bus_conn_t;

typedef enum node_link_state_e {
    NODE_LINK_IDLE = 0,
    NODE_LINK_CONNECTING,
    NODE_LINK_HANDSHAKE,
    NODE_LINK_OPEN,
    NODE_LINK_CLOSING,
} node_link_state_t;

struct node_link_s {
    node_bus_t *bus;
    node_link_t *next; /* the bus's pool */
    char addr[NODE_BUS_ADDR_MAX];
    char name[NODE_BUS_ADDR_MAX + 32];
    node_link_opts_t o;
    const node_link_ops_t *ops;
    void *arg;

    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t wreq;
    node_link_state_t state;
    node_bus_session_t sess;
    unsigned has_sess : 1;
    unsigned sent_data : 1;
    unsigned got_data : 1;
    unsigned writing : 1;
    unsigned forget : 1; /* free once closed */
    unsigned bad : 1;    /* an unexpected frame during the handshake */

    /* Output: handshake frames, then (once open) control frames or batch
     * bytes. The write in flight owns the w* buffers (swapped in). */
    rc_buf_t hs;
    rc_buf_t out;
    rc_buf_t whs;
    rc_buf_t wout;
    uint8_t whdr[NODE_BUS_HEADER]; /* BATCH header of the write in flight */

    /* Input of data links: replies, in[ipos..len) not consumed yet. */
    rc_buf_t in;
    size_t ipos;

    int64_t started;   /* connect began */
    int64_t retry_at;  /* no reconnect before */
    int64_t last_used; /* last send or receive */
    int64_t moved_at;  /* bytes last left or arrived (node_link_still_ms()) */
    size_t wq_seen;    /* the write queue's size at the last look */
    int64_t failed_at;
    int backoff;
    int refusals;
    int last_err;
    int64_t last_log;
    char why[96]; /* the last failure */
};

struct bus_conn_s {
    node_bus_t *bus;
    bus_conn_t *prev, *next;
    node_conn_t *conn;
    node_bus_session_t sess;
    /* Data role, after DATA: the BATCH frame being read. */
    uint8_t hdr[NODE_BUS_HEADER];
    size_t hdr_len;
    uint64_t left; /* payload bytes of the current batch still to come */
    const char *reject;
    unsigned control : 1; /* open control session */
    unsigned data : 1;    /* the peer's DATA arrived: batches follow */
    unsigned bad : 1;     /* a frame was refused: close */
};

struct node_bus_s {
    node_server_t *server;
    uv_loop_t *loop;
    uv_tcp_t listeners[NODE_BUS_MAX_LISTENERS];
    int nlisteners;
    uv_timer_t timer;
    int handles; /* open listener and timer handles */
    bus_conn_t *conns;
    node_link_t *links;
    node_bus_handlers_t h;
    node_conn_request_fn *on_request;
    void *request_arg;

    char *secret; /* cluster-secret, "" when none (passed whole to the handshake) */
    uint64_t placement;
    uint16_t features; /* announced in our HELLOs (node_bus_set_features) */
    char bus_addr[NODE_BUS_ADDR_MAX];
    char client_addr[NODE_BUS_ADDR_MAX];
    uint64_t id, incarnation, epoch;
    uint64_t retired_id; /* the latest member id this node held before the current one */
    node_bus_stats_t stats;
    int64_t last_refusal_log;
    int shut;
};

/* Initializes 's' with this node's identity as 'initiator' with 'role'
 * ('resp' for data links). Free it with node_bus_session_free(). */
void node_bus__session_init(node_bus_t *bus, node_bus_session_t *s, int initiator,
                            node_bus_role_t role, int resp);
/* Logs (rate limited) and counts a failed handshake with 'addr'. */
void node_bus__refused(node_bus_t *bus, const node_bus_session_t *s, const char *addr);
/* Checks the epoch of a frame that arrived: counts an older one, reports a
 * newer one. */
void node_bus__check_epoch(node_bus_t *bus, const node_bus_header_t *h);
/* Writes what every link queued (a server check observer). */
void node_bus__links_flush(node_bus_t *bus);
/* Handshake timeouts and reconnects of the links (the bus's timer). */
void node_bus__links_tick(node_bus_t *bus);
/* Fails and closes every link (shutdown). */
void node_bus__links_close_all(node_bus_t *bus);
/* Frees the links after the loop stopped. */
void node_bus__links_free(node_bus_t *bus);

#endif /* RC_NODE_BUS_NODE_BUS_INTERNAL_H */
