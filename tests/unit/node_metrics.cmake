# The metrics endpoint's HTTP request reader (issue 15, node/metrics).
rc_unit_test(node_metrics_http_test SOURCES unit/node_metrics_http_test.c LIBS rc_node_metrics)
