# systemd (issue 15): the notify protocol against real ringcached processes
# (C code: runs in the release and the sanitizer stages), and the offline
# check of deploy/systemd (systemd-analyze verify/security, the example
# conf): not C, so only in the release build's integration stage.
if(TARGET ringcached)
    rc_integration_test(notify SCRIPT test_notify.py TIMEOUT 180)
    if(NOT RC_SANITIZE)
        rc_integration_test(systemd_units SCRIPT ../deploy/test_systemd_units.py TIMEOUT 120)
    endif()
endif()
