# ring/ (issue 3): slot function, slot table, diff; and the slot function
# checked against a real redis-server's CLUSTER KEYSLOT.
rc_unit_test(ring_test SOURCES unit/ring_test.c LIBS rc_ring)
rc_unit_test(ring_redis_test SOURCES unit/ring_redis_test.c LIBS rc_ring PkgConfig::HIREDIS)
