/* resp/resp_request.c: the client request parser (see resp_request.h). The one
 * rule: each request is parsed once, by hiredis's redisReader; this file
 * only checks what the reader found, never frames the stream itself.
 *
 *   socket bytes --+-- first byte '*' --> redisReader --> object functions
 *                  |                      (framing,        (check each bulk
 *                  |                       lengths)         header, copy the
 *                  |                                        argument into the
 *                  |                                        arena)
 *                  +-- otherwise -------> inline line, split here
 *
 * hiredis 0.14.1 reads lengths laxly ("+4", "04" and "$x" are accepted or
 * become nil) and buffers a bulk before it calls us, so three small checks
 * keep Redis's rules and limits without a second parse:
 *
 *   - a request's "*<count>" line is checked when it is complete, before
 *     the reader reads it (count, unauthenticated limit, empty requests);
 *   - a bulk's "$<len>" line is checked on the digits the reader delimited:
 *     in on_string() when the bulk is complete, or, while the reader waits
 *     for its payload, on the pending header after each feed, so an
 *     oversized bulk is refused before its bytes are buffered;
 *   - the type byte of each element is looked at before the reader reads
 *     it (Redis wants '$' there, hiredis would take any reply type).
 *
 * These checks read the reader's buffer cursor (buf, pos, len, ridx,
 * rstack: public fields of hiredis 0.14.1's redisReader), and two places
 * move 'pos' forward over bytes handed back to the inline path; all of
 * that lives in the reader_* helpers below. */
#include "resp/resp_request.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/read.h>
#include <hiredis/sds.h>

#include "common/rc.h"
#include "common/rc_buf.h"
#include "common/rc_str.h"

enum {
    FEED_PIECE = 4096,               /* bytes given to the reader at a time (see feed) */
    BIG_BULK = RESP_REQUEST_BIG_ARG, /* a bulk this big gets its room in one step */
    ARENA_KEEP = 64 * 1024,          /* larger arenas are freed after the command */
    ARGV_KEEP = 1024,
    READER_RENEW = 64 * 1024,               /* recreate the reader after larger requests */
    ARG_OVERHEAD = 16 + sizeof(resp_arg_t), /* per argument, for the query limit */
};

struct resp_request_s {
    redisReader *reader;
    long long max_bulk;
    long long max_query;
    int authenticated;
    int err;
    char errstr[128];

    int in_request;   /* the reader holds a multibulk request (or its start) */
    long long nargs;  /* its announced argument count */
    size_t req_bytes; /* bytes counted against client-query-buffer-limit */

    rc_buf_t inline_buf; /* partial inline line */
    int trimmed;         /* resp_request_trim() ran, nothing fed since */

    rc_buf_t arena;  /* the arguments' bytes, each followed by a NUL */
    size_t *off;     /* [argc] offsets in 'arena' (it may move while it grows) */
    char **blk;      /* [argc] a big argument's own block (see big_fill()), or NULL */
    int nblk;        /* arguments given a block in this request (0: skip 'blk') */
    char *big;       /* the block of the big bulk being read (argument 'argc') */
    size_t big_len;  /* its length */
    size_t big_have; /* its bytes copied into 'big' so far */
    resp_arg_t *argv;
    int argc;
    size_t argv_cap;
};

static ssize_t fail(resp_request_t *p, int err, const char *what)
{
    if (p->err != 0)
        return p->err; /* the first error is the one reported */
    p->err = err;
    if (err == RC_EPROTO)
        snprintf(p->errstr, sizeof(p->errstr), "ERR Protocol error: %s", what);
    return err;
}

static ssize_t fail_type(resp_request_t *p, char got)
{
    char what[32];

    snprintf(what, sizeof(what), "expected '$', got '%c'", got);
    return fail(p, RC_EPROTO, what);
}

/* --- arguments ------------------------------------------------------------- */

static void big_drop(resp_request_t *p)
{
    rc_free(p->big);
    p->big = NULL;
}

static void arg_add(resp_request_t *p, const char *ptr, size_t len)
{
    char *dst;

    if ((size_t)p->argc == p->argv_cap) {
        p->argv_cap = p->argv_cap < 8 ? 8 : p->argv_cap * 2;
        p->argv = rc_xrealloc(p->argv, p->argv_cap * sizeof(*p->argv));
        p->off = rc_xrealloc(p->off, p->argv_cap * sizeof(*p->off));
        p->blk = rc_xrealloc(p->blk, p->argv_cap * sizeof(*p->blk));
    }
    p->argv[p->argc].len = len;
    if (p->big != NULL && len == p->big_len) {
        /* Most of it is in its block already (big_fill()): the rest. */
        memcpy(p->big + RESP_REQUEST_ARG_HEAD + p->big_have, ptr + p->big_have, len - p->big_have);
        p->big[RESP_REQUEST_ARG_HEAD + len] = '\0';
        p->blk[p->argc++] = p->big;
        p->big = NULL;
        p->nblk++;
        return;
    }
    big_drop(p);
    p->off[p->argc] = p->arena.len;
    p->blk[p->argc++] = NULL;
    /* Room for the bytes and their NUL at once: appending the NUL apart
     * would grow (copy) a big argument a second time. */
    dst = rc_buf_reserve(&p->arena, len + 1);
    if (len > 0)
        memcpy(dst, ptr, len);
    dst[len] = '\0';
    rc_buf_commit(&p->arena, len + 1);
}

/* Points argv at the arena, now that it no longer moves. */
static void args_fix(resp_request_t *p)
{
    int i;

    if (p->nblk == 0) {
        for (i = 0; i < p->argc; i++)
            p->argv[i].ptr = p->arena.data + p->off[i];
        return;
    }
    for (i = 0; i < p->argc; i++)
        p->argv[i].ptr =
            p->blk[i] != NULL ? p->blk[i] + RESP_REQUEST_ARG_HEAD : p->arena.data + p->off[i];
}

/* Frees the blocks of the arguments no command took. */
static void blocks_free(resp_request_t *p)
{
    for (int i = 0; i < p->argc && p->nblk > 0; i++) {
        rc_free(p->blk[i]);
        p->blk[i] = NULL;
    }
    p->nblk = 0;
}

static void argv_free(resp_request_t *p)
{
    rc_free(p->argv);
    rc_free(p->off);
    rc_free(p->blk);
    p->argv = NULL;
    p->off = NULL;
    p->blk = NULL;
    p->argv_cap = 0;
}

/* Frees oversized storage after a big request so idle clients stay small. */
static void args_trim(resp_request_t *p)
{
    blocks_free(p);
    rc_buf_reset_trim(&p->arena, ARENA_KEEP);
    if (p->argv_cap > ARGV_KEEP)
        argv_free(p);
    p->argc = 0;
}

/* --- checks on what the reader found --------------------------------------- */

/* Finds the "\r\n" ending the line at 's' ('n' bytes available), as hiredis
 * does. Returns the line's length, or -1 when it is not complete. */
static ssize_t line_len(const char *s, size_t n)
{
    const char *cr = s, *end = s + n;

    while ((cr = memchr(cr, '\r', (size_t)(end - cr))) != NULL) {
        if (cr + 1 < end && cr[1] == '\n')
            return cr - s;
        cr++;
    }
    return -1;
}

/* Checks the 'n' digits of a bulk header, as Redis's processMultibulkBuffer
 * does, and the query limit on the size it announces. */
static int check_bulk(resp_request_t *p, const char *digits, size_t n, long long *out)
{
    long long v;

    if (rc_string2ll(digits, n, &v) != 0 || v < 0 || v > p->max_bulk)
        return (int)fail(p, RC_EPROTO, "invalid bulk length");
    if (v > RESP_REQUEST_UNAUTH_MAX_BULK && !p->authenticated)
        return (int)fail(p, RC_EPROTO, "unauthenticated bulk length");
    /* Refused before buffering: the bytes the bulk announces and its argv
     * slot count against client-query-buffer-limit. */
    if ((long long)(p->req_bytes + (size_t)v + 2 + ARG_OVERHEAD) > p->max_query)
        return (int)fail(p, RC_ETOOBIG, "query buffer limit");
    *out = v;
    return 0;
}

static void reader_new(resp_request_t *p);

/* --- the reader ---------------------------------------------------------------
 * Everything that reads or moves redisReader's cursor is here. */

/* Between requests: no task, or a root task still without its type byte
 * (hiredis sets one up when it is asked for a reply with nothing to read). */
static int reader_at_boundary(const redisReader *r)
{
    return r->ridx == -1 || (r->ridx == 0 && r->rstack[0].type < 0);
}

static size_t reader_unread(const redisReader *r)
{
    return r->len - r->pos;
}

/* Marks the bytes up to 'pos' read. A reader left empty and large is
 * replaced: hiredis compacts its buffer only when it returns a reply. */
static void reader_skip_to(resp_request_t *p, size_t pos)
{
    redisReader *r = p->reader;

    r->pos = pos;
    if (r->pos == r->len && r->len >= FEED_PIECE) {
        redisReaderFree(r);
        reader_new(p);
    }
}

/* The bytes after the last complete request go back to the caller (an
 * inline request follows, or the command asked to stop). Returns how many. */
static size_t reader_give_back(resp_request_t *p)
{
    size_t n = reader_unread(p->reader);

    RC_ASSERT(reader_at_boundary(p->reader));
    reader_skip_to(p, p->reader->len);
    return n;
}

/* At a request boundary, with '*' next: checks the count line before the
 * reader sees it. Returns 1 to let the reader go on, 0 when the line is not
 * complete yet, or an error. */
static int reader_check_count(resp_request_t *p)
{
    redisReader *r = p->reader;
    const char *s = r->buf + r->pos + 1;
    size_t avail = reader_unread(r) - 1;
    ssize_t n = line_len(s, avail);
    long long v;

    if (n < 0) {
        if (avail > RESP_REQUEST_INLINE_MAX)
            return (int)fail(p, RC_EPROTO, "too big mbulk count string");
        return 0;
    }
    if (rc_string2ll(s, (size_t)n, &v) != 0 || v > RESP_REQUEST_MAX_ARGS)
        return (int)fail(p, RC_EPROTO, "invalid multibulk length");
    if (v > RESP_REQUEST_UNAUTH_MAX_ARGS && !p->authenticated)
        return (int)fail(p, RC_EPROTO, "unauthenticated multibulk length");
    if (v <= 0) {
        /* An empty request: skipped, as Redis does (hiredis would take a
         * count below -1 for a length to read). */
        reader_skip_to(p, r->pos + 1 + (size_t)n + 2);
        return 2;
    }
    p->nargs = v;
    p->req_bytes = 16;
    blocks_free(p);
    big_drop(p);
    p->argc = 0;
    rc_buf_reset(&p->arena);
    return 1;
}

/* A big bulk's room in the reader's buffer (up to its byte 'end'), in one
 * step once its header is checked, as Redis sizes its query buffer for a
 * big argument; asked for as huge pages, as rc_x* allocations are. hiredis
 * would grow the buffer by 1 MB at a time, and each step can copy all that
 * came before: a 128 MB value was copied about 64 times, its SET took 3-5x
 * Redis's time, much of it in one stretch of the event loop. (Doubling
 * instead cost 2x this in time: each step copies into fresh pages.) The
 * room is virtual until the bytes arrive, and bounded by proto-max-bulk-len
 * and client-query-buffer-limit, which check_bulk() applied. */
static void reader_make_room(resp_request_t *p, size_t end)
{
    redisReader *r = p->reader;
    size_t need;

    if (end <= r->len || end - r->len < BIG_BULK || sdsavail(r->buf) >= end - r->len)
        return;
    need = end - r->len;
    r->buf = sdsMakeRoomFor(r->buf, need);
    if (r->buf == NULL) {
        fprintf(stderr, "Out of memory growing a request reader by %zu bytes\n", need);
        abort();
    }
    rc_advise_huge(r->buf, sdsalloc(r->buf));
}

/* A big bulk (argument 'argc', 'len' bytes from 'start' in the reader's
 * buffer) gets a block of its own once its header is checked, and its
 * bytes are copied there as they arrive, after each feed: so the block's
 * fresh pages are faulted in over the turns of the loop that read it, not
 * all in the one that completes it (which costs about 1 ms a MB here), and
 * a command can keep the block as its value (resp_request_take_arg())
 * instead of copying it once more. arg_add() copies what is left. */
static void big_fill(resp_request_t *p, size_t start, size_t len)
{
    const redisReader *r = p->reader;
    size_t upto;

    if (p->big == NULL) {
        p->big = rc_xmalloc(RESP_REQUEST_ARG_HEAD + len + 1);
        p->big_len = len;
        p->big_have = 0;
    }
    RC_ASSERT(p->big_len == len);
    upto = r->len > start ? r->len - start : 0;
    if (upto > len)
        upto = len;
    if (upto > p->big_have) {
        memcpy(p->big + RESP_REQUEST_ARG_HEAD + p->big_have, r->buf + start + p->big_have,
               upto - p->big_have);
        p->big_have = upto;
    }
}

/* Checks the "$<len>" header of a bulk whose digits start at 'at', as far
 * as it has arrived. */
static int reader_check_header_at(resp_request_t *p, size_t at)
{
    const redisReader *r = p->reader;
    size_t avail = r->len - at;
    ssize_t n = line_len(r->buf + at, avail);
    long long v;
    int rc;

    if (n < 0) {
        if (avail > RESP_REQUEST_INLINE_MAX)
            return (int)fail(p, RC_EPROTO, "too big bulk count string");
        return 0;
    }
    rc = check_bulk(p, r->buf + at, (size_t)n, &v);
    if (rc != 0)
        return rc;
    reader_make_room(p, at + (size_t)n + 2 + (size_t)v + 2);
    if (v >= BIG_BULK)
        big_fill(p, at + (size_t)n + 2, (size_t)v);
    return 0;
}

/* Checks the element starting at 'at', as far as it has arrived: its type
 * byte must be '$', and its header is checked before the reader reads it
 * (hiredis refuses a bad length with its own error and drops its buffer). */
static int reader_check_element_at(resp_request_t *p, size_t at)
{
    const redisReader *r = p->reader;

    if (at >= r->len)
        return 0;
    if (r->buf[at] != '$')
        return (int)fail_type(p, r->buf[at]);
    return reader_check_header_at(p, at + 1);
}

/* Checks the element the reader waits for, before it reads on and after
 * it stopped: its type byte if that is next, else (the reader took the
 * '$') the bulk header. So a bulk over the limits is refused as soon as
 * its header is here, before its payload is buffered. */
static int reader_check_pending(resp_request_t *p)
{
    redisReader *r = p->reader;
    const redisReadTask *t;

    if (r->ridx < 1)
        return 0;
    t = &r->rstack[r->ridx];
    if (t->type < 0)
        return reader_check_element_at(p, r->pos);
    if (t->type != REDIS_REPLY_STRING)
        return 0; /* flagged when its type byte was seen */
    return reader_check_header_at(p, r->pos);
}

/* --- hiredis object functions --------------------------------------------
 * Every hook returns the parser itself as the "object": nothing is
 * allocated per reply object, and a non-NULL return keeps the reader from
 * reporting out of memory. After an error they do nothing. */

static void *on_string(const redisReadTask *task, char *str, size_t len)
{
    resp_request_t *p = task->privdata;
    const redisReader *r = p->reader;

    if (p->err != 0)
        return p;
    if (task->parent == NULL || task->type != REDIS_REPLY_STRING) {
        fail_type(p, task->type == REDIS_REPLY_ERROR ? '-' : '+');
        return p;
    }
    /* Its header was checked before the reader read it. */
    p->req_bytes += ARG_OVERHEAD + len + 2;
    arg_add(p, str, len);
    if (task->idx < task->parent->elements - 1)
        reader_check_element_at(p, (size_t)(str - r->buf) + len + 2);
    return p;
}

static void *on_array(const redisReadTask *task, int elements)
{
    resp_request_t *p = task->privdata;

    if (p->err != 0)
        return p;
    if (task->parent != NULL) {
        fail_type(p, '*');
        return p;
    }
    /* The count line was checked before the reader read it. */
    if (elements <= 0 || elements != p->nargs) {
        fail(p, RC_EPROTO, "internal parser mismatch");
        return p;
    }
    reader_check_element_at(p, p->reader->pos);
    return p;
}

static void *on_integer(const redisReadTask *task, long long value)
{
    resp_request_t *p = task->privdata;

    (void)value;
    if (p->err == 0)
        fail_type(p, ':');
    return p;
}

static void *on_nil(const redisReadTask *task)
{
    resp_request_t *p = task->privdata;

    if (p->err != 0)
        return p;
    if (task->type != REDIS_REPLY_STRING || task->parent == NULL)
        fail_type(p, '*');
    else
        fail(p, RC_EPROTO, "invalid bulk length"); /* "$-1": refused before */
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

static void reader_feed(resp_request_t *p, const char *buf, size_t len)
{
    if (redisReaderFeed(p->reader, buf, len) != REDIS_OK) {
        fprintf(stderr, "Out of memory feeding a request reader\n");
        abort();
    }
}

/* --- API --------------------------------------------------------------------- */

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
    rc_buf_free(&p->arena);
    blocks_free(p);
    big_drop(p);
    argv_free(p);
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
    return (p->in_request ? p->req_bytes : 0) + reader_unread(p->reader) + p->inline_buf.len;
}

void resp_request_trim(resp_request_t *p)
{
    if (p->trimmed || p->in_request || resp_request_buffered(p) != 0 ||
        !reader_at_boundary(p->reader))
        return;
    rc_buf_free(&p->inline_buf);
    rc_buf_free(&p->arena);
    argv_free(p);
    p->argc = 0;
    redisReaderFree(p->reader); /* its buffer keeps the capacity of its largest read */
    reader_new(p);
    p->trimmed = 1;
}

size_t resp_request_memory(const resp_request_t *p)
{
    size_t blocks = p->big != NULL ? p->big_len : 0;

    for (int i = 0; i < p->argc && p->nblk > 0; i++)
        blocks += p->blk[i] != NULL ? p->argv[i].len : 0;
    return sizeof(*p) + p->inline_buf.cap + p->arena.cap + blocks +
           p->argv_cap * (sizeof(*p->argv) + sizeof(*p->off) + sizeof(*p->blk)) +
           (p->reader != NULL ? p->reader->len : 0);
}

char *resp_request_take_arg(resp_request_t *p, int i)
{
    char *b;

    if (i < 0 || i >= p->argc || p->nblk == 0)
        return NULL;
    b = p->blk[i];
    p->blk[i] = NULL;
    return b;
}

/* --- multibulk requests: the reader ------------------------------------------ */

enum drain_e {
    DRAIN_MORE = 0,     /* the reader waits for bytes */
    DRAIN_BOUNDARY = 1, /* at a request boundary with no '*' next */
    DRAIN_STOP = 2,     /* the command asked to stop */
};

/* A complete request: run the command. Returns 1 if it asked to stop. */
static int complete_request(resp_request_t *p, resp_request_cmd_cb *cb, void *ud)
{
    redisReader *r = p->reader;
    size_t big = p->req_bytes;
    int stop;

    if (p->argc != p->nargs)
        return (int)fail(p, RC_EPROTO, "internal parser mismatch");
    p->req_bytes = 0;
    args_fix(p);
    stop = cb(ud, p->argc, p->argv);
    args_trim(p);
    if (big > READER_RENEW && reader_unread(r) == 0) {
        /* The reader keeps its grown buffer; start afresh after big input. */
        redisReaderFree(r);
        reader_new(p);
    }
    return stop ? 1 : 0;
}

/* Lets the reader parse what it holds, one request at a time. Returns a
 * drain_e or an error. */
static int drain(resp_request_t *p, resp_request_cmd_cb *cb, void *ud)
{
    for (;;) {
        redisReader *r = p->reader;
        void *reply = NULL;
        int rc;

        if (reader_at_boundary(r)) {
            if (reader_unread(r) == 0 || r->buf[r->pos] != '*')
                return DRAIN_BOUNDARY;
            rc = reader_check_count(p);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return DRAIN_MORE;
            if (rc == 2)
                continue; /* an empty request */
        } else {
            rc = reader_check_pending(p); /* the next type byte, fed since */
            if (rc < 0)
                return rc;
        }
        if (redisReaderGetReply(r, &reply) != REDIS_OK) {
            /* Our hooks look at each type byte before the reader does, so
             * the reader's own errors are not expected; report ours. */
            return (int)fail(p, RC_EPROTO, "invalid request");
        }
        if (p->err != 0)
            return p->err;
        if (reply == NULL) {
            rc = reader_check_pending(p);
            return rc < 0 ? rc : DRAIN_MORE;
        }
        rc = complete_request(p, cb, ud);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return DRAIN_STOP;
    }
}

/* --- inline requests ----------------------------------------------------------- */

static void inline_arg(void *ud, const char *ptr, size_t len)
{
    arg_add(ud, ptr, len);
}

static int run_inline(resp_request_t *p, const char *line, size_t len, resp_request_cmd_cb *cb,
                      void *ud)
{
    int n, stop;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    p->argc = 0;
    rc_buf_reset(&p->arena);
    /* Each argument is at most its span of the line, plus a NUL. */
    rc_buf_reserve(&p->arena, len + len / 2 + 2);
    n = rc_split_args(line, len, inline_arg, p);
    if (n < 0)
        return (int)fail(p, RC_EPROTO, "unbalanced quotes in request");
    rc_buf_reset_trim(&p->inline_buf, ARENA_KEEP);
    if (n == 0) {
        args_trim(p);
        return 0;
    }
    args_fix(p);
    stop = cb(ud, p->argc, p->argv);
    args_trim(p);
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

/* --- feeding --------------------------------------------------------------------
 * The reader gets the stream FEED_PIECE bytes at a time: after each
 * complete request it moves what is left to the front of its buffer, so
 * small pieces keep that copy small. Bytes it holds past the last complete
 * request always come from the piece just given, so handing them back is
 * stepping 'pos' back. */

ssize_t resp_request_feed(resp_request_t *p, const char *buf, size_t len, resp_request_cmd_cb *cb,
                          void *ud)
{
    size_t pos = 0;
    int need_bytes = p->in_request;

    p->trimmed = 0;
    if (p->err != 0)
        return p->err;
    for (;;) {
        size_t back;
        int rc;

        if (!p->in_request) {
            if (pos == len)
                break;
            if (p->inline_buf.len > 0 || buf[pos] != '*') {
                size_t used = 0;
                ssize_t irc = scan_inline(p, buf + pos, len - pos, &used, cb, ud);

                if (irc < 0)
                    return irc;
                pos += used;
                if (irc > 0)
                    return (ssize_t)pos;
                continue;
            }
            p->in_request = 1;
            need_bytes = 1;
        }
        if (need_bytes) {
            size_t take = len - pos < FEED_PIECE ? len - pos : FEED_PIECE;

            if (take == 0)
                break;
            reader_feed(p, buf + pos, take);
            pos += take;
        }
        rc = drain(p, cb, ud);
        if (rc < 0)
            return rc;
        if (rc == DRAIN_MORE) {
            need_bytes = 1;
            continue;
        }
        back = reader_give_back(p);
        RC_ASSERT(back <= pos);
        pos -= back;
        p->in_request = 0;
        need_bytes = 0;
        if (rc == DRAIN_STOP)
            return (ssize_t)pos;
    }
    return (ssize_t)pos;
}

/* "<c><digits>\r\n" at '*p' (before 'end'): the number (at most 18
 * digits), with '*p' moved past it, or -1. */
static long long peek_header(const char **p, const char *end, char c)
{
    const char *q = *p;
    long long v = 0;
    int n = 0;

    if (q >= end || *q++ != c)
        return -1;
    while (q < end && *q >= '0' && *q <= '9' && n < 18) {
        v = v * 10 + (*q++ - '0');
        n++;
    }
    if (n == 0 || end - q < 2 || q[0] != '\r' || q[1] != '\n')
        return -1;
    *p = q + 2;
    return v;
}

size_t resp_request_peek(const char *buf, size_t len, long long max_args, int *argc,
                         resp_arg_t *argv, int max)
{
    const char *p = buf, *end = buf + len;
    long long n = peek_header(&p, end, '*'), i;

    if (n <= 0 || n > max_args || n > INT_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        long long blen = peek_header(&p, end, '$');

        if (blen < 0 || end - p < blen + 2 || p[blen] != '\r' || p[blen + 1] != '\n')
            return 0;
        if (i < max) {
            argv[i].ptr = (char *)(uintptr_t)p;
            argv[i].len = (size_t)blen;
        }
        p += blen + 2;
    }
    *argc = (int)n;
    return (size_t)(p - buf);
}
