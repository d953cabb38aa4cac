# Hand-off (issue 13). histcheck.py records clients' operations and checks
# the history per key (lost, stale, divergent, phantom, errors); its
# synthetic histories run as a unit test: no daemon needed.
add_test(NAME unit.histcheck COMMAND ${RC_PYTHON3}
         ${CMAKE_CURRENT_SOURCE_DIR}/integration/histcheck.py --self-test)
set_tests_properties(unit.histcheck PROPERTIES LABELS unit TIMEOUT 60
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")

# The hand-off under load (test_handoff.py: joins and graceful leaves; about
# 20 s, 30 s under ASan) and faults mid-transfer (test_handoff_faults.py:
# kill -9 the target or a source, SIGSTOP the target; about 10 s each).
# Each prints a "handoff ...: ops=... lost=... stale=..." summary line.
if(TARGET ringcached)
    rc_integration_test(handoff SCRIPT test_handoff.py TIMEOUT 300 BUSY)
    rc_integration_test(handoff_faults SCRIPT test_handoff_faults.py TIMEOUT 400 BUSY)
endif()
