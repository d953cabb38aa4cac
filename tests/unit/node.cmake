# Unit tests of the node core (request parser, configuration). Owner: core.
rc_unit_test(node_proto_test SOURCES unit/node_proto_test.c LIBS rc_node_net)
rc_unit_test(node_config_test SOURCES unit/node_config_test.c LIBS rc_node_core)
