rc_unit_test(rc_test SOURCES unit/rc_test.c LIBS rc_common)
