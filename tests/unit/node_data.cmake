# The keyspace (data helper): hash table, db (expiry, eviction, memory accounting).
rc_unit_test(node_dict_test SOURCES unit/node_dict_test.c LIBS rc_node_data)
rc_unit_test(node_db_test SOURCES unit/node_db_test.c LIBS rc_node_data)
