# node/net/ on a real loop: server, client and raw connections, reply
# segments.
rc_unit_test(node_net_test SOURCES unit/node_net_test.c unit/node_test_loop.c LIBS rc_node_net)
