/* tests/unit/node_test_copy.c: see node_test_copy.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "tests/unit/node_test_copy.h"

#include "common/rc.h"
#include "node/data/node_codec.h"
#include "node/data/node_types.h"

typedef struct same_s {
    node_obj_t *other;
    size_t differ; /* fields or members of one copy the other lacks or holds otherwise */
} same_t;

static void field_in(void *priv, const char *f, size_t flen, const char *v, size_t vlen)
{
    same_t *sm = priv;
    const char *w;
    size_t wlen;

    if (!node_hash_get(sm->other, f, flen, &w, &wlen) || wlen != vlen || memcmp(w, v, vlen) != 0)
        sm->differ++;
}

static void member_in(void *priv, const char *p, size_t len)
{
    same_t *sm = priv;

    if (!node_set_has(node_obj_ptr(sm->other), p, len))
        sm->differ++;
}

void node_test_assert_same_value(node_obj_t *x, node_obj_t *y, const char *what)
{
    same_t sm = {y, 0};
    rc_buf_t bx, by;
    int same;

    assert_non_null(x);
    assert_non_null(y);
    if (node_obj_type(x) != node_obj_type(y))
        fail_msg("%s: a %s and a %s", what, node_obj_type_name(x), node_obj_type_name(y));
    if (node_obj_type(x) == NODE_OBJ_HASH) {
        if (node_hash_len(x) == node_hash_len(y))
            node_hash_foreach(x, field_in, &sm);
        if (node_hash_len(x) != node_hash_len(y) || sm.differ != 0)
            fail_msg("%s: the hashes differ", what);
        return;
    }
    if (node_obj_type(x) == NODE_OBJ_SET) {
        if (node_set_len(node_obj_ptr(x)) == node_set_len(node_obj_ptr(y)))
            node_set_foreach(node_obj_ptr(x), member_in, &sm);
        if (node_set_len(node_obj_ptr(x)) != node_set_len(node_obj_ptr(y)) || sm.differ != 0)
            fail_msg("%s: the sets differ", what);
        return;
    }
    rc_buf_init(&bx);
    rc_buf_init(&by);
    node_obj_serialize(x, &bx);
    node_obj_serialize(y, &by);
    same = bx.len == by.len && memcmp(bx.data, by.data, bx.len) == 0;
    rc_buf_free(&bx);
    rc_buf_free(&by);
    if (!same)
        fail_msg("%s: the values differ", what);
}
