/* tests/unit/rc_buf_test.c: common/rc_buf.c — appends, reserve/commit,
 * printf growth, reset with and without trimming, consume, detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/rc.h"
#include "common/rc_buf.h"

static void test_init_holds_no_memory(void **state)
{
    rc_buf_t b = {0}, c;

    (void)state;
    rc_buf_init(&c);
    assert_null(b.data);
    assert_null(c.data);
    assert_int_equal(c.len, 0);
    assert_int_equal(c.cap, 0);
    rc_buf_free(&b); /* free of an empty buffer is a no-op */
}

static void test_append_keeps_bytes_and_nul_terminates(void **state)
{
    rc_buf_t b = {0};

    (void)state;
    rc_buf_append(&b, "ab\0c", 4);
    rc_buf_append_str(&b, "de");
    rc_buf_putc(&b, 'f');
    rc_buf_append(&b, NULL, 0);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "ab\0cdef", 8); /* the NUL after 'f' too */
    assert_true(b.cap > b.len);
    rc_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_append_grows_by_doubling_past_many_pages(void **state)
{
    rc_buf_t b = {0};
    char chunk[1000];
    size_t i, grows = 0, cap = 0;

    (void)state;
    memset(chunk, 'x', sizeof(chunk));
    for (i = 0; i < 1000; i++) {
        rc_buf_append(&b, chunk, sizeof(chunk));
        if (b.cap != cap) {
            grows++;
            cap = b.cap;
        }
    }
    assert_int_equal(b.len, 1000 * sizeof(chunk));
    assert_true(grows <= 20); /* 64 B doubling to 1 MB: about 15 */
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(b.data[123456], 'x');
    rc_buf_free(&b);
}

static void test_reserve_commit_appends_what_was_written(void **state)
{
    rc_buf_t b = {0};
    char *p;

    (void)state;
    rc_buf_append_str(&b, "head:");
    p = rc_buf_reserve(&b, 100);
    assert_ptr_equal(p, b.data + 5);
    assert_int_equal(b.len, 5); /* reserving does not count */
    assert_true(b.cap - b.len > 100);
    memcpy(p, "123", 3);
    rc_buf_commit(&b, 3);
    assert_string_equal(b.data, "head:123");
    rc_buf_commit(&b, 0);
    assert_int_equal(b.len, 8);
    rc_buf_free(&b);
}

static void test_printf_appends_and_grows_for_long_output(void **state)
{
    rc_buf_t b = {0};
    char big[5000];

    (void)state;
    rc_buf_printf(&b, "a:%d\r\n", 42);
    assert_string_equal(b.data, "a:42\r\n");
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rc_buf_printf(&b, "%s|%s", big, "end");
    assert_int_equal(b.len, 6 + 4999 + 4);
    assert_string_equal(b.data + b.len - 4, "|end");
    rc_buf_printf(&b, "%s", "");
    assert_int_equal(b.len, 6 + 4999 + 4);
    rc_buf_free(&b);
}

static void test_printf_into_empty_buffer_gives_empty_string(void **state)
{
    rc_buf_t b = {0};

    (void)state;
    rc_buf_printf(&b, "%s", "");
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_int_equal(b.len, 0);
    rc_buf_free(&b);
}

static void test_reset_keeps_capacity_and_trim_frees_large(void **state)
{
    rc_buf_t b = {0};
    char *data;
    size_t cap;

    (void)state;
    rc_buf_reserve(&b, 10000);
    data = b.data;
    cap = b.cap;
    rc_buf_append_str(&b, "x");
    rc_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, "");
    rc_buf_reset_trim(&b, cap); /* not over 'keep': kept */
    assert_ptr_equal(b.data, data);
    rc_buf_reset_trim(&b, cap - 1);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    rc_buf_append_str(&b, "again");
    assert_string_equal(b.data, "again");
    rc_buf_free(&b);
}

static void test_consume_drops_the_front(void **state)
{
    rc_buf_t b = {0};

    (void)state;
    rc_buf_append_str(&b, "hello world");
    rc_buf_consume(&b, 0);
    assert_string_equal(b.data, "hello world");
    rc_buf_consume(&b, 6);
    assert_string_equal(b.data, "world");
    assert_int_equal(b.len, 5);
    rc_buf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    rc_buf_free(&b);
}

static void test_detach_hands_over_the_bytes(void **state)
{
    rc_buf_t b = {0};
    size_t len = 99;
    char *s;

    (void)state;
    s = rc_buf_detach(&b, &len);
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    rc_free(s);
    rc_buf_printf(&b, "%s=%d", "k", 7);
    s = rc_buf_detach(&b, &len);
    assert_string_equal(s, "k=7");
    assert_int_equal(len, 3);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    rc_free(s);
}

static void test_memory_is_counted_and_returned(void **state)
{
    size_t before = rc_used_memory();
    rc_buf_t b = {0};

    (void)state;
    rc_buf_reserve(&b, 4096);
    assert_true(rc_used_memory() >= before + 4096);
    rc_buf_free(&b);
    assert_int_equal(rc_used_memory(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_holds_no_memory),
        cmocka_unit_test(test_append_keeps_bytes_and_nul_terminates),
        cmocka_unit_test(test_append_grows_by_doubling_past_many_pages),
        cmocka_unit_test(test_reserve_commit_appends_what_was_written),
        cmocka_unit_test(test_printf_appends_and_grows_for_long_output),
        cmocka_unit_test(test_printf_into_empty_buffer_gives_empty_string),
        cmocka_unit_test(test_reset_keeps_capacity_and_trim_frees_large),
        cmocka_unit_test(test_consume_drops_the_front),
        cmocka_unit_test(test_detach_hands_over_the_bytes),
        cmocka_unit_test(test_memory_is_counted_and_returned),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
