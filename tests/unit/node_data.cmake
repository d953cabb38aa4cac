# The keyspace (data helper): hash table, db (expiry, eviction, memory accounting).
rc_unit_test(node_dict_test SOURCES unit/node_dict_test.c LIBS rc_node_data)
# node_db_test also checks the glob matcher, in cmd/ until it moves to common/.
rc_unit_test(node_db_test SOURCES unit/node_db_test.c LIBS rc_node_data rc_node_cmd)
