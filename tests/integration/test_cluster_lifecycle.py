#!/usr/bin/python3
"""Issue 5: a node's life in the cluster beyond formation: restart with its
dir (rejoins as a new incarnation), --join before the seed exists (retries
with backoff, says why, then joins), garbage on the bus port (refused,
logged, no harm), SIGSTOP (a frozen node is removed, and rejoins once
thawed), the bus on loopback only without a cluster-secret, and bad --join
values (startup stops with a message), a peer with another placement
(refused, says why), and what peers still send to a restarted node's old
incarnation (answered at once, never routed back to itself).
Harness: rccluster.py on top of rctest.py; ringcache only."""

import collections
import os
import random
import re
import socket
import struct
import subprocess
import time

import rccluster
import rctest
from rctest import test


def info(srv):
    return rccluster.cluster_info(srv)


def myid(srv):
    r = srv.client().execute_command("CLUSTER", "MYID")
    return r.decode() if isinstance(r, bytes) else r


def members(srv):
    return int(info(srv)["cluster_known_nodes"])


def cluster_with_keys(t):
    """3 nodes (cluster-leave-timeout 60 s, scaled) holding 5,000 keys, so
    that leavers have slots to hand over."""
    scale = rctest.timeout_scale()
    nodes = rccluster.start_cluster(t, 3, extra=("--cluster-leave-timeout", str(int(60000 * scale))))
    pipe = nodes[0].client().pipeline(transaction=False)
    for i in range(5000):
        pipe.set("stop:%d" % i, "v" * 100)
    assert all(r is True for r in pipe.execute())
    return nodes


def check_prompt_exit(nodes, t0, what):
    """'nodes' (sent SIGTERM since t0) exit 0 within 15 s (scaled), one of
    them as the last member, none after cluster-leave-timeout."""
    codes = [s.wait_exit(timeout=15) for s in nodes]
    took = time.monotonic() - t0
    print("  %s: exit codes %r after %.2f s" % (what, codes, took))
    assert codes == [0] * len(nodes), codes
    assert took < 15 * rctest.timeout_scale(), "the nodes took %.1f s to exit" % took
    last = [s.port for s in nodes if "the last member" in s.log()]
    assert len(last) == 1, "expected one node to shut down as the last member: %r" % last
    late = [s.port for s in nodes if "cluster-leave-timeout" in s.log()]
    assert not late, "nodes that waited out cluster-leave-timeout: %r" % late


@test
def test_every_node_stopped_at_once_exits_promptly(t):
    """SIGTERM to every node of a 3-node cluster at the same moment (a
    service manager stopping them all, a host shutting down): each asks to
    leave, the others' leaves are agreed first, and the last member, whose
    own leave can never be agreed (a configuration keeps one member), has
    no one to hand its slots to. Every node must exit with code 0 within
    a few seconds; before 2026-12-07 the last one waited out
    cluster-leave-timeout (60 s)."""
    nodes = cluster_with_keys(t)
    t0 = time.monotonic()
    for s in nodes:
        s.stop_async()
    check_prompt_exit(nodes, t0, "3 nodes stopped at once")


@test
def test_every_node_stopped_at_once_while_one_dies(t):
    """kill -9 of one node of three and, at once, SIGTERM to the other two
    (a host going down under a service manager): both leaves are agreed
    while the dead node is still a member, so its removal leaves only
    leavers, and the configuration gives them their weights back (nobody
    would be left to hand their slots to). Each must ask again: one leaves,
    handing its slots to the other, which exits as the last member. Both
    must exit with code 0 within a few seconds; before 2026-12-08 they
    waited out cluster-leave-timeout (60 s), found by the test runner's
    teardown once it stopped every node at once."""
    nodes = cluster_with_keys(t)
    dead, live = nodes[2], nodes[:2]
    t0 = time.monotonic()
    rctest.kill_node(dead)
    t.expect_dead.add(id(dead))
    for s in live:
        s.stop_async()
    check_prompt_exit(live, t0, "2 nodes stopped as the third died")


@test
def test_restart_with_dir_rejoins_as_new_incarnation(t):
    c = rccluster.start_cluster(t, 3)
    node = c[2]
    old = myid(node)
    epoch0 = int(info(c[0])["cluster_current_epoch"])
    d = node.args[node.args.index("--dir") + 1]
    state = [f for f in os.listdir(d) if f.endswith(".state")]
    assert state, "no state file in %s: %s" % (d, os.listdir(d))
    rctest.kill_node(node)
    node.exitcode = None
    node.spawn()
    node.wait_ready()

    # Agreement alone can come too early: until the new incarnation is
    # admitted, all three still agree on the epoch the old one is a member of.
    new = rccluster.wait_reborn(c, node, old)
    rccluster.wait_agree(c, timeout=20 * rctest.timeout_scale())
    # the name is 16 hex digits of incarnation then 24 of id: both change
    assert new[:16] != old[:16] and new[16:] != old[16:], (old, new)
    assert int(info(c[0])["cluster_current_epoch"]) > epoch0
    assert "rejoining" in node.log() or "leaving, then rejoining" in node.log(), node.log()[-2000:]
    assert members(c[0]) == 3


@test
def test_restarted_node_refuses_what_is_sent_to_its_old_incarnation(t):
    """Restarted with its dir, a node is a new member while its old one is
    still in the configuration (until the failure detector removes it):
    requests for the old member's slots reach this node's address. It must
    answer them at once, never route them on to the old member, which is
    itself (such requests went round until the forward timed out after 2 s,
    and then ran late, overwriting newer writes). A node timeout of 3 s
    keeps the old member long enough for the new one to join meanwhile."""
    c = rccluster.start_cluster(t, 3, extra=("--cluster-node-timeout", "3000"))
    node = c[2]
    old = myid(node)
    owners = {}
    for lo, hi, nodes in rccluster._slots(c[0]):
        for slot in range(lo, hi + 1):
            owners[slot] = nodes[0][1]
    keys = [k for k in ("old:%d" % i for i in range(2000))
            if owners[rccluster.keyslot(k)] == node.port][:20]
    assert len(keys) == 20, "too few keys of node %d" % node.port
    rctest.kill_node(node)
    node.exitcode = None
    node.spawn()
    node.wait_ready()
    r = rctest.RawConn(node.host, node.port, timeout=10 * rctest.timeout_scale())
    watch = c[0].client()
    replies, slowest, i = [], 0.0, 0
    deadline = time.monotonic() + 30 * rctest.timeout_scale()
    try:
        # Until the old member is gone, each write gets its answer promptly.
        while old in rccluster.node_ids(c[0], watch):
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "old member %s still listed after %.0f s; CLUSTER NODES of %d:\n%s"
                    % (old, 30 * rctest.timeout_scale(), c[0].port,
                       watch.execute_command("CLUSTER", "NODES").decode()))
            t0 = time.monotonic()
            rep = rctest.parse_reply(r.call("SET", keys[i % len(keys)], "v%d" % i))
            slowest = max(slowest, time.monotonic() - t0)
            replies.append(rep if isinstance(rep, Exception) else rep.decode())
            i += 1
    finally:
        r.close()
    text = " ".join(str(x) for x in replies)
    print("replies:", collections.Counter(re.sub(r"\d+", "N", str(x)) for x in replies),
          "slowest %.3f s" % slowest)
    assert "timed out" not in text, text[-2000:]
    assert slowest < 1.5 * rctest.timeout_scale(), (slowest, text[-2000:])
    assert any("at this address" in str(x) for x in replies), text[-2000:]
    assert i > 0, "the old member was gone before the first write"
    rccluster.wait_agree(c, timeout=20 * rctest.timeout_scale())
    for k in keys:
        rctest.wait_for(lambda k=k: watch.set(k, "final"), timeout=20, what="SET %s accepted" % k)
    for srv in c:
        for k in keys:
            assert srv.client().get(k) == b"final", (srv.port, k)


@test
def test_join_retries_until_the_seed_answers(t):
    seed_port = rctest.free_port()
    joiner = rccluster._start_one(t, join=None, extra=["--join", "127.0.0.1:%d" % seed_port])
    bus = seed_port + rccluster.BUS_OFFSET

    def says_why():
        return "cannot connect to 127.0.0.1:%d" % bus in joiner.log()

    rctest.wait_for(says_why, timeout=10 * rctest.timeout_scale(), what="join retry logged")
    assert "retrying in" in joiner.log()
    st = info(joiner)
    assert st["cluster_membership"] == "joining", st
    assert st["cluster_state"] != "ok", st
    d = t.mkdtemp()
    seed = t.server(args=rccluster.node_args(seed_port) + ["--dir", d], port=seed_port)
    rccluster.wait_agree([seed, joiner], timeout=20 * rctest.timeout_scale())
    assert info(joiner)["cluster_membership"] == "ok"


def bus_header(type_, length, magic=0x31424352, version=3):
    return struct.pack("<IBBHIQQQ", magic, version, type_, 0, length, 0, 0, 0)


def bus_hello(placement):
    """A control-role HELLO payload (node/bus/node_bus_proto.h) with 'placement'."""
    bus, client = b"127.0.0.1:1", b"127.0.0.1:2"
    return (os.urandom(32) + struct.pack("<BBQ", 0, 0, placement)
            + struct.pack("<H", len(bus)) + bus + struct.pack("<H", len(client)) + client)


def hello_exchange(port, placement):
    """Sends our HELLO to the bus at 'port'. Returns the frames the node
    answered with, as (type, payload), once it sent two frames (HELLO then
    AUTH: it goes on with the handshake) or closed the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5 * rctest.timeout_scale())
    frames, buf = [], b""
    try:
        payload = bus_hello(placement)
        s.sendall(bus_header(1, len(payload)) + payload)
        while len(frames) < 2:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            except socket.timeout:
                raise AssertionError("the node neither went on nor closed: %r" % frames)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 36:
                type_, length = struct.unpack_from("<BxxI", buf, 5)
                if len(buf) < 36 + length:
                    break
                frames.append((type_, buf[36:36 + length]))
                buf = buf[36 + length:]
    finally:
        s.close()
    return frames


@test
def test_garbage_on_the_bus_is_refused_without_harm(t):
    c = rccluster.start_cluster(t, 2)
    node = c[0]
    epoch0 = info(node)["cluster_current_epoch"]
    bus = node.port + rccluster.BUS_OFFSET
    rnd = random.Random(5)
    payloads = [
        bytes(rnd.getrandbits(8) for _ in range(4096)),           # noise
        b"*1\r\n$4\r\nPING\r\n",                                   # RESP on the bus
        bus_header(1, 0xFFFFFFFF),                                 # absurd length
        bus_header(1, 10, magic=0xDEADBEEF) + b"x" * 10,           # bad magic
        bus_header(1, 10, version=9) + b"x" * 10,                  # bad version
        bus_header(3, 16) + b"\0" * 16,                            # PAXOS before the handshake
        bus_header(1, 40) + bytes(40),                             # malformed HELLO
    ]
    for data in payloads:
        s = socket.create_connection(("127.0.0.1", bus), timeout=5 * rctest.timeout_scale())
        try:
            s.sendall(data)
        except OSError:
            pass  # already closed by the node: fine
        s.settimeout(5 * rctest.timeout_scale())
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
                assert len(got) < 1 << 16, "the bus kept talking to garbage"
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("bus connection not closed after garbage %r" % data[:16])
        finally:
            s.close()
    # a bus flood of garbage did not disturb the cluster
    assert node.client().ping()
    assert info(node)["cluster_current_epoch"] == epoch0
    assert members(node) == 2
    rctest.wait_for(lambda: "cluster bus: refused" in node.log(), timeout=5,
                    what="refusal logged")
    assert node.client().set("k", "v") and node.client().get("k") == b"v"


@test
def test_peer_with_another_placement_is_refused(t):
    """Nodes whose ring would place the same members differently (another
    build of the placement code) must not share a cluster: the HELLO carries
    the placement id (INFO cluster_placement) and a mismatch ends the
    handshake before AUTH, with the reason in the log."""
    c = rccluster.start_cluster(t, 2)
    node = c[0]
    bus = node.port + rccluster.BUS_OFFSET
    ours = node.info("cluster")["cluster_placement"]
    assert len(ours) == 16 and ours == c[1].info("cluster")["cluster_placement"], ours
    other = int(ours, 16) ^ 1

    refused = hello_exchange(bus, other)
    assert [f[0] for f in refused] == [1], refused  # its HELLO, no AUTH, closed
    assert struct.unpack_from("<Q", refused[0][1], 34)[0] == int(ours, 16)
    want = "peer places slots differently (placement %016x, ours %s)" % (other, ours)
    rctest.wait_for(lambda: want in node.log(), timeout=5, what="the refusal's reason logged")

    accepted = hello_exchange(bus, int(ours, 16))  # the same bytes with our id go on
    assert [f[0] for f in accepted] == [1, 2], accepted
    assert members(node) == 2 and node.client().ping()


@test
def test_sigstop_member_is_removed_and_rejoins_when_thawed(t):
    c = rccluster.start_cluster(t, 3)
    frozen = c[2]
    old = myid(frozen)
    rctest.pause_node(frozen)
    try:
        rctest.wait_for(lambda: members(c[0]) == 2 and members(c[1]) == 2,
                        timeout=10 * rctest.timeout_scale(), interval=0.02,
                        what="frozen node removed")
    finally:
        rctest.resume_node(frozen)
    rccluster.wait_agree(c, timeout=20 * rctest.timeout_scale())
    assert myid(frozen) != old, "a removed node must come back as a new incarnation"


def non_loopback_ipv4():
    """An IPv4 address of this machine outside 127/8, or None."""
    try:
        out = subprocess.run(["hostname", "-I"], stdout=subprocess.PIPE, timeout=5).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return None
    for a in out.split():
        if "." in a and not a.startswith("127."):
            return a
    return None


@test
def test_bus_is_loopback_only_without_a_secret_and_follows_bind_with_one(t):
    d = t.mkdtemp()
    port = rctest.free_port()
    node = t.server(args=rccluster.node_args(port) + ["--dir", d, "--bind", "0.0.0.0",
                                                      "--protected-mode", "no"], port=port)
    rctest.wait_for(lambda: "no cluster-secret set: the bus listens on loopback only" in node.log(),
                    timeout=5, what="loopback-only warning")
    bus = port + rccluster.BUS_OFFSET
    socket.create_connection(("127.0.0.1", bus), timeout=5).close()
    addr = non_loopback_ipv4()
    if addr is None:
        print("  (no non-loopback IPv4 address here: the refusal from outside is not checked)")
    else:
        # the client port answers there (bind 0.0.0.0), the bus port does not
        socket.create_connection((addr, port), timeout=5).close()
        try:
            socket.create_connection((addr, bus), timeout=5).close()
            raise AssertionError("the bus answered on %s without a cluster-secret" % addr)
        except ConnectionRefusedError:
            pass
        # with a secret, the bus binds what 'bind' says
        d2 = t.mkdtemp()
        port2 = rctest.free_port()
        t.server(args=rccluster.node_args(port2, secret="s3cret") +
                 ["--dir", d2, "--bind", "0.0.0.0", "--protected-mode", "no"], port=port2)
        socket.create_connection((addr, port2 + rccluster.BUS_OFFSET), timeout=5).close()
    assert info(node)["cluster_state"] == "ok"


@test
def test_bad_join_value_stops_startup(t):
    # A DNS name is a valid --join since issue 15 (resolved and retried:
    # test_deploy_node.py); a malformed one is still refused.
    for bad in ("nohost", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:7000@x", "host example:7000"):
        d = t.mkdtemp()
        port = rctest.free_port()
        r = subprocess.run([rctest.ringcached_path(), "--port", str(port), "--join", bad],
                           cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20 * rctest.timeout_scale())
        out = r.stdout.decode(errors="replace")
        assert r.returncode != 0, (bad, out)
        assert "--join" in out and bad in out, (bad, out)


if __name__ == "__main__":
    rctest.run()
