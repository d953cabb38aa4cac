/* resp/resp_request.c: the client request parser (see resp_request.h). The one
 * rule: the hiredis reader only ever sees bytes this file has already
 * framed and checked, so it parses exactly the commands we counted.
 *
 * A request travels in two stages:
 *
 *   socket bytes --> scanner (this file)  --> staging --> redisReader
 *                    '*N' / '$N' headers      buffer      (our object
 *                    checked against the                   functions copy
 *                    limits; payload bytes                 each argument
 *                    counted, not parsed;                  into the arena)
 *                    inline lines split here
 *
 * The scanner feeds the reader header lines it re-formats itself (so a
 * header split across reads reaches the reader whole) and payload bytes as
 * they come. When the last bulk of a request is complete, the arena is
 * sized for it and redisReaderGetReply() builds argv without allocating. */
#include "resp/resp_request.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/read.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "common/rc_str.h"

enum {
    STAGE_SIZE = 4096,
    LINE_MAX_DIGITS = 24,
    ARENA_KEEP = 64 * 1024, /* larger arenas are freed after the command */
    ARGV_KEEP = 1024,
    READER_RENEW = 64 * 1024, /* recreate the reader after larger requests */
};

typedef enum state_e {
    ST_START = 0, /* at a request boundary */
    ST_MB_LINE,   /* after '*': the argument count */
    ST_BULK_TYPE, /* expecting '$' */
    ST_BULK_LINE, /* after '$': the bulk length */
    ST_BULK_DATA, /* payload and its CRLF */
    ST_INLINE,    /* an inline request line */
} state_t;

struct resp_request_s {
    redisReader *reader;
    long long max_bulk;
    long long max_query;
    int authenticated;
    int err;
    char errstr[128];

    state_t state;
    long long args_left; /* bulks still to come in this request */
    long long bulk_left; /* payload + CRLF bytes left of the current bulk */
    long long nargs;     /* announced argument count */
    char line[LINE_MAX_DIGITS];
    size_t line_len;  /* bytes of the header line seen (may exceed 'line') */
    int line_cr;      /* saw the '\r' ending the header line */
    size_t req_bytes; /* bytes held for the current request */
    size_t payload;   /* sum of bulk lengths of the current request */
    int hook_error;

    char stage[STAGE_SIZE];
    size_t stage_len;

    rc_buf_t inline_buf; /* partial inline line */

    resp_arg_t *argv;
    int argc;
    size_t argv_cap;
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

/* --- hiredis object functions --------------------------------------------
 * Every hook returns the parser itself as the "object": nothing is
 * allocated per reply object, and a non-NULL return keeps the reader from
 * reporting out of memory. */

static void *on_string(const redisReadTask *task, char *str, size_t len)
{
    resp_request_t *p = task->privdata;
    char *dst;

    if (task->parent == NULL || (size_t)p->argc >= p->argv_cap ||
        p->arena_len + len + 1 > p->arena_cap) {
        p->hook_error = 1; /* cannot happen: the scanner sized both */
        return p;
    }
    dst = p->arena + p->arena_len;
    memcpy(dst, str, len);
    dst[len] = '\0';
    p->arena_len += len + 1;
    p->argv[p->argc].ptr = dst;
    p->argv[p->argc].len = len;
    p->argc++;
    return p;
}

static void *on_array(const redisReadTask *task, int elements)
{
    resp_request_t *p = task->privdata;

    if (task->parent != NULL || elements <= 0)
        p->hook_error = 1;
    p->argc = 0;
    return p;
}

static void *on_integer(const redisReadTask *task, long long value)
{
    resp_request_t *p = task->privdata;

    (void)value;
    p->hook_error = 1;
    return p;
}

static void *on_nil(const redisReadTask *task)
{
    resp_request_t *p = task->privdata;

    p->hook_error = 1;
    return p;
}

static void on_free(void *obj)
{
    (void)obj; /* objects live in the parser */
}

static redisReplyObjectFunctions object_functions = {
    on_string, on_array, on_integer, on_nil, on_free,
};

static void reader_new(resp_request_t *p)
{
    p->reader = redisReaderCreateWithFunctions(&object_functions);
    if (p->reader == NULL) {
        fprintf(stderr, "Out of memory creating a request reader\n");
        abort();
    }
    p->reader->privdata = p;
}

resp_request_t *resp_request_create(long long max_bulk, long long max_query)
{
    resp_request_t *p = rc_xcalloc(1, sizeof(*p));

    reader_new(p);
    p->max_bulk = max_bulk;
    p->max_query = max_query;
    return p;
}

void resp_request_destroy(resp_request_t *p)
{
    if (p == NULL)
        return;
    redisReaderFree(p->reader);
    rc_buf_free(&p->inline_buf);
    rc_free(p->argv);
    rc_free(p->arena);
    rc_free(p);
}

void resp_request_set_limits(resp_request_t *p, long long max_bulk, long long max_query)
{
    p->max_bulk = max_bulk;
    p->max_query = max_query;
}

void resp_request_set_authenticated(resp_request_t *p, int authenticated)
{
    p->authenticated = authenticated;
}

const char *resp_request_error(const resp_request_t *p)
{
    return p->err == RC_EPROTO ? p->errstr : "";
}

size_t resp_request_buffered(const resp_request_t *p)
{
    return p->req_bytes + p->inline_buf.len + p->stage_len;
}

size_t resp_request_memory(const resp_request_t *p)
{
    return sizeof(*p) + p->inline_buf.cap + p->argv_cap * sizeof(resp_arg_t) + p->arena_cap +
           (p->reader != NULL ? p->reader->len : 0);
}

static ssize_t fail(resp_request_t *p, int err, const char *what)
{
    p->err = err;
    if (err == RC_EPROTO)
        snprintf(p->errstr, sizeof(p->errstr), "ERR Protocol error: %s", what);
    return err;
}

/* --- staging: batches small pieces into one redisReaderFeed() ------------ */

static void stage_flush(resp_request_t *p)
{
    if (p->stage_len == 0)
        return;
    if (redisReaderFeed(p->reader, p->stage, p->stage_len) != REDIS_OK) {
        fprintf(stderr, "Out of memory feeding a request reader\n");
        abort();
    }
    p->stage_len = 0;
}

static void stage_put(resp_request_t *p, const char *buf, size_t len)
{
    if (p->stage_len + len > sizeof(p->stage)) {
        stage_flush(p);
        if (len > sizeof(p->stage) / 2) {
            if (redisReaderFeed(p->reader, buf, len) != REDIS_OK) {
                fprintf(stderr, "Out of memory feeding a request reader\n");
                abort();
            }
            return;
        }
    }
    memcpy(p->stage + p->stage_len, buf, len);
    p->stage_len += len;
}

/* Stages "<type><v>\r\n"; 'v' is positive (checked by the scanner). */
static void stage_header(resp_request_t *p, char type, long long v)
{
    char hdr[32], *end = hdr + sizeof(hdr), *q = end;
    unsigned long long u = (unsigned long long)v;

    *--q = '\n';
    *--q = '\r';
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    *--q = type;
    stage_put(p, q, (size_t)(end - q));
}

/* --- argv storage ---------------------------------------------------------- */

static void reserve(resp_request_t *p, size_t arena, size_t nargs)
{
    if (p->arena_cap < arena) {
        rc_free(p->arena);
        p->arena = rc_xmalloc(arena);
        p->arena_cap = arena;
    }
    if (p->argv_cap < nargs) {
        rc_free(p->argv);
        p->argv = rc_xmalloc(nargs * sizeof(*p->argv));
        p->argv_cap = nargs;
    }
    p->arena_len = 0;
    p->argc = 0;
}

/* Frees oversized storage after a big request so idle clients stay small. */
static void trim(resp_request_t *p)
{
    if (p->arena_cap > ARENA_KEEP) {
        rc_free(p->arena);
        p->arena = NULL;
        p->arena_cap = 0;
    }
    if (p->argv_cap > ARGV_KEEP) {
        rc_free(p->argv);
        p->argv = NULL;
        p->argv_cap = 0;
    }
    rc_buf_reset_trim(&p->inline_buf, ARENA_KEEP);
    p->arena_len = 0;
    p->argc = 0;
}

/* Consumes header-line bytes from 'buf'. Returns the bytes used; sets
 * '*done' once the line and the byte after its '\r' (Redis skips it
 * unchecked) are in. */
static size_t scan_line(resp_request_t *p, const char *buf, size_t len, int *done)
{
    size_t i = 0;

    *done = 0;
    if (!p->line_cr) {
        const char *cr = memchr(buf, '\r', len);
        size_t take = cr != NULL ? (size_t)(cr - buf) : len;

        if (p->line_len < sizeof(p->line)) {
            size_t room = sizeof(p->line) - p->line_len;

            memcpy(p->line + p->line_len, buf, take < room ? take : room);
        }
        p->line_len += take;
        i = take;
        if (cr == NULL)
            return i;
        p->line_cr = 1;
        i++;
    }
    if (i < len) {
        *done = 1;
        i++;
    }
    return i;
}

static void reset_line(resp_request_t *p)
{
    p->line_len = 0;
    p->line_cr = 0;
}

static int line_value(resp_request_t *p, long long *v)
{
    if (p->line_len > sizeof(p->line))
        return -1;
    return rc_string2ll(p->line, p->line_len, v);
}

/* The last bulk is in: build argv through the reader and run the command. */
static int complete_request(resp_request_t *p, resp_request_cmd_cb *cb, void *ud)
{
    void *reply = NULL;
    size_t big = p->req_bytes;
    int stop;

    stage_flush(p);
    reserve(p, p->payload + (size_t)p->nargs, (size_t)p->nargs);
    p->hook_error = 0;
    if (redisReaderGetReply(p->reader, &reply) != REDIS_OK || reply == NULL || p->hook_error ||
        p->argc != p->nargs)
        return (int)fail(p, RC_EPROTO, "internal parser mismatch");
    p->state = ST_START;
    p->req_bytes = 0;
    p->payload = 0;
    stop = cb(ud, p->argc, p->argv);
    trim(p);
    if (big > READER_RENEW) {
        /* The reader keeps its grown buffer; start afresh after big input. */
        redisReaderFree(p->reader);
        reader_new(p);
    }
    return stop ? 1 : 0;
}

static ssize_t check_query(resp_request_t *p, size_t more)
{
    if ((long long)(p->req_bytes + more) > p->max_query)
        return fail(p, RC_ETOOBIG, "query buffer limit");
    return 0;
}

static void inline_arg(void *ud, const char *ptr, size_t len)
{
    resp_request_t *p = ud;
    char *dst = p->arena + p->arena_len;

    RC_ASSERT(p->arena_len + len + 1 <= p->arena_cap && (size_t)p->argc < p->argv_cap);
    memcpy(dst, ptr, len);
    dst[len] = '\0';
    p->arena_len += len + 1;
    p->argv[p->argc].ptr = dst;
    p->argv[p->argc].len = len;
    p->argc++;
}

static int run_inline(resp_request_t *p, const char *line, size_t len, resp_request_cmd_cb *cb,
                      void *ud)
{
    int n, stop;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    /* Each argument is at most its span of the line, plus a NUL. */
    reserve(p, len + len / 2 + 2, len / 2 + 1);
    n = rc_split_args(line, len, inline_arg, p);
    if (n < 0)
        return (int)fail(p, RC_EPROTO, "unbalanced quotes in request");
    p->state = ST_START;
    rc_buf_reset(&p->inline_buf);
    if (n == 0) {
        trim(p);
        return 0;
    }
    stop = cb(ud, p->argc, p->argv);
    trim(p);
    return stop ? 1 : 0;
}

static ssize_t scan_inline(resp_request_t *p, const char *buf, size_t len, size_t *used,
                           resp_request_cmd_cb *cb, void *ud)
{
    const char *nl = memchr(buf, '\n', len);
    int rc;

    if (nl == NULL) {
        if (p->inline_buf.len + len > RESP_REQUEST_INLINE_MAX)
            return fail(p, RC_EPROTO, "too big inline request");
        rc_buf_append(&p->inline_buf, buf, len);
        *used = len;
        return 0;
    }
    *used = (size_t)(nl - buf) + 1;
    if (p->inline_buf.len == 0) {
        rc = run_inline(p, buf, (size_t)(nl - buf), cb, ud);
    } else {
        rc_buf_append(&p->inline_buf, buf, (size_t)(nl - buf));
        rc = run_inline(p, p->inline_buf.data, p->inline_buf.len, cb, ud);
    }
    return rc;
}

ssize_t resp_request_feed(resp_request_t *p, const char *buf, size_t len, resp_request_cmd_cb *cb,
                          void *ud)
{
    size_t pos = 0;

    if (p->err != 0)
        return p->err;
    while (pos < len) {
        const char *at = buf + pos;
        size_t avail = len - pos, used = 0;
        long long v;
        int done;
        ssize_t rc;

        switch (p->state) {
        case ST_START:
            if (*at == '*') {
                p->state = ST_MB_LINE;
                reset_line(p);
                pos++;
            } else {
                p->state = ST_INLINE;
            }
            continue;
        case ST_INLINE:
            rc = scan_inline(p, at, avail, &used, cb, ud);
            if (rc < 0)
                return rc;
            pos += used;
            if (rc > 0)
                return (ssize_t)pos;
            continue;
        case ST_MB_LINE:
            pos += scan_line(p, at, avail, &done);
            if (!done) {
                if (!p->line_cr && p->line_len > RESP_REQUEST_INLINE_MAX)
                    return fail(p, RC_EPROTO, "too big mbulk count string");
                continue;
            }
            if (line_value(p, &v) != 0 || v > RESP_REQUEST_MAX_ARGS)
                return fail(p, RC_EPROTO, "invalid multibulk length");
            if (v > RESP_REQUEST_UNAUTH_MAX_ARGS && !p->authenticated)
                return fail(p, RC_EPROTO, "unauthenticated multibulk length");
            if (v <= 0) {
                p->state = ST_START; /* an empty request: skipped, as Redis does */
                continue;
            }
            p->nargs = v;
            p->args_left = v;
            p->payload = 0;
            p->req_bytes = 16;
            stage_header(p, '*', v);
            p->state = ST_BULK_TYPE;
            continue;
        case ST_BULK_TYPE:
            if (*at != '$') {
                char what[32];

                snprintf(what, sizeof(what), "expected '$', got '%c'", *at);
                return fail(p, RC_EPROTO, what);
            }
            pos++;
            reset_line(p);
            p->state = ST_BULK_LINE;
            continue;
        case ST_BULK_LINE:
            pos += scan_line(p, at, avail, &done);
            if (!done) {
                if (!p->line_cr && p->line_len > RESP_REQUEST_INLINE_MAX)
                    return fail(p, RC_EPROTO, "too big bulk count string");
                continue;
            }
            if (line_value(p, &v) != 0 || v < 0 || v > p->max_bulk)
                return fail(p, RC_EPROTO, "invalid bulk length");
            if (v > RESP_REQUEST_UNAUTH_MAX_BULK && !p->authenticated)
                return fail(p, RC_EPROTO, "unauthenticated bulk length");
            /* Refuse before buffering: the bytes this bulk announces and
             * its argv slot count against client-query-buffer-limit. */
            rc = check_query(p, (size_t)v + 2 + 16 + sizeof(resp_arg_t));
            if (rc < 0)
                return rc;
            p->req_bytes += 16 + sizeof(resp_arg_t);
            p->payload += (size_t)v;
            p->bulk_left = v + 2;
            stage_header(p, '$', v);
            p->state = ST_BULK_DATA;
            continue;
        case ST_BULK_DATA:
            used = avail < (size_t)p->bulk_left ? avail : (size_t)p->bulk_left;
            stage_put(p, at, used);
            p->req_bytes += used;
            p->bulk_left -= (long long)used;
            pos += used;
            if (p->bulk_left > 0)
                continue;
            if (--p->args_left > 0) {
                p->state = ST_BULK_TYPE;
                continue;
            }
            rc = complete_request(p, cb, ud);
            if (rc < 0)
                return rc;
            if (rc > 0)
                return (ssize_t)pos;
            continue;
        }
    }
    stage_flush(p);
    return (ssize_t)pos;
}
