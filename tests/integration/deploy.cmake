# Run it anywhere (issue 15): the health probe and --join by DNS name that
# containers and service managers use.
if(TARGET ringcached)
    rc_integration_test(deploy_node SCRIPT test_deploy_node.py TIMEOUT 180)
endif()
