/* common/rc_buf.c: the growable byte buffer of rc_buf.h. The one rule: the
 * capacity at least doubles when it grows, so n appends cost O(n) copies. */
#include "common/rc_buf.h"

#include <stdio.h>
#include <string.h>

#include "common/rc.h"

void rc_buf_init(rc_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void rc_buf_free(rc_buf_t *b)
{
    rc_free(b->data);
    rc_buf_init(b);
}

void rc_buf_reset(rc_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void rc_buf_reset_trim(rc_buf_t *b, size_t keep)
{
    if (b->cap > keep)
        rc_buf_free(b);
    else
        rc_buf_reset(b);
}

char *rc_buf_reserve(rc_buf_t *b, size_t n)
{
    /* One byte more than asked keeps room for the terminating NUL. */
    if (b->data == NULL || b->cap - b->len <= n) {
        size_t want = b->cap < RC_BUF_MIN / 2 ? RC_BUF_MIN : b->cap * 2;

        RC_ASSERT(n < (size_t)-1 / 2 - b->len); /* no size_t overflow */
        /* At least double (amortised O(1) appends), but one large request
         * gets what it needs, not up to twice that. */
        if (want - b->len <= n)
            want = b->len + n + 1;
        b->data = rc_xrealloc(b->data, want);
        b->cap = want;
        b->data[b->len] = '\0';
    }
    return b->data + b->len;
}

void rc_buf_commit(rc_buf_t *b, size_t n)
{
    RC_ASSERT(b->data != NULL && n < b->cap - b->len);
    b->len += n;
    b->data[b->len] = '\0';
}

void rc_buf_append(rc_buf_t *b, const void *p, size_t n)
{
    char *dst = rc_buf_reserve(b, n);

    if (n > 0)
        memcpy(dst, p, n);
    rc_buf_commit(b, n);
}

void rc_buf_append_str(rc_buf_t *b, const char *s)
{
    rc_buf_append(b, s, strlen(s));
}

void rc_buf_putc(rc_buf_t *b, char ch)
{
    rc_buf_append(b, &ch, 1);
}

void rc_buf_vprintf(rc_buf_t *b, const char *fmt, va_list ap)
{
    va_list copy;
    char *dst = rc_buf_reserve(b, 0);
    int n;

    va_copy(copy, ap);
    n = vsnprintf(dst, b->cap - b->len, fmt, copy);
    va_end(copy);
    RC_ASSERT(n >= 0);
    if ((size_t)n >= b->cap - b->len) {
        dst = rc_buf_reserve(b, (size_t)n);
        n = vsnprintf(dst, b->cap - b->len, fmt, ap);
        RC_ASSERT(n >= 0 && (size_t)n < b->cap - b->len);
    }
    b->len += (size_t)n; /* vsnprintf wrote the NUL */
}

void rc_buf_printf(rc_buf_t *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rc_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void rc_buf_consume(rc_buf_t *b, size_t n)
{
    RC_ASSERT(n <= b->len);
    if (n == 0)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *rc_buf_detach(rc_buf_t *b, size_t *len)
{
    char *data;

    rc_buf_reserve(b, 0); /* an empty buffer still returns "" */
    data = b->data;
    if (len != NULL)
        *len = b->len;
    rc_buf_init(b);
    return data;
}
