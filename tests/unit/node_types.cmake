# Lists, sets, sorted sets, streams (types helper): the value structures.
rc_unit_test(node_types_test SOURCES unit/node_types_test.c LIBS rc_node_data)
