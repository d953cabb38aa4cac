/* resp/resp_scan.c: finds where one RESP2/RESP3 reply ends (see resp_scan.h).
 * The one rule: no allocation and no recursion; nesting lives in a fixed
 * stack of "elements still due" counters, so every byte is looked at once
 * and a bulk body is stepped over, never read. */
#include "resp/resp_scan.h"

#include <limits.h>
#include <string.h>

#include "common/rc.h"
#include "common/rc_str.h"

enum {
    NUM_LINE_MAX = 64
}; /* the longest valid integer line is 20 bytes */

/* Outcome of reading one element header (and the body of a bulk). */
typedef enum elem_e {
    E_NEED = 0,   /* more bytes needed */
    E_ERR = 1,    /* malformed */
    E_SCALAR = 2, /* a complete value (including null bulk / null array) */
    E_AGG = 3,    /* an aggregate header: 'count' elements follow */
} elem_t;

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t digits(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && is_digit(p[i]))
        i++;
    return i;
}

/* RESP3 double: [+-]digits[.digits][(e|E)[+-]digits], or inf, -inf, nan. */
static int double_ok(const char *p, size_t n)
{
    size_t i = 0, d;

    if (n > 0 && (p[0] == '-' || p[0] == '+'))
        i = 1;
    if (n - i == 3 && (memcmp(p + i, "inf", 3) == 0 || memcmp(p + i, "nan", 3) == 0))
        return 1;
    d = digits(p + i, n - i);
    if (d == 0)
        return 0;
    i += d;
    if (i < n && p[i] == '.') {
        d = digits(p + i + 1, n - i - 1);
        if (d == 0)
            return 0;
        i += 1 + d;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '-' || p[i] == '+'))
            i++;
        d = digits(p + i, n - i);
        if (d == 0)
            return 0;
        i += d;
    }
    return i == n;
}

/* Finds the \r\n ending the line that starts at 'start', at most 'max'
 * bytes long. Stores the offset of '\r' in '*cr'. */
static elem_t find_line(const char *buf, size_t len, size_t start, size_t max, size_t *cr)
{
    size_t avail = len - start;
    const char *p;

    if (avail > max + 1)
        avail = max + 1;
    p = memchr(buf + start, '\r', avail);
    if (p == NULL)
        return len - start > max ? E_ERR : E_NEED;
    *cr = (size_t)(p - buf);
    if (*cr + 1 >= len)
        return E_NEED;
    return buf[*cr + 1] == '\n' ? E_SCALAR : E_ERR;
}

/* Reads the element at 'pos' (pos < len). On E_SCALAR and E_AGG stores the
 * offset after it (after its header for E_AGG) in '*next'; on E_AGG the
 * number of elements that follow in '*count' (> 0 for '|'). Stores the type
 * byte's null-ness in '*null' (1 for $-1 and *-1). */
static elem_t element(const char *buf, size_t len, size_t pos, size_t *next, uint64_t *count,
                      int *null)
{
    char type = buf[pos];
    size_t start = pos + 1, cr, n;
    long long v;
    elem_t e;

    *null = 0;
    switch (type) {
    case '+':
    case '-':
        e = find_line(buf, len, start, SIZE_MAX - 1, &cr);
        if (e == E_ERR)
            return e;
        /* A bare \n in the text is an error even before the line ends. */
        n = e == E_SCALAR ? cr - start : len - start;
        if (memchr(buf + start, '\n', n) != NULL)
            return E_ERR;
        if (e == E_NEED)
            return e;
        *next = cr + 2;
        return E_SCALAR;
    case ',':
    case '(':
        e = find_line(buf, len, start, RESP_SCAN_MAX_LINE, &cr);
        if (e != E_SCALAR)
            return e;
        n = cr - start;
        if (type == ',' && !double_ok(buf + start, n))
            return E_ERR;
        if (type == '(') {
            size_t i = n > 0 && buf[start] == '-' ? 1 : 0;

            if (n == i || digits(buf + start + i, n - i) != n - i)
                return E_ERR;
        }
        *next = cr + 2;
        return E_SCALAR;
    case '_':
    case '#':
    case ':':
    case '$':
    case '!':
    case '=':
    case '*':
    case '%':
    case '~':
    case '>':
    case '|':
        break;
    default:
        return E_ERR;
    }
    e = find_line(buf, len, start, NUM_LINE_MAX, &cr);
    if (e != E_SCALAR)
        return e;
    n = cr - start;
    *next = cr + 2;
    if (type == '_')
        return n == 0 ? E_SCALAR : E_ERR;
    if (type == '#')
        return n == 1 && (buf[start] == 't' || buf[start] == 'f') ? E_SCALAR : E_ERR;
    if (rc_string2ll(buf + start, n, &v) != 0)
        return E_ERR;
    if (type == ':')
        return E_SCALAR;
    if (v == -1 && (type == '$' || type == '*')) {
        *null = 1;
        return E_SCALAR;
    }
    if (type == '$' || type == '!' || type == '=') {
        if (v < 0 || v > RESP_SCAN_MAX_BULK)
            return E_ERR;
        if (len - *next < (size_t)v + 2)
            return E_NEED;
        if (buf[*next + (size_t)v] != '\r' || buf[*next + (size_t)v + 1] != '\n')
            return E_ERR;
        if (type == '=' && (v < 4 || buf[*next + 3] != ':'))
            return E_ERR; /* verbatim: "txt:" then the text */
        *next += (size_t)v + 2;
        return E_SCALAR;
    }
    if (v < 0 || v > RESP_SCAN_MAX_COUNT)
        return E_ERR;
    *count = (uint64_t)v;
    if (type == '%')
        *count *= 2;
    else if (type == '|')
        *count = 2 * *count + 1; /* the attribute's entries, then the value */
    return *count == 0 ? E_SCALAR : E_AGG;
}

void resp_scanner_init(resp_scanner_t *sc)
{
    sc->pos = 0;
    sc->depth = 0;
}

ssize_t resp_scanner_scan(resp_scanner_t *sc, const char *buf, size_t len)
{
    size_t pos = sc->pos, next = 0;
    uint64_t count = 0;
    int null;

    for (;;) {
        elem_t e;

        if (pos >= len) {
            sc->pos = pos;
            return 0;
        }
        e = element(buf, len, pos, &next, &count, &null);
        if (e == E_NEED) {
            sc->pos = pos;
            return 0;
        }
        if (e == E_ERR)
            break;
        pos = next;
        if (e == E_AGG) {
            if (sc->depth == RESP_SCAN_MAX_DEPTH)
                break;
            sc->left[sc->depth++] = count;
            continue;
        }
        /* A value ended: it may end the aggregates around it too. */
        while (sc->depth > 0 && --sc->left[sc->depth - 1] == 0)
            sc->depth--;
        if (sc->depth == 0) {
            resp_scanner_init(sc);
            return (ssize_t)pos;
        }
    }
    resp_scanner_init(sc);
    return RC_EPROTO;
}

ssize_t resp_scan(const char *buf, size_t len)
{
    resp_scanner_t sc;

    resp_scanner_init(&sc);
    return resp_scanner_scan(&sc, buf, len);
}

long resp_scan_aggregate(const char *buf, size_t len, size_t *first)
{
    size_t pos = 0, next = 0;
    uint64_t count = 0, i;
    int null;

    while (pos < len) {
        char type = buf[pos];
        elem_t e = element(buf, len, pos, &next, &count, &null);

        if (e != E_SCALAR && e != E_AGG)
            return RC_EPROTO;
        if (type == '|') {
            /* Step over the attribute's entries to the value it decorates. */
            pos = next;
            for (i = 0; i + 1 < count; i++) {
                ssize_t n = resp_scan(buf + pos, len - pos);

                if (n <= 0)
                    return RC_EPROTO;
                pos += (size_t)n;
            }
            continue;
        }
        if (type != '*' && type != '%' && type != '~' && type != '>')
            return RC_EPROTO;
        *first = next;
        if (null)
            return -1;
        return e == E_SCALAR ? 0 : (long)count;
    }
    return RC_EPROTO;
}

int resp_scan_bulks(char *buf, size_t len, resp_arg_t *out, size_t want)
{
    size_t at = 0, i;

    for (i = 0; i < want; i++) {
        size_t n = 0, digits = 0;

        if (at >= len || buf[at] != '$')
            return RC_EPROTO;
        for (at++; at < len && buf[at] >= '0' && buf[at] <= '9' && digits < 10; at++, digits++)
            n = n * 10 + (size_t)(buf[at] - '0');
        if (digits == 0 || (digits > 1 && buf[at - digits] == '0') || len - at < 2 ||
            buf[at] != '\r' || buf[at + 1] != '\n')
            return RC_EPROTO;
        at += 2;
        if (len - at < n + 2 || buf[at + n] != '\r' || buf[at + n + 1] != '\n')
            return RC_EPROTO;
        out[i].ptr = buf + at;
        out[i].len = n;
        buf[at + n] = '\0';
        at += n + 2;
    }
    return at == len ? 0 : RC_EPROTO;
}

int resp_scan_integer(const char *buf, size_t len, long long *out)
{
    size_t cr;

    if (len < 1 || buf[0] != ':' || find_line(buf, len, 1, NUM_LINE_MAX, &cr) != E_SCALAR)
        return RC_EPROTO;
    return rc_string2ll(buf + 1, cr - 1, out) == 0 ? 0 : RC_EPROTO;
}
