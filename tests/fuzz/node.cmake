# libFuzzer target for the client request parser. Owner: core.
# node_proto.c is compiled into the target itself so libFuzzer's coverage
# instrumentation sees the parser (the rc_node library is not instrumented).
rc_fuzz_target(node_request_fuzz
    SOURCES fuzz/node_request_fuzz.c ${PROJECT_SOURCE_DIR}/node/net/node_proto.c
    LIBS rc_node PkgConfig::HIREDIS
    CORPUS corpus/node_request)
