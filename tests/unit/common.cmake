# common/ (prefix rc_): every test links rc_common only.
rc_unit_test(rc_test SOURCES unit/rc_test.c LIBS rc_common)
rc_unit_test(rc_buf_test SOURCES unit/rc_buf_test.c LIBS rc_common)
rc_unit_test(rc_str_test SOURCES unit/rc_str_test.c LIBS rc_common)
# The include graph between folders: no cycle, only the edges DESIGN allows.
add_test(NAME unit.check_layers COMMAND ${RC_PYTHON3} ${PROJECT_SOURCE_DIR}/scripts/check_layers.py
         ${PROJECT_SOURCE_DIR})
set_tests_properties(unit.check_layers PROPERTIES LABELS unit TIMEOUT 60)
