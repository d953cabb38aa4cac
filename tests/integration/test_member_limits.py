#!/usr/bin/python3
"""member/: Paxos and the slot table agree on limits. A node asked for a
setting the ring could not place stops at startup with a clear message
instead of joining and leaving every slot CLUSTERDOWN, and the cluster it
tried to join keeps serving.

ringcached has no weight option (every node joins with weight 1), so the
weight limits (1..1000 per member, 16384 in total) are tested at the Paxos
level only: tests/unit/paxos_config_test.c and member_ring_test.c. Here:
cluster-replicas, bounded by PAXOS_MAX_REPLICAS = RING_MAX_REPLICAS = 4.
Harness: rccluster.py on top of rctest.py; ringcache only."""

import subprocess

import rccluster
import rctest
from rctest import test


def start_fails(t, args):
    """Runs ringcached with 'args'; returns its output, asserting it exits
    non-zero within the timeout."""
    d = t.mkdtemp()
    port = rctest.free_port()
    r = subprocess.run([rctest.ringcached_path(), "--port", str(port),
                        "--cluster-port", str(port + rccluster.BUS_OFFSET), "--dir", d] + args,
                       cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=20 * rctest.timeout_scale())
    out = r.stdout.decode(errors="replace")
    assert r.returncode != 0, (args, out)
    return out


def serves(nodes, tag):
    """Every node answers writes and reads of keys all over the slots."""
    for i, srv in enumerate(nodes):
        c = srv.client()
        for k in range(50):
            key = "%s:%d:%d" % (tag, i, k)
            assert c.set(key, key) is True
            assert nodes[(i + 1) % len(nodes)].client().get(key) == key.encode()


@test
def test_joiner_with_replicas_past_the_ring_is_refused_and_cluster_serves(t):
    c = rccluster.start_cluster(t, 3)
    epoch = rccluster.cluster_info(c[0])["cluster_current_epoch"]
    seed = "%s:%d" % (c[0].host, c[0].port)
    out = start_fails(t, ["--join", seed, "--cluster-replicas", "5"])
    assert "cluster-replicas" in out and "between 0 and 4" in out, out
    serves(c, "after-refusal")
    rccluster.wait_agree(c, timeout=5 * rctest.timeout_scale())
    info = rccluster.cluster_info(c[0])
    assert info["cluster_current_epoch"] == epoch, info  # nobody joined or left
    assert info["cluster_known_nodes"] == "3", info
    assert info["cluster_state"] == "ok", info


@test
def test_founder_with_replicas_past_the_ring_stops_startup(t):
    out = start_fails(t, ["--cluster-replicas", "5"])
    assert "cluster-replicas" in out and "between 0 and 4" in out, out
    out = start_fails(t, ["--cluster-replicas", "65536"])
    assert "cluster-replicas" in out, out


@test
def test_replicas_at_the_ring_limit_serves(t):
    c = rccluster.start_cluster(t, 2, extra=["--cluster-replicas", "4"])
    serves(c, "r4")
    assert rccluster.cluster_info(c[0])["cluster_state"] == "ok"


if __name__ == "__main__":
    rctest.run()
