# Cluster bus wire protocol (issue 5). Owner: bus helper.
rc_unit_test(node_bus_proto_test SOURCES unit/node_bus_proto_test.c LIBS rc_node_bus)
