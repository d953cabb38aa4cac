/* tests/unit/node_data_observer_test.c: the change observers of node_db.h.
 * The core is table-driven: every command flagged NODE_CMD_WRITE in the
 * command tables must have a row here (the test fails otherwise), and each
 * row runs a real invocation through node_cmd_dispatch() on a bare server
 * and checks the exact set of changes the observer saw (kind and key, with
 * the key's slot). Rows named "cmd/variant" add the cases where a write
 * command deletes a key or changes nothing. Then expiry, eviction, flush,
 * drop, ordering and registration on the db directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "node/cmd/node_cmd.h"
#include "node/data/node_codec.h"
#include "node/data/node_db.h"
#include "node/net/node_conn.h"
#include "node/net/node_server.h"
#include "ring/ring.h"
#include "tests/unit/node_test_copy.h"

#define T0 1700000000000LL

/* ---------------------------------------------------------------- */
/* recording observer */

typedef struct rec_s {
    char text[4096]; /* "W:key D:key ..." in arrival order */
    size_t len;
    int count;
    int bad_slot;
} rec_t;

static void on_change(void *priv, node_db_t *db, const node_db_change_t *ch)
{
    static const char kinds[] = "?WDEVX";
    rec_t *r = priv;
    int n;

    (void)db;
    if (ch->slot != ring_keyslot(ch->key, ch->klen))
        r->bad_slot = 1;
    if (ch->kind == NODE_DB_CHANGE_WRITE && ch->obj == NULL)
        r->bad_slot = 1;
    n = snprintf(r->text + r->len, sizeof(r->text) - r->len, "%s%c:%.*s", r->len ? " " : "",
                 kinds[ch->kind], (int)ch->klen, ch->key);
    if (n > 0 && (size_t)n < sizeof(r->text) - r->len)
        r->len += (size_t)n;
    r->count++;
}

static void rec_clear(rec_t *r)
{
    r->len = 0;
    r->text[0] = '\0';
    r->count = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The recorded events sorted, so a row need not fix the order of keys. */
static void rec_sorted(const rec_t *r, char *out, size_t cap)
{
    char buf[4096], *words[256], *save = NULL;
    int n = 0;
    size_t used = 0;

    memcpy(buf, r->text, r->len + 1);
    for (char *w = strtok_r(buf, " ", &save); w != NULL && n < 256; w = strtok_r(NULL, " ", &save))
        words[n++] = w;
    qsort(words, (size_t)n, sizeof(words[0]), cmp_str);
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " " : "", words[i]);
}

/* ---------------------------------------------------------------- */
/* a bare server and one client, no sockets */

typedef struct harness_s {
    node_server_t server;
    node_conn_t conn;
    node_cmd_env_t env; /* no cluster: every key is local */
    rec_t rec;
} harness_t;

static int setup(void **state)
{
    harness_t *h = test_calloc(1, sizeof(*h));

    h->server.config.proto_max_bulk_len = 512LL * 1024 * 1024;
    h->server.config.maxmemory_samples = 5;
    h->server.now_ms = T0;
    h->server.db = node_db_create();
    h->env.server = &h->server;
    h->conn.client.server = &h->server;
    h->conn.client.db = h->server.db;
    h->conn.client.resp = 2;
    h->conn.client.conn = &h->conn;
    h->conn.authenticated = 1;
    assert_int_equal(node_db_observer_add(h->server.db, on_change, &h->rec), 0);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    harness_t *h = *state;

    node_db_destroy(h->server.db);
    rc_free(h->conn.obuf);
    test_free(h);
    return 0;
}

/* Runs the space-separated command 'line' as a client would. */
static void run(harness_t *h, const char *line)
{
    char buf[2048], *save = NULL;
    resp_arg_t argv[128];
    int argc = 0;

    snprintf(buf, sizeof(buf), "%s", line);
    for (char *w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
        assert_true(argc < 128);
        argv[argc].ptr = w;
        argv[argc].len = strlen(w);
        argc++;
    }
    h->conn.client.argc = argc;
    h->conn.client.argv = argv;
    h->conn.olen = 0;
    node_cmd_dispatch(&h->env, &h->conn.client);
    h->conn.client.argv = NULL;
}

/* The reply of the last command, NUL-terminated. */
static const char *reply(harness_t *h)
{
    char *p = node_conn_out_reserve(&h->conn, 1);

    *p = '\0';
    return h->conn.obuf;
}

/* ---------------------------------------------------------------- */
/* the table */

typedef struct row_s {
    const char *name;     /* the command covered ("cmd" or "cmd/variant") */
    const char *setup[4]; /* run first, changes not checked */
    int64_t advance_ms;   /* clock moved between setup and 'cmd' */
    const char *cmd;
    const char *want; /* sorted "K:key" words; K: W write, D delete, E expire */
} row_t;

#define FAR "4102444800" /* 2100-01-01 in seconds */

static const row_t rows[] = {
    /* strings */
    {"set", {NULL}, 0, "SET k v", "W:k"},
    {"set/nx-exists", {"SET k v"}, 0, "SET k w NX", ""},
    {"set/replaces-other-type", {"RPUSH k a"}, 0, "SET k v", "W:k"},
    {"setnx", {NULL}, 0, "SETNX k v", "W:k"},
    {"setnx/exists", {"SET k v"}, 0, "SETNX k w", ""},
    {"setex", {NULL}, 0, "SETEX k 100 v", "W:k"},
    {"psetex", {NULL}, 0, "PSETEX k 100000 v", "W:k"},
    {"getset", {"SET k a"}, 0, "GETSET k b", "W:k"},
    {"getdel", {"SET k a"}, 0, "GETDEL k", "D:k"},
    {"getdel/missing", {NULL}, 0, "GETDEL k", ""},
    {"getex", {"SET k a"}, 0, "GETEX k EX 100", "W:k"},
    {"getex/plain-read", {"SET k a"}, 0, "GETEX k", ""},
    {"getex/past", {"SET k a"}, 0, "GETEX k PXAT 1", "D:k"},
    {"mset", {NULL}, 0, "MSET a 1 b 2 a 3", "W:a W:b"},
    {"msetnx", {NULL}, 0, "MSETNX a 1 b 2", "W:a W:b"},
    {"msetnx/one-exists", {"SET b x"}, 0, "MSETNX a 1 b 2", ""},
    {"incr", {"SET n 5"}, 0, "INCR n", "W:n"},
    {"incr/new", {NULL}, 0, "INCR n", "W:n"},
    {"incr/wrongtype", {"HSET n f v"}, 0, "INCR n", ""},
    {"decr", {"SET n 5"}, 0, "DECR n", "W:n"},
    {"incrby", {"SET n 5"}, 0, "INCRBY n 7", "W:n"},
    {"decrby", {"SET n 5"}, 0, "DECRBY n 7", "W:n"},
    {"incrbyfloat", {"SET n 5"}, 0, "INCRBYFLOAT n 1.5", "W:n"},
    {"append", {"SET k a"}, 0, "APPEND k bc", "W:k"},
    {"append/new", {NULL}, 0, "APPEND k bc", "W:k"},
    {"setrange", {"SET k hello"}, 0, "SETRANGE k 1 a", "W:k"},
    {"setrange/empty-noop", {"SET k hello"}, 0, "SETRANGE k 1 ", ""},
    /* generic */
    {"del", {"SET a 1", "SET b 2"}, 0, "DEL a b c", "D:a D:b"},
    {"unlink", {"SET a 1", "RPUSH b x"}, 0, "UNLINK a b c", "D:a D:b"},
    {"expire", {"SET k v"}, 0, "EXPIRE k 100", "W:k"},
    {"expire/past", {"SET k v"}, 0, "EXPIRE k -1", "D:k"},
    {"expire/nx-fails", {"SET k v EX 100"}, 0, "EXPIRE k 5 NX", ""},
    {"pexpire", {"SET k v"}, 0, "PEXPIRE k 100000", "W:k"},
    {"expireat", {"SET k v"}, 0, "EXPIREAT k " FAR, "W:k"},
    {"pexpireat", {"SET k v"}, 0, "PEXPIREAT k " FAR "000", "W:k"},
    {"persist", {"SET k v EX 100"}, 0, "PERSIST k", "W:k"},
    {"persist/no-ttl", {"SET k v"}, 0, "PERSIST k", ""},
    /* hashes */
    {"hset", {NULL}, 0, "HSET h f v g w", "W:h"},
    {"hset/existing", {"HSET h f v"}, 0, "HSET h f w", "W:h"},
    {"hsetnx", {NULL}, 0, "HSETNX h f v", "W:h"},
    {"hsetnx/exists", {"HSET h f v"}, 0, "HSETNX h f w", ""},
    {"hmset", {"HSET h a b"}, 0, "HMSET h f v", "W:h"},
    {"hdel", {"HSET h f v g w"}, 0, "HDEL h f", "W:h"},
    {"hdel/missing-field", {"HSET h f v"}, 0, "HDEL h nope", ""},
    {"hdel/empties", {"HSET h f v"}, 0, "HDEL h f", "D:h"},
    {"hincrby", {"HSET h f 1"}, 0, "HINCRBY h f 2", "W:h"},
    {"hincrby/not-integer", {"HSET h f x"}, 0, "HINCRBY h f 2", ""},
    {"hincrbyfloat", {"HSET h f 1"}, 0, "HINCRBYFLOAT h f 2.5", "W:h"},
    /* lists */
    {"lpush", {NULL}, 0, "LPUSH l a b", "W:l"},
    {"rpush", {"RPUSH l a"}, 0, "RPUSH l b", "W:l"},
    {"lpushx", {"RPUSH l a"}, 0, "LPUSHX l b", "W:l"},
    {"lpushx/missing", {NULL}, 0, "LPUSHX l b", ""},
    {"rpushx", {"RPUSH l a"}, 0, "RPUSHX l b", "W:l"},
    {"lpop", {"RPUSH l a b"}, 0, "LPOP l", "W:l"},
    {"lpop/empties", {"RPUSH l a"}, 0, "LPOP l", "D:l"},
    {"rpop", {"RPUSH l a b"}, 0, "RPOP l 1", "W:l"},
    {"rpop/count-zero", {"RPUSH l a b"}, 0, "RPOP l 0", ""},
    {"lset", {"RPUSH l a"}, 0, "LSET l 0 b", "W:l"},
    {"lrem", {"RPUSH l a b a"}, 0, "LREM l 0 a", "W:l"},
    {"lrem/none", {"RPUSH l a b"}, 0, "LREM l 0 z", ""},
    {"ltrim", {"RPUSH l a b c"}, 0, "LTRIM l 0 0", "W:l"},
    {"ltrim/keeps-all", {"RPUSH l a b c"}, 0, "LTRIM l 0 -1", ""},
    {"ltrim/empties", {"RPUSH l a b c"}, 0, "LTRIM l 5 9", "D:l"},
    /* sets */
    {"sadd", {NULL}, 0, "SADD s a b", "W:s"},
    {"sadd/present", {"SADD s a"}, 0, "SADD s a", ""},
    {"srem", {"SADD s a b"}, 0, "SREM s a", "W:s"},
    {"srem/empties", {"SADD s a"}, 0, "SREM s a", "D:s"},
    {"spop", {"SADD s a b"}, 0, "SPOP s", "W:s"},
    {"spop/all", {"SADD s a b"}, 0, "SPOP s 5", "D:s"},
    /* sorted sets */
    {"zadd", {NULL}, 0, "ZADD z 1 a 2 b", "W:z"},
    {"zadd/same-score", {"ZADD z 1 a"}, 0, "ZADD z 1 a", ""},
    {"zadd/xx-missing", {NULL}, 0, "ZADD z XX 1 a", ""},
    {"zincrby", {"ZADD z 1 a"}, 0, "ZINCRBY z 2 a", "W:z"},
    {"zpopmin", {"ZADD z 1 a 2 b"}, 0, "ZPOPMIN z", "W:z"},
    {"zpopmax", {"ZADD z 1 a 2 b"}, 0, "ZPOPMAX z 5", "D:z"},
    {"zrem", {"ZADD z 1 a 2 b"}, 0, "ZREM z a", "W:z"},
    {"zrem/empties", {"ZADD z 1 a"}, 0, "ZREM z a", "D:z"},
    /* streams */
    {"xadd", {NULL}, 0, "XADD x * f v", "W:x"},
    {"xadd/nomkstream", {NULL}, 0, "XADD x NOMKSTREAM * f v", ""},
    {"xdel", {"XADD x 1-1 f v", "XADD x 2-1 f v"}, 0, "XDEL x 1-1", "W:x"},
    {"xdel/missing-id", {"XADD x 1-1 f v"}, 0, "XDEL x 9-9", ""},
    {"xtrim", {"XADD x 1-1 f v", "XADD x 2-1 f v"}, 0, "XTRIM x MAXLEN 1", "W:x"},
    {"xtrim/noop", {"XADD x 1-1 f v"}, 0, "XTRIM x MAXLEN 10", ""},
    /* server */
    {"flushall", {"SET a 1", "HSET b f v"}, 0, "FLUSHALL", "D:a D:b"},
    {"flushdb", {"SET a 1", "SADD b x"}, 0, "FLUSHDB", "D:a D:b"},
    /* lazy expiry seen by a write command: the expiry, then the new value */
    {"set/over-expired", {"SET k v PX 10"}, 100, "SET k w", "E:k W:k"},
    {"lpush/over-expired", {"RPUSH l a", "PEXPIRE l 10"}, 100, "LPUSH l b", "E:l W:l"},
};

static const row_t *find_row(const char *name)
{
    for (size_t i = 0; i < RC_ARRAY_SIZE(rows); i++) {
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    }
    return NULL;
}

static void run_row(harness_t *h, const row_t *row)
{
    char got[4096];

    run(h, "FLUSHALL");
    h->server.now_ms = T0;
    for (int i = 0; i < 4 && row->setup[i] != NULL; i++) {
        run(h, row->setup[i]);
        if (reply(h)[0] == '-')
            fail_msg("%s: setup '%s' failed: %s", row->name, row->setup[i], reply(h));
    }
    h->server.now_ms += row->advance_ms;
    rec_clear(&h->rec);
    run(h, row->cmd);
    rec_sorted(&h->rec, got, sizeof(got));
    if (strcmp(got, row->want) != 0)
        fail_msg("%s: '%s' reported '%s', want '%s' (reply %s)", row->name, row->cmd, got,
                 row->want, reply(h));
    assert_false(h->rec.bad_slot);
}

static void test_every_write_command_reports_its_changes(void **state)
{
    harness_t *h = *state;
    const node_cmd_t *cmd;
    size_t iter = 0, covered = 0;

    while ((cmd = node_cmd_next(&iter)) != NULL) {
        const row_t *row;

        if (!(cmd->flags & NODE_CMD_WRITE))
            continue;
        row = find_row(cmd->name);
        if (row == NULL)
            fail_msg("write command '%s' has no row in this test's table", cmd->name);
        covered++;
    }
    assert_true(covered >= 50);
    for (size_t i = 0; i < RC_ARRAY_SIZE(rows); i++)
        run_row(h, &rows[i]);
}

/* ---------------------------------------------------------------- */
/* a replica kept as node/migrate keeps one: every change of the primary's
 * db applied in order to a second db, a WRITE as its command when it
 * carries one (node_db_replayable()), else as the value serialized */

enum {
    SHIP_MAX = 8, /* changes one row's command makes */
    ARG_MAX = 16, /* arguments of a command in the table */
    ARG_LEN = 64, /* bytes of each */
};

typedef struct shipped_s {
    node_db_change_kind_t kind;
    char key[ARG_LEN];
    size_t klen;
    int argc;
    char argv[ARG_MAX][ARG_LEN];
    size_t alen[ARG_MAX];
    rc_buf_t value; /* a WRITE without arguments: the value serialized */
} shipped_t;

typedef struct ship_s {
    int n;
    shipped_t ch[SHIP_MAX];
} ship_t;

static void on_ship(void *priv, node_db_t *db, const node_db_change_t *ch)
{
    ship_t *sh = priv;
    shipped_t *c;

    (void)db;
    assert_true(sh->n < SHIP_MAX && ch->klen < ARG_LEN && ch->argc <= ARG_MAX);
    c = &sh->ch[sh->n++];
    c->kind = ch->kind;
    memcpy(c->key, ch->key, ch->klen);
    c->klen = ch->klen;
    c->argc = ch->argc;
    assert_true(ch->argc == 0 || ch->kind == NODE_DB_CHANGE_WRITE);
    for (int i = 0; i < ch->argc; i++) {
        assert_true(ch->argv[i].len < ARG_LEN);
        memcpy(c->argv[i], ch->argv[i].ptr, ch->argv[i].len);
        c->alen[i] = ch->argv[i].len;
    }
    rc_buf_init(&c->value);
    if (ch->kind == NODE_DB_CHANGE_WRITE && ch->argc == 0)
        node_obj_serialize(ch->obj, &c->value);
}

static void copy_into(void *priv, node_obj_t *o)
{
    node_db_t *to = priv;
    node_obj_t *copy = NULL;
    size_t klen;
    const char *key = node_obj_key(o, &klen);
    rc_buf_t b;

    rc_buf_init(&b);
    node_obj_serialize(o, &b);
    assert_int_equal(node_obj_deserialize(key, klen, b.data, b.len, &copy), 0);
    node_db_insert(to, copy);
    rc_buf_free(&b);
}

typedef struct same_s {
    node_db_t *other;
    const char *row;
} same_t;

/* 'o' of the primary's db has an equal copy in the replica's. */
static void same_in(void *priv, node_obj_t *o)
{
    same_t *sm = priv;
    size_t klen;
    const char *key = node_obj_key(o, &klen);
    node_obj_t *c = node_db_lookup(sm->other, key, klen, NODE_LOOKUP_NOTOUCH);

    if (c == NULL)
        fail_msg("%s: the replica lacks '%.*s'", sm->row, (int)klen, key);
    node_test_assert_same_value(o, c, sm->row);
}

static int decides_none(void *arg, unsigned slot)
{
    (void)arg;
    (void)slot;
    return 0;
}

/* Every row of the table run on a primary whose changes a replica applies:
 * a WRITE of a command flagged NODE_CMD_REPLAY carries exactly its
 * arguments and, replayed on the replica's copy, leaves the same value as
 * on the primary; every other WRITE carries none (and goes as the value).
 * The property a replica relies on to replay instead of copying. */
static void test_replayed_writes_leave_equal_copies(void **state)
{
    harness_t *h = *state, *r;
    ship_t sh;
    void *p;
    int replayed = 0;

    assert_int_equal(setup(&p), 0); /* while the primary's db is empty */
    r = p;
    node_db_set_slot_filter(r->server.db, decides_none, NULL);
    memset(&sh, 0, sizeof(sh));
    assert_int_equal(node_db_observer_add(h->server.db, on_ship, &sh), 0);
    for (size_t i = 0; i < RC_ARRAY_SIZE(rows); i++) {
        const row_t *row = &rows[i];
        const node_cmd_t *cmd;
        char word[ARG_LEN];
        same_t sm = {r->server.db, row->name};

        if (strcmp(row->cmd, "FLUSHALL") == 0 || strcmp(row->cmd, "FLUSHDB") == 0)
            continue; /* every key: DELETEs, no command */
        run(h, "FLUSHALL");
        h->server.now_ms = T0;
        for (int j = 0; j < 4 && row->setup[j] != NULL; j++)
            run(h, row->setup[j]);
        h->server.now_ms += row->advance_ms;
        node_db_flush(r->server.db);
        node_db_foreach(h->server.db, copy_into, r->server.db);
        /* The replica's clock is ahead, and it never expires a key on it
         * (its primary's deletes do): a replay must not read the clock. */
        r->server.now_ms = h->server.now_ms + 1000;
        for (int j = 0; j < sh.n; j++)
            rc_buf_free(&sh.ch[j].value);
        sh.n = 0;
        run(h, row->cmd);
        sscanf(row->cmd, "%63s", word);
        cmd = node_cmd_lookup(word, strlen(word));
        assert_non_null(cmd);
        for (int j = 0; j < sh.n; j++) {
            shipped_t *c = &sh.ch[j];

            if (c->kind != NODE_DB_CHANGE_WRITE) {
                (void)node_db_delete(r->server.db, c->key, c->klen);
            } else if (c->argc > 0) {
                resp_arg_t argv[ARG_MAX];

                if (!(cmd->flags & NODE_CMD_REPLAY))
                    fail_msg("%s: a write of %s carried its arguments", row->name, word);
                for (int k = 0; k < c->argc; k++) {
                    argv[k].ptr = c->argv[k];
                    argv[k].len = c->alen[k];
                    c->argv[k][c->alen[k]] = '\0';
                }
                r->conn.client.argc = c->argc;
                r->conn.client.argv = argv;
                r->conn.olen = 0;
                node_cmd_dispatch(&r->env, &r->conn.client);
                r->conn.client.argv = NULL;
                if (reply(r)[0] == '-')
                    fail_msg("%s: the replay failed: %s", row->name, reply(r));
                replayed++;
            } else {
                node_obj_t *o = NULL;

                if (cmd->flags & NODE_CMD_REPLAY)
                    fail_msg("%s: a write of %s carried no arguments", row->name, word);
                assert_int_equal(
                    node_obj_deserialize(c->key, c->klen, c->value.data, c->value.len, &o), 0);
                node_db_insert(r->server.db, o);
            }
        }
        assert_int_equal(node_db_size(r->server.db), node_db_size(h->server.db));
        node_db_foreach(h->server.db, same_in, &sm);
    }
    for (int j = 0; j < sh.n; j++)
        rc_buf_free(&sh.ch[j].value);
    assert_int_equal(node_db_observer_remove(h->server.db, on_ship, &sh), 0);
    assert_true(replayed >= 25);
    teardown(&p);
}

/* Read commands never report anything, even with keys around. */
static void test_read_commands_report_nothing(void **state)
{
    harness_t *h = *state;
    static const char *const reads[] = {
        "GET k",      "MGET k h",      "STRLEN k",     "GETRANGE k 0 1", "EXISTS k h",
        "TYPE h",     "TTL k",         "HGETALL h",    "HGET h f",       "LRANGE l 0 -1",
        "SMEMBERS s", "ZRANGE z 0 -1", "XRANGE x - +", "KEYS *",         "SCAN 0",
        "RANDOMKEY",  "DBSIZE",        "TOUCH k",      "SRANDMEMBER s",  "ZSCORE z a",
    };

    run(h, "SET k v");
    run(h, "HSET h f v");
    run(h, "RPUSH l a");
    run(h, "SADD s a");
    run(h, "ZADD z 1 a");
    run(h, "XADD x * f v");
    rec_clear(&h->rec);
    for (size_t i = 0; i < RC_ARRAY_SIZE(reads); i++) {
        run(h, reads[i]);
        assert_int_equal(h->rec.count, 0);
    }
}

static void test_lazy_and_active_expiry_are_reported(void **state)
{
    harness_t *h = *state;

    run(h, "SET a v PX 10");
    run(h, "SET b v PX 10");
    h->server.now_ms += 100;
    rec_clear(&h->rec);
    run(h, "GET a"); /* lazy */
    assert_string_equal(h->rec.text, "E:a");
    rec_clear(&h->rec);
    node_db_set_now(h->server.db, h->server.now_ms);
    node_db_cron(h->server.db, 1000); /* active */
    assert_string_equal(h->rec.text, "E:b");
}

static void test_eviction_is_reported(void **state)
{
    harness_t *h = *state;

    for (int i = 0; i < 20; i++) {
        char line[64];
        snprintf(line, sizeof(line), "SET key:%d 0123456789abcdef0123456789abcdef", i);
        run(h, line);
    }
    rec_clear(&h->rec);
    assert_int_equal(node_db_evict(h->server.db, rc_used_memory() - 200, NODE_MM_ALLKEYS_RANDOM, 5),
                     0);
    assert_true(h->rec.count >= 1);
    assert_int_equal(strncmp(h->rec.text, "V:key:", 6), 0);
}

static void test_slot_drop_is_reported_as_drop(void **state)
{
    harness_t *h = *state;

    run(h, "SET {t}a 1");
    run(h, "SET {t}b 2");
    rec_clear(&h->rec);
    assert_int_equal(node_db_slot_drop(h->server.db, ring_keyslot("t", 1), 100), 0);
    {
        char got[256];
        rec_sorted(&h->rec, got, sizeof(got));
        assert_string_equal(got, "X:{t}a X:{t}b");
    }
}

/* A write is reported after the command: the observer sees the final value. */
static void observe_value(void *priv, node_db_t *db, const node_db_change_t *ch)
{
    long long *v = priv;

    (void)db;
    if (ch->kind == NODE_DB_CHANGE_WRITE)
        assert_int_equal(node_obj_get_ll(ch->obj, v), 0);
}

static void test_write_is_reported_with_the_final_value(void **state)
{
    harness_t *h = *state;
    long long v = 0;

    assert_int_equal(node_db_observer_add(h->server.db, observe_value, &v), 0);
    run(h, "SET n 5");
    assert_int_equal(v, 5);
    run(h, "INCRBY n 10");
    assert_int_equal(v, 15);
    assert_int_equal(node_db_observer_remove(h->server.db, observe_value, &v), 0);
}

static void test_registration_rules(void **state)
{
    harness_t *h = *state;
    int dummy[NODE_DB_OBSERVERS_MAX];

    assert_int_equal(node_db_observer_add(h->server.db, on_change, &h->rec), -EEXIST);
    for (int i = 0; i < NODE_DB_OBSERVERS_MAX - 1; i++)
        assert_int_equal(node_db_observer_add(h->server.db, observe_value, &dummy[i]), 0);
    assert_int_equal(
        node_db_observer_add(h->server.db, observe_value, &dummy[NODE_DB_OBSERVERS_MAX - 1]),
        -ENOSPC);
    for (int i = 0; i < NODE_DB_OBSERVERS_MAX - 1; i++)
        assert_int_equal(node_db_observer_remove(h->server.db, observe_value, &dummy[i]), 0);
    assert_int_equal(node_db_observer_remove(h->server.db, observe_value, &dummy[0]), -ENOENT);
    assert_int_equal(node_db_observer_remove(h->server.db, on_change, &h->rec), 0);
    rec_clear(&h->rec);
    run(h, "SET k v");
    assert_int_equal(h->rec.count, 0);
}

static void test_many_keys_in_one_command_are_reported_once_each(void **state)
{
    harness_t *h = *state;
    char line[512];
    size_t used = (size_t)snprintf(line, sizeof(line), "MSET");

    for (int i = 0; i < 40; i++) /* past the linear dedupe: every key twice */
        used += (size_t)snprintf(line + used, sizeof(line) - used, " k%d v", i % 20);
    rec_clear(&h->rec);
    run(h, line);
    assert_int_equal(h->rec.count, 20);
}

/* Removals are reported as they happen, writes once the command is done:
 * a key that expired and was written again shows both, in that order. */
static void test_removal_comes_before_the_write_of_the_same_command(void **state)
{
    harness_t *h = *state;

    run(h, "SET a 0 PX 10");
    h->server.now_ms += 100;
    rec_clear(&h->rec);
    run(h, "MSET b 1 a 1");
    assert_string_equal(h->rec.text, "E:a W:b W:a");
}

/* node_db_insert(), the path replication and hand-off restore through,
 * reports a write like any command. */
static void test_insert_of_a_detached_object_is_a_write(void **state)
{
    harness_t *h = *state;
    rc_buf_t b = {0};
    node_obj_t *o;

    run(h, "HSET src f v");
    node_obj_serialize(node_db_lookup(h->server.db, "src", 3, NODE_LOOKUP_NOTOUCH), &b);
    assert_int_equal(node_obj_deserialize("dst", 3, (const unsigned char *)b.data, b.len, &o), 0);
    rec_clear(&h->rec);
    node_db_insert(h->server.db, o);
    assert_int_equal(h->rec.count, 0); /* not before the end of the "command" */
    node_db_end_command(h->server.db);
    assert_string_equal(h->rec.text, "W:dst");
    rc_buf_free(&b);
}

static void count_obj(void *priv, node_obj_t *o)
{
    (void)priv;
    (void)o;
}

/* A copy arriving over a key of the same shape (a replica's usual case)
 * takes the old object's place: the value, TTL and type are the new ones,
 * the key stays once in its slot and in the TTL index, and it still
 * expires on time. */
static void test_insert_over_a_key_of_the_same_shape(void **state)
{
    harness_t *h = *state;
    unsigned slot = ring_keyslot("k", 1);
    rc_buf_t b = {0};
    node_obj_t *o;
    char got[64];
    node_db_slot_iter_t *it;
    int seen = 0;

    run(h, "SET k aaaa PX 100000");
    run(h, "SET src bbbb PX 5000");
    node_obj_serialize(node_db_lookup(h->server.db, "src", 3, NODE_LOOKUP_NOTOUCH), &b);
    assert_int_equal(node_obj_deserialize("k", 1, (const unsigned char *)b.data, b.len, &o), 0);
    rec_clear(&h->rec);
    node_db_insert(h->server.db, o);
    node_db_end_command(h->server.db);
    assert_string_equal(h->rec.text, "W:k");
    run(h, "GET k");
    assert_string_equal(reply(h), "$4\r\nbbbb\r\n");
    run(h, "PTTL k");
    assert_string_equal(reply(h), ":5000\r\n");
    assert_int_equal(node_db_expires(h->server.db), 2);
    assert_int_equal(node_db_slot_count(h->server.db, slot), 1);
    it = node_db_slot_iter_create(h->server.db, slot);
    while (!node_db_slot_iter_done(it))
        seen += (int)node_db_slot_iter_next(it, 64, count_obj, NULL);
    node_db_slot_iter_destroy(it);
    assert_int_equal(seen, 1);
    /* An integer over a hash: the same size of value part, another type. */
    run(h, "HSET h f v");
    rc_buf_reset(&b);
    run(h, "SET n 12345");
    node_obj_serialize(node_db_lookup(h->server.db, "n", 1, NODE_LOOKUP_NOTOUCH), &b);
    assert_int_equal(node_obj_deserialize("h", 1, (const unsigned char *)b.data, b.len, &o), 0);
    node_db_insert(h->server.db, o);
    node_db_end_command(h->server.db);
    run(h, "TYPE h");
    assert_string_equal(reply(h), "+string\r\n");
    run(h, "GET h");
    snprintf(got, sizeof(got), "%s", reply(h));
    assert_string_equal(got, "$5\r\n12345\r\n");
    /* Past its new TTL the key goes by active expiry: its index entry is right. */
    h->server.now_ms += 6000;
    node_db_set_now(h->server.db, h->server.now_ms);
    node_db_cron(h->server.db, 100000);
    assert_int_equal(node_db_slot_count(h->server.db, slot), 0);
    assert_int_equal(node_db_expires(h->server.db), 0); /* src went too */
    rc_buf_free(&b);
}

static int refuse_slot_of_a(void *arg, unsigned slot)
{
    (void)arg;
    return slot != ring_keyslot("a", 1);
}

/* The change filter: no WRITE for a slot it refuses; removals still go. */
static void test_change_filter_skips_writes_of_refused_slots(void **state)
{
    harness_t *h = *state;

    node_db_set_change_filter(h->server.db, refuse_slot_of_a, NULL);
    rec_clear(&h->rec);
    run(h, "MSET a 1 b 2");
    assert_string_equal(h->rec.text, "W:b");
    rec_clear(&h->rec);
    run(h, "DEL a b");
    assert_string_equal(h->rec.text, "D:a D:b");
    node_db_set_change_filter(h->server.db, NULL, NULL);
    rec_clear(&h->rec);
    run(h, "SET a 1");
    assert_string_equal(h->rec.text, "W:a");
}

static void observe_str(void *priv, node_db_t *db, const node_db_change_t *ch)
{
    char *out = priv, tmp[NODE_OBJ_INTBUF];
    size_t len;
    const char *v;

    (void)db;
    if (ch->kind != NODE_DB_CHANGE_WRITE)
        return;
    v = node_obj_str(ch->obj, tmp, &len);
    snprintf(out + strlen(out), 256 - strlen(out), "%.*s:%.*s ", (int)ch->klen, ch->key, (int)len,
             v);
}

/* The end of a command reports each key's object as it is then, also when
 * objects were replaced or removed after the key was written (the object
 * it remembered may be gone). */
static void test_write_reports_the_object_left_after_replacements(void **state)
{
    harness_t *h = *state;
    char seen[256] = "";

    assert_int_equal(node_db_observer_add(h->server.db, observe_str, seen), 0);
    run(h, "SET gone 1 PX 10");
    h->server.now_ms += 100;
    node_db_set_now(h->server.db, h->server.now_ms);
    seen[0] = '\0';
    run(h, "MSET a 1 b x a hello-world gone 2 b yy");
    assert_string_equal(seen, "a:hello-world b:yy gone:2 ");
    seen[0] = '\0';
    run(h, "APPEND a 0123456789012345678901234567890123456789012345678901234567890123456789");
    assert_string_equal(
        seen,
        "a:hello-world0123456789012345678901234567890123456789012345678901234567890123456789 ");
    assert_int_equal(node_db_observer_remove(h->server.db, observe_str, seen), 0);
}

#define OBS_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        OBS_TEST(test_every_write_command_reports_its_changes),
        OBS_TEST(test_replayed_writes_leave_equal_copies),
        OBS_TEST(test_read_commands_report_nothing),
        OBS_TEST(test_lazy_and_active_expiry_are_reported),
        OBS_TEST(test_eviction_is_reported),
        OBS_TEST(test_slot_drop_is_reported_as_drop),
        OBS_TEST(test_write_is_reported_with_the_final_value),
        OBS_TEST(test_registration_rules),
        OBS_TEST(test_many_keys_in_one_command_are_reported_once_each),
        OBS_TEST(test_removal_comes_before_the_write_of_the_same_command),
        OBS_TEST(test_insert_of_a_detached_object_is_a_write),
        OBS_TEST(test_insert_over_a_key_of_the_same_shape),
        OBS_TEST(test_change_filter_skips_writes_of_refused_slots),
        OBS_TEST(test_write_reports_the_object_left_after_replacements),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
