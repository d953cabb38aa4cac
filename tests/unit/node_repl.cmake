# node/repl/: the replies that wait for replicas (pure).
rc_unit_test(node_repl_wait_test SOURCES unit/node_repl_wait_test.c LIBS rc_node_repl)
