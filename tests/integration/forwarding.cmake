# Integration test of forwarding (issue 5): a real 3-node cluster; keys owned
# elsewhere through one node, ordered pipelines, split multi-key commands,
# CROSSSLOT, -MOVED, an owner killed mid-pipeline. Harness: rccluster.py.
if(TARGET ringcached)
    rc_integration_test(forwarding SCRIPT test_forwarding.py TIMEOUT 300 BUSY)
endif()
