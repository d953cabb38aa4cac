# The keyspace (data helper): hash table, db (expiry, eviction, memory accounting).
rc_unit_test(node_dict_test SOURCES unit/node_dict_test.c LIBS rc_node_data)
rc_unit_test(node_db_test SOURCES unit/node_db_test.c LIBS rc_node_data)
# Issue 12 (data): the per-slot keyspace, the change observers and the
# object codec. The observer test runs every write command of the command
# tables, so it links the commands too.
rc_unit_test(node_data_slots_test SOURCES unit/node_data_slots_test.c LIBS rc_node_data)
rc_unit_test(node_data_observer_test SOURCES unit/node_data_observer_test.c unit/node_test_copy.c LIBS rc_node_cmd)
rc_unit_test(node_data_codec_test SOURCES unit/node_data_codec_test.c LIBS rc_node_data)
