/* node/cmd/node_cmd_conn.c: connection commands: PING ECHO QUIT HELLO AUTH
 * SELECT RESET CLIENT. The one rule: replies and error texts are Redis
 * 7.0's, checked against a real redis-server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "common/rc_str.h"
#include "common/rc_version.h"
#include "node/cmd/node_cmd.h"
#include "node/net/node_conn.h"
#include "node/net/node_reply.h"
#include "node/net/node_server.h"

static node_conn_t *conn_of(node_client_t *c)
{
    return c->conn;
}

/* Constant-time comparison of a password argument with the configured one. */
static int password_ok(const node_server_t *server, const resp_arg_t *a)
{
    const char *pass = server->config.requirepass;
    size_t len, i;
    unsigned diff = 0;

    if (pass == NULL)
        return 1; /* the default user has nopass */
    len = strlen(pass);
    diff = (unsigned)(len ^ a->len);
    for (i = 0; i < a->len; i++)
        diff |= (unsigned char)a->ptr[i] ^ (unsigned char)pass[i % (len == 0 ? 1 : len)];
    return diff == 0;
}

static void cmd_ping(node_client_t *c)
{
    if (c->argc > 2) {
        node_reply_arity_error(c, "ping");
        return;
    }
    if (c->argc == 1)
        node_reply_status(c, "PONG");
    else
        node_reply_bulk(c, c->argv[1].ptr, c->argv[1].len);
}

static void cmd_echo(node_client_t *c)
{
    node_reply_bulk(c, c->argv[1].ptr, c->argv[1].len);
}

static void cmd_quit(node_client_t *c)
{
    node_reply_ok(c);
    node_conn_close_after_reply(conn_of(c));
}

/* AUTH [username] password. Returns 1 when authenticated, replying only
 * on failure when 'quiet' (HELLO replies itself on success). */
static int auth_or_reply(node_client_t *c, const resp_arg_t *user, const resp_arg_t *pass)
{
    node_server_t *server = c->server;

    if (user != NULL && !resp_arg_is(user, "default")) {
        node_reply_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
        return 0;
    }
    if (!password_ok(server, pass)) {
        node_reply_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
        return 0;
    }
    node_conn_set_authenticated(conn_of(c), 1);
    return 1;
}

static void cmd_auth(node_client_t *c)
{
    if (c->argc > 3) {
        node_reply_syntax_error(c);
        return;
    }
    if (c->argc == 2 && c->server->config.requirepass == NULL) {
        node_reply_error(
            c,
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        return;
    }
    if (auth_or_reply(c, c->argc == 3 ? &c->argv[1] : NULL, &c->argv[c->argc - 1]))
        node_reply_ok(c);
}

/* Client names: printable ASCII without spaces, as Redis requires. */
static int name_valid(const resp_arg_t *a)
{
    size_t i;

    for (i = 0; i < a->len; i++) {
        if (a->ptr[i] < '!' || a->ptr[i] > '~')
            return 0;
    }
    return 1;
}

static void set_name(node_conn_t *conn, const resp_arg_t *a)
{
    rc_free(conn->name);
    conn->name = NULL;
    if (a->len > 0)
        conn->name = rc_xmemdup(a->ptr, a->len + 1);
}

static void cmd_hello(node_client_t *c)
{
    node_conn_t *conn = conn_of(c);
    const resp_arg_t *user = NULL, *pass = NULL, *name = NULL;
    long long ver = c->resp;
    int i;

    if (c->argc >= 2) {
        if (rc_string2ll(c->argv[1].ptr, c->argv[1].len, &ver) != 0) {
            node_reply_error(c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) {
            node_reply_error(c, "NOPROTO unsupported protocol version");
            return;
        }
    }
    for (i = 2; i < c->argc; i++) {
        int more = c->argc - i - 1;

        if (resp_arg_is(&c->argv[i], "auth") && more >= 2) {
            user = &c->argv[i + 1];
            pass = &c->argv[i + 2];
            i += 2;
        } else if (resp_arg_is(&c->argv[i], "setname") && more >= 1) {
            name = &c->argv[i + 1];
            if (!name_valid(name)) {
                node_reply_error(
                    c, "ERR Client names cannot contain spaces, newlines or special characters.");
                return;
            }
            i++;
        } else {
            node_reply_errorf(c, "ERR Syntax error in HELLO option '%s'", c->argv[i].ptr);
            return;
        }
    }
    if (pass != NULL && !auth_or_reply(c, user, pass))
        return;
    if (!conn->authenticated && c->server->config.requirepass != NULL) {
        node_reply_error(
            c,
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if (name != NULL)
        set_name(conn, name);
    c->resp = (int)ver;
    node_reply_map(c, 7);
    node_reply_bulk_cstr(c, "server");
    node_reply_bulk_cstr(c, "redis");
    node_reply_bulk_cstr(c, "version");
    node_reply_bulk_cstr(c, RC_REDIS_COMPAT_VERSION);
    node_reply_bulk_cstr(c, "proto");
    node_reply_int(c, c->resp);
    node_reply_bulk_cstr(c, "id");
    node_reply_int(c, (long long)conn->id);
    node_reply_bulk_cstr(c, "mode");
    node_reply_bulk_cstr(c, "standalone");
    node_reply_bulk_cstr(c, "role");
    node_reply_bulk_cstr(c, "master");
    node_reply_bulk_cstr(c, "modules");
    node_reply_array(c, 0);
}

static void cmd_select(node_client_t *c)
{
    long long idx;

    if (rc_string2ll(c->argv[1].ptr, c->argv[1].len, &idx) != 0) {
        node_reply_not_integer(c);
        return;
    }
    if (idx < INT32_MIN || idx > INT32_MAX) {
        node_reply_error(
            c, "ERR value is out of range, value must between -2147483648 and 2147483647");
        return;
    }
    if (idx != 0) {
        node_reply_error(c, "ERR DB index is out of range");
        return;
    }
    node_reply_ok(c);
}

static void cmd_reset(node_client_t *c)
{
    node_conn_t *conn = conn_of(c);

    c->resp = 2;
    rc_free(conn->name);
    conn->name = NULL;
    node_conn_set_authenticated(conn, c->server->config.requirepass == NULL);
    node_reply_status(c, "RESET");
}

/* --- CLIENT ---------------------------------------------------------------- */

static void reply_describe_all(node_client_t *c, const long long *ids, int nids)
{
    node_server_t *server = c->server;
    node_conn_t *it;
    char line[1024];
    rc_buf_t text = {0};

    for (it = server->clients; it != NULL; it = it->next) {
        size_t n;
        int i, keep = nids == 0;

        for (i = 0; i < nids; i++) {
            if ((long long)it->id == ids[i])
                keep = 1;
        }
        if (!keep)
            continue;
        n = node_conn_describe(it, server->now_ms, line, sizeof(line));
        rc_buf_append(&text, line, n);
        rc_buf_putc(&text, '\n');
    }
    node_reply_verbatim(c, text.len > 0 ? text.data : "", text.len);
    rc_buf_free(&text);
}

static void client_list(node_client_t *c)
{
    long long *ids = NULL;
    int nids = 0, i;

    for (i = 2; i < c->argc; i++) {
        if (resp_arg_is(&c->argv[i], "type") && i + 1 < c->argc) {
            const resp_arg_t *t = &c->argv[++i];

            if (resp_arg_is(t, "normal")) {
                continue;
            } else if (resp_arg_is(t, "master") || resp_arg_is(t, "replica") ||
                       resp_arg_is(t, "slave") || resp_arg_is(t, "pubsub")) {
                rc_free(ids);
                node_reply_verbatim(c, "", 0);
                return;
            }
            rc_free(ids);
            node_reply_errorf(c, "ERR Unknown client type '%s'", t->ptr);
            return;
        } else if (resp_arg_is(&c->argv[i], "id") && i + 1 < c->argc) {
            ids = rc_xrealloc(ids, (size_t)c->argc * sizeof(*ids));
            for (i++; i < c->argc; i++) {
                long long id;

                if (rc_string2ll(c->argv[i].ptr, c->argv[i].len, &id) != 0 || id <= 0) {
                    rc_free(ids);
                    node_reply_errorf(c, "ERR Invalid client ID");
                    return;
                }
                ids[nids++] = id;
            }
        } else {
            rc_free(ids);
            node_reply_syntax_error(c);
            return;
        }
    }
    if (ids != NULL && nids == 0)
        nids = 0;
    reply_describe_all(c, nids > 0 ? ids : NULL, nids);
    rc_free(ids);
}

/* Closes 'victim' for CLIENT KILL: at once, or after this reply if it is
 * the caller, as Redis does. */
static void kill_client(node_client_t *c, node_conn_t *victim)
{
    if (victim == conn_of(c))
        node_conn_close_after_reply(victim);
    else
        node_conn_close(victim, 0);
}

static void client_kill(node_client_t *c)
{
    node_server_t *server = c->server;
    node_conn_t *it, *next;
    const resp_arg_t *addr = NULL, *laddr = NULL;
    long long id = 0, maxage = 0;
    int skipme = 1, killed = 0, i, skip_all = 0;

    if (c->argc == 3) { /* old form: CLIENT KILL addr:port */
        for (it = server->clients; it != NULL; it = it->next) {
            if (strlen(it->addr) == c->argv[2].len &&
                memcmp(it->addr, c->argv[2].ptr, c->argv[2].len) == 0) {
                kill_client(c, it);
                node_reply_ok(c);
                return;
            }
        }
        node_reply_error(c, "ERR No such client");
        return;
    }
    if (c->argc % 2 != 0) {
        node_reply_syntax_error(c);
        return;
    }
    for (i = 2; i < c->argc; i += 2) {
        const resp_arg_t *k = &c->argv[i], *v = &c->argv[i + 1];

        if (resp_arg_is(k, "id")) {
            if (rc_string2ll(v->ptr, v->len, &id) != 0 || id <= 0) {
                node_reply_error(c, "ERR client-id should be greater than 0");
                return;
            }
        } else if (resp_arg_is(k, "addr")) {
            addr = v;
        } else if (resp_arg_is(k, "laddr")) {
            laddr = v;
        } else if (resp_arg_is(k, "type")) {
            if (resp_arg_is(v, "master") || resp_arg_is(v, "replica") || resp_arg_is(v, "slave") ||
                resp_arg_is(v, "pubsub")) {
                skip_all = 1;
            } else if (!resp_arg_is(v, "normal")) {
                node_reply_errorf(c, "ERR Unknown client type '%s'", v->ptr);
                return;
            }
        } else if (resp_arg_is(k, "user")) {
            if (!resp_arg_is(v, "default")) {
                node_reply_errorf(c, "ERR No such user '%s'", v->ptr);
                return;
            }
        } else if (resp_arg_is(k, "skipme")) {
            if (resp_arg_is(v, "yes")) {
                skipme = 1;
            } else if (resp_arg_is(v, "no")) {
                skipme = 0;
            } else {
                node_reply_syntax_error(c);
                return;
            }
        } else if (resp_arg_is(k, "maxage")) {
            if (rc_string2ll(v->ptr, v->len, &maxage) != 0 || maxage < 0) {
                node_reply_syntax_error(c);
                return;
            }
        } else {
            node_reply_syntax_error(c);
            return;
        }
    }
    for (it = server->clients; it != NULL && !skip_all; it = next) {
        next = it->next;
        if (id != 0 && (long long)it->id != id)
            continue;
        if (addr != NULL &&
            (strlen(it->addr) != addr->len || memcmp(it->addr, addr->ptr, addr->len) != 0))
            continue;
        if (laddr != NULL &&
            (strlen(it->laddr) != laddr->len || memcmp(it->laddr, laddr->ptr, laddr->len) != 0))
            continue;
        if (maxage != 0 && (server->now_ms - it->ctime_ms) / 1000 < maxage)
            continue;
        if (skipme && it == conn_of(c))
            continue;
        kill_client(c, it);
        killed++;
    }
    node_reply_int(c, killed);
}

static const char *const client_help[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME, MAXAGE.",
    "LIST [options ...]",
    "    Return information about client connections. Options: TYPE, ID.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Accepted for compatibility; clients are never evicted.",
    "HELP",
    "    Print this help.",
};

int node_cmd__sub_arity_ok(node_client_t *c, const char *fullname, int arity)
{
    if ((arity > 0 && c->argc != arity) || (arity < 0 && c->argc < -arity)) {
        node_reply_arity_error(c, fullname);
        return 0;
    }
    return 1;
}

void node_cmd__reply_help(node_client_t *c, const char *const *lines, size_t n)
{
    size_t i;

    node_reply_array(c, (long)n);
    for (i = 0; i < n; i++)
        node_reply_status(c, lines[i]);
}

static void cmd_client(node_client_t *c)
{
    node_conn_t *conn = conn_of(c);
    const resp_arg_t *sub = &c->argv[1];
    char line[1024];
    size_t n;

    if (resp_arg_is(sub, "id")) {
        conn->lastcmd = "client|id";
        if (node_cmd__sub_arity_ok(c, "client|id", 2))
            node_reply_int(c, (long long)conn->id);
    } else if (resp_arg_is(sub, "getname")) {
        conn->lastcmd = "client|getname";
        if (!node_cmd__sub_arity_ok(c, "client|getname", 2))
            return;
        if (conn->name != NULL)
            node_reply_bulk_cstr(c, conn->name);
        else
            node_reply_null(c);
    } else if (resp_arg_is(sub, "setname")) {
        conn->lastcmd = "client|setname";
        if (!node_cmd__sub_arity_ok(c, "client|setname", 3))
            return;
        if (!name_valid(&c->argv[2])) {
            node_reply_error(
                c, "ERR Client names cannot contain spaces, newlines or special characters.");
            return;
        }
        set_name(conn, &c->argv[2]);
        node_reply_ok(c);
    } else if (resp_arg_is(sub, "info")) {
        conn->lastcmd = "client|info";
        if (!node_cmd__sub_arity_ok(c, "client|info", 2))
            return;
        n = node_conn_describe(conn, c->server->now_ms, line, sizeof(line) - 1);
        line[n++] = '\n';
        node_reply_verbatim(c, line, n);
    } else if (resp_arg_is(sub, "list")) {
        conn->lastcmd = "client|list";
        client_list(c);
    } else if (resp_arg_is(sub, "kill")) {
        conn->lastcmd = "client|kill";
        if (node_cmd__sub_arity_ok(c, "client|kill", -3))
            client_kill(c);
    } else if (resp_arg_is(sub, "no-evict")) {
        conn->lastcmd = "client|no-evict";
        if (!node_cmd__sub_arity_ok(c, "client|no-evict", 3))
            return;
        if (resp_arg_is(&c->argv[2], "on") || resp_arg_is(&c->argv[2], "off"))
            node_reply_ok(c);
        else
            node_reply_syntax_error(c);
    } else if (resp_arg_is(sub, "help")) {
        conn->lastcmd = "client|help";
        if (node_cmd__sub_arity_ok(c, "client|help", 2))
            node_cmd__reply_help(c, client_help, RC_ARRAY_SIZE(client_help));
    } else {
        node_reply_errorf(c, "ERR unknown subcommand '%.128s'. Try CLIENT HELP.", sub->ptr);
    }
}

const node_cmd_t node_cmds_connection[] = {
    {"ping", cmd_ping, -1, NODE_CMD_FAST, 0, 0, 0, "connection", "Ping the server"},
    {"echo", cmd_echo, 2, NODE_CMD_FAST, 0, 0, 0, "connection", "Echo the given string"},
    {"quit", cmd_quit, -1, NODE_CMD_NOAUTH | NODE_CMD_FAST | NODE_CMD_LOADING | NODE_CMD_STALE, 0,
     0, 0, "connection", "Close the connection"},
    {"auth", cmd_auth, -2,
     NODE_CMD_NOAUTH | NODE_CMD_FAST | NODE_CMD_NOSCRIPT | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0,
     0, "connection", "Authenticate to the server"},
    {"hello", cmd_hello, -1,
     NODE_CMD_NOAUTH | NODE_CMD_FAST | NODE_CMD_NOSCRIPT | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0,
     0, "connection", "Handshake with Redis"},
    {"select", cmd_select, 2, NODE_CMD_FAST | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0,
     "connection", "Change the selected database for the current connection"},
    {"reset", cmd_reset, 1,
     NODE_CMD_NOAUTH | NODE_CMD_FAST | NODE_CMD_NOSCRIPT | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0,
     0, "connection", "Reset the connection"},
    {"client", cmd_client, -2, NODE_CMD_NOSCRIPT | NODE_CMD_LOADING | NODE_CMD_STALE, 0, 0, 0,
     "connection", "A container for client connection commands"},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL},
};
