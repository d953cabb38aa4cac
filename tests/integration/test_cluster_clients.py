#!/usr/bin/python3
"""Issue 5: a 3-node cluster driven by real clients (redis-cli plain and -c,
redis-py RedisCluster, redis-benchmark --cluster, ioredis Cluster) and a
forwarding-death test. Also runs against a Redis Cluster (--target redis)."""

import os
import shutil
import subprocess
import threading
import time

import redis
import redis.cluster

import rccluster
import rctest
from rctest import test

HERE = os.path.dirname(os.path.abspath(__file__))


def owner_map(cluster):
    """{slot: client port of its primary}, read once from CLUSTER SLOTS."""
    owners = {}
    for lo, hi, nodes in rccluster._slots(cluster[0]):
        for slot in range(lo, hi + 1):
            owners[slot] = nodes[0][1]
    assert len(owners) == 16384, "slots not covered: %d" % len(owners)
    return owners


def owner_port(cluster, key, owners=None):
    return (owners or owner_map(cluster))[rccluster.keyslot(key)]


def keys_per_node(cluster, per=5):
    """Keys owned by each node: {port: [key, ...]}."""
    want = {s.port: [] for s in cluster}
    owners = owner_map(cluster)
    i = 0
    while any(len(v) < per for v in want.values()):
        k = "k%d" % i
        p = owner_port(cluster, k, owners)
        if len(want[p]) < per:
            want[p].append(k)
        i += 1
    return want


@test
def test_redis_cli_plain_and_c_every_node(t):
    c = rccluster.start_cluster(t, 3)
    per = keys_per_node(c)
    allkeys = [k for ks in per.values() for k in ks]
    for s in c:
        for k in allkeys:
            # -c follows redirects (Redis); plain works on ringcache by forwarding.
            out = subprocess.run(["redis-cli", "-c", "-p", str(s.port), "SET", k, "c-%d-%s" % (s.port, k)],
                                 capture_output=True, text=True, timeout=20)
            assert out.stdout.strip() == "OK", (s.port, k, out.stdout, out.stderr)
            out = subprocess.run(["redis-cli", "-c", "-p", str(s.port), "GET", k],
                                 capture_output=True, text=True, timeout=20)
            assert out.stdout.strip() == "c-%d-%s" % (s.port, k), (s.port, k, out.stdout)
    if rctest.is_redis():
        return  # plain redis-cli gets -MOVED from Redis Cluster
    for s in c:
        for k in allkeys:
            out = subprocess.run(["redis-cli", "-p", str(s.port), "SET", k, "p-%s" % k],
                                 capture_output=True, text=True, timeout=20)
            assert out.stdout.strip() == "OK", (s.port, k, out.stdout, out.stderr)
        for k in allkeys:
            out = subprocess.run(["redis-cli", "-p", str(s.port), "GET", k],
                                 capture_output=True, text=True, timeout=20)
            assert out.stdout.strip() == "p-%s" % k, (s.port, k, out.stdout)


@test
def test_redis_py_cluster_set_get_mget(t):
    c = rccluster.start_cluster(t, 3)
    rc = redis.cluster.RedisCluster(host="127.0.0.1", port=c[1].port, socket_timeout=10)
    try:
        assert len(rc.get_nodes()) == 3, rc.get_nodes()
        for i in range(1000):
            assert rc.set("py:%d" % i, "v%d" % i)
        for i in range(1000):
            assert rc.get("py:%d" % i) == b"v%d" % i, i
        keys = ["py:%d" % i for i in range(0, 1000, 7)]
        vals = rc.mget_nonatomic(keys)
        assert vals == [b"v%d" % int(k[3:]) for k in keys]
        tagged = ["{tag}:%d" % i for i in range(50)]
        rc.mset_nonatomic({k: k for k in tagged})
        assert rc.mget(tagged) == [k.encode() for k in tagged]
    finally:
        rc.close()


@test
def test_redis_benchmark_cluster(t):
    c = rccluster.start_cluster(t, 3)
    out = subprocess.run(["timeout", "120", "redis-benchmark", "--cluster", "-p", str(c[0].port),
                          "-t", "set,get", "-n", "20000", "-q"],
                         capture_output=True, text=True, timeout=130)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "error" not in text.lower(), text
    rps = {}
    for line in text.replace("\r", "\n").splitlines():
        if "requests per second" in line and ":" in line:
            name, rest = line.split(":", 1)
            rps[name.strip()] = float(rest.split()[0])
    assert set(rps) >= {"SET", "GET"}, text
    assert all(v > 0 for v in rps.values()), rps


@test
def test_ioredis_cluster(t):
    node = shutil.which("node")
    npm = shutil.which("npm")
    assert node and npm, "node/npm not found: ioredis test needs Node.js and npm"
    base = os.environ.get("RC_BUILD_DIR") or t.mkdtemp()
    work = os.path.join(base, "ioredis-test")
    os.makedirs(work, exist_ok=True)
    shutil.copy(os.path.join(HERE, "js", "package.json"), work)
    shutil.copy(os.path.join(HERE, "js", "ioredis_cluster.js"), work)
    if not os.path.isdir(os.path.join(work, "node_modules", "ioredis")):
        try:
            r = subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=work,
                               capture_output=True, text=True, timeout=180)
        except subprocess.TimeoutExpired:
            raise AssertionError("npm install ioredis timed out (no registry access?)")
        assert r.returncode == 0, "npm install ioredis failed (registry unreachable?):\n%s%s" % (
            r.stdout[-2000:], r.stderr[-2000:])
    c = rccluster.start_cluster(t, 3)
    r = subprocess.run([node, "ioredis_cluster.js"] + ["127.0.0.1:%d" % s.port for s in c],
                       cwd=work, capture_output=True, text=True, timeout=90)
    assert r.returncode == 0 and "OK 500" in r.stdout, r.stdout + r.stderr


@test
def test_forwarding_survives_owner_death(t):
    if rctest.is_redis():
        print("[skip] forwarding is ringcache's (Redis answers -MOVED)")
        return
    c = rccluster.start_cluster(t, 3)
    a, b = c[0], c[1]
    owners = owner_map(c)
    bkeys = [k for k in ("fw:%d" % i for i in range(2000)) if owner_port(c, k, owners) == b.port][:200]
    assert bkeys
    cl = a.client()
    for k in bkeys:
        cl.set(k, "val-" + k)
    conn = rctest.RawConn(a.host, a.port, timeout=10 * rctest.timeout_scale())
    results = []
    done = threading.Event()

    def reader():
        try:
            for _ in range(len(bkeys) * 5):
                results.append(rctest.parse_reply(conn.read_reply()))
        except Exception as e:  # noqa: BLE001
            results.append(("EXC", e))
        done.set()

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    sent = []
    t0 = time.monotonic()
    for rnd in range(5):
        for k in bkeys:
            conn.send_command("GET", k)
            sent.append(k)
        if rnd == 1:
            rctest.kill_node(b)
            t.expect_dead.add(id(b))
    assert done.wait(15 * rctest.timeout_scale()), "hang: %d of %d replies after %.1fs" % (
        len(results), len(sent), time.monotonic() - t0)
    exc = [r for r in results if isinstance(r, tuple)]
    assert not exc, exc[:3]
    for k, r in zip(sent, results):
        assert isinstance(r, rctest.RespError) or r is None or r == ("val-" + k).encode(), (k, r)
    conn.close()


if __name__ == "__main__":
    rctest.run()
