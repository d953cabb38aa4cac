# Cluster bus wire protocol (issue 5). Owner: bus helper.
rc_unit_test(node_bus_proto_test SOURCES unit/node_bus_proto_test.c LIBS rc_node_bus)
# node/bus/ at run time: two buses on one loop (links, handshake, batches,
# epochs, backoff, shutdown).
rc_unit_test(node_bus_test SOURCES unit/node_bus_test.c unit/node_test_loop.c LIBS rc_node_bus)
