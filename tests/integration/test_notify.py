#!/usr/bin/python3
"""Issue 15 (systemd): the node speaks the service manager's notify
protocol when NOTIFY_SOCKET is set. Real ringcached processes send their
datagrams to a Python AF_UNIX datagram socket standing in for systemd:
READY=1 once the node serves (at once for a founder; for a joiner only when
INFO says cluster_state:ok and cluster_my_role:serving, never while its seed
is unreachable), STATUS= lines that parse, STOPPING=1 when SIGTERM or
CLUSTER LEAVE starts a graceful stop, an abstract socket ('@name'), and a
NOTIFY_SOCKET that is missing or too long (the node serves and says why).
Harness: rctest.py and rccluster.py; ringcache only."""

import os
import signal
import socket
import time

import rccluster
import rctest
from rctest import test

KNOWN = {"READY", "STATUS", "STOPPING", "EXTEND_TIMEOUT_USEC"}


class Manager:
    """A stand-in for systemd's notify socket: collects datagrams, parsed
    into dicts, with the time they arrived."""

    def __init__(self, t, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "rctest-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            d = t.mkdtemp()
            self.env = os.path.join(d, "notify.sock")
            self.sock.bind(self.env)
        self.sock.setblocking(False)
        self.msgs = []  # (monotonic time, dict)

    def poll(self):
        """Reads every waiting datagram; returns the new ones."""
        new = []
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                break
            new.append((time.monotonic(), parse(data)))
        self.msgs += new
        return new

    def has(self, key, value=None):
        return any(key in m and (value is None or m[key] == value) for _, m in self.msgs)

    def wait(self, key, value=None, timeout=10.0, on_msg=None):
        """Waits for a datagram carrying key(=value); calls on_msg(msg) the
        moment each new datagram is read (to check INFO right then)."""

        def arrived():
            for _, m in self.poll():
                if on_msg is not None:
                    on_msg(m)
                if key in m and (value is None or m[key] == value):
                    return True
            return False

        rctest.wait_for(arrived, timeout=timeout * rctest.timeout_scale(), interval=0.002,
                        what="%s from the node (got %r)" % (key, [m for _, m in self.msgs]))

    def close(self):
        self.sock.close()


def parse(data):
    """'NAME=value\\n' lines, as systemd reads them; every name is known."""
    text = data.decode("utf-8")
    assert text.endswith("\n"), text
    out = {}
    for line in text[:-1].split("\n"):
        k, sep, v = line.partition("=")
        assert sep == "=" and k in KNOWN, "bad notify line %r in %r" % (line, text)
        out[k] = v
    if "STATUS" in out:
        word = out["STATUS"].split(":")[0]
        assert word in ("starting", "joining", "filling", "serving", "degraded", "leaving",
                        "stopping"), out
    if "EXTEND_TIMEOUT_USEC" in out:
        assert int(out["EXTEND_TIMEOUT_USEC"]) > 60000 * 1000, out
    return out


def start_node(t, notify, port=None, join_port=None, extra=()):
    """One cluster node with NOTIFY_SOCKET=notify (a free port unless given)."""
    port = port or rctest.free_port()
    args = rccluster.node_args(port) + ["--dir", t.mkdtemp()] + list(extra)
    if join_port is not None:
        args += ["--join", "127.0.0.1:%d" % join_port]
    return t.server(args=args, port=port, env={"NOTIFY_SOCKET": notify})


def serving(srv):
    i = srv.info("cluster")
    return i.get("cluster_state") == "ok" and i.get("cluster_my_role") == "serving"


def status_rate_ok(mgr, started):
    """STATUS= at most 4 a second (the receiver reads in batches, so count
    them over the node's life rather than time each one)."""
    n = sum("STATUS" in m and "READY" not in m and "STOPPING" not in m for _, m in mgr.msgs)
    life = time.monotonic() - started
    assert n <= 4 * life + 2, "%d STATUS updates in %.2fs: %r" % (n, life, mgr.msgs)


@test
def test_founder_ready_status_and_stopping_on_sigterm(t):
    mgr = Manager(t)
    started = time.monotonic()
    srv = start_node(t, mgr.env)
    seen = {}

    def on_msg(m):
        if "READY" in m:
            seen["serving"] = serving(srv)

    mgr.wait("READY", "1", on_msg=on_msg)
    assert seen["serving"], "READY=1 before INFO says serving: %r" % mgr.msgs
    ready = [m for _, m in mgr.msgs if "READY" in m][0]
    assert ready["STATUS"].startswith("serving: 16384 slots, 1 members"), ready
    assert srv.client().set("k", "v") and srv.client().get("k") == b"v"
    assert not mgr.has("STOPPING")
    os.kill(srv.pid, signal.SIGTERM)
    mgr.wait("STOPPING", "1")
    assert srv.wait_exit() == 0
    stop = [m for _, m in mgr.msgs if "STOPPING" in m][0]
    assert stop.get("STATUS") == "stopping", stop
    assert int(stop["EXTEND_TIMEOUT_USEC"]) == (60000 + 30000) * 1000, stop
    assert sum("READY" in m for _, m in mgr.msgs) == 1, mgr.msgs
    status_rate_ok(mgr, started)
    mgr.close()


@test
def test_joiner_ready_only_once_it_serves(t):
    seed_port = rctest.free_port()
    mgr = Manager(t)
    started = time.monotonic()
    joiner = start_node(t, mgr.env, join_port=seed_port)
    # The seed does not exist yet: the joiner retries, and is not ready.
    bus = seed_port + rccluster.BUS_OFFSET
    rctest.wait_for(lambda: "cannot connect to 127.0.0.1:%d" % bus in joiner.log(),
                    timeout=10 * rctest.timeout_scale(), what="join retry logged")
    mgr.wait("STATUS", timeout=5)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # a bounded watch, not a wait: READY must not come
        mgr.poll()
        assert not mgr.has("READY"), "READY=1 while the seed is unreachable: %r" % mgr.msgs
        time.sleep(0.05)
    assert not serving(joiner)
    assert any(m.get("STATUS", "").startswith("joining: waiting for the cluster at 127.0.0.1:%d"
                                              % seed_port) for _, m in mgr.msgs), mgr.msgs
    seed = t.server(args=rccluster.node_args(seed_port) + ["--dir", t.mkdtemp()], port=seed_port)
    c = seed.client()
    pipe = c.pipeline(transaction=False)
    for i in range(5000):
        pipe.set("key:%d" % i, "v" * 100)
    pipe.execute()
    seen = {}

    def on_msg(m):
        if "READY" in m:
            seen["serving"] = serving(joiner)

    mgr.wait("READY", "1", timeout=30, on_msg=on_msg)
    assert seen["serving"], "READY=1 before INFO says serving: %r" % mgr.msgs
    ready = [m for _, m in mgr.msgs if "READY" in m][0]
    assert ready["STATUS"].startswith("serving: "), ready
    assert ", 2 members, epoch " in ready["STATUS"], ready
    assert any(m.get("STATUS", "").startswith("filling: ") for _, m in mgr.msgs), mgr.msgs
    rccluster.wait_agree([seed, joiner], timeout=20 * rctest.timeout_scale())
    assert joiner.client().get("key:1") == b"v" * 100
    # CLUSTER LEAVE is a graceful stop too: STOPPING=1, a leaving status,
    # then the node hands its slots back and exits.
    assert not mgr.has("STOPPING")
    assert joiner.client().execute_command("CLUSTER", "LEAVE") in (b"OK", "OK", True)
    mgr.wait("STOPPING", "1")
    stop = [m for _, m in mgr.msgs if "STOPPING" in m][0]
    assert stop["STATUS"].startswith("leaving: handing slots over"), stop
    assert joiner.wait_exit(timeout=60) == 0
    rctest.wait_for(lambda: seed.info("cluster").get("cluster_members") == "1",
                    timeout=20 * rctest.timeout_scale(), what="the leaver is gone")
    assert c.get("key:1") == b"v" * 100
    status_rate_ok(mgr, started)
    mgr.close()


@test
def test_abstract_socket(t):
    mgr = Manager(t, abstract=True)
    assert mgr.env.startswith("@")
    srv = start_node(t, mgr.env)
    mgr.wait("READY", "1")
    assert serving(srv)
    srv.stop()
    mgr.wait("STOPPING", "1")
    mgr.close()


@test
def test_bad_notify_socket_is_harmless(t):
    d = t.mkdtemp()
    missing = os.path.join(d, "no-such-dir", "notify.sock")
    srv = start_node(t, missing)
    assert srv.ping_fresh()
    rctest.wait_for(lambda: "Cannot notify the service manager at %s" % missing in srv.log(),
                    timeout=10 * rctest.timeout_scale(), what="the warning")
    assert srv.client().set("a", "1") and srv.client().get("a") == b"1"
    assert srv.log().count("Cannot notify the service manager") == 1, srv.log()
    assert srv.stop() == 0
    too_long = "/" + "x" * 200
    srv2 = start_node(t, too_long)
    assert srv2.ping_fresh()
    assert "does not fit a unix socket address" in srv2.log()
    relative = "notify.sock"
    srv3 = start_node(t, relative)
    assert srv3.ping_fresh()
    assert "is neither a path nor an abstract socket" in srv3.log()


if __name__ == "__main__":
    rctest.main()
