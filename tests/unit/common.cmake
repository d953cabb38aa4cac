# common/ (prefix rc_): every test links rc_common only.
rc_unit_test(rc_test SOURCES unit/rc_test.c LIBS rc_common)
rc_unit_test(rc_buf_test SOURCES unit/rc_buf_test.c LIBS rc_common)
rc_unit_test(rc_str_test SOURCES unit/rc_str_test.c LIBS rc_common)
# The include graph between folders: no cycle, only the edges DESIGN allows.
add_test(NAME unit.check_layers COMMAND ${RC_PYTHON3} ${PROJECT_SOURCE_DIR}/scripts/check_layers.py
         ${PROJECT_SOURCE_DIR})
set_tests_properties(unit.check_layers PROPERTIES LABELS unit TIMEOUT 60)
# The Python of the tests and the bench scripts: pyflakes (an unused import,
# an undefined name) fails the fast tier, as a C warning does.
file(GLOB RC_PY_FILES ${PROJECT_SOURCE_DIR}/bench/*.py ${PROJECT_SOURCE_DIR}/scripts/*.py
     ${PROJECT_SOURCE_DIR}/tests/integration/*.py ${PROJECT_SOURCE_DIR}/tests/deploy/*.py
     ${PROJECT_SOURCE_DIR}/tests/deploy/k8s/*.py)
add_test(NAME unit.pyflakes COMMAND ${RC_PYTHON3} -m pyflakes ${RC_PY_FILES})
set_tests_properties(unit.pyflakes PROPERTIES LABELS unit TIMEOUT 120)
