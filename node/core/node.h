/* node/core/node.h: the types every part of ringcached shares: server, config,
 * client. The one rule: commands see a client only through the fields in
 * the "command view" below and the functions of node_reply.h. */
#ifndef RC_NODE_NODE_H
#define RC_NODE_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "resp/resp.h" /* resp_arg_t: the arguments of a command */

typedef struct node_server_s node_server_t;
typedef struct node_client_s node_client_t;
typedef struct node_db_s node_db_t;

typedef enum node_mm_policy_e {
    NODE_MM_NOEVICTION = 0,
    NODE_MM_ALLKEYS_LRU,
    NODE_MM_VOLATILE_LRU,
    NODE_MM_ALLKEYS_RANDOM,
    NODE_MM_VOLATILE_TTL,
} node_mm_policy_t;

/* Runtime configuration, Redis's names and defaults (node_config.c parses
 * it; CONFIG GET/SET read and write it). */
typedef struct node_config_s {
    int port;
    char *bind;        /* space-separated addresses, default "127.0.0.1" */
    char *requirepass; /* NULL: no password */
    int protected_mode;
    uint64_t maxmemory; /* 0: no limit */
    node_mm_policy_t maxmemory_policy;
    int maxmemory_samples;
    long maxclients;
    long timeout;       /* idle client timeout, seconds, 0: never */
    long tcp_keepalive; /* seconds */
    long long proto_max_bulk_len;
    long long client_query_buffer_limit;
    int hz;
    int loglevel;
    char *logfile;
    char *pidfile;
    char *dir;
    /* Cluster (issue 5). */
    int cluster_port;          /* bus port; 0: port + 10000 */
    char *cluster_secret;      /* NULL: no secret, bus on loopback only */
    long cluster_node_timeout; /* ms of silence before a node is suspected */
    int cluster_redirects;     /* 1: -MOVED instead of forwarding */
    int cluster_replicas;      /* R for a cluster this node founds */
    char *cluster_announce_ip; /* address peers and clients use; NULL: first bind address */
    char *cluster_config_file; /* state file in 'dir'; NULL: "ringcache-<port>.state" */
    char *join;                /* "host:port[@busport]" of a member, or NULL */
    /* Slot hand-off (node/migrate). */
    long cluster_weight;                /* this node\'s weight when it joins or founds */
    long cluster_leave_timeout;         /* ms a graceful leave may take */
    long cluster_handoff_timeout;       /* ms a new server waits for the old one's DONE */
    long cluster_handoff_hold;          /* ms a request may wait for a hand-over */
    long cluster_migration_streams;     /* targets filled at once */
    long long cluster_migration_buffer; /* bytes in flight per target before writes wait */
    long cluster_repl_timeout;          /* ms a write may wait for its replicas: -TRYAGAIN */
    /* Observability (node/cmd: SLOWLOG, LATENCY, INFO commandstats). */
    long slowlog_log_slower_than;   /* us; -1: off, 0: every command */
    long slowlog_max_len;           /* entries kept */
    long latency_monitor_threshold; /* ms; 0: the latency monitor is off */
    int latency_tracking;           /* per-command latency histograms */
    /* Prometheus endpoint (node/metrics). */
    int metrics_port;   /* 0: off */
    char *metrics_bind; /* space-separated addresses; NULL: those of 'bind' */
} node_config_t;

/* Wider than int: a slot is 0..16383, a port 0..65535. */
struct node_client_s {
    /* --- command view: what a command may read --- */
    node_server_t *server;
    node_db_t *db;
    int argc;
    resp_arg_t *argv;
    int resp;  /* 2 or 3, set by HELLO */
    void *env; /* the request handler's context (node/cmd: node_cmd_env_t) */
    /* --- the rest belongs to node_conn.c --- */
    struct node_conn_s *conn;
};

/* The process-wide server: one per process, owned by node_server.c. */
node_config_t *node_server_config(node_server_t *server);

/* Milliseconds since the epoch, cached once per event-loop iteration (and
 * refreshed before each command), as Redis's mstime caching does. */
int64_t node_server_now_ms(const node_server_t *server);

#endif /* RC_NODE_NODE_H */
