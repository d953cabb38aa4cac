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
