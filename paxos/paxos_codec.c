/* paxos/paxos_codec.c: the binary encoding of configurations, messages and
 * the persisted state.
 *
 *   every encoding:  'P' kind(1: 'C' config, 'M' message, 'S' state)
 *                    version(1: 2; version 1 is refused) body
 *   integers:        little endian, fixed width
 *   address:         u8 length (< PAXOS_ADDR_MAX), bytes (no NUL)
 *   config body:     u64 epoch, u64 next_id, u32 replicas,
 *                    u8 nrecent, u64 token * nrecent,
 *                    u64 transition, u8 nretired, retired * nretired,
 *                    u8 nmembers, member * nmembers
 *   retired:         u64 id, u64 incarnation, u32 live_weight
 *   member:          u64 id, u64 incarnation, addr client, addr bus,
 *                    u32 weight, u32 live_weight, u64 ready, u8 state
 *   change:          u8 kind, u64 id, u64 incarnation, u32 weight,
 *                    addr client, addr bus, u64 transition
 *   message body:    u8 type, u64 epoch, u64 from, u64 to, addr from_addr,
 *                    then by type (see put_msg_body)
 *
 * The one rule: decoding trusts nothing. Every length is checked against
 * what is left and against the limits, the result is validated, and the
 * encoding is canonical (trailing bytes are an error), so decode followed
 * by encode gives back the same bytes. */
#include "paxos/paxos.h"
#include "paxos/paxos_internal.h"

#include <errno.h>
#include <string.h>

#include "common/rc.h"

typedef struct wr_s {
    uint8_t *buf;
    size_t cap, len;
    int err;
} wr_t;

typedef struct rd_s {
    const uint8_t *buf;
    size_t len, pos;
    int err;
} rd_t;

static void put(wr_t *w, const void *p, size_t n)
{
    if (w->err != 0)
        return;
    if (w->cap - w->len < n) {
        w->err = -ENOSPC;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

/* Written in place, not through put(): this runs for every integer. */
static void put_uint(wr_t *w, uint64_t v, int bytes)
{
    uint8_t *b;
    int i;

    if (w->err != 0)
        return;
    if (w->cap - w->len < (size_t)bytes) {
        w->err = -ENOSPC;
        return;
    }
    b = w->buf + w->len;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (bytes == 8) {
        memcpy(b, &v, 8); /* already little endian: one store */
        w->len += 8;
        return;
    }
#endif
    for (i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w->len += (size_t)bytes;
}

/* Length byte and bytes written in place; a string without a NUL in its
 * PAXOS_ADDR_MAX bytes is an error (-EINVAL). */
static void put_addr(wr_t *w, const char *s)
{
    size_t n = strnlen(s, PAXOS_ADDR_MAX);

    if (n == PAXOS_ADDR_MAX) {
        w->err = -EINVAL;
        return;
    }
    if (w->err != 0)
        return;
    if (w->cap - w->len < 1 + n) {
        w->err = -ENOSPC;
        return;
    }
    w->buf[w->len] = (uint8_t)n;
    memcpy(w->buf + w->len + 1, s, n);
    w->len += 1 + n;
}

static void put_ballot(wr_t *w, paxos_ballot_t b)
{
    put_uint(w, b.round, 8);
    put_uint(w, b.node, 8);
}

static const uint8_t *get(rd_t *r, size_t n)
{
    const uint8_t *p;

    if (r->err != 0 || r->len - r->pos < n) {
        r->err = RC_EPROTO;
        return NULL;
    }
    p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static uint64_t get_uint(rd_t *r, int bytes)
{
    const uint8_t *p = get(r, (size_t)bytes);
    uint64_t v = 0;
    int i;

    if (p == NULL)
        return 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (bytes == 8) {
        memcpy(&v, p, 8); /* already little endian: one load */
        return v;
    }
#endif
    for (i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void get_addr(rd_t *r, char *out)
{
    size_t n = (size_t)get_uint(r, 1);
    const uint8_t *p;

    if (n >= PAXOS_ADDR_MAX) {
        r->err = RC_EPROTO;
        return;
    }
    p = get(r, n);
    if (p == NULL)
        return;
    if (memchr(p, '\0', n) != NULL) {
        r->err = RC_EPROTO;
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

static paxos_ballot_t get_ballot(rd_t *r)
{
    paxos_ballot_t b;

    b.round = get_uint(r, 8);
    b.node = get_uint(r, 8);
    return b;
}

static void put_header(wr_t *w, uint8_t kind)
{
    uint8_t h[3] = {'P', kind, PAXOS_CODEC_VERSION};

    put(w, h, sizeof(h));
}

static void get_header(rd_t *r, uint8_t kind)
{
    const uint8_t *h = get(r, 3);

    if (h != NULL && (h[0] != 'P' || h[1] != kind || h[2] != PAXOS_CODEC_VERSION))
        r->err = RC_EPROTO;
}

static void put_config_body(wr_t *w, const paxos_config_t *c)
{
    uint32_t i;

    /* The addresses are checked by put_addr (-EINVAL without a NUL). */
    if (paxos__config_check(c, 0) != 0) {
        w->err = -EINVAL;
        return;
    }
    put_uint(w, c->epoch, 8);
    put_uint(w, c->next_id, 8);
    put_uint(w, c->replicas, 4);
    put_uint(w, c->nrecent, 1);
    for (i = 0; i < c->nrecent; i++)
        put_uint(w, c->recent[i], 8);
    put_uint(w, c->transition, 8);
    put_uint(w, c->nretired, 1);
    for (i = 0; i < c->nretired; i++) {
        put_uint(w, c->retired[i].id, 8);
        put_uint(w, c->retired[i].incarnation, 8);
        put_uint(w, c->retired[i].live_weight, 4);
    }
    put_uint(w, c->nmembers, 1);
    for (i = 0; i < c->nmembers; i++) {
        const paxos_member_t *m = &c->members[i];

        put_uint(w, m->id, 8);
        put_uint(w, m->incarnation, 8);
        put_addr(w, m->client_addr);
        put_addr(w, m->bus_addr);
        put_uint(w, m->weight, 4);
        put_uint(w, m->live_weight, 4);
        put_uint(w, m->ready, 8);
        put_uint(w, m->state, 1);
    }
}

static void get_config_body(rd_t *r, paxos_config_t *c)
{
    uint32_t i;

    c->epoch = get_uint(r, 8);
    c->next_id = get_uint(r, 8);
    c->replicas = (uint32_t)get_uint(r, 4);
    c->nrecent = (uint32_t)get_uint(r, 1);
    if (c->nrecent > PAXOS_MAX_RECENT) {
        r->err = RC_EPROTO;
        return;
    }
    for (i = 0; i < c->nrecent; i++)
        c->recent[i] = get_uint(r, 8);
    c->transition = get_uint(r, 8);
    c->nretired = (uint32_t)get_uint(r, 1);
    if (c->nretired > PAXOS_MAX_RETIRED) {
        r->err = RC_EPROTO;
        return;
    }
    for (i = 0; i < c->nretired; i++) {
        c->retired[i].id = get_uint(r, 8);
        c->retired[i].incarnation = get_uint(r, 8);
        c->retired[i].live_weight = (uint32_t)get_uint(r, 4);
    }
    c->nmembers = (uint32_t)get_uint(r, 1);
    if (c->nmembers > PAXOS_MAX_MEMBERS) {
        r->err = RC_EPROTO;
        return;
    }
    for (i = 0; i < c->nmembers && r->err == 0; i++) {
        paxos_member_t *m = &c->members[i];

        /* String tails zero; two 64-byte blocks, not a 'rep stos' of the
         * whole member (the decoder's hot spot otherwise). */
        memset(m->client_addr, 0, PAXOS_ADDR_MAX);
        memset(m->bus_addr, 0, PAXOS_ADDR_MAX);
        m->id = get_uint(r, 8);
        m->incarnation = get_uint(r, 8);
        get_addr(r, m->client_addr);
        get_addr(r, m->bus_addr);
        m->weight = (uint32_t)get_uint(r, 4);
        m->live_weight = (uint32_t)get_uint(r, 4);
        m->ready = get_uint(r, 8);
        m->state = (uint8_t)get_uint(r, 1);
    }
    /* get_addr wrote every address NUL-terminated with no inner NUL: the
     * address checks of paxos_config_check() hold already. */
    if (r->err == 0 && paxos__config_check(c, 0) != 0)
        r->err = RC_EPROTO;
}

static int finish_write(wr_t *w)
{
    if (w->err != 0)
        return w->err;
    if (w->len > PAXOS_ENCODED_MAX)
        return -EINVAL;
    return (int)w->len;
}

static int finish_read(rd_t *r, void *out, size_t size)
{
    if (r->err == 0 && r->pos != r->len)
        r->err = RC_EPROTO; /* trailing bytes: not canonical */
    if (r->err != 0)
        memset(out, 0, size);
    return r->err;
}

int paxos_config_encode(const paxos_config_t *c, uint8_t *buf, size_t cap)
{
    wr_t w = {buf, cap, 0, 0};

    put_header(&w, 'C');
    put_config_body(&w, c);
    return finish_write(&w);
}

int paxos_config_decode(const uint8_t *buf, size_t len, paxos_config_t *out)
{
    rd_t r = {buf, len, 0, 0};

    memset(out, 0, sizeof(*out));
    get_header(&r, 'C');
    if (r.err == 0)
        get_config_body(&r, out);
    return finish_read(&r, out, sizeof(*out));
}

static void put_change(wr_t *w, const paxos_change_t *ch)
{
    if (paxos_change_check(ch) != 0) {
        w->err = -EINVAL;
        return;
    }
    put_uint(w, ch->kind, 1);
    put_uint(w, ch->id, 8);
    put_uint(w, ch->incarnation, 8);
    put_uint(w, ch->weight, 4);
    put_addr(w, ch->client_addr);
    put_addr(w, ch->bus_addr);
    put_uint(w, ch->transition, 8);
}

static void get_change(rd_t *r, paxos_change_t *ch)
{
    ch->kind = (uint8_t)get_uint(r, 1);
    ch->id = get_uint(r, 8);
    ch->incarnation = get_uint(r, 8);
    ch->weight = (uint32_t)get_uint(r, 4);
    get_addr(r, ch->client_addr);
    get_addr(r, ch->bus_addr);
    ch->transition = get_uint(r, 8);
    if (r->err == 0 && paxos_change_check(ch) != 0)
        r->err = RC_EPROTO;
}

/* Per type:  PREPARE, ACCEPTED, NACK: ballot
 *            PROMISE: ballot, accepted ballot, u8 has_value, [config]
 *            ACCEPT: ballot, config      CHOSEN, SNAPSHOT: config
 *            STATUS: nothing             REQUEST: change */
static void put_msg_body(wr_t *w, const paxos_msg_t *m)
{
    switch (m->type) {
    case PAXOS_MSG_PREPARE:
    case PAXOS_MSG_ACCEPTED:
    case PAXOS_MSG_NACK:
        put_ballot(w, m->ballot);
        break;
    case PAXOS_MSG_PROMISE:
        put_ballot(w, m->ballot);
        put_ballot(w, m->accepted_ballot);
        if ((m->has_value != 0) != (m->accepted_ballot.round != 0)) {
            w->err = -EINVAL;
            return;
        }
        put_uint(w, m->has_value ? 1 : 0, 1);
        if (m->has_value)
            put_config_body(w, &m->value);
        break;
    case PAXOS_MSG_ACCEPT:
        put_ballot(w, m->ballot);
        put_config_body(w, &m->value);
        break;
    case PAXOS_MSG_CHOSEN:
    case PAXOS_MSG_SNAPSHOT:
        put_config_body(w, &m->value);
        break;
    case PAXOS_MSG_STATUS:
        break;
    case PAXOS_MSG_REQUEST:
        put_change(w, &m->change);
        break;
    default:
        w->err = -EINVAL;
    }
}

static void get_msg_body(rd_t *r, paxos_msg_t *m)
{
    switch (m->type) {
    case PAXOS_MSG_PREPARE:
    case PAXOS_MSG_ACCEPTED:
    case PAXOS_MSG_NACK:
        m->ballot = get_ballot(r);
        break;
    case PAXOS_MSG_PROMISE:
        m->ballot = get_ballot(r);
        m->accepted_ballot = get_ballot(r);
        m->has_value = (uint8_t)get_uint(r, 1);
        if (m->has_value > 1 || (m->has_value != 0) != (m->accepted_ballot.round != 0)) {
            r->err = RC_EPROTO;
            return;
        }
        if (m->has_value)
            get_config_body(r, &m->value);
        break;
    case PAXOS_MSG_ACCEPT:
        m->ballot = get_ballot(r);
        m->has_value = 1;
        get_config_body(r, &m->value);
        break;
    case PAXOS_MSG_CHOSEN:
    case PAXOS_MSG_SNAPSHOT:
        m->has_value = 1;
        get_config_body(r, &m->value);
        break;
    case PAXOS_MSG_STATUS:
        break;
    case PAXOS_MSG_REQUEST:
        get_change(r, &m->change);
        break;
    default:
        r->err = RC_EPROTO;
    }
}

int paxos_msg_encode(const paxos_msg_t *m, uint8_t *buf, size_t cap)
{
    wr_t w = {buf, cap, 0, 0};

    put_header(&w, 'M');
    put_uint(&w, m->type, 1);
    put_uint(&w, m->epoch, 8);
    put_uint(&w, m->from, 8);
    put_uint(&w, m->to, 8);
    put_addr(&w, m->from_addr);
    put_msg_body(&w, m);
    return finish_write(&w);
}

int paxos_msg_decode(const uint8_t *buf, size_t len, paxos_msg_t *out)
{
    rd_t r = {buf, len, 0, 0};

    paxos__msg_clear(out); /* the members of the value are written as read */
    get_header(&r, 'M');
    out->type = (uint8_t)get_uint(&r, 1);
    out->epoch = get_uint(&r, 8);
    out->from = get_uint(&r, 8);
    out->to = get_uint(&r, 8);
    get_addr(&r, out->from_addr);
    if (r.err == 0)
        get_msg_body(&r, out);
    return finish_read(&r, out, sizeof(*out));
}

int paxos_state_encode(const paxos_state_t *s, uint8_t *buf, size_t cap)
{
    wr_t w = {buf, cap, 0, 0};

    put_header(&w, 'S');
    put_uint(&w, s->id, 8);
    put_uint(&w, s->incarnation, 8);
    put_uint(&w, s->max_round, 8);
    put_ballot(&w, s->promised);
    put_ballot(&w, s->accepted);
    if (s->accepted.round != 0)
        put_config_body(&w, &s->accepted_value);
    put_uint(&w, s->chosen.epoch != 0 ? 1 : 0, 1);
    if (s->chosen.epoch != 0)
        put_config_body(&w, &s->chosen);
    return finish_write(&w);
}

int paxos_state_decode(const uint8_t *buf, size_t len, paxos_state_t *out)
{
    rd_t r = {buf, len, 0, 0};
    uint64_t has_chosen;

    memset(out, 0, sizeof(*out));
    get_header(&r, 'S');
    out->id = get_uint(&r, 8);
    out->incarnation = get_uint(&r, 8);
    out->max_round = get_uint(&r, 8);
    out->promised = get_ballot(&r);
    out->accepted = get_ballot(&r);
    if (r.err == 0 && out->accepted.round != 0)
        get_config_body(&r, &out->accepted_value);
    has_chosen = get_uint(&r, 1);
    if (has_chosen > 1)
        r.err = RC_EPROTO;
    if (r.err == 0 && has_chosen)
        get_config_body(&r, &out->chosen);
    return finish_read(&r, out, sizeof(*out));
}

/* An address as get_addr() leaves it: the string, then zeroes. */
static void addr_wire_copy(char *dst, const char *src)
{
    size_t n = strnlen(src, PAXOS_ADDR_MAX - 1);

    memcpy(dst, src, n);
    memset(dst + n, 0, PAXOS_ADDR_MAX - n);
}

/* Mirrors get_config_body(): the fields it writes, nothing else. */
static void config_wire_copy(paxos_config_t *dst, const paxos_config_t *src)
{
    uint32_t i;

    dst->epoch = src->epoch;
    dst->next_id = src->next_id;
    dst->replicas = src->replicas;
    dst->nrecent = src->nrecent;
    for (i = 0; i < src->nrecent && i < PAXOS_MAX_RECENT; i++)
        dst->recent[i] = src->recent[i];
    dst->transition = src->transition;
    dst->nretired = src->nretired;
    for (i = 0; i < src->nretired && i < PAXOS_MAX_RETIRED; i++) {
        dst->retired[i].id = src->retired[i].id;
        dst->retired[i].incarnation = src->retired[i].incarnation;
        dst->retired[i].live_weight = src->retired[i].live_weight;
    }
    dst->nmembers = src->nmembers;
    for (i = 0; i < src->nmembers && i < PAXOS_MAX_MEMBERS; i++) {
        paxos_member_t *m = &dst->members[i];
        const paxos_member_t *f = &src->members[i];

        m->id = f->id;
        m->incarnation = f->incarnation;
        addr_wire_copy(m->client_addr, f->client_addr);
        addr_wire_copy(m->bus_addr, f->bus_addr);
        m->weight = f->weight;
        m->live_weight = f->live_weight;
        m->ready = f->ready;
        m->state = f->state;
    }
}

/* Mirrors paxos_msg_decode() and get_msg_body() field by field. */
void paxos_msg_wire_copy(paxos_msg_t *dst, const paxos_msg_t *src)
{
    paxos__msg_clear(dst);
    dst->type = src->type;
    dst->epoch = src->epoch;
    dst->from = src->from;
    dst->to = src->to;
    addr_wire_copy(dst->from_addr, src->from_addr);
    switch (src->type) {
    case PAXOS_MSG_PREPARE:
    case PAXOS_MSG_ACCEPTED:
    case PAXOS_MSG_NACK:
        dst->ballot = src->ballot;
        break;
    case PAXOS_MSG_PROMISE:
        dst->ballot = src->ballot;
        dst->accepted_ballot = src->accepted_ballot;
        dst->has_value = src->has_value ? 1 : 0;
        if (dst->has_value)
            config_wire_copy(&dst->value, &src->value);
        break;
    case PAXOS_MSG_ACCEPT:
        dst->ballot = src->ballot;
        dst->has_value = 1;
        config_wire_copy(&dst->value, &src->value);
        break;
    case PAXOS_MSG_CHOSEN:
    case PAXOS_MSG_SNAPSHOT:
        dst->has_value = 1;
        config_wire_copy(&dst->value, &src->value);
        break;
    case PAXOS_MSG_REQUEST:
        dst->change.kind = src->change.kind;
        dst->change.id = src->change.id;
        dst->change.incarnation = src->change.incarnation;
        dst->change.weight = src->change.weight;
        addr_wire_copy(dst->change.client_addr, src->change.client_addr);
        addr_wire_copy(dst->change.bus_addr, src->change.bus_addr);
        dst->change.transition = src->change.transition;
        break;
    default:
        break;
    }
}
