/* tests/fuzz/node_metrics_http_fuzz.c: libFuzzer target for the metrics
 * endpoint's request reader (node/metrics/node_metrics_http.c). The rules
 * it checks beyond "no crash, no read past the end": the input is copied
 * to a buffer of exactly its size (ASan sees any overread); every input
 * gets an answer once it reaches the limit; the status is one the server
 * knows how to send; and a prefix that is decided keeps its answer when
 * more bytes follow (the reader looks at the head only). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/metrics/node_metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int known_status(int s)
{
    return s == 200 || s == 400 || s == 404 || s == 405 || s == 431 || s == 505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    node_metrics_http_req_t req, again;
    size_t limit = NODE_METRICS_HTTP_MAX_HEADER;
    char *buf = calloc(size > 0 ? size : 1, 1);
    int r;

    if (buf == NULL)
        return 0;
    if (size > 0)
        memcpy(buf, data, size);
    r = node_metrics_http_parse(buf, size, limit, &req);
    if (r == 0 && size >= limit)
        abort(); /* past the limit, an answer is due */
    if (r == 1 && !known_status(req.status))
        abort();
    if (r == 1 && req.status == 200 && req.page == NODE_METRICS_PAGE_NONE)
        abort();
    /* A small limit: every input of at least that size is decided. */
    if (size >= 64 && node_metrics_http_parse(buf, size, 64, &again) != 1)
        abort();
    /* A prefix that is decided is decided alike with more bytes after it. */
    if (size > 1) {
        size_t cut = size / 2;

        if (node_metrics_http_parse(buf, cut, limit, &again) == 1 &&
            (r != 1 || again.status != req.status || again.page != req.page ||
             again.head != req.head))
            abort();
    }
    free(buf);
    return 0;
}
