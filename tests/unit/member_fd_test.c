/* tests/unit/member_fd_test.c: member/member_fd.c, the failure detector,
 * played out in virtual time: suspicion after the node timeout, reports
 * only with a majority of the members this node hears from, the quarter
 * timeout for refused connections, MINORITY, and removed incarnations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "member/member.h"
#include "paxos/paxos.h"
#include "tests/unit/paxos_test_util.h"

enum {
    TIMEOUT = 1000, /* cluster-node-timeout's default */
    T0 = 50000,     /* install time: far from 0, as uv_now() is */
};

typedef struct fix_s {
    member_fd_t *fd;
    paxos_config_t cfg; /* members 1..n, tokens 101..; this node is 1 */
    member_fd_tick_t tick;
} fix_t;

static int setup(void **state)
{
    fix_t *f = test_malloc(sizeof(*f));

    memset(f, 0, sizeof(*f));
    f->fd = member_fd_create(TIMEOUT);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;

    member_fd_destroy(f->fd);
    test_free(f);
    return 0;
}

/* Installs a configuration of 'n' members, this node being member 1. */
static void install(fix_t *f, int n, int64_t now)
{
    test_genesis(&f->cfg, n);
    member_fd_install(f->fd, now, &f->cfg, 1);
}

static uint64_t token(uint64_t id)
{
    return 100 + id; /* test_genesis() */
}

/* A PONG from member 'id' at 'now' suspecting the 'n' ids at 'sus'. */
static int pong(fix_t *f, int64_t now, uint64_t id, const uint64_t *sus, uint32_t n)
{
    return member_fd_on_heard(f->fd, now, id, token(id), 1, sus, n);
}

/* Every member but the ones in 'silent' (mask of ids) answers at 'now'. */
static void all_pong_but(fix_t *f, int64_t now, unsigned silent, const uint64_t *sus, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < f->cfg.nmembers; i++) {
        uint64_t id = f->cfg.members[i].id;

        if (id != 1 && !(silent & (1u << id)))
            pong(f, now, id, sus, n);
    }
}

static void test_silence_past_the_timeout_is_suspected(void **state)
{
    fix_t *f = *state;

    install(f, 3, T0);
    assert_false(member_fd_suspects(f->fd, T0 + TIMEOUT, 2)); /* "more than" the timeout */
    assert_true(member_fd_suspects(f->fd, T0 + TIMEOUT + 1, 2));
    pong(f, T0 + TIMEOUT + 1, 2, NULL, 0);
    assert_false(member_fd_suspects(f->fd, T0 + 2 * TIMEOUT + 1, 2));
    assert_true(member_fd_suspects(f->fd, T0 + 2 * TIMEOUT + 2, 2));
}

static void test_node_never_suspects_itself(void **state)
{
    fix_t *f = *state;

    install(f, 3, T0);
    assert_false(member_fd_suspects(f->fd, T0 + 100 * TIMEOUT, 1));
}

/* A member that sends PINGs but never answers ours (a one-way partition)
 * is failed: only a PONG counts as hearing from it. */
static void test_ping_without_pong_does_not_count_as_heard(void **state)
{
    fix_t *f = *state;

    install(f, 3, T0);
    assert_int_equal(member_fd_on_heard(f->fd, T0 + 900, 2, token(2), 0, NULL, 0), 0);
    assert_int_equal(member_fd_last_heard(f->fd, 1), T0);
    assert_true(member_fd_suspects(f->fd, T0 + TIMEOUT + 1, 2));
}

static void test_new_member_gets_a_full_timeout_of_grace(void **state)
{
    fix_t *f = *state;

    install(f, 3, T0);
    assert_int_equal(member_fd_last_heard(f->fd, 2), T0);
    assert_int_equal(member_fd_last_ping(f->fd, 2), 0);
    assert_false(member_fd_suspects(f->fd, T0 + TIMEOUT, 3));
}

static void test_tick_pings_every_other_member_with_my_suspects(void **state)
{
    fix_t *f = *state;
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 4, T0);
    all_pong_but(f, now, 1u << 3, NULL, 0);
    member_fd_tick(f->fd, now, &f->tick);
    assert_true(f->tick.ping);
    assert_int_equal(f->tick.nsuspects, 1);
    assert_int_equal(f->tick.suspects[0], 3);
    assert_int_equal(member_fd_last_ping(f->fd, 0), 0); /* not to itself */
    assert_int_equal(member_fd_last_ping(f->fd, 1), now);
    assert_int_equal(member_fd_last_ping(f->fd, 3), now);
}

static void test_suspect_list_for_a_pong_matches_the_tick(void **state)
{
    fix_t *f = *state;
    uint64_t out[MEMBER_MAX_SUSPECTS];
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 5, T0);
    all_pong_but(f, now, (1u << 2) | (1u << 5), NULL, 0);
    assert_int_equal(member_fd_suspect_list(f->fd, now, out, MEMBER_MAX_SUSPECTS), 2);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 5);
    assert_int_equal(member_fd_suspect_list(f->fd, now, out, 1), 1); /* capped */
}

/* 5 members, 5 silent: the voters are 1 (me), 2, 3, 4. With only my own
 * suspicion (1 of 4) or one more (2 of 4) there is no majority. */
static void test_suspect_is_not_reported_without_a_majority_of_monitors(void **state)
{
    fix_t *f = *state;
    uint64_t five = 5;
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 5, T0);
    all_pong_but(f, now, 1u << 5, NULL, 0);
    member_fd_tick(f->fd, now, &f->tick);
    assert_int_equal(f->tick.nreports, 0);
    pong(f, now, 2, &five, 1);
    member_fd_tick(f->fd, now + 100, &f->tick);
    assert_int_equal(f->tick.nreports, 0);
    assert_false(member_fd_reported(f->fd, 5));
}

static void test_suspect_is_reported_once_a_majority_of_monitors_agree(void **state)
{
    fix_t *f = *state;
    uint64_t five = 5;
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 5, T0);
    all_pong_but(f, now, 1u << 5, NULL, 0);
    pong(f, now, 2, &five, 1);
    pong(f, now, 3, &five, 1);
    member_fd_tick(f->fd, now, &f->tick);
    assert_int_equal(f->tick.nreports, 1);
    assert_int_equal(f->tick.reports[0].id, 5);
    assert_int_equal(f->tick.reports[0].agree, 3);
    assert_int_equal(f->tick.reports[0].voters, 4);
    assert_int_equal(f->tick.reports[0].silent, TIMEOUT + 1);
    assert_true(member_fd_reported(f->fd, 5));
}

/* The suspicion list of a member I do not hear from does not count: it is
 * no voter. */
static void test_suspicions_of_a_silent_member_do_not_count(void **state)
{
    fix_t *f = *state;
    uint64_t sus45[2] = {4, 5};
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 5, T0);
    /* 4 suspects 5 but then goes silent itself; 2 and 3 suspect nobody. */
    pong(f, T0 + 1, 4, &sus45[1], 1);
    all_pong_but(f, now, (1u << 4) | (1u << 5), NULL, 0);
    member_fd_tick(f->fd, now + 1, &f->tick);
    /* voters for 5: me, 2, 3 (4 is suspected); agree: me only. */
    assert_int_equal(f->tick.nreports, 0);
    /* 2 agrees on both: 2 of 3 voters, but 2 of the 4 members besides the
     * suspect, no majority of the configuration: nobody is reported. */
    pong(f, now + 2, 2, sus45, 2);
    member_fd_tick(f->fd, now + 3, &f->tick);
    assert_int_equal(f->tick.nreports, 0);
    /* Once 3 agrees too, both are reported (3 of 3 voters, 3 of 4). */
    pong(f, now + 4, 3, sus45, 2);
    member_fd_tick(f->fd, now + 5, &f->tick);
    assert_int_equal(f->tick.nreports, 2);
    assert_int_equal(f->tick.reports[0].id, 4);
    assert_int_equal(f->tick.reports[1].id, 5);
}

/* Members 1 (me) and 2 were cut off together from 3, 4 and 5 (both
 * suspect those three); when it heals, 3 is heard first and suspects
 * nobody. I hear from 3 of 5, no MINORITY, and 2 of the 3 voters suspect 4
 * and 5: yet that is 2 of the 4 members besides each suspect, a minority's
 * view, and reporting it removed healthy members (integration seed 21 of
 * test_isolated_primary_with_its_replica). */
static void test_pair_cut_off_together_reports_nobody_when_one_member_is_heard(void **state)
{
    fix_t *f = *state;
    uint64_t others[3] = {3, 4, 5};
    int64_t now = T0 + 3 * TIMEOUT;

    install(f, 5, T0);
    pong(f, now, 2, others, 3);
    member_fd_tick(f->fd, now, &f->tick);
    assert_true(f->tick.minority); /* 2 of 5 heard */
    pong(f, now + 10, 3, NULL, 0);
    member_fd_tick(f->fd, now + 20, &f->tick);
    assert_false(f->tick.minority);
    assert_int_equal(f->tick.alive, 3);
    assert_int_equal(f->tick.nreports, 0);
    assert_false(member_fd_reported(f->fd, 4));
    assert_false(member_fd_reported(f->fd, 5));
}

static void test_report_is_made_once_until_the_member_answers(void **state)
{
    fix_t *f = *state;
    uint64_t three = 3;
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 3, T0);
    pong(f, now, 2, &three, 1);
    member_fd_tick(f->fd, now, &f->tick);
    assert_int_equal(f->tick.nreports, 1);
    member_fd_tick(f->fd, now + 100, &f->tick);
    assert_int_equal(f->tick.nreports, 0); /* already reported */
    /* It answers: the driver is told (alive again), then it can be
     * reported anew after another timeout of silence. */
    assert_int_equal(pong(f, now + 150, 3, NULL, 0), 1);
    assert_false(member_fd_reported(f->fd, 3));
    assert_int_equal(pong(f, now + 160, 3, NULL, 0), 0); /* said once */
    pong(f, now + 200 + TIMEOUT, 2, &three, 1);
    member_fd_tick(f->fd, now + 200 + TIMEOUT, &f->tick);
    assert_int_equal(f->tick.nreports, 1);
}

/* Two refusals in a row: suspected after a quarter of the timeout. One
 * refusal, or a link that opened again, keeps the full timeout. */
static void test_refused_connections_cut_the_wait_to_a_quarter(void **state)
{
    fix_t *f = *state;

    install(f, 3, T0);
    member_fd_set_refused(f->fd, 3, 1);
    assert_false(member_fd_suspects(f->fd, T0 + TIMEOUT / 4 + 1, 3));
    member_fd_set_refused(f->fd, 3, 2);
    assert_false(member_fd_suspects(f->fd, T0 + TIMEOUT / 4, 3));
    assert_true(member_fd_suspects(f->fd, T0 + TIMEOUT / 4 + 1, 3));
    member_fd_set_refused(f->fd, 3, 0);
    assert_false(member_fd_suspects(f->fd, T0 + TIMEOUT / 4 + 1, 3));
    member_fd_set_refused(f->fd, 99, 5); /* not a member: ignored */
}

static void test_refused_member_is_reported_after_a_quarter_timeout(void **state)
{
    fix_t *f = *state;
    uint64_t three = 3;
    int64_t now = T0 + TIMEOUT / 4 + 1;

    install(f, 3, T0);
    member_fd_set_refused(f->fd, 3, 2);
    pong(f, now, 2, &three, 1);
    member_fd_tick(f->fd, now, &f->tick);
    assert_int_equal(f->tick.nreports, 1);
    assert_int_equal(f->tick.reports[0].id, 3);
}

/* 3 members, 2 silent: I hear from 1 of 3 (myself), not a majority. */
static void test_minority_when_no_majority_is_heard_and_nobody_is_reported(void **state)
{
    fix_t *f = *state;
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 3, T0);
    member_fd_tick(f->fd, T0 + 100, &f->tick);
    assert_false(f->tick.minority);
    assert_false(f->tick.minority_changed);
    member_fd_tick(f->fd, now, &f->tick);
    assert_true(f->tick.minority);
    assert_true(f->tick.minority_changed);
    assert_int_equal(f->tick.alive, 1);
    assert_int_equal(f->tick.nmembers, 3);
    assert_int_equal(f->tick.nreports, 0);
    assert_true(f->tick.ping); /* still pings: that is how it comes back */
    assert_true(member_fd_minority(f->fd));
    member_fd_tick(f->fd, now + 100, &f->tick);
    assert_false(f->tick.minority_changed); /* logged once */
    pong(f, now + 150, 2, NULL, 0);
    member_fd_tick(f->fd, now + 200, &f->tick);
    assert_false(f->tick.minority);
    assert_true(f->tick.minority_changed);
    assert_false(member_fd_minority(f->fd));
}

/* Half is not a majority: with 4 members, hearing from 2 is MINORITY. */
static void test_exactly_half_is_a_minority(void **state)
{
    fix_t *f = *state;
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 4, T0);
    all_pong_but(f, now, (1u << 3) | (1u << 4), NULL, 0);
    member_fd_tick(f->fd, now, &f->tick);
    assert_int_equal(f->tick.alive, 2);
    assert_true(f->tick.minority);
}

static void test_node_that_is_not_a_member_neither_pings_nor_reports(void **state)
{
    fix_t *f = *state;

    test_genesis(&f->cfg, 3);
    member_fd_install(f->fd, T0, &f->cfg, 0);
    member_fd_tick(f->fd, T0 + 10 * TIMEOUT, &f->tick);
    assert_false(f->tick.ping);
    assert_int_equal(f->tick.nreports, 0);
    assert_int_equal(f->tick.nsuspects, 0);
}

/* A new configuration keeps what it knew of the members that stay (same
 * incarnation) and lets a reported one be reported again. */
static void test_install_keeps_members_that_stay_and_forgets_reports(void **state)
{
    fix_t *f = *state;
    paxos_change_t join;
    uint64_t three = 3;
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 3, T0);
    pong(f, now, 2, &three, 1);
    member_fd_tick(f->fd, now, &f->tick);
    assert_true(member_fd_reported(f->fd, 3));
    memset(&join, 0, sizeof(join));
    join.kind = PAXOS_CHANGE_JOIN;
    join.incarnation = 999;
    join.weight = 1;
    strcpy(join.bus_addr, "10.0.0.4:17001");
    assert_int_equal(paxos_config_apply(&f->cfg, &join), 1);
    f->cfg.epoch++;
    member_fd_install(f->fd, now + 10, &f->cfg, 1);
    assert_int_equal(member_fd_count(f->fd), 4);
    assert_int_equal(member_fd_last_heard(f->fd, 1), now);      /* kept */
    assert_int_equal(member_fd_last_heard(f->fd, 2), T0);       /* kept: still silent */
    assert_int_equal(member_fd_last_heard(f->fd, 3), now + 10); /* the joiner: grace */
    assert_false(member_fd_reported(f->fd, 3));
    member_fd_tick(f->fd, now + 20, &f->tick);
    assert_int_equal(f->tick.nreports, 1); /* 2 still suspects it: again */
    assert_int_equal(f->tick.reports[0].id, 3);
}

/* Once the configuration no longer holds an incarnation, nothing it sends
 * counts: its PONGs do not bring it back, its suspicions do not vote, and
 * paxos does not let its token join again. */
static void test_removed_incarnation_never_comes_back(void **state)
{
    fix_t *f = *state;
    paxos_change_t ch;
    uint64_t two = 2;
    int64_t now = T0 + TIMEOUT + 1;

    install(f, 3, T0);
    memset(&ch, 0, sizeof(ch));
    ch.kind = PAXOS_CHANGE_REMOVE;
    ch.id = 3;
    ch.incarnation = token(3);
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 1);
    f->cfg.epoch++;
    member_fd_install(f->fd, now, &f->cfg, 1);
    assert_int_equal(member_fd_count(f->fd), 2);
    assert_int_equal(pong(f, now + 1, 3, &two, 1), 0);
    assert_false(member_fd_suspects(f->fd, now + 10 * TIMEOUT, 3));
    assert_false(member_fd_reported(f->fd, 3));
    /* Its old token cannot join again: a restarted process needs a new one
     * and gets a new id. */
    ch.kind = PAXOS_CHANGE_JOIN;
    ch.id = 0;
    ch.weight = 1;
    strcpy(ch.bus_addr, "10.0.0.3:17001");
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 0);
    ch.incarnation = 4242;
    assert_int_equal(paxos_config_apply(&f->cfg, &ch), 1);
    assert_int_equal(f->cfg.members[2].id, 4);
    f->cfg.epoch++;
    member_fd_install(f->fd, now + 5, &f->cfg, 1);
    /* The old incarnation's voice still does not count for the new one. */
    assert_int_equal(member_fd_on_heard(f->fd, now + 6, 3, token(3), 1, NULL, 0), 0);
    assert_int_equal(member_fd_on_heard(f->fd, now + 6, 4, token(3), 1, NULL, 0), 0);
    assert_int_equal(member_fd_last_heard(f->fd, 2), now + 5);
}

/* Same id, other incarnation: ignored (a stale process). */
static void test_other_incarnation_of_a_member_is_ignored(void **state)
{
    fix_t *f = *state;
    uint64_t two = 2;

    install(f, 3, T0);
    assert_int_equal(member_fd_on_heard(f->fd, T0 + 500, 3, token(3) + 1, 1, &two, 1), 0);
    assert_int_equal(member_fd_last_heard(f->fd, 2), T0);
    assert_true(member_fd_suspects(f->fd, T0 + TIMEOUT + 1, 3));
}

/* A peer's list longer than any configuration (garbage, or a newer peer)
 * is cut at MEMBER_MAX_SUSPECTS, and what it holds still counts. */
static void test_long_suspicion_list_is_capped(void **state)
{
    fix_t *f = *state;
    uint64_t many[MEMBER_MAX_SUSPECTS + 8];
    int64_t now = T0 + TIMEOUT + 1;
    uint32_t i;

    for (i = 0; i < MEMBER_MAX_SUSPECTS + 8; i++)
        many[i] = 3;
    install(f, 3, T0);
    assert_int_equal(pong(f, now, 2, many, MEMBER_MAX_SUSPECTS + 8), 0);
    member_fd_tick(f->fd, now, &f->tick);
    assert_int_equal(f->tick.nreports, 1);
    assert_int_equal(f->tick.reports[0].id, 3);
}

static void test_timeout_change_applies_at_once(void **state)
{
    fix_t *f = *state;

    install(f, 3, T0);
    assert_false(member_fd_suspects(f->fd, T0 + 600, 2));
    member_fd_set_timeout(f->fd, 500);
    assert_int_equal(member_fd_timeout(f->fd), 500);
    assert_true(member_fd_suspects(f->fd, T0 + 600, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_silence_past_the_timeout_is_suspected, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_node_never_suspects_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_without_pong_does_not_count_as_heard, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_member_gets_a_full_timeout_of_grace, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tick_pings_every_other_member_with_my_suspects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_suspect_list_for_a_pong_matches_the_tick, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_suspect_is_not_reported_without_a_majority_of_monitors,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspect_is_reported_once_a_majority_of_monitors_agree,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspicions_of_a_silent_member_do_not_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_pair_cut_off_together_reports_nobody_when_one_member_is_heard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_is_made_once_until_the_member_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_connections_cut_the_wait_to_a_quarter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_member_is_reported_after_a_quarter_timeout,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_minority_when_no_majority_is_heard_and_nobody_is_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exactly_half_is_a_minority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_that_is_not_a_member_neither_pings_nor_reports,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_keeps_members_that_stay_and_forgets_reports,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_incarnation_never_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_incarnation_of_a_member_is_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_long_suspicion_list_is_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_change_applies_at_once, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
