# Unit tests of the command room's pure parts. Owner: cmd.
rc_unit_test(node_cmd_stats_test SOURCES unit/node_cmd_stats_test.c LIBS rc_node_cmd)
rc_unit_test(node_cmd_key_test SOURCES unit/node_cmd_key_test.c LIBS rc_node_cmd)
