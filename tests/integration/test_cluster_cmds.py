#!/usr/bin/python3
"""Cluster commands in Redis 7.0's formats (issue 5): CLUSTER INFO, MYID,
MYSHARDID, NODES, SLOTS, SHARDS, REPLICAS, SLAVES, KEYSLOT, COUNTKEYSINSLOT,
GETKEYSINSLOT, LEAVE, HELP, READONLY / READWRITE / ASKING and INFO's cluster
section, on a one-node cluster byte for byte, then on a three-node cluster
(same epoch and table everywhere, every slot covered exactly once), and
through real cluster clients (redis-py RedisCluster, redis-cli -c,
redis-cli --cluster check).

With replicas (issue 14, cluster-replicas R on three nodes): CLUSTER SLOTS
lists each range's primary then its R replicas, SHARDS, NODES and REPLICAS
agree with it, CLUSTER INFO counts degraded and lost slots, cluster clients
still route, and after a kill -9 the surviving copy of each of the dead
node's slots is listed as its primary.

With --target redis the single-node tests run against a cluster-enabled
redis-server owning all 16384 slots (that is how the formats asserted here
were checked); ringcache-only lines and subcommands are skipped there.

Run: RINGCACHED=build/node/ringcached python3 test_cluster_cmds.py [--target redis] [-k name]
"""

import os
import re
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rccluster  # noqa: E402
import rctest  # noqa: E402
from rctest import RespError, is_redis, parse_info, parse_reply, test, wait_for  # noqa: E402

NSLOTS = 16384

# CLUSTER INFO's lines, in Redis 7.0's order; ringcache appends its own.
REDIS_INFO_KEYS = [
    "cluster_state", "cluster_slots_assigned", "cluster_slots_ok", "cluster_slots_pfail",
    "cluster_slots_fail", "cluster_known_nodes", "cluster_size", "cluster_current_epoch",
    "cluster_my_epoch", "cluster_stats_messages_sent", "cluster_stats_messages_received",
    "total_cluster_links_buffer_limit_exceeded",
]
RC_INFO_KEYS = ["cluster_coordinator", "cluster_membership", "cluster_replicas", "cluster_in_transition",
                "cluster_slots_degraded", "cluster_slots_lost"]


keyslot = rccluster.keyslot


def call(srv, *args, resp3=False):
    """Raw reply bytes of one command on a fresh connection."""
    c = srv.raw()
    try:
        if resp3:
            r = c.call("HELLO", "3")
            assert r.startswith(b"%"), r
        return c.call(*args)
    finally:
        c.close()


def value(srv, *args, resp3=False):
    return parse_reply(call(srv, *args, resp3=resp3))


def cluster_info(srv):
    return parse_info(value(srv, "CLUSTER", "INFO"))


def start_node(t, args=()):
    """A one-node cluster: ringcached with neither --join nor state (and
    'args'), or a cluster-enabled redis-server that owns every slot. Returns
    it once CLUSTER INFO says ok."""
    if is_redis():
        srv = t.server(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
        assert value(srv, "CLUSTER", "ADDSLOTSRANGE", "0", str(NSLOTS - 1)) == b"OK"
    else:
        srv = t.server(list(args))
    wait_for(lambda: cluster_info(srv).get("cluster_state") == "ok", 20, what="cluster_state:ok")
    return srv


def my_host(srv):
    """The host a one-node cluster reports for itself: Redis leaves it empty
    until a peer tells it its address; ringcache knows its bind address."""
    return "" if is_redis() else srv.host


# ---------------------------------------------------------------------------
# One node
# ---------------------------------------------------------------------------


@test
def test_cluster_info_lines_and_values(t):
    srv = start_node(t)
    raw = call(srv, "CLUSTER", "INFO")
    m = re.match(rb"\$(\d+)\r\n", raw)
    assert m, raw[:40]
    text = raw[m.end():-2].decode()
    assert len(raw) == m.end() + int(m.group(1)) + 2
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), repr(text)
    lines = text[:-2].split("\r\n")
    keys = [ln.partition(":")[0] for ln in lines]
    expect = REDIS_INFO_KEYS + ([] if is_redis() else RC_INFO_KEYS)
    assert keys == expect, keys
    info = parse_info(text)
    assert info["cluster_state"] == "ok"
    for k in ("cluster_slots_assigned", "cluster_slots_ok"):
        assert info[k] == str(NSLOTS), (k, info[k])
    assert info["cluster_slots_pfail"] == "0" and info["cluster_slots_fail"] == "0"
    assert info["cluster_known_nodes"] == "1" and info["cluster_size"] == "1"
    assert info["cluster_current_epoch"] == info["cluster_my_epoch"]
    for k in REDIS_INFO_KEYS[7:]:
        assert info[k].isdigit(), (k, info[k])
    if not is_redis():
        assert info["cluster_coordinator"] == value(srv, "CLUSTER", "MYID").decode()
        assert info["cluster_membership"] == "ok"
        assert info["cluster_replicas"].isdigit()
        assert info["cluster_slots_degraded"] == "0" and info["cluster_slots_lost"] == "0"


@test
def test_cluster_info_is_verbatim_in_resp3(t):
    srv = start_node(t)
    raw = call(srv, "CLUSTER", "INFO", resp3=True)
    m = re.match(rb"=(\d+)\r\ntxt:", raw)
    assert m, raw[:40]
    assert len(raw) == m.end() - 4 + int(m.group(1)) + 2
    assert raw[m.end():].startswith(b"cluster_state:ok\r\n")


@test
def test_cluster_myid_and_myshardid(t):
    srv = start_node(t)
    myid = value(srv, "CLUSTER", "MYID")
    assert re.fullmatch(rb"[0-9a-f]{40}", myid), myid
    assert value(srv, "CLUSTER", "MYID") == myid  # stable
    if not is_redis():  # MYSHARDID came with Redis 7.2
        assert value(srv, "CLUSTER", "MYSHARDID") == myid


@test
def test_cluster_nodes_one_node(t):
    srv = start_node(t)
    myid = value(srv, "CLUSTER", "MYID").decode()
    epoch = cluster_info(srv)["cluster_current_epoch"]
    raw = call(srv, "CLUSTER", "NODES")
    text = parse_reply(raw).decode()
    assert raw.startswith(b"$")
    assert text == "%s %s:%d@%d myself,master - 0 0 %s connected 0-16383\n" % (
        myid, my_host(srv), srv.port, srv.port + 10000, epoch), repr(text)
    raw3 = call(srv, "CLUSTER", "NODES", resp3=True)
    assert raw3.startswith(b"=%d\r\ntxt:" % (len(text) + 4)), raw3[:20]
    # A master without replicas: CLUSTER REPLICAS and SLAVES are empty.
    assert call(srv, "CLUSTER", "REPLICAS", myid) == b"*0\r\n"
    assert call(srv, "CLUSTER", "SLAVES", myid) == b"*0\r\n"


@test
def test_cluster_slots_one_node(t):
    srv = start_node(t)
    myid = value(srv, "CLUSTER", "MYID")
    host = my_host(srv).encode()
    node = b"*4\r\n$%d\r\n%s\r\n:%d\r\n$40\r\n%s\r\n" % (len(host), host, srv.port, myid)
    assert call(srv, "CLUSTER", "SLOTS") == b"*1\r\n*3\r\n:0\r\n:16383\r\n" + node + b"*0\r\n"
    assert call(srv, "CLUSTER", "SLOTS", resp3=True) == b"*1\r\n*3\r\n:0\r\n:16383\r\n" + node + b"%0\r\n"


@test
def test_cluster_shards_one_node(t):
    srv = start_node(t)
    myid = value(srv, "CLUSTER", "MYID")
    host = my_host(srv).encode()
    shard2 = [b"slots", [0, NSLOTS - 1], b"nodes",
              [[b"id", myid, b"port", srv.port, b"ip", host, b"endpoint", host, b"role", b"master",
                b"replication-offset", 0, b"health", b"online"]]]
    assert value(srv, "CLUSTER", "SHARDS") == [shard2]
    shard3 = value(srv, "CLUSTER", "SHARDS", resp3=True)
    assert shard3 == [{b"slots": [0, NSLOTS - 1],
                       b"nodes": [{b"id": myid, b"port": srv.port, b"ip": host, b"endpoint": host,
                                   b"role": b"master", b"replication-offset": 0,
                                   b"health": b"online"}]}], shard3


@test
def test_cluster_keyslot(t):
    srv = start_node(t)
    for key in ["foo", "", "{user1}.following", "{user1}.followers", "a{}b", "{}", "x{y}z{w}",
                "{{a}}", "\xff\x00bin"]:
        got = value(srv, "CLUSTER", "KEYSLOT", key.encode("latin-1"))
        assert got == keyslot(key.encode("latin-1")), (key, got)
    assert value(srv, "CLUSTER", "KEYSLOT", "foo") == 12182
    assert value(srv, "CLUSTER", "KEYSLOT", "{user1}.x") == 8106


@test
def test_cluster_keys_in_slot(t):
    srv = start_node(t)
    r = srv.client()
    keys = ["{tag}%d" % i for i in range(50)] + ["k%d" % i for i in range(200)]
    for k in keys:
        r.set(k, "v")
    r.set("{tag}gone", "v", px=1)  # expired keys do not count
    wait_for(lambda: r.exists("{tag}gone") == 0, what="{tag}gone expired")
    slot = keyslot("{tag}")
    assert value(srv, "CLUSTER", "COUNTKEYSINSLOT", slot) == 50
    got = value(srv, "CLUSTER", "GETKEYSINSLOT", slot, 1000)
    assert sorted(got) == sorted(k.encode() for k in keys[:50]), got
    some = value(srv, "CLUSTER", "GETKEYSINSLOT", slot, 7)
    assert len(some) == 7 and set(some) <= set(got)
    assert value(srv, "CLUSTER", "GETKEYSINSLOT", slot, 0) == []
    k0 = keyslot("k0")
    assert value(srv, "CLUSTER", "COUNTKEYSINSLOT", k0) == sum(1 for k in keys if keyslot(k) == k0)
    empty = next(s for s in range(NSLOTS) if all(keyslot(k) != s for k in keys))
    assert value(srv, "CLUSTER", "COUNTKEYSINSLOT", empty) == 0
    assert call(srv, "CLUSTER", "GETKEYSINSLOT", empty, 10) == b"*0\r\n"


@test
def test_cluster_argument_errors(t):
    srv = start_node(t)
    cases = [
        (("CLUSTER",), "ERR wrong number of arguments for 'cluster' command"),
        (("CLUSTER", "NOSUCH"), "ERR unknown subcommand 'NOSUCH'. Try CLUSTER HELP."),
        (("CLUSTER", "INFO", "x"), "ERR wrong number of arguments for 'cluster|info' command"),
        (("CLUSTER", "MYID", "x"), "ERR wrong number of arguments for 'cluster|myid' command"),
        (("CLUSTER", "NODES", "x"), "ERR wrong number of arguments for 'cluster|nodes' command"),
        (("CLUSTER", "SLOTS", "x"), "ERR wrong number of arguments for 'cluster|slots' command"),
        (("CLUSTER", "SHARDS", "x"), "ERR wrong number of arguments for 'cluster|shards' command"),
        (("CLUSTER", "KEYSLOT"), "ERR wrong number of arguments for 'cluster|keyslot' command"),
        (("CLUSTER", "KEYSLOT", "a", "b"), "ERR wrong number of arguments for 'cluster|keyslot' command"),
        (("CLUSTER", "HELP", "x"), "ERR wrong number of arguments for 'cluster|help' command"),
        (("CLUSTER", "REPLICAS"), "ERR wrong number of arguments for 'cluster|replicas' command"),
        (("CLUSTER", "SLAVES", "a", "b"), "ERR wrong number of arguments for 'cluster|slaves' command"),
        (("CLUSTER", "REPLICAS", "nosuchnode"), "ERR Unknown node nosuchnode"),
        (("CLUSTER", "SLAVES", "0" * 40), "ERR Unknown node " + "0" * 40),
        (("CLUSTER", "COUNTKEYSINSLOT"),
         "ERR wrong number of arguments for 'cluster|countkeysinslot' command"),
        (("CLUSTER", "COUNTKEYSINSLOT", "abc"), "ERR value is not an integer or out of range"),
        (("CLUSTER", "COUNTKEYSINSLOT", "16384"), "ERR Invalid slot"),
        (("CLUSTER", "COUNTKEYSINSLOT", "-1"), "ERR Invalid slot"),
        (("CLUSTER", "GETKEYSINSLOT", "0"),
         "ERR wrong number of arguments for 'cluster|getkeysinslot' command"),
        (("CLUSTER", "GETKEYSINSLOT", "abc", "1"), "ERR value is not an integer or out of range"),
        (("CLUSTER", "GETKEYSINSLOT", "16384", "abc"), "ERR value is not an integer or out of range"),
        (("CLUSTER", "GETKEYSINSLOT", "16384", "1"), "ERR Invalid slot or number of keys"),
        (("CLUSTER", "GETKEYSINSLOT", "-1", "1"), "ERR Invalid slot or number of keys"),
        (("CLUSTER", "GETKEYSINSLOT", "0", "-1"), "ERR Invalid slot or number of keys"),
        (("READONLY", "x"), "ERR wrong number of arguments for 'readonly' command"),
        (("READWRITE", "x"), "ERR wrong number of arguments for 'readwrite' command"),
        (("ASKING", "x"), "ERR wrong number of arguments for 'asking' command"),
    ]
    for args, err in cases:
        got = value(srv, *args)
        assert got == RespError(err), (args, got)


@test
def test_cluster_help(t):
    srv = start_node(t)
    lines = value(srv, "CLUSTER", "HELP")
    assert lines[0] == b"CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[-2:] == [b"HELP", b"    Prints this help."]
    for sub in (b"INFO", b"MYID", b"NODES", b"SLOTS", b"SHARDS", b"KEYSLOT <key>", b"REPLICAS <node-id>",
                b"COUNTKEYSINSLOT <slot>", b"GETKEYSINSLOT <slot> <count>"):
        assert sub in lines, sub
    if not is_redis():
        assert b"LEAVE" in lines and b"MYSHARDID" in lines
    assert call(srv, "cluster", "help").startswith(b"*%d\r\n+CLUSTER " % len(lines))


@test
def test_readonly_readwrite_asking(t):
    srv = start_node(t)
    c = srv.raw()
    for cmd in ("READONLY", "READWRITE", "ASKING", "readonly"):
        assert c.call(cmd) == b"+OK\r\n", cmd


@test
def test_info_cluster_section(t):
    srv = start_node(t)
    text = value(srv, "INFO", "cluster").decode()
    assert text.startswith("# Cluster\r\ncluster_enabled:1\r\n"), repr(text)
    assert "# Cluster" in value(srv, "INFO").decode()
    if is_redis():
        return
    info = parse_info(text)
    myid = value(srv, "CLUSTER", "MYID").decode()
    assert info["cluster_state"] == "ok"
    assert info["cluster_epoch"] == cluster_info(srv)["cluster_current_epoch"]
    assert info["cluster_members"] == "1"
    assert info["cluster_my_id"] == myid
    assert info["cluster_my_slots"] == str(NSLOTS)
    assert info["cluster_coordinator"] == myid
    assert info["cluster_membership"] == "ok"
    assert info["forwarded_commands"].isdigit() and info["forward_errors"].isdigit()


@test
def test_cluster_leave_last_member_refused(t):
    if is_redis():
        print("  (skipped: CLUSTER LEAVE is ringcache's own)")
        return
    srv = start_node(t)
    got = value(srv, "CLUSTER", "LEAVE")
    assert isinstance(got, RespError) and str(got).startswith("ERR "), got
    assert cluster_info(srv)["cluster_state"] == "ok"  # still serving
    assert value(srv, "PING") == b"PONG"


@test
def test_redis_py_cluster_client(t):
    srv = start_node(t)
    rc = rctest.redis.RedisCluster(host=srv.host, port=srv.port, socket_timeout=10 * rctest.timeout_scale())
    try:
        for i in range(100):
            assert rc.set("key:%d" % i, str(i))
        for i in range(100):
            assert rc.get("key:%d" % i) == str(i).encode()
        assert rc.keyslot("foo") == 12182
        node = rc.get_node_from_key("foo")
        assert node.port == srv.port
        assert rc.cluster_info()["cluster_state"] == "ok"
    finally:
        rc.close()


@test
def test_redis_cli_cluster_mode(t):
    srv = start_node(t)
    assert srv.cli("-c", "SET", "{a}b", "1") == "OK"
    assert srv.cli("-c", "GET", "{a}b") == "1"
    out = srv.cli("CLUSTER", "INFO")
    assert out.startswith("cluster_state:ok"), out


# ---------------------------------------------------------------------------
# Three nodes (ringcached only)
# ---------------------------------------------------------------------------


def slot_owners(srv):
    """slot -> (host, port, id) from CLUSTER SLOTS; asserts no overlap."""
    owners = {}
    for entry in value(srv, "CLUSTER", "SLOTS"):
        start, end, primary = entry[0], entry[1], entry[2]
        assert 0 <= start <= end < NSLOTS, entry
        assert len(primary) == 4 and primary[3] == [], entry
        for s in range(start, end + 1):
            assert s not in owners, "slot %d listed twice" % s
            owners[s] = tuple(primary[:3])
    return owners


@test(slow=True)
def test_three_nodes_agree(t):
    if is_redis():
        print("  (skipped: ringcache's --join)")
        return
    first = start_node(t, ["--cluster-replicas", "0"])  # the joiners take the cluster's R
    seed = "%s:%d" % (first.host, first.port)
    nodes = [first] + [t.server(["--join", seed]) for _ in range(2)]

    def agreed():
        infos = [cluster_info(n) for n in nodes]
        if any(i.get("cluster_state") != "ok" or i.get("cluster_known_nodes") != "3"
               or i.get("cluster_in_transition", "0") != "0" for i in infos):
            return None
        if len({i["cluster_current_epoch"] for i in infos}) != 1:
            return None
        return infos

    infos = wait_for(agreed, 30, what="three nodes agreeing on one configuration")
    for i in infos:
        assert i["cluster_slots_assigned"] == str(NSLOTS) and i["cluster_slots_ok"] == str(NSLOTS)
        assert i["cluster_size"] == "3", i
        assert i["cluster_coordinator"] == infos[0]["cluster_coordinator"]
    ids = {value(n, "CLUSTER", "MYID") for n in nodes}
    assert len(ids) == 3
    # R=0: no replica anywhere, nothing degraded.
    for i in infos:
        assert i["cluster_replicas"] == "0" and i["cluster_slots_degraded"] == "0", i
        assert i["cluster_slots_lost"] == "0", i
    for n in nodes:
        assert all(len(entry) == 3 for entry in value(n, "CLUSTER", "SLOTS"))
        for i in ids:
            assert value(n, "CLUSTER", "REPLICAS", i) == []
    cluster_check(first)
    tables = [slot_owners(n) for n in nodes]
    assert len(tables[0]) == NSLOTS, "slots not covered: %d" % len(tables[0])
    assert tables[0] == tables[1] == tables[2]
    assert {o[2] for o in tables[0].values()} == ids
    assert {(o[0], o[1]) for o in tables[0].values()} == {(n.host.encode(), n.port) for n in nodes}

    # CLUSTER NODES: one line per member, one of them myself, the same slots.
    epoch = infos[0]["cluster_current_epoch"]
    for n in nodes:
        lines = value(n, "CLUSTER", "NODES").decode().split("\n")
        assert lines[-1] == "" and len(lines) == 4, lines
        seen = {}
        for ln in lines[:-1]:
            f = ln.split(" ")
            assert re.fullmatch(r"[0-9a-f]{40}", f[0]) and f[3] == "-" and f[6] == epoch, ln
            assert f[2] in ("myself,master", "master"), ln
            assert f[7] == "connected", ln
            assert re.fullmatch(r"[^:]+:\d+@\d+", f[1]), ln
            for r in f[8:]:
                a, _, b = r.partition("-")
                for s in range(int(a), int(b or a) + 1):
                    assert s not in seen
                    seen[s] = f[0].encode()
        assert sum(1 for ln in lines[:-1] if " myself," in ln) == 1
        assert seen == {s: o[2] for s, o in tables[0].items()}

    # CLUSTER SHARDS: the same slots, one shard per member.
    for n in nodes:
        shards = value(n, "CLUSTER", "SHARDS")
        assert len(shards) == 3
        total = 0
        for sh in shards:
            d = dict(zip(sh[::2], sh[1::2]))
            node = dict(zip(d[b"nodes"][0][::2], d[b"nodes"][0][1::2]))
            assert node[b"health"] == b"online" and node[b"role"] == b"master"
            pairs = d[b"slots"]
            for a, b in zip(pairs[::2], pairs[1::2]):
                for s in range(a, b + 1):
                    assert tables[0][s][2] == node[b"id"]
                    total += 1
        assert total == NSLOTS

    # A cluster client routes by it: every key readable through every node.
    rc = rctest.redis.RedisCluster(host=first.host, port=first.port,
                                   socket_timeout=10 * rctest.timeout_scale())
    try:
        for i in range(300):
            rc.set("k%d" % i, str(i))
        for i in range(300):
            assert rc.get("k%d" % i) == str(i).encode()
    finally:
        rc.close()
    for n in nodes:
        r = n.client()
        for i in range(0, 300, 7):
            assert r.get("k%d" % i) == str(i).encode()
        mine = int(parse_info(value(n, "INFO", "cluster"))["cluster_my_slots"])
        owned = sum(1 for o in tables[0].values() if o[1] == n.port)
        assert mine == owned, (mine, owned)


# ---------------------------------------------------------------------------
# Replicas (issue 14): cluster-replicas R on three nodes (ringcached only)
# ---------------------------------------------------------------------------


def cluster_check(srv):
    """redis-cli --cluster check against 'srv': it must pass."""
    out = subprocess.run(["redis-cli", "--cluster", "check", "%s:%d" % (srv.host, srv.port)],
                                capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "[OK] All nodes agree about slots configuration." in text, text
    assert "[OK] All 16384 slots covered." in text, text
    assert "[ERR]" not in text and "[WARNING]" not in text, text


def start_replicated(t, n, r, metrics=False):
    """An n-node cluster with cluster-replicas 'r', once every node agrees.
    Returns [(server, metrics port or None)]."""
    out = []
    for i in range(n):
        extra = ["--cluster-replicas", str(r)]
        for _ in range(5):
            mport = rctest.free_port() if metrics else None
            try:
                srv = rccluster._start_one(t, join=out[0][0] if out else None,
                                           extra=extra + (["--metrics-port", str(mport)] if metrics else []))
                break
            except AssertionError as e:
                if not metrics or "in use" not in str(e).lower():
                    raise
        out.append((srv, mport))
    rccluster.wait_agree([s for s, _ in out], timeout=30 * rctest.timeout_scale())
    return out


def slots_entries(srv):
    """CLUSTER SLOTS as [(start, end, primary id, [replica ids])], each node
    entry checked: [ip, port, 40-hex id, {}]. Also returns id -> (ip, port)."""
    entries, addr = [], {}
    for entry in value(srv, "CLUSTER", "SLOTS"):
        assert len(entry) >= 3 and 0 <= entry[0] <= entry[1] < NSLOTS, entry
        for node in entry[2:]:
            assert len(node) == 4 and node[3] == [] and re.fullmatch(rb"[0-9a-f]{40}", node[2]), entry
            assert addr.setdefault(node[2], (node[0], node[1])) == (node[0], node[1]), entry
        entries.append((entry[0], entry[1], entry[2][2], [node[2] for node in entry[3:]]))
    return entries, addr


def replicated_table(srv, r, nnodes):
    """Checks CLUSTER SLOTS on a settled cluster with R = 'r': every slot
    covered once, min(r, nnodes - 1) distinct replicas per range, none of
    them the primary, ranges maximal. Returns slot -> (primary, replicas)."""
    entries, _ = slots_entries(srv)
    table = {}
    want = min(r, nnodes - 1)
    for i, (start, end, primary, reps) in enumerate(entries):
        assert len(reps) == want, (start, end, primary, reps)
        assert primary not in reps and len(set(reps)) == len(reps), (start, end, primary, reps)
        if i > 0 and entries[i - 1][1] + 1 == start:  # maximal: the neighbour differs
            assert (entries[i - 1][2], entries[i - 1][3]) != (primary, reps), (entries[i - 1], entries[i])
        for sl in range(start, end + 1):
            assert sl not in table, "slot %d listed twice" % sl
            table[sl] = (primary, tuple(reps))
    assert len(table) == NSLOTS, len(table)
    return table


def shards_of(srv):
    """CLUSTER SHARDS as {master id: (set of slots, set of replica ids)}."""
    out = {}
    for sh in value(srv, "CLUSTER", "SHARDS"):
        d = dict(zip(sh[::2], sh[1::2]))
        nodes = [dict(zip(nd[::2], nd[1::2])) for nd in d[b"nodes"]]
        assert nodes[0][b"role"] == b"master", nodes
        for nd in nodes:
            assert nd[b"health"] == b"online" and nd[b"replication-offset"] == 0, nd
            assert set(nd) == {b"id", b"port", b"ip", b"endpoint", b"role", b"replication-offset",
                               b"health"}, nd
        assert all(nd[b"role"] == b"replica" for nd in nodes[1:]), nodes
        slots = set()
        pairs = d[b"slots"]
        for a, b in zip(pairs[::2], pairs[1::2]):
            slots.update(range(a, b + 1))
        master = nodes[0][b"id"]
        assert master not in out
        out[master] = (slots, {nd[b"id"] for nd in nodes[1:]})
    return out


def check_replicated(nodes, r):
    """SLOTS, SHARDS, NODES, REPLICAS and INFO agree on every node of a
    settled cluster with R = 'r'; returns the slot table."""
    table = replicated_table(nodes[0], r, len(nodes))
    ids = {value(n, "CLUSTER", "MYID") for n in nodes}
    assert {p for p, _ in table.values()} == ids  # every node a primary ...
    assert r == 0 or {x for _, reps in table.values() for x in reps} == ids  # ... and a replica
    # The replicas of a primary: every member holding a copy of one of its slots.
    reps_of = {i: set() for i in ids}
    for p, reps in table.values():
        reps_of[p].update(reps)
    epoch = cluster_info(nodes[0])["cluster_current_epoch"]
    for n in nodes:
        info = cluster_info(n)
        assert info["cluster_state"] == "ok" and info["cluster_current_epoch"] == epoch, info
        assert info["cluster_replicas"] == str(r), info
        assert info["cluster_slots_degraded"] == "0" and info["cluster_slots_lost"] == "0", info
        assert replicated_table(n, r, len(nodes)) == table
        # SHARDS: one shard per primary, its slots, its replicas.
        shards = shards_of(n)
        assert set(shards) == ids
        for sl, (p, reps) in table.items():
            assert sl in shards[p][0] and set(reps) <= shards[p][1], (sl, p, reps, shards[p][1])
        assert sum(len(sh[0]) for sh in shards.values()) == NSLOTS
        assert {m: sh[1] for m, sh in shards.items()} == reps_of
        # NODES: every member a master with its primary slots, none failed.
        lines = value(n, "CLUSTER", "NODES").decode().split("\n")[:-1]
        assert len(lines) == len(nodes), lines
        by_id = {}
        for ln in lines:
            f = ln.split(" ")
            assert f[2] in ("master", "myself,master") and f[3] == "-" and f[7] == "connected", ln
            by_id[f[0].encode()] = f
            for rg in f[8:]:
                a, _, b = rg.partition("-")
                for sl in range(int(a), int(b or a) + 1):
                    assert table[sl][0] == f[0].encode(), (sl, ln)
        # REPLICAS / SLAVES <id>: the NODES lines of the shard's replicas.
        for i in ids:
            for sub in ("REPLICAS", "SLAVES"):
                got = value(n, "CLUSTER", sub, i)
                assert {ln.split(b" ")[0] for ln in got} == reps_of[i], (sub, i, got)
                for ln in got:
                    f = ln.decode().split(" ")
                    assert "\n" not in ln.decode() and len(f) >= 8, ln
                    want = by_id[f[0].encode()]
                    assert f[:4] + f[6:] == want[:4] + want[6:], (ln, want)  # pings aside
    return table


def check_cluster_client(nodes, table, nkeys=300):
    """redis-py RedisCluster writes and reads through the listed primaries."""
    port_of = {value(n, "CLUSTER", "MYID"): n.port for n in nodes}
    rc = rctest.redis.RedisCluster(host=nodes[0].host, port=nodes[0].port,
                                   socket_timeout=10 * rctest.timeout_scale())
    try:
        for i in range(nkeys):
            assert rc.set("rk%d" % i, str(i))
        for i in range(nkeys):
            assert rc.get("rk%d" % i) == str(i).encode()
            primary = table[keyslot("rk%d" % i)][0]
            assert rc.get_node_from_key("rk%d" % i).port == port_of[primary]
        assert rc.cluster_info()["cluster_state"] == "ok"
    finally:
        rc.close()


@test(slow=True)
def test_replicas_r1_listed_in_slots_shards_nodes(t):
    if is_redis():
        print("  (skipped: ringcache's cluster-replicas on --join)")
        return
    nodes = [s for s, _ in start_replicated(t, 3, 1)]
    table = check_replicated(nodes, 1)
    pairs = {(p, reps[0]) for p, reps in table.values()}
    print("  R=1: %d primary/replica pairs over %d ranges" % (len(pairs), len(slots_entries(nodes[0])[0])))
    cluster_check(nodes[0])
    check_cluster_client(nodes, table)


@test(slow=True)
def test_replicas_r2_three_nodes_every_node_holds_every_slot(t):
    if is_redis():
        print("  (skipped: ringcache's cluster-replicas on --join)")
        return
    nodes = [s for s, _ in start_replicated(t, 3, 2)]
    table = check_replicated(nodes, 2)
    ids = {value(n, "CLUSTER", "MYID") for n in nodes}
    assert all({p, *reps} == ids for p, reps in table.values())
    cluster_check(nodes[0])
    check_cluster_client(nodes, table, nkeys=100)


@test(slow=True)
def test_replicas_r1_kill9_surviving_copy_is_primary(t):
    if is_redis():
        print("  (skipped: ringcache's cluster-replicas on --join)")
        return
    pairs = start_replicated(t, 3, 1, metrics=True)
    nodes = [s for s, _ in pairs]
    before = check_replicated(nodes, 1)
    victim = nodes[1]
    vid = value(victim, "CLUSTER", "MYID")
    survivors = [p for p in pairs if p[0] is not victim]
    watch, mport = survivors[0]
    epoch0 = int(cluster_info(watch)["cluster_current_epoch"])
    t.adopt(victim, expect_dead=True)
    rctest.kill_node(victim)

    # The configuration that removes the dead node hands each of its slots
    # to the surviving copy (the slot's replica) until the hand-off to the
    # new placement ends; catch that window if it lasts long enough to see.
    seen = []

    def removal_seen():
        info = cluster_info(watch)
        if info["cluster_known_nodes"] != "2":
            return False
        if info["cluster_in_transition"] != "1":
            return True  # settled already: nothing more to catch
        entries, addr = slots_entries(watch)
        metrics = scrape_metrics(mport)
        after = cluster_info(watch)
        if after["cluster_current_epoch"] != info["cluster_current_epoch"] or after["cluster_in_transition"] != "1":
            return False  # moved on while we read: look again
        seen.append((info, entries, addr, metrics))
        return True

    wait_for(removal_seen, 30 * rctest.timeout_scale(), interval=0.002, what="the dead node removed")
    if seen:
        info, entries, addr, metrics = seen[0]
        assert vid not in addr, "the dead node is still listed"
        assert int(info["cluster_current_epoch"]) > epoch0
        now = {}
        for start, end, p, reps in entries:
            for sl in range(start, end + 1):
                now[sl] = (p, tuple(reps))
        assert len(now) == NSLOTS
        had_copy = 0
        for sl, (p, reps) in before.items():
            if p == vid:  # its surviving copy serves it, alone for now
                assert now[sl] == (reps[0], ()), (sl, before[sl], now[sl])
            elif vid in reps:  # its primary keeps it, without a replica for now
                assert now[sl] == (p, ()), (sl, before[sl], now[sl])
            had_copy += p == vid or vid in reps
        assert info["cluster_slots_degraded"] == str(had_copy), (info, had_copy)
        assert info["cluster_slots_lost"] == "0" and info["cluster_state"] == "ok", info
        assert metrics["ringcache_slots_degraded"] == had_copy, metrics
        assert metrics["ringcache_slots_lost"] == 0, metrics
        print("  caught the hand-off: %d slots with one copy left" % had_copy)
    else:
        print("  (the hand-off ended before it could be read)")

    # Settled: two members, every slot on both again, nothing degraded.
    rccluster.wait_agree([s for s, _ in survivors], timeout=30 * rctest.timeout_scale())
    after = check_replicated([s for s, _ in survivors], 1)
    assert all(vid != p and vid not in reps for p, reps in after.values())
    for _, mp in survivors:
        m = scrape_metrics(mp)
        assert m["ringcache_slots_degraded"] == 0 and m["ringcache_slots_lost"] == 0, m
    cluster_check(survivors[0][0])


def scrape_metrics(port):
    """The metrics endpoint's unlabelled samples: {name: float}."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        body = r.read().decode()
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            k, _, v = line.partition(" ")
            out[k] = float(v)
    return out


if __name__ == "__main__":
    rctest.run()
