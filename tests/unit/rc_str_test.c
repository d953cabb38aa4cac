/* tests/unit/rc_str_test.c: common/rc_str.c — string2ll, the glob matcher
 * (checked case by case against Redis 7.0's stringmatchlen answers), the
 * option-word compare, argument splitting and the two loopback rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_str.h"

static int ll(const char *s, long long *v)
{
    return rc_string2ll(s, strlen(s), v);
}

static void test_string2ll_accepts_strict_decimals(void **state)
{
    long long v = 0;

    (void)state;
    assert_int_equal(ll("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ll("-1", &v), 0);
    assert_int_equal(v, -1);
    assert_int_equal(ll("1234567890", &v), 0);
    assert_int_equal(v, 1234567890);
    assert_int_equal(ll("9223372036854775807", &v), 0);
    assert_true(v == LLONG_MAX);
    assert_int_equal(ll("-9223372036854775808", &v), 0);
    assert_true(v == LLONG_MIN);
}

static void test_string2ll_refuses_what_redis_refuses(void **state)
{
    static const char *const bad[] = {
        "",
        "-",
        "+1",
        " 1",
        "1 ",
        "01",
        "-0",
        "00",
        "1a",
        "0x10",
        "1.0",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "000000000000000000001",
    };
    long long v = 77;
    size_t i;

    (void)state;
    for (i = 0; i < RC_ARRAY_SIZE(bad); i++) {
        assert_int_equal(ll(bad[i], &v), -EINVAL);
        assert_int_equal(v, 77); /* untouched on failure */
    }
    assert_int_equal(rc_string2ll("12\0", 3, &v), -EINVAL); /* embedded NUL */
    assert_int_equal(rc_string2ll("123", 2, &v), 0);        /* length-bounded */
    assert_int_equal(v, 12);
}

static void test_ll2str_writes_like_ll2string(void **state)
{
    char buf[RC_LL2STR_MAX + 1];
    size_t n;

    (void)state;
    n = rc_ll2str(buf, 0);
    assert_memory_equal(buf, "0", n);
    assert_int_equal(n, 1);
    n = rc_ll2str(buf, -42);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "-42", 3);
    n = rc_ll2str(buf, LLONG_MAX);
    assert_int_equal(n, 19);
    assert_memory_equal(buf, "9223372036854775807", 19);
    n = rc_ll2str(buf, LLONG_MIN);
    assert_int_equal(n, RC_LL2STR_MAX);
    assert_memory_equal(buf, "-9223372036854775808", 20);
}

/* Every digit count's edges (10^k - 1, 10^k, 10^k + 1) and a spread of
 * values between, both signs, against snprintf(). */
static void test_ll2str_matches_printf_at_every_length(void **state)
{
    char buf[RC_LL2STR_MAX + 1], want[32];
    unsigned long long p = 1, x = 0x9e3779b97f4a7c15ULL;

    (void)state;
    for (int k = 0; k <= 19; k++, p *= 10) {
        long long edge[] = {(long long)p - 1, (long long)p, (long long)p + 1,
                            (long long)(p + (x % p))};

        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        for (size_t i = 0; i < RC_ARRAY_SIZE(edge); i++) {
            for (int sign = 1; sign >= -1; sign -= 2) {
                long long v = edge[i] * sign;
                size_t n = rc_ll2str(buf, v);
                int w = snprintf(want, sizeof(want), "%lld", v);

                assert_int_equal(n, (size_t)w);
                assert_memory_equal(buf, want, n);
            }
        }
        if (k == 18)
            break; /* 10^19 is past LLONG_MAX */
    }
}

static int m(const char *pat, const char *s)
{
    return rc_strmatch(pat, strlen(pat), s, strlen(s), 0);
}

static int mi(const char *pat, const char *s)
{
    return rc_strmatch(pat, strlen(pat), s, strlen(s), 1);
}

static void test_strmatch_wildcards(void **state)
{
    (void)state;
    assert_true(m("*", "anything"));
    assert_true(m("h?llo", "hello"));
    assert_false(m("h?llo", "hllo"));
    assert_true(m("h*llo", "hllo"));
    assert_true(m("h*llo", "heeeello"));
    assert_true(m("a*b*c", "axxbyyc"));
    assert_false(m("a*b*c", "axxbyy"));
    assert_true(m("*a*", "banana"));
    assert_true(m("**x**", "x"));
    assert_true(m("ab*", "ab"));
    assert_false(m("abc", "ab"));
    assert_false(m("ab", "abc"));
    /* Redis's stringmatchlen: the empty string matches the empty pattern only. */
    assert_true(m("", ""));
    assert_false(m("*", ""));
    assert_false(m("**", ""));
    assert_false(m("", "a"));
}

static void test_strmatch_classes_and_escapes(void **state)
{
    (void)state;
    assert_true(m("h[ae]llo", "hello"));
    assert_false(m("h[ae]llo", "hillo"));
    assert_true(m("h[^e]llo", "hallo"));
    assert_false(m("h[^e]llo", "hello"));
    assert_true(m("h[a-b]llo", "hbllo"));
    assert_true(m("h[b-a]llo", "hallo")); /* reversed range swapped */
    assert_false(m("h[a-b]llo", "hcllo"));
    assert_false(m("[]]", "]")); /* "[]" is an empty class */
    assert_true(m("[\\]]", "]"));
    assert_true(m("a\\*b", "a*b"));
    assert_false(m("a\\*b", "axb"));
    assert_true(m("a\\", "a\\")); /* a trailing backslash is itself */
    assert_true(m("[abc", "b"));  /* unterminated: ends with the pattern */
    assert_false(m("[", "["));
    assert_true(m("[^", "x"));
    assert_true(m("[a-]", "]")); /* "a-]" is the range ']'..'a' */
    assert_true(m("[a-]", "^"));
    /* Bytes compare as signed char, as Redis on x86: 0xff is -1. */
    assert_true(m("[\x01-\xff]", "\x01"));
    assert_true(m("[\x01-\xff]", "\xff"));
    assert_false(m("[\x01-\xff]", "a"));
}

static void test_strmatch_nocase(void **state)
{
    (void)state;
    assert_true(mi("MAX*", "maxmemory"));
    assert_false(m("MAX*", "maxmemory"));
    assert_true(mi("[A-C]x", "bX"));
    assert_true(mi("[^A]", "b"));
    assert_false(mi("[^A]", "a"));
    assert_true(mi("\\A", "a"));
    assert_false(mi("[\\A]", "a")); /* escaped class bytes are not folded */
    assert_false(mi("[Z-a]", "b")); /* Redis swaps, then folds: 'z'..'a' */
}

static void test_strmatch_pathological_pattern_is_fast(void **state)
{
    char pat[201], str[5001];

    (void)state;
    for (int i = 0; i < 200; i += 2) {
        pat[i] = '*';
        pat[i + 1] = 'a';
    }
    pat[200] = '\0';
    memset(str, 'a', 5000);
    str[4999] = 'b';
    str[5000] = '\0';
    /* 100 stars against 5000 bytes: quadratic at worst, not exponential. */
    assert_false(m(pat, str));
    assert_true(m("*a*a*a*b", str));
}

/* The cases the two former copies (KEYS/SCAN in node_cmd_keys.c, CONFIG GET
 * in node_config.c) were tested with; only "*" against "" changed, to
 * Redis's answer (KEYS and SCAN special-case a lone "*" themselves). */
static void test_strmatch_former_copies_cases(void **state)
{
    (void)state;
    assert_true(m("*", "abc"));
    assert_true(m("a*c", "abbbc"));
    assert_false(m("a*c", "abbbd"));
    assert_true(m("a?c", "abc"));
    assert_false(m("a?c", "ac"));
    assert_true(m("[abc]x", "bx"));
    assert_false(m("[^abc]x", "bx"));
    assert_true(m("[^abc]x", "dx"));
    assert_true(m("[a-c]", "b"));
    assert_true(m("[c-a]", "b"));
    assert_true(m("a\\*", "a*"));
    assert_false(m("a\\*", "ab"));
    assert_true(m("[ab", "a"));
    assert_true(m("**a**b**", "xxaxxbxx"));
    assert_false(m("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
                   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_true(m("*", "port"));
    assert_true(m("max*", "maxmemory"));
    assert_true(mi("MAX*", "maxmemory"));
    assert_true(m("p?rt", "port"));
    assert_true(m("[a-p]ort", "port"));
    assert_false(m("[^p]ort", "port"));
    assert_false(m("*x", "port"));
    assert_true(m("**", "a"));
}

static void test_strcaseeq_compares_whole_words(void **state)
{
    (void)state;
    assert_true(rc_strcaseeq("WithScores", 10, "withscores"));
    assert_true(rc_strcaseeq("", 0, ""));
    assert_false(rc_strcaseeq("withscore", 9, "withscores"));
    assert_false(rc_strcaseeq("withscoress", 11, "withscores"));
    assert_false(rc_strcaseeq("ex\0", 3, "ex"));
    assert_false(rc_strcaseeq("e\0", 2, "ex"));
    assert_true(rc_strcaseeq("EXtra", 2, "ex")); /* only 'len' bytes count */
    assert_false(rc_strcaseeq("[", 1, "{"));     /* no folding outside A-Z */
}

typedef struct words_s {
    int n;
    char w[8][32];
    size_t len[8];
} words_t;

static void collect(void *ud, const char *ptr, size_t len)
{
    words_t *w = ud;

    assert_true(w->n < 8 && len < 32);
    memcpy(w->w[w->n], ptr, len);
    w->w[w->n][len] = '\0';
    w->len[w->n] = len;
    w->n++;
}

static int split(const char *line, words_t *w)
{
    memset(w, 0, sizeof(*w));
    return rc_split_args(line, strlen(line), collect, w);
}

static void test_split_args_follows_sdssplitargs(void **state)
{
    words_t w;

    (void)state;
    assert_int_equal(split("  set  k   v ", &w), 3);
    assert_string_equal(w.w[0], "set");
    assert_string_equal(w.w[2], "v");
    assert_int_equal(split("\"a b\\n\\x41\\\"\" 'it\\'s'", &w), 2);
    assert_string_equal(w.w[0], "a b\nA\"");
    assert_string_equal(w.w[1], "it's");
    assert_int_equal(split("\"\\x0\"", &w), 1); /* not a full \xHH: 'x','0' */
    assert_string_equal(w.w[0], "x0");
    assert_int_equal(split("\"\\x00\"", &w), 1);
    assert_int_equal(w.len[0], 1);
    assert_int_equal(split("", &w), 0);
    assert_int_equal(split(" \t\r\n", &w), 0);
    assert_int_equal(split("\"unterminated", &w), -1);
    assert_int_equal(split("'unterminated", &w), -1);
    assert_int_equal(split("\"a\"b", &w), -1); /* closing quote then a letter */
    assert_int_equal(split("'a'b", &w), -1);
}

static void count_long(void *ud, const char *ptr, size_t len)
{
    words_t *w = ud;

    assert_true(len == 1 ? ptr[0] == 'a' : memchr(ptr, 'a', len) == NULL);
    w->len[w->n++] = len;
}

static void test_split_args_long_argument(void **state)
{
    char line[1200];
    words_t w;
    size_t n = 0;

    (void)state;
    memset(&w, 0, sizeof(w));
    line[n++] = 'a';
    line[n++] = ' ';
    memset(line + n, 'z', 1000); /* longer than the 256-byte scratch */
    n += 1000;
    assert_int_equal(rc_split_args(line, n, count_long, &w), 2);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.len[1], 1000);
}

static void test_loopback_ip_is_redis_conn_is_local(void **state)
{
    (void)state;
    assert_true(rc_is_loopback_ip("127.0.0.1"));
    assert_true(rc_is_loopback_ip("::1"));
    assert_false(rc_is_loopback_ip("127.0.0.2"));
    assert_false(rc_is_loopback_ip("::ffff:127.0.0.1"));
    assert_false(rc_is_loopback_ip("localhost"));
    assert_false(rc_is_loopback_ip("10.0.0.1"));
    assert_false(rc_is_loopback_ip(""));
}

static void test_loopback_host_is_the_bind_rule(void **state)
{
    (void)state;
    assert_true(rc_is_loopback_host("127.0.0.1"));
    assert_true(rc_is_loopback_host("127.1.2.3"));
    assert_true(rc_is_loopback_host("::1"));
    assert_true(rc_is_loopback_host("localhost"));
    assert_false(rc_is_loopback_host("-127.0.0.1")); /* the caller strips '-' */
    assert_false(rc_is_loopback_host("0.0.0.0"));
    assert_false(rc_is_loopback_host("*"));
    assert_false(rc_is_loopback_host("::"));
    assert_false(rc_is_loopback_host("1270.0.0.1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string2ll_accepts_strict_decimals),
        cmocka_unit_test(test_string2ll_refuses_what_redis_refuses),
        cmocka_unit_test(test_ll2str_writes_like_ll2string),
        cmocka_unit_test(test_ll2str_matches_printf_at_every_length),
        cmocka_unit_test(test_strmatch_wildcards),
        cmocka_unit_test(test_strmatch_classes_and_escapes),
        cmocka_unit_test(test_strmatch_nocase),
        cmocka_unit_test(test_strmatch_pathological_pattern_is_fast),
        cmocka_unit_test(test_strmatch_former_copies_cases),
        cmocka_unit_test(test_strcaseeq_compares_whole_words),
        cmocka_unit_test(test_split_args_follows_sdssplitargs),
        cmocka_unit_test(test_split_args_long_argument),
        cmocka_unit_test(test_loopback_ip_is_redis_conn_is_local),
        cmocka_unit_test(test_loopback_host_is_the_bind_rule),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
