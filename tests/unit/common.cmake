# common/ (prefix rc_): every test links rc_common only.
rc_unit_test(rc_test SOURCES unit/rc_test.c LIBS rc_common)
rc_unit_test(rc_buf_test SOURCES unit/rc_buf_test.c LIBS rc_common)
rc_unit_test(rc_str_test SOURCES unit/rc_str_test.c LIBS rc_common)
