/* ring/ring_internal.h: knobs shared by ring.c and the bench tool only.
 * The one rule: nothing here changes placement unless a test or a bench
 * asks for it explicitly. */
#ifndef RC_RING_RING_INTERNAL_H
#define RC_RING_RING_INTERNAL_H

/* Order in which slots claim members during a bounded-load pass. Only the
 * default (RING__ORDER_SETS) is used by ring_build(); the others exist so
 * bench/ring-stats can show why it was chosen. */
typedef enum ring__order_e {
    RING__ORDER_SETS = 0,  /* all copies at once, then primaries among them */
    RING__ORDER_ROLES = 1, /* one role at a time, closest pair first */
    RING__ORDER_INDEX = 2, /* one role at a time, slot 0, 1, 2, ... */
} ring__order_t;

/* Process-wide; set only by bench/ring-stats before any build. */
extern ring__order_t ring__order;

#endif /* RC_RING_RING_INTERNAL_H */
