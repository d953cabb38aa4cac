# Cluster bus wire protocol and RESP reply scanner (issue 5). Owner: bus helper.
rc_unit_test(node_bus_proto_test SOURCES unit/node_bus_proto_test.c LIBS rc_node_bus)
rc_unit_test(node_resp_test SOURCES unit/node_resp_test.c LIBS rc_node_net)
