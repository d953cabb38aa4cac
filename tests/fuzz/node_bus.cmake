# libFuzzer target for the cluster bus protocol (issue 5). Owner: bus helper.
# The source is compiled into the target so libFuzzer's coverage
# instrumentation sees it (rc_node is not instrumented).
rc_fuzz_target(node_bus_fuzz
    SOURCES fuzz/node_bus_fuzz.c ${PROJECT_SOURCE_DIR}/node/bus/node_bus_proto.c
    LIBS rc_common PkgConfig::LIBCRYPTO
    CORPUS corpus/node_bus)
