/* node/cmd/node_cmd.h: the command table and dispatch. Each node_cmd_*.c file
 * exports one table; node_cmd.c merges them, checks arity, auth and
 * maxmemory, and calls the command. The one rule: a command replies exactly
 * once (one complete RESP value) per call. */
#ifndef RC_NODE_NODE_CMD_H
#define RC_NODE_NODE_CMD_H

#include "node/core/node.h"

struct node_cluster_s;
struct node_fwd_s;
struct node_migrate_s;

/* What commands reach beyond the client and its keyspace, wired by main.c
 * and given to every connection with the dispatcher (c->env). */
typedef struct node_cmd_env_s {
    node_server_t *server;
    struct node_cluster_s *cluster; /* NULL: a server without a cluster (unit tests) */
    struct node_fwd_s *fwd;         /* NULL without a cluster */
    struct node_migrate_s *migrate; /* NULL without a cluster */
} node_cmd_env_t;

/* Wires the dispatcher to the hand-off (main.c, once 'env' is complete):
 * requests parked for a slot being handed over run again when it is. */
void node_cmd_start(node_cmd_env_t *env);

/* The environment of the command running for 'c'. */
#define node_cmd_env(c) ((node_cmd_env_t *)(c)->env)

typedef void node_cmd_proc_t(node_client_t *c);

/* Flags, with Redis's COMMAND INFO names. */
enum node_cmd_flag_e {
    NODE_CMD_WRITE = 1 << 0,    /* write */
    NODE_CMD_READONLY = 1 << 1, /* readonly */
    NODE_CMD_DENYOOM = 1 << 2,  /* denyoom: refused over maxmemory */
    NODE_CMD_FAST = 1 << 3,     /* fast */
    NODE_CMD_NOAUTH = 1 << 4,   /* no_auth: allowed before AUTH */
    NODE_CMD_ADMIN = 1 << 5,    /* admin */
    NODE_CMD_NOSCRIPT = 1 << 6, /* noscript */
    NODE_CMD_LOADING = 1 << 7,  /* loading */
    NODE_CMD_STALE = 1 << 8,    /* stale */
    NODE_CMD_RANDOM = 1 << 9,   /* nondeterministic output */
    NODE_CMD_REPLICA = 1 << 10, /* ringcache's: a replica applies it (RCMIGRATE): never evicts,
                                   never refused over maxmemory, never waits for replicas */
    NODE_CMD_REPLAY = 1 << 11,  /* ringcache's: writes only its key (argument 1), and run on an
                                   equal copy of that key it leaves an equal copy, whatever the
                                   clock or chance: a replica may replay it (node_migrate.h) */
};

typedef struct node_cmd_s {
    const char *name; /* lower case */
    node_cmd_proc_t *proc;
    int arity; /* Redis's: N exact, -N at least N (name included) */
    unsigned flags;
    int first_key; /* 0: no keys */
    int last_key;  /* -1: last argument */
    int key_step;
    const char *group;   /* "string", "hash", "generic", "server", "connection" */
    const char *summary; /* one line, for COMMAND DOCS */
} node_cmd_t;

/* Tables, each ended by an entry with name == NULL. */
extern const node_cmd_t node_cmds_server[];     /* node_cmd_server.c */
extern const node_cmd_t node_cmds_connection[]; /* node_cmd_conn.c */
extern const node_cmd_t node_cmds_keys[];       /* node_cmd_keys.c */
extern const node_cmd_t node_cmds_string[];     /* node_cmd_string.c */
extern const node_cmd_t node_cmds_hash[];       /* node_cmd_hash.c */
extern const node_cmd_t node_cmds_list[];       /* node_cmd_list.c */
extern const node_cmd_t node_cmds_set[];        /* node_cmd_set.c */
extern const node_cmd_t node_cmds_zset[];       /* node_cmd_zset.c */
extern const node_cmd_t node_cmds_stream[];     /* node_cmd_stream.c */
extern const node_cmd_t node_cmds_cluster[];    /* node_cmd_cluster.c */
extern const node_cmd_t node_cmds_observe[];    /* node_cmd_slowlog.c: SLOWLOG, LATENCY */

/* Writes INFO's "# Cluster" section (lines ending in \r\n, header
 * included) into 'buf' (at most 'cap' bytes, NUL included, truncated to
 * fit) and returns the length of the whole section, as snprintf does.
 * 1024 bytes always suffice. */
size_t node_cmd_cluster_info_section(const node_cmd_env_t *env, char *buf, size_t cap);

/* Finds a command by name, case-insensitively, or returns NULL. */
const node_cmd_t *node_cmd_lookup(const char *name, size_t len);

/* Iterates every command: start with '*iter' = 0; returns NULL at the end. */
const node_cmd_t *node_cmd_next(size_t *iter);

/* Number of commands in all tables. */
size_t node_cmd_count(void);

/* Runs the command in c->argv[0..argc): lookup, arity, auth and maxmemory
 * checks with Redis's error texts, routing to the owner of its keys, then
 * the command. 'env' is a node_cmd_env_t: the request handler every
 * connection gets (node_conn_request_fn). */
void node_cmd_dispatch(void *env, node_client_t *c);
/* The key of a request from its first arguments (node_conn_key_fn, for
 * prefetching): the command table's first key, or the key of a stream's
 * RCMIGRATE PUT or DEL. */
int node_cmd_key_of(int argc, const resp_arg_t *argv, resp_arg_t *key);

/* Helpers shared by the container commands (CLIENT, CONFIG, COMMAND). */
#include <stddef.h>
/* Replies the arity error of a subcommand (e.g. "client|setname") and
 * returns 0 when c->argc does not fit 'arity' (Redis's rule). */
int node_cmd__sub_arity_ok(node_client_t *c, const char *fullname, int arity);
/* Replies 'lines' as an array of status replies (Redis's HELP form). */
void node_cmd__reply_help(node_client_t *c, const char *const *lines, size_t n);

/* node_cmd_slowlog.c, called by the dispatcher: adds the command running
 * for 'c' (its arguments, trimmed as Redis trims them) to the slowlog with
 * its duration 'usec'; adds a 'ms' sample to the latency monitor's
 * 'event' (an event name: static, at most 63 bytes). */
void node_cmd__slowlog_add(node_client_t *c, uint64_t usec);
void node_cmd__latency_add(node_server_t *server, const char *event, uint64_t ms);
/* Forgets the slowlog / the latency monitor's events (tests). */
void node_cmd__slowlog_free(void);
void node_cmd__latency_free(void);

#endif /* RC_NODE_NODE_CMD_H */
