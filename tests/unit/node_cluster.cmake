# node/cluster/ on a real loop: founding, the state file, joining, leaving.
rc_unit_test(node_cluster_test SOURCES unit/node_cluster_test.c unit/node_test_loop.c LIBS rc_node_cluster)
