# Hand-off (issue 13). histcheck.py records clients' operations and checks
# the history per key (lost, stale, divergent, phantom, errors); its
# synthetic histories run as a unit test: no daemon needed.
add_test(NAME unit.histcheck COMMAND ${RC_PYTHON3}
         ${CMAKE_CURRENT_SOURCE_DIR}/integration/histcheck.py --self-test)
set_tests_properties(unit.histcheck PROPERTIES LABELS unit TIMEOUT 60
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
