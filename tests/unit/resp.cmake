# resp/ (prefix resp_): the request parser and the reply scanner. They link
# rc_resp only, which keeps the library free of node/.
rc_unit_test(resp_request_test SOURCES unit/resp_request_test.c LIBS rc_resp)
rc_unit_test(resp_scan_test SOURCES unit/resp_scan_test.c LIBS rc_resp)
rc_unit_test(resp_write_test SOURCES unit/resp_write_test.c LIBS rc_resp)
