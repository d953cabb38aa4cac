# node/migrate/ (slot hand-off) with real nodes on one loop, each wired as
# main.c wires it: join, writes during the transfer, graceful leave, held
# requests, RCMIGRATE refusals.
rc_unit_test(node_migrate_test SOURCES unit/node_migrate_test.c unit/node_test_loop.c unit/node_test_copy.c LIBS rc_node_cmd)
