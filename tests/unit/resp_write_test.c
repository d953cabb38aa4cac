/* tests/unit/resp_write_test.c: resp/resp_write.c, RESP header lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "resp/resp_scan.h"
#include "resp/resp_write.h"

static void expect(char type, long long v, const char *want)
{
    char buf[RESP_HEADER_MAX];
    size_t n = resp_write_header(buf, type, v);

    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
}

static void test_header_writes_type_number_crlf(void **state)
{
    (void)state;
    expect('*', 3, "*3\r\n");
    expect('$', 0, "$0\r\n");
    expect(':', -1, ":-1\r\n");
    expect('%', 12345, "%12345\r\n");
    expect(':', LLONG_MAX, ":9223372036854775807\r\n");
    expect(':', LLONG_MIN, ":-9223372036854775808\r\n"); /* RESP_HEADER_MAX bytes */
}

static void test_header_is_what_the_scanner_reads(void **state)
{
    char buf[RESP_HEADER_MAX];
    long long v = 0;
    size_t n = resp_write_header(buf, ':', -9876543210LL);

    (void)state;
    assert_int_equal(resp_scan(buf, n), (ssize_t)n);
    assert_int_equal(resp_scan_integer(buf, n, &v), 0);
    assert_true(v == -9876543210LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_writes_type_number_crlf),
        cmocka_unit_test(test_header_is_what_the_scanner_reads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
