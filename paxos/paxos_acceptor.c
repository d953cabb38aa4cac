/* paxos/paxos_acceptor.c: the acceptor of the current instance. The one
 * rule: a reply that reveals a new promise or acceptance is returned as
 * PAXOS_STEP_REPLY_DURABLE, so the driver persists before it leaves. */
#include "paxos/paxos_internal.h"

#include <string.h>

#include "common/rc.h"

int paxos__is_acceptor(const paxos_state_t *st)
{
    return st->id != 0 && st->chosen.epoch != 0 && paxos_config_find(&st->chosen, st->id) >= 0;
}

/* Only messages of our own instance count; the node answers the others with
 * catch-up before they get here. */
static int wrong_instance(const paxos_state_t *st, const paxos_msg_t *in)
{
#if PAXOS_MUTATION == 4
    return in->epoch > st->chosen.epoch; /* BUG: older instances accepted */
#else
    return in->epoch != st->chosen.epoch;
#endif
}

static void reply_init(const paxos_state_t *st, const paxos_msg_t *in, paxos_msg_t *out,
                       uint8_t type)
{
    paxos__msg_clear(out);
    out->type = type;
    out->epoch = in->epoch;
    out->from = st->id;
    out->to = in->from;
}

/* Handles PREPARE: promises to ignore ballots below in->ballot and reports
 * the value accepted so far, if any. A stale ballot is not an error: the
 * NACK carries the promise that beat it so the proposer can retry higher. */
paxos_step_t paxos_acceptor_on_prepare(paxos_state_t *st, const paxos_msg_t *in, paxos_msg_t *out)
{
    int cmp;

    RC_ASSERT(in->type == PAXOS_MSG_PREPARE); /* the node dispatches by type */
    if (!paxos__is_acceptor(st) || wrong_instance(st, in) || in->ballot.round == 0)
        return PAXOS_STEP_DROP;
    cmp = paxos_ballot_cmp(in->ballot, st->promised);
    if (cmp < 0) {
        reply_init(st, in, out, PAXOS_MSG_NACK);
        out->ballot = st->promised;
        return PAXOS_STEP_REPLY;
    }
    reply_init(st, in, out, PAXOS_MSG_PROMISE);
    out->ballot = in->ballot;
    out->accepted_ballot = st->accepted;
    if (st->accepted.round != 0) {
        out->has_value = 1;
        paxos__config_copy(&out->value, &st->accepted_value);
    }
    if (cmp == 0)
        return PAXOS_STEP_REPLY; /* duplicate PREPARE: already durable */
    st->promised = in->ballot;
#if PAXOS_MUTATION == 1
    return PAXOS_STEP_REPLY; /* BUG: the promise leaves before it is on disk */
#else
    return PAXOS_STEP_REPLY_DURABLE;
#endif
}

/* Handles ACCEPT: accepts in->value unless a higher ballot was promised.
 * Accepting also promises in->ballot. */
paxos_step_t paxos_acceptor_on_accept(paxos_state_t *st, const paxos_msg_t *in, paxos_msg_t *out)
{
    RC_ASSERT(in->type == PAXOS_MSG_ACCEPT);
    if (!paxos__is_acceptor(st) || wrong_instance(st, in) || in->ballot.round == 0 ||
        !in->has_value)
        return PAXOS_STEP_DROP;
    if (paxos_ballot_cmp(in->ballot, st->promised) < 0) {
        reply_init(st, in, out, PAXOS_MSG_NACK);
        out->ballot = st->promised;
        return PAXOS_STEP_REPLY;
    }
    reply_init(st, in, out, PAXOS_MSG_ACCEPTED);
    out->ballot = in->ballot;
    if (paxos_ballot_cmp(in->ballot, st->accepted) == 0 &&
        paxos_ballot_cmp(in->ballot, st->promised) == 0)
        return PAXOS_STEP_REPLY; /* duplicate: one value per ballot */
    st->promised = in->ballot;
    st->accepted = in->ballot;
    paxos__config_copy(&st->accepted_value, &in->value);
    return PAXOS_STEP_REPLY_DURABLE;
}
