/* tests/unit/node_metrics_http_test.c: node/metrics/node_metrics_http.c, the
 * metrics endpoint's request reader: a scrape is answered 200, each kind of
 * bad request gets its status, an incomplete head waits for more bytes and
 * a head that reaches the limit is refused (431). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "node/metrics/node_metrics_http.h"

static int parse(const char *s, node_metrics_http_req_t *req)
{
    return node_metrics_http_parse(s, strlen(s), NODE_METRICS_HTTP_MAX_HEADER, req);
}

static int status_of(const char *s)
{
    node_metrics_http_req_t req;

    assert_int_equal(parse(s, &req), 1);
    return req.status;
}

static void test_scrape_is_answered_with_the_metrics_page(void **state)
{
    node_metrics_http_req_t req;

    (void)state;
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: a:9121\r\nAccept: */*\r\n\r\n", &req),
                     1);
    assert_int_equal(req.status, 200);
    assert_int_equal(req.page, NODE_METRICS_PAGE_METRICS);
    assert_int_equal(req.head, 0);
    assert_int_equal(parse("HEAD /metrics?x=1 HTTP/1.0\n\n", &req), 1);
    assert_int_equal(req.status, 200);
    assert_int_equal(req.head, 1);
    assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", &req), 1);
    assert_int_equal(req.page, NODE_METRICS_PAGE_INDEX);
}

static void test_bad_requests_get_their_status(void **state)
{
    (void)state;
    assert_int_equal(status_of("GET /other HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(status_of("GET /metricsx HTTP/1.1\r\n\r\n"), 404);
    assert_int_equal(status_of("POST /metrics HTTP/1.1\r\n\r\n"), 405);
    assert_int_equal(status_of("GET /metrics HTTP/2.0\r\n\r\n"), 505);
    assert_int_equal(status_of("GET /metrics HTTP/1.1\r\nno colon\r\n\r\n"), 400);
    assert_int_equal(status_of("GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n"), 400);
    assert_int_equal(status_of("GET  /metrics HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET metrics HTTP/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET /metrics HTTX/1.1\r\n\r\n"), 400);
    assert_int_equal(status_of("GET /metrics\r\n\r\n"), 400);
    /* Wrong from the first bytes: no need to wait for the empty line. */
    assert_int_equal(status_of("G(T /"), 400);
    assert_int_equal(status_of(" GET"), 400);
}

static void test_incomplete_head_waits_and_the_limit_refuses(void **state)
{
    static char big[NODE_METRICS_HTTP_MAX_HEADER + 16];
    node_metrics_http_req_t req;

    (void)state;
    assert_int_equal(parse("", &req), 0);
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &req), 0);
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(big + 26, 'a', sizeof(big) - 26);
    assert_int_equal(node_metrics_http_parse(big, NODE_METRICS_HTTP_MAX_HEADER - 1,
                                             NODE_METRICS_HTTP_MAX_HEADER, &req),
                     0);
    assert_int_equal(node_metrics_http_parse(big, sizeof(big), NODE_METRICS_HTTP_MAX_HEADER, &req),
                     1);
    assert_int_equal(req.status, 431);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrape_is_answered_with_the_metrics_page),
        cmocka_unit_test(test_bad_requests_get_their_status),
        cmocka_unit_test(test_incomplete_head_waits_and_the_limit_refuses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
