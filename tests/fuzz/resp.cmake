# libFuzzer targets for resp/: the client request parser and the reply
# scanner. The library's source is compiled into each target so libFuzzer's
# coverage instrumentation sees it (rc_resp itself is not instrumented); the
# rest comes from rc_resp, nothing from node/.
rc_fuzz_target(resp_request_fuzz
    SOURCES fuzz/resp_request_fuzz.c ${PROJECT_SOURCE_DIR}/resp/resp_request.c
    LIBS rc_resp
    CORPUS corpus/resp_request)
rc_fuzz_target(resp_scan_fuzz
    SOURCES fuzz/resp_scan_fuzz.c ${PROJECT_SOURCE_DIR}/resp/resp_scan.c
    LIBS rc_resp
    CORPUS corpus/resp_scan)
