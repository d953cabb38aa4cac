/* node/metrics/node_metrics_http.h: the HTTP/1.x request reader of the
 * metrics endpoint. Pure: no sockets, no clocks, no allocation, so the
 * fuzzer drives it alone. The one rule: it never reads past 'len' and
 * decides every input within 'limit' bytes. */
#ifndef RC_NODE_METRICS_HTTP_H
#define RC_NODE_METRICS_HTTP_H

#include <stddef.h>

enum node_metrics_http_limit_e {
    NODE_METRICS_HTTP_MAX_HEADER = 8192, /* request line + headers; more: 431 */
};

/* What a request asks for. */
typedef enum node_metrics_http_page_e {
    NODE_METRICS_PAGE_NONE = 0, /* unknown path (404) */
    NODE_METRICS_PAGE_INDEX,    /* "/" */
    NODE_METRICS_PAGE_METRICS,  /* "/metrics" */
} node_metrics_http_page_t;

typedef struct node_metrics_http_req_s {
    int status; /* 200, or the error status: 400, 404, 405, 431, 505 */
    int head;   /* 1 for HEAD: headers only */
    node_metrics_http_page_t page;
} node_metrics_http_req_t;

/* Reads the request head in 'buf' ('len' bytes received so far). Returns 0
 * when more bytes are needed (only while 'len' < 'limit'), else 1 with
 * '*req' filled: status 200 with the page, or the error status to answer
 * (the body, if any, is never read: the connection closes after the reply). */
int node_metrics_http_parse(const char *buf, size_t len, size_t limit,
                            node_metrics_http_req_t *req);

#endif /* RC_NODE_METRICS_HTTP_H */
