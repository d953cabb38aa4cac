# node/core/node_notify.c: systemd's notify protocol (issue 15).
rc_unit_test(node_notify_test SOURCES unit/node_notify_test.c LIBS rc_node_core)
