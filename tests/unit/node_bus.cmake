# Cluster bus wire protocol and RESP reply scanner (issue 5). Owner: bus helper.
rc_unit_test(node_bus_proto_test SOURCES unit/node_bus_proto_test.c LIBS rc_node)
rc_unit_test(node_resp_test SOURCES unit/node_resp_test.c LIBS rc_node)
# node/bus/ at run time: two buses on one loop (links, handshake, batches,
# epochs, backoff, shutdown). Links rc_node until bus/ is its own library.
rc_unit_test(node_bus_test SOURCES unit/node_bus_test.c unit/node_test_loop.c LIBS rc_node)
