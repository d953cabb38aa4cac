#!/usr/bin/python3
"""Issue 5, data plane: a plain client on one node of a 3-node cluster reads
and writes keys owned elsewhere (forwarded over the data links and relayed),
pipelined replies stay in request order, MGET/MSET/DEL/EXISTS/UNLINK/TOUCH
spanning nodes are split and gathered, CROSSSLOT for other multi-key
commands, -MOVED with cluster-redirects yes, and an owner killed
mid-pipeline gives errors or correct replies, never a hang."""

import socket
import threading
import time

import rccluster
import rctest
from rctest import test

import redis


def skip_redis(name):
    if rctest.is_redis():
        print("[skip] %s: ringcache forwarding" % name)
        return True
    return False


def owners(nodes):
    """slot -> (host, port) of its primary, from CLUSTER SLOTS."""
    table = {}
    for lo, hi, ns in rccluster._slots(nodes[0]):
        for s in range(lo, hi + 1):
            table[s] = ns[0]
    return table


def keyslot(node, key):
    return node.client().execute_command("CLUSTER", "KEYSLOT", key)


def keys_by_owner(nodes, count_each=20):
    """{(host, port): [keys]} with count_each keys for every node."""
    table = owners(nodes)
    c = nodes[0].client()
    out = {("127.0.0.1", n.port): [] for n in nodes}
    i = 0
    while any(len(v) < count_each for v in out.values()):
        key = "k:%d" % i
        i += 1
        own = table[c.execute_command("CLUSTER", "KEYSLOT", key)]
        own = (own[0], own[1])
        if own in out and len(out[own]) < count_each:
            out[own].append(key)
    return out


def start(t, extra=()):
    nodes = rccluster.start_cluster(t, 3, extra=extra)

    def ok():
        try:
            return all(rccluster.cluster_info(n).get("cluster_state") == "ok" for n in nodes)
        except Exception:
            return False

    rctest.wait_for(ok, timeout=20, what="cluster_state ok")
    return nodes


@test
def test_get_set_keys_owned_elsewhere(t):
    if skip_redis("test_get_set_keys_owned_elsewhere"):
        return
    nodes = start(t)
    by = keys_by_owner(nodes, 50)
    entry = nodes[0].client()
    for own, keys in by.items():
        for k in keys:
            assert entry.set(k, "v-" + k) is True
    for n in nodes:
        c = n.client()
        for own, keys in by.items():
            for k in keys:
                assert c.get(k) == ("v-" + k).encode(), (n.port, own, k)
    # the value lives on its owner only
    for own, keys in by.items():
        c = redis.Redis(host=own[0], port=own[1])
        assert c.get(keys[0]) is not None
    # redis-cli, plain (no -c)
    other = [k for own, ks in by.items() if own[1] != nodes[0].port for k in ks][0]
    out = nodes[0].cli("GET", other).strip()
    assert out == "v-" + other, out
    info = rccluster.cluster_info(nodes[0])
    assert int(info.get("cluster_stats_forwarded_commands", info.get("forwarded_commands", "1"))) >= 1


@test
def test_pipeline_mixed_replies_in_order(t):
    if skip_redis("test_pipeline_mixed_replies_in_order"):
        return
    nodes = start(t)
    by = keys_by_owner(nodes, 30)
    keys = [k for ks in by.values() for k in ks]
    entry = nodes[0].client()
    for k in keys:
        entry.set(k, k)
    p = entry.pipeline(transaction=False)
    expect = []
    for i in range(1000):
        k = keys[(i * 7) % len(keys)]
        if i % 5 == 0:
            p.ping()
            expect.append(True)
        elif i % 5 == 1:
            p.incr("ctr:" + k)
            expect.append(None)  # checked below
        else:
            p.get(k)
            expect.append(k.encode())
    res = p.execute()
    assert len(res) == 1000
    counters = {}
    for i, (r, e) in enumerate(zip(res, expect)):
        if i % 5 == 1:
            k = keys[(i * 7) % len(keys)]
            counters[k] = counters.get(k, 0) + 1
            assert r == counters[k], (i, r, counters[k])
        else:
            assert r == e, (i, r, e)
    # raw pipeline over one socket, RESP3 too
    for proto in (2, 3):
        conn = rctest.RawConn("127.0.0.1", nodes[1].port, timeout=20)
        if proto == 3:
            conn.call("HELLO", "3")
        payload = b"".join(rctest.encode_command("GET", keys[i % len(keys)]) for i in range(1000))
        conn.send(payload)
        for i in range(1000):
            r = conn.read_reply()
            v = rctest.parse_reply(r)
            assert v == keys[i % len(keys)].encode(), (proto, i, v)
        conn.close()


@test
def test_multikey_commands_split_and_gathered(t):
    if skip_redis("test_multikey_commands_split_and_gathered"):
        return
    nodes = start(t)
    by = keys_by_owner(nodes, 5)
    keys = []
    for i in range(5):
        for ks in by.values():
            keys.append(ks[i])
    c = nodes[1].client()
    assert c.mset({k: "m-" + k for k in keys}) is True
    assert c.mget(keys) == [("m-" + k).encode() for k in keys]
    missing = ["nope:%d" % i for i in range(6)]
    mixed = [keys[0], missing[0], keys[4], missing[1], keys[8]]
    assert c.mget(mixed) == [b"m-" + keys[0].encode(), None, b"m-" + keys[4].encode(), None,
                             b"m-" + keys[8].encode()]
    assert c.exists(*keys) == len(keys)
    assert c.exists(*(keys + keys[:3])) == len(keys) + 3
    assert c.touch(*keys[:6]) == 6
    assert c.delete(*keys[:6]) == 6
    assert c.unlink(*keys[6:9], *missing) == 3
    assert c.exists(*keys) == len(keys) - 9
    assert c.mget(keys[:3]) == [None, None, None]
    # MGET of a list is nil, as in Redis
    c.delete(keys[10])
    c.rpush(keys[10], "x")
    assert c.mget(keys[9], keys[10], keys[11]) == [b"m-" + keys[9].encode(), None,
                                                   b"m-" + keys[11].encode()]
    # an error in one part becomes the answer (odd MSET arity is local: arity error)
    try:
        c.execute_command("MSET", keys[9], "1", keys[11])
        raise AssertionError("MSET with a missing value must fail")
    except redis.ResponseError as e:
        assert "wrong number of arguments" in str(e), e
    # RESP3 client
    r3 = rctest.RawConn("127.0.0.1", nodes[2].port, timeout=10)
    r3.call("HELLO", "3")
    v = rctest.parse_reply(r3.call("MGET", keys[11], "nope:x", keys[12]))
    assert v == [b"m-" + keys[11].encode(), None, b"m-" + keys[12].encode()], v
    r3.close()


@test
def test_crossslot_and_moved(t):
    if skip_redis("test_crossslot_and_moved"):
        return
    nodes = start(t)
    by = keys_by_owner(nodes, 2)
    owner_keys = list(by.items())
    a = owner_keys[0][1][0]
    b = owner_keys[1][1][0]
    c = nodes[0].client()
    try:
        c.execute_command("MSETNX", a, "1", b, "2")
        raise AssertionError("MSETNX across owners must fail")
    except redis.ResponseError as e:
        assert str(e).startswith("CROSSSLOT"), e
    # same-owner MSETNX is forwarded whole
    a2 = owner_keys[1][1][1]
    assert c.execute_command("MSETNX", b, "1", a2, "2") == 1


@test
def test_redirects_flag_on_start(t):
    if skip_redis("test_redirects_flag_on_start"):
        return
    nodes = start(t, extra=("--cluster-redirects", "yes"))
    by = keys_by_owner(nodes, 2)
    keys = [k for own, ks in by.items() if own[1] != nodes[0].port for k in ks]
    table = owners(nodes)
    raw = rctest.RawConn("127.0.0.1", nodes[0].port, timeout=5)
    for own, ks in by.items():
        k = ks[0]
        slot = keyslot(nodes[0], k)
        r = raw.call("GET", k)
        if own[1] == nodes[0].port:
            assert not r.startswith(b"-"), r
        else:
            want = ("-MOVED %d %s:%d\r\n" % (slot, table[slot][0], table[slot][1])).encode()
            assert r == want, (r, want)
    r = raw.call("MGET", keys[0], keys[-1])
    assert r.startswith(b"-CROSSSLOT") or r.startswith(b"-MOVED"), r
    raw.close()
    # redis-py RedisCluster follows it
    import redis.cluster
    rc = redis.cluster.RedisCluster(host="127.0.0.1", port=nodes[0].port)
    for k in keys:
        rc.set(k, "c")
        assert rc.get(k) == b"c"
    rc.close()


@test
def test_owner_killed_mid_pipeline_never_hangs(t):
    if skip_redis("test_owner_killed_mid_pipeline_never_hangs"):
        return
    nodes = start(t, extra=("--cluster-node-timeout", "500"))
    by = keys_by_owner(nodes, 20)
    victim = nodes[2]
    vkeys = by[("127.0.0.1", victim.port)]
    lkeys = by[("127.0.0.1", nodes[0].port)]
    entry = nodes[0].client()
    for k in vkeys + lkeys:
        entry.set(k, k)
    conn = rctest.RawConn("127.0.0.1", nodes[0].port, timeout=15)
    n = 20000
    payload = b"".join(rctest.encode_command("GET", (vkeys + lkeys)[i % 40]) for i in range(n))
    conn.send(payload[: len(payload) // 2])
    rctest.kill_node(victim)
    t.expect_dead.add(id(victim))
    conn.send(payload[len(payload) // 2:])
    errors = 0
    for i in range(n):
        r = conn.read_reply()  # raises on timeout: a hang fails the test
        if r.startswith(b"-"):
            assert r.startswith(b"-TRYAGAIN") or r.startswith(b"-CLUSTERDOWN"), r
            errors += 1
        else:
            k = (vkeys + lkeys)[i % 40]
            assert rctest.parse_reply(r) == k.encode(), (i, r)
    conn.close()
    print("  %d of %d replies were errors after the kill" % (errors, n))
    # After the removal the survivors serve every key again (values of the
    # dead node are gone: memory only).
    survivors = nodes[:2]
    rccluster.wait_agree(survivors, timeout=20)
    c = survivors[1].client()

    def served():
        try:
            c.set(vkeys[0], "again")
            return entry.get(vkeys[0]) == b"again"
        except redis.ResponseError:
            return False

    rctest.wait_for(served, timeout=10, what="keys of the dead node served again")


@test
def test_client_gone_with_forwards_in_flight(t):
    if skip_redis("test_client_gone_with_forwards_in_flight"):
        return
    nodes = start(t)
    by = keys_by_owner(nodes, 10)
    remote = [k for own, ks in by.items() if own[1] != nodes[0].port for k in ks]
    local = by[("127.0.0.1", nodes[0].port)]
    entry = nodes[0].client()
    for k in remote + local:
        entry.set(k, "x" * 100)
    # many clients hang up right after pipelining forwarded requests
    for round_ in range(20):
        s = socket.create_connection(("127.0.0.1", nodes[0].port))
        s.sendall(b"".join(rctest.encode_command("GET", remote[i % len(remote)])
                           for i in range(3000)))
        s.sendall(b"".join(rctest.encode_command("MGET", local[i % len(local)],
                                                 remote[i % len(remote)], remote[-1])
                           for i in range(300)))
        s.close()
    # QUIT after forwarded requests: their replies first, then +OK, then EOF
    conn = rctest.RawConn("127.0.0.1", nodes[0].port, timeout=10)
    conn.send(rctest.encode_command("GET", remote[0]) + rctest.encode_command("GET", local[0]) +
              rctest.encode_command("GET", remote[1]) + rctest.encode_command("QUIT"))
    assert conn.read_reply() == b"$100\r\n" + b"x" * 100 + b"\r\n"
    assert conn.read_reply() == b"$100\r\n" + b"x" * 100 + b"\r\n"
    assert conn.read_reply() == b"$100\r\n" + b"x" * 100 + b"\r\n"
    assert conn.read_reply() == b"+OK\r\n"
    assert conn.read_until_closed(timeout=5) == b""
    conn.close()
    # a protocol error after forwarded requests still answers them in order
    conn = rctest.RawConn("127.0.0.1", nodes[0].port, timeout=10)
    conn.send(rctest.encode_command("GET", remote[0]) + b"*1\r\n$x\r\n")
    assert conn.read_reply() == b"$100\r\n" + b"x" * 100 + b"\r\n"
    assert conn.read_reply().startswith(b"-ERR Protocol error")
    conn.close()
    for n in nodes:
        assert n.client().ping()
        assert n.client().get(remote[0]) == b"x" * 100


@test
def test_stalled_owner_times_out_in_order_with_bounded_capture(t):
    """A forward to a SIGSTOPped owner answers TRYAGAIN after the request
    timeout; the local replies pipelined behind it (more than the output
    pause) wait, then follow in order."""
    if skip_redis("test_stalled_owner_times_out_in_order_with_bounded_capture"):
        return
    nodes = start(t, extra=("--cluster-node-timeout", "5000"))
    by = keys_by_owner(nodes, 5)
    victim = nodes[2]
    vkey = by[("127.0.0.1", victim.port)][0]
    lkey = by[("127.0.0.1", nodes[0].port)][0]
    entry = nodes[0].client()
    entry.set(vkey, "v")
    entry.set(lkey, "x" * 200)
    n = 40000
    payload = rctest.encode_command("GET", vkey) + rctest.encode_command("GET", lkey) * n
    conn = rctest.RawConn("127.0.0.1", nodes[0].port, timeout=30)
    rctest.pause_node(victim)
    try:
        sender = threading.Thread(target=conn.send, args=(payload,))
        t0 = time.monotonic()
        sender.start()
        first = conn.read_reply()
        waited = time.monotonic() - t0
        assert first.startswith(b"-TRYAGAIN forwarding to 127.0.0.1:%d failed" % victim.port), first
        print("  first reply after %.2fs: %r" % (waited, first[:80]))
        assert waited >= 0.5, waited  # timeout (10 s) or removal of the stopped owner
        want = b"$200\r\n" + b"x" * 200 + b"\r\n"
        for i in range(n):
            r = conn.read_reply()
            assert r == want, (i, r[:50])
        sender.join()
        conn.close()
    finally:
        rctest.resume_node(victim)
    rctest.kill_node(victim)
    assert entry.ping()


@test
def test_request_timeout_when_owner_stalls_in_a_minority(t):
    """Two of three nodes stopped: the entry node cannot remove them (no
    majority), so a forward waits for the request timeout, max(2 *
    cluster-node-timeout, cluster-repl-timeout + cluster-node-timeout, 2 s)
    (2.5 s here), and gets TRYAGAIN ... timed out."""
    if skip_redis("test_request_timeout_when_owner_stalls_in_a_minority"):
        return
    nodes = start(t, extra=("--cluster-node-timeout", "500"))
    by = keys_by_owner(nodes, 3)
    k1 = by[("127.0.0.1", nodes[1].port)][0]
    entry = nodes[0].client()
    entry.set(k1, "v")
    for n in nodes[1:]:
        rctest.pause_node(n)
    try:
        conn = rctest.RawConn("127.0.0.1", nodes[0].port, timeout=20)
        t0 = time.monotonic()
        conn.send(rctest.encode_command("GET", k1) + rctest.encode_command("PING"))
        r = conn.read_reply()
        waited = time.monotonic() - t0
        assert r.startswith(b"-TRYAGAIN forwarding to 127.0.0.1:%d failed: timed out" % nodes[1].port), r
        assert 1.5 <= waited <= 8, waited
        assert conn.read_reply() == b"+PONG\r\n"
        # in backoff right after the failure, or a new link that times out again
        r = conn.call("GET", k1)
        assert r.startswith(b"-TRYAGAIN"), r
        conn.close()
    finally:
        for n in nodes[1:]:
            rctest.resume_node(n)

    def answers():
        try:
            return entry.get(k1) == b"v"
        except redis.ResponseError:
            return False  # TRYAGAIN while the link backs off

    rctest.wait_for(answers, timeout=20, what="owner answers again")


@test
def test_bus_port_refuses_garbage_and_silence(t):
    if skip_redis("test_bus_port_refuses_garbage_and_silence"):
        return
    nodes = start(t)
    bus = nodes[1].port + rccluster.BUS_OFFSET
    s = socket.create_connection(("127.0.0.1", bus), timeout=5)
    s.sendall(b"GET foo\r\n" * 10)
    data = b""
    while True:
        chunk = s.recv(4096)  # the HELLO, then EOF; a hang raises socket.timeout
        if not chunk:
            break
        data += chunk
    s.close()
    # RESP on the bus port before the handshake: closed, not run
    silent = socket.create_connection(("127.0.0.1", bus), timeout=15 * rctest.timeout_scale())
    t0 = time.monotonic()
    while silent.recv(4096):
        pass
    took = time.monotonic() - t0
    silent.close()
    assert 9 <= took <= 14, took
    assert nodes[1].client().ping()


if __name__ == "__main__":
    rctest.main()
