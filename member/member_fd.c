/* member/member_fd.c: the failure detector as a state machine over virtual
 * time (rules in member.h). The one rule: a member is reported failed only
 * when a majority of the members (the suspect excluded) suspect it, each
 * heard from with that suspicion, and never while this node hears from no
 * majority itself.
 *
 *   on_heard (PING/PONG)  --> suspicion lists, last PONG time
 *   set_refused (links)   --> refusal counts (timeout / 4 rule)
 *   tick(now)             --> my suspects, PINGs, minority, reports
 *
 * Entries are aligned with the installed configuration's member array, so
 * the driver can ask by member index as well as by id. */
#include "member/member.h"

#include <string.h>

#include "common/rc.h"

/* PAXOS_MUTATION=14 compiles in the bug this file had until issue 16's
 * sixth pass: a report counted a majority of the members heard only, so a
 * pair cut off together removed healthy members when it healed. The
 * simulator's hearing invariant (check_report() in paxos_sim.c) must catch
 * it. 0 (the default) is the correct rule. */
#ifndef PAXOS_MUTATION
#define PAXOS_MUTATION 0
#endif

enum {
    REFUSALS_FOR_EARLY = 2, /* consecutive refusals that shorten the wait */
    EARLY_DIVISOR = 4,      /* ... to timeout / 4 */
};

typedef struct peer_s {
    uint64_t id;
    uint64_t incarnation;
    int64_t last_heard; /* ms of its last PONG (install time if none yet) */
    int64_t last_ping;  /* ms of my last PING to it, 0 if none */
    unsigned refused;   /* consecutive refusals of the link to it */
    int reported;       /* failure reported to paxos */
    uint32_t nsuspects; /* what it suspects, from its last PING/PONG */
    uint64_t suspects[MEMBER_MAX_SUSPECTS];
} peer_t;

struct member_fd_s {
    int64_t timeout;
    int myindex; /* -1: this node is not a member */
    int minority;
    uint32_t n;
    peer_t *peers; /* the installed configuration's: one of 'buf' */
    /* My suspicion list, kept until an input of i_suspect() changes (a
     * PONG, a refusal count, the timeout, an install) or time moves on. */
    int list_ok;
    int64_t list_at;
    uint32_t nlist;
    uint64_t list[MEMBER_MAX_SUSPECTS];
    /* Two arrays, so that an install copies only the members it keeps. */
    peer_t buf[2][PAXOS_MAX_MEMBERS];
};

member_fd_t *member_fd_create(int64_t timeout)
{
    /* Not zeroed: entries past 'n' (and past a peer's 'nsuspects') are
     * never read. */
    member_fd_t *fd = rc_xmalloc(sizeof(*fd));

    fd->timeout = timeout;
    fd->myindex = -1;
    fd->minority = 0;
    fd->n = 0;
    fd->peers = fd->buf[0];
    fd->list_ok = 0;
    return fd;
}

void member_fd_destroy(member_fd_t *fd)
{
    rc_free(fd);
}

void member_fd_set_timeout(member_fd_t *fd, int64_t timeout)
{
    fd->timeout = timeout;
    fd->list_ok = 0;
}

int64_t member_fd_timeout(const member_fd_t *fd)
{
    return fd->timeout;
}

static int find(const member_fd_t *fd, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < fd->n; i++) {
        if (fd->peers[i].id == id)
            return (int)i;
    }
    return -1;
}

/* Copies the used part of 'src' (its suspicion list is up to 64 ids). */
static void peer_copy(peer_t *dst, const peer_t *src)
{
    dst->id = src->id;
    dst->incarnation = src->incarnation;
    dst->last_heard = src->last_heard;
    dst->last_ping = src->last_ping;
    dst->refused = src->refused;
    dst->reported = src->reported;
    dst->nsuspects = src->nsuspects;
    memcpy(dst->suspects, src->suspects, src->nsuspects * sizeof(src->suspects[0]));
}

void member_fd_install(member_fd_t *fd, int64_t now, const paxos_config_t *c, uint64_t my_id)
{
    const peer_t *old = fd->peers;
    peer_t *peers = fd->peers == fd->buf[0] ? fd->buf[1] : fd->buf[0];
    uint32_t nold = fd->n, i, j, n = c->nmembers;

    if (n > PAXOS_MAX_MEMBERS)
        n = PAXOS_MAX_MEMBERS;
    fd->myindex = -1;
    for (i = 0; i < n; i++) {
        peer_t *p = &peers[i];

        p->id = c->members[i].id;
        p->incarnation = c->members[i].incarnation;
        for (j = 0; j < nold; j++) {
            if (old[j].id == p->id && old[j].incarnation == p->incarnation)
                break;
        }
        if (j < nold) {
            peer_copy(p, &old[j]);
            p->reported = 0; /* a new configuration: decide again */
        } else {
            p->last_heard = now; /* a new member gets a full timeout of grace */
            p->last_ping = 0;
            p->refused = 0;
            p->reported = 0;
            p->nsuspects = 0;
        }
        if (my_id != 0 && p->id == my_id)
            fd->myindex = (int)i;
    }
    fd->peers = peers;
    fd->n = n;
    fd->list_ok = 0;
}

int member_fd_on_heard(member_fd_t *fd, int64_t now, uint64_t id, uint64_t incarnation, int pong,
                       const uint64_t *suspects, uint32_t n)
{
    int i = find(fd, id);
    peer_t *p;

    if (i < 0 || fd->peers[i].incarnation != incarnation)
        return 0;
    p = &fd->peers[i];
    if (n > MEMBER_MAX_SUSPECTS)
        n = MEMBER_MAX_SUSPECTS;
    p->nsuspects = n;
    if (n > 0)
        memcpy(p->suspects, suspects, n * sizeof(suspects[0]));
    if (!pong)
        return 0;
    if (p->last_heard != now)
        fd->list_ok = 0;
    p->last_heard = now;
    if (!p->reported)
        return 0;
    p->reported = 0;
    return 1;
}

void member_fd_set_refused(member_fd_t *fd, uint64_t id, unsigned consecutive)
{
    int i = find(fd, id);

    if (i >= 0 && fd->peers[i].refused != consecutive) {
        fd->peers[i].refused = consecutive;
        fd->list_ok = 0;
    }
}

/* My own opinion of member 'i': silent for the node timeout, or for a
 * quarter of it with its port refusing connections (a dead process). */
static int i_suspect(const member_fd_t *fd, uint32_t i, int64_t now)
{
    const peer_t *p = &fd->peers[i];
    int64_t silent = now - p->last_heard;

    if ((int)i == fd->myindex)
        return 0;
    if (silent > fd->timeout)
        return 1;
    return p->refused >= REFUSALS_FOR_EARLY && silent > fd->timeout / EARLY_DIVISOR;
}

static int in_list(const peer_t *p, uint64_t id)
{
    uint32_t i;

    for (i = 0; i < p->nsuspects; i++) {
        if (p->suspects[i] == id)
            return 1;
    }
    return 0;
}

uint32_t member_fd_suspect_list(const member_fd_t *fd, int64_t now, uint64_t *out, uint32_t cap)
{
    uint32_t i, k = 0;

    for (i = 0; i < fd->n && k < cap; i++) {
        if (i_suspect(fd, i, now))
            out[k++] = fd->peers[i].id;
    }
    return k;
}

/* My suspicion list at 'now' into fd->list, unless it is there already. */
static void list_update(member_fd_t *fd, int64_t now)
{
    if (fd->list_ok && fd->list_at == now)
        return;
    fd->nlist = member_fd_suspect_list(fd, now, fd->list, MEMBER_MAX_SUSPECTS);
    fd->list_at = now;
    fd->list_ok = 1;
}

uint32_t member_fd_suspect_view(member_fd_t *fd, int64_t now, const uint64_t **ids)
{
    list_update(fd, now);
    *ids = fd->list;
    return fd->nlist;
}

/* Decides whether suspect 'i' is to be reported: the members I hear from
 * (me included, the suspect excluded) that suspect it are a majority of
 * them and of all the configuration's members but the suspect. Counting
 * only the members heard would let a minority decide: two nodes cut off
 * together, the first majority member heard again when it heals (not
 * suspecting) makes 2 of 3 voters but 2 of 5 members, and their report
 * removed a healthy member. 'sus[j]' is i_suspect(fd, j, now). */
static int agreed(const member_fd_t *fd, uint32_t i, int64_t now, const unsigned char *sus,
                  member_fd_report_t *r)
{
    uint32_t j, voters = 0, agree = 0;

    for (j = 0; j < fd->n; j++) {
        if (j == i || sus[j])
            continue;
        voters++;
        if ((int)j == fd->myindex || in_list(&fd->peers[j], fd->peers[i].id))
            agree++;
    }
    r->id = fd->peers[i].id;
    r->silent = now - fd->peers[i].last_heard;
    r->agree = agree;
    r->voters = voters;
#if PAXOS_MUTATION == 14
    return agree * 2 > voters; /* BUG: a majority of the members heard only */
#endif
    return agree * 2 > voters && agree * 2 > fd->n - 1;
}

void member_fd_tick_sparse(member_fd_t *fd, int64_t now, member_fd_tick_t *out)
{
    unsigned char sus[PAXOS_MAX_MEMBERS];
    uint32_t i, alive = 0;
    int minority;

    out->ping = 0;
    out->nsuspects = 0;
    out->minority_changed = 0;
    out->minority = fd->minority;
    out->alive = 0;
    out->nmembers = fd->n;
    out->nreports = 0;
    if (fd->myindex < 0)
        return;
    out->ping = 1;
    list_update(fd, now);
    out->nsuspects = fd->nlist;
    memcpy(out->suspects, fd->list, fd->nlist * sizeof(fd->list[0]));
    for (i = 0; i < fd->n; i++) {
        sus[i] = (unsigned char)i_suspect(fd, i, now);
        if ((int)i != fd->myindex)
            fd->peers[i].last_ping = now;
        if (!sus[i])
            alive++;
    }
    out->alive = alive;
    minority = alive * 2 <= fd->n;
    out->minority_changed = minority != fd->minority;
    fd->minority = minority;
    out->minority = minority;
    if (minority)
        return;
    for (i = 0; i < fd->n; i++) {
        member_fd_report_t r;

        if (fd->peers[i].reported || !sus[i])
            continue;
        if (!agreed(fd, i, now, sus, &r))
            continue;
        fd->peers[i].reported = 1;
        out->reports[out->nreports++] = r;
    }
}

void member_fd_tick(member_fd_t *fd, int64_t now, member_fd_tick_t *out)
{
    memset(out, 0, sizeof(*out));
    member_fd_tick_sparse(fd, now, out);
}

int member_fd_suspects(const member_fd_t *fd, int64_t now, uint64_t id)
{
    int i = find(fd, id);

    return i >= 0 && i_suspect(fd, (uint32_t)i, now);
}

int member_fd_reported(const member_fd_t *fd, uint64_t id)
{
    int i = find(fd, id);

    return i >= 0 && fd->peers[i].reported;
}

int member_fd_minority(const member_fd_t *fd)
{
    return fd->minority;
}

uint32_t member_fd_count(const member_fd_t *fd)
{
    return fd->n;
}

int64_t member_fd_last_heard(const member_fd_t *fd, uint32_t idx)
{
    RC_ASSERT(idx < fd->n);
    return fd->peers[idx].last_heard;
}

int64_t member_fd_last_ping(const member_fd_t *fd, uint32_t idx)
{
    RC_ASSERT(idx < fd->n);
    return fd->peers[idx].last_ping;
}
