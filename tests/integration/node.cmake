# Integration tests of the single-node server (issue 2): real ringcached
# processes driven by redis-py, redis-cli, redis-benchmark and raw sockets;
# harness: rctest.py. Every script also runs against a real redis-server with
# --target redis (that is how the tests themselves are checked).
if(TARGET ringcached)
    rc_integration_test(node_commands SCRIPT test_commands.py TIMEOUT 240)
    rc_integration_test(node_protocol SCRIPT test_protocol.py TIMEOUT 300)
    rc_integration_test(node_server SCRIPT test_server.py TIMEOUT 240)
    rc_integration_test(node_keyspace SCRIPT test_keyspace.py TIMEOUT 300)
    rc_integration_test(node_redis_benchmark SCRIPT test_redis_benchmark.py TIMEOUT 300 BUSY)
endif()

# The differential test: 100,000 random commands compared byte for byte with
# a real redis-server, three times: two seeds over RESP2 (one of them without
# pipelining) and one over RESP3. RC_DIFF_SANITIZED_COUNT may cap the count in
# the ASan build (not needed so far: ~8 s per 100,000 pipelined commands).
if(TARGET ringcached)
    rc_integration_test(node_differential SCRIPT differential.py TIMEOUT 300
                        ARGS --count 100000 --seed 20261128)
    rc_integration_test(node_differential_seed2 SCRIPT differential.py TIMEOUT 300
                        ARGS --count 100000 --seed 2 --batch 1)
    rc_integration_test(node_differential_resp3 SCRIPT differential.py TIMEOUT 300
                        ARGS --count 100000 --seed 3 --resp3)
endif()
