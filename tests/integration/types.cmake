# Lists, sets, sorted sets and streams (types helper): a differential of
# 20,000 random list/set/zset/stream commands (+5,000 with the next seed)
# against a real redis-server, TYPE/SCAN/DEL, memory back to baseline after
# FLUSHALL and expiry, eviction, and redis-benchmark's full default run.
if(TARGET ringcached)
    rc_integration_test(node_types SCRIPT test_types.py TIMEOUT 600)
endif()
