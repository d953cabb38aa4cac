/* node/cmd/node_cmd_server.c: server commands: COMMAND CONFIG INFO DBSIZE
 * FLUSHALL FLUSHDB TIME SHUTDOWN. The one rule: replies and error texts are
 * Redis 7.0's; INFO keeps Redis's field names so existing tools parse it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "common/rc_str.h"
#include "common/rc_version.h"
#include "node/cmd/node_cmd.h"
#include "node/cmd/node_cmd_stats.h"
#include "node/core/node_config.h"
#include "node/data/node_db.h"
#include "node/migrate/node_migrate.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"

/* --- COMMAND --------------------------------------------------------------- */

static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {NODE_CMD_WRITE, "write"}, {NODE_CMD_READONLY, "readonly"}, {NODE_CMD_DENYOOM, "denyoom"},
    {NODE_CMD_ADMIN, "admin"}, {NODE_CMD_NOSCRIPT, "noscript"}, {NODE_CMD_LOADING, "loading"},
    {NODE_CMD_STALE, "stale"}, {NODE_CMD_NOAUTH, "no_auth"},    {NODE_CMD_FAST, "fast"},
};

static void reply_command_info(node_client_t *c, const node_cmd_t *cmd)
{
    size_t i, nflags = 0;
    char cat_group[32];
    int ncats;

    node_reply_array(c, 10);
    node_reply_bulk_cstr(c, cmd->name);
    node_reply_int(c, cmd->arity);
    for (i = 0; i < RC_ARRAY_SIZE(flag_names); i++) {
        if (cmd->flags & flag_names[i].flag)
            nflags++;
    }
    node_reply_set(c, (long)nflags);
    for (i = 0; i < RC_ARRAY_SIZE(flag_names); i++) {
        if (cmd->flags & flag_names[i].flag)
            node_reply_status(c, flag_names[i].name);
    }
    node_reply_int(c, cmd->first_key);
    node_reply_int(c, cmd->last_key);
    node_reply_int(c, cmd->key_step);
    /* ACL categories: read/write, fast/slow, the group. */
    snprintf(cat_group, sizeof(cat_group), "@%s",
             strcmp(cmd->group, "generic") == 0 ? "keyspace" : cmd->group);
    ncats = 2 + ((cmd->flags & (NODE_CMD_WRITE | NODE_CMD_READONLY)) ? 1 : 0) +
            ((cmd->flags & NODE_CMD_ADMIN) ? 2 : 0);
    node_reply_set(c, ncats);
    if (cmd->flags & NODE_CMD_WRITE)
        node_reply_status(c, "@write");
    else if (cmd->flags & NODE_CMD_READONLY)
        node_reply_status(c, "@read");
    node_reply_status(c, cat_group);
    node_reply_status(c, (cmd->flags & NODE_CMD_FAST) ? "@fast" : "@slow");
    if (cmd->flags & NODE_CMD_ADMIN) {
        node_reply_status(c, "@admin");
        node_reply_status(c, "@dangerous");
    }
    node_reply_set(c, 0);   /* tips */
    node_reply_array(c, 0); /* key specs */
    node_reply_array(c, 0); /* subcommands */
}

static void reply_command_docs(node_client_t *c, const node_cmd_t *cmd)
{
    node_reply_bulk_cstr(c, cmd->name);
    node_reply_map(c, 3);
    node_reply_bulk_cstr(c, "summary");
    node_reply_bulk_cstr(c, cmd->summary != NULL ? cmd->summary : "");
    node_reply_bulk_cstr(c, "since");
    node_reply_bulk_cstr(c, "1.0.0");
    node_reply_bulk_cstr(c, "group");
    node_reply_bulk_cstr(c, cmd->group != NULL ? cmd->group : "generic");
}

static void command_getkeys(node_client_t *c)
{
    const node_cmd_t *cmd = node_cmd_lookup(c->argv[2].ptr, c->argv[2].len);
    int argc = c->argc - 2, first, last, i, n = 0;
    resp_arg_t *argv = c->argv + 2;

    if (cmd == NULL) {
        node_reply_error(c, "ERR Invalid command specified");
        return;
    }
    if ((cmd->arity > 0 && cmd->arity != argc) || argc < -cmd->arity) {
        node_reply_error(c, "ERR Invalid number of arguments specified for command");
        return;
    }
    if (cmd->first_key == 0) {
        node_reply_error(c, "ERR The command has no key arguments");
        return;
    }
    first = cmd->first_key;
    last = cmd->last_key < 0 ? argc + cmd->last_key : cmd->last_key;
    if (last >= argc)
        last = argc - 1;
    for (i = first; i <= last; i += cmd->key_step > 0 ? cmd->key_step : 1)
        n++;
    node_reply_array(c, n);
    for (i = first; i <= last; i += cmd->key_step > 0 ? cmd->key_step : 1)
        node_reply_bulk(c, argv[i].ptr, argv[i].len);
}

static const char *const command_help[] = {
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands in this server.",
    "LIST",
    "    Return a list of all commands in this server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple commands.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple commands.",
    "GETKEYS <full-command>",
    "    Return the keys from a full command.",
    "HELP",
    "    Print this help.",
};

static void cmd_command(node_client_t *c)
{
    const node_cmd_t *cmd;
    size_t iter = 0;
    int i;

    if (c->argc == 1) {
        node_reply_array(c, (long)node_cmd_count());
        while ((cmd = node_cmd_next(&iter)) != NULL)
            reply_command_info(c, cmd);
        return;
    }
    if (resp_arg_is(&c->argv[1], "count")) {
        if (node_cmd__sub_arity_ok(c, "command|count", 2))
            node_reply_int(c, (long long)node_cmd_count());
    } else if (resp_arg_is(&c->argv[1], "list")) {
        if (c->argc != 2 && c->argc != 5) {
            node_reply_syntax_error(c);
            return;
        }
        if (c->argc == 5 &&
            !(resp_arg_is(&c->argv[2], "filterby") && resp_arg_is(&c->argv[3], "pattern"))) {
            node_reply_syntax_error(c); /* only FILTERBY PATTERN is supported */
            return;
        }
        {
            void *h = node_reply_defer_array(c);
            long n = 0;

            while ((cmd = node_cmd_next(&iter)) != NULL) {
                if (c->argc == 5 &&
                    !rc_strmatch(c->argv[4].ptr, c->argv[4].len, cmd->name, strlen(cmd->name), 1))
                    continue;
                node_reply_bulk_cstr(c, cmd->name);
                n++;
            }
            node_reply_set_deferred_array(c, h, n);
        }
    } else if (resp_arg_is(&c->argv[1], "info")) {
        if (c->argc == 2) {
            node_reply_array(c, (long)node_cmd_count());
            while ((cmd = node_cmd_next(&iter)) != NULL)
                reply_command_info(c, cmd);
            return;
        }
        node_reply_array(c, c->argc - 2);
        for (i = 2; i < c->argc; i++) {
            cmd = node_cmd_lookup(c->argv[i].ptr, c->argv[i].len);
            if (cmd != NULL)
                reply_command_info(c, cmd);
            else
                node_reply_null(c);
        }
    } else if (resp_arg_is(&c->argv[1], "docs")) {
        if (c->argc == 2) {
            node_reply_map(c, (long)node_cmd_count());
            while ((cmd = node_cmd_next(&iter)) != NULL)
                reply_command_docs(c, cmd);
            return;
        }
        {
            int n = 0;

            for (i = 2; i < c->argc; i++) {
                if (node_cmd_lookup(c->argv[i].ptr, c->argv[i].len) != NULL)
                    n++;
            }
            node_reply_map(c, n);
            for (i = 2; i < c->argc; i++) {
                cmd = node_cmd_lookup(c->argv[i].ptr, c->argv[i].len);
                if (cmd != NULL)
                    reply_command_docs(c, cmd);
            }
        }
    } else if (resp_arg_is(&c->argv[1], "getkeys")) {
        if (node_cmd__sub_arity_ok(c, "command|getkeys", -4))
            command_getkeys(c);
    } else if (resp_arg_is(&c->argv[1], "help")) {
        if (node_cmd__sub_arity_ok(c, "command|help", 2))
            node_cmd__reply_help(c, command_help, RC_ARRAY_SIZE(command_help));
    } else {
        node_reply_errorf(c, "ERR unknown subcommand '%.128s'. Try COMMAND HELP.", c->argv[1].ptr);
    }
}

/* --- CONFIG ---------------------------------------------------------------- */

static void config_get(node_client_t *c)
{
    node_config_t *cfg = &c->server->config;
    char value[4096];
    const char *name;
    void *h;
    size_t i;
    long n = 0;
    int a;
    unsigned char seen[64] = {0};

    /* Redis 7 replies a map; in RESP2 a flat array of name, value pairs. */
    h = c->resp >= 3 ? NULL : node_reply_defer_array(c);
    if (c->resp >= 3) {
        /* Count first: maps need their size up front. */
        for (i = 0; (name = node_config_get_nth(cfg, i, value, sizeof(value))) != NULL; i++) {
            for (a = 2; a < c->argc; a++) {
                if (rc_strmatch(c->argv[a].ptr, c->argv[a].len, name, strlen(name), 1)) {
                    n++;
                    break;
                }
            }
        }
        node_reply_map(c, n);
    }
    n = 0;
    for (i = 0; (name = node_config_get_nth(cfg, i, value, sizeof(value))) != NULL; i++) {
        for (a = 2; a < c->argc; a++) {
            if (i < sizeof(seen) && !seen[i] &&
                rc_strmatch(c->argv[a].ptr, c->argv[a].len, name, strlen(name), 1)) {
                seen[i] = 1;
                node_reply_bulk_cstr(c, name);
                node_reply_bulk_cstr(c, value);
                n++;
                break;
            }
        }
    }
    if (h != NULL)
        node_reply_set_deferred_array(c, h, 2 * n);
}

/* CONFIG SET name value [name value ...]: all or nothing, as Redis 7. */
static void config_set(node_client_t *c)
{
    node_server_t *server = c->server;
    node_config_t next;
    char why[256];
    int i, j, rc;

    if (c->argc < 4 || c->argc % 2 != 0) {
        node_reply_arity_error(c, "config|set");
        return;
    }
    for (i = 2; i < c->argc; i += 2) {
        const char *canon = node_config_canonical(c->argv[i].ptr);

        if (canon == NULL) {
            node_reply_errorf(c, "ERR Unknown option or number of arguments for CONFIG SET - '%s'",
                              c->argv[i].ptr);
            return;
        }
        for (j = 2; j < i; j += 2) {
            if (strcasecmp(c->argv[j].ptr, c->argv[i].ptr) == 0) {
                node_reply_errorf(
                    c,
                    "ERR CONFIG SET failed (possibly related to argument '%s') - duplicate parameter",
                    canon);
                return;
            }
        }
    }
    node_config_copy(&next, &server->config);
    for (i = 2; i < c->argc; i += 2) {
        const char *value = c->argv[i + 1].ptr;

        rc = node_config_set(&next, c->argv[i].ptr, 1, &value, 1, why, sizeof(why));
        if (rc == -ENOENT) {
            node_reply_errorf(c, "ERR Unknown option or number of arguments for CONFIG SET - '%s'",
                              c->argv[i].ptr);
            node_config_free(&next);
            return;
        }
        if (rc != 0) {
            node_reply_errorf(c, "ERR CONFIG SET failed (possibly related to argument '%s') - %s",
                              node_config_canonical(c->argv[i].ptr), why);
            node_config_free(&next);
            return;
        }
    }
    node_config_free(&server->config);
    server->config = next;
    for (i = 2; i < c->argc; i += 2)
        node_server_config_changed(server, node_config_canonical(c->argv[i].ptr));
    node_reply_ok(c);
}

static const char *const config_help[] = {
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Not supported by ringcached.",
    "HELP",
    "    Print this help.",
};

static void cmd_config(node_client_t *c)
{
    node_server_t *server = c->server;
    const resp_arg_t *sub = &c->argv[1];

    if (resp_arg_is(sub, "get")) {
        if (node_cmd__sub_arity_ok(c, "config|get", -3))
            config_get(c);
    } else if (resp_arg_is(sub, "set")) {
        config_set(c);
    } else if (resp_arg_is(sub, "resetstat")) {
        if (!node_cmd__sub_arity_ok(c, "config|resetstat", 2))
            return;
        memset(&server->stats, 0, sizeof(server->stats));
        memset(server->ops_samples, 0, sizeof(server->ops_samples));
        server->ops_last_commands = 0;
        node_db_reset_stats(server->db);
        node_cmd_stats_reset();
        node_reply_ok(c);
    } else if (resp_arg_is(sub, "rewrite")) {
        if (!node_cmd__sub_arity_ok(c, "config|rewrite", 2))
            return;
        if (server->config_file == NULL)
            node_reply_error(c, "ERR The server is running without a config file");
        else
            node_reply_error(c, "ERR Rewriting config file: not supported by ringcached");
    } else if (resp_arg_is(sub, "help")) {
        if (node_cmd__sub_arity_ok(c, "config|help", 2))
            node_cmd__reply_help(c, config_help, RC_ARRAY_SIZE(config_help));
    } else {
        node_reply_errorf(c, "ERR unknown subcommand '%.128s'. Try CONFIG HELP.", sub->ptr);
    }
}

/* --- INFO ------------------------------------------------------------------ */

static void human_bytes(char *out, size_t size, double n)
{
    static const char units[] = "BKMGTP";
    int u = 0;

    while (n >= 1024 && u < 5) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%.0fB", n);
    else
        snprintf(out, size, "%.2f%c", n, units[u]);
}

static size_t rss_bytes(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;

    if (fp == NULL)
        return 0;
    if (fscanf(fp, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(fp);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void info_server(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    struct utsname uts;
    int64_t up = (server->now_ms - server->start_ms) / 1000;

    if (uname(&uts) != 0)
        memset(&uts, 0, sizeof(uts));
    rc_buf_printf(t, "# Server\r\n");
    rc_buf_printf(t, "redis_version:%s\r\n", RC_REDIS_COMPAT_VERSION);
    rc_buf_printf(t, "ringcached_version:%s\r\n", RC_VERSION);
    rc_buf_printf(t, "redis_mode:%s\r\n", env->cluster != NULL ? "cluster" : "standalone");
    rc_buf_printf(t, "os:%s %s %s\r\n", uts.sysname, uts.release, uts.machine);
    rc_buf_printf(t, "arch_bits:%d\r\n", (int)(sizeof(long) * 8));
    rc_buf_printf(t, "multiplexing_api:libuv-%s\r\n", uv_version_string());
    rc_buf_printf(t, "process_id:%d\r\n", (int)getpid());
    rc_buf_printf(t, "run_id:%s\r\n", server->run_id);
    rc_buf_printf(t, "tcp_port:%d\r\n", server->config.port);
    rc_buf_printf(t, "server_time_usec:%lld\r\n", (long long)server->now_ms * 1000);
    rc_buf_printf(t, "uptime_in_seconds:%lld\r\n", (long long)up);
    rc_buf_printf(t, "uptime_in_days:%lld\r\n", (long long)(up / 86400));
    rc_buf_printf(t, "hz:%d\r\n", server->config.hz < 1 ? 1 : server->config.hz);
    rc_buf_printf(t, "configured_hz:%d\r\n", server->config.hz);
    rc_buf_printf(t, "config_file:%s\r\n", server->config_file != NULL ? server->config_file : "");
}

static void info_clients(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    node_conn_t *it;
    size_t max_in = 0, max_out = 0;

    (void)env;
    for (it = server->clients; it != NULL; it = it->next) {
        size_t in = resp_request_buffered(it->proto), out = node_conn_out_pending(it);

        if (in > max_in)
            max_in = in;
        if (out > max_out)
            max_out = out;
    }
    rc_buf_printf(t, "# Clients\r\n");
    rc_buf_printf(t, "connected_clients:%ld\r\n", server->nclients);
    rc_buf_printf(t, "cluster_connections:0\r\n");
    rc_buf_printf(t, "maxclients:%ld\r\n", server->config.maxclients);
    rc_buf_printf(t, "client_recent_max_input_buffer:%zu\r\n", max_in);
    rc_buf_printf(t, "client_recent_max_output_buffer:%zu\r\n", max_out);
    rc_buf_printf(t, "blocked_clients:0\r\n");
    rc_buf_printf(t, "tracking_clients:0\r\n");
    rc_buf_printf(t, "clients_in_timeout_table:0\r\n");
}

static const char *policy_name(node_mm_policy_t policy)
{
    static const char *const names[] = {"noeviction", "allkeys-lru", "volatile-lru",
                                        "allkeys-random", "volatile-ttl"};

    return (size_t)policy < RC_ARRAY_SIZE(names) ? names[policy] : "noeviction";
}

static void info_memory(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    size_t used = rc_used_memory(), rss = rss_bytes();
    size_t peak = server->mem_peak > used ? server->mem_peak : used;
    char h_used[32], h_rss[32], h_max[32], h_peak[32];
    node_conn_t *it;
    size_t clients_mem = 0;

    (void)env;
    for (it = server->clients; it != NULL; it = it->next)
        clients_mem += resp_request_memory(it->proto) + it->ocap + it->owriting + sizeof(*it);
    human_bytes(h_used, sizeof(h_used), (double)used);
    human_bytes(h_rss, sizeof(h_rss), (double)rss);
    human_bytes(h_peak, sizeof(h_peak), (double)peak);
    human_bytes(h_max, sizeof(h_max), (double)server->config.maxmemory);
    rc_buf_printf(t, "# Memory\r\n");
    rc_buf_printf(t, "used_memory:%zu\r\n", used);
    rc_buf_printf(t, "used_memory_human:%s\r\n", h_used);
    rc_buf_printf(t, "used_memory_rss:%zu\r\n", rss);
    rc_buf_printf(t, "used_memory_rss_human:%s\r\n", h_rss);
    rc_buf_printf(t, "used_memory_peak:%zu\r\n", peak);
    rc_buf_printf(t, "used_memory_peak_human:%s\r\n", h_peak);
    rc_buf_printf(t, "maxmemory:%" PRIu64 "\r\n", server->config.maxmemory);
    rc_buf_printf(t, "maxmemory_human:%s\r\n", h_max);
    rc_buf_printf(t, "maxmemory_policy:%s\r\n", policy_name(server->config.maxmemory_policy));
    rc_buf_printf(t, "mem_fragmentation_ratio:%.2f\r\n",
                  used > 0 ? (double)rss / (double)used : 0.0);
    rc_buf_printf(t, "mem_clients_normal:%zu\r\n", clients_mem);
    rc_buf_printf(t, "mem_overhead_db_hashtable_rehashing:%zu\r\n",
                  node_db_rehashing_bytes(server->db));
    rc_buf_printf(t, "mem_allocator:libc\r\n");
}

static void info_stats(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    const node_db_stats_t *db = node_db_stats(server->db);
    const node_stats_t *st = &server->stats;

    (void)env;
    rc_buf_printf(t, "# Stats\r\n");
    rc_buf_printf(t, "total_connections_received:%" PRIu64 "\r\n", st->total_connections);
    rc_buf_printf(t, "total_commands_processed:%" PRIu64 "\r\n", st->total_commands);
    rc_buf_printf(t, "instantaneous_ops_per_sec:%" PRIu64 "\r\n", node_server_ops_per_sec(server));
    rc_buf_printf(t, "total_net_input_bytes:%" PRIu64 "\r\n", st->net_input_bytes);
    rc_buf_printf(t, "total_net_output_bytes:%" PRIu64 "\r\n", st->net_output_bytes);
    rc_buf_printf(t, "rejected_connections:%" PRIu64 "\r\n", st->rejected_connections);
    rc_buf_printf(t, "expired_keys:%" PRIu64 "\r\n", db->expired_keys);
    rc_buf_printf(t, "evicted_keys:%" PRIu64 "\r\n", db->evicted_keys);
    rc_buf_printf(t, "keyspace_hits:%" PRIu64 "\r\n", db->keyspace_hits);
    rc_buf_printf(t, "keyspace_misses:%" PRIu64 "\r\n", db->keyspace_misses);
    rc_buf_printf(t, "total_error_replies:%" PRIu64 "\r\n", st->total_error_replies);
    rc_buf_printf(t, "oom_rejected_commands:%" PRIu64 "\r\n", st->oom_rejections);
}

/* Every node is a primary (of its slots) and, with cluster-replicas, a
 * replica of others' slots: the repl_ fields say how many of each. */
static void info_replication(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    char buf[1024];
    size_t n;

    (void)server;
    rc_buf_printf(t, "# Replication\r\n");
    rc_buf_printf(t, "role:master\r\n");
    rc_buf_printf(t, "connected_slaves:0\r\n");
    if (env == NULL || env->migrate == NULL)
        return;
    n = node_migrate_repl_info(env->migrate, buf, sizeof(buf));
    rc_buf_printf(t, "%.*s", (int)(n < sizeof(buf) ? n : sizeof(buf) - 1), buf);
}

static void info_cpu(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    struct rusage self;

    (void)env;
    (void)server;
    getrusage(RUSAGE_SELF, &self);
    rc_buf_printf(t, "# CPU\r\n");
    rc_buf_printf(t, "used_cpu_sys:%ld.%06ld\r\n", (long)self.ru_stime.tv_sec,
                  (long)self.ru_stime.tv_usec);
    rc_buf_printf(t, "used_cpu_user:%ld.%06ld\r\n", (long)self.ru_utime.tv_sec,
                  (long)self.ru_utime.tv_usec);
}

static void info_cluster(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    char buf[1024];
    size_t n = node_cmd_cluster_info_section(env, buf, sizeof(buf));

    (void)server;
    rc_buf_printf(t, "%.*s", (int)(n < sizeof(buf) ? n : sizeof(buf) - 1), buf);
}

static void info_migration(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    char buf[2048];
    size_t n;

    if (env == NULL || env->migrate == NULL) {
        rc_buf_printf(t, "# Migration\r\nmigration_state:idle\r\n");
        return;
    }
    n = node_migrate_info(env->migrate, buf, sizeof(buf));
    rc_buf_printf(t, "%.*s", (int)(n < sizeof(buf) ? n : sizeof(buf) - 1), buf);
    rc_buf_printf(t, "migration_peer_hangups_dropped:%" PRIu64 "\r\n", server->stats.peer_hangups);
}

static void info_keyspace(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    size_t keys = node_db_size(server->db);

    (void)env;
    rc_buf_printf(t, "# Keyspace\r\n");
    if (keys > 0)
        rc_buf_printf(t, "db0:keys=%zu,expires=%zu,avg_ttl=%lld\r\n", keys,
                      node_db_expires(server->db), (long long)node_db_avg_ttl(server->db));
}

/* cmdstat_<name>:calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=.. */
static void info_commandstats(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    node_cmd_stats_view_t v;
    size_t iter = 0;

    (void)env;
    (void)server;
    rc_buf_printf(t, "# Commandstats\r\n");
    while (node_cmd_stats_next(&iter, &v)) {
        rc_buf_printf(t,
                      "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64 ",usec_per_call=%.2f"
                      ",rejected_calls=%" PRIu64 ",failed_calls=%" PRIu64 "\r\n",
                      v.name, v.calls, v.usec,
                      v.calls > 0 ? (double)v.nsec / 1000.0 / (double)v.calls : 0.0,
                      v.rejected_calls, v.failed_calls);
    }
}

/* latency_percentiles_usec_<name>:p50=..,p99=..,p99.9=.. */
static void info_latencystats(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t)
{
    node_cmd_stats_view_t v;
    size_t iter = 0;

    (void)env;
    rc_buf_printf(t, "# Latencystats\r\n");
    if (!server->config.latency_tracking)
        return;
    while (node_cmd_stats_next(&iter, &v)) {
        if (v.hist_count == 0)
            continue;
        rc_buf_printf(t, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n", v.name,
                      node_cmd_stats_percentile_usec(v.buckets, 50.0),
                      node_cmd_stats_percentile_usec(v.buckets, 99.0),
                      node_cmd_stats_percentile_usec(v.buckets, 99.9));
    }
}

typedef void info_fn(const node_cmd_env_t *env, node_server_t *server, rc_buf_t *t);

static const struct {
    const char *name;
    info_fn *fn;
    int in_default;
} sections[] = {
    {"server", info_server, 1},
    {"clients", info_clients, 1},
    {"memory", info_memory, 1},
    {"stats", info_stats, 1},
    {"replication", info_replication, 1},
    {"cpu", info_cpu, 1},
    {"cluster", info_cluster, 1},
    {"migration", info_migration, 1},
    {"keyspace", info_keyspace, 1},
    {"commandstats", info_commandstats, 0},
    {"latencystats", info_latencystats, 0},
};

static void cmd_info(node_client_t *c)
{
    rc_buf_t t = {0};
    int want[RC_ARRAY_SIZE(sections)] = {0};
    size_t i;
    int a, any = 0;

    if (c->argc == 1) {
        for (i = 0; i < RC_ARRAY_SIZE(sections); i++)
            want[i] = sections[i].in_default;
    }
    for (a = 1; a < c->argc; a++) {
        if (resp_arg_is(&c->argv[a], "all") || resp_arg_is(&c->argv[a], "everything") ||
            resp_arg_is(&c->argv[a], "default")) {
            /* "default" leaves out what Redis leaves out of it. */
            int all = !resp_arg_is(&c->argv[a], "default");

            for (i = 0; i < RC_ARRAY_SIZE(sections); i++)
                want[i] |= all || sections[i].in_default;
            continue;
        }
        for (i = 0; i < RC_ARRAY_SIZE(sections); i++) {
            if (resp_arg_is(&c->argv[a], sections[i].name))
                want[i] = 1;
        }
    }
    rc_buf_reserve(&t, 4096);
    node_server_update_time(c->server);
    for (i = 0; i < RC_ARRAY_SIZE(sections); i++) {
        if (!want[i])
            continue;
        if (any)
            rc_buf_printf(&t, "\r\n");
        sections[i].fn(node_cmd_env(c), c->server, &t);
        any = 1;
    }
    node_reply_verbatim(c, t.data, t.len);
    rc_buf_free(&t);
}

/* --- keyspace and server --------------------------------------------------- */

static void cmd_dbsize(node_client_t *c)
{
    node_reply_int(c, (long long)node_db_size(c->db));
}

static void cmd_flush(node_client_t *c)
{
    if (c->argc > 2 ||
        (c->argc == 2 && !resp_arg_is(&c->argv[1], "async") && !resp_arg_is(&c->argv[1], "sync"))) {
        node_reply_syntax_error(c);
        return;
    }
    /* A cluster node flushes the slots it serves (its replicas delete
     * them too); the copies it holds as a replica follow their primaries. */
    (void)node_db_flush_decided(c->db);
    node_reply_ok(c);
}

static void cmd_time(node_client_t *c)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    node_reply_array(c, 2);
    node_reply_bulk_ll(c, (long long)ts.tv_sec);
    node_reply_bulk_ll(c, (long long)(ts.tv_nsec / 1000));
}

static void cmd_shutdown(node_client_t *c)
{
    int i;

    for (i = 1; i < c->argc; i++) {
        if (!resp_arg_is(&c->argv[i], "nosave") && !resp_arg_is(&c->argv[i], "save") &&
            !resp_arg_is(&c->argv[i], "now") && !resp_arg_is(&c->argv[i], "force") &&
            !resp_arg_is(&c->argv[i], "abort")) {
            node_reply_syntax_error(c);
            return;
        }
        if (resp_arg_is(&c->argv[i], "abort")) {
            node_reply_error(c, "ERR No shutdown in progress.");
            return;
        }
    }
    rc_log(RC_LOG_WARNING, "User requested shutdown via SHUTDOWN (conn %" PRIu64 ")", c->conn->id);
    c->server->exit_code = 0;
    node_server_shutdown(c->server); /* closes this client too: no reply, as Redis */
}

const node_cmd_t node_cmds_server[] = {
    {"command", cmd_command, -1, NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0, "server",
     "Get array of Redis command details"},
    {"config", cmd_config, -2,
     NODE_CMD_ADMIN | NODE_CMD_NOSCRIPT | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0, "server",
     "A container for server configuration commands"},
    {"info", cmd_info, -1, NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0, "server",
     "Get information and statistics about the server"},
    {"dbsize", cmd_dbsize, 1, NODE_CMD_READONLY | NODE_CMD_FAST, 0, 0, 0, "server",
     "Return the number of keys in the selected database"},
    {"flushall", cmd_flush, -1, NODE_CMD_WRITE, 0, 0, 0, "server",
     "Remove all keys from all databases"},
    {"flushdb", cmd_flush, -1, NODE_CMD_WRITE, 0, 0, 0, "server",
     "Remove all keys from the current database"},
    {"time", cmd_time, 1, NODE_CMD_LOADING | NODE_CMD_STALE | NODE_CMD_FAST, 0, 0, 0, "server",
     "Return the current server time"},
    {"shutdown", cmd_shutdown, -1,
     NODE_CMD_ADMIN | NODE_CMD_NOSCRIPT | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0, "server",
     "Synchronously save the dataset to disk and then shut down the server"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
