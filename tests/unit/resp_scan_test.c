/* tests/unit/resp_scan_test.c: resp/resp_scan.c, the RESP2/RESP3 reply
 * scanner: every type, nested RESP3, every split point, every rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "common/rc.h"
#include "resp/resp_scan.h"

static const char *const good[] = {
    "+OK\r\n",
    "+\r\n",
    "-ERR unknown command 'x'\r\n",
    ":0\r\n",
    ":-42\r\n",
    ":9223372036854775807\r\n",
    "$3\r\nfoo\r\n",
    "$0\r\n\r\n",
    "$4\r\na\r\nb\r\n", /* binary-safe: \r\n inside a bulk */
    "$-1\r\n",
    "*-1\r\n",
    "*0\r\n",
    "*2\r\n$3\r\nGET\r\n$-1\r\n",
    "_\r\n",
    ",3.14\r\n",
    ",-inf\r\n",
    ",nan\r\n",
    ",1e10\r\n",
    ",-1.5E-3\r\n",
    ",10\r\n",
    "#t\r\n",
    "#f\r\n",
    "(3492890328409238509324850943850943825024385\r\n",
    "(-1\r\n",
    "!21\r\nSYNTAX invalid syntax\r\n",
    "=15\r\ntxt:Some string\r\n",
    "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
    "%0\r\n",
    "~2\r\n+orange\r\n+apple\r\n",
    ">3\r\n+message\r\n+chan\r\n$5\r\nhello\r\n",
    "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2039123\r\n",
    "|0\r\n+OK\r\n",
    /* nested RESP3: array of a map holding a set with an attributed value */
    "*3\r\n%1\r\n+k\r\n~2\r\n|1\r\n+a\r\n+b\r\n:5\r\n#f\r\n$3\r\nabc\r\n*0\r\n",
};

static const char *const bad[] = {
    "+OK\n",
    "+O\rK\r\n",
    "+O\nK\r\n",
    "-E\nR\r\n",
    ":+1\r\n",
    ":01\r\n",
    ":-0\r\n",
    ":\r\n",
    ":-\r\n",
    ":1a\r\n",
    ": 1\r\n",
    ":9223372036854775808\r\n",
    ":-9223372036854775809\r\n",
    "$-2\r\n",
    "$3\r\nfooX\r\n",
    "$3\r\nfoo\n\r",
    "$01\r\na\r\n",
    "*-2\r\n",
    "%-1\r\n",
    "~-1\r\n",
    "|-1\r\n",
    "_x\r\n",
    "#x\r\n",
    "#\r\n",
    "#tt\r\n",
    ",abc\r\n",
    ",\r\n",
    ",1.\r\n",
    ",.5\r\n",
    ",1e\r\n",
    ",infinity\r\n",
    "(\r\n",
    "(-\r\n",
    "(1a\r\n",
    "(+1\r\n",
    "=3\r\ntxt\r\n",
    "=4\r\ntxtx\r\n",
    "!-1\r\n",
    "$?\r\n",
    "*?\r\n",
    ";4\r\n",
    ".\r\n",
    "x\r\n",
    "\r\n",
    "$536870913\r\n",
    "*2147483649\r\n",
    "%2147483649\r\n",
    "*1\r\nx\r\n",
    "*2\r\n:1\r\n:x\r\n",
};

static void test_scan_accepts_every_type_whole(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < RC_ARRAY_SIZE(good); i++) {
        size_t n = strlen(good[i]);

        if (resp_scan(good[i], n) != (ssize_t)n)
            fail_msg("reply %zu (%s) not scanned whole", i, good[i]);
    }
}

static void test_scan_every_prefix_needs_more(void **state)
{
    size_t i, cut;

    (void)state;
    for (i = 0; i < RC_ARRAY_SIZE(good); i++) {
        size_t n = strlen(good[i]);

        for (cut = 0; cut < n; cut++)
            if (resp_scan(good[i], cut) != 0)
                fail_msg("reply %zu cut at %zu: not 0", i, cut);
    }
}

static void test_scan_stops_at_the_end_of_the_first_reply(void **state)
{
    char buf[512];
    size_t i, j;

    (void)state;
    for (i = 0; i < RC_ARRAY_SIZE(good); i++) {
        for (j = 0; j < RC_ARRAY_SIZE(good); j++) {
            size_t n = strlen(good[i]), m = strlen(good[j]);

            assert_true(n + m < sizeof(buf));
            memcpy(buf, good[i], n);
            memcpy(buf + n, good[j], m);
            assert_int_equal(resp_scan(buf, n + m), n);
            assert_int_equal(resp_scan(buf + n, m), m);
        }
    }
}

static void test_scan_rejects_malformed(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < RC_ARRAY_SIZE(bad); i++)
        if (resp_scan(bad[i], strlen(bad[i])) != RC_EPROTO)
            fail_msg("bad reply %zu (%s) not rejected", i, bad[i]);
}

static void test_scan_rejects_unknown_type_and_long_number_early(void **state)
{
    char buf[200];

    (void)state;
    assert_int_equal(resp_scan("?", 1), RC_EPROTO);
    assert_int_equal(resp_scan("+", 1), 0);
    memset(buf, '1', sizeof(buf));
    buf[0] = ':';
    assert_int_equal(resp_scan(buf, 20), 0);                  /* could still end */
    assert_int_equal(resp_scan(buf, sizeof(buf)), RC_EPROTO); /* no number is this long */
    buf[0] = '*';
    assert_int_equal(resp_scan(buf, sizeof(buf)), RC_EPROTO);
    assert_int_equal(resp_scan("", 0), 0);
}

static void test_scan_big_bulk_needs_more_without_reading_it(void **state)
{
    static const char hdr[] = "$536870912\r\nabc";

    (void)state;
    /* 512 MB announced, 3 bytes present: needs more, reads nothing past len. */
    assert_int_equal(resp_scan(hdr, sizeof(hdr) - 1), 0);
}

static void test_scan_nesting_limit_is_64(void **state)
{
    char buf[RESP_SCAN_MAX_DEPTH * 4 + 16];
    size_t n = 0;
    int i;

    (void)state;
    for (i = 0; i < RESP_SCAN_MAX_DEPTH; i++) {
        memcpy(buf + n, "*1\r\n", 4);
        n += 4;
    }
    memcpy(buf + n, ":1\r\n", 4);
    assert_int_equal(resp_scan(buf, n + 4), n + 4);
    memmove(buf + 4, buf, n + 4);
    assert_int_equal(resp_scan(buf, n + 8), RC_EPROTO); /* 65 deep */
    /* Attributes count as nesting too. */
    n = 0;
    for (i = 0; i <= RESP_SCAN_MAX_DEPTH; i++) {
        memcpy(buf + n, "|0\r\n", 4);
        n += 4;
    }
    memcpy(buf + n, "_\r\n", 3);
    assert_int_equal(resp_scan(buf, n + 3), RC_EPROTO);
}

static void test_scanner_resumes_at_every_split(void **state)
{
    resp_scanner_t sc;
    size_t i, cut, k;

    (void)state;
    for (i = 0; i < RC_ARRAY_SIZE(good); i++) {
        size_t n = strlen(good[i]);

        for (cut = 0; cut <= n; cut++) {
            resp_scanner_init(&sc);
            if (cut < n)
                assert_int_equal(resp_scanner_scan(&sc, good[i], cut), 0);
            assert_int_equal(resp_scanner_scan(&sc, good[i], n), n);
        }
        /* Growing one byte at a time. */
        resp_scanner_init(&sc);
        for (k = 0; k < n; k++)
            assert_int_equal(resp_scanner_scan(&sc, good[i], k), 0);
        assert_int_equal(resp_scanner_scan(&sc, good[i], n), n);
        assert_int_equal(sc.pos, 0); /* reset for the next reply */
        assert_int_equal(sc.depth, 0);
    }
}

static void test_aggregate_counts_and_first_offset(void **state)
{
    static const char arr[] = "*3\r\n:1\r\n:2\r\n:3\r\n";
    static const char map[] = "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n";
    static const char attr[] = "|1\r\n+a\r\n+b\r\n~1\r\n:1\r\n";
    size_t first = 99;

    (void)state;
    assert_int_equal(resp_scan_aggregate(arr, sizeof(arr) - 1, &first), 3);
    assert_int_equal(first, 4);
    assert_int_equal(resp_scan(arr + first, sizeof(arr) - 1 - first), 4); /* ":1\r\n" */
    assert_int_equal(resp_scan_aggregate(map, sizeof(map) - 1, &first), 4);
    assert_int_equal(first, 4);
    assert_int_equal(resp_scan_aggregate(attr, sizeof(attr) - 1, &first), 1);
    assert_int_equal(first, 16);
    assert_int_equal(resp_scan_aggregate(">2\r\n+a\r\n+b\r\n", 12, &first), 2);
    assert_int_equal(resp_scan_aggregate("*-1\r\n", 5, &first), -1);
    assert_int_equal(first, 5);
    assert_int_equal(resp_scan_aggregate("*0\r\n", 4, &first), 0);
    assert_int_equal(first, 4);
}

static void test_aggregate_rejects_non_aggregates(void **state)
{
    size_t first;

    (void)state;
    assert_int_equal(resp_scan_aggregate("+OK\r\n", 5, &first), RC_EPROTO);
    assert_int_equal(resp_scan_aggregate("$-1\r\n", 5, &first), RC_EPROTO);
    assert_int_equal(resp_scan_aggregate(":1\r\n", 4, &first), RC_EPROTO);
    assert_int_equal(resp_scan_aggregate("*1", 2, &first), RC_EPROTO);
    assert_int_equal(resp_scan_aggregate("*x\r\n", 4, &first), RC_EPROTO);
    assert_int_equal(resp_scan_aggregate("|1\r\n+a\r\n", 8, &first), RC_EPROTO);
    assert_int_equal(resp_scan_aggregate("|0\r\n+a\r\n", 8, &first), RC_EPROTO);
    assert_int_equal(resp_scan_aggregate("", 0, &first), RC_EPROTO);
}

static void test_integer_parses_strictly(void **state)
{
    long long v = 7;

    (void)state;
    assert_int_equal(resp_scan_integer(":42\r\n", 5, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(resp_scan_integer(":-9223372036854775808\r\n", 23, &v), 0);
    assert_true(v == LLONG_MIN);
    assert_int_equal(resp_scan_integer(":9223372036854775807\r\n+OK\r\n", 27, &v), 0);
    assert_true(v == LLONG_MAX);
    assert_int_equal(resp_scan_integer(":0\r\n", 4, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(resp_scan_integer("+42\r\n", 5, &v), RC_EPROTO);
    assert_int_equal(resp_scan_integer(":42\r", 4, &v), RC_EPROTO);
    assert_int_equal(resp_scan_integer(":42", 3, &v), RC_EPROTO);
    assert_int_equal(resp_scan_integer(":4x\r\n", 5, &v), RC_EPROTO);
    assert_int_equal(resp_scan_integer(":042\r\n", 6, &v), RC_EPROTO);
    assert_int_equal(resp_scan_integer(":9223372036854775808\r\n", 22, &v), RC_EPROTO);
    assert_int_equal(resp_scan_integer("", 0, &v), RC_EPROTO);
}

/* resp_scan_bulks() on a copy of 'in' (its NULs land in the copy). */
static int bulks(const char *in, size_t len, resp_arg_t *out, size_t want, char *copy)
{
    memcpy(copy, in, len);
    return resp_scan_bulks(copy, len, out, want);
}

static void test_bulks_split_exactly_what_is_asked(void **state)
{
    static const char three[] = "$3\r\nkey\r\n$0\r\n\r\n$4\r\na\r\nb\r\n";
    resp_arg_t a[4];
    char copy[64];

    (void)state;
    assert_int_equal(bulks(three, sizeof(three) - 1, a, 3, copy), 0);
    assert_int_equal(a[0].len, 3);
    assert_memory_equal(a[0].ptr, "key", 4); /* with its NUL */
    assert_int_equal(a[1].len, 0);
    assert_int_equal(a[1].ptr[0], '\0');
    assert_int_equal(a[2].len, 4);
    assert_memory_equal(a[2].ptr, "a\r\nb", 5); /* binary-safe: by length */
    assert_true(a[0].ptr == copy + 4 && a[2].ptr == copy + 19);
    /* Nothing asked, nothing given. */
    assert_int_equal(resp_scan_bulks(copy, 0, a, 0), 0);
    /* One fewer (bytes left over), one more (missing). */
    assert_int_equal(bulks(three, sizeof(three) - 1, a, 2, copy), RC_EPROTO);
    assert_int_equal(bulks(three, sizeof(three) - 1, a, 4, copy), RC_EPROTO);
}

static void test_bulks_reject_anything_but_strict_bulks(void **state)
{
    static const char *const malformed[] = {
        "",                      /* none */
        "+OK\r\n",               /* not a bulk */
        "$-1\r\n",               /* null */
        "$\r\n\r\n",             /* no length */
        "$01\r\na\r\n",          /* leading zero */
        "$+1\r\na\r\n",          /* sign */
        "$1\na\r\n",             /* LF alone after the length */
        "$1\r\nab\r\n",          /* longer than said */
        "$2\r\na\r\n",           /* shorter than said */
        "$1\r\naXY",             /* no CRLF after the bytes */
        "$1\r\na\r",             /* cut */
        "$536870913\r\n",        /* longer than the buffer */
        "$10000000000\r\na\r\n", /* 11 digits */
        "$1\r\na\r\nx",          /* a byte after the last */
    };
    resp_arg_t a[1];
    char copy[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        assert_int_equal(bulks(malformed[i], strlen(malformed[i]), a, 1, copy), RC_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_accepts_every_type_whole),
        cmocka_unit_test(test_scan_every_prefix_needs_more),
        cmocka_unit_test(test_scan_stops_at_the_end_of_the_first_reply),
        cmocka_unit_test(test_scan_rejects_malformed),
        cmocka_unit_test(test_scan_rejects_unknown_type_and_long_number_early),
        cmocka_unit_test(test_scan_big_bulk_needs_more_without_reading_it),
        cmocka_unit_test(test_scan_nesting_limit_is_64),
        cmocka_unit_test(test_scanner_resumes_at_every_split),
        cmocka_unit_test(test_aggregate_counts_and_first_offset),
        cmocka_unit_test(test_aggregate_rejects_non_aggregates),
        cmocka_unit_test(test_integer_parses_strictly),
        cmocka_unit_test(test_bulks_split_exactly_what_is_asked),
        cmocka_unit_test(test_bulks_reject_anything_but_strict_bulks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
