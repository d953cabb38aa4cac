/* tests/unit/paxos_test_util.h: fixtures shared by the paxos unit tests.
 * The one rule: only plain builders of paxos values, no test logic. */
#ifndef RC_TESTS_PAXOS_TEST_UTIL_H
#define RC_TESTS_PAXOS_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "paxos/paxos.h"

/* Builds a genesis configuration of 'n' members with ids 1..n and tokens
 * 100+i, addresses 10.0.0.i:17001. */
static inline void test_genesis(paxos_config_t *c, int n)
{
    char bus[PAXOS_ADDR_MAX], client[PAXOS_ADDR_MAX];
    int i;

    memset(c, 0, sizeof(*c));
    c->epoch = 1;
    c->next_id = 1;
    c->replicas = 1;
    for (i = 1; i <= n; i++) {
        snprintf(bus, sizeof(bus), "10.0.0.%d:17001", i);
        snprintf(client, sizeof(client), "10.0.0.%d:7001", i);
        paxos_config_add(c, 100 + (uint64_t)i, client, bus, 1);
    }
}

#endif /* RC_TESTS_PAXOS_TEST_UTIL_H */
