/* tests/unit/node_repl_track_test.c: node/repl/node_repl_track.c, the
 * primary's acknowledgement accounting: the committed watermark over
 * several links, a slot's last write, back-pressure, acknowledgements that
 * are old or impossible, a link the configuration drops, the oldest
 * unacknowledged write, epoch fencing; and a random run checked against a
 * naive model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "node/repl/node_repl_track.h"

static void test_no_replicas_commits_at_once(void **state)
{
    node_repl_track_t *t = node_repl_track_create(16);

    (void)state;
    assert_int_equal(node_repl_track_committed(t), 0);
    assert_int_equal(node_repl_track_write(t, 5, NULL, 0, 100), 1);
    assert_int_equal(node_repl_track_committed(t), 1);
    assert_int_equal(node_repl_track_slot_last(t, 5), 1);
    assert_int_equal(node_repl_track_slot_last(t, 6), 0);
    node_repl_track_destroy(t);
}

static void test_the_watermark_waits_for_every_link_a_write_went_to(void **state)
{
    node_repl_track_t *t = node_repl_track_create(16);
    const unsigned ab[] = {0, 1}, b[] = {1}, c[] = {2};
    int64_t at = 0;

    (void)state;
    assert_int_equal(node_repl_track_write(t, 1, ab, 2, 10), 1); /* links 0, 1 */
    assert_int_equal(node_repl_track_write(t, 2, b, 1, 11), 2);  /* link 1 */
    assert_int_equal(node_repl_track_write(t, 3, c, 1, 12), 3);  /* link 2 */
    assert_int_equal(node_repl_track_committed(t), 0);
    assert_int_equal(node_repl_track_oldest(t, &at), 0);
    assert_int_equal(at, 10);
    assert_int_equal(node_repl_track_ack(t, 0, 1), 0); /* link 0 has w1 */
    assert_int_equal(node_repl_track_committed(t), 0); /* link 1 has not */
    assert_int_equal(node_repl_track_ack(t, 2, 1), 0); /* w3 on link 2 */
    assert_int_equal(node_repl_track_committed(t), 0); /* w3 waits for w1, w2 */
    assert_int_equal(node_repl_track_ack(t, 1, 1), 0);
    assert_int_equal(node_repl_track_committed(t), 1);
    assert_int_equal(node_repl_track_inflight(t, 1), 1);
    assert_int_equal(node_repl_track_oldest(t, &at), 1);
    assert_int_equal(at, 11);
    assert_int_equal(node_repl_track_ack(t, 1, 2), 0);
    assert_int_equal(node_repl_track_committed(t), 3);
    assert_int_equal(node_repl_track_oldest(t, &at), -1);
    assert_int_equal(node_repl_track_slot_last(t, 2), 2);
    node_repl_track_destroy(t);
}

static void test_back_pressure_and_bad_input(void **state)
{
    node_repl_track_t *t = node_repl_track_create(3);
    const unsigned a[] = {0}, ab[] = {0, 1}, bad[] = {NODE_REPL_MAX_LINKS};
    int i;

    (void)state;
    for (i = 0; i < 3; i++)
        assert_int_equal(node_repl_track_write(t, 0, a, 1, i), (uint64_t)i + 1);
    /* Link 0 is full: a write to links 0 and 1 records nothing at all. */
    assert_int_equal(node_repl_track_write(t, 7, ab, 2, 9), 0);
    assert_int_equal(node_repl_track_inflight(t, 1), 0);
    assert_int_equal(node_repl_track_slot_last(t, 7), 0);
    assert_int_equal(node_repl_track_write(t, 0, bad, 1, 9), 0);
    assert_int_equal(node_repl_track_write(t, NODE_REPL_SLOTS, NULL, 0, 9), 0);
    /* More acknowledged than sent: a protocol error, nothing changes. */
    assert_int_equal(node_repl_track_ack(t, 0, 4), -1);
    assert_int_equal(node_repl_track_ack(t, NODE_REPL_MAX_LINKS, 1), -1);
    assert_int_equal(node_repl_track_inflight(t, 0), 3);
    assert_int_equal(node_repl_track_ack(t, 0, 2), 0);
    assert_int_equal(node_repl_track_ack(t, 0, 1), 0); /* older: no-op */
    assert_int_equal(node_repl_track_inflight(t, 0), 1);
    assert_int_equal(node_repl_track_committed(t), 2);
    assert_int_equal(node_repl_track_write(t, 7, ab, 2, 9), 4); /* room again */
    node_repl_track_destroy(t);
}

static void test_a_dropped_link_stops_counting(void **state)
{
    node_repl_track_t *t = node_repl_track_create(16);
    const unsigned ab[] = {0, 1}, b[] = {1};

    (void)state;
    assert_int_equal(node_repl_track_write(t, 1, ab, 2, 1), 1);
    assert_int_equal(node_repl_track_write(t, 1, ab, 2, 2), 2);
    assert_int_equal(node_repl_track_ack(t, 0, 2), 0);
    assert_int_equal(node_repl_track_committed(t), 0); /* link 1 is slow */
    node_repl_track_reset_link(t, 1);                  /* removed by the configuration */
    assert_int_equal(node_repl_track_committed(t), 2);
    assert_int_equal(node_repl_track_inflight(t, 1), 0);
    assert_int_equal(node_repl_track_ack(t, 1, 1), -1); /* its counts restarted */
    assert_int_equal(node_repl_track_write(t, 1, b, 1, 3), 3);
    assert_int_equal(node_repl_track_ack(t, 1, 1), 0);
    assert_int_equal(node_repl_track_committed(t), 3);
    node_repl_track_destroy(t);
}

static void test_epoch_fencing(void **state)
{
    (void)state;
    assert_int_equal(node_repl_accept(7, 7), NODE_REPL_APPLY);
    assert_int_equal(node_repl_accept(7, 6), NODE_REPL_STALE);
    assert_int_equal(node_repl_accept(7, 8), NODE_REPL_WAIT);
    assert_int_equal(node_repl_accept(0, 0), NODE_REPL_APPLY);
}

/* Random writes over 5 links with random acknowledgements (in order per
 * link) and resets, against a model that keeps every write's pending link
 * set: the watermark is exactly the largest w with nothing pending at or
 * below it. The rings grow past their first size. */
static void test_matches_a_naive_model(void **state)
{
    enum {
        N = 5,
        WRITES = 20000
    };
    node_repl_track_t *t = node_repl_track_create(4096);
    uint8_t *pend = calloc(WRITES + 1, 1); /* bit per link: not yet applied */
    uint64_t *sentw[N];
    uint64_t nsent[N] = {0}, nacked[N] = {0}, w = 0, expect = 0;
    int i, step;

    (void)state;
    srand(1204);
    for (i = 0; i < N; i++)
        sentw[i] = calloc(WRITES + 1, sizeof(uint64_t));
    for (step = 0; step < 60000 && w < WRITES; step++) {
        int op = rand() % 10;

        if (op < 5) {
            unsigned links[N], n = 0, k;
            uint64_t got;

            for (k = 0; k < N; k++) {
                if (rand() % 2)
                    links[n++] = k;
            }
            got = node_repl_track_write(t, (unsigned)(rand() % 16384), links, n, step);
            assert_true(got == w + 1);
            w = got;
            for (k = 0; k < n; k++) {
                pend[w] |= (uint8_t)(1u << links[k]);
                sentw[links[k]][nsent[links[k]]++] = w;
            }
        } else if (op < 9) {
            unsigned k = (unsigned)(rand() % N);
            uint64_t upto;

            if (nsent[k] == nacked[k])
                continue;
            upto = nacked[k] + 1 + (uint64_t)rand() % (nsent[k] - nacked[k]);
            assert_int_equal(node_repl_track_ack(t, k, upto), 0);
            for (; nacked[k] < upto; nacked[k]++)
                pend[sentw[k][nacked[k]]] &= (uint8_t) ~(1u << k);
        } else if (rand() % 20 == 0) {
            unsigned k = (unsigned)(rand() % N);

            node_repl_track_reset_link(t, k);
            for (; nacked[k] < nsent[k]; nacked[k]++)
                pend[sentw[k][nacked[k]]] &= (uint8_t) ~(1u << k);
            nsent[k] = nacked[k] = 0;
        }
        /* The watermark never goes back: advance the model's from where it is. */
        while (expect < w && pend[expect + 1] == 0)
            expect++;
        assert_int_equal(node_repl_track_committed(t), expect);
    }
    assert_true(w > 1000);
    for (i = 0; i < N; i++)
        free(sentw[i]);
    free(pend);
    node_repl_track_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_replicas_commits_at_once),
        cmocka_unit_test(test_the_watermark_waits_for_every_link_a_write_went_to),
        cmocka_unit_test(test_back_pressure_and_bad_input),
        cmocka_unit_test(test_a_dropped_link_stops_counting),
        cmocka_unit_test(test_epoch_fencing),
        cmocka_unit_test(test_matches_a_naive_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
