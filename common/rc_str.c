/* common/rc_str.c: the string functions of rc_str.h. The one rule: no
 * allocation except rc_split_args()'s scratch copy of a long argument. */
#include "common/rc_str.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/rc.h"

int rc_string2ll(const char *s, size_t len, long long *out)
{
    unsigned long long v = 0, limit = (unsigned long long)LLONG_MAX;
    size_t i = 0;
    int neg = 0;

    if (len == 0 || len > 20)
        return -EINVAL;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 0;
    }
    if (s[0] == '-') {
        neg = 1;
        i = 1;
        limit += 1; /* LLONG_MIN */
        if (len == 1)
            return -EINVAL;
    }
    if (s[i] < '1' || s[i] > '9')
        return -EINVAL;
    for (; i < len; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    if (!neg)
        *out = (long long)v;
    else if (v == (unsigned long long)LLONG_MAX + 1)
        *out = LLONG_MIN;
    else
        *out = -(long long)v;
    return 0;
}

/* "00" to "99", two digits a step (lengths and counts are written for
 * every replicated write). */
static const char digits2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static size_t count_digits(unsigned long long u)
{
    size_t n = 1;

    for (;;) {
        if (u < 10)
            return n;
        if (u < 100)
            return n + 1;
        if (u < 1000)
            return n + 2;
        if (u < 10000)
            return n + 3;
        u /= 10000;
        n += 4;
    }
}

size_t rc_ll2str(char *dst, long long v)
{
    unsigned long long u;
    size_t len = 0, n;

    if (v < 0) {
        dst[len++] = '-';
        u = (unsigned long long)(-(v + 1)) + 1; /* no overflow for LLONG_MIN */
    } else {
        u = (unsigned long long)v;
    }
    n = count_digits(u);
    len += n;
    dst += len;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;

        u /= 100;
        *--dst = digits2[d + 1];
        *--dst = digits2[d];
    }
    if (u >= 10) {
        *--dst = digits2[u * 2 + 1];
        *--dst = digits2[u * 2];
    } else {
        *--dst = (char)('0' + u);
    }
    return len;
}

/* --- glob ------------------------------------------------------------------ */

static int fold(int ch, int nocase)
{
    return nocase && ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* Matches the class starting at pat[p] == '[' against 'c'; stores the index
 * after the class in '*next'. */
static int class_match(const char *pat, size_t plen, size_t p, int c, int nocase, size_t *next)
{
    size_t i = p + 1;
    int neg, match = 0;

    neg = i < plen && pat[i] == '^';
    if (neg)
        i++;
    for (;;) {
        if (i < plen && pat[i] == '\\' && plen - i >= 2) {
            if ((signed char)pat[i + 1] == c) /* escaped: compared as is */
                match = 1;
            i += 2;
        } else if (i < plen && pat[i] == ']') {
            i++;
            break;
        } else if (i >= plen) {
            break; /* unterminated: the class ends with the pattern */
        } else if (plen - i >= 3 && pat[i + 1] == '-') {
            int lo = (signed char)pat[i], hi = (signed char)pat[i + 2], ch = c;

            if (lo > hi) {
                int t = lo;

                lo = hi;
                hi = t;
            }
            /* Redis swaps first, then folds. */
            lo = fold(lo, nocase);
            hi = fold(hi, nocase);
            ch = fold(ch, nocase);
            if (ch >= lo && ch <= hi)
                match = 1;
            i += 3;
        } else {
            if (fold((signed char)pat[i], nocase) == fold(c, nocase))
                match = 1;
            i++;
        }
    }
    *next = i;
    return neg ? !match : match;
}

/* Matches the one-byte token at pat[p] (anything but '*') against 'c'. */
static int token_match(const char *pat, size_t plen, size_t p, char c, int nocase, size_t *next)
{
    switch (pat[p]) {
    case '?':
        *next = p + 1;
        return 1;
    case '[':
        return class_match(pat, plen, p, (signed char)c, nocase, next);
    case '\\':
        if (plen - p >= 2)
            p++;
        break;
    default:
        break;
    }
    *next = p + 1;
    return fold((signed char)pat[p], nocase) == fold((signed char)c, nocase);
}

/* Every token but '*' matches exactly one byte, so on a mismatch going back
 * to the last '*' only (and letting it take one byte more) finds a match if
 * there is one: Redis's recursion gives the same answers. */
int rc_strmatch(const char *pat, size_t plen, const char *str, size_t slen, int nocase)
{
    size_t p = 0, s = 0, star_p = 0, star_s = 0, next;
    int have_star = 0;

    if (slen == 0)
        return plen == 0; /* stringmatchlen() never enters its loop */
    while (s < slen) {
        if (p < plen && pat[p] == '*') {
            while (p < plen && pat[p] == '*')
                p++;
            if (p == plen)
                return 1;
            have_star = 1;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < plen && token_match(pat, plen, p, str[s], nocase, &next)) {
            p = next;
            s++;
            continue;
        }
        if (!have_star)
            return 0;
        p = star_p;
        s = ++star_s;
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

int rc_strcaseeq(const char *s, size_t len, const char *word)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (word[i] == '\0' || fold((unsigned char)s[i], 1) != fold((unsigned char)word[i], 1))
            return 0;
    }
    return word[len] == '\0';
}

/* --- argument splitting (Redis's sdssplitargs rules) ----------------------- */

static int is_space(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '\v' || ch == '\f';
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static char unescape(char e)
{
    switch (e) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return e;
    }
}

int rc_split_args(const char *line, size_t len, void (*arg)(void *ud, const char *ptr, size_t len),
                  void *ud)
{
    char small[256], *cur = small;
    size_t cap = sizeof(small), i = 0;
    int argc = 0, rc = 0;

    for (;;) {
        size_t n = 0;
        int inq = 0, insq = 0, done = 0;

        while (i < len && is_space(line[i]))
            i++;
        if (i >= len)
            break;
        /* An argument is never longer than the rest of the line. */
        if (len - i + 1 > cap) {
            cap = len - i + 1;
            cur = cur == small ? rc_xmalloc(cap) : rc_xrealloc(cur, cap);
        }
        while (!done) {
            char ch = i < len ? line[i] : '\0';

            if (inq) {
                if (i >= len) {
                    rc = -1; /* unterminated quotes */
                    goto out;
                }
                if (ch == '\\' && i + 3 < len && line[i + 1] == 'x' &&
                    hex_value(line[i + 2]) >= 0 && hex_value(line[i + 3]) >= 0) {
                    cur[n++] = (char)(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3]));
                    i += 3;
                } else if (ch == '\\' && i + 1 < len) {
                    cur[n++] = unescape(line[++i]);
                } else if (ch == '"') {
                    /* A closing quote must be followed by a space or the end. */
                    if (i + 1 < len && !is_space(line[i + 1])) {
                        rc = -1;
                        goto out;
                    }
                    done = 1;
                } else {
                    cur[n++] = ch;
                }
            } else if (insq) {
                if (i >= len) {
                    rc = -1;
                    goto out;
                }
                if (ch == '\\' && i + 1 < len && line[i + 1] == '\'') {
                    i++;
                    cur[n++] = '\'';
                } else if (ch == '\'') {
                    if (i + 1 < len && !is_space(line[i + 1])) {
                        rc = -1;
                        goto out;
                    }
                    done = 1;
                } else {
                    cur[n++] = ch;
                }
            } else {
                if (i >= len || is_space(ch))
                    done = 1;
                else if (ch == '"')
                    inq = 1;
                else if (ch == '\'')
                    insq = 1;
                else
                    cur[n++] = ch;
            }
            if (i < len)
                i++;
        }
        arg(ud, cur, n);
        argc++;
    }
out:
    if (cur != small)
        rc_free(cur);
    return rc < 0 ? -1 : argc;
}

/* --- loopback -------------------------------------------------------------- */

int rc_is_loopback_ip(const char *ip)
{
    return strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0;
}

int rc_is_loopback_host(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}
