# Integration test of the Prometheus endpoint (issue 15, node/metrics): a
# 3-node cluster scraped with promtool's lint, bad requests, metrics-port 0.
# test_alert_rules (promtool on deploy/prometheus/) has no C in it: it runs
# once, in the release stage, not again under the sanitizers.
if(TARGET ringcached)
    rc_integration_test(metrics SCRIPT test_metrics.py TIMEOUT 300 ARGS -k test_endpoint_)
    if(NOT RC_SANITIZE)
        rc_integration_test(metrics_alert_rules SCRIPT test_metrics.py TIMEOUT 120
                            ARGS -k test_alert_rules)
    endif()
endif()
