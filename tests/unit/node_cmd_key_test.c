/* tests/unit/node_cmd_key_test.c: node_cmd_key_of(), the key a pipelined
 * request has prefetched: the command table's first key, the key of a
 * stream's RCMIGRATE PUT or DEL, nothing for keyless or unknown commands
 * and for a key past the arguments it is given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "node/cmd/node_cmd.h"
#include "node/net/node_conn.h"

/* node_cmd_key_of() on 'n' words, of which it sees the first
 * NODE_CONN_PREFETCH_ARGS as the connection gives them: the key or NULL. */
static const char *key_of(int n, const char *const *words)
{
    resp_arg_t argv[NODE_CONN_PREFETCH_ARGS], key;
    static char out[64];

    for (int i = 0; i < n && i < NODE_CONN_PREFETCH_ARGS; i++) {
        argv[i].ptr = (char *)(uintptr_t)words[i];
        argv[i].len = strlen(words[i]);
    }
    if (!node_cmd_key_of(n, argv, &key))
        return NULL;
    assert_true(key.len < sizeof(out));
    memcpy(out, key.ptr, key.len);
    out[key.len] = '\0';
    return out;
}

static void test_key_of_requests(void **state)
{
    static const char *const set[] = {"SET", "k1", "v"};
    static const char *const get[] = {"get", "k2"};
    static const char *const incr[] = {"InCr", "k3"};
    static const char *const ping[] = {"PING"};
    static const char *const unknown[] = {"NOSUCH", "k"};
    static const char *const put[] = {"RCMIGRATE", "PUT", "7", "12", "k4", "blob"};
    static const char *const del[] = {"rcmigrate", "del", "7", "12", "k5"};
    static const char *const done[] = {"RCMIGRATE", "DONE", "7", "12", "3", "9"};
    static const char *const getnokey[] = {"GET"};

    (void)state;
    assert_string_equal(key_of(3, set), "k1");
    assert_string_equal(key_of(2, get), "k2");
    assert_string_equal(key_of(2, incr), "k3");
    assert_null(key_of(1, ping));
    assert_null(key_of(2, unknown));
    assert_string_equal(key_of(6, put), "k4");
    assert_string_equal(key_of(5, del), "k5");
    assert_null(key_of(6, done));
    assert_null(key_of(1, getnokey)); /* arity is checked later, by the dispatcher */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_of_requests),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
