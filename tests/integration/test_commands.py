#!/usr/bin/python3
"""Every command of issue 2 through redis-py (RESP2), with Redis's semantics,
reply types and error texts. Each test gets a fresh server.

Run: RINGCACHED=build/node/ringcached python3 test_commands.py [--target redis] [-k name]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rctest  # noqa: E402
from rctest import is_redis, parse_reply, test, wait_for  # noqa: E402
import redis  # noqa: E402

ResponseError = redis.exceptions.ResponseError


def expect_error(fn, prefix):
    try:
        r = fn()
    except ResponseError as e:
        msg = str(e)
        if prefix.startswith("ERR") and not msg.startswith("ERR"):
            msg = "ERR " + msg  # redis-py strips the ERR code
        assert msg.startswith(prefix), "error %r does not start with %r" % (msg, prefix)
        return msg
    raise AssertionError("expected error %r, got %r" % (prefix, r))


def raw_call(srv, *args):
    c = srv.raw()
    try:
        return c.call(*args)
    finally:
        c.close()


# Every command issue 2 asks for.
ISSUE2_COMMANDS = """ping echo quit hello auth select reset command client config info dbsize flushall flushdb
time shutdown del unlink exists touch type expire pexpire expireat pexpireat ttl pttl persist randomkey scan
keys get set setnx setex psetex getset getdel getex mget mset msetnx incr incrby decr decrby incrbyfloat append
strlen getrange setrange hset hsetnx hget hmget hmset hdel hgetall hexists hincrby hincrbyfloat hlen hkeys hvals
hstrlen""".split()

# ---------------------------------------------------------------- connection


@test
def test_ping_echo(t):
    srv = t.server()
    r = srv.client()
    assert r.ping() is True
    assert raw_call(srv, "PING", "hello") == b"$5\r\nhello\r\n"
    assert r.echo(b"x\x00y\r\nz") == b"x\x00y\r\nz"
    assert raw_call(srv, "PING") == b"+PONG\r\n"
    assert raw_call(srv, "PING", "a") == b"$1\r\na\r\n"
    assert raw_call(srv, "ECHO", "") == b"$0\r\n\r\n"
    assert raw_call(srv, "ping", "a", "b") == b"-ERR wrong number of arguments for 'ping' command\r\n"
    assert raw_call(srv, "ECHO") == b"-ERR wrong number of arguments for 'echo' command\r\n"


@test
def test_quit_closes_after_ok(t):
    srv = t.server()
    c = srv.raw()
    c.send(rctest.encode_command("QUIT") + rctest.encode_command("PING"))
    assert c.read_until_closed() == b"+OK\r\n"
    assert srv.ping_fresh()


@test
def test_hello_2_and_3(t):
    srv = t.server()
    c = srv.raw()
    r = parse_reply(c.call("HELLO", "2"))
    assert isinstance(r, list) and len(r) % 2 == 0, r
    d = dict(zip(r[0::2], r[1::2]))
    assert d[b"proto"] == 2 and isinstance(d[b"id"], int) and d[b"id"] > 0, d
    assert b"server" in d and b"version" in d and d[b"mode"] == b"standalone" and d[b"role"] == b"master", d
    # protover 3: either a RESP3 map or -NOPROTO (issue 2 allows both)
    raw = c.call("HELLO", "3")
    if raw.startswith(b"-"):
        assert raw.startswith(b"-NOPROTO"), raw
        assert c.call("PING") == b"+PONG\r\n"
    else:
        assert raw.startswith(b"%"), raw
        d = parse_reply(raw)
        assert d[b"proto"] == 3, d
        assert c.call("HGETALL", "nokey") == b"%0\r\n"
        assert c.call("GET", "nokey") == b"_\r\n"
        assert c.call("HELLO", "2").startswith(b"*")
        assert c.call("GET", "nokey") == b"$-1\r\n"
    assert c.call("HELLO", "4").startswith(b"-NOPROTO"), "HELLO 4 must be -NOPROTO"
    assert c.call("HELLO", "x") == b"-ERR Protocol version is not an integer or out of range\r\n"
    # HELLO with no version: current protocol info
    assert parse_reply(c.call("HELLO"))[0:1] == [b"server"]
    # HELLO 2 SETNAME
    c.call("HELLO", "2", "SETNAME", "myname")
    assert c.call("CLIENT", "GETNAME") == b"$6\r\nmyname\r\n"


@test
def test_auth_without_password(t):
    srv = t.server()
    r = srv.client()
    expect_error(lambda: r.execute_command("AUTH", "x"),
                 "AUTH <password> called without any password configured for the default user")


@test
def test_requirepass_noauth_auth_reset(t):
    srv = t.server(["--requirepass", "s3cret"])
    c = srv.raw()
    assert c.call("GET", "k") == b"-NOAUTH Authentication required.\r\n"
    assert c.call("SET", "k", "v") == b"-NOAUTH Authentication required.\r\n"
    assert c.call("AUTH", "wrong") == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert c.call("AUTH", "default", "wrong") == \
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert c.call("AUTH", "s3cret") == b"+OK\r\n"
    assert c.call("SET", "k", "v") == b"+OK\r\n"
    assert c.call("RESET") == b"+RESET\r\n"
    assert c.call("GET", "k") == b"-NOAUTH Authentication required.\r\n"
    assert c.call("AUTH", "default", "s3cret") == b"+OK\r\n"
    assert c.call("GET", "k") == b"$1\r\nv\r\n"
    # HELLO with AUTH
    c2 = srv.raw()
    r = c2.call("HELLO", "2", "AUTH", "default", "wrong")
    assert r.startswith(b"-WRONGPASS"), r
    r = parse_reply(c2.call("HELLO", "2", "AUTH", "default", "s3cret"))
    assert isinstance(r, list), r
    assert c2.call("GET", "k") == b"$1\r\nv\r\n"
    # redis-py with a password
    assert srv.client(password="s3cret").get("k") == b"v"
    # redis-cli -a
    assert srv.cli("GET", "k", extra=["--no-auth-warning", "-a", "s3cret"]) == "v"
    assert "NOAUTH" in srv.cli("GET", "k")


@test
def test_select(t):
    srv = t.server()
    r = srv.client()
    assert raw_call(srv, "SELECT", "0") == b"+OK\r\n"
    if not is_redis():  # db 0 only
        expect_error(lambda: r.execute_command("SELECT", "1"), "ERR")
    expect_error(lambda: r.execute_command("SELECT", "abc"), "ERR value is not an integer or out of range")
    expect_error(lambda: r.execute_command("SELECT", "-1"), "ERR DB index is out of range")
    expect_error(lambda: r.execute_command("SELECT", "100000"), "ERR DB index is out of range")


@test
def test_reset(t):
    srv = t.server()
    c = srv.raw()
    c.call("CLIENT", "SETNAME", "abc")
    assert c.call("RESET") == b"+RESET\r\n"
    assert c.call("CLIENT", "GETNAME") == b"$-1\r\n"
    # RESET returns to RESP2 if HELLO 3 worked
    if c.call("HELLO", "3").startswith(b"%"):
        c.call("RESET")
        assert c.call("GET", "nokey") == b"$-1\r\n"


@test
def test_command_count_info_docs_getkeys(t):
    srv = t.server()
    r = srv.client()
    n = parse_reply(raw_call(srv, "COMMAND", "COUNT"))
    assert isinstance(n, int) and n >= len(ISSUE2_COMMANDS), n
    c = srv.raw()
    info = parse_reply(c.call("COMMAND", "INFO", "get", "set", "nosuchcmd", "hset", "mset"))
    assert info[2] is None, info[2]
    get = info[0]
    assert get[0] == b"get" and get[1] == 2 and get[3:6] == [1, 1, 1], get
    assert b"readonly" in get[2], get
    assert info[1][0] == b"set" and info[1][1] == -3 and b"write" in info[1][2], info[1]
    assert info[3][0] == b"hset" and info[3][1] == -4, info[3]
    assert info[4][0] == b"mset" and info[4][3:6] == [1, -1, 2], info[4]
    # full COMMAND: one entry per command, each with a name and arity
    allc = parse_reply(c.call("COMMAND"))
    names = {e[0] for e in allc}
    assert len(allc) == n, (len(allc), n)
    missing = [name for name in ISSUE2_COMMANDS if name.encode() not in names]
    assert not missing, "COMMAND lacks %s" % missing
    # DOCS: a map (array in RESP2) name -> doc with at least summary
    docs = parse_reply(c.call("COMMAND", "DOCS", "get"))
    assert isinstance(docs, list) and docs[0] == b"get", docs
    d = dict(zip(docs[1][0::2], docs[1][1::2]))
    assert b"summary" in d, d
    # GETKEYS
    assert parse_reply(raw_call(srv, "COMMAND", "GETKEYS", "SET", "a", "b")) == [b"a"]
    assert parse_reply(raw_call(srv, "COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2")) == [b"a", b"b"]
    assert parse_reply(raw_call(srv, "COMMAND", "GETKEYS", "HSET", "h", "f", "v")) == [b"h"]
    assert parse_reply(raw_call(srv, "COMMAND", "GETKEYS", "DEL", "a", "b", "c")) == [b"a", b"b", b"c"]
    assert raw_call(srv, "COMMAND", "GETKEYS", "PING").startswith(b"-ERR")
    assert raw_call(srv, "COMMAND", "GETKEYS", "NOSUCH", "a") == b"-ERR Invalid command specified\r\n"
    assert raw_call(srv, "COMMAND", "GETKEYS", "GET").startswith(b"-ERR")
    expect_error(lambda: r.execute_command("COMMAND", "NOSUCHSUB"), "ERR unknown subcommand")


@test
def test_client_subcommands(t):
    srv = t.server()
    a = srv.raw()
    b = srv.raw()
    assert a.call("CLIENT", "GETNAME") == b"$-1\r\n"
    assert a.call("CLIENT", "SETNAME", "conn-a") == b"+OK\r\n"
    assert a.call("CLIENT", "GETNAME") == b"$6\r\nconn-a\r\n"
    assert a.call("CLIENT", "SETNAME", "bad name").startswith(b"-ERR Client names cannot contain spaces")
    ida = parse_reply(a.call("CLIENT", "ID"))
    idb = parse_reply(b.call("CLIENT", "ID"))
    assert isinstance(ida, int) and isinstance(idb, int) and ida != idb
    info = parse_reply(a.call("CLIENT", "INFO")).decode()
    assert info.endswith("\n")
    fields = dict(kv.split("=", 1) for kv in info.split())
    assert fields["id"] == str(ida) and fields["name"] == "conn-a", fields
    assert fields["addr"].startswith("127.0.0.1:") and "laddr" in fields and "age" in fields, fields
    assert "cmd" in fields and "resp" in fields and "db" in fields, fields
    lst = parse_reply(a.call("CLIENT", "LIST")).decode()
    lines = [ln for ln in lst.split("\n") if ln]
    ids = {dict(kv.split("=", 1) for kv in ln.split())["id"] for ln in lines}
    assert str(ida) in ids and str(idb) in ids, lst
    lst_id = parse_reply(a.call("CLIENT", "LIST", "ID", str(idb))).decode()
    assert [dict(kv.split("=", 1) for kv in ln.split())["id"] for ln in lst_id.split("\n") if ln] == [str(idb)]
    # KILL by ID
    assert a.call("CLIENT", "KILL", "ID", str(idb)) == b":1\r\n"
    assert b.read_until_closed() == b""
    assert a.call("CLIENT", "KILL", "ID", "999999") == b":0\r\n"
    # KILL by address (old form: OK or error)
    c = srv.raw()
    cinfo = parse_reply(c.call("CLIENT", "INFO")).decode()
    caddr = dict(kv.split("=", 1) for kv in cinfo.split())["addr"]
    assert a.call("CLIENT", "KILL", caddr) == b"+OK\r\n"
    assert c.read_until_closed() == b""
    assert a.call("CLIENT", "KILL", "127.0.0.1:1") == b"-ERR No such client\r\n"
    # KILL ADDR (new form) and SKIPME
    d = srv.raw()
    daddr = dict(kv.split("=", 1) for kv in parse_reply(d.call("CLIENT", "INFO")).decode().split())["addr"]
    assert a.call("CLIENT", "KILL", "ADDR", daddr) == b":1\r\n"
    assert d.read_until_closed() == b""
    aaddr = dict(kv.split("=", 1) for kv in info.split())["addr"]
    assert a.call("CLIENT", "KILL", "ADDR", aaddr, "SKIPME", "yes") == b":0\r\n"
    assert a.call("PING") == b"+PONG\r\n"
    assert a.call("CLIENT", "NOSUCH").startswith(b"-ERR unknown subcommand")
    # redis-py view
    r = srv.client()
    r.client_setname("pyclient")
    assert r.client_getname() == b"pyclient" or r.client_getname() == "pyclient"
    assert any(cl["name"] == "pyclient" for cl in r.client_list())


@test
def test_config_get_set_resetstat(t):
    srv = t.server(["--maxmemory", "0"])
    r = srv.client()
    assert r.config_get("maxmemory") == {"maxmemory": "0"}
    assert r.config_set("maxmemory", "100mb")
    assert r.config_get("maxmemory") == {"maxmemory": "104857600"}
    assert r.config_set("maxmemory-policy", "allkeys-lru")
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    for name, value in (("timeout", "123"), ("maxclients", "500"), ("tcp-keepalive", "60"),
                        ("proto-max-bulk-len", "1048576"), ("client-query-buffer-limit", "2097152"),
                        ("loglevel", "warning")):
        assert r.config_set(name, value), name
        assert r.config_get(name) == {name: value}, (name, r.config_get(name))
    assert r.config_get("port") == {"port": str(srv.port)}
    assert r.config_get("bind")["bind"].split()[0] in ("127.0.0.1", "*")
    # glob
    got = r.config_get("maxmemory*")
    assert "maxmemory" in got and "maxmemory-policy" in got, got
    # requirepass via CONFIG SET takes effect for new connections
    assert r.config_get("requirepass") == {"requirepass": ""}
    # errors
    expect_error(lambda: r.config_set("nosuchoption", "1"), "ERR Unknown option")
    msg = expect_error(lambda: r.config_set("maxmemory", "lots"), "ERR")
    assert "maxmemory" in msg, msg
    msg = expect_error(lambda: r.config_set("maxmemory-policy", "bogus"), "ERR")
    assert "maxmemory-policy" in msg, msg
    expect_error(lambda: r.execute_command("CONFIG", "GET"), "ERR wrong number of arguments")
    expect_error(lambda: r.execute_command("CONFIG", "NOSUCH"), "ERR unknown subcommand")
    # RESETSTAT
    r.set("a", "1")
    r.get("a")
    r.get("missing")
    st = srv.info("stats")
    assert int(st["keyspace_hits"]) >= 1 and int(st["keyspace_misses"]) >= 1, st
    assert r.config_resetstat()
    st = srv.info("stats")
    assert st["keyspace_hits"] == "0" and st["keyspace_misses"] == "0", st
    assert int(st["total_commands_processed"]) <= 2, st


@test
def test_config_set_requirepass(t):
    srv = t.server()
    r = srv.client()
    assert r.config_set("requirepass", "pw")
    c = srv.raw()
    assert c.call("PING").startswith(b"-NOAUTH"), "new connection must need AUTH"
    assert c.call("AUTH", "pw") == b"+OK\r\n"
    assert c.call("CONFIG", "SET", "requirepass", "") == b"+OK\r\n"
    assert srv.raw().call("PING") == b"+PONG\r\n"


@test
def test_info_sections_and_fields(t):
    srv = t.server()
    r = srv.client()
    r.set("a", "1")
    r.set("b", "2", ex=100)
    r.hset("h", "f", "v")
    text = parse_reply(raw_call(srv, "INFO")).decode()
    secs = rctest.info_sections(text)
    for s in ("server", "clients", "memory", "stats", "keyspace"):
        assert s in secs, (s, secs)
    info = rctest.parse_info(text)
    for f in ("redis_version", "process_id", "tcp_port", "uptime_in_seconds", "connected_clients",
              "maxclients", "used_memory", "used_memory_human", "used_memory_rss", "maxmemory",
              "maxmemory_policy", "total_connections_received", "total_commands_processed",
              "instantaneous_ops_per_sec", "expired_keys", "evicted_keys", "keyspace_hits",
              "keyspace_misses", "rejected_connections"):
        assert f in info, "INFO lacks %s" % f
    assert info["tcp_port"] == str(srv.port)
    assert info["process_id"] == str(srv.pid)
    assert int(info["connected_clients"]) >= 1
    assert int(info["used_memory"]) > 0
    assert info["db0"].startswith("keys=3,expires=1,avg_ttl="), info["db0"]
    # single sections
    only = parse_reply(raw_call(srv, "INFO", "keyspace")).decode()
    assert rctest.info_sections(only) == ["keyspace"], only
    mem = rctest.parse_info(parse_reply(raw_call(srv, "INFO", "memory")))
    assert "used_memory" in mem and "tcp_port" not in mem
    multi = parse_reply(raw_call(srv, "INFO", "server", "clients")).decode()
    assert rctest.info_sections(multi) == ["server", "clients"], multi
    everything = rctest.info_sections(parse_reply(raw_call(srv, "INFO", "everything")).decode())
    assert "keyspace" in everything and "stats" in everything
    assert rctest.parse_info(parse_reply(raw_call(srv, "INFO", "nosuchsection"))) == {}
    # redis-py
    assert r.info()["tcp_port"] == srv.port
    r.flushall()
    assert "db0" not in srv.info("keyspace")


@test
def test_dbsize_flushall_flushdb(t):
    srv = t.server()
    r = srv.client()
    assert r.dbsize() == 0
    r.mset({"a": 1, "b": 2, "c": 3})
    r.hset("h", "f", "v")
    assert r.dbsize() == 4
    assert r.flushdb() is True
    assert r.dbsize() == 0
    r.set("x", "y")
    assert raw_call(srv, "FLUSHALL", "ASYNC") == b"+OK\r\n"
    assert r.dbsize() == 0
    r.set("x", "y")
    assert raw_call(srv, "FLUSHDB", "SYNC") == b"+OK\r\n"
    assert r.dbsize() == 0
    r.set("x", "y")
    assert r.flushall() is True
    assert r.get("x") is None
    expect_error(lambda: r.execute_command("FLUSHALL", "BOGUS"), "ERR syntax error")
    expect_error(lambda: r.execute_command("DBSIZE", "x"), "ERR wrong number of arguments for 'dbsize' command")


@test
def test_time(t):
    srv = t.server()
    c = srv.raw()
    raw = c.call("TIME")
    v = parse_reply(raw)
    assert raw.startswith(b"*2\r\n$"), raw
    secs, usecs = int(v[0]), int(v[1])
    assert abs(secs + usecs / 1e6 - time.time()) < 5, v
    assert 0 <= usecs < 1000000


@test
def test_unknown_command_and_arity_texts(t):
    srv = t.server()
    c = srv.raw()
    assert c.call("NOSUCHCMD") == b"-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n"
    assert c.call("nosuch", "a", "b") == b"-ERR unknown command 'nosuch', with args beginning with: 'a' 'b' \r\n"
    assert c.call("GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert c.call("get", "a", "b") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert c.call("HSET", "h", "f") == b"-ERR wrong number of arguments for 'hset' command\r\n"
    assert c.call("MSET", "a", "1", "b") == b"-ERR wrong number of arguments for 'mset' command\r\n"
    assert c.call("SET", "k", "v", "EX") == b"-ERR syntax error\r\n"
    assert c.call("PING") == b"+PONG\r\n"


# ---------------------------------------------------------------- keys


@test
def test_del_unlink_exists_touch_type(t):
    srv = t.server()
    r = srv.client()
    r.set("s", "v")
    r.hset("h", "f", "v")
    assert r.exists("s", "h", "nope", "s") == 3
    assert r.type("s") == b"string" and r.type("h") == b"hash" and r.type("nope") == b"none"
    assert r.touch("s", "h", "nope") == 2
    assert r.delete("s", "nope") == 1
    assert r.unlink("h", "h") == 1
    assert r.exists("s", "h") == 0
    assert r.delete("nope") == 0


@test
def test_expire_family(t):
    srv = t.server()
    r = srv.client()
    assert r.expire("nokey", 10) is False
    r.set("k", "v")
    assert r.ttl("k") == -1 and r.pttl("k") == -1
    assert r.ttl("nokey") == -2 and r.pttl("nokey") == -2
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.pexpire("k", 50000) is True
    assert 49000 <= r.pttl("k") <= 50000
    at = int(time.time()) + 1000
    assert r.expireat("k", at) is True
    assert 998 <= r.ttl("k") <= 1000
    assert r.pexpireat("k", at * 1000 + 500) is True
    assert 998000 <= r.pttl("k") <= 1000500
    assert r.persist("k") is True
    assert r.persist("k") is False
    assert r.ttl("k") == -1
    # NX / XX / GT / LT (Redis 7.0)
    assert r.execute_command("EXPIRE", "k", "100", "XX") == 0
    assert r.execute_command("EXPIRE", "k", "100", "NX") == 1
    assert r.execute_command("EXPIRE", "k", "200", "NX") == 0
    assert r.execute_command("EXPIRE", "k", "50", "GT") == 0
    assert r.execute_command("EXPIRE", "k", "200", "GT") == 1
    assert r.execute_command("EXPIRE", "k", "100", "LT") == 1
    expect_error(lambda: r.execute_command("EXPIRE", "k", "100", "NX", "XX"),
                 "ERR NX and XX, GT or LT options at the same time are not compatible")
    expect_error(lambda: r.execute_command("EXPIRE", "k", "100", "BOGUS"), "ERR Unsupported option BOGUS")
    # a past time or non-positive TTL deletes the key
    assert r.expire("k", -1) is True
    assert r.exists("k") == 0
    r.set("k", "v")
    assert r.expireat("k", 1) is True
    assert r.get("k") is None
    r.set("k", "v")
    assert r.pexpire("k", 0) is True
    assert r.exists("k") == 0
    expect_error(lambda: r.expire("k", "abc"), "ERR value is not an integer or out of range")
    expect_error(lambda: r.execute_command("EXPIRE", "k", "99999999999999999"),
                 "ERR invalid expire time in 'expire' command")
    # expire applies to hashes too, and the key vanishes (lazy expiry)
    r.hset("h", "f", "v")
    assert r.pexpire("h", 30) is True
    wait_for(lambda: r.exists("h") == 0, 10, what="hash to expire")
    assert r.hget("h", "f") is None


@test
def test_randomkey_keys_scan(t):
    srv = t.server()
    r = srv.client()
    assert r.randomkey() is None
    assert r.keys("*") == []
    names = ["user:%d" % i for i in range(300)] + ["other:%d" % i for i in range(50)]
    pipe = r.pipeline(transaction=False)
    for n in names:
        pipe.set(n, "v")
    for i in range(20):
        pipe.hset("hash:%d" % i, "f", "v")
    pipe.execute()
    allk = set(n.encode() for n in names) | {b"hash:%d" % i for i in range(20)}
    for _ in range(20):
        assert r.randomkey() in allk
    assert set(r.keys("*")) == allk
    assert set(r.keys("user:*")) == {n.encode() for n in names if n.startswith("user:")}
    assert set(r.keys("user:1?")) == {b"user:%d" % i for i in range(10, 20)}
    assert set(r.keys("user:[12]")) == {b"user:1", b"user:2"}
    assert r.keys("nomatch*") == []
    # SCAN: full iteration returns every key at least once
    seen = set()
    cursor = 0
    rounds = 0
    while True:
        cursor, keys = r.scan(cursor, count=25)
        seen.update(keys)
        rounds += 1
        if cursor == 0:
            break
        assert rounds < 10000
    assert seen == allk
    assert set(r.scan_iter(match="other:*", count=7)) == {b"other:%d" % i for i in range(50)}
    assert set(r.scan_iter(_type="hash", count=10)) == {b"hash:%d" % i for i in range(20)}
    assert set(r.scan_iter(_type="string", match="*:1", count=1000)) == {b"user:1", b"other:1"}
    c = srv.raw()
    assert c.call("SCAN", "abc") == b"-ERR invalid cursor\r\n"
    assert c.call("SCAN", "0", "COUNT", "0") == b"-ERR syntax error\r\n"
    assert c.call("SCAN", "0", "BOGUS", "1") == b"-ERR syntax error\r\n"
    assert c.call("SCAN", "0", "COUNT", "x") == b"-ERR value is not an integer or out of range\r\n"


@test
def test_scan_during_growth_returns_every_stable_key(t):
    """SCAN guarantees: keys present for the whole iteration are returned,
    even while the table grows (incremental rehashing)."""
    srv = t.server()
    r = srv.client()
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.set("stable:%d" % i, "v")
    pipe.execute()
    seen = set()
    cursor = 0
    extra = 0
    while True:
        cursor, keys = r.scan(cursor, count=50)
        seen.update(keys)
        if extra < 20000:
            pipe = r.pipeline(transaction=False)
            for _ in range(500):
                pipe.set("grow:%d" % extra, "v")
                extra += 1
            pipe.execute()
        if cursor == 0:
            break
    assert {b"stable:%d" % i for i in range(1000)} <= seen


# ---------------------------------------------------------------- strings


@test
def test_get_set_options(t):
    srv = t.server()
    r = srv.client()
    assert r.get("k") is None
    assert r.set("k", "v") is True
    assert r.get("k") == b"v"
    assert r.set("k", "v2", nx=True) is None
    assert r.set("n", "v", xx=True) is None
    assert r.set("k", "v3", xx=True) is True and r.get("k") == b"v3"
    assert r.set("k", "v4", ex=100) and 99 <= r.ttl("k") <= 100
    assert r.set("k", "v5", keepttl=True) and 99 <= r.ttl("k") <= 100
    assert r.set("k", "v6") and r.ttl("k") == -1
    assert r.set("k", "v7", px=100000) and 99000 <= r.pttl("k") <= 100000
    assert r.set("k", "v8", exat=int(time.time()) + 500) and 498 <= r.ttl("k") <= 500
    assert r.set("k", "v9", pxat=int(time.time() * 1000) + 500000) and 498 <= r.ttl("k") <= 500
    assert r.set("k", "v10", get=True) == b"v9"
    assert r.set("new", "x", get=True) is None and r.get("new") == b"x"
    assert raw_call(srv, "SET", "new", "y", "NX", "GET") == b"$1\r\nx\r\n"
    assert r.get("new") == b"x"
    r.hset("h", "f", "v")
    expect_error(lambda: r.set("h", "x", get=True), "WRONGTYPE Operation against a key holding the wrong kind")
    assert r.set("h", "x") is True and r.get("h") == b"x"  # plain SET overwrites any type
    c = srv.raw()
    assert c.call("SET", "k", "v", "EX", "0") == b"-ERR invalid expire time in 'set' command\r\n"
    assert c.call("SET", "k", "v", "EX", "-5") == b"-ERR invalid expire time in 'set' command\r\n"
    assert c.call("SET", "k", "v", "EX", "x") == b"-ERR value is not an integer or out of range\r\n"
    assert c.call("SET", "k", "v", "NX", "XX") == b"-ERR syntax error\r\n"
    assert c.call("SET", "k", "v", "EX", "10", "PX", "100") == b"-ERR syntax error\r\n"
    assert c.call("SET", "k", "v", "KEEPTTL", "EX", "10") == b"-ERR syntax error\r\n"
    assert c.call("SET", "k", "v", "BOGUS") == b"-ERR syntax error\r\n"
    assert c.call("SET", "k", "v", "px", "5", "nx") == b"$-1\r\n"  # k exists: NX fails, options are case-insensitive


@test
def test_setnx_setex_psetex_getset_getdel_getex(t):
    srv = t.server()
    r = srv.client()
    assert r.setnx("k", "a") is True
    assert r.setnx("k", "b") is False and r.get("k") == b"a"
    assert r.setex("e", 100, "v") is True and 99 <= r.ttl("e") <= 100
    assert r.psetex("p", 100000, "v") is True and 99000 <= r.pttl("p") <= 100000
    expect_error(lambda: r.setex("e", 0, "v"), "ERR invalid expire time in 'setex' command")
    expect_error(lambda: r.psetex("e", -1, "v"), "ERR invalid expire time in 'psetex' command")
    assert r.getset("k", "c") == b"a" and r.get("k") == b"c"
    assert r.getset("nokey", "c") is None
    r.expire("k", 100)
    assert r.getset("k", "d") == b"c" and r.ttl("k") == -1  # GETSET clears the TTL
    assert r.getdel("k") == b"d" and r.exists("k") == 0
    assert r.getdel("k") is None
    r.set("g", "v")
    assert r.getex("g") == b"v" and r.ttl("g") == -1
    assert r.getex("g", ex=100) == b"v" and 99 <= r.ttl("g") <= 100
    assert r.getex("g", persist=True) == b"v" and r.ttl("g") == -1
    assert r.getex("g", px=100000) == b"v" and 99000 <= r.pttl("g") <= 100000
    assert r.getex("g", exat=int(time.time()) + 300) == b"v" and 298 <= r.ttl("g") <= 300
    assert r.getex("g", pxat=int(time.time() * 1000) + 300000) == b"v"
    assert r.getex("missing", ex=10) is None
    expect_error(lambda: r.execute_command("GETEX", "g", "EX", "0"), "ERR invalid expire time in 'getex' command")
    expect_error(lambda: r.execute_command("GETEX", "g", "EX", "10", "PERSIST"), "ERR syntax error")
    r.hset("h", "f", "v")
    for fn in (lambda: r.get("h"), lambda: r.getset("h", "x"), lambda: r.getdel("h"), lambda: r.getex("h")):
        expect_error(fn, "WRONGTYPE")
    assert r.setnx("h", "x") is False


@test
def test_mget_mset_msetnx(t):
    srv = t.server()
    r = srv.client()
    assert r.mset({"a": "1", "b": "2"}) is True
    r.hset("h", "f", "v")
    assert r.mget("a", "b", "c", "h") == [b"1", b"2", None, None]  # MGET: non-strings are nil
    assert r.msetnx({"c": "3", "a": "x"}) is False and r.get("c") is None
    assert r.msetnx({"c": "3", "d": "4"}) is True and r.mget("c", "d") == [b"3", b"4"]
    r.expire("a", 100)
    r.mset({"a": "z"})
    assert r.ttl("a") == -1
    assert raw_call(srv, "MSET", "dup", "1", "dup", "2") == b"+OK\r\n" and r.get("dup") == b"2"


@test
def test_incr_decr_family(t):
    srv = t.server()
    r = srv.client()
    assert r.incr("n") == 1
    assert r.incrby("n", 10) == 11
    assert r.decr("n") == 10
    assert r.decrby("n", 20) == -10
    assert r.get("n") == b"-10"
    r.set("big", str(2 ** 63 - 1))
    expect_error(lambda: r.incr("big"), "ERR increment or decrement would overflow")
    r.set("small", str(-2 ** 63))
    expect_error(lambda: r.decr("small"), "ERR increment or decrement would overflow")
    for bad in ("abc", "1.5", " 1", "1 ", "", "99999999999999999999", "0x10", "+1"):
        r.set("bad", bad)
        expect_error(lambda: r.incr("bad"), "ERR value is not an integer or out of range")
    expect_error(lambda: r.incrby("n", "x"), "ERR value is not an integer or out of range")
    expect_error(lambda: r.execute_command("DECRBY", "n", str(-2 ** 63)), "ERR decrement would overflow")
    r.expire("n", 100)
    r.incr("n")
    assert 99 <= r.ttl("n") <= 100  # INCR keeps the TTL
    assert r.incrbyfloat("f", 10.5) == 10.5
    assert r.get("f") == b"10.5"
    assert r.incrbyfloat("f", 0.1) == 10.6
    assert r.get("f") == b"10.6"
    r.set("f2", "3.0e3")
    assert raw_call(srv, "INCRBYFLOAT", "f2", "1") == b"$4\r\n3001\r\n"
    r.set("f3", "5")
    assert raw_call(srv, "INCRBYFLOAT", "f3", "-5") == b"$1\r\n0\r\n"
    expect_error(lambda: r.incrbyfloat("f", "abc"), "ERR value is not a valid float")
    expect_error(lambda: r.execute_command("INCRBYFLOAT", "f", "inf"), "ERR increment would produce NaN or Infinity")
    r.set("nf", "abc")
    expect_error(lambda: r.incrbyfloat("nf", 1), "ERR value is not a valid float")
    r.hset("h", "f", "1")
    for fn in (lambda: r.incr("h"), lambda: r.incrby("h", 2), lambda: r.decr("h"), lambda: r.decrby("h", 2),
               lambda: r.incrbyfloat("h", 1.0)):
        expect_error(fn, "WRONGTYPE")


@test
def test_append_strlen_getrange_setrange(t):
    srv = t.server()
    r = srv.client()
    assert r.append("s", "Hello") == 5
    assert r.append("s", " World") == 11
    assert r.strlen("s") == 11 and r.strlen("nokey") == 0
    assert r.getrange("s", 0, 4) == b"Hello"
    assert r.getrange("s", -5, -1) == b"World"
    assert r.getrange("s", 5, 2) == b""
    assert r.getrange("s", 0, 1000) == b"Hello World"
    assert r.getrange("s", -1000, 2) == b"Hel"
    assert r.getrange("nokey", 0, 10) == b""
    assert r.setrange("s", 6, "Redis") == 11 and r.get("s") == b"Hello Redis"
    assert r.setrange("pad", 5, "x") == 6 and r.get("pad") == b"\x00" * 5 + b"x"
    assert r.setrange("empty", 0, "") == 0 and r.exists("empty") == 0
    expect_error(lambda: r.setrange("s", -1, "x"), "ERR offset is out of range")
    expect_error(lambda: r.setrange("s", 536870912, "x"),
                 "ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    r.set("n", "123")
    assert r.append("n", "4") == 4 and r.incr("n") == 1235
    r.hset("h", "f", "v")
    for fn in (lambda: r.append("h", "x"), lambda: r.strlen("h"), lambda: r.getrange("h", 0, 1),
               lambda: r.setrange("h", 0, "x")):
        expect_error(fn, "WRONGTYPE")


# ---------------------------------------------------------------- hashes


@test
def test_hash_commands(t):
    srv = t.server()
    r = srv.client()
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hset("h", "a", "10") == 0
    assert r.execute_command("HSET", "h", "c", "3", "d", "4") == 2
    assert r.hsetnx("h", "a", "x") == 0 and r.hget("h", "a") == b"10"
    assert r.hsetnx("h", "e", "5") == 1
    assert r.hget("h", "nofield") is None and r.hget("nokey", "f") is None
    assert r.hmget("h", "a", "nofield", "b") == [b"10", None, b"2"]
    assert r.hmget("nokey", "a", "b") == [None, None]
    assert raw_call(srv, "HMSET", "h", "f", "6", "g", "7") == b"+OK\r\n"
    assert r.hlen("h") == 7 and r.hlen("nokey") == 0
    assert r.hexists("h", "a") is True and r.hexists("h", "zz") is False
    assert r.hstrlen("h", "a") == 2 and r.hstrlen("h", "zz") == 0
    assert sorted(r.hkeys("h")) == [b"a", b"b", b"c", b"d", b"e", b"f", b"g"]
    assert sorted(r.hvals("h")) == sorted([b"10", b"2", b"3", b"4", b"5", b"6", b"7"])
    assert r.hgetall("h") == {b"a": b"10", b"b": b"2", b"c": b"3", b"d": b"4", b"e": b"5", b"f": b"6", b"g": b"7"}
    assert r.hgetall("nokey") == {} and r.hkeys("nokey") == [] and r.hvals("nokey") == []
    assert r.hdel("h", "a", "b", "nofield") == 2
    assert r.hincrby("h", "c", 5) == 8
    assert r.hincrby("h", "new", -3) == -3
    assert r.hincrbyfloat("h", "fl", 1.5) == 1.5
    assert raw_call(srv, "HINCRBYFLOAT", "h", "fl", "0.25") == b"$4\r\n1.75\r\n"
    r.hset("h", "txt", "abc")
    expect_error(lambda: r.hincrby("h", "txt", 1), "ERR hash value is not an integer")
    expect_error(lambda: r.hincrbyfloat("h", "txt", 1), "ERR hash value is not a float")
    expect_error(lambda: r.hincrby("h", "c", "x"), "ERR value is not an integer or out of range")
    expect_error(lambda: r.hincrbyfloat("h", "c", "x"), "ERR value is not a valid float")
    r.hset("h", "max", str(2 ** 63 - 1))
    expect_error(lambda: r.hincrby("h", "max", 1), "ERR increment or decrement would overflow")
    # the last field deleted deletes the key
    r.hset("one", "f", "v")
    assert r.hdel("one", "f") == 1 and r.exists("one") == 0
    # WRONGTYPE on strings
    r.set("s", "v")
    for fn in (lambda: r.hset("s", "f", "v"), lambda: r.hget("s", "f"), lambda: r.hgetall("s"),
               lambda: r.hdel("s", "f"), lambda: r.hlen("s"), lambda: r.hkeys("s"), lambda: r.hvals("s"),
               lambda: r.hexists("s", "f"), lambda: r.hincrby("s", "f", 1), lambda: r.hmget("s", "f"),
               lambda: r.hsetnx("s", "f", "v"), lambda: r.hstrlen("s", "f"),
               lambda: r.hincrbyfloat("s", "f", 1)):
        expect_error(fn, "WRONGTYPE Operation against a key holding the wrong kind of value")
    expect_error(lambda: r.execute_command("HMSET", "h", "f"), "ERR wrong number of arguments for 'hmset' command")


@test
def test_big_hash_and_many_keys(t):
    """A hash of 20k fields and 100k keys: the tables grow (rehash) and
    every entry stays reachable."""
    srv = t.server()
    r = srv.client()
    pipe = r.pipeline(transaction=False)
    for i in range(20000):
        pipe.hset("bigh", "field:%d" % i, i)
    pipe.execute()
    assert r.hlen("bigh") == 20000
    assert r.hget("bigh", "field:12345") == b"12345"
    assert len(r.hgetall("bigh")) == 20000
    for start in range(0, 100000, 10000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, start + 10000):
            pipe.set("key:%d" % i, i)
        pipe.execute()
    assert r.dbsize() == 100001
    assert r.mget("key:0", "key:99999", "key:50000") == [b"0", b"99999", b"50000"]


@test
def test_mset_big_values(t):
    """MSET and MSETNX with values of 1 MB or more (each may keep the block
    the parser read it into, as SET does): every value reads back whole; a
    key set twice in one MSET ends with its last value, big or small; and
    SLOWLOG, which reads the command's arguments after it ran, shows them
    (under the sanitizers a value freed by a later pair of the same MSET
    while its argument still pointed into it aborts the server)."""
    srv = t.server()
    r = srv.client()
    mb = 1 << 20
    assert r.config_set("slowlog-log-slower-than", 0)
    assert r.slowlog_reset()
    assert r.mset({"a": b"a" * (2 * mb), "b": b"small", "c": b"c" * (3 * mb + 7)})
    assert r.get("a") == b"a" * (2 * mb)
    assert r.get("b") == b"small"
    assert r.get("c") == b"c" * (3 * mb + 7)
    assert r.execute_command("MSET", "d", b"x" * (2 * mb), "d", b"y" * (2 * mb)) is True
    assert r.get("d") == b"y" * (2 * mb)
    assert r.execute_command("MSET", "e", b"p" * (2 * mb), "e", b"q") is True
    assert r.get("e") == b"q"
    assert r.execute_command("MSET", "e2", b"q", "e2", b"r" * (mb + 1)) is True
    assert r.get("e2") == b"r" * (mb + 1)
    assert r.msetnx({"f": b"f" * (2 * mb), "g": b"g" * mb}) is True
    assert r.msetnx({"f": b"z" * (2 * mb), "h": b"h" * (2 * mb)}) is False
    assert r.get("f") == b"f" * (2 * mb) and r.get("g") == b"g" * mb and r.exists("h") == 0
    # a kept value is a value like any other
    assert r.append("a", "!") == 2 * mb + 1
    assert r.getrange("a", -2, -1) == b"a!"
    assert r.setrange("c", 0, "C") == 3 * mb + 7
    assert r.get("c") == b"C" + b"c" * (3 * mb + 6)
    entries = parse_reply(raw_call(srv, "SLOWLOG", "GET", "100"))
    msets = [e[3] for e in entries if e[3][0].upper() == b"MSET"]
    assert len(msets) == 4, msets
    dup = next(m for m in msets if m[1] == b"d")
    assert dup[2].startswith(b"x" * 32) and dup[2].endswith(b"more bytes)"), dup[2][:200]
    assert dup[4].startswith(b"y" * 32), dup[4][:200]
    first = next(m for m in msets if m[1] == b"a")
    assert first[2].startswith(b"a" * 32) and first[6].startswith(b"c" * 32), [x[:64] for x in first]
    assert r.delete("a", "c", "d", "f") == 4
    assert r.ping()


if __name__ == "__main__":
    rctest.run()
