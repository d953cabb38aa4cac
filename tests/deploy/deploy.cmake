# Deployment artefacts (issue 15), checked once, in the release stage: the
# Kubernetes manifests (rendered and schema-validated offline) and the
# operations guide's configuration reference (complete against a running
# node). Not C: the sanitizer build does not register them again.
if(TARGET ringcached AND NOT RC_SANITIZE)
    add_test(NAME integration.deploy_k8s_manifests
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/deploy/k8s/run.sh)
    set_tests_properties(integration.deploy_k8s_manifests PROPERTIES
        LABELS "integration;deploy" TIMEOUT 400
        FAIL_REGULAR_EXPRESSION "${RC_SKIP_IS_FAILURE}|FAIL ")
endif()
if(TARGET ringcached AND NOT RC_SANITIZE)
    add_test(NAME integration.deploy_config_reference
             COMMAND ${RC_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/deploy/test_config_reference.py)
    set_tests_properties(integration.deploy_config_reference PROPERTIES
        LABELS "integration;deploy" TIMEOUT 120
        FAIL_REGULAR_EXPRESSION "${RC_SKIP_IS_FAILURE}"
        ENVIRONMENT "RINGCACHED=$<TARGET_FILE:ringcached>;PYTHONDONTWRITEBYTECODE=1")
endif()
# start.sh against real nodes on loopback: it needs the node's health probe
# (ringcached --probe, issue 15's container part); registered as soon as
# node/main.c has it.
file(READ ${PROJECT_SOURCE_DIR}/node/main.c RC_MAIN_C)
string(FIND "${RC_MAIN_C}" "\"--probe\"" RC_HAS_PROBE)
if(TARGET ringcached AND NOT RC_SANITIZE AND RC_HAS_PROBE GREATER -1)
    add_test(NAME integration.deploy_k8s_start
             COMMAND ${RC_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/deploy/k8s/test_start_sh.py)
    set_tests_properties(integration.deploy_k8s_start PROPERTIES
        LABELS "integration;deploy" TIMEOUT 180
        FAIL_REGULAR_EXPRESSION "${RC_SKIP_IS_FAILURE}"
        ENVIRONMENT "RINGCACHED=$<TARGET_FILE:ringcached>;PYTHONDONTWRITEBYTECODE=1")
endif()
