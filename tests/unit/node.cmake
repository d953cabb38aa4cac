# Unit tests of the node core (configuration). Owner: core.
rc_unit_test(node_config_test SOURCES unit/node_config_test.c LIBS rc_node_core)
