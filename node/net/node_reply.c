/* node/net/node_reply.c: RESP2/RESP3 replies appended to a connection's output
 * buffer. The one rule: a reply function never fails and never writes to
 * the socket; node_conn.c flushes once per batch of commands. */
#include "node/net/node_reply.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_str.h"
#include "node/net/node_conn.h"
#include "resp/resp_write.h"

/* Appends "<prefix><v>\r\n". */
static void header(node_client_t *c, char prefix, long long v)
{
    node_conn_t *conn = c->conn;
    char *p = node_conn_out_reserve(conn, RESP_HEADER_MAX);

    node_conn_out_commit(conn, resp_write_header(p, prefix, v));
}

void node_reply_raw(node_client_t *c, const void *p, size_t len)
{
    node_conn_t *conn = c->conn;
    char *dst = node_conn_out_reserve(conn, len);

    memcpy(dst, p, len);
    node_conn_out_commit(conn, len);
}

void node_reply_ok(node_client_t *c)
{
    node_reply_raw(c, "+OK\r\n", 5);
}

void node_reply_status(node_client_t *c, const char *s)
{
    node_conn_t *conn = c->conn;
    size_t len = strlen(s);
    char *p = node_conn_out_reserve(conn, len + 3);

    p[0] = '+';
    memcpy(p + 1, s, len);
    p[len + 1] = '\r';
    p[len + 2] = '\n';
    node_conn_out_commit(conn, len + 3);
}

void node_reply_error(node_client_t *c, const char *msg)
{
    node_conn_t *conn = c->conn;
    size_t len = strlen(msg), i;
    char *p = node_conn_out_reserve(conn, len + 3);

    conn->nerrors++; /* the dispatcher's failed_calls */
    p[0] = '-';
    for (i = 0; i < len; i++)
        p[i + 1] = (msg[i] == '\r' || msg[i] == '\n') ? ' ' : msg[i];
    p[len + 1] = '\r';
    p[len + 2] = '\n';
    node_conn_out_commit(conn, len + 3);
}

void node_reply_errorf(node_client_t *c, const char *fmt, ...)
{
    char small[512], *msg = small;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(small)) {
        msg = rc_xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    node_reply_error(c, msg);
    if (msg != small)
        rc_free(msg);
}

void node_reply_int(node_client_t *c, long long v)
{
    /* Shared small integers: the common 0 and 1 replies skip formatting. */
    if (v == 0) {
        node_reply_raw(c, ":0\r\n", 4);
        return;
    }
    if (v == 1) {
        node_reply_raw(c, ":1\r\n", 4);
        return;
    }
    header(c, ':', v);
}

void node_reply_bulk(node_client_t *c, const void *ptr, size_t len)
{
    node_conn_t *conn = c->conn;
    char *p = node_conn_out_reserve(conn, len + RESP_HEADER_MAX + 2);
    size_t n = resp_write_header(p, '$', (long long)len);

    if (len > 0)
        memcpy(p + n, ptr, len);
    n += len;
    p[n++] = '\r';
    p[n++] = '\n';
    node_conn_out_commit(conn, n);
}

void node_reply_bulk_cstr(node_client_t *c, const char *s)
{
    if (s == NULL) {
        node_reply_null(c);
        return;
    }
    node_reply_bulk(c, s, strlen(s));
}

void node_reply_bulk_ll(node_client_t *c, long long v)
{
    char buf[RC_LL2STR_MAX];
    size_t n = rc_ll2str(buf, v);

    node_reply_bulk(c, buf, n);
}

/* Formats 'd' as Redis's addReplyDouble does ("%.17g", inf, -inf, nan). */
static size_t fmt_double(char *buf, size_t size, double d)
{
    int n;

    if (isinf(d))
        return (size_t)snprintf(buf, size, "%s", d > 0 ? "inf" : "-inf");
    if (isnan(d))
        return (size_t)snprintf(buf, size, "nan");
    n = snprintf(buf, size, "%.17g", d);
    return n < 0 ? 0 : (size_t)n;
}

void node_reply_double(node_client_t *c, double d)
{
    char buf[64];
    size_t n = fmt_double(buf, sizeof(buf), d);

    if (c->resp >= 3) {
        node_reply_raw(c, ",", 1);
        node_reply_raw(c, buf, n);
        node_reply_raw(c, "\r\n", 2);
        return;
    }
    node_reply_bulk(c, buf, n);
}

void node_reply_null(node_client_t *c)
{
    if (c->resp >= 3)
        node_reply_raw(c, "_\r\n", 3);
    else
        node_reply_raw(c, "$-1\r\n", 5);
}

void node_reply_null_array(node_client_t *c)
{
    if (c->resp >= 3)
        node_reply_raw(c, "_\r\n", 3);
    else
        node_reply_raw(c, "*-1\r\n", 5);
}

void node_reply_array(node_client_t *c, long n)
{
    header(c, '*', n);
}

void node_reply_map(node_client_t *c, long n)
{
    if (c->resp >= 3)
        header(c, '%', n);
    else
        header(c, '*', 2 * n);
}

void node_reply_set(node_client_t *c, long n)
{
    header(c, c->resp >= 3 ? '~' : '*', n);
}

/* A deferred header is a placeholder position in the output target; the
 * real header is spliced in there when the length is known. The target is
 * flushed (or changed) only between commands, so the position stays valid. */
void *node_reply_defer_array(node_client_t *c)
{
    node_conn_t *conn = c->conn;
    size_t len;

    node_conn_out_reserve(conn, 0);
    node_conn_out_base(conn, &len);
    return (void *)(uintptr_t)(len + 1);
}

void node_reply_set_deferred_array(node_client_t *c, void *handle, long n)
{
    node_conn_t *conn = c->conn;
    size_t at = (size_t)(uintptr_t)handle - 1, hlen, len;
    char hdr[RESP_HEADER_MAX], *base;

    hlen = resp_write_header(hdr, '*', n);
    node_conn_out_reserve(conn, hlen);
    base = node_conn_out_base(conn, &len);
    RC_ASSERT(at <= len);
    memmove(base + at + hlen, base + at, len - at);
    memcpy(base + at, hdr, hlen);
    node_conn_out_commit(conn, hlen);
}

void node_reply_wrongtype(node_client_t *c)
{
    node_reply_error(c, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

void node_reply_syntax_error(node_client_t *c)
{
    node_reply_error(c, "ERR syntax error");
}

void node_reply_not_integer(node_client_t *c)
{
    node_reply_error(c, "ERR value is not an integer or out of range");
}

void node_reply_not_float(node_client_t *c)
{
    node_reply_error(c, "ERR value is not a valid float");
}

void node_reply_arity_error(node_client_t *c, const char *cmd)
{
    node_reply_errorf(c, "ERR wrong number of arguments for '%s' command", cmd);
}

void node_reply_verbatim(node_client_t *c, const char *text, size_t len)
{
    if (c->resp < 3) {
        node_reply_bulk(c, text, len);
        return;
    }
    header(c, '=', (long long)len + 4);
    node_reply_raw(c, "txt:", 4);
    node_reply_raw(c, text, len);
    node_reply_raw(c, "\r\n", 2);
}

void node_reply_bool(node_client_t *c, int v)
{
    if (c->resp >= 3)
        node_reply_raw(c, v ? "#t\r\n" : "#f\r\n", 4);
    else
        node_reply_int(c, v ? 1 : 0);
}
