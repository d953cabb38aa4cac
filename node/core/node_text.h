/* node/core/node_text.h: a growable text buffer for replies built line by line
 * (INFO, CLUSTER INFO, CLUSTER NODES). The one rule: 'buf' is NUL-terminated
 * once anything was printed; the owner frees it with rc_free(). */
#ifndef RC_NODE_NODE_TEXT_H
#define RC_NODE_NODE_TEXT_H

#include <stddef.h>

typedef struct node_text_s {
    char *buf;
    size_t len;
    size_t cap;
} node_text_t;

/* Appends printf-style output, growing the buffer (aborts on OOM). */
void node_tprintf(node_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* RC_NODE_NODE_TEXT_H */
