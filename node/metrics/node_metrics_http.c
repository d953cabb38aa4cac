/* node/metrics/node_metrics_http.c: reads the head of an HTTP/1.x request
 * (RFC 9112 section 3 and 5, the parts a scraper uses). The one rule: any
 * byte string gets a status, never a read past its end. */
#include "node/metrics/node_metrics_http.h"

#include <string.h>

/* RFC 9110 tchar. */
static int is_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return 1;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* End of the head: the index just past the empty line, or 0 when the
 * empty line has not arrived. A bare LF ends a line too (RFC 9112 2.2). */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static int finish(node_metrics_http_req_t *req, int status)
{
    req->status = status;
    return 1;
}

/* Header field lines: "name: value"; a line without a colon, or with a
 * name that is not a token, is a bad request. */
static int check_fields(const char *p, const char *end)
{
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *q = p;

        if (eol == NULL)
            eol = end;
        if (eol - p == 0 || (eol - p == 1 && p[0] == '\r'))
            return 0; /* the empty line */
        while (q < eol && is_tchar((unsigned char)*q))
            q++;
        if (q == p || q == eol || *q != ':')
            return -1;
        for (q++; q < eol; q++) {
            unsigned char ch = (unsigned char)*q;

            if (ch == '\0' || (ch < 0x20 && ch != '\t' && !(ch == '\r' && q + 1 == eol)) ||
                ch == 0x7f)
                return -1;
        }
        p = eol + 1;
    }
    return 0;
}

int node_metrics_http_parse(const char *buf, size_t len, size_t limit, node_metrics_http_req_t *req)
{
    size_t end, mlen, tlen, plen;
    const char *p, *eol, *method, *target, *version;

    memset(req, 0, sizeof(*req));
    if (len > limit)
        len = limit;
    end = head_end(buf, len);
    if (end == 0) {
        /* A request line that is already wrong need not wait for the rest. */
        for (size_t i = 0; i < len && buf[i] != ' ' && buf[i] != '\n'; i++) {
            if (!is_tchar((unsigned char)buf[i]))
                return finish(req, 400);
        }
        if (len > 0 && (buf[0] == ' ' || buf[0] == '\n' || buf[0] == '\r'))
            return finish(req, 400);
        return len < limit ? 0 : finish(req, 431);
    }
    /* Request line: method SP request-target SP HTTP-version. */
    eol = memchr(buf, '\n', end);
    method = buf;
    for (p = buf; p < eol && is_tchar((unsigned char)*p); p++)
        ;
    mlen = (size_t)(p - method);
    if (mlen == 0 || p == eol || *p != ' ')
        return finish(req, 400);
    target = ++p;
    while (p < eol && *p != ' ' && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    tlen = (size_t)(p - target);
    if (tlen == 0 || p == eol || *p != ' ')
        return finish(req, 400);
    version = ++p;
    if ((size_t)(eol - version) != 8 && !((size_t)(eol - version) == 9 && version[8] == '\r'))
        return finish(req, 400);
    if (memcmp(version, "HTTP/", 5) != 0 || version[6] != '.' || version[5] < '0' ||
        version[5] > '9' || version[7] < '0' || version[7] > '9')
        return finish(req, 400);
    if (check_fields(eol + 1, buf + end) != 0)
        return finish(req, 400);
    if (version[5] != '1')
        return finish(req, 505);
    if (target[0] != '/')
        return finish(req, 400); /* origin-form only */
    for (plen = 0; plen < tlen && target[plen] != '?'; plen++)
        ;
    if (plen == 1)
        req->page = NODE_METRICS_PAGE_INDEX;
    else if (plen == 8 && memcmp(target, "/metrics", 8) == 0)
        req->page = NODE_METRICS_PAGE_METRICS;
    if (mlen == 4 && memcmp(method, "HEAD", 4) == 0)
        req->head = 1;
    else if (!(mlen == 3 && memcmp(method, "GET", 3) == 0))
        return finish(req, 405);
    return finish(req, req->page == NODE_METRICS_PAGE_NONE ? 404 : 200);
}
