# libFuzzer target for the object codec (issue 12, data). The node/data
# sources are compiled into the target so libFuzzer's coverage
# instrumentation sees them (rc_node is not instrumented); data/ needs only
# common/ and ring/. Corpus: fuzz/corpus/node_codec/, one object of each
# type and encoding (written by hand from the format in node_codec.c).
file(GLOB RC_NODE_DATA_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/node/data/*.c)
rc_fuzz_target(node_codec_fuzz
    SOURCES fuzz/node_codec_fuzz.c ${RC_NODE_DATA_SOURCES}
    LIBS rc_common rc_ring m
    CORPUS corpus/node_codec)
