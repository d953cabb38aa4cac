# node/repl/: the pure parts of replication (acknowledgement accounting,
# epoch fencing), no loop.
rc_unit_test(node_repl_track_test SOURCES unit/node_repl_track_test.c LIBS rc_node_repl)
