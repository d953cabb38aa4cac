/* tests/fuzz/node_codec_fuzz.c: libFuzzer target for node/data/node_codec.c,
 * the object format replication and slot hand-off ship. The rules it
 * checks beyond "no crash, no leak": an accepted input re-serializes into
 * bytes that are accepted again with the same length, type and TTL, and
 * the object can be linked into a db and read back; memory returns to its
 * level before the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "node/data/node_codec.h"
#include "node/data/node_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static node_db_t *db;
    size_t before;
    node_obj_t *o = NULL, *o2 = NULL;
    rc_buf_t a = {0}, b = {0};
    const char *s;
    size_t n, vlen;
    int64_t when;
    char intbuf[NODE_OBJ_INTBUF];

    if (db == NULL)
        db = node_db_create();
    node_db_set_now(db, 0);
    before = rc_used_memory();
    if (node_obj_deserialize("key", 3, data, size, &o) != 0) {
        if (o != NULL || rc_used_memory() != before ||
            node_obj_string_of(data, size, &s, &n, &when))
            abort();
        return 0;
    }
    /* The replica's shortcut for strings reads exactly what this made. */
    if (node_obj_string_of(data, size, &s, &n, &when) != (node_obj_type(o) == NODE_OBJ_STRING))
        abort();
    if (node_obj_type(o) == NODE_OBJ_STRING) {
        const char *v = node_obj_str(o, intbuf, &vlen);

        if (vlen != n || memcmp(v, s, n) != 0 || when != node_obj_expire(o))
            abort();
    }
    node_obj_serialize(o, &a);
    if (node_obj_deserialize("key", 3, (const unsigned char *)a.data, a.len, &o2) != 0)
        abort();
    node_obj_serialize(o2, &b);
    if (a.len != b.len || node_obj_type(o) != node_obj_type(o2) ||
        node_obj_expire(o) != node_obj_expire(o2))
        abort();
    node_obj_free(o2);
    node_db_insert(db, o); /* now = 0: not expired (an expire time is >= 0) */
    if (node_db_lookup(db, "key", 3, NODE_LOOKUP_WRITE) == NULL)
        abort();
    node_db_flush(db);
    rc_buf_free(&a);
    rc_buf_free(&b);
    if (rc_used_memory() != before)
        abort();
    return 0;
}
