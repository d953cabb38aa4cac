/* tests/unit/node_test_copy.h: whether two copies of a key (a primary's and
 * a replica's, in two dbs) hold the same value, for the tests of
 * replication: the same fields (hash) or members (set) whatever the order
 * their tables keep them in, else the same bytes serialized (a string, a
 * list's elements in order, a sorted set's members and scores). */
#ifndef RC_TESTS_UNIT_NODE_TEST_COPY_H
#define RC_TESTS_UNIT_NODE_TEST_COPY_H

#include "node/data/node_db.h"

/* Fails the running cmocka test, naming 'what', unless 'x' and 'y' (both
 * non-NULL) hold the same value. */
void node_test_assert_same_value(node_obj_t *x, node_obj_t *y, const char *what);

#endif /* RC_TESTS_UNIT_NODE_TEST_COPY_H */
