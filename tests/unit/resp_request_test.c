/* tests/unit/resp_request_test.c: the request parser without sockets: RESP
 * and inline requests split at every byte, limits checked before bytes are
 * buffered, Redis's protocol error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "resp/resp_request.h"

#define MB (1024LL * 1024)

/* Every command seen, flattened as "<argc>|<len>:<bytes>|<len>:<bytes>..." */
typedef struct seen_s {
    char *buf;
    size_t len;
    size_t cap;
    int commands;
    int stop_after; /* ask the parser to stop after this many, 0: never */
    /* resp_request_take_arg(take_from, take_arg) in command take_cmd (1-based) */
    resp_request_t *take_from;
    int take_cmd, take_arg;
    char *taken;
    int not_taken; /* takes that found no block of its own */
} seen_t;

static void put(seen_t *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        /* Plain realloc: the record outlives single tests' leak checks. */
        s->cap = (s->len + n) * 2 + 64;
        s->buf = realloc(s->buf, s->cap);
        assert_non_null(s->buf);
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static int on_cmd(void *ud, int argc, resp_arg_t *argv)
{
    seen_t *s = ud;
    char hdr[32];
    int i;

    snprintf(hdr, sizeof(hdr), "%d", argc);
    put(s, hdr, strlen(hdr));
    for (i = 0; i < argc; i++) {
        assert_int_equal(argv[i].ptr[argv[i].len], '\0'); /* NUL-terminated copy */
        snprintf(hdr, sizeof(hdr), "|%zu:", argv[i].len);
        put(s, hdr, strlen(hdr));
        put(s, argv[i].ptr, argv[i].len);
    }
    put(s, "\n", 1);
    s->commands++;
    if (s->take_from != NULL) {
        for (i = 0; i < argc; i++) {
            if (s->commands == s->take_cmd && i == s->take_arg) {
                s->taken = resp_request_take_arg(s->take_from, i);
                assert_non_null(s->taken);
                assert_ptr_equal(s->taken + RESP_REQUEST_ARG_HEAD, argv[i].ptr);
                assert_null(resp_request_take_arg(s->take_from, i)); /* once */
            } else if (argv[i].len < RESP_REQUEST_BIG_ARG) {
                /* small arguments share the arena: nothing to take */
                s->not_taken += resp_request_take_arg(s->take_from, i) == NULL;
            }
        }
    }
    return s->stop_after != 0 && s->commands >= s->stop_after;
}

static int setup(void **state)
{
    seen_t *s = test_calloc(1, sizeof(*s));

    *state = s;
    return 0;
}

static int teardown(void **state)
{
    seen_t *s = *state;

    free(s->buf);
    test_free(s);
    return 0;
}

static void reset(seen_t *s)
{
    s->len = 0;
    s->commands = 0;
    s->stop_after = 0;
}

static resp_request_t *parser(void)
{
    resp_request_t *p = resp_request_create(512 * MB, 1024 * MB);

    resp_request_set_authenticated(p, 1);
    return p;
}

/* Feeds all of 'data' in one call and returns the feed result. */
static ssize_t feed_all(resp_request_t *p, seen_t *s, const char *data, size_t len)
{
    return resp_request_feed(p, data, len, on_cmd, s);
}

static void test_proto_resp_request_gives_argv(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char req[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n";

    assert_int_equal(feed_all(p, s, req, sizeof(req) - 1), sizeof(req) - 1);
    assert_int_equal(s->commands, 1);
    assert_memory_equal(s->buf, "3|3:SET|3:key|5:va\r\nl\n", s->len);
    resp_request_destroy(p);
}

static void test_proto_inline_request_splits_like_redis(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char req[] = "SET  k \"a b\\x41\\n\" 'it\\'s'\r\n";
    static const char want[] = "4|3:SET|1:k|5:a bA\n|4:it's\n";

    assert_int_equal(feed_all(p, s, req, sizeof(req) - 1), sizeof(req) - 1);
    assert_int_equal(s->commands, 1);
    assert_int_equal(s->len, sizeof(want) - 1);
    assert_memory_equal(s->buf, want, s->len);
    resp_request_destroy(p);
}

static void test_proto_empty_requests_are_skipped(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char req[] = "\r\n   \r\n*0\r\n*-1\r\nPING\n";

    assert_int_equal(feed_all(p, s, req, sizeof(req) - 1), sizeof(req) - 1);
    assert_int_equal(s->commands, 1);
    assert_memory_equal(s->buf, "1|4:PING\n", s->len);
    resp_request_destroy(p);
}

/* A pipelined stream of RESP and inline requests, with binary payloads
 * that contain CR, LF, '*' and '$'. */
static const char stream[] = "*1\r\n$4\r\nPING\r\n"
                             "PING\r\n"
                             "*3\r\n$3\r\nSET\r\n$4\r\nk\r\n*\r\n$6\r\n$1\r\n\0\xff\r\n"
                             "ECHO \"x y\" 'z'\n"
                             "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
                             "*0\r\n"
                             "\r\n"
                             "*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n"
                             "MGET a b c\r\n";

static void collect(seen_t *s, const char *data, size_t len, size_t split, size_t chunk)
{
    resp_request_t *p = parser();
    size_t off = 0;

    reset(s);
    if (chunk == 0) {
        assert_int_equal(feed_all(p, s, data, split), split);
        assert_int_equal(feed_all(p, s, data + split, len - split), len - split);
    } else {
        for (off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;

            assert_int_equal(feed_all(p, s, data + off, n), n);
        }
    }
    resp_request_destroy(p);
}

static void test_proto_every_split_point_gives_same_commands(void **state)
{
    seen_t *s = *state;
    size_t len = sizeof(stream) - 1, split;
    char *want;
    size_t want_len;

    collect(s, stream, len, len, 0);
    assert_int_equal(s->commands, 7);
    want_len = s->len;
    want = test_malloc(want_len);
    memcpy(want, s->buf, want_len);
    for (split = 0; split <= len; split++) {
        collect(s, stream, len, split, 0);
        assert_int_equal(s->commands, 7);
        assert_int_equal(s->len, want_len);
        assert_memory_equal(s->buf, want, want_len);
    }
    collect(s, stream, len, 0, 1);
    assert_int_equal(s->len, want_len);
    assert_memory_equal(s->buf, want, want_len);
    collect(s, stream, len, 0, 3);
    assert_memory_equal(s->buf, want, want_len);
    test_free(want);
}

/* A long pipeline mixing RESP and inline requests, fed whole (the parser
 * gives the reader a piece at a time and takes back what follows a RESP
 * request when an inline one comes next) and byte by byte. */
static void test_proto_long_mixed_pipeline_parses_the_same_in_any_feed(void **state)
{
    seen_t *s = *state;
    static const char one[] = "*2\r\n$4\r\nECHO\r\n$5\r\nab\r\nc\r\nPING\r\n*0\r\n";
    size_t n = 500, len = n * (sizeof(one) - 1), i;
    char *data = test_malloc(len), *want;
    size_t want_len;

    for (i = 0; i < n; i++)
        memcpy(data + i * (sizeof(one) - 1), one, sizeof(one) - 1);
    collect(s, data, len, len, 0);
    assert_int_equal(s->commands, 2 * n);
    want_len = s->len;
    want = test_malloc(want_len);
    memcpy(want, s->buf, want_len);
    collect(s, data, len, 0, 1);
    assert_int_equal(s->len, want_len);
    assert_memory_equal(s->buf, want, want_len);
    collect(s, data, len, 0, 4099);
    assert_int_equal(s->len, want_len);
    assert_memory_equal(s->buf, want, want_len);
    test_free(want);
    test_free(data);
}

/* Stopping inside a long pipeline hands back every byte after the command. */
static void test_proto_stop_inside_a_long_pipeline(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char one[] = "*1\r\n$4\r\nPING\r\n";
    size_t n = 1000, len = n * (sizeof(one) - 1), i, off = 0;
    char *data = test_malloc(len);
    ssize_t got;

    for (i = 0; i < n; i++)
        memcpy(data + i * (sizeof(one) - 1), one, sizeof(one) - 1);
    reset(s);
    s->stop_after = 1;
    while (off < len) {
        got = feed_all(p, s, data + off, len - off);
        assert_int_equal(got, sizeof(one) - 1); /* one command per call */
        off += (size_t)got;
        s->stop_after = s->commands + 1;
    }
    assert_int_equal(s->commands, n);
    test_free(data);
    resp_request_destroy(p);
}

/* Empty requests never reach a command and leave nothing held. */
static void test_proto_many_empty_requests_hold_no_memory(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char empty[] = "*0\r\n*-1\r\n";
    size_t i, before = resp_request_memory(p);

    reset(s);
    for (i = 0; i < 20000; i++)
        assert_int_equal(feed_all(p, s, empty, sizeof(empty) - 1), sizeof(empty) - 1);
    assert_int_equal(s->commands, 0);
    assert_true(resp_request_memory(p) < before + 16384);
    assert_int_equal(resp_request_buffered(p), 0);
    resp_request_destroy(p);
}

/* An idle parser gives back what a large request grew (the arena keeps up
 * to 64 KB between requests); one holding part of a request keeps it all,
 * and the request completes intact. */
static void test_proto_trim_gives_back_only_an_idle_parsers_buffers(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char head[] = "*2\r\n$4\r\nECHO\r\n$30000\r\n";
    static const char next[] = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    size_t n = sizeof(head) - 1 + 30000 + 2, empty = resp_request_memory(p), before, held;
    char *req = malloc(n);

    assert_non_null(req);
    memcpy(req, head, sizeof(head) - 1);
    memset(req + sizeof(head) - 1, 'x', 30000);
    memcpy(req + n - 2, "\r\n", 2);
    reset(s);
    /* In two reads, so that its argument is copied (a request read whole
     * is run from the read buffer itself). */
    assert_int_equal(feed_all(p, s, req, n / 3), n / 3);
    assert_int_equal(feed_all(p, s, req + n / 3, n - n / 3), n - n / 3);
    assert_int_equal(s->commands, 1);
    assert_true(resp_request_memory(p) > empty + 30000); /* the arena stays for the next one */
    resp_request_trim(p);
    assert_true(resp_request_memory(p) <= empty);
    resp_request_trim(p); /* twice: nothing more to do */
    assert_true(resp_request_memory(p) <= empty);

    /* Half a request read: trimming now would lose it. */
    assert_int_equal(feed_all(p, s, req, n / 2), n / 2);
    held = resp_request_buffered(p);
    assert_true(held > 0);
    before = resp_request_memory(p);
    resp_request_trim(p);
    assert_int_equal(resp_request_memory(p), before);
    assert_int_equal(resp_request_buffered(p), held);
    assert_int_equal(feed_all(p, s, req + n / 2, n - n / 2), n - n / 2);
    assert_int_equal(s->commands, 2);
    /* The second ECHO came out whole: "2|4:ECHO|30000:x...x\n" twice. */
    assert_int_equal(s->len, 2 * (strlen("2|4:ECHO|30000:") + 30000 + 1));
    assert_memory_equal(s->buf + s->len / 2, "2|4:ECHO|30000:xxxx", 19);
    assert_int_equal(s->buf[s->len - 2], 'x');

    /* A trimmed parser reads on as before. */
    resp_request_trim(p);
    assert_int_equal(feed_all(p, s, next, sizeof(next) - 1), sizeof(next) - 1);
    assert_int_equal(s->commands, 3);
    assert_memory_equal(s->buf + s->len - strlen("2|3:GET|1:k\n"), "2|3:GET|1:k\n",
                        strlen("2|3:GET|1:k\n"));
    free(req);
    resp_request_destroy(p);
}

static void test_proto_stop_returns_bytes_consumed(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char req[] = "PING\r\n*1\r\n$4\r\nPING\r\nQUIT\r\n";

    s->stop_after = 1;
    assert_int_equal(feed_all(p, s, req, sizeof(req) - 1), 6);
    assert_int_equal(feed_all(p, s, req + 6, sizeof(req) - 1 - 6), 14);
    s->stop_after = 0;
    assert_int_equal(feed_all(p, s, req + 20, 6), 6);
    assert_int_equal(s->commands, 3);
    resp_request_destroy(p);
}

static void expect_error(seen_t *s, const char *input, size_t len, const char *reply)
{
    resp_request_t *p = parser();

    reset(s);
    assert_int_equal(feed_all(p, s, input, len), RC_EPROTO);
    assert_string_equal(resp_request_error(p), reply);
    /* Sticky: nothing more is parsed. */
    assert_int_equal(feed_all(p, s, "PING\r\n", 6), RC_EPROTO);
    resp_request_destroy(p);
}

#define EXPECT_ERROR(s, lit, reply) expect_error((s), (lit), sizeof(lit) - 1, (reply))

static void test_proto_malformed_input_gets_redis_error_texts(void **state)
{
    seen_t *s = *state;

    EXPECT_ERROR(s, "*x\r\n", "ERR Protocol error: invalid multibulk length");
    EXPECT_ERROR(s, "*01\r\n", "ERR Protocol error: invalid multibulk length");
    EXPECT_ERROR(s, "*1\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'");
    EXPECT_ERROR(s, "*2\r\n$4\r\nPING\r\n*1\r\n", "ERR Protocol error: expected '$', got '*'");
    EXPECT_ERROR(s, "*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length");
    EXPECT_ERROR(s, "*1\r\n$+4\r\nPING\r\n", "ERR Protocol error: invalid bulk length");
    EXPECT_ERROR(s, "*1\r\n$04\r\nPING\r\n", "ERR Protocol error: invalid bulk length");
    EXPECT_ERROR(s, "*1\r\n$ 4\r\nPING\r\n", "ERR Protocol error: invalid bulk length");
    EXPECT_ERROR(s, "ECHO \"a\r\n", "ERR Protocol error: unbalanced quotes in request");
    EXPECT_ERROR(s, "ECHO \"a\"b\r\n", "ERR Protocol error: unbalanced quotes in request");
    EXPECT_ERROR(s, "ECHO 'a\r\n", "ERR Protocol error: unbalanced quotes in request");
}

static void test_proto_commands_before_an_error_are_delivered(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char req[] = "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n";

    assert_int_equal(feed_all(p, s, req, sizeof(req) - 1), RC_EPROTO);
    assert_int_equal(s->commands, 2);
    resp_request_destroy(p);
}

static void test_proto_long_lines_are_refused(void **state)
{
    seen_t *s = *state;
    size_t n = RESP_REQUEST_INLINE_MAX + 10;
    char *big = test_malloc(n);

    memset(big, 'x', n);
    expect_error(s, big, n, "ERR Protocol error: too big inline request");
    big[0] = '*';
    memset(big + 1, '1', n - 1);
    expect_error(s, big, n, "ERR Protocol error: too big mbulk count string");
    memcpy(big, "*1\r\n$", 5);
    expect_error(s, big, n, "ERR Protocol error: too big bulk count string");
    test_free(big);
}

static void test_proto_bulk_over_max_is_refused_before_its_payload(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = resp_request_create(1 * MB, 1024 * MB);
    static const char req[] = "*2\r\n$3\r\nGET\r\n$1048577\r\n";

    resp_request_set_authenticated(p, 1);
    assert_int_equal(feed_all(p, s, req, sizeof(req) - 1), RC_EPROTO);
    assert_string_equal(resp_request_error(p), "ERR Protocol error: invalid bulk length");
    assert_true(resp_request_buffered(p) < 1024);
    resp_request_destroy(p);
}

static void test_proto_bulk_at_max_is_accepted(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = resp_request_create(1 * MB, 1024 * MB);
    static const char hdr[] = "*2\r\n$4\r\nECHO\r\n$1048576\r\n";
    char *payload = test_malloc(MB + 2);
    size_t off;

    resp_request_set_authenticated(p, 1);
    memset(payload, 'v', MB);
    memcpy(payload + MB, "\r\n", 2);
    assert_int_equal(feed_all(p, s, hdr, sizeof(hdr) - 1), sizeof(hdr) - 1);
    for (off = 0; off < MB + 2; off += 16384) {
        size_t n = MB + 2 - off < 16384 ? MB + 2 - off : 16384;

        assert_int_equal(feed_all(p, s, payload + off, n), n);
    }
    assert_int_equal(s->commands, 1);
    /* The big argument's storage is released after the command. */
    assert_true(resp_request_memory(p) < 256 * 1024);
    test_free(payload);
    resp_request_destroy(p);
}

/* A big bulk (its room is made in one step once its header is checked)
 * arrives whole, with a pipelined command behind it in its last piece, and
 * its buffers are given back after it. */
static void test_proto_big_bulk_is_sized_once_and_arrives_whole(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char hdr[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5000000\r\n";
    static const char next[] = "*1\r\n$4\r\nPING\r\n";
    size_t big = 5000000, total = big + 2 + sizeof(next) - 1, off, i;
    char *payload = test_malloc(total);

    for (i = 0; i < big; i++)
        payload[i] = (char)('a' + i % 23);
    memcpy(payload + big, "\r\n", 2);
    memcpy(payload + big + 2, next, sizeof(next) - 1);
    assert_int_equal(feed_all(p, s, hdr, sizeof(hdr) - 1), sizeof(hdr) - 1);
    assert_int_equal(feed_all(p, s, payload, 1000), 1000);
    for (off = 1000; off < total; off += 65521) {
        size_t n = total - off < 65521 ? total - off : 65521;

        assert_int_equal(feed_all(p, s, payload + off, n), n);
    }
    assert_int_equal(s->commands, 2);
    assert_memory_equal(s->buf, "3|3:SET|1:k|5000000:", 20);
    assert_int_equal(s->len, 20 + big + 1 + strlen("1|4:PING\n"));
    assert_memory_equal(s->buf + 20, payload, big);
    assert_memory_equal(s->buf + 20 + big, "\n1|4:PING\n", 10);
    assert_true(resp_request_memory(p) < 256 * 1024); /* given back */
    test_free(payload);
    resp_request_destroy(p);
}

static void fill(char *p, size_t n, char from)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(from + i % 23);
}

/* Big arguments (RESP_REQUEST_BIG_ARG bytes and more) get blocks of their
 * own, filled as their bytes arrive in pieces of any size; a command may
 * keep one (resp_request_take_arg()); the parser frees the others, and
 * every block of a request cut short, so all memory comes back. */
static void test_proto_big_arguments_get_blocks_a_command_may_keep(void **state)
{
    seen_t *s = *state;
    size_t a = RESP_REQUEST_BIG_ARG + 3, b = 2 * RESP_REQUEST_BIG_ARG, c = RESP_REQUEST_BIG_ARG;
    size_t total = a + b + c + 256, n = 0, off, step;
    char *req = test_malloc(total), *want = test_malloc(total), *va, *vb, *vc;
    size_t base = rc_used_memory(), wn;
    uint32_t rnd = 12345;
    resp_request_t *p;
    int round;

    n += (size_t)sprintf(req + n, "*7\r\n$4\r\nMSET\r\n$1\r\na\r\n$%zu\r\n", a);
    va = req + n;
    fill(va, a, 'a');
    n += a;
    n += (size_t)sprintf(req + n, "\r\n$1\r\nb\r\n$%zu\r\n", b);
    vb = req + n;
    fill(vb, b, 'b');
    n += b;
    n += (size_t)sprintf(req + n,
                         "\r\n$1\r\nc\r\n$2\r\nxy\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%zu\r\n", c);
    vc = req + n;
    fill(vc, c, 'c');
    n += c;
    n += (size_t)sprintf(req + n, "\r\n*1\r\n$4\r\nPING\r\n");
    wn = (size_t)sprintf(want, "7|4:MSET|1:a|%zu:", a);
    memcpy(want + wn, va, a);
    wn += a;
    wn += (size_t)sprintf(want + wn, "|1:b|%zu:", b);
    memcpy(want + wn, vb, b);
    wn += b;
    wn += (size_t)sprintf(want + wn, "|1:c|2:xy\n3|3:SET|1:k|%zu:", c);
    memcpy(want + wn, vc, c);
    wn += c;
    wn += (size_t)sprintf(want + wn, "\n1|4:PING\n");

    for (round = 0; round < 3; round++) {
        reset(s);
        p = parser();
        s->take_from = p;
        s->take_cmd = 2;
        s->take_arg = 2;
        s->taken = NULL;
        s->not_taken = 0;
        /* pieces of 1 byte (round 0 near the headers), up to 64 KB */
        for (off = 0; off < n; off += step) {
            rnd = rnd * 1103515245u + 12345u;
            step = round == 0 && off < 64 ? 1 : 1 + (rnd >> 8) % (round == 1 ? 4096 : 65536);
            if (step > n - off)
                step = n - off;
            assert_int_equal(feed_all(p, s, req + off, step), step);
        }
        assert_int_equal(s->commands, 3);
        assert_int_equal(s->len, wn);
        assert_memory_equal(s->buf, want, wn);
        assert_int_equal(s->not_taken, 8); /* MSET a b c xy, SET k, PING */
        assert_non_null(s->taken);
        assert_memory_equal(s->taken + RESP_REQUEST_ARG_HEAD, vc, c);
        assert_int_equal(s->taken[RESP_REQUEST_ARG_HEAD + c], '\0');
        rc_free(s->taken);
        s->take_from = NULL;
        assert_true(resp_request_memory(p) < 256 * 1024); /* given back */
        resp_request_destroy(p);
        assert_int_equal(rc_used_memory(), base);
    }

    /* Cut short: a block half filled, and one complete before an error. */
    p = parser();
    assert_int_equal(feed_all(p, s, req, (size_t)(vb - req) + 1000), (size_t)(vb - req) + 1000);
    assert_true(resp_request_memory(p) >= a + b);
    resp_request_destroy(p);
    assert_int_equal(rc_used_memory(), base);
    p = parser();
    off = (size_t)(va - req) + a + 2; /* after a's "\r\n": "+b" where "$1" belongs */
    assert_int_equal(feed_all(p, s, req, off), off);
    assert_int_equal(feed_all(p, s, "+b\r\n", 4), RC_EPROTO);
    resp_request_destroy(p);
    assert_int_equal(rc_used_memory(), base);
    test_free(req);
    test_free(want);
}

static void test_proto_query_limit_is_checked_on_announced_sizes(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = resp_request_create(512 * MB, 1 * MB);
    static const char req[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n";

    resp_request_set_authenticated(p, 1);
    assert_int_equal(feed_all(p, s, req, sizeof(req) - 1), RC_ETOOBIG);
    assert_true(resp_request_buffered(p) < 1024);
    resp_request_destroy(p);
}

static void test_proto_huge_argument_count_allocates_nothing(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = parser();
    static const char req[] = "*2147483647\r\n$3\r\nGET\r\n";
    size_t before = rc_used_memory();

    assert_int_equal(feed_all(p, s, req, sizeof(req) - 1), sizeof(req) - 1);
    assert_int_equal(s->commands, 0);
    assert_true(rc_used_memory() - before < 64 * 1024);
    resp_request_destroy(p);
    EXPECT_ERROR(s, "*2147483648\r\n", "ERR Protocol error: invalid multibulk length");
    EXPECT_ERROR(s, "*99999999999999999999\r\n", "ERR Protocol error: invalid multibulk length");
}

static void test_proto_unauthenticated_limits_follow_redis7(void **state)
{
    seen_t *s = *state;
    resp_request_t *p = resp_request_create(512 * MB, 1024 * MB);
    static const char many[] = "*11\r\n";
    static const char big[] = "*2\r\n$4\r\nAUTH\r\n$16385\r\n";

    assert_int_equal(feed_all(p, s, many, sizeof(many) - 1), RC_EPROTO);
    assert_string_equal(resp_request_error(p),
                        "ERR Protocol error: unauthenticated multibulk length");
    resp_request_destroy(p);
    p = resp_request_create(512 * MB, 1024 * MB);
    assert_int_equal(feed_all(p, s, big, sizeof(big) - 1), RC_EPROTO);
    assert_string_equal(resp_request_error(p), "ERR Protocol error: unauthenticated bulk length");
    resp_request_destroy(p);
}

static void add_word(void *ud, const char *ptr, size_t len)
{
    seen_t *s = ud;

    put(s, "[", 1);
    put(s, ptr, len);
    put(s, "]", 1);
}

static void test_proto_split_args_handles_escapes_and_errors(void **state)
{
    seen_t *s = *state;
    static const char line[] = "a \"\\t\\\\\\\"\" '' \"\" \"\\x4a\\xzz\"";
    static const char want[] = "[a][\t\\\"][][][Jxzz]"; /* "\\xzz": Redis drops the backslash */

    reset(s);
    assert_int_equal(rc_split_args(line, sizeof(line) - 1, add_word, s), 5);
    assert_int_equal(s->len, sizeof(want) - 1);
    assert_memory_equal(s->buf, want, s->len);
    assert_int_equal(rc_split_args("  ", 2, add_word, s), 0);
    assert_int_equal(rc_split_args("\"a", 2, add_word, s), -1);
    assert_int_equal(rc_split_args("'a'b", 4, add_word, s), -1);
}

/* resp_request_peek() on a C string, at most 16 arguments: its size or 0. */
static size_t peek(const char *req)
{
    resp_arg_t argv[2];
    int argc;

    return resp_request_peek(req, strlen(req), 16, &argc, argv, 2);
}

/* resp_request_peek: whole multibulk requests only, their first arguments
 * in place, and 0 for everything it does not vouch for. */
static void test_proto_peek_reports_whole_requests_only(void **state)
{
    static const char two[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
                              "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    size_t first = strlen("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
    resp_arg_t argv[2];
    int argc = 0;

    (void)state;
    assert_int_equal(resp_request_peek(two, strlen(two), 16, &argc, argv, 2), first);
    assert_int_equal(argc, 3); /* only the first two are stored */
    assert_ptr_equal(argv[0].ptr, two + 8);
    assert_int_equal(argv[0].len, 3);
    assert_memory_equal(argv[1].ptr, "key", 3);
    assert_int_equal(resp_request_peek(two + first, strlen(two) - first, 16, &argc, argv, 2),
                     strlen(two) - first);
    assert_int_equal(argc, 2);
    assert_memory_equal(argv[1].ptr, "key", 3);
    /* every cut inside a request: partial, 0 */
    for (size_t cut = 0; cut < first; cut++)
        assert_int_equal(resp_request_peek(two, cut, 16, &argc, argv, 2), 0);
    assert_int_equal(peek("PING\r\n"), 0); /* inline */
    assert_int_equal(peek("*0\r\n"), 0);
    assert_int_equal(peek("*-1\r\n"), 0);
    assert_int_equal(peek("*1\r\n$-1\r\n"), 0);
    assert_int_equal(peek("*1\r\n$4\r\nPINGxx"), 0);
    assert_int_equal(peek("*17\r\n"), 0);                         /* > max_args */
    assert_int_equal(peek("*1\r\n$99999999999999999999\r\n"), 0); /* a length past 18 digits */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proto_resp_request_gives_argv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_inline_request_splits_like_redis, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_empty_requests_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_every_split_point_gives_same_commands, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_long_mixed_pipeline_parses_the_same_in_any_feed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_stop_inside_a_long_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_many_empty_requests_hold_no_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_trim_gives_back_only_an_idle_parsers_buffers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_stop_returns_bytes_consumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_malformed_input_gets_redis_error_texts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_commands_before_an_error_are_delivered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_long_lines_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_bulk_over_max_is_refused_before_its_payload,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_bulk_at_max_is_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_big_bulk_is_sized_once_and_arrives_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_big_arguments_get_blocks_a_command_may_keep,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_proto_query_limit_is_checked_on_announced_sizes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_huge_argument_count_allocates_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_unauthenticated_limits_follow_redis7, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proto_split_args_handles_escapes_and_errors, setup,
                                        teardown),
        cmocka_unit_test(test_proto_peek_reports_whole_requests_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
