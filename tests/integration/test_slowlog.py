#!/usr/bin/python3
"""SLOWLOG, LATENCY, INFO commandstats / latencystats and their options
(issue 15): Redis 7.0's replies, limits and error texts, checked against a
real redis-server with --target redis (the cluster test is ringcache-only:
a forwarded command counts on the node the client sent it to).

Run: RINGCACHED=build/release/node/ringcached python3 test_slowlog.py [--target redis] [-k name]
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rccluster  # noqa: E402
import rctest  # noqa: E402
from rctest import RespError, is_redis, parse_info, parse_reply, test, wait_for  # noqa: E402


def value(conn, *args):
    return parse_reply(conn.call(*args))


def err(conn, *args):
    r = value(conn, *args)
    assert isinstance(r, RespError), "%r: expected an error, got %r" % (args, r)
    return str(r)


def info(conn, section):
    return parse_info(value(conn, "INFO", section))


def cmdstat(conn, name):
    """cmdstat_<name> as a dict (calls, usec, ... as numbers), or None."""
    line = info(conn, "commandstats").get("cmdstat_" + name)
    if line is None:
        return None
    out = {}
    for kv in line.split(","):
        k, _, v = kv.partition("=")
        out[k] = float(v) if "." in v else int(v)
    return out


@test
def test_slowlog_records_newest_first(t):
    srv = t.server()
    c = srv.raw()
    assert value(c, "CONFIG", "SET", "slowlog-log-slower-than", "0") == b"OK"
    assert value(c, "SLOWLOG", "RESET") == b"OK"
    assert value(c, "CLIENT", "SETNAME", "watcher") == b"OK"
    assert value(c, "SET", "k1", "v1") == b"OK"
    assert value(c, "GET", "k1") == b"v1"
    # The rejected call (arity) is not logged; SLOWLOG LEN itself is, after it ran.
    err(c, "GET")
    entries = value(c, "SLOWLOG", "GET")
    assert [e[3] for e in entries[:3]] == [[b"GET", b"k1"], [b"SET", b"k1", b"v1"],
                                          [b"CLIENT", b"SETNAME", b"watcher"]], entries
    addr = [kv for kv in value(c, "CLIENT", "INFO").decode().split() if kv.startswith("addr=")][0][5:]
    for e in entries[:3]:
        assert len(e) == 6, e
        assert isinstance(e[0], int) and isinstance(e[1], int) and isinstance(e[2], int), e
        assert e[2] >= 0 and e[4] == addr.encode(), (e, addr)
    assert entries[0][5] == b"watcher" and entries[2][5] == b"watcher"
    ids = [e[0] for e in entries]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids), ids
    assert entries[3][3] == [b"SLOWLOG", b"RESET"], entries
    n = value(c, "SLOWLOG", "LEN")
    assert n == len(entries) + 2, (n, entries)  # + SLOWLOG GET and CLIENT INFO
    assert len(value(c, "SLOWLOG", "GET", "2")) == 2
    assert len(value(c, "SLOWLOG", "GET", "0")) == 0
    assert len(value(c, "SLOWLOG", "GET", "-1")) == value(c, "SLOWLOG", "LEN") - 1
    # A client name set after the fact shows in new entries only.
    assert value(c, "SLOWLOG", "RESET") == b"OK"
    assert value(c, "SLOWLOG", "LEN") == 1  # the RESET itself, logged after it ran


@test
def test_slowlog_trims_arguments(t):
    srv = t.server()
    c = srv.raw()
    value(c, "CONFIG", "SET", "slowlog-log-slower-than", "0")
    long_value = "x" * 200
    value(c, "SET", "big", long_value)
    keys = ["k%d" % i for i in range(40)]
    value(c, "DEL", *keys)
    e = value(c, "SLOWLOG", "GET", "2")
    dele, sete = e[0][3], e[1][3]
    assert sete == [b"SET", b"big", b"x" * 128 + b"... (72 more bytes)"], sete
    assert len(dele) == 32 and dele[0] == b"DEL" and dele[30] == b"k29", dele
    assert dele[31] == b"... (10 more arguments)", dele[31]


@test
def test_slowlog_threshold_and_max_len(t):
    srv = t.server()
    c = srv.raw()
    assert value(c, "CONFIG", "GET", "slowlog-*") in (
        [b"slowlog-log-slower-than", b"10000", b"slowlog-max-len", b"128"],
        [b"slowlog-max-len", b"128", b"slowlog-log-slower-than", b"10000"])
    # Default threshold (10 ms): quick commands are not logged.
    value(c, "SLOWLOG", "RESET")
    for i in range(20):
        value(c, "SET", "k%d" % i, "v")
    assert value(c, "SLOWLOG", "LEN") == 0
    # -1 disables it even for "everything".
    value(c, "CONFIG", "SET", "slowlog-log-slower-than", "-1")
    value(c, "SET", "a", "b")
    assert value(c, "SLOWLOG", "LEN") == 0
    # A bounded log keeps the newest.
    value(c, "CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "5")
    for i in range(30):
        value(c, "SET", "k%d" % i, "v%d" % i)
    assert value(c, "SLOWLOG", "LEN") == 5
    got = value(c, "SLOWLOG", "GET", "-1")
    assert len(got) == 5 and got[0][3] == [b"SLOWLOG", b"LEN"], got[0]
    assert got[1][3] == [b"SET", b"k29", b"v29"], got[1]
    # max-len 0: the next command empties it.
    value(c, "CONFIG", "SET", "slowlog-max-len", "0")
    value(c, "PING")
    assert value(c, "SLOWLOG", "LEN") == 0
    # Many large commands stay bounded (32 args x 128 bytes each at most).
    value(c, "CONFIG", "SET", "slowlog-max-len", "128")
    big = "y" * 1000
    for i in range(200):
        value(c, "MSET", *(["big%d" % i, big] * 20))
    assert value(c, "SLOWLOG", "LEN") == 128
    e = value(c, "SLOWLOG", "GET", "2")[1]
    assert e[3][2] == b"y" * 128 + b"... (872 more bytes)" and len(e[3]) == 32, e[3][:3]
    assert e[3][31] == b"... (10 more arguments)", e[3][31]


@test
def test_slowlog_errors(t):
    srv = t.server()
    c = srv.raw()
    assert err(c, "SLOWLOG") == "ERR wrong number of arguments for 'slowlog' command"
    assert err(c, "SLOWLOG", "LEN", "x") == "ERR wrong number of arguments for 'slowlog|len' command"
    assert err(c, "SLOWLOG", "RESET", "x") == \
        "ERR wrong number of arguments for 'slowlog|reset' command"
    for bad in ("-2", "x", "1.5", "99999999999999999999"):
        assert err(c, "SLOWLOG", "GET", bad) == "ERR count should be greater than or equal to -1", bad
    assert err(c, "SLOWLOG", "GET", "1", "2") == \
        "ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP."
    assert err(c, "SLOWLOG", "foo") == "ERR unknown subcommand 'foo'. Try SLOWLOG HELP."
    help_ = value(c, "SLOWLOG", "HELP")
    assert help_[0] == b"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"LEN" in help_ and b"RESET" in help_ and b"GET [<count>]" in help_
    for name, badv, why in (
            ("slowlog-log-slower-than", "-2", "argument must be between -1 and 9223372036854775807 inclusive"),
            ("slowlog-max-len", "-1", "argument must be between 0 and 9223372036854775807 inclusive"),
            ("latency-monitor-threshold", "-1", "argument must be between 0 and 9223372036854775807 inclusive"),
            ("latency-tracking", "maybe", "argument must be 'yes' or 'no'"),
            ("slowlog-max-len", "ten", None)):
        e = err(c, "CONFIG", "SET", name, badv)
        assert e.startswith("ERR CONFIG SET failed (possibly related to argument '%s') - " % name), e
        if why is not None:
            assert e.endswith(why), e
    # A failed CONFIG SET changed nothing.
    assert value(c, "CONFIG", "GET", "slowlog-max-len") == [b"slowlog-max-len", b"128"]
    got = value(c, "CONFIG", "GET", "latency-*")
    d = dict(zip(got[::2], got[1::2]))
    assert d[b"latency-monitor-threshold"] == b"0" and d[b"latency-tracking"] == b"yes", d
    assert srv.ping_fresh()


def fill_keys(c, n):
    per = 1000
    for base in range(0, n, per):
        args = []
        for i in range(base, min(n, base + per)):
            args += ["key:%d" % i, "v"]
        assert value(c, "MSET", *args) == b"OK"


@test
def test_latency_monitor(t):
    srv = t.server()
    c = srv.raw()
    assert err(c, "LATENCY") == "ERR wrong number of arguments for 'latency' command"
    assert err(c, "LATENCY", "LATEST", "x") == "ERR wrong number of arguments for 'latency|latest' command"
    assert err(c, "LATENCY", "HISTORY") == "ERR wrong number of arguments for 'latency|history' command"
    assert err(c, "LATENCY", "foo") == "ERR unknown subcommand 'foo'. Try LATENCY HELP."
    assert value(c, "LATENCY", "HELP")[0] == \
        b"LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert isinstance(value(c, "LATENCY", "DOCTOR"), bytes)
    fill_keys(c, 50000)
    # Off by default: a slow KEYS records nothing.
    assert len(value(c, "KEYS", "*")) == 50000
    assert value(c, "LATENCY", "LATEST") == []
    assert value(c, "LATENCY", "HISTORY", "command") == []
    assert value(c, "CONFIG", "SET", "latency-monitor-threshold", "1") == b"OK"

    def spike():
        value(c, "KEYS", "*")
        return [e for e in value(c, "LATENCY", "LATEST") if e[0] == b"command"]

    latest = wait_for(spike, timeout=30, what="a KEYS over 50000 keys taking 1 ms or more")
    name, when, last, worst = latest[0]
    assert isinstance(when, int) and when > 1600000000 and last >= 1 and worst >= last, latest
    hist = value(c, "LATENCY", "HISTORY", "command")
    assert len(hist) >= 1 and hist[-1] == [when, last], hist
    assert all(len(s) == 2 and s[1] >= 1 for s in hist), hist
    assert value(c, "LATENCY", "RESET", "nosuchevent") == 0
    assert value(c, "LATENCY", "RESET", "command") == 1
    assert [e for e in value(c, "LATENCY", "LATEST") if e[0] == b"command"] == []
    spike_again = wait_for(spike, timeout=30)
    assert spike_again
    assert value(c, "LATENCY", "RESET") >= 1
    assert value(c, "LATENCY", "LATEST") == []
    # A fast command (GET) that takes long counts as "fast-command".
    value(c, "SET", "huge", "z" * (16 * 1024 * 1024))

    def fast_spike():
        assert len(value(c, "GET", "huge")) == 16 * 1024 * 1024
        return [e for e in value(c, "LATENCY", "LATEST") if e[0] == b"fast-command"]

    wait_for(fast_spike, timeout=30, what="a GET of 16 MB taking 1 ms or more")


@test
def test_commandstats(t):
    srv = t.server()
    c = srv.raw()
    assert value(c, "CONFIG", "RESETSTAT") == b"OK"
    for i in range(3):
        value(c, "SET", "n%d" % i, "abc")
    value(c, "GET", "n0")
    value(c, "GET", "n1")
    err(c, "GET")                       # rejected: arity
    err(c, "INCR", "n0")                # failed: runs, replies an error
    err(c, "NOSUCHCOMMAND")             # counted nowhere
    st = cmdstat(c, "set")
    assert st["calls"] == 3 and st["rejected_calls"] == 0 and st["failed_calls"] == 0, st
    assert st["usec_per_call"] == round(st["usec_per_call"], 2)
    g = cmdstat(c, "get")
    assert g["calls"] == 2 and g["rejected_calls"] == 1 and g["failed_calls"] == 0, g
    inc = cmdstat(c, "incr")
    assert inc["calls"] == 1 and inc["failed_calls"] == 1, inc
    text = value(c, "INFO", "commandstats").decode()
    line = [ln for ln in text.split("\r\n") if ln.startswith("cmdstat_set:")][0]
    assert re.fullmatch(r"cmdstat_set:calls=3,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,"
                        r"failed_calls=0", line), line
    assert "nosuchcommand" not in text.lower()
    # INFO (default) leaves both sections out; ALL has them.
    assert "cmdstat_set" not in value(c, "INFO").decode()
    everything = value(c, "INFO", "ALL").decode()
    assert "# Commandstats" in everything and "# Latencystats" in everything
    lat = info(c, "latencystats")
    m = re.fullmatch(r"p50=(\d+\.\d{3}),p99=(\d+\.\d{3}),p99\.9=(\d+\.\d{3})",
                     lat["latency_percentiles_usec_set"])
    assert m and 0 < float(m.group(1)) <= float(m.group(2)) <= float(m.group(3)), lat
    # LATENCY HISTOGRAM: cumulative counts per power-of-two bucket (us).
    h = value(c, "LATENCY", "HISTOGRAM", "SET", "nosuchcommand")
    assert len(h) == 2 and h[0] == b"set", h
    body = dict(zip(h[1][0::2], h[1][1::2]))
    assert body[b"calls"] == 3, body
    buckets = body[b"histogram_usec"]
    bounds, cums = buckets[0::2], buckets[1::2]
    assert bounds == sorted(bounds) and cums == sorted(cums) and cums[-1] == 3, buckets
    assert all(b in (1, 2, 4, 8, 16, 33, 66, 131, 262, 524, 1049, 2097, 4194) for b in bounds), bounds
    everything = value(c, "LATENCY", "HISTOGRAM")
    assert b"set" in everything[0::2] and b"get" in everything[0::2], everything[0::2]
    assert value(c, "LATENCY", "HISTOGRAM", "nosuchcommand") == []
    # Statistics move with the load and reset with CONFIG RESETSTAT.
    for i in range(100):
        value(c, "SET", "n%d" % i, "x")
    assert cmdstat(c, "set")["calls"] == 103
    assert value(c, "CONFIG", "RESETSTAT") == b"OK"
    assert cmdstat(c, "set") is None and cmdstat(c, "get") is None
    assert "latency_percentiles_usec_set" not in info(c, "latencystats")
    # latency-tracking no: calls still count, no percentiles.
    assert value(c, "CONFIG", "SET", "latency-tracking", "no") == b"OK"
    value(c, "SET", "a", "b")
    assert cmdstat(c, "set")["calls"] == 1
    assert not [k for k in info(c, "latencystats") if k.startswith("latency_percentiles_usec_")]
    # NOAUTH is a rejected call.
    assert value(c, "CONFIG", "SET", "requirepass", "pw") == b"OK"
    c2 = srv.raw()
    assert err(c2, "GET", "a").startswith("NOAUTH")
    assert value(c2, "AUTH", "pw") == b"OK"
    assert cmdstat(c2, "get")["rejected_calls"] == 1
    assert value(c2, "CONFIG", "SET", "requirepass", "") == b"OK"


@test
def test_cluster_forwarded_count_on_receiver(t):
    if is_redis():
        return  # ringcache-only: Redis Cluster answers MOVED instead of forwarding
    nodes = rccluster.start_cluster(t, 3)
    a, b = nodes[0], nodes[1]
    ca = a.raw()
    cb = b.raw()
    myid_b = value(cb, "CLUSTER", "MYID")
    slots_b = set()
    for rng in value(cb, "CLUSTER", "SLOTS"):
        if rng[2][2] == myid_b:
            slots_b.update(range(rng[0], rng[1] + 1))
    keys = [k for k in ("fk%d" % i for i in range(3000)) if rccluster.keyslot(k) in slots_b][:50]
    assert len(keys) == 50
    for cc in (ca, cb):
        assert value(cc, "CONFIG", "RESETSTAT") == b"OK"
    for k in keys:
        assert value(ca, "SET", k, "v") == b"OK"
    err(ca, "INCR", keys[0])  # forwarded, fails at the owner
    sa = cmdstat(ca, "set")
    assert sa["calls"] == 50 and sa["failed_calls"] == 0, sa
    assert cmdstat(ca, "incr")["failed_calls"] == 1
    # The owner ran them for a peer: not counted there (once per cluster).
    assert cmdstat(cb, "set") is None
    lat = info(ca, "latencystats")["latency_percentiles_usec_set"]
    p50 = float(lat.split(",")[0].split("=")[1])
    # A forwarded SET includes the round trip to its owner: more than a local one.
    assert p50 > 1.0, lat
    assert a.ping_fresh() and b.ping_fresh()


if __name__ == "__main__":
    rctest.main()
