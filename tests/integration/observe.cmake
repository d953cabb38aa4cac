# Observability (issue 15): SLOWLOG, LATENCY, INFO commandstats and
# latencystats (test_slowlog.py, also run against redis-server with
# --target redis), and prometheus-redis-exporter -is-cluster against a real
# three-node cluster (test_exporter.py; scripts/setup.sh installs it).
if(TARGET ringcached)
    rc_integration_test(observe_slowlog SCRIPT test_slowlog.py TIMEOUT 240)
    rc_integration_test(observe_exporter SCRIPT test_exporter.py TIMEOUT 240)
endif()
