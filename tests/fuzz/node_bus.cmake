# libFuzzer targets for the cluster bus protocol and the RESP reply scanner
# (issue 5). Owner: bus helper. The sources are compiled into each target so
# libFuzzer's coverage instrumentation sees them (rc_node is not instrumented).
rc_fuzz_target(node_bus_fuzz
    SOURCES fuzz/node_bus_fuzz.c ${PROJECT_SOURCE_DIR}/node/bus/node_bus_proto.c
    LIBS rc_common PkgConfig::LIBCRYPTO
    CORPUS corpus/node_bus)
rc_fuzz_target(node_resp_fuzz
    SOURCES fuzz/node_resp_fuzz.c ${PROJECT_SOURCE_DIR}/node/net/node_resp.c
    LIBS rc_common
    CORPUS corpus/node_resp)
