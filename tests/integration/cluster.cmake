# Cluster (issue 5): real ringcached processes on loopback forming clusters
# through the bus; redis-cli, redis-py, redis-benchmark and ioredis as
# clients; kill -9, SIGSTOP and iptables partitions.
if(TARGET ringcached)
    rc_integration_test(cluster_cmds SCRIPT test_cluster_cmds.py TIMEOUT 300)
    rc_integration_test(cluster_membership SCRIPT test_cluster.py TIMEOUT 300)
    rc_integration_test(cluster_clients SCRIPT test_cluster_clients.py TIMEOUT 400)
    rc_integration_test(cluster_lifecycle SCRIPT test_cluster_lifecycle.py TIMEOUT 300)
    rc_integration_test(cluster_chaos SCRIPT test_cluster_chaos.py TIMEOUT 300)
    # iptables rules are global to the machine: the partition test must not
    # overlap another cluster test's ports.
    set_tests_properties(integration.cluster_membership PROPERTIES RUN_SERIAL TRUE)
endif()
