# member/ (issue: Paxos and the ring agree on limits): a node asked for a
# setting the slot table cannot place stops at startup; the cluster serves on.
if(TARGET ringcached)
    rc_integration_test(cluster_limits SCRIPT test_member_limits.py TIMEOUT 120)
endif()
