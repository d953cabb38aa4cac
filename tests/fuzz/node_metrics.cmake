# libFuzzer target for the metrics endpoint's HTTP request reader (issue 15,
# node/metrics). The reader is pure (no libuv); its source is compiled into
# the target so libFuzzer's coverage instrumentation sees it.
rc_fuzz_target(node_metrics_http_fuzz
    SOURCES fuzz/node_metrics_http_fuzz.c ${PROJECT_SOURCE_DIR}/node/metrics/node_metrics_http.c
    LIBS rc_common
    CORPUS corpus/node_metrics_http)
