# Forwarding: the split-request gatherer (issue 5) and forwarding over data
# links between two cluster nodes on one loop.
rc_unit_test(node_fwd_test SOURCES unit/node_fwd_test.c unit/node_test_loop.c LIBS rc_node_fwd)
