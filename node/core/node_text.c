/* node/core/node_text.c: the growable text buffer of node_text.h. */
#include "node/core/node_text.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/rc.h"

void node_tprintf(node_text_t *t, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    for (;;) {
        if (t->cap > t->len) {
            va_start(ap, fmt);
            n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
            va_end(ap);
            RC_ASSERT(n >= 0);
            if ((size_t)n < t->cap - t->len) {
                t->len += (size_t)n;
                return;
            }
        }
        t->cap = t->cap * 2 + (size_t)n + 256;
        t->buf = rc_xrealloc(t->buf, t->cap);
    }
}
